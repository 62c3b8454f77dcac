package azuresas_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"gocloud.dev/blob"
	"gocloud.dev/blob/azureblob"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/azuritetest"
	"github.com/tarnhq/tarn/internal/netguard"
	"github.com/tarnhq/tarn/internal/netguard/netguardtest"
	"github.com/tarnhq/tarn/internal/provider"
	"github.com/tarnhq/tarn/internal/provider/azuresas"
	"github.com/tarnhq/tarn/internal/provider/providertest"
	"github.com/tarnhq/tarn/internal/testenv"
	"github.com/tarnhq/tarn/location"
)

func TestMain(m *testing.M) { azuritetest.Main(m) }

// azuriteDriver returns a driver whose guard allows srv, as tarn serve --allow-endpoint
// 127.0.0.1:PORT does, and whose transport trusts srv's certificate (StartOAuth).
func azuriteDriver(t *testing.T, srv *azuritetest.Server) *azuresas.Driver {
	t.Helper()
	g, err := netguard.New(netguard.Options{Allow: []string{srv.HostPort()}, Dial: netguardtest.Dial(t)})
	if err != nil {
		t.Fatal(err)
	}
	return azuresas.New(azuresas.Options{Guard: g, Transport: srv.Transport(nil)})
}

// sharedKeyKey returns a creds key of auth shared-key for srv's account with roots, in the
// canonical form CheckConfig gives it.
func sharedKeyKey(t *testing.T, d *azuresas.Driver, srv *azuritetest.Server, secret string, roots ...string) provider.Key {
	t.Helper()
	cfg, err := d.CheckConfig(context.Background(), api.CredsKeyConfig{
		Roots: roots, Account: srv.Account, Endpoint: srv.Endpoint, Auth: api.AuthSharedKey,
	}, provider.ConfigCheck{Org: "acme", HasSecret: true})
	if err != nil {
		t.Fatal(err)
	}
	return provider.Key{Org: "acme", Name: "azurite", Version: 1, Config: cfg, Secret: []byte(secret)}
}

func az(t *testing.T, account string, elems ...string) location.Location {
	t.Helper()
	l, err := location.ParseStorage("az://" + path.Join(append([]string{account}, elems...)...))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// openVended opens loc through a container client that authenticates with c's SAS only, as
// a client of tarn would.
func openVended(ctx context.Context, srv *azuritetest.Server, c *api.Credentials, loc location.Location) (*blob.Bucket, error) {
	cc, err := container.NewClientWithNoCredential(c.Azure.Endpoint+"/"+loc.Container+"?"+c.Azure.SASToken,
		&container.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: srv.HTTPClient}})
	if err != nil {
		return nil, err
	}
	b, err := azureblob.OpenBucket(ctx, cc, nil)
	if err != nil || loc.Path == "" {
		return b, err
	}
	return blob.PrefixedBucket(b, loc.Path+"/"), nil
}

// refused reports whether err is Blob Storage refusing a request's authorization (403),
// which azureblob reports as PermissionDenied only for AuthenticationFailed.
func refused(err error) bool {
	var resp *azcore.ResponseError
	return errors.As(err, &resp) && resp.StatusCode == http.StatusForbidden
}

// The shared conformance suite, against a real Azurite with a shared key. Azurite's account
// has no hierarchical namespace, so a SAS is scoped to a container: the suite's two datasets
// are two containers whose names share leading characters.
func TestConformance(t *testing.T) {
	srv := azuritetest.Start(t)
	root := srv.SharedKeyClient(t)
	dsA, dsAB := srv.Container+"-ds-a", srv.Container+"-ds-ab"
	for _, c := range []string{dsA, dsAB} {
		if _, err := root.CreateContainer(t.Context(), c, nil); err != nil {
			t.Fatal(err)
		}
	}
	d := azuriteDriver(t, srv)
	v := provider.New(map[string]provider.Driver{azuresas.Name: d}, nil)
	providertest.Run(t, providertest.Setup{
		Vendor:    v,
		Driver:    d,
		Provider:  azuresas.Name,
		Key:       sharedKeyKey(t, d, srv, srv.AccountKey, az(t, srv.Account, srv.Container).String(), az(t, srv.Account, dsA).String(), az(t, srv.Account, dsAB).String()),
		Base:      az(t, srv.Account, srv.Container, "conformance"),
		DatasetA:  az(t, srv.Account, dsA),
		DatasetAB: az(t, srv.Account, dsAB),
		Open: func(ctx context.Context, c *api.Credentials, loc location.Location) (*blob.Bucket, error) {
			return openVended(ctx, srv, c, loc)
		},
		Seed: func(ctx context.Context, loc location.Location, key string, data []byte) error {
			_, err := root.UploadBuffer(ctx, loc.Container, path.Join(loc.Path, key), data, nil)
			return err
		},
		Enforced: true,
		Denied:   refused,
	})
}

