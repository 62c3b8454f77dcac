package gcsdownscope_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2/google"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/googletest"
	"github.com/tarnhq/tarn/internal/netguard"
	"github.com/tarnhq/tarn/internal/netguard/netguardtest"
	"github.com/tarnhq/tarn/internal/provider"
	"github.com/tarnhq/tarn/internal/provider/gcsdownscope"
	"github.com/tarnhq/tarn/internal/testenv"
)

const (
	serverSA = "tarn-server@tarn-prod.iam.gserviceaccount.com"
	orgSA    = "acme-tarn@acme-ml.iam.gserviceaccount.com"
	targetSA = "datasets@acme-ml.iam.gserviceaccount.com"
)

// fixture is a driver whose Google endpoints are a googletest stand-in and whose ADC are a
// key of serverSA made there; its guard allows the stand-in and the addresses in allow.
type fixture struct {
	g     *googletest.Server
	d     *gcsdownscope.Driver
	clock *testenv.Clock
}

func newFixture(t *testing.T, adc *google.Credentials, allow ...string) *fixture {
	t.Helper()
	clock := testenv.NewClock(time.Now())
	g := googletest.New(t, googletest.Options{Now: clock.Now})
	guard, err := netguard.New(netguard.Options{Allow: append([]string{g.HostPort()}, allow...), Dial: netguardtest.Dial(t)})
	if err != nil {
		t.Fatal(err)
	}
	if adc == nil {
		adc = adcOf(t, g.ServiceAccountKey(t, serverSA))
	}
	return &fixture{g: g, clock: clock, d: gcsdownscope.New(gcsdownscope.Options{Guard: guard, Now: clock.Now, DefaultCredentials: adc})}
}

// adcOf returns the credentials of ADC JSON (such as a service-account key), as
// GOOGLE_APPLICATION_CREDENTIALS would give them.
func adcOf(t *testing.T, adc []byte) *google.Credentials {
	t.Helper()
	creds, err := google.CredentialsFromJSON(context.Background(), adc, gcsdownscope.ScopeCloudPlatform)
	if err != nil {
		t.Fatal(err)
	}
	return creds
}

func (f *fixture) key(auth string, secret []byte) provider.Key {
	return provider.Key{Org: "acme", Name: "gcs", Version: 1, Secret: secret, Config: api.CredsKeyConfig{
		Roots: []string{"gs://acme-data"}, ServiceAccount: targetSA, Auth: auth,
		IAMEndpoint: f.g.URL, STSEndpoint: f.g.URL,
	}}
}

func (f *fixture) vend(t *testing.T, key provider.Key, loc, mode string) (*api.Credentials, error) {
	t.Helper()
	return f.d.Vend(context.Background(), provider.Request{Key: key, Location: mustLoc(t, loc), Mode: mode, TTL: time.Hour})
}

// boundaryJSON returns the boundary the stand-in recorded for token, as JSON.
func (f *fixture) boundaryJSON(t *testing.T, token string) string {
	t.Helper()
	tok, ok := f.g.Lookup(token)
	if !ok || tok.Kind != googletest.Downscope || tok.Boundary == nil {
		t.Fatalf("the stand-in issued no downscoped token %q", token)
	}
	b, _ := json.Marshal(tok.Boundary)
	return string(b)
}

func wantBoundary(t *testing.T, loc, mode string) string {
	t.Helper()
	b, _ := json.Marshal(gcsdownscope.BoundaryFor(mustLoc(t, loc), mode))
	return string(b)
}

