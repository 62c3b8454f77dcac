package httpapi_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/authn/oidc"
	"github.com/tarnhq/tarn/internal/authn/oidctest"
	"github.com/tarnhq/tarn/internal/netguard"
	"github.com/tarnhq/tarn/internal/pgtest"
	"github.com/tarnhq/tarn/internal/store"
	"github.com/tarnhq/tarn/internal/testenv"
)

const (
	tenantA  = "11111111-2222-3333-4444-555555555555"
	tenantB  = "99999999-8888-7777-6666-555555555555"
	clientID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
)

// exchangeForm is the RFC 8693 form that exchanges jwt, optionally scoped to an org.
func exchangeForm(jwt, scope string) url.Values {
	v := url.Values{
		"grant_type":         {api.GrantTokenExchange},
		"subject_token":      {jwt},
		"subject_token_type": {api.TokenTypeJWT},
	}
	if scope != "" {
		v.Set("scope", scope)
	}
	return v
}

// hostRouter sends each request to the transport of its host, as if the test issuers
// were the real GitHub and Entra ID.
type hostRouter map[string]http.RoundTripper

func (h hostRouter) RoundTrip(r *http.Request) (*http.Response, error) {
	if rt, ok := h[r.URL.Host]; ok {
		return rt.RoundTrip(r)
	}
	return nil, &url.Error{Op: "GET", URL: r.URL.String(), Err: http.ErrNotSupported}
}

// workloadFixture is the authorization fixture plus an Entra ID tenant (tenantA) and org
// "beta"; acme has the GitHub identity "ci" (reader, repository acme/train) and the Azure
// identity "az" (writer), beta a GitHub identity "ci" for repository beta/app.
type workloadFixture struct {
	*fixture
	az *oidctest.Issuer
}

