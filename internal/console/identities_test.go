package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/authn/oidc"
	"github.com/tarnhq/tarn/internal/authn/oidctest"
	"github.com/tarnhq/tarn/internal/netguard"
	"github.com/tarnhq/tarn/internal/testenv"
)

const (
	idTenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	idClient = "0d3e3a56-7e8c-4d2f-9f4e-2f1f0a8c5b11"
)

// identityEnv is an env whose server reaches test issuers standing in for Entra ID (tenant
// idTenant), GitHub Actions and a Kubernetes cluster (k8s, named by its loopback URL).
type identityEnv struct {
	*env
	az, k8s *oidctest.Issuer
}

// issuerRouter sends each request to the transport of its host, as if the test issuers
// were the real ones; any other host fails without a connection.
type issuerRouter map[string]http.RoundTripper

func (h issuerRouter) RoundTrip(r *http.Request) (*http.Response, error) {
	if rt, ok := h[r.URL.Host]; ok {
		return rt.RoundTrip(r)
	}
	return nil, &url.Error{Op: "GET", URL: r.URL.String(), Err: http.ErrNotSupported}
}

// newIdentityEnv starts the env, with the endpoints in allow allowed besides the issuers'.
func newIdentityEnv(t *testing.T, allow ...string) *identityEnv {
	t.Helper()
	var e *env
	now := func() time.Time { return e.Clock.Now() }
	az := oidctest.NewWithOptions(t, oidctest.Options{Issuer: "https://login.microsoftonline.com/" + idTenant + "/v2.0", Now: now})
	gh := oidctest.NewWithOptions(t, oidctest.Options{Issuer: oidc.GitHubIssuer, Now: now})
	k8s := oidctest.NewWithOptions(t, oidctest.Options{Now: now})
	route := func(dial netguard.DialFunc) http.RoundTripper {
		return issuerRouter{"login.microsoftonline.com": az.Transport(dial), "token.actions.githubusercontent.com": gh.Transport(dial),
			k8s.HostPort(): k8s.Transport(dial)}
	}
	e = newEnvWith(t, testenv.Options{AllowEndpoints: append(allow, az.HostPort(), gh.HostPort(), k8s.HostPort()), OIDCTransport: route})
	return &identityEnv{env: e, az: az, k8s: k8s}
}

func azureForm(name, display string) url.Values {
	return url.Values{"provider": {"azure"}, "name": {name}, "display_name": {display}, "client_id": {idClient},
		"tenant_id": {idTenant}, "role": {"reader"}}
}