// TestVerifyOnAzurite runs tarn creds verify (the API it calls) on Azurite with a shared
// key: the right account key passes every check, among them the refusals that only a real
// store can answer; a wrong one fails listing and the probe naming the account key; a
// container that does not exist is named as such, not blamed on the key.
func TestVerifyOnAzurite(t *testing.T) {
	srv := azuritetest.Start(t)
	env := testenv.New(t, testenv.Options{AllowEndpoints: []string{srv.HostPort()}})
	env.Clock.Advance(time.Since(env.Clock.Now())) // Azurite checks SAS times against its own clock
	ctx := t.Context()
	admin := env.Admin(t)
	if _, err := admin.CreateOrg(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	wrongKey := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 64))
	for _, tc := range []struct {
		name, secret, container string
		failed                  map[string]string // check name -> what its detail names
	}{
		{"right account key", srv.AccountKey, srv.Container, nil},
		{"wrong account key", wrongKey, srv.Container, map[string]string{
			"list with a read SAS":              "(403); check the account key",
			"probe round trip with a write SAS": "(403); check the account key",
		}},
		{"missing container", srv.AccountKey, "nosuch", map[string]string{
			"list with a read SAS":              "container nosuch does not exist in account " + srv.Account + ": create it",
			"probe round trip with a write SAS": "container nosuch does not exist",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := strings.ReplaceAll(tc.name, " ", "-")
			root := az(t, srv.Account, tc.container).String()
			if _, err := admin.PutCredsKey(ctx, "acme", name, api.PutCredsKeyRequest{Provider: api.ProviderAzure, Secret: tc.secret,
				Config: api.CredsKeyConfig{Roots: []string{root}, Account: srv.Account, Endpoint: srv.Endpoint, Auth: api.AuthSharedKey}}); err != nil {
				t.Fatal(err)
			}
			res, err := admin.VerifyCredsKey(ctx, "acme", name, root)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, c := range res.Checks {
				names = append(names, c.Name)
				want, shouldFail := tc.failed[c.Name]
				switch {
				case shouldFail && (c.OK || !strings.Contains(c.Detail, want)):
					t.Errorf("check %q = %+v; want it failed naming %q", c.Name, c, want)
				case !shouldFail && !c.OK:
					t.Errorf("check %q failed: %s", c.Name, c.Detail)
				}
				if strings.Contains(c.Detail, tc.secret) || strings.Contains(c.Detail, "sig=") {
					t.Errorf("check %q carries the key or a SAS: %s", c.Name, c.Detail)
				}
			}
			want := "location within roots,sas scope,sign a SAS with the account key,list with a read SAS,probe round trip with a write SAS,read SAS refused for a write,read SAS refused for another container"
			if tc.failed != nil {
				want = "location within roots,sas scope,sign a SAS with the account key,list with a read SAS,probe round trip with a write SAS"
			}
			if got := strings.Join(names, ","); got != want {
				t.Errorf("checks %s, want %s", got, want)
			}
		})
	}
}

// TestVerifyHierarchicalNamespace checks verify's comparison of the account's hierarchical
// namespace with the key's claim. Azurite has none and does not report it (no
// x-ms-is-hns-enabled header), so a proxy in front of the real Azurite adds the header
// Azure sends to Get Account Information; everything else is Azurite's answer.
func TestVerifyHierarchicalNamespace(t *testing.T) {
	srv := azuritetest.Start(t)
	for _, tc := range []struct {
		name    string
		claim   bool
		header  string // x-ms-is-hns-enabled; "" sends none
		want    string // "ok", "failed", "skipped" or "absent"
		details string
	}{
		{"claimed and present", true, "true", "ok", "has one, as the key says"},
		{"claimed but absent", true, "false", "failed", "without --hierarchical-namespace"},
		{"claimed, endpoint silent", true, "", "skipped", "skipped: the endpoint does not say"},
		{"present but not claimed", false, "true", "ok", "set it again with --hierarchical-namespace"},
		{"flat, as claimed", false, "false", "ok", "has none, as the key says"},
		{"not claimed, endpoint silent", false, "", "absent", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target, err := url.Parse(srv.Endpoint)
			if err != nil {
				t.Fatal(err)
			}
			rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: target.Scheme, Host: target.Host})
			rp.ModifyResponse = func(r *http.Response) error {
				q := r.Request.URL.Query()
				if tc.header != "" && q.Get("restype") == "account" && q.Get("comp") == "properties" {
					r.Header.Set("x-ms-is-hns-enabled", tc.header)
				}
				return nil
			}
			proxy := httptest.NewServer(rp)
			defer proxy.Close()
			g, err := netguard.New(netguard.Options{Allow: []string{proxy.Listener.Addr().String()}, Dial: netguardtest.Dial(t)})
			if err != nil {
				t.Fatal(err)
			}
			d := azuresas.New(azuresas.Options{Guard: g})
			root := az(t, srv.Account, srv.Container)
			cfg, err := d.CheckConfig(t.Context(), api.CredsKeyConfig{Roots: []string{root.String()}, Account: srv.Account,
				Endpoint: proxy.URL + target.Path, Auth: api.AuthSharedKey, HierarchicalNamespace: tc.claim}, provider.ConfigCheck{Org: "acme", HasSecret: true})
			if err != nil {
				t.Fatal(err)
			}
			var got *api.Check
			checks := d.Verify(t.Context(), provider.Key{Org: "acme", Name: "az", Config: cfg, Secret: []byte(srv.AccountKey)}, root)
			for i, c := range checks {
				if c.Name == "hierarchical namespace" {
					got = &checks[i]
				} else if !c.OK {
					t.Errorf("check %q failed: %s", c.Name, c.Detail)
				}
			}
			state := "absent"
			switch {
			case got == nil:
			case got.Skipped && !got.OK:
				state = "skipped"
			case got.Skipped:
				state = "skipped but ok"
			case got.OK:
				state = "ok"
			default:
				state = "failed"
			}
			if state != tc.want || (got != nil && !strings.Contains(got.Detail, tc.details)) {
				t.Fatalf("hierarchical namespace check = %+v (%s); want %s naming %q", got, state, tc.want, tc.details)
			}
		})
	}
}