func newWorkloadFixture(t *testing.T) *workloadFixture {
	t.Helper()
	var env *testenv.Env
	now := func() time.Time { return env.Clock.Now() }
	gh := oidctest.NewWithOptions(t, oidctest.Options{Issuer: oidc.GitHubIssuer, Now: now})
	az := oidctest.NewWithOptions(t, oidctest.Options{Issuer: "https://login.microsoftonline.com/" + tenantA + "/v2.0", Now: now})
	azB := oidctest.NewWithOptions(t, oidctest.Options{Issuer: "https://sts.windows.net/" + tenantB + "/", Now: now})
	route := func(dial netguard.DialFunc) http.RoundTripper {
		return hostRouter{
			"token.actions.githubusercontent.com": gh.Transport(dial),
			"login.microsoftonline.com":           az.Transport(dial),
			"sts.windows.net":                     azB.Transport(dial),
		}
	}
	env = testenv.New(t, testenv.Options{AllowEndpoints: []string{gh.HostPort(), az.HostPort(), azB.HostPort()}, OIDCTransport: route})
	f := &fixture{env: env, gh: gh, tokens: map[string]string{"superuser": env.AdminToken}}
	ctx := context.Background()
	admin := env.Admin(t)
	if _, err := admin.CreateOrg(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateOrg(ctx, "beta"); err != nil {
		t.Fatal(err)
	}
	root := "file://" + env.DataDir + "/datasets/acme"
	f.root = root
	if _, err := admin.PutCredsKey(ctx, "acme", "k", api.PutCredsKeyRequest{Provider: "file", Config: api.CredsKeyConfig{Roots: []string{root}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateDataset(ctx, "acme", api.CreateDatasetRequest{Name: "priv", Location: root + "/priv", CredsKey: "k"}); err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		path string
		id   api.Identity
	}{
		{"/orgs/acme/identities/ci", api.Identity{Provider: "github", Role: "reader", Repository: "acme/train", Ref: "refs/heads/main"}},
		{"/orgs/acme/identities/az", api.Identity{Provider: "azure", Role: "writer", TenantID: tenantA, ClientID: clientID}},
		{"/orgs/beta/identities/ci", api.Identity{Provider: "github", Role: "writer", Repository: "beta/app"}},
	} {
		if st, out := f.do(t, "superuser", "PUT", r.path, r.id); st != http.StatusCreated {
			t.Fatalf("PUT %s: %d %v", r.path, st, out)
		}
	}
	return &workloadFixture{fixture: f, az: az}
}

func (f *workloadFixture) ghToken(extra map[string]any, opts ...oidctest.MintOption) string {
	c := map[string]any{"sub": "repo:acme/train:ref:refs/heads/main", "repository": "acme/train", "ref": "refs/heads/main"}
	for k, v := range extra {
		c[k] = v
	}
	return f.gh.Mint(c, opts...)
}

// exchange posts a token exchange and returns the status and body.
func (f *workloadFixture) exchange(t *testing.T, jwt, scope string) (int, map[string]any) {
	t.Helper()
	return f.do(t, "anonymous", "POST", "/oauth/token", exchangeForm(jwt, scope))
}

// exchangeAudits returns the token.exchange audit records of every org, oldest first.
func (f *workloadFixture) exchangeAudits(t *testing.T) []store.AuditRecord {
	t.Helper()
	var all []store.AuditRecord
	for _, org := range []string{"", "acme", "beta"} {
		rs, err := f.env.Server.Store.Audit(context.Background(), store.AuditQuery{Org: org, Action: "token.exchange"})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, rs...)
	}
	return all
}

func TestTokenExchangeRefusesAttacks(t *testing.T) {
	f := newWorkloadFixture(t)
	now := f.env.Clock.Now()
	notVerified := oidc.NotVerifiedDetail
	cases := []struct {
		name, jwt, scope string
		detail           string
		// audited: the token verified and comes from a workload an identity is about (its
		// repository, tenant, namespace or subject), so the refusal is in that identity's
		// org's audit log, with why. Other tokens are anonymous: logged and counted, never
		// in an org's audit log.
		audited bool
		why     string
		org     string // whose audit log has the refusal: the one org with candidate identities
	}{
		{"wrong audience", f.ghToken(map[string]any{"aud": "https://management.azure.com/"}), "", "audience", false, "", ""},
		{"wrong issuer", f.ghToken(map[string]any{"iss": "https://evil.example.com"}), "", notVerified, false, "", ""},
		{"expired", f.ghToken(map[string]any{"iat": now.Add(-time.Hour).Unix(), "exp": now.Add(-10 * time.Minute).Unix()}), "", "expired", false, "", ""},
		{"nbf in the future", f.ghToken(map[string]any{"nbf": now.Add(10 * time.Minute).Unix()}), "", "not valid before", false, "", ""},
		{"alg none", f.ghToken(nil, oidctest.AlgNone()), "", "algorithm", false, "", ""},
		{"HS256 with the public key", f.ghToken(nil, oidctest.HS256WithPublicKey()), "", "algorithm", false, "", ""},
		{"unknown kid", f.ghToken(nil, oidctest.KID("no-such-key")), "", notVerified, false, "", ""},
		{"tampered payload", f.ghToken(nil, oidctest.Tampered(map[string]any{"repository": "beta/app"})), "", notVerified, false, "", ""},
		{"forged token scoped to an org", f.ghToken(nil, oidctest.KID("no-such-key")), "org:acme", notVerified, false, "", ""},
		// Any GitHub repository gets tokens from the same issuer: one that no identity is
		// about writes into no org's audit log, scoped to an org or not.
		{"unregistered repository", f.ghToken(map[string]any{"repository": "acme/other", "sub": "repo:acme/other:ref:refs/heads/main"}), "", "matches no workload identity", false, "", ""},
		{"stranger's repository scoped to an org", f.ghToken(map[string]any{"repository": "evil/x", "sub": "repo:evil/x:ref:refs/heads/main"}), "org:acme", "matches no workload identity", false, "", ""},
		{"unregistered ref", f.ghToken(map[string]any{"ref": "refs/heads/evil"}), "org:acme", "matches no workload identity", true, "ref", "acme"},
		{"azure token of another tenant", f.az.Mint(map[string]any{"sub": "s", "tid": tenantB, "azp": clientID}), "", "matches no workload identity", false, "", ""},
		{"azure issuer of another tenant", f.az.Mint(map[string]any{"iss": "https://login.microsoftonline.com/" + tenantB + "/v2.0", "sub": "s", "tid": tenantB, "azp": clientID}), "", notVerified, false, "", ""},
		{"azure other client", f.az.Mint(map[string]any{"sub": "s", "tid": tenantA, "azp": "someone-else"}), "", "matches no workload identity", true, "azp", "acme"},
		{"identity of org A for org B", f.ghToken(nil), "org:beta", "matches no workload identity registered with tarn in org beta", false, "", ""},
		{"garbage", "not-a-jwt", "", "malformed", false, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(f.exchangeAudits(t))
			unauthBefore := f.metric(t, `tarn_unauthenticated_requests_total{route="POST /oauth/token"}`)
			st, out := f.exchange(t, tc.jwt, tc.scope)
			detail, _ := out["detail"].(string)
			if st != http.StatusUnauthorized || !strings.Contains(detail, tc.detail) {
				t.Fatalf("got %d %q, want 401 mentioning %q", st, detail, tc.detail)
			}
			if out["code"] == nil || out["request_id"] == nil {
				t.Errorf("not a problem: %v", out)
			}
			recs := f.exchangeAudits(t)
			if !tc.audited {
				if len(recs) != before {
					t.Fatalf("an unverified token wrote %d audit records: %+v", len(recs)-before, recs[len(recs)-1])
				}
				if got := f.metric(t, `tarn_unauthenticated_requests_total{route="POST /oauth/token"}`); got != unauthBefore+1 {
					t.Errorf("unauthenticated requests counted %v, want %v", got, unauthBefore+1)
				}
				return
			}
			if len(recs) != before+1 {
				t.Fatalf("%d audit records after the refusal, want %d", len(recs), before+1)
			}
			r := recs[0]
			for _, x := range recs {
				if x.ID > r.ID {
					r = x
				}
			}
			if r.Result == "ok" || r.Org != tc.org || !strings.Contains(r.Detail, "issuer") || !strings.Contains(r.Detail, tc.why) || strings.Contains(r.Detail, tc.jwt) {
				t.Errorf("audit record %+v", r)
			}
		})
	}
}

// metric returns the value of the Prometheus sample named series (name{labels}), 0 if absent.
func (f *fixture) metric(t *testing.T, series string) float64 {
	t.Helper()
	resp, err := http.Get(f.env.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %v", line, err)
			}
			return n
		}
	}
	return 0
}

