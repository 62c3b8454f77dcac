package gcsdownscope

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"cloud.google.com/go/storage"
	"golang.org/x/oauth2"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/provider"
	"github.com/tarnhq/tarn/location"
)

// SkippedOnEmulator is the detail of the boundary checks on a creds key with a
// storage_endpoint: emulators accept any token, so a refusal proves nothing there.
const SkippedOnEmulator = "skipped: the endpoint cannot enforce access boundaries"

// Verify checks key against loc and names the cause of each failure: for auth federated,
// that the issuer's discovery is served at its URL and names it; that the key's source
// credentials give a token (the server's ADC, the service-account key, or tarn's token
// exchanged at the pool provider), that they may impersonate the key's service account
// (RoleTokenCreator, RoleWorkloadIdentityUser for a pool principal); for auth federated,
// that a token for another creds key's subject is refused (checkForeign); that STS downscopes the
// impersonated token for read and write, that a read token lists loc and a write token
// round-trips a probe object in it, and that a read token is refused for a write and outside
// loc. On a key with a storage_endpoint (an emulator) the last two are reported as skipped,
// never as passed. Checks after a failed one that they depend on are left out.
func (d *Driver) Verify(ctx context.Context, key provider.Key, loc location.Location) []api.Check {
	cfg := key.Config
	srcName := "Application Default Credentials"
	switch cfg.Auth {
	case api.AuthServiceAccountKey:
		srcName = "service account key"
	case api.AuthFederated:
		srcName = checkExchangeName
	}
	if loc.Scheme != location.GS {
		return []api.Check{{Name: "location", Detail: fmt.Sprintf("provider gcs vends for gs:// locations, not %s", loc)}}
	}
	var checks []api.Check
	if cfg.Auth == api.AuthFederated {
		c := d.checkDiscovery(ctx, key)
		if checks = append(checks, c); !c.OK {
			return checks
		}
	}
	if _, err := d.source(ctx, key); err != nil {
		return append(checks, api.Check{Name: srcName, Detail: errs.DetailOf(err)})
	}
	checks = append(checks, api.Check{Name: srcName, OK: true})
	impName := "impersonate " + cfg.ServiceAccount
	ictx, cancel := context.WithTimeout(ctx, d.timeout)
	imp, err := d.impersonate(ictx, key, MaxLifetime)
	cancel()
	if err != nil {
		return append(checks, api.Check{Name: impName, Detail: errs.DetailOf(err)})
	}
	checks = append(checks, api.Check{Name: impName, OK: true})
	if cfg.Auth == api.AuthFederated {
		fctx, cancel := context.WithTimeout(ctx, d.timeout)
		checks = append(checks, d.checkForeign(fctx, key))
		cancel()
	}
	tokens := map[string]*oauth2.Token{}
	for _, mode := range []string{api.ModeRead, api.ModeWrite} {
		name := "downscope a " + mode + " token"
		opts, err := BoundaryFor(loc, mode).Options()
		if err == nil {
			tokens[mode], err = d.downscope(ctx, key, imp, opts)
		}
		if err != nil {
			return append(checks, api.Check{Name: name, Detail: errs.DetailOf(err)})
		}
		checks = append(checks, api.Check{Name: name, OK: true})
	}
	read, err := d.storageClient(ctx, cfg, tokens[api.ModeRead])
	if err != nil {
		return append(checks, api.Check{Name: "storage client", Detail: err.Error()})
	}
	defer read.Close()
	write, err := d.storageClient(ctx, cfg, tokens[api.ModeWrite])
	if err != nil {
		return append(checks, api.Check{Name: "storage client", Detail: err.Error()})
	}
	defer write.Close()

	prefix := ""
	if loc.Path != "" {
		prefix = loc.Path + "/"
	}
	probe := prefix + provider.ProbeName()
	list := api.Check{Name: "list with a read token", OK: true}
	if err := listOne(ctx, read, loc.Bucket, prefix); err != nil {
		list.OK, list.Detail = false, "refused: "+storageFailure(err)+hint(cfg, loc, err)
	}
	round := api.Check{Name: "probe round trip with a write token", OK: true}
	if step, err := roundTrip(ctx, write.Bucket(loc.Bucket), probe); err != nil {
		round.OK, round.Detail = false, step+" "+probe+": "+storageFailure(err)+hint(cfg, loc, err)
	}
	checks = append(checks, list, round)
	if !list.OK || !round.OK {
		return checks // a refusal proves nothing while the tokens work for nothing
	}

	refusedWrite := api.Check{Name: "read token refused for a write"}
	refusedOutside := api.Check{Name: "read token refused outside the location"}
	if cfg.StorageEndpoint != "" {
		refusedWrite.Skipped, refusedWrite.Detail = true, SkippedOnEmulator
		refusedOutside.Skipped, refusedOutside.Detail = true, SkippedOnEmulator
		return append(checks, refusedWrite, refusedOutside)
	}
	refusedWrite.OK = true
	if err := upload(ctx, read.Bucket(loc.Bucket), probe+"-read"); !refused(err) {
		refusedWrite.OK, refusedWrite.Detail = false, refusalFailure(err, "wrote with a read token")
		if err == nil {
			write.Bucket(loc.Bucket).Object(probe + "-read").Delete(ctx)
		}
	}
	bucket, outside := loc.Bucket, loc.Path+"-tarn-verify-outside/"
	if loc.Path == "" {
		bucket, outside = provider.ProbeName(), ""
	}
	refusedOutside.OK = true
	if err := listOne(ctx, read, bucket, outside); !refused(err) {
		refusedOutside.OK, refusedOutside.Detail = false, refusalFailure(err, "listed gs://"+bucket+"/"+outside+" with a token for "+loc.String())
	}
	return append(checks, refusedWrite, refusedOutside)
}