func TestAzureIdentityAddedInTheConsoleWorks(t *testing.T) {
	e := newIdentityEnv(t)
	b := e.browser(t)
	b.mustLogin(e.AdminToken)
	empty := b.wantPage("/orgs/local/identities")
	for _, want := range []string{"No workload identities in local yet", `name="display_name"`, `name="client_id"`, `name="tenant_id"`, "Display Name", "Client ID", "Tenant ID"} {
		if !strings.Contains(empty.body, want) {
			t.Errorf("the identities page lacks %q:\n%s", want, empty.body)
		}
	}
	const xss = `<script>alert("x")</script> ML trainer`
	r := b.submit("/orgs/local/identities", "/orgs/local/identities", azureForm("trainer", xss))
	wantRedirect(t, "add identity", r, "/orgs/local/identities/trainer")
	page := b.wantPage("/orgs/local/identities/trainer")
	for _, want := range []string{"Identity trainer saved", idClient, idTenant, "TARN_AUTH_PROVIDER=azure", "AZURE_CLIENT_ID=" + idClient,
		"TARN_ENDPOINT=" + e.url, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; ML trainer"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("the identity's page lacks %q:\n%s", want, page.body)
		}
	}
	list := b.wantPage("/orgs/local/identities")
	if !strings.Contains(list.body, `href="/orgs/local/identities/trainer"`) || !strings.Contains(list.body, "tenant "+idTenant+", client "+idClient) {
		t.Errorf("the list does not show the identity:\n%s", list.body)
	}
	for _, p := range []response{page, list} {
		if strings.Contains(p.body, "<script>alert") {
			t.Errorf("%s shows the display name unescaped", p.Request.URL.Path)
		}
	}
	ctx := context.Background()
	id, err := e.Admin(t).Identity(ctx, "local", "trainer")
	if err != nil {
		t.Fatal(err)
	}
	if id.DisplayName != xss || id.TenantID != idTenant || id.ClientID != idClient || id.Role != "reader" || id.Provider != "azure" {
		t.Errorf("stored identity %+v", id)
	}
	// The managed identity's token is exchanged for a tarn token of the identity.
	tok := e.az.Mint(map[string]any{"sub": "mi", "tid": idTenant, "azp": idClient, "aud": "api://tarn"})
	res, err := e.Client(t, "").ExchangeToken(ctx, tok, "org:local")
	if err != nil {
		t.Fatalf("exchange the managed identity's token: %v", err)
	}
	who, err := e.Client(t, res.AccessToken).Whoami(ctx)
	if err != nil || who.Identity != "local/trainer" {
		t.Fatalf("the exchanged token is %+v (%v), want identity local/trainer", who, err)
	}

	r = b.submit("/orgs/local/identities/trainer", "/orgs/local/identities/trainer/delete", nil)
	wantRedirect(t, "remove identity", r, "/orgs/local/identities")
	if after := b.wantPage("/orgs/local/identities"); !strings.Contains(after.body, "Identity trainer removed") || strings.Contains(after.body, "identities/trainer") {
		t.Errorf("after removal the list still shows trainer, or no message:\n%s", after.body)
	}
	if _, err := e.Client(t, res.AccessToken).Whoami(ctx); err == nil {
		t.Error("the removed identity's tarn token still works")
	}
}

func TestIdentityKinds(t *testing.T) {
	e := newIdentityEnv(t)
	b := e.browser(t)
	b.mustLogin(e.AdminToken)
	for _, tc := range []struct {
		kind    string
		fields  url.Values
		inputs  []string // the kind's own inputs the form shows
		matches string
		snippet []string
	}{
		{"github", url.Values{"name": {"ci"}, "repository": {"acme/models"}, "ref": {"refs/heads/main"}, "role": {"writer"}},
			[]string{"repository", "ref", "environment", "repository_id", "owner_id"},
			"repository acme/models, ref refs/heads/main", []string{"TARN_AUTH_PROVIDER: github", "id-token: write"}},
		{"kubernetes", url.Values{"name": {"loader"}, "issuer": {e.k8s.URL}, "namespace": {"ml"}, "service_account": {"loader"}, "role": {"reader"}},
			[]string{"issuer", "namespace", "service_account"},
			"service account ml/loader of " + e.k8s.URL, []string{"value: kubernetes", "audience: api://tarn", "serviceAccountName: loader"}},
		{"oidc", url.Values{"name": {"batch"}, "issuer": {e.k8s.URL}, "subject": {"runner"}, "claims": {"team=ml\n\nenv = prod\n"}, "role": {"reader"}},
			[]string{"issuer", "subject", "claims"},
			"subject runner of " + e.k8s.URL + ", env=prod, team=ml", []string{"TARN_AUTH_PROVIDER=oidc TARN_TOKEN_FILE="}},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			form := b.wantPage("/orgs/local/identities?provider=" + tc.kind)
			for _, in := range tc.inputs {
				if !strings.Contains(form.body, `name="`+in+`"`) {
					t.Errorf("the %s form lacks input %s", tc.kind, in)
				}
			}
			if strings.Contains(form.body, `name="tenant_id"`) {
				t.Errorf("the %s form shows azure's inputs", tc.kind)
			}
			tc.fields.Set("provider", tc.kind)
			name := tc.fields.Get("name")
			wantRedirect(t, "add", b.submit("/orgs/local/identities", "/orgs/local/identities", tc.fields), "/orgs/local/identities/"+name)
			page := b.wantPage("/orgs/local/identities/" + name)
			for _, want := range append(tc.snippet, tc.matches) {
				if !strings.Contains(page.body, want) {
					t.Errorf("the page of %s lacks %q:\n%s", name, want, page.body)
				}
			}
		})
	}
}