func TestTokenExchangeHappyPathAndDeletion(t *testing.T) {
	f := newWorkloadFixture(t)
	st, out := f.exchange(t, f.ghToken(nil), "org:acme")
	if st != http.StatusOK {
		t.Fatalf("exchange: %d %v", st, out)
	}
	if out["token_type"] != "Bearer" || out["issued_token_type"] != api.TokenTypeAccess || out["expires_in"] != float64(3600) {
		t.Errorf("exchange answer %v", out)
	}
	f.tokens["wl"] = out["access_token"].(string)
	st, who := f.do(t, "wl", "GET", "/whoami", nil)
	if st != http.StatusOK || who["identity"] != "acme/ci" || who["token_org"] != "acme" || who["token_role"] != "reader" || who["user"] != "" {
		t.Errorf("whoami: %d %v", st, who)
	}
	// The workload reads the dataset but does not write it.
	st, creds := f.do(t, "wl", "POST", "/orgs/acme/datasets/priv/credentials", api.DatasetCredentialsRequest{Mode: "read"})
	if st != http.StatusOK || creds["file"] == nil {
		t.Fatalf("read vend: %d %v", st, creds)
	}
	st, out = f.do(t, "wl", "POST", "/orgs/acme/datasets/priv/credentials", api.DatasetCredentialsRequest{Mode: "write"})
	if detail, _ := out["detail"].(string); st != http.StatusForbidden || !strings.Contains(detail, "acme/ci") {
		t.Errorf("write vend of a reader identity: %d %v", st, out)
	}
	// Nothing outside its org, no token management, no admin.
	for _, c := range []struct{ method, path string }{
		{"GET", "/orgs/beta/identities"}, {"GET", "/orgs/acme/identities"}, {"POST", "/tokens"}, {"GET", "/tokens"},
		{"GET", "/orgs/beta"}, {"POST", "/orgs"},
	} {
		var body any
		if c.method == "POST" {
			body = map[string]any{"name": "x"}
		}
		if st, out := f.do(t, "wl", c.method, c.path, body); st != http.StatusForbidden {
			t.Errorf("%s %s as a workload: %d %v", c.method, c.path, st, out)
		}
	}
	if _, out := f.do(t, "wl", "POST", "/tokens", map[string]any{}); !strings.Contains(out["detail"].(string), "token exchange") {
		t.Errorf("unclear refusal: %v", out)
	}
	recs := f.exchangeAudits(t)
	if r := recs[len(recs)-1]; r.Result != "ok" || r.Org != "acme" || r.Target != "identity:acme/ci" || !strings.Contains(r.Detail, oidc.GitHubIssuer) ||
		!strings.Contains(r.Detail, "repo:acme/train") || !strings.HasPrefix(r.Principal, "identity:acme/ci (tok_") {
		t.Errorf("accepted exchange audited as %+v", r)
	}
	vends, err := f.env.Server.Store.Audit(context.Background(), store.AuditQuery{Org: "acme", Action: "vend"})
	if err != nil || len(vends) == 0 || !strings.HasPrefix(vends[0].Principal, "identity:acme/ci (tok_") {
		t.Errorf("vend audited as %+v (%v)", vends, err)
	}

	// Azure: the managed identity exchanges a token for tarn's audience.
	st, out = f.exchange(t, f.az.Mint(map[string]any{"sub": "mi", "tid": tenantA, "azp": clientID}), "")
	if st != http.StatusOK {
		t.Fatalf("azure exchange: %d %v", st, out)
	}
	f.tokens["az"] = out["access_token"].(string)
	if st, out := f.do(t, "az", "POST", "/orgs/acme/datasets/priv/credentials", api.DatasetCredentialsRequest{Mode: "write"}); st != http.StatusOK {
		t.Errorf("writer identity write vend: %d %v", st, out)
	}

	// Deleting the identity stops its tokens on the next request, and later exchanges.
	if st, out := f.do(t, "superuser", "DELETE", "/orgs/acme/identities/ci", nil); st != http.StatusNoContent {
		t.Fatalf("delete identity: %d %v", st, out)
	}
	if st, _ := f.do(t, "wl", "GET", "/whoami", nil); st != http.StatusUnauthorized {
		t.Errorf("token of a deleted identity: %d", st)
	}
	before := len(f.exchangeAudits(t))
	if st, _ := f.exchange(t, f.ghToken(nil), ""); st != http.StatusUnauthorized {
		t.Errorf("exchange for a deleted identity: %d", st)
	}
	if len(f.exchangeAudits(t)) != before {
		t.Errorf("an exchange no identity is about any more was audited")
	}
	if st, _ := f.do(t, "az", "GET", "/whoami", nil); st != http.StatusOK {
		t.Errorf("another identity's token stopped working: %d", st)
	}
}

