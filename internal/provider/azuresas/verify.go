package azuresas

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/provider"
	"github.com/tarnhq/tarn/location"
)

// Verify checks key against loc and names the cause of each failure: that the key can scope
// a SAS to loc (and whether that SAS is wider than loc), that it can sign one (for the Entra
// ID modes: that Entra ID gives a token and the account a user delegation key), whether the
// account has the hierarchical namespace the key claims (see namespaceCheck), that a read
// SAS lists loc, that a write SAS round-trips a probe object in it, and, when both work,
// that a read SAS is refused for a write and for another container. Auth mode federated
// checks its federation first (see federationChecks). Checks after a failed one that they
// depend on are left out.
func (d *Driver) Verify(ctx context.Context, key provider.Key, loc location.Location) []api.Check {
	if key.Config.Auth != api.AuthFederated {
		return d.storageChecks(ctx, key, loc)
	}
	checks, ok := d.federationChecks(ctx, key)
	if !ok {
		return checks
	}
	return append(checks, d.storageChecks(ctx, key, loc)...)
}

// storageChecks are the checks of Verify that every auth mode has.
func (d *Driver) storageChecks(ctx context.Context, key provider.Key, loc location.Location) []api.Check {
	read, err := d.Vend(ctx, provider.Request{Key: key, Location: loc, Mode: api.ModeRead})
	if err != nil {
		if _, serr := signatureValues(key.Config, loc, api.ModeRead, d.now(), 0); serr != nil {
			return []api.Check{{Name: "sas scope", Detail: errs.DetailOf(serr)}}
		}
		return []api.Check{scopeCheck(key.Config, loc), {Name: signName(key.Config), Detail: errs.DetailOf(err)}}
	}
	checks := []api.Check{scopeCheck(key.Config, loc), {Name: signName(key.Config), OK: true}}
	write, err := d.Vend(ctx, provider.Request{Key: key, Location: loc, Mode: api.ModeWrite})
	if err != nil {
		return append(checks, api.Check{Name: "write SAS", Detail: errs.DetailOf(err)})
	}
	// hint says what to do about a failed list or probe: a missing container is not a
	// refused key, and an unreachable endpoint is neither.
	hint := func(err error) string {
		var resp *azcore.ResponseError
		switch {
		case bloberror.HasCode(err, bloberror.ContainerNotFound):
			return fmt.Sprintf("; container %s does not exist in account %s: create it (az storage container create --name %s --account-name %s)",
				loc.Container, key.Config.Account, loc.Container, key.Config.Account)
		case !errors.As(err, &resp) || resp.StatusCode != http.StatusForbidden:
			return ""
		case key.Config.Auth == api.AuthSharedKey:
			return "; check the account key (set it again with tarn creds add --secret-stdin)"
		}
		return "; the identity needs the Storage Blob Data Contributor role on the container"
	}
	probe := provider.ProbeName()
	if loc.Path != "" {
		probe = loc.Path + "/" + probe
	}
	if c, ok := d.namespaceCheck(ctx, key.Config, read, probe); ok {
		checks = append(checks, c)
	}

	list := api.Check{Name: "list with a read SAS", OK: true}
	if err := d.list(ctx, read, loc.Container, loc.Path); err != nil {
		list.OK, list.Detail = false, "refused: "+storageFailure(err)+hint(err)
	}
	round := api.Check{Name: "probe round trip with a write SAS", OK: true}
	if step, err := d.roundTrip(ctx, write, probe); err != nil {
		round.OK, round.Detail = false, step+" "+probe+": "+storageFailure(err)+hint(err)
	}
	checks = append(checks, list, round)
	if !list.OK || !round.OK {
		return checks // a refusal proves nothing while the SAS works for nothing
	}

	refusedWrite := api.Check{Name: "read SAS refused for a write", OK: true}
	if err := d.upload(ctx, read, probe+"-read"); !refusedErr(err) {
		refusedWrite.OK, refusedWrite.Detail = false, refusalFailure(err, "wrote with a read SAS")
		if err == nil {
			d.remove(ctx, write, probe+"-read")
		}
	}
	other := "tarn-verify-other"
	if other == loc.Container {
		other += "-2"
	}
	refusedOther := api.Check{Name: "read SAS refused for another container", OK: true}
	if err := d.list(ctx, read, other, ""); !refusedErr(err) {
		refusedOther.OK, refusedOther.Detail = false, refusalFailure(err, "listed container "+other+" with a SAS for "+loc.Container)
	}
	return append(checks, refusedWrite, refusedOther)
}