// storageClient returns a GCS client that authenticates with tok only, through the
// driver's guarded transport, at the key's storage endpoint.
func (d *Driver) storageClient(ctx context.Context, cfg api.CredsKeyConfig, tok *oauth2.Token) (*storage.Client, error) {
	hc := &http.Client{Timeout: d.timeout, Transport: &oauth2.Transport{Source: oauth2.StaticTokenSource(tok), Base: d.http.Transport}}
	opts := []option.ClientOption{option.WithHTTPClient(hc), storage.WithJSONReads()}
	if cfg.StorageEndpoint != "" {
		opts = append(opts, option.WithEndpoint(cfg.StorageEndpoint+"/storage/v1/"))
	}
	c, err := storage.NewClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("cannot make a storage client for %s", orDefault(cfg.StorageEndpoint, DefaultStorageEndpoint))
	}
	return c, nil
}

func listOne(ctx context.Context, c *storage.Client, bucket, prefix string) error {
	_, err := c.Bucket(bucket).Objects(ctx, &storage.Query{Prefix: prefix}).Next()
	if errors.Is(err, iterator.Done) {
		return nil
	}
	return err
}

func upload(ctx context.Context, b *storage.BucketHandle, name string) error {
	w := b.Object(name).NewWriter(ctx)
	if _, err := io.WriteString(w, name); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

// errDiffers is the error of a probe that reads back otherwise than it was written.
var errDiffers = errors.New("the probe read back differs from what was written")

// roundTrip writes name (its own name as content), reads it back and deletes it. It returns
// the step that failed (write, read, delete) and its error; a write answered 404, which for
// an upload can only mean that the bucket does not exist, as storage.ErrBucketNotExist.
func roundTrip(ctx context.Context, b *storage.BucketHandle, name string) (string, error) {
	if err := upload(ctx, b, name); err != nil {
		var g *googleapi.Error
		if errors.As(err, &g) && g.Code == http.StatusNotFound {
			err = storage.ErrBucketNotExist
		}
		return "write", err
	}
	r, err := b.Object(name).NewReader(ctx)
	if err != nil {
		return "read", err
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err == nil && string(got) != name {
		err = errDiffers
	}
	if err != nil {
		return "read", err
	}
	return "delete", b.Object(name).Delete(ctx)
}

// refused reports whether err is GCS refusing a request's authorization (403).
func refused(err error) bool {
	var g *googleapi.Error
	return errors.As(err, &g) && g.Code == http.StatusForbidden
}

// storageFailure describes an error of GCS in tarn's words: the status and reason it
// answered, never its message; or that it cannot be reached.
func storageFailure(err error) string {
	var g *googleapi.Error
	switch {
	case errors.Is(err, storage.ErrBucketNotExist):
		return "no such bucket (404)"
	case errors.Is(err, storage.ErrObjectNotExist):
		return "no such object (404)"
	case errors.As(err, &g):
		reason := "no error code"
		if len(g.Errors) > 0 {
			reason = safeCode(g.Errors[0].Reason)
		}
		return fmt.Sprintf("%s (%d)", reason, g.Code)
	case errors.Is(err, errDiffers):
		return errDiffers.Error()
	}
	return "cannot reach the endpoint"
}

// hint says what to do about a failed list or probe.
func hint(cfg api.CredsKeyConfig, loc location.Location, err error) string {
	switch {
	case errors.Is(err, storage.ErrBucketNotExist):
		return fmt.Sprintf("; create bucket %s (gcloud storage buckets create gs://%s)", loc.Bucket, loc.Bucket)
	case refused(err):
		msg := fmt.Sprintf("; %s needs roles/storage.objectAdmin on bucket %s", cfg.ServiceAccount, loc.Bucket)
		if cfg.KMSKey != "" {
			msg += " and roles/cloudkms.cryptoKeyEncrypterDecrypter on " + cfg.KMSKey
		}
		return msg + " (see tarn provision gcp)"
	}
	return ""
}

// refusalFailure describes a request that should have been refused: done (err nil) or
// failed otherwise than with a refusal.
func refusalFailure(err error, done string) string {
	if err == nil {
		return done + ": the token reaches further than it should"
	}
	return "not refused but failed otherwise: " + storageFailure(err)
}
