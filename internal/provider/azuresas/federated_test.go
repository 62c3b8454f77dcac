package azuresas_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/client"
	"github.com/tarnhq/tarn/internal/entratest"
	"github.com/tarnhq/tarn/internal/issuer"
	"github.com/tarnhq/tarn/internal/provider"
	"github.com/tarnhq/tarn/internal/provider/azuresas"
)

// newFederatedFixture returns an entraFixture whose tarn is an OIDC issuer, with creds key
// acme/fed of auth federated for the app of f.entra, rooted at the OAuth account's
// container, and the app trusting fc (its Issuer defaults to tarn's).
func newFederatedFixture(t *testing.T, fc entratest.FederatedCredential) *entraFixture {
	t.Helper()
	f := newEntraFixtureOf(t, true)
	if fc.Issuer == "" {
		fc.Issuer = f.env.Server.Issuer.URL()
	}
	f.entra.AddFederatedCredential(fc)
	_, err := f.env.Admin(t).PutCredsKey(t.Context(), "acme", "fed", api.PutCredsKeyRequest{
		Provider: api.ProviderAzure,
		Config: api.CredsKeyConfig{Roots: []string{"az://" + f.srv.Account + "/" + f.srv.Container}, Account: f.srv.Account,
			Endpoint: f.srv.Endpoint, Auth: api.AuthFederated, TenantID: f.entra.TenantID, ClientID: f.entra.ClientID},
	})
	if err != nil {
		t.Fatalf("put creds key fed: %v", err)
	}
	return f
}

const fedSubject = "org:acme:creds-key:fed"

// assertions returns the client assertions f.entra received.
func (f *entraFixture) assertions() []string {
	var out []string
	for _, r := range f.entra.Requests() {
		if r.Assertion != "" {
			out = append(out, r.Assertion)
		}
	}
	return out
}

// noTokenIn fails t when any of texts carries one of the client assertions f.entra
// received.
func (f *entraFixture) noTokenIn(t *testing.T, where string, texts ...string) {
	t.Helper()
	for _, a := range f.assertions() {
		for _, s := range texts {
			if strings.Contains(s, a) {
				t.Errorf("%s carries tarn's token: %q", where, s)
			}
		}
	}
}

