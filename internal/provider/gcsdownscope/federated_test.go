package gcsdownscope_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google/externalaccount"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/client"
	"github.com/tarnhq/tarn/internal/fakegcstest"
	"github.com/tarnhq/tarn/internal/googletest"
	"github.com/tarnhq/tarn/internal/issuer"
	"github.com/tarnhq/tarn/internal/provider"
	"github.com/tarnhq/tarn/internal/provider/gcsdownscope"
	"github.com/tarnhq/tarn/internal/testenv"
)

const poolProvider = "projects/123456789012/locations/global/workloadIdentityPools/tarn-pool/providers/tarn-issuer"

// federatedEnv is a whole tarn that is an OIDC issuer, a Google stand-in whose pool
// provider trusts that issuer (condition: the attribute condition's subject, "" for none)
// on tarn's clock, and a fake-gcs-server.
type federatedEnv struct {
	env   *testenv.Env
	g     *googletest.Server
	gcs   *fakegcstest.Server
	admin *client.Client
}

func newFederatedEnv(t *testing.T, condition string) *federatedEnv {
	t.Helper()
	f := &federatedEnv{gcs: fakegcstest.Start(t)}
	f.g = googletest.New(t, googletest.Options{Now: func() time.Time { return f.env.Clock.Now() }})
	f.env = testenv.New(t, testenv.Options{Issuer: true, AllowEndpoints: []string{f.g.HostPort(), f.gcs.HostPort()}})
	f.g.AddPoolProvider(t, googletest.PoolProvider{Name: poolProvider, IssuerURL: f.env.URL, Subject: condition})
	f.admin = f.env.Admin(t)
	if _, err := f.admin.CreateOrg(context.Background(), "acme"); err != nil {
		t.Fatal(err)
	}
	return f
}

// config is a federated key's configuration for the fake-gcs-server's bucket.
func (f *federatedEnv) config() api.CredsKeyConfig {
	return api.CredsKeyConfig{Roots: []string{"gs://" + f.gcs.Bucket}, ServiceAccount: targetSA, Auth: api.AuthFederated,
		WorkloadIdentityProvider: poolProvider, IAMEndpoint: f.g.URL, STSEndpoint: f.g.URL, StorageEndpoint: f.gcs.Endpoint}
}

func (f *federatedEnv) addKey(t *testing.T, name string) {
	t.Helper()
	if _, err := f.admin.PutCredsKey(context.Background(), "acme", name, api.PutCredsKeyRequest{Provider: api.ProviderGCS, Config: f.config()}); err != nil {
		t.Fatal(err)
	}
}

// verify runs verify of key name on the bucket's coco and returns its checks by name, in
// order.
func (f *federatedEnv) verify(t *testing.T, name string) ([]string, map[string]api.Check) {
	t.Helper()
	res, err := f.admin.VerifyCredsKey(context.Background(), "acme", name, "gs://"+f.gcs.Bucket+"/coco")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	byName := map[string]api.Check{}
	for _, c := range res.Checks {
		names = append(names, c.Name)
		byName[c.Name] = c
	}
	return names, byName
}

const foreignCheck = "a token for another creds key refused"