func TestTokenExchangeJWKSDownIs503(t *testing.T) {
	f := newWorkloadFixture(t)
	f.gh.Rotate() // the cached keys no longer sign: tarn must refetch
	f.gh.SetDown(true)
	f.env.Clock.Advance(time.Minute)
	before := len(f.exchangeAudits(t))
	unauth := f.metric(t, `tarn_unauthenticated_requests_total{route="POST /oauth/token"}`)
	st, out := f.exchange(t, f.ghToken(nil), "")
	if st != http.StatusServiceUnavailable {
		t.Fatalf("JWKS down: %d %v, want 503", st, out)
	}
	// A token that cannot be verified is anonymous: counted and logged, in no org's audit.
	if len(f.exchangeAudits(t)) != before || f.metric(t, `tarn_unauthenticated_requests_total{route="POST /oauth/token"}`) != unauth+1 {
		t.Errorf("exchange during an outage: audited or not counted")
	}
	// Registering an identity of an issuer that cannot be reached is refused too.
	st, out = f.do(t, "superuser", "PUT", "/orgs/acme/identities/gh2", api.Identity{Provider: "github", Role: "reader", Repository: "acme/x"})
	if st != http.StatusServiceUnavailable || !strings.Contains(out["detail"].(string), "cannot verify tokens of issuer") {
		t.Errorf("register while the issuer is down: %d %v", st, out)
	}
	f.gh.SetDown(false)
	f.env.Clock.Advance(time.Minute)
	if st, out := f.exchange(t, f.ghToken(nil), ""); st != http.StatusOK {
		t.Errorf("after recovery: %d %v", st, out)
	}
}