// TestVendBoundsTheTokenToTheLocationAndMode: a vended token is a downscoped token of the
// key's service account whose boundary is the location's, for each mode and location.
func TestVendBoundsTheTokenToTheLocationAndMode(t *testing.T) {
	f := newFixture(t, nil)
	f.g.Grant(serverSA, targetSA)
	key := f.key(api.AuthDefault, nil)
	for _, tc := range []struct{ loc, mode string }{
		{"gs://acme-data/coco", api.ModeRead},
		{"gs://acme-data/coco", api.ModeWrite},
		{"gs://acme-data/coco-private", api.ModeRead},
		{"gs://acme-data", api.ModeRead},
	} {
		c, err := f.vend(t, key, tc.loc, tc.mode)
		if err != nil {
			t.Fatal(err)
		}
		g := c.GCS
		if c.Provider != api.ProviderGCS || g == nil || g.Bucket != "acme-data" || g.Prefix != mustLoc(t, tc.loc).Path || g.Endpoint != "" {
			t.Fatalf("vend %s = %+v", tc.loc, c)
		}
		tok, _ := f.g.Lookup(g.AccessToken)
		if tok.Principal != targetSA {
			t.Errorf("token of %s acts as %q, want %s", tc.loc, tok.Principal, targetSA)
		}
		if got, want := f.boundaryJSON(t, g.AccessToken), wantBoundary(t, tc.loc, tc.mode); got != want {
			t.Errorf("%s %s bounded to %s, want %s", tc.mode, tc.loc, got, want)
		}
		if d := c.ExpiresAt.Sub(f.clock.Now()); d > time.Hour || d < 59*time.Minute {
			t.Errorf("token expires in %v, want the impersonated token's hour", d)
		}
	}
}

// TestImpersonatedTokenIsSharedAndRenewedAtHalfLife: concurrent vends for many locations of
// one key impersonate once; the token is reused until half its hour has passed, then
// renewed once; every vend downscopes.
func TestImpersonatedTokenIsSharedAndRenewedAtHalfLife(t *testing.T) {
	f := newFixture(t, nil)
	f.g.Grant(serverSA, targetSA)
	key := f.key(api.AuthDefault, nil)
	vendMany := func() {
		var wg sync.WaitGroup
		for i := range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				mode := []string{api.ModeRead, api.ModeWrite}[i%2]
				if _, err := f.vend(t, key, fmt.Sprintf("gs://acme-data/ds%d", i%4), mode); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	vendMany()
	if n := f.g.Calls(googletest.Impersonate); n != 1 {
		t.Fatalf("32 concurrent vends impersonated %d times, want 1", n)
	}
	if n := f.g.Calls(googletest.Downscope); n != 32 {
		t.Fatalf("32 vends downscoped %d times, want 32", n)
	}
	f.clock.Advance(29 * time.Minute)
	vendMany()
	if n := f.g.Calls(googletest.Impersonate); n != 1 {
		t.Fatalf("before half life: %d impersonations, want still 1", n)
	}
	f.clock.Advance(2 * time.Minute)
	vendMany()
	if n := f.g.Calls(googletest.Impersonate); n != 2 {
		t.Fatalf("after half life: %d impersonations, want 2", n)
	}
	key.Version++
	if _, err := f.vend(t, key, "gs://acme-data/ds0", api.ModeRead); err != nil {
		t.Fatal(err)
	}
	if n := f.g.Calls(googletest.Impersonate); n != 3 {
		t.Fatalf("a new version of the key: %d impersonations, want 3", n)
	}
}

// TestMissingTokenCreatorIsNamed: without roles/iam.serviceAccountTokenCreator the vend
// fails with kind Permission and one line naming the role, and no token or key.
func TestMissingTokenCreatorIsNamed(t *testing.T) {
	f := newFixture(t, nil)
	secret := f.g.ServiceAccountKey(t, orgSA)
	for _, key := range []provider.Key{f.key(api.AuthDefault, nil), f.key(api.AuthServiceAccountKey, secret)} {
		_, err := f.vend(t, key, "gs://acme-data/coco", api.ModeRead)
		msg := errs.DetailOf(err)
		if !errs.Is(errs.Permission, err) || !strings.Contains(msg, gcsdownscope.RoleTokenCreator) || !strings.Contains(msg, targetSA) || strings.Contains(msg, "\n") {
			t.Fatalf("auth %s without Token Creator: %v, want one line of kind Permission naming %s", key.Config.Auth, err, gcsdownscope.RoleTokenCreator)
		}
		if strings.Contains(err.Error(), "ya29.") || strings.Contains(err.Error(), "PRIVATE KEY") {
			t.Fatalf("error carries a secret: %v", err)
		}
	}
	if n := f.g.Calls(googletest.Downscope); n != 0 {
		t.Fatalf("a refused impersonation still downscoped %d times", n)
	}
}

// TestServiceAccountKeyImpersonates: auth service-account-key impersonates with the org's
// key (its token fetched from the key's token_uri through the guard), not the server's ADC.
func TestServiceAccountKeyImpersonates(t *testing.T) {
	f := newFixture(t, nil)
	f.g.Grant(orgSA, targetSA) // the server's own identity has no grant
	key := f.key(api.AuthServiceAccountKey, f.g.ServiceAccountKey(t, orgSA))
	c, err := f.vend(t, key, "gs://acme-data/coco", api.ModeWrite)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := f.g.Lookup(c.GCS.AccessToken)
	imp, _ := f.g.Lookup(tok.Subject)
	if imp.Kind != googletest.Impersonate || imp.Principal != targetSA {
		t.Fatalf("downscoped from %+v", imp)
	}
	key.Secret = []byte(`{"type":"authorized_user","client_id":"x","client_secret":"hunter2","refresh_token":"r"}`)
	key.Version++
	_, err = f.vend(t, key, "gs://acme-data/coco", api.ModeWrite)
	if !errs.Is(errs.Invalid, err) || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("a user credential as the key: %v, want Invalid without quoting it", err)
	}
}