// TestFederatedThroughTheServer runs auth federated in a whole tarn: a read token vended
// through tarn's own token, Google STS's exchange, impersonation and downscoping reads the
// dataset; verify passes, negative check included; a key whose subject holds no binding is
// refused at impersonation, naming the role and its principal; a service account bound to
// the whole pool fails the negative check with what to bind instead; and no token reaches
// an error or the audit log.
func TestFederatedThroughTheServer(t *testing.T) {
	f := newFederatedEnv(t, "")
	ctx := context.Background()
	principal := googletest.PoolPrincipal(poolProvider, issuer.Subject("acme", "gcs"))
	f.g.BindWorkloadIdentityUser(principal, targetSA)
	f.addKey(t, "gcs")
	if _, err := f.admin.CreateDataset(ctx, "acme", api.CreateDatasetRequest{Name: "coco", Location: "gs://" + f.gcs.Bucket + "/coco", CredsKey: "gcs"}); err != nil {
		t.Fatal(err)
	}
	w := f.gcs.Client(t).Bucket(f.gcs.Bucket).Object("coco/a.txt").NewWriter(ctx)
	io.WriteString(w, "hello")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	read, err := f.admin.DatasetCredentials(ctx, "acme", "coco", api.ModeRead)
	if err != nil {
		t.Fatal(err)
	}
	down, ok := f.g.Lookup(read.GCS.AccessToken)
	imp, _ := f.g.Lookup(down.Subject)
	if !ok || down.Kind != googletest.Downscope || down.Principal != targetSA || imp.Kind != googletest.Impersonate {
		t.Fatalf("vended token %+v from %+v: want a downscoped token of an impersonated one of %s", down, imp, targetSA)
	}
	if n := f.g.Calls(googletest.Federate); n != 1 {
		t.Errorf("the vend exchanged %d tarn tokens at STS, want 1", n)
	}
	b, err := openVended(ctx, read, mustLoc(t, "gs://"+f.gcs.Bucket+"/coco"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got, err := b.ReadAll(ctx, "a.txt"); err != nil || string(got) != "hello" {
		t.Fatalf("read with the vended token: %q, %v", got, err)
	}

	names, checks := f.verify(t, "gcs")
	want := "location within roots,issuer discovery,exchange tarn's token at Google STS,impersonate " + targetSA + "," + foreignCheck +
		",downscope a read token,downscope a write token,list with a read token,probe round trip with a write token," +
		"read token refused for a write,read token refused outside the location"
	if got := strings.Join(names, ","); got != want {
		t.Fatalf("checks %s, want %s", got, want)
	}
	for _, c := range checks {
		if !c.OK && !(c.Skipped && c.Detail == gcsdownscope.SkippedOnEmulator) {
			t.Errorf("check %q failed: %s", c.Name, c.Detail)
		}
	}
	if c := checks[foreignCheck]; !strings.Contains(c.Detail, "refused by IAM Credentials (PERMISSION_DENIED, 403)") {
		t.Errorf("negative check %+v, want it refused at impersonation", c)
	}

	// A key whose subject no binding names: impersonation is refused.
	f.addKey(t, "gcs-other")
	var prob *api.Problem
	_, err = f.admin.LocationCredentials(ctx, "acme", "gcs-other", "gs://"+f.gcs.Bucket+"/coco", api.ModeRead)
	otherPrincipal := googletest.PoolPrincipal(poolProvider, issuer.Subject("acme", "gcs-other"))
	if !errors.As(err, &prob) || prob.Status != http.StatusForbidden || !strings.Contains(prob.Detail, gcsdownscope.RoleWorkloadIdentityUser) ||
		!strings.Contains(prob.Detail, otherPrincipal) {
		t.Fatalf("vend of a key without a binding: %v, want 403 naming %s and %s", err, gcsdownscope.RoleWorkloadIdentityUser, otherPrincipal)
	}

	// The whole pool bound: the negative check fails, saying what to bind.
	f.g.BindWorkloadIdentityUser(googletest.PoolPrincipalSet(poolProvider), targetSA)
	_, checks = f.verify(t, "gcs")
	if c := checks[foreignCheck]; c.OK || !strings.Contains(c.Detail, "the service account trusts another subject: bind "+gcsdownscope.RoleWorkloadIdentityUser+" to "+principal+" only") {
		t.Errorf("negative check with the whole pool bound: %+v, want it failed naming the binding", c)
	}

	list, err := f.admin.Audit(ctx, "acme", client.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(list)
	if !strings.Contains(string(raw), issuer.AuditAction) {
		t.Fatalf("no mint of tarn's token audited: %s", raw)
	}
	for _, secret := range []string{read.GCS.AccessToken, down.Subject, "ya29.", "eyJ"} {
		if strings.Contains(string(raw), secret) || strings.Contains(prob.Detail, secret) {
			t.Fatalf("an audit record or error carries a token (%.12s…)", secret)
		}
	}
}

// TestFederatedAttributeCondition: with the condition that tarn provision gcp prints
// (assertion.sub names the key), verify's negative check is refused at the exchange
// already, and a key of another subject cannot even get a federated token.
func TestFederatedAttributeCondition(t *testing.T) {
	f := newFederatedEnv(t, issuer.Subject("acme", "gcs"))
	f.g.BindWorkloadIdentityUser(googletest.PoolPrincipalSet(poolProvider), targetSA)
	f.addKey(t, "gcs")
	_, checks := f.verify(t, "gcs")
	if c := checks[foreignCheck]; !c.OK || !strings.Contains(c.Detail, "refused by Google STS (unauthorized_client, 400)") {
		t.Errorf("negative check %+v, want it refused by the attribute condition", c)
	}
	f.addKey(t, "gcs-other")
	var prob *api.Problem
	_, err := f.admin.LocationCredentials(context.Background(), "acme", "gcs-other", "gs://"+f.gcs.Bucket+"/coco", api.ModeRead)
	if !errors.As(err, &prob) || prob.Status != http.StatusBadGateway || !strings.Contains(prob.Detail, "Google STS refused tarn's token") ||
		!strings.Contains(prob.Detail, issuer.Subject("acme", "gcs-other")) {
		t.Fatalf("vend of another subject: %v, want STS's refusal naming what to trust", err)
	}
}

type tokenSupplier string

func (s tokenSupplier) SubjectToken(context.Context, externalaccount.SupplierOptions) (string, error) {
	return string(s), nil
}

// exchangeAt presents token to g's STS with the real external-account library.
func exchangeAt(t *testing.T, g *googletest.Server, token string) error {
	t.Helper()
	ts, err := externalaccount.NewTokenSource(context.WithValue(context.Background(), oauth2.HTTPClient, http.DefaultClient), externalaccount.Config{
		Audience: "//iam.googleapis.com/" + poolProvider, SubjectTokenType: gcsdownscope.TokenTypeJWT,
		TokenURL: g.URL + "/v1/token", Scopes: []string{gcsdownscope.ScopeCloudPlatform}, SubjectTokenSupplier: tokenSupplier(token),
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = ts.Token()
	return err
}

// TestFederatedRotatedOutKeyRefused: a token signed by a key that tarn rotated out, once
// that key has left the JWKS, is refused by STS even on a clock at which the token has not
// expired (the stand-in fetches the JWKS on each exchange, as a cache would after it
// expires); a token of the new key is accepted.
func TestFederatedRotatedOutKeyRefused(t *testing.T) {
	stsNow := testenv.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	g := googletest.New(t, googletest.Options{Now: stsNow.Now})
	env := testenv.New(t, testenv.Options{Issuer: true, AllowEndpoints: []string{g.HostPort()}})
	g.AddPoolProvider(t, googletest.PoolProvider{Name: poolProvider, IssuerURL: env.URL})
	stsNow.Advance(env.Clock.Now().Sub(stsNow.Now()))
	ctx := context.Background()
	aud := "https://iam.googleapis.com/" + poolProvider
	old, claims, err := env.Server.Issuer.Mint(ctx, "acme", "gcs", aud, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := exchangeAt(t, g, old); err != nil {
		t.Fatalf("a fresh token: %v", err)
	}
	if _, err := env.Server.Issuer.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	env.Clock.Advance(issuer.DefaultPublishLead + issuer.MaxTTL + issuer.RetireMargin + time.Second)
	set, err := env.Server.Issuer.JWKS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Key(claims.KeyID)) != 0 {
		t.Fatal("the rotated-out key is still in the JWKS")
	}
	if err := exchangeAt(t, g, old); err == nil || !strings.Contains(err.Error(), "invalid_grant") || !strings.Contains(err.Error(), claims.KeyID) {
		t.Fatalf("a token of a key gone from the JWKS: %v, want invalid_grant naming its key", err)
	}
	fresh, _, err := env.Server.Issuer.Mint(ctx, "acme", "gcs", aud, 0)
	if err != nil {
		t.Fatal(err)
	}
	stsNow.Advance(env.Clock.Now().Sub(stsNow.Now()))
	if err := exchangeAt(t, g, fresh); err != nil {
		t.Fatalf("a token of the new key: %v", err)
	}
}

// TestCheckConfigFederated: auth federated needs a valid pool provider and a server that
// is an OIDC issuer, and takes no secret; other modes take no pool provider.
func TestCheckConfigFederated(t *testing.T) {
	d := gcsdownscope.New(gcsdownscope.Options{})
	good := api.CredsKeyConfig{Roots: []string{"gs://acme-data"}, ServiceAccount: targetSA, Auth: api.AuthFederated, WorkloadIdentityProvider: poolProvider}
	issuerURL := "https://tarn.example.com"
	if _, err := d.CheckConfig(context.Background(), good, provider.ConfigCheck{Org: "acme", Issuer: issuerURL}); err != nil {
		t.Fatalf("a good federated key: %v", err)
	}
	for _, tc := range []struct {
		name   string
		change func(*api.CredsKeyConfig, *provider.ConfigCheck)
		want   string
	}{
		{"no issuer", func(_ *api.CredsKeyConfig, c *provider.ConfigCheck) { c.Issuer = "" }, "--public-url"},
		{"a secret", func(_ *api.CredsKeyConfig, c *provider.ConfigCheck) { c.HasSecret = true }, "stores no secret"},
		{"no provider", func(k *api.CredsKeyConfig, _ *provider.ConfigCheck) { k.WorkloadIdentityProvider = "" }, "--workload-identity-provider"},
		{"a project ID", func(k *api.CredsKeyConfig, _ *provider.ConfigCheck) {
			k.WorkloadIdentityProvider = strings.Replace(poolProvider, "123456789012", "acme-ml", 1)
		}, "the project's number"},
		{"a regional pool", func(k *api.CredsKeyConfig, _ *provider.ConfigCheck) {
			k.WorkloadIdentityProvider = strings.Replace(poolProvider, "global", "europe-west4", 1)
		}, "not a pool provider's name"},
		{"a pool provider for auth default", func(k *api.CredsKeyConfig, _ *provider.ConfigCheck) { k.Auth = api.AuthDefault }, "only for auth"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, check := good, provider.ConfigCheck{Org: "acme", Issuer: issuerURL}
			tc.change(&cfg, &check)
			_, err := d.CheckConfig(context.Background(), cfg, check)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("CheckConfig: %v, want an error naming %q", err, tc.want)
			}
		})
	}
}

// TestFederatedNeedsAnIssuerServer: a tarn without --public-url refuses a federated key
// with what to do.
func TestFederatedNeedsAnIssuerServer(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	admin := env.Admin(t)
	ctx := context.Background()
	if _, err := admin.CreateOrg(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	cfg := api.CredsKeyConfig{Roots: []string{"gs://acme-data"}, ServiceAccount: targetSA, Auth: api.AuthFederated, WorkloadIdentityProvider: poolProvider}
	var prob *api.Problem
	_, err := admin.PutCredsKey(ctx, "acme", "gcs", api.PutCredsKeyRequest{Provider: api.ProviderGCS, Config: cfg})
	if !errors.As(err, &prob) || prob.Status != http.StatusBadRequest || !strings.Contains(prob.Detail, "--public-url") {
		t.Fatalf("a federated key on a server that is no issuer: %v, want 400 naming --public-url", err)
	}
}