func TestIdentityRegistrationIsValidated(t *testing.T) {
	f := newWorkloadFixture(t)
	for _, c := range []struct {
		name string
		id   api.Identity
	}{
		{"unknown provider", api.Identity{Provider: "aws", Role: "reader"}},
		{"admin role", api.Identity{Provider: "github", Role: "admin", Repository: "a/b"}},
		{"no repository", api.Identity{Provider: "github", Role: "reader"}},
		{"bad repository", api.Identity{Provider: "github", Role: "reader", Repository: "nope"}},
		{"field of another provider", api.Identity{Provider: "github", Role: "reader", Repository: "a/b", TenantID: tenantA}},
		{"repository ID not a number", api.Identity{Provider: "github", Role: "reader", Repository: "a/b", RepositoryID: "a/b"}},
		{"owner ID for azure", api.Identity{Provider: "azure", Role: "reader", TenantID: tenantA, ClientID: clientID, OwnerID: "1"}},
		{"azure without client", api.Identity{Provider: "azure", Role: "reader", TenantID: tenantA}},
		{"azure bad tenant", api.Identity{Provider: "azure", Role: "reader", TenantID: "x/../y", ClientID: "c"}},
		{"kubernetes bad service account", api.Identity{Provider: "kubernetes", Role: "reader", Issuer: "https://k8s.example", ServiceAccount: "ns"}},
		{"oidc without subject", api.Identity{Provider: "oidc", Role: "reader", Issuer: "https://token.actions.githubusercontent.com"}},
		{"oidc http issuer", api.Identity{Provider: "oidc", Role: "reader", Issuer: "http://insecure.example", Subject: "s"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if st, out := f.do(t, "superuser", "PUT", "/orgs/acme/identities/bad", c.id); st != http.StatusBadRequest {
				t.Errorf("%d %v", st, out)
			}
		})
	}
	if st, _ := f.do(t, "superuser", "PUT", "/orgs/acme/identities/ci", api.Identity{Provider: "github", Role: "reader", Repository: "a/b"}); st != http.StatusConflict {
		t.Errorf("registering a taken name: %d", st)
	}
	st, out := f.do(t, "superuser", "GET", "/orgs/acme/identities", nil)
	ids, _ := out["identities"].([]any)
	if st != http.StatusOK || len(ids) != 2 || ids[0].(map[string]any)["name"] != "az" || ids[0].(map[string]any)["tenant_id"] != tenantA {
		t.Errorf("list: %d %v", st, out)
	}
	// Malformed exchanges are 400.
	for _, form := range []url.Values{
		{"grant_type": {"client_credentials"}, "subject_token": {"x"}, "subject_token_type": {api.TokenTypeJWT}},
		{"grant_type": {api.GrantTokenExchange}, "subject_token": {"x"}, "subject_token_type": {"urn:x"}},
		{"grant_type": {api.GrantTokenExchange}, "subject_token_type": {api.TokenTypeJWT}},
		{"grant_type": {api.GrantTokenExchange}, "subject_token": {"x", "y"}, "subject_token_type": {api.TokenTypeJWT}},
		{"grant_type": {api.GrantTokenExchange}, "subject_token": {"x"}, "subject_token_type": {api.TokenTypeJWT}, "scope": {"openid"}},
	} {
		if st, out := f.do(t, "anonymous", "POST", "/oauth/token", form); st != http.StatusBadRequest {
			t.Errorf("%v: %d %v", form, st, out)
		}
	}
	if st, _ := f.do(t, "anonymous", "POST", "/oauth/token", map[string]string{"grant_type": api.GrantTokenExchange}); st != http.StatusBadRequest {
		t.Errorf("JSON body: %d", st)
	}
}