// TestADCFromTheEnvironment: with no injected source, auth default finds the server's ADC
// as Google's libraries do, from GOOGLE_APPLICATION_CREDENTIALS.
func TestADCFromTheEnvironment(t *testing.T) {
	g := googletest.New(t, googletest.Options{})
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", g.KeyFile(t, serverSA))
	g.Grant(serverSA, targetSA)
	guard, err := netguard.New(netguard.Options{Allow: []string{g.HostPort()}, Dial: netguardtest.Dial(t)})
	if err != nil {
		t.Fatal(err)
	}
	d := gcsdownscope.New(gcsdownscope.Options{Guard: guard})
	f := &fixture{g: g, d: d}
	if _, err := f.vend(t, f.key(api.AuthDefault, nil), "gs://acme-data/coco", api.ModeRead); err != nil {
		t.Fatal(err)
	}
	if g.Calls(googletest.OAuth) != 1 {
		t.Fatalf("ADC fetched %d tokens from the key's token_uri, want 1", g.Calls(googletest.OAuth))
	}
}

// TestLimitsAreCheckedBeforeAnyCall: a location whose boundary is too long for STS fails
// with kind Invalid and no call to Google.
func TestLimitsAreCheckedBeforeAnyCall(t *testing.T) {
	f := newFixture(t, nil)
	f.g.Grant(serverSA, targetSA)
	_, err := f.vend(t, f.key(api.AuthDefault, nil), "gs://acme-data/"+strings.Repeat("p", 1000), api.ModeRead)
	if !errs.Is(errs.Invalid, err) {
		t.Fatalf("vend: %v, want Invalid", err)
	}
	if n := f.g.Calls(googletest.Impersonate) + f.g.Calls(googletest.Downscope) + f.g.Calls(googletest.OAuth); n != 0 {
		t.Fatalf("%d calls to Google for a boundary STS would refuse", n)
	}
}