func TestIdentityFormRefusedKeepsValues(t *testing.T) {
	e := newIdentityEnv(t)
	b := e.browser(t)
	b.mustLogin(e.AdminToken)
	f := azureForm("trainer", "ML trainer")
	f.Set("tenant_id", "not-a-tenant")
	r := b.submit("/orgs/local/identities", "/orgs/local/identities", f)
	if r.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad tenant: %s, want 400:\n%s", r.Status, r.body)
	}
	in := strings.Index(r.body, `id="tenant_id"`)
	msg := strings.Index(r.body, `<p class="field-error" role="alert">cannot verify tokens of issuer https://login.microsoftonline.com/not-a-tenant/v2.0`)
	next := strings.Index(r.body[in+1:], "<label") + in + 1
	if in < 0 || msg < in || msg > next {
		t.Errorf("the API's error is not right after the tenant_id input:\n%s", r.body)
	}
	for _, want := range []string{`value="not-a-tenant"`, `value="` + idClient + `"`, `value="ML trainer"`, `value="trainer"`} {
		if !strings.Contains(r.body, want) {
			t.Errorf("the refused form lost %s", want)
		}
	}
	if ids, err := e.Admin(t).Identities(context.Background(), "local"); err != nil || len(ids) != 0 {
		t.Errorf("identities after a refused form: %v %v", ids, err)
	}
}

func TestIdentitiesReaderAndOutsider(t *testing.T) {
	e := newIdentityEnv(t)
	ctx := context.Background()
	if _, err := e.Admin(t).PutIdentity(ctx, "local", api.Identity{Name: "trainer", Provider: "azure", Role: "reader", TenantID: idTenant, ClientID: idClient}); err != nil {
		t.Fatal(err)
	}
	reader := e.browser(t)
	reader.mustLogin(e.NewUser(t, "rita", "local", "reader"))
	page := reader.wantPage("/orgs/local/identities")
	if !strings.Contains(page.body, "Only admins of local") || strings.Contains(page.body, "trainer") || strings.Contains(page.body, `method="post" action="/orgs/local/identities"`) {
		t.Errorf("a reader's identities page: want the admins-only note, no identity and no add form:\n%s", page.body)
	}
	csrf := reader.csrf(page)
	for _, tc := range []struct{ path string }{{"/orgs/local/identities"}, {"/orgs/local/identities/trainer/delete"}} {
		form := azureForm("intruder", "x")
		form.Set("csrf", csrf)
		if r := reader.post(tc.path, form, e.url); r.StatusCode != http.StatusForbidden {
			t.Errorf("reader POST %s: %s, want the API's 403", tc.path, r.Status)
		}
	}
	ids, err := e.Admin(t).Identities(ctx, "local")
	if err != nil || len(ids) != 1 || ids[0].Name != "trainer" {
		t.Errorf("after the reader's posts: %v %v, want trainer only", ids, err)
	}
	outsider := e.browser(t)
	outsider.mustLogin(e.NewUser(t, "otto", "", ""))
	for _, path := range []string{"/orgs/local/identities", "/orgs/local/identities/trainer"} {
		if r := outsider.get(path); r.StatusCode != http.StatusForbidden || strings.Contains(r.body, "trainer") || strings.Contains(r.body, idClient) {
			t.Errorf("outsider GET %s: %s, want 403 naming nothing:\n%s", path, r.Status, r.body)
		}
	}
}