// namespaceCheck compares the account's hierarchical namespace, as Blob Storage reports it
// to the read SAS (Get Account Information on blob, which needs no such blob), with what
// the key claims. A key that claims one on an account without it fails: its directory SAS
// would be refused. An endpoint that does not report it (Azurite) skips the check for a key
// that claims one; for a key that does not, ok is false (no check) then and when the
// request fails. An account with one that the key does not claim passes with a hint, since
// the key's SAS are merely wider.
func (d *Driver) namespaceCheck(ctx context.Context, cfg api.CredsKeyConfig, read *api.Credentials, blob string) (c api.Check, ok bool) {
	c = api.Check{Name: "hierarchical namespace"}
	cc, err := d.containerClient(read, read.Azure.Container)
	if err != nil {
		c.Detail = err.Error()
		return c, true
	}
	info, err := cc.NewBlobClient(blob).GetAccountInfo(ctx, nil)
	switch {
	case (err != nil || info.IsHierarchicalNamespaceEnabled == nil) && !cfg.HierarchicalNamespace:
		return c, false // nothing claimed; a refusal is for the list check to name
	case err != nil:
		c.Detail = "cannot tell, account information refused: " + storageFailure(err)
	case info.IsHierarchicalNamespaceEnabled == nil:
		c.Skipped, c.Detail = true, "skipped: the endpoint does not say whether account "+cfg.Account+" has one (an emulator)"
	case *info.IsHierarchicalNamespaceEnabled == cfg.HierarchicalNamespace:
		c.OK, c.Detail = true, "account "+cfg.Account+" has one, as the key says"
		if !cfg.HierarchicalNamespace {
			c.Detail = "account " + cfg.Account + " has none, as the key says"
		}
	case cfg.HierarchicalNamespace:
		c.Detail = "account " + cfg.Account + " has none, so its directory SAS are refused: set the key again without --hierarchical-namespace (a prefix then needs --scope container, or a container per dataset)"
	default:
		c.OK, c.Detail = true, "account "+cfg.Account+" has one, but the key does not say so: set it again with --hierarchical-namespace to scope prefixes to a directory SAS"
	}
	return c, true
}

// scopeCheck reports the SAS scope key gets for loc; a container SAS for a prefix is wider
// than loc, which the check says but does not fail for (the key opted into it).
func scopeCheck(cfg api.CredsKeyConfig, loc location.Location) api.Check {
	c := api.Check{Name: "sas scope", OK: true, Detail: "container SAS (sr=c) for container " + loc.Container}
	switch {
	case loc.Path != "" && cfg.HierarchicalNamespace:
		c.Detail = "directory SAS (sr=d) for " + loc.Path
	case loc.Path != "":
		c.Detail += fmt.Sprintf(": wider than %s (the key has scope container)", loc)
	}
	return c
}

func signName(cfg api.CredsKeyConfig) string {
	if cfg.Auth == api.AuthSharedKey {
		return "sign a SAS with the account key"
	}
	return "user delegation key"
}

// containerClient returns a client of container that authenticates with c's SAS only.
func (d *Driver) containerClient(c *api.Credentials, name string) (*container.Client, error) {
	u := c.Azure.Endpoint + "/" + name + "?" + c.Azure.SASToken
	return container.NewClientWithNoCredential(u, &container.ClientOptions{ClientOptions: azcore.ClientOptions{
		Transport: d.http, Retry: policy.RetryOptions{MaxRetries: -1},
	}})
}

func (d *Driver) list(ctx context.Context, c *api.Credentials, name, prefix string) error {
	cc, err := d.containerClient(c, name)
	if err != nil {
		return err
	}
	if prefix != "" {
		prefix += "/"
	}
	max := int32(1)
	_, err = cc.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: &prefix, MaxResults: &max}).NextPage(ctx)
	return err
}

func (d *Driver) upload(ctx context.Context, c *api.Credentials, blob string) error {
	cc, err := d.containerClient(c, c.Azure.Container)
	if err != nil {
		return err
	}
	_, err = cc.NewBlockBlobClient(blob).Upload(ctx, streaming.NopCloser(bytes.NewReader([]byte(blob))), nil)
	return err
}

func (d *Driver) remove(ctx context.Context, c *api.Credentials, blob string) error {
	cc, err := d.containerClient(c, c.Azure.Container)
	if err != nil {
		return err
	}
	_, err = cc.NewBlobClient(blob).Delete(ctx, nil)
	return err
}

// errDiffers is the error of a probe that reads back otherwise than it was written.
var errDiffers = errors.New("the probe read back differs from what was written")

// roundTrip writes blob (its own name as content), reads it back and deletes it. It returns
// the step that failed (write, read, delete) and its error.
func (d *Driver) roundTrip(ctx context.Context, c *api.Credentials, blob string) (string, error) {
	if err := d.upload(ctx, c, blob); err != nil {
		return "write", err
	}
	cc, err := d.containerClient(c, c.Azure.Container)
	if err != nil {
		return "read", err
	}
	r, err := cc.NewBlobClient(blob).DownloadStream(ctx, nil)
	if err != nil {
		return "read", err
	}
	got, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err == nil && string(got) != blob {
		err = errDiffers
	}
	if err != nil {
		return "read", err
	}
	return "delete", d.remove(ctx, c, blob)
}

// refusedErr reports whether err is Blob Storage refusing a request's authorization (403).
func refusedErr(err error) bool {
	var resp *azcore.ResponseError
	return errors.As(err, &resp) && resp.StatusCode == http.StatusForbidden
}

// storageFailure describes an error of Blob Storage in tarn's words: the error code and
// status it answered, never its message; or that it cannot be reached.
func storageFailure(err error) string {
	var resp *azcore.ResponseError
	switch {
	case errors.As(err, &resp):
		code := resp.ErrorCode
		if !codeRe.MatchString(code) {
			code = "no error code"
		}
		return fmt.Sprintf("%s (%d)", code, resp.StatusCode)
	case errors.Is(err, errDiffers):
		return errDiffers.Error()
	}
	return "cannot reach the endpoint"
}

// refusalFailure describes a request that should have been refused: done (err nil) or
// failed otherwise than with a refusal.
func refusalFailure(err error, done string) string {
	if err == nil {
		return done + ": the SAS reaches further than it should"
	}
	return "not refused but failed otherwise: " + storageFailure(err)
}