// TestCheckConfig: what a gcs creds key may and may not hold.
func TestCheckConfig(t *testing.T) {
	f := newFixture(t, nil)
	good := api.CredsKeyConfig{Roots: []string{"gs://acme-data"}, ServiceAccount: targetSA, IAMEndpoint: f.g.URL + "/", STSEndpoint: f.g.URL, StorageEndpoint: f.g.URL}
	with := func(change func(*api.CredsKeyConfig)) api.CredsKeyConfig {
		c := good
		change(&c)
		return c
	}
	key := f.g.ServiceAccountKey(t, orgSA)
	foreignKey := strings.Replace(string(key), f.g.TokenURI(), "http://127.0.0.1:1/token", 1)
	for _, tc := range []struct {
		name   string
		cfg    api.CredsKeyConfig
		check  provider.ConfigCheck
		refuse string // a part of the error; "" when accepted
	}{
		{"default", good, provider.ConfigCheck{}, ""},
		{"service account key", with(func(c *api.CredsKeyConfig) { c.Auth = api.AuthServiceAccountKey }), provider.ConfigCheck{HasSecret: true, Secret: key}, ""},
		{"key kept from before", with(func(c *api.CredsKeyConfig) { c.Auth = api.AuthServiceAccountKey }), provider.ConfigCheck{HasSecret: true}, ""},
		{"key mode without key", with(func(c *api.CredsKeyConfig) { c.Auth = api.AuthServiceAccountKey }), provider.ConfigCheck{}, "--secret-stdin"},
		{"not a service account key", with(func(c *api.CredsKeyConfig) { c.Auth = api.AuthServiceAccountKey }),
			provider.ConfigCheck{HasSecret: true, Secret: []byte(`{"type":"authorized_user","refresh_token":"hunter2"}`)}, "service_account"},
		{"not JSON", with(func(c *api.CredsKeyConfig) { c.Auth = api.AuthServiceAccountKey }), provider.ConfigCheck{HasSecret: true, Secret: []byte("hunter2")}, "not a JSON"},
		{"token_uri not allowed", with(func(c *api.CredsKeyConfig) { c.Auth = api.AuthServiceAccountKey }), provider.ConfigCheck{HasSecret: true, Secret: []byte(foreignKey)}, "token_uri"},
		{"default with a secret", good, provider.ConfigCheck{HasSecret: true}, "leave out the secret"},
		{"unknown auth", with(func(c *api.CredsKeyConfig) { c.Auth = api.AuthSharedKey }), provider.ConfigCheck{}, "is not"},
		{"s3 root", with(func(c *api.CredsKeyConfig) { c.Roots = []string{"s3://acme-data"} }), provider.ConfigCheck{}, "gs://"},
		{"no service account", with(func(c *api.CredsKeyConfig) { c.ServiceAccount = "" }), provider.ConfigCheck{}, "service_account"},
		{"user as service account", with(func(c *api.CredsKeyConfig) { c.ServiceAccount = "alice@example.com" }), provider.ConfigCheck{}, "service_account"},
		{"path in service account", with(func(c *api.CredsKeyConfig) { c.ServiceAccount = "a/b@x.iam.gserviceaccount.com" }), provider.ConfigCheck{}, "service_account"},
		{"bad kms key", with(func(c *api.CredsKeyConfig) { c.KMSKey = "arn:aws:kms:x" }), provider.ConfigCheck{}, "kms_key"},
		{"endpoint with a path", with(func(c *api.CredsKeyConfig) { c.STSEndpoint = f.g.URL + "/v1/token" }), provider.ConfigCheck{}, "has a path"},
		{"endpoint with a query", with(func(c *api.CredsKeyConfig) { c.IAMEndpoint = f.g.URL + "?x=1" }), provider.ConfigCheck{}, "query"},
		{"endpoint not allowed", with(func(c *api.CredsKeyConfig) { c.StorageEndpoint = "http://127.0.0.1:1" }), provider.ConfigCheck{}, "storage_endpoint"},
		{"aws field", with(func(c *api.CredsKeyConfig) { c.RoleARN = "arn:aws:iam::1:role/x" }), provider.ConfigCheck{}, "role_arn"},
		{"azure field", with(func(c *api.CredsKeyConfig) { c.Account = "acme" }), provider.ConfigCheck{}, "account"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := f.d.CheckConfig(context.Background(), tc.cfg, tc.check)
			switch {
			case tc.refuse == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.refuse == "":
				if got.IAMEndpoint != f.g.URL || (got.Auth != api.AuthDefault && got.Auth != api.AuthServiceAccountKey) {
					t.Fatalf("canonical form %+v", got)
				}
			case !errs.Is(errs.Invalid, err) && !errs.Is(errs.Permission, err):
				t.Fatalf("accepted or misclassified: %v", err)
			case !strings.Contains(err.Error(), tc.refuse) || strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "PRIVATE"):
				t.Fatalf("error %q: want it to name %q and quote no secret", err, tc.refuse)
			}
		})
	}
	// Google's own endpoints are stored as empty, so that a key naming them is no emulator.
	got, err := f.d.CheckConfig(context.Background(), api.CredsKeyConfig{Roots: good.Roots, ServiceAccount: targetSA, StorageEndpoint: "https://storage.googleapis.com/"}, provider.ConfigCheck{})
	if err != nil || got.StorageEndpoint != "" {
		t.Fatalf("Google's storage endpoint: %+v, %v; want it stored as empty", got, err)
	}
}