// auditTexts returns every audit record of acme, as text.
func (f *entraFixture) auditTexts(t *testing.T) []string {
	t.Helper()
	list, err := f.env.Admin(t).Audit(t.Context(), "acme", client.AuditQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range list.Records {
		out = append(out, r.Action+" "+r.Target+" "+r.Detail+" "+r.KeyID)
	}
	return out
}

// TestFederatedEndToEnd runs auth federated in a whole tarn that is an OIDC issuer: Entra
// ID (entratest) trusts tarn's token for the key's subject, Azurite hands out a user
// delegation key for the Entra ID token, and the read SAS reads the dataset but cannot write
// it or reach another container. The key holds no secret, and no audit record carries the
// token.
func TestFederatedEndToEnd(t *testing.T) {
	f := newFederatedFixture(t, entratest.FederatedCredential{Name: "tarn", Subject: fedSubject})
	ctx := t.Context()
	admin := f.env.Admin(t)
	if _, err := f.srv.SharedKeyClient(t).UploadBuffer(ctx, f.srv.Container, "dir/hello.txt", []byte("hello"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateDataset(ctx, "acme", api.CreateDatasetRequest{Name: "data", Location: "az://" + f.srv.Account + "/" + f.srv.Container, CredsKey: "fed"}); err != nil {
		t.Fatal(err)
	}
	read, err := admin.DatasetCredentials(ctx, "acme", "data", api.ModeRead)
	if err != nil {
		t.Fatalf("vend read: %v", err)
	}
	q, err := url.ParseQuery(read.Azure.SASToken)
	if err != nil || q.Get("skoid") != f.entra.ObjectID || q.Get("sktid") != f.entra.TenantID || q.Get("sp") != "rl" {
		t.Fatalf("read SAS %v (%v): want a read SAS signed with a user delegation key of the app's principal", q, err)
	}
	reqs := f.entra.Requests()
	if len(reqs) != 1 || reqs[0].Subject != fedSubject || reqs[0].Error != "" || reqs[0].Assertion == "" {
		t.Fatalf("token requests %+v; want one client assertion of subject %s, answered", reqs, fedSubject)
	}

	r := f.sasClient(t, read, f.srv.Container)
	got, err := r.NewBlobClient("dir/hello.txt").DownloadStream(ctx, nil)
	if err != nil {
		t.Fatalf("read with the read SAS: %v", err)
	}
	body, err := io.ReadAll(got.Body)
	got.Body.Close()
	if err != nil || string(body) != "hello" {
		t.Fatalf("read back %q, %v; want hello", body, err)
	}
	_, err = r.NewBlockBlobClient("dir/intruder.txt").Upload(ctx, streaming.NopCloser(bytes.NewReader([]byte("x"))), nil)
	if status(err) != http.StatusForbidden {
		t.Errorf("upload with the read SAS: %v; want 403", err)
	}
	other := f.srv.Container + "-other"
	if _, err := f.srv.SharedKeyClient(t).CreateContainer(ctx, other, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.sasClient(t, read, other).NewListBlobsFlatPager(nil).NextPage(ctx); status(err) != http.StatusForbidden {
		t.Errorf("list container %s with a read SAS for %s: %v; want 403", other, f.srv.Container, err)
	}

	key, err := admin.CredsKey(ctx, "acme", "fed")
	if err != nil || key.HasSecret {
		t.Errorf("creds key %+v, %v; want one without a secret", key, err)
	}
	audit := f.auditTexts(t)
	if !strings.Contains(strings.Join(audit, "\n"), issuer.AuditAction) {
		t.Errorf("audit %q: want the mint of tarn's token recorded", audit)
	}
	f.noTokenIn(t, "an audit record", audit...)
}

// TestFederatedVerify: verify of a federated key passes every check, among them the
// discovery of tarn's issuer, Entra ID's token and the refusal of another subject's token.
func TestFederatedVerify(t *testing.T) {
	f := newFederatedFixture(t, entratest.FederatedCredential{Name: "tarn", Subject: fedSubject})
	res, err := f.env.Admin(t).VerifyCredsKey(t.Context(), "acme", "fed", "az://"+f.srv.Account+"/"+f.srv.Container)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, c := range res.Checks {
		names[c.Name] = true
		if !c.OK && !c.Skipped {
			t.Errorf("check %q failed: %s", c.Name, c.Detail)
		}
	}
	for _, want := range []string{"issuer discovery", "Entra ID token for tarn's token", "token of another subject refused", "probe round trip with a write SAS", "read SAS refused for a write"} {
		if !names[want] {
			t.Errorf("checks %+v: want %q", res.Checks, want)
		}
	}
	var foreign []string
	for _, r := range f.entra.Requests() {
		if r.Subject != fedSubject {
			foreign = append(foreign, r.Subject+" "+r.Error)
		}
	}
	if len(foreign) != 1 || !strings.HasPrefix(foreign[0], "org:acme:creds-key:tarn-verify-") || !strings.HasSuffix(foreign[0], " invalid_client") {
		t.Errorf("token requests of other subjects %q; want one, refused", foreign)
	}
}

// TestFederatedVerifyCatchesAnAppTrustingOtherSubjects: an app whose federated credential
// matches every creds key of the org (a flexible credential) passes the positive checks but
// fails the negative one, naming the subject it must pin.
func TestFederatedVerifyCatchesAnAppTrustingOtherSubjects(t *testing.T) {
	f := newFederatedFixture(t, entratest.FederatedCredential{Name: "tarn", SubjectPattern: "org:acme:creds-key:*"})
	res, err := f.env.Admin(t).VerifyCredsKey(t.Context(), "acme", "fed", "az://"+f.srv.Account+"/"+f.srv.Container)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Checks {
		switch {
		case c.Name == "token of another subject refused":
			if c.OK || !strings.Contains(c.Detail, "the app trusts another subject: its federated credential must name "+fedSubject) {
				t.Errorf("negative check %+v; want failed, naming %s", c, fedSubject)
			}
			return
		case !c.OK:
			t.Errorf("check %q failed: %s", c.Name, c.Detail)
		}
	}
	t.Errorf("checks %+v: no negative check", res.Checks)
}

// TestFederatedAnotherSubjectIsRefused: an app that trusts another creds key's subject
// gives no token for this key: the vend fails with one line saying what the federated
// credential must name, verify fails at Entra ID's token, and neither carries the token.
func TestFederatedAnotherSubjectIsRefused(t *testing.T) {
	f := newFederatedFixture(t, entratest.FederatedCredential{Name: "tarn", Subject: "org:acme:creds-key:other"})
	admin := f.env.Admin(t)
	_, err := admin.LocationCredentials(t.Context(), "acme", "fed", "az://"+f.srv.Account+"/"+f.srv.Container, api.ModeRead)
	var p *api.Problem
	if !errors.As(err, &p) {
		t.Fatalf("vend: %v; want a problem", err)
	}
	want := "it needs a federated credential with issuer " + f.env.Server.Issuer.URL() + ", subject " + fedSubject + " and audience " + api.AudienceAzure
	if p.Status != http.StatusBadGateway || !strings.Contains(p.Detail, want) || strings.ContainsAny(p.Detail, "\r\n") {
		t.Errorf("vend: %d %q; want 502, one line with %q", p.Status, p.Detail, want)
	}
	if reqs := f.entra.Requests(); len(reqs) == 0 || reqs[0].Error != "invalid_client" {
		t.Errorf("token requests %+v; want refused with invalid_client", reqs)
	}
	if n := f.udk.Load(); n != 0 {
		t.Errorf("%d user delegation key requests without a token, want 0", n)
	}
	res, err := admin.VerifyCredsKey(t.Context(), "acme", "fed", "az://"+f.srv.Account+"/"+f.srv.Container)
	if err != nil {
		t.Fatal(err)
	}
	last := res.Checks[len(res.Checks)-1]
	if last.Name != "Entra ID token for tarn's token" || last.OK || !strings.Contains(last.Detail, want) {
		t.Errorf("verify checks %+v; want the last to be a failed Entra ID token naming %q", res.Checks, want)
	}
	texts := []string{p.Detail}
	for _, c := range res.Checks {
		texts = append(texts, c.Detail)
	}
	f.noTokenIn(t, "an error or check", append(texts, f.auditTexts(t)...)...)
}

// TestFederatedRotatedOutKeyIsRefused: a token of tarn's issuer verifies across a
// rotation, and is refused by Entra ID once its key has left the JWKS, while a token of the
// new key is accepted.
func TestFederatedRotatedOutKeyIsRefused(t *testing.T) {
	f := newFederatedFixture(t, entratest.FederatedCredential{Name: "tarn", Subject: fedSubject})
	ctx := t.Context()
	iss := f.env.Server.Issuer
	mint := func() string {
		t.Helper()
		tok, _, err := iss.Mint(ctx, "acme", "fed", api.AudienceAzure, 0)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	present := func(tok string) error {
		cred := f.entra.AssertionCredential(t, func(context.Context) (string, error) { return tok, nil })
		_, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{azuresas.StorageScope}})
		return err
	}
	old := mint()
	if _, err := iss.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := present(old); err != nil {
		t.Fatalf("token of the old key right after a rotation: %v; want accepted", err)
	}
	f.env.Clock.Advance(2 * time.Hour) // the new key signs; the old one has left the JWKS
	if err := present(old); err == nil || !strings.Contains(err.Error(), "AADSTS7000272") {
		t.Fatalf("token of a rotated-out key: %v; want refused with AADSTS7000272", err)
	}
	if err := present(mint()); err != nil {
		t.Fatalf("token of the new key: %v; want accepted", err)
	}
}

// TestFederatedNeedsIssuerAndNoSecret checks the configuration of auth federated: it needs
// the app's tenant and client IDs and a server that is an OIDC issuer, and takes no secret.
func TestFederatedNeedsIssuerAndNoSecret(t *testing.T) {
	d := azuresas.New(azuresas.Options{})
	base := api.CredsKeyConfig{Roots: []string{"az://acct/data"}, Account: "acct", Auth: api.AuthFederated,
		TenantID: "11111111-2222-4333-8444-555555555555", ClientID: "66666666-7777-4888-9999-000000000000"}
	withIssuer := provider.ConfigCheck{Issuer: "https://tarn.example.com"}
	tests := []struct {
		name  string
		cfg   func(*api.CredsKeyConfig)
		check provider.ConfigCheck
		want  string // "" for accepted
	}{
		{"complete", func(*api.CredsKeyConfig) {}, withIssuer, ""},
		{"server is no issuer", func(*api.CredsKeyConfig) {}, provider.ConfigCheck{}, "--public-url"},
		{"a secret", func(*api.CredsKeyConfig) {}, provider.ConfigCheck{Issuer: withIssuer.Issuer, HasSecret: true}, "stores no secret"},
		{"no tenant", func(c *api.CredsKeyConfig) { c.TenantID = "" }, withIssuer, "needs tenant_id"},
		{"client not a GUID", func(c *api.CredsKeyConfig) { c.ClientID = "my-app" }, withIssuer, "needs client_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			tt.cfg(&cfg)
			got, err := d.CheckConfig(t.Context(), cfg, tt.check)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("CheckConfig: %v", err)
			case tt.want == "" && got.Auth != api.AuthFederated:
				t.Errorf("auth %q, want %q", got.Auth, api.AuthFederated)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("CheckConfig: %v; want an error with %q", err, tt.want)
			}
		})
	}
}