func TestIssuersAreTrustedAfterRestart(t *testing.T) {
	// A new server on the same data directory trusts the stored issuers: no re-registration.
	clock := testenv.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	gh := oidctest.NewWithOptions(t, oidctest.Options{Issuer: oidc.GitHubIssuer, Now: clock.Now})
	dir := t.TempDir()
	issuer := testenv.Options{DataDir: dir, AllowEndpoints: []string{gh.HostPort()}, OIDCTransport: gh.Transport}
	env := testenv.New(t, issuer)
	g := &fixture{env: env, gh: gh, tokens: map[string]string{"superuser": env.AdminToken}}
	if _, err := env.Admin(t).CreateOrg(context.Background(), "acme"); err != nil {
		t.Fatal(err)
	}
	if st, out := g.do(t, "superuser", "PUT", "/orgs/acme/identities/ci", api.Identity{Provider: "github", Role: "reader", Repository: "acme/train"}); st != http.StatusCreated {
		t.Fatalf("%d %v", st, out)
	}
	env.Server.Close()
	h := &workloadFixture{fixture: &fixture{env: testenv.New(t, issuer), gh: gh, tokens: map[string]string{}}}
	if st, out := h.exchange(t, h.ghToken(nil), ""); st != http.StatusOK {
		t.Fatalf("exchange after restart: %d %v", st, out)
	}
}

// An org admin who registers another org's workload must not capture its exchanges.
func TestTokenExchangeNeverPicksAnOrgForTheCaller(t *testing.T) {
	f := newWorkloadFixture(t)
	if st, out := f.do(t, "superuser", "PUT", "/orgs/beta/identities/grab", api.Identity{Provider: "github", Role: "writer", Repository: "acme/train"}); st != http.StatusCreated {
		t.Fatalf("register: %d %v", st, out)
	}
	if st, out := f.exchange(t, f.ghToken(nil), ""); st != http.StatusBadRequest || !strings.Contains(out["detail"].(string), "scope=org:ORG") {
		t.Fatalf("unscoped exchange matching two orgs: %d %v", st, out)
	}
	// Both orgs see the ambiguous attempt in their audit logs, each with its own identity
	// and without the other org's.
	for org, other := range map[string]string{"acme": "beta", "beta": "acme"} {
		rs, err := f.env.Server.Store.Audit(context.Background(), store.AuditQuery{Org: org, Action: "token.exchange"})
		if err != nil || len(rs) != 1 || rs[0].Result != "error" || !strings.Contains(rs[0].Detail, "identities of other orgs") ||
			!strings.Contains(rs[0].Detail, "matches "+org+"/") || strings.Contains(rs[0].Detail, "matches "+other+"/") || strings.Contains(rs[0].Detail, other+",") {
			t.Errorf("audit of %s: %+v (%v)", org, rs, err)
		}
	}
	st, out := f.exchange(t, f.ghToken(nil), "org:acme")
	if st != http.StatusOK {
		t.Fatalf("scoped exchange: %d %v", st, out)
	}
	f.tokens["wl"] = out["access_token"].(string)
	_, who := f.do(t, "wl", "GET", "/whoami", nil)
	if who["token_org"] != "acme" {
		t.Errorf("scoped exchange landed in %v", who["token_org"])
	}
}

// TestGitHubIdentityPinnedByID: an identity pinned with repository_id keeps working after
// the repository is renamed, and refuses a repository re-created under the old name.
func TestGitHubIdentityPinnedByID(t *testing.T) {
	f := newWorkloadFixture(t)
	id := api.Identity{Provider: "github", Role: "reader", Repository: "acme/data", RepositoryID: "8675309", OwnerID: "42"}
	if st, out := f.do(t, "superuser", "PUT", "/orgs/acme/identities/pinned", id); st != http.StatusCreated || out["repository_id"] != "8675309" {
		t.Fatalf("register: %d %v", st, out)
	}
	token := func(repo, repoID string) string {
		return f.gh.Mint(map[string]any{"sub": "repo:" + repo + ":ref:refs/heads/main", "repository": repo, "ref": "refs/heads/main",
			"repository_id": repoID, "repository_owner_id": "42"})
	}
	if st, out := f.exchange(t, token("acme/data-renamed", "8675309"), "org:acme"); st != http.StatusOK {
		t.Errorf("renamed repository: %d %v", st, out)
	}
	if st, out := f.exchange(t, token("acme/data", "1111"), "org:acme"); st != http.StatusUnauthorized {
		t.Errorf("re-created repository of the same name: %d %v", st, out)
	}
}

// TestIdentityAddedOnOneServerWorksOnAnother: two servers share one PostgreSQL; an identity
// registered through the first is exchanged through the second on its next request, with
// no restart, and is refused there once deleted through the first.
func TestIdentityAddedOnOneServerWorksOnAnother(t *testing.T) {
	t.Setenv("TARN_MASTER_KEY", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")
	db := pgtest.URL(t)
	var a *testenv.Env
	gh := oidctest.NewWithOptions(t, oidctest.Options{Issuer: oidc.GitHubIssuer, Now: func() time.Time { return a.Clock.Now() }})
	opts := testenv.Options{Database: db, OIDCTransport: gh.Transport, AllowEndpoints: []string{gh.HostPort()}}
	a = testenv.New(t, opts)
	opts.DataDir = a.DataDir  // where A wrote the admin token; the state is in the database
	b := testenv.New(t, opts) // started before the identity exists
	onA := &fixture{env: a, gh: gh, tokens: map[string]string{"superuser": a.AdminToken}}
	onB := &workloadFixture{fixture: &fixture{env: b, gh: gh, tokens: map[string]string{}}}
	if _, err := a.Admin(t).CreateOrg(context.Background(), "acme"); err != nil {
		t.Fatal(err)
	}
	if st, _ := onB.exchange(t, onB.ghToken(nil), "org:acme"); st != http.StatusUnauthorized {
		t.Fatalf("exchange before any identity: %d", st)
	}
	if st, out := onA.do(t, "superuser", "PUT", "/orgs/acme/identities/ci", api.Identity{Provider: "github", Role: "reader", Repository: "acme/train"}); st != http.StatusCreated {
		t.Fatalf("register through A: %d %v", st, out)
	}
	b.Clock.Advance(oidc.SyncInterval) // B read the issuers just before: the next miss reads them again
	st, out := onB.exchange(t, onB.ghToken(nil), "org:acme")
	if st != http.StatusOK {
		t.Fatalf("exchange through B after registering through A: %d %v", st, out)
	}
	onB.tokens["wl"] = out["access_token"].(string)
	if st, who := onB.do(t, "wl", "GET", "/whoami", nil); st != http.StatusOK || who["identity"] != "acme/ci" {
		t.Errorf("whoami through B: %d %v", st, who)
	}
	if st, out := onA.do(t, "superuser", "DELETE", "/orgs/acme/identities/ci", nil); st != http.StatusNoContent {
		t.Fatalf("delete through A: %d %v", st, out)
	}
	if st, _ := onB.do(t, "wl", "GET", "/whoami", nil); st != http.StatusUnauthorized {
		t.Errorf("token of an identity deleted through A, used through B: %d", st)
	}
	if st, _ := onB.exchange(t, onB.ghToken(nil), "org:acme"); st != http.StatusUnauthorized {
		t.Errorf("exchange through B after deleting through A: %d", st)
	}
}
