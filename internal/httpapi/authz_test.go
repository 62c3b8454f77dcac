package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/client"
	"github.com/tarnhq/tarn/internal/authn/oidc"
	"github.com/tarnhq/tarn/internal/authn/oidctest"
	"github.com/tarnhq/tarn/internal/googletest"
	"github.com/tarnhq/tarn/internal/httpapi"
	"github.com/tarnhq/tarn/internal/netguard/netguardtest"
	"github.com/tarnhq/tarn/internal/store"
	"github.com/tarnhq/tarn/internal/testenv"
	"github.com/tarnhq/tarn/location"
)

// principals, in the column order of the expectations below.
var principals = []string{"anonymous", "revoked", "expired", "outsider", "reader", "writer", "admin", "superuser"}

// fixture is an org "acme" with a file creds key "k", a private dataset "priv" and a public
// dataset "pub", a member per role, and one user outside the org.
type fixture struct {
	env    *testenv.Env
	tokens map[string]string
	root   string           // file:// root of creds key k
	gh     *oidctest.Issuer // a stand-in for GitHub Actions' OIDC issuer
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	var env *testenv.Env
	gh := oidctest.NewWithOptions(t, oidctest.Options{Issuer: oidc.GitHubIssuer, Now: func() time.Time { return env.Clock.Now() }})
	env = testenv.New(t, testenv.Options{AllowEndpoints: []string{gh.HostPort()}, OIDCTransport: gh.Transport, Issuer: true})
	ctx := context.Background()
	admin := env.Admin(t)
	f := &fixture{env: env, gh: gh, tokens: map[string]string{"anonymous": "", "superuser": env.AdminToken}}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := admin.CreateOrg(ctx, "acme")
	must(err)
	root, err := location.FromLocal(filepath.Join(env.DataDir, "datasets", "acme"))
	must(err)
	f.root = root.String()
	_, err = admin.PutCredsKey(ctx, "acme", "k", api.PutCredsKeyRequest{Provider: "file", Config: api.CredsKeyConfig{Roots: []string{f.root}}})
	must(err)
	_, err = admin.PutCredsKey(ctx, "acme", "s3", api.PutCredsKeyRequest{Provider: "aws", Secret: "not-a-real-secret",
		Config: api.CredsKeyConfig{Roots: []string{"s3://bucket/datasets"}, RoleARN: "arn:aws:iam::123456789012:role/tarn",
			Source: "access-key", AccessKeyID: "AKIAEXAMPLE"}})
	must(err)
	for _, name := range []string{"priv", "pub"} {
		_, err = admin.CreateDataset(ctx, "acme", api.CreateDatasetRequest{Name: name, Location: f.root + "/" + name, CredsKey: "k", Public: name == "pub"})
		must(err)
	}
	_, err = admin.AddLinkedCredsKey(ctx, "acme", "priv", "k")
	must(err)
	if st, out := f.do(t, "superuser", "PUT", "/orgs/acme/identities/ci", api.Identity{Provider: "github", Role: "reader", Repository: "acme/train"}); st != http.StatusCreated {
		t.Fatalf("register identity acme/ci: %d %v", st, out)
	}
	f.tokens["outsider"] = env.NewUser(t, "outsider", "", "")
	for _, role := range []string{"reader", "writer", "admin"} {
		f.tokens[role] = env.NewUser(t, "a-"+role, "acme", role)
	}
	rev := env.NewUser(t, "revokee", "acme", "admin")
	revc := env.Client(t, rev)
	who, err := revc.Whoami(ctx)
	must(err)
	must(revc.RevokeToken(ctx, who.TokenID))
	f.tokens["revoked"] = rev
	exp := env.NewUser(t, "expiree", "acme", "admin")
	short, err := env.Client(t, exp).CreateToken(ctx, api.CreateTokenRequest{TTLSeconds: 60})
	must(err)
	f.tokens["expired"] = short.Token
	env.Clock.Advance(2 * time.Minute)
	return f
}

// do sends one request and returns the status and the decoded body.
func (f *fixture) do(t *testing.T, who, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	form, isForm := body.(url.Values)
	if isForm {
		rd = strings.NewReader(form.Encode())
	} else if raw, ok := body.(rawBody); ok {
		rd = strings.NewReader(string(raw))
	} else if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, f.env.URL+api.Prefix+path, rd)
	if isForm {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if tok := f.tokens[who]; tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// endpoint is one row of the table: how to call it as principal p, with any setup that
// must exist first, and the expected status for outsider, reader, writer, admin, superuser
// (anonymous, revoked and expired always get 401).
type endpoint struct {
	pattern string
	setup   func(t *testing.T, f *fixture, p string)
	call    func(p string) (path string, body any)
	want    [5]int
	// anyone, when set, is the status for every principal, anonymous, revoked and expired
	// included: the route takes no Authorization header by design.
	anyone int
}

func TestEveryEndpointDeniesByDefault(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	admin := f.env.Admin(t)
	fileBody := func(p string) any {
		return api.PutCredsKeyRequest{Provider: "file", Config: api.CredsKeyConfig{Roots: []string{f.root + "/" + p}}}
	}
	const ok, created, gone, denied = http.StatusOK, http.StatusCreated, http.StatusNoContent, http.StatusForbidden
	table := []endpoint{
		{pattern: "GET /whoami", call: func(p string) (string, any) { return "/whoami", nil },
			want: [5]int{ok, ok, ok, ok, ok}},
		{pattern: "POST /users", call: func(p string) (string, any) { return "/users", api.CreateUserRequest{Name: "u-" + p} },
			want: [5]int{denied, denied, denied, denied, created}},
		{pattern: "GET /users", call: func(p string) (string, any) { return "/users", nil },
			want: [5]int{denied, denied, denied, denied, ok}},
		{pattern: "GET /orgs", call: func(p string) (string, any) { return "/orgs", nil },
			want: [5]int{denied, denied, denied, denied, ok}},
		{pattern: "POST /orgs", call: func(p string) (string, any) { return "/orgs", api.CreateOrgRequest{Name: "o-" + p} },
			want: [5]int{denied, denied, denied, denied, created}},
		{pattern: "GET /orgs/{org}", call: func(p string) (string, any) { return "/orgs/acme", nil },
			want: [5]int{denied, ok, ok, ok, ok}},
		{pattern: "GET /orgs/{org}/members", call: func(p string) (string, any) { return "/orgs/acme/members", nil },
			want: [5]int{denied, ok, ok, ok, ok}},
		{pattern: "PUT /orgs/{org}/members/{user}",
			setup: func(t *testing.T, f *fixture, p string) { f.env.NewUser(t, "p-"+p, "", "") },
			call: func(p string) (string, any) {
				return "/orgs/acme/members/p-" + p, api.PutMemberRequest{Role: "reader"}
			}, want: [5]int{denied, denied, denied, ok, ok}},
		{pattern: "DELETE /orgs/{org}/members/{user}",
			setup: func(t *testing.T, f *fixture, p string) { f.env.NewUser(t, "m-"+p, "acme", "reader") },
			call:  func(p string) (string, any) { return "/orgs/acme/members/m-" + p, nil },
			want:  [5]int{denied, denied, denied, gone, gone}},
		{pattern: "POST /tokens", call: func(p string) (string, any) { return "/tokens", api.CreateTokenRequest{Name: "t"} },
			want: [5]int{created, created, created, created, created}},
		{pattern: "GET /tokens", call: func(p string) (string, any) { return "/tokens", nil },
			want: [5]int{ok, ok, ok, ok, ok}},
		{pattern: "DELETE /tokens/{id}", call: func(p string) (string, any) {
			// Revoking a token of someone else is not found, unless you are a superuser.
			tok, err := admin.CreateToken(ctx, api.CreateTokenRequest{Name: "victim-" + p})
			if err != nil {
				panic(err)
			}
			return "/tokens/" + tok.TokenInfo.ID, nil
		}, want: [5]int{http.StatusNotFound, http.StatusNotFound, http.StatusNotFound, http.StatusNotFound, gone}},
		{pattern: "PUT /orgs/{org}/creds-keys/{key}", call: func(p string) (string, any) { return "/orgs/acme/creds-keys/k-" + p, fileBody(p) },
			want: [5]int{denied, denied, denied, ok, ok}},
		// Provider file: org admins only inside <file root>/<org>; a superuser anywhere under
		// the file roots, here in another org's directory and in a shared one.
		{pattern: "PUT /orgs/{org}/creds-keys/{key}", call: func(p string) (string, any) {
			return "/orgs/acme/creds-keys/o-" + p, api.PutCredsKeyRequest{Provider: "file", Config: api.CredsKeyConfig{Roots: []string{
				"file://" + filepath.Join(f.env.DataDir, "datasets", "local", p)}}}
		}, want: [5]int{denied, denied, denied, denied, ok}},
		{pattern: "PUT /orgs/{org}/creds-keys/{key}", call: func(p string) (string, any) {
			return "/orgs/acme/creds-keys/s-" + p, api.PutCredsKeyRequest{Provider: "file", Config: api.CredsKeyConfig{Roots: []string{
				"file://" + filepath.Join(f.env.DataDir, "datasets")}}}
		}, want: [5]int{denied, denied, denied, denied, ok}},
		{pattern: "GET /orgs/{org}/creds-keys", call: func(p string) (string, any) { return "/orgs/acme/creds-keys", nil },
			want: [5]int{denied, ok, ok, ok, ok}},
		{pattern: "GET /orgs/{org}/creds-keys/{key}", call: func(p string) (string, any) { return "/orgs/acme/creds-keys/k", nil },
			want: [5]int{denied, ok, ok, ok, ok}},
		{pattern: "DELETE /orgs/{org}/creds-keys/{key}",
			setup: func(t *testing.T, f *fixture, p string) {
				if _, err := admin.PutCredsKey(ctx, "acme", "del-"+p, fileBody(p).(api.PutCredsKeyRequest)); err != nil {
					t.Fatal(err)
				}
			},
			call: func(p string) (string, any) { return "/orgs/acme/creds-keys/del-" + p, nil },
			want: [5]int{denied, denied, denied, gone, gone}},
		{pattern: "POST /orgs/{org}/creds-keys/{key}/verify", call: func(p string) (string, any) {
			return "/orgs/acme/creds-keys/k/verify", api.VerifyRequest{Location: f.root + "/priv"}
		}, want: [5]int{denied, denied, denied, ok, ok}},
		{pattern: "POST /orgs/{org}/creds-keys/{key}/rotate-external-id", call: func(p string) (string, any) {
			return "/orgs/acme/creds-keys/s3/rotate-external-id", nil
		}, want: [5]int{denied, denied, denied, ok, ok}},
		{pattern: "POST /orgs/{org}/creds-keys/{key}/provision", call: func(p string) (string, any) {
			return "/orgs/acme/creds-keys/s3/provision", api.ProvisionRequest{Bucket: "bucket", Prefix: "datasets",
				PrincipalARN: "arn:aws:iam::123456789012:role/tarn-server"}
		}, want: [5]int{denied, denied, denied, ok, ok}},
		{pattern: "POST /orgs/{org}/creds-keys/{key}/credentials", call: func(p string) (string, any) {
			return "/orgs/acme/creds-keys/k/credentials", api.CredentialsRequest{Location: f.root + "/scratch", Mode: "read"}
		}, want: [5]int{denied, denied, ok, ok, ok}},
		{pattern: "PUT /orgs/{org}/default-storage", call: func(p string) (string, any) {
			return "/orgs/acme/default-storage", api.DefaultStorage{Location: f.root, CredsKey: "k"}
		}, want: [5]int{denied, denied, denied, ok, ok}},
		{pattern: "POST /orgs/{org}/datasets", call: func(p string) (string, any) {
			return "/orgs/acme/datasets", api.CreateDatasetRequest{Name: "ds-" + p, Location: f.root + "/ds-" + p, CredsKey: "k"}
		}, want: [5]int{denied, denied, created, created, created}},
		// A public dataset is readable by anyone signed in: only admins publish.
		{pattern: "POST /orgs/{org}/datasets", call: func(p string) (string, any) {
			return "/orgs/acme/datasets", api.CreateDatasetRequest{Name: "pub-" + p, Location: f.root + "/pub-" + p, CredsKey: "k", Public: true}
		}, want: [5]int{denied, denied, denied, created, created}},
		{pattern: "GET /orgs/{org}/datasets", call: func(p string) (string, any) { return "/orgs/acme/datasets", nil },
			want: [5]int{denied, ok, ok, ok, ok}},
		{pattern: "GET /orgs/{org}/datasets/{name}", call: func(p string) (string, any) { return "/orgs/acme/datasets/priv", nil },
			want: [5]int{denied, ok, ok, ok, ok}},
		{pattern: "GET /orgs/{org}/datasets/{name}", call: func(p string) (string, any) { return "/orgs/acme/datasets/pub", nil },
			want: [5]int{ok, ok, ok, ok, ok}},
		{pattern: "PATCH /orgs/{org}/datasets/{name}", call: func(p string) (string, any) {
			public := p != "admin" // the superuser, last, leaves pub public
			return "/orgs/acme/datasets/pub", api.UpdateDatasetRequest{Public: &public}
		}, want: [5]int{denied, denied, denied, ok, ok}},
		{pattern: "DELETE /orgs/{org}/datasets/{name}",
			setup: func(t *testing.T, f *fixture, p string) {
				if _, err := admin.CreateDataset(ctx, "acme", api.CreateDatasetRequest{Name: "victim-" + p, Location: f.root + "/victim-" + p, CredsKey: "k"}); err != nil {
					t.Fatal(err)
				}
			},
			call: func(p string) (string, any) { return "/orgs/acme/datasets/victim-" + p, nil },
			want: [5]int{denied, denied, gone, gone, gone}},
		{pattern: "PUT /orgs/{org}/datasets/{name}/linked-creds-keys/{key}", call: func(p string) (string, any) {
			return "/orgs/acme/datasets/pub/linked-creds-keys/k", nil
		}, want: [5]int{denied, denied, denied, ok, ok}},
		{pattern: "POST /orgs/{org}/datasets/{name}/credentials", call: func(p string) (string, any) {
			return "/orgs/acme/datasets/priv/credentials", api.DatasetCredentialsRequest{Mode: "read"}
		}, want: [5]int{denied, ok, ok, ok, ok}},
		{pattern: "POST /orgs/{org}/datasets/{name}/credentials", call: func(p string) (string, any) {
			return "/orgs/acme/datasets/priv/credentials", api.DatasetCredentialsRequest{Mode: "write"}
		}, want: [5]int{denied, denied, ok, ok, ok}},
		{pattern: "POST /orgs/{org}/datasets/{name}/credentials", call: func(p string) (string, any) {
			return "/orgs/acme/datasets/pub/credentials", api.DatasetCredentialsRequest{Mode: "read"}
		}, want: [5]int{ok, ok, ok, ok, ok}},
		{pattern: "POST /orgs/{org}/datasets/{name}/credentials", call: func(p string) (string, any) {
			return "/orgs/acme/datasets/pub/credentials", api.DatasetCredentialsRequest{Mode: "write"}
		}, want: [5]int{denied, denied, ok, ok, ok}},
		{pattern: "POST /orgs/{org}/datasets/{name}/linked-credentials", call: func(p string) (string, any) {
			return "/orgs/acme/datasets/priv/linked-credentials", api.LinkedCredentialsRequest{CredsKey: "k", Location: f.root + "/images"}
		}, want: [5]int{denied, ok, ok, ok, ok}},
		// Who may read a dataset may presign; everyone else gets 403.
		{pattern: "POST /orgs/{org}/datasets/{name}/presign", call: func(p string) (string, any) {
			return "/orgs/acme/datasets/priv/presign", api.PresignRequest{Paths: []string{"a.txt"}}
		}, want: [5]int{denied, ok, ok, ok, ok}},
		{pattern: "POST /orgs/{org}/datasets/{name}/presign", call: func(p string) (string, any) {
			return "/orgs/acme/datasets/pub/presign", api.PresignRequest{Paths: []string{"a.txt"}}
		}, want: [5]int{ok, ok, ok, ok, ok}},
		// The object route of file datasets is exempt from Authorization by design: a URL
		// that presign signed reads its one object for whoever holds it, anonymous
		// included, and no token, however strong, reads an object without one.
		{pattern: "GET /orgs/{org}/datasets/{name}/objects/{path...}", call: func(p string) (string, any) {
			return strings.TrimPrefix(f.objectURL(t, "reader", "priv", "a.txt"), api.Prefix), nil
		}, anyone: ok},
		{pattern: "GET /orgs/{org}/datasets/{name}/objects/{path...}", call: func(p string) (string, any) {
			return "/orgs/acme/datasets/priv/objects/a.txt", nil
		}, anyone: denied},
		{pattern: "GET /orgs/{org}/audit", call: func(p string) (string, any) { return "/orgs/acme/audit", nil },
			want: [5]int{denied, denied, denied, ok, ok}},
		{pattern: "PUT /orgs/{org}/identities/{name}", call: func(p string) (string, any) {
			return "/orgs/acme/identities/id-" + p, api.Identity{Provider: "github", Role: "reader", Repository: "acme/" + p}
		}, want: [5]int{denied, denied, denied, created, created}},
		{pattern: "GET /orgs/{org}/identities", call: func(p string) (string, any) { return "/orgs/acme/identities", nil },
			want: [5]int{denied, denied, denied, ok, ok}},
		{pattern: "GET /orgs/{org}/identities/{name}", call: func(p string) (string, any) { return "/orgs/acme/identities/ci", nil },
			want: [5]int{denied, denied, denied, ok, ok}},
		{pattern: "DELETE /orgs/{org}/identities/{name}",
			setup: func(t *testing.T, f *fixture, p string) {
				if st, out := f.do(t, "superuser", "PUT", "/orgs/acme/identities/del-"+p, api.Identity{Provider: "github", Role: "reader", Repository: "acme/del"}); st != created {
					t.Fatalf("%d %v", st, out)
				}
			},
			call: func(p string) (string, any) { return "/orgs/acme/identities/del-" + p, nil },
			want: [5]int{denied, denied, denied, gone, gone}},
		// The token endpoint takes no bearer token: whoever calls, a token no identity
		// accepts is refused.
		{pattern: "POST /oauth/token", call: func(p string) (string, any) {
			return "/oauth/token", exchangeForm(f.gh.Mint(map[string]any{"sub": "repo:evil/x", "repository": "evil/x"}), "")
		}, want: [5]int{http.StatusUnauthorized, http.StatusUnauthorized, http.StatusUnauthorized, http.StatusUnauthorized, http.StatusUnauthorized}},
		{pattern: "POST /issuer/rotate", call: func(p string) (string, any) { return "/issuer/rotate", nil },
			want: [5]int{denied, denied, denied, denied, ok}},
	}

	covered := map[string]bool{}
	for _, e := range table {
		method, path, _ := strings.Cut(e.pattern, " ")
		covered[method+" "+api.Prefix+path] = true
	}
	for _, r := range f.env.Server.API.Routes() {
		if !covered[r] {
			t.Errorf("route %s is missing from the authorization table", r)
		}
	}
	actions := slices.Clone(f.env.Server.API.Actions())
	slices.Sort(actions)
	if actions = slices.Compact(actions); !slices.Equal(actions, httpapi.AuditActions) {
		t.Errorf("httpapi.AuditActions is %q, want the routes' actions, sorted: %q", httpapi.AuditActions, actions)
	}

	for _, e := range table {
		for i, p := range principals {
			want := http.StatusUnauthorized
			if e.anyone != 0 {
				want = e.anyone
			} else if i >= 3 {
				want = e.want[i-3]
			}
			path, body := e.call(p)
			method, _, _ := strings.Cut(e.pattern, " ")
			t.Run(fmt.Sprintf("%s %s as %s", method, path, p), func(t *testing.T) {
				if e.setup != nil {
					e.setup(t, f, p)
				}
				got, out := f.do(t, p, method, path, body)
				if got != want {
					t.Fatalf("status %d, want %d; body %v", got, want, out)
				}
				if got >= 400 {
					if out["code"] == "" || out["request_id"] == "" || out["detail"] == "" {
						t.Errorf("problem lacks code, request_id or detail: %v", out)
					}
				}
			})
		}
	}
}

func TestDenialsAreAudited(t *testing.T) {
	f := newFixture(t)
	f.do(t, "outsider", "POST", "/orgs/acme/datasets/priv/credentials", api.DatasetCredentialsRequest{Mode: "read"})
	f.do(t, "reader", "POST", "/orgs/acme/datasets/priv/credentials", api.DatasetCredentialsRequest{Mode: "write"})
	f.do(t, "anonymous", "GET", "/orgs/acme/datasets", nil)
	recs, err := f.env.Admin(t).Audit(context.Background(), "acme", clientAuditQuery("vend"))
	if err != nil {
		t.Fatal(err)
	}
	var denials []string
	for _, r := range recs.Records {
		if r.Result == "denied" {
			denials = append(denials, r.Principal+" "+r.Mode+" "+r.Target)
		}
	}
	if len(denials) != 2 || !strings.HasPrefix(denials[0], "outsider") || !strings.HasPrefix(denials[1], "a-reader") ||
		!strings.Contains(denials[1], "write al://acme/priv") {
		t.Errorf("denied vends audited as %q", denials)
	}
	all, err := f.env.Admin(t).Audit(context.Background(), "acme", clientAuditQuery("dataset.list"))
	if err != nil || len(all.Records) != 0 {
		t.Errorf("anonymous denial in acme's audit log: %+v (err %v)", all, err)
	}
	if n := f.metric(t, `tarn_unauthenticated_requests_total{route="GET /orgs/{org}/datasets"}`); n != 1 {
		t.Errorf("anonymous denial counted %v times, want 1", n)
	}
}

// TestAnonymousCallersCannotFloodAnOrgsAuditLog: requests with made-up tokens write
// nothing into the org's audit log, however many there are, so a real vend stays visible;
// an org segment of half a megabyte is not stored either.
func TestAnonymousCallersCannotFloodAnOrgsAuditLog(t *testing.T) {
	f := newFixture(t)
	f.do(t, "reader", "POST", "/orgs/acme/datasets/priv/credentials", api.DatasetCredentialsRequest{Mode: "read"})
	f.tokens["forged"] = "tarn_" + strings.Repeat("A", 43)
	f.tokens["junk"] = "not-a-token"
	huge := strings.Repeat("x", 500<<10)
	for i := range 30 {
		who := []string{"forged", "junk", "anonymous"}[i%3]
		f.do(t, who, "POST", "/orgs/acme/datasets/priv/credentials", api.DatasetCredentialsRequest{Mode: "write"})
		f.do(t, who, "GET", "/orgs/"+huge+"/datasets", nil)
	}
	recs, err := f.env.Server.Store.Audit(context.Background(), store.AuditQuery{Org: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	vends := 0
	for _, r := range recs {
		if strings.HasPrefix(r.Principal, "anonymous") || r.Result == "denied" {
			t.Errorf("an unauthenticated request is in acme's audit log: %+v", r)
		}
		if r.Action == "vend" && strings.HasPrefix(r.Principal, "a-reader") {
			vends++
		}
	}
	if vends != 1 {
		t.Errorf("the reader's vend is audited %d times, want 1", vends)
	}
	// An authenticated outsider's denial at a made-up org is stored in no org's log, and
	// short: fields are capped.
	f.do(t, "outsider", "GET", "/orgs/"+huge+"/datasets", nil)
	none, err := f.env.Server.Store.Audit(context.Background(), store.AuditQuery{Org: ""})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range none {
		if n := len(r.Org) + len(r.Target) + len(r.Detail) + len(r.Principal); n > 4096 {
			t.Errorf("audit record of %d bytes: fields are not capped", n)
		}
	}
	if got := f.metric(t, `tarn_unauthenticated_requests_total{route="GET /orgs/{org}/datasets"}`); got != 30 {
		t.Errorf("unauthenticated requests counted %v, want 30", got)
	}
}

func TestReaderAskingForWriteGetsClearDetail(t *testing.T) {
	f := newFixture(t)
	status, out := f.do(t, "reader", "POST", "/orgs/acme/datasets/priv/credentials", api.DatasetCredentialsRequest{Mode: "write"})
	detail, _ := out["detail"].(string)
	if status != http.StatusForbidden || !strings.Contains(detail, "write access to al://acme/priv needs role writer") || !strings.Contains(detail, "you are reader") {
		t.Fatalf("got %d %q", status, detail)
	}
}

func TestNarrowedTokensStayNarrow(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	writer := f.env.Client(t, f.tokens["writer"])
	ro, err := writer.CreateToken(ctx, api.CreateTokenRequest{Org: "acme", Role: "reader"})
	if err != nil {
		t.Fatal(err)
	}
	f.tokens["ro"] = ro.Token
	if st, _ := f.do(t, "ro", "POST", "/orgs/acme/datasets/priv/credentials", api.DatasetCredentialsRequest{Mode: "write"}); st != http.StatusForbidden {
		t.Errorf("reader-narrowed token of a writer vended write: %d", st)
	}
	if st, _ := f.do(t, "ro", "POST", "/orgs/acme/datasets/priv/credentials", api.DatasetCredentialsRequest{Mode: "read"}); st != http.StatusOK {
		t.Errorf("reader-narrowed token cannot read: %d", st)
	}
	// A narrowed token cannot mint a broader one.
	if st, _ := f.do(t, "ro", "POST", "/tokens", api.CreateTokenRequest{Org: "acme", Role: "writer"}); st != http.StatusForbidden {
		t.Errorf("narrowed token minted a writer token: %d", st)
	}
	st, out := f.do(t, "ro", "POST", "/tokens", api.CreateTokenRequest{})
	if st != http.StatusCreated {
		t.Fatalf("narrowed token cannot mint an equal token: %d %v", st, out)
	}
	info := out["token_info"].(map[string]any)
	if info["org"] != "acme" || info["role"] != "reader" {
		t.Errorf("token minted by a narrowed token is wider: %v", info)
	}
	// A role above your own is refused.
	if st, _ := f.do(t, "reader", "POST", "/tokens", api.CreateTokenRequest{Org: "acme", Role: "admin"}); st != http.StatusForbidden {
		t.Errorf("reader minted an admin token: %d", st)
	}
	// A superuser token narrowed to acme is not a superuser any more.
	su, err := f.env.Admin(t).CreateToken(ctx, api.CreateTokenRequest{Org: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	f.tokens["su-acme"] = su.Token
	if st, _ := f.do(t, "su-acme", "POST", "/users", api.CreateUserRequest{Name: "sneaky"}); st != http.StatusForbidden {
		t.Errorf("org-narrowed superuser token created a user: %d", st)
	}
	if st, _ := f.do(t, "su-acme", "GET", "/orgs/local", nil); st != http.StatusForbidden {
		t.Errorf("token narrowed to acme read org local: %d", st)
	}
}

func TestRevocationTakesEffectOnNextRequest(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	reader := f.env.Client(t, f.tokens["reader"])
	tok, err := reader.CreateToken(ctx, api.CreateTokenRequest{})
	if err != nil {
		t.Fatal(err)
	}
	f.tokens["second"] = tok.Token
	if st, _ := f.do(t, "second", "GET", "/whoami", nil); st != http.StatusOK {
		t.Fatalf("fresh token refused: %d", st)
	}
	if err := reader.RevokeToken(ctx, tok.TokenInfo.ID); err != nil {
		t.Fatal(err)
	}
	if st, _ := f.do(t, "second", "GET", "/whoami", nil); st != http.StatusUnauthorized {
		t.Fatalf("revoked token accepted: %d", st)
	}
}

func TestUnregisteredVendStaysInsideTheKeysRoots(t *testing.T) {
	f := newFixture(t)
	for _, loc := range []string{"file:///etc", "file://" + f.env.DataDir, f.root + "-sibling/x", f.root + "/../escape", "http://169.254.169.254/latest"} {
		st, out := f.do(t, "writer", "POST", "/orgs/acme/creds-keys/k/credentials", api.CredentialsRequest{Location: loc, Mode: "write"})
		if st != http.StatusForbidden && st != http.StatusBadRequest {
			t.Errorf("vend for %s: %d %v", loc, st, out)
		}
	}
}

func TestMissingThingsAreNotFoundForMembersOnly(t *testing.T) {
	f := newFixture(t)
	if st, _ := f.do(t, "superuser", "GET", "/orgs/nope/datasets", nil); st != http.StatusNotFound {
		t.Errorf("missing org for a superuser: %d", st)
	}
	if st, _ := f.do(t, "reader", "GET", "/orgs/nope/datasets", nil); st != http.StatusForbidden {
		t.Errorf("missing org for a non-member: %d (must not reveal whether it exists)", st)
	}
	if st, _ := f.do(t, "reader", "GET", "/orgs/acme/datasets/nope", nil); st != http.StatusNotFound {
		t.Errorf("missing dataset for a member: %d", st)
	}
	if st, _ := f.do(t, "outsider", "GET", "/orgs/acme/datasets/nope", nil); st != http.StatusForbidden {
		t.Errorf("missing dataset for an outsider: %d (must not reveal whether it exists)", st)
	}
}

func clientAuditQuery(action string) client.AuditQuery { return client.AuditQuery{Action: action} }

func TestPublicDatasetsDoNotOpenTheirLinkedKeys(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.env.Admin(t).AddLinkedCredsKey(ctx, "acme", "pub", "k"); err != nil {
		t.Fatal(err)
	}
	// k's roots hold the private dataset too: an outsider must not reach it through pub.
	body := api.LinkedCredentialsRequest{CredsKey: "k", Location: f.root + "/priv"}
	if st, out := f.do(t, "outsider", "POST", "/orgs/acme/datasets/pub/linked-credentials", body); st != http.StatusForbidden {
		t.Errorf("outsider got linked credentials of a public dataset: %d %v", st, out)
	}
	if st, _ := f.do(t, "reader", "POST", "/orgs/acme/datasets/pub/linked-credentials", body); st != http.StatusOK {
		t.Errorf("reader of the org: %d", st)
	}
	if st, _ := f.do(t, "outsider", "POST", "/orgs/acme/datasets/priv/linked-credentials", api.LinkedCredentialsRequest{CredsKey: "nope", Location: f.root}); st != http.StatusForbidden {
		t.Errorf("unlinked key: %d", st)
	}
	// A token narrowed to another org does not read public datasets either.
	tok, err := f.env.Admin(t).CreateToken(ctx, api.CreateTokenRequest{Org: "local"})
	if err != nil {
		t.Fatal(err)
	}
	f.tokens["local-only"] = tok.Token
	if st, _ := f.do(t, "local-only", "POST", "/orgs/acme/datasets/pub/credentials", api.DatasetCredentialsRequest{Mode: "read"}); st != http.StatusForbidden {
		t.Errorf("a token narrowed to org local read a public dataset of acme: %d", st)
	}
}

func TestNarrowedTokenCannotTouchItsOwnersOtherTokens(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	writer := f.env.Client(t, f.tokens["writer"])
	ci, err := writer.CreateToken(ctx, api.CreateTokenRequest{Org: "acme", Role: "reader", Name: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	f.tokens["ci"] = ci.Token
	who, err := writer.Whoami(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := f.do(t, "ci", "DELETE", "/tokens/"+who.TokenID, nil); st != http.StatusNotFound {
		t.Errorf("a narrowed token revoked its owner's unrestricted token: %d", st)
	}
	_, out := f.do(t, "ci", "GET", "/tokens", nil)
	for _, tk := range out["tokens"].([]any) {
		if tk.(map[string]any)["org"] != "acme" {
			t.Errorf("a narrowed token lists %v", tk)
		}
	}
	if _, err := writer.Whoami(ctx); err != nil {
		t.Errorf("owner's token stopped working: %v", err)
	}
}

func TestRecreatedCredsKeyDoesNotServeCachedCredentials(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	admin := f.env.Admin(t)
	root := func(sub string) api.PutCredsKeyRequest {
		return api.PutCredsKeyRequest{Provider: "file", Config: api.CredsKeyConfig{Roots: []string{f.root + "/" + sub}}}
	}
	if _, err := admin.PutCredsKey(ctx, "acme", "tmp", root("a")); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.LocationCredentials(ctx, "acme", "tmp", f.root+"/a/x", "read"); err != nil {
		t.Fatal(err)
	}
	if err := admin.DeleteCredsKey(ctx, "acme", "tmp"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.PutCredsKey(ctx, "acme", "tmp", root("b")); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.LocationCredentials(ctx, "acme", "tmp", f.root+"/a/x", "read"); err == nil {
		t.Fatal("the recreated key vended a location outside its new roots")
	}
}

// An update without a secret keeps the stored one only for the same identity at the same
// endpoints, compared in canonical form; otherwise the key needs its secret sent again, so
// an admin who never knew a secret cannot send it, or what it buys, somewhere new.
func TestUpdatesKeepASecretOnlyForTheSameIdentity(t *testing.T) {
	google := googletest.New(t, googletest.Options{})
	env := testenv.New(t, testenv.Options{
		AllowEndpoints:   []string{"127.0.0.1:10000", "127.0.0.1:10001", google.HostPort()},
		EndpointResolver: netguardtest.NewResolver(nil), // nothing here may leave the machine
	})
	ctx := t.Context()
	admin := env.Admin(t)
	if _, err := admin.CreateOrg(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	sa := "tarn@acme-ml.iam.gserviceaccount.com"
	for _, tc := range []struct {
		provider, secret string
		base             api.CredsKeyConfig
		same             []func(*api.CredsKeyConfig) // updates that keep the secret
		moved            map[string]func(*api.CredsKeyConfig)
	}{
		{provider: api.ProviderAWS, secret: "not-a-real-secret",
			base: api.CredsKeyConfig{Roots: []string{"s3://bucket/datasets"}, RoleARN: "arn:aws:iam::123456789012:role/tarn",
				Source: "access-key", AccessKeyID: "AKIAEXAMPLE"},
			same: []func(*api.CredsKeyConfig){func(c *api.CredsKeyConfig) { c.Roots = append(c.Roots, "s3://bucket/more") }},
			moved: map[string]func(*api.CredsKeyConfig){
				"another access key": func(c *api.CredsKeyConfig) { c.AccessKeyID = "AKIAOTHER" },
				"new endpoints": func(c *api.CredsKeyConfig) {
					c.STSEndpoint, c.S3Endpoint = "http://127.0.0.1:10000", "http://127.0.0.1:10000"
				},
			}},
		{provider: api.ProviderAzure, secret: "a2V5",
			base: api.CredsKeyConfig{Roots: []string{"az://devstoreaccount1/data"}, Account: "devstoreaccount1",
				Endpoint: "http://127.0.0.1:10000/devstoreaccount1", Auth: api.AuthSharedKey, Scope: api.ScopeContainer},
			same: []func(*api.CredsKeyConfig){func(c *api.CredsKeyConfig) { c.Scope = "" }},
			moved: map[string]func(*api.CredsKeyConfig){
				"another endpoint": func(c *api.CredsKeyConfig) { c.Endpoint = "http://127.0.0.1:10001/devstoreaccount1" },
				"another auth": func(c *api.CredsKeyConfig) {
					c.Auth, c.TenantID, c.ClientID = api.AuthClientSecret, "00000000-0000-0000-0000-000000000001", "00000000-0000-0000-0000-000000000002"
				},
			}},
		{provider: api.ProviderGCS, secret: string(google.ServiceAccountKey(t, sa)),
			base: api.CredsKeyConfig{Roots: []string{"gs://acme-ml/datasets"}, ServiceAccount: sa, Auth: api.AuthServiceAccountKey,
				IAMEndpoint: google.URL, STSEndpoint: google.URL},
			same: []func(*api.CredsKeyConfig){func(c *api.CredsKeyConfig) { c.IAMEndpoint += "/" }},
			moved: map[string]func(*api.CredsKeyConfig){
				"another IAM endpoint":    func(c *api.CredsKeyConfig) { c.IAMEndpoint = "http://127.0.0.1:10001" },
				"another STS endpoint":    func(c *api.CredsKeyConfig) { c.STSEndpoint = "http://127.0.0.1:10001" },
				"another service account": func(c *api.CredsKeyConfig) { c.ServiceAccount = "other@acme-ml.iam.gserviceaccount.com" },
			}},
	} {
		t.Run(tc.provider, func(t *testing.T) {
			name := "k-" + tc.provider
			put := func(cfg api.CredsKeyConfig, secret string) error {
				_, err := admin.PutCredsKey(ctx, "acme", name, api.PutCredsKeyRequest{Provider: tc.provider, Config: cfg, Secret: secret})
				return err
			}
			if err := put(tc.base, tc.secret); err != nil {
				t.Fatal(err)
			}
			if err := put(tc.base, ""); err != nil {
				t.Errorf("same configuration without the secret: %v (the stored secret must be kept)", err)
			}
			for i, f := range tc.same {
				cfg := tc.base
				cfg.Roots = slices.Clone(cfg.Roots)
				f(&cfg)
				if err := put(cfg, ""); err != nil {
					t.Errorf("update %d that changes no identity or endpoint: %v", i, err)
				}
			}
			for what, f := range tc.moved {
				cfg := tc.base
				f(&cfg)
				var p *api.Problem
				if err := put(cfg, ""); !errors.As(err, &p) || p.Status != http.StatusBadRequest || !strings.Contains(p.Detail, "secret") {
					t.Errorf("%s: the stored secret was kept (err %v); want a refusal asking for the secret", what, err)
				}
				if err := put(tc.base, ""); err != nil { // the refused update changed nothing
					t.Fatalf("%s: back to the base configuration: %v", what, err)
				}
			}
		})
	}
}

func TestLastUsedAtIsKept(t *testing.T) {
	f := newFixture(t)
	before := f.env.Clock.Now()
	f.do(t, "reader", "GET", "/whoami", nil)
	_, out := f.do(t, "reader", "GET", "/tokens", nil)
	tokens := out["tokens"].([]any)
	if len(tokens) != 1 {
		t.Fatalf("tokens: %v", tokens)
	}
	used, _ := tokens[0].(map[string]any)["last_used_at"].(string)
	at, err := time.Parse(time.RFC3339Nano, used)
	if err != nil || at.Before(before) {
		t.Errorf("last_used_at = %q, want at or after %s", used, before)
	}
}

// TestOutsidersCannotTellWhichOrgsExist: whatever an outsider sends (a bad body, a bad mode,
// a name that does not exist), an org that exists answers exactly as one that does not.
func TestOutsidersCannotTellWhichOrgsExist(t *testing.T) {
	f := newFixture(t)
	type probe struct {
		method, path string
		body         any
	}
	probes := func(org string) []probe {
		return []probe{
			{"POST", "/orgs/" + org + "/datasets", rawBody(`{"name":`)},
			{"POST", "/orgs/" + org + "/datasets", api.CreateDatasetRequest{Name: "Bad Name"}},
			{"POST", "/orgs/" + org + "/datasets/priv/credentials", api.DatasetCredentialsRequest{Mode: "admin"}},
			{"POST", "/orgs/" + org + "/datasets/nope/credentials", rawBody(`[]`)},
			{"POST", "/orgs/" + org + "/creds-keys/k/credentials", api.CredentialsRequest{Location: "ftp://x", Mode: "root"}},
			{"POST", "/orgs/" + org + "/datasets/priv/linked-credentials", rawBody(`{"creds_key":1}`)},
			{"PUT", "/orgs/" + org + "/creds-keys/k", rawBody(`{"provider":"nope","provider":"twice"}`)},
			{"PUT", "/orgs/" + org + "/members/outsider", api.PutMemberRequest{Role: "owner"}},
			{"PUT", "/orgs/" + org + "/identities/x", api.Identity{Provider: "nope"}},
			{"GET", "/orgs/" + org + "/audit?since=yesterday", nil},
			{"POST", "/orgs/" + org + "/creds-keys/nope/verify", rawBody(`{"location":"http://169.254.169.254"}`)},
			{"POST", "/tokens", api.CreateTokenRequest{Org: org, Role: "reader"}},
		}
	}
	real, made := probes("acme"), probes("nosuchorg")
	for i := range real {
		t.Run(real[i].method+" "+real[i].path, func(t *testing.T) {
			st1, out1 := f.do(t, "outsider", real[i].method, real[i].path, real[i].body)
			st2, out2 := f.do(t, "outsider", made[i].method, made[i].path, made[i].body)
			d1, _ := out1["detail"].(string)
			d2, _ := out2["detail"].(string)
			if st1 != http.StatusForbidden || st2 != st1 || strings.ReplaceAll(d1, "acme", "nosuchorg") != d2 || out1["code"] != out2["code"] {
				t.Errorf("existing org: %d %q; missing org: %d %q", st1, d1, st2, d2)
			}
		})
	}
}

// TestAnswersWithSecretsAreNotCached: answers that carry credentials or tokens (and every
// other API answer) tell caches not to keep them.
func TestAnswersWithSecretsAreNotCached(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/orgs/acme/datasets/priv/credentials", `{"mode":"read"}`},
		{"POST", "/tokens", `{"name":"x"}`},
		{"POST", "/users", `{"name":"newbie"}`},
		{"GET", "/orgs/acme/datasets", ``},
	} {
		req, _ := http.NewRequest(c.method, f.env.URL+api.Prefix+c.path, strings.NewReader(c.body))
		req.Header.Set("Authorization", "Bearer "+f.env.AdminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 300 || resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s %s: %d, Cache-Control %q", c.method, c.path, resp.StatusCode, resp.Header.Get("Cache-Control"))
		}
	}
}

// TestAuditPagesBackwards: the audit API never silently caps; pages of the newest records
// follow each other through next_cursor until every matching record was seen exactly once,
// and since and until bound the time.
func TestAuditPagesBackwards(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	st := f.env.Server.Store
	base := f.env.Clock.Now().Add(-10 * time.Hour)
	for i := range 250 {
		if _, err := st.AppendAudit(ctx, store.AuditRecord{Time: base.Add(time.Duration(i) * time.Minute), Org: "acme",
			Action: "vend", Principal: fmt.Sprint("p", i), Result: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]int{}
	cursor, pages := "", 0
	var prevOldest int64
	for {
		q := url.Values{"action": {"vend"}, "limit": {"100"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		st, out := f.do(t, "admin", "GET", "/orgs/acme/audit?"+q.Encode(), nil)
		if st != http.StatusOK {
			t.Fatalf("page %d: %d %v", pages, st, out)
		}
		recs := out["records"].([]any)
		pages++
		for i, r := range recs {
			rec := r.(map[string]any)
			id := int64(rec["id"].(float64))
			if i > 0 && id <= int64(recs[i-1].(map[string]any)["id"].(float64)) {
				t.Fatalf("page %d is not oldest first", pages)
			}
			if prevOldest != 0 && id >= prevOldest {
				t.Fatalf("page %d overlaps the newer page", pages)
			}
			seen[rec["principal"].(string)]++
		}
		if len(recs) > 0 {
			prevOldest = int64(recs[0].(map[string]any)["id"].(float64))
		}
		next, _ := out["next_cursor"].(string)
		if next == "" {
			break
		}
		cursor = next
	}
	if pages != 3 || len(seen) != 250 {
		t.Fatalf("%d pages, %d distinct records; want 3 pages of all 250", pages, len(seen))
	}
	for p, n := range seen {
		if n != 1 {
			t.Errorf("%s seen %d times", p, n)
		}
	}
	// Records of minutes 60 to 119: since 9h ago, until 8h ago.
	_, out := f.do(t, "admin", "GET", "/orgs/acme/audit?action=vend&since=9h&until=8h&limit=1000", nil)
	if recs := out["records"].([]any); len(recs) != 60 || recs[0].(map[string]any)["principal"] != "p60" || out["next_cursor"] != nil {
		t.Errorf("since 9h until 8h: %d records from %v, next %v", len(recs), recs[0], out["next_cursor"])
	}
	for _, bad := range []string{"limit=0", "limit=1001", "limit=x", "cursor=abc", "cursor=-5", "until=tomorrow", "result=maybe"} {
		if st, out := f.do(t, "admin", "GET", "/orgs/acme/audit?"+bad, nil); st != http.StatusBadRequest {
			t.Errorf("%s: %d %v", bad, st, out)
		}
	}
	// A bad filter names its parameter, for the console's filter form.
	for param, query := range map[string]string{"since": "since=yesterday", "result": "result=maybe"} {
		if _, out := f.do(t, "admin", "GET", "/orgs/acme/audit?"+query, nil); out["field"] != param {
			t.Errorf("%s: field %v, want %s", query, out["field"], param)
		}
	}
}

func TestAuditFiltersByPrincipalAndResult(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	reader := f.env.Client(t, f.tokens["reader"])
	if _, err := reader.CreateDataset(ctx, "acme", api.CreateDatasetRequest{Name: "nope", Location: f.root + "/nope", CredsKey: "k"}); err == nil {
		t.Fatal("a reader created a dataset")
	}
	writer := f.env.Client(t, f.tokens["writer"])
	if _, err := writer.CreateDataset(ctx, "acme", api.CreateDatasetRequest{Name: "fine", Location: f.root + "/fine", CredsKey: "k"}); err != nil {
		t.Fatal(err)
	}
	admin := f.env.Client(t, f.tokens["admin"])
	for _, tc := range []struct {
		name string
		q    client.AuditQuery
		want []string // "principal user, action, result" of each record
	}{
		{"denied creates", client.AuditQuery{Action: "dataset.create", Result: "denied"}, []string{"a-reader dataset.create denied"}},
		{"the writer's creates", client.AuditQuery{Action: "dataset.create", Principal: "a-writer"}, []string{"a-writer dataset.create ok"}},
		{"the reader's, ok", client.AuditQuery{Principal: "a-reader", Result: "ok"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := admin.Audit(ctx, "acme", tc.q)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range out.Records {
				user, _, _ := strings.Cut(r.Principal, " ")
				got = append(got, user+" "+r.Action+" "+r.Result)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("records %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSuperusersListUsersAndOrgs(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	su := f.env.Admin(t)
	users, err := su.Users(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, u := range users {
		names = append(names, u.Name)
		if u.Superuser != (u.Name == "admin") || u.CreatedAt.IsZero() {
			t.Errorf("user %+v: only admin is a superuser, and each has a creation time", u)
		}
	}
	if want := []string{"a-admin", "a-reader", "a-writer", "admin", "expiree", "outsider", "revokee"}; !slices.Equal(names, want) {
		t.Errorf("users %q, want %q", names, want)
	}
	orgs, err := su.Orgs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	names = nil
	for _, o := range orgs {
		names = append(names, o.Name)
	}
	if want := []string{"acme", "local"}; !slices.Equal(names, want) {
		t.Errorf("orgs %q, want %q", names, want)
	}
	// An org admin is no superuser: both lists are refused, naming nothing.
	admin := f.env.Client(t, f.tokens["admin"])
	if _, err := admin.Users(ctx); !isProblem(err, http.StatusForbidden) {
		t.Errorf("an org admin listing users: %v, want 403", err)
	}
	if _, err := admin.Orgs(ctx); !isProblem(err, http.StatusForbidden) {
		t.Errorf("an org admin listing orgs: %v, want 403", err)
	}
}

// isProblem reports whether err is an API problem of the given status.
func isProblem(err error, status int) bool {
	p, ok := errors.AsType[*api.Problem](err)
	return ok && p.Status == status
}

// TestRemovedWriterKeepsNoAccessThroughAPublicDataset: a writer cannot publish a dataset
// (which anyone signed in may read, also after the writer leaves the org), nor register one
// over the creds key's whole root, which holds the other datasets.
func TestRemovedWriterKeepsNoAccessThroughAPublicDataset(t *testing.T) {
	f := newFixture(t)
	create := func(name, loc string, public bool) (int, map[string]any) {
		return f.do(t, "writer", "POST", "/orgs/acme/datasets", api.CreateDatasetRequest{Name: name, Location: loc, CredsKey: "k", Public: public})
	}
	if st, out := create("everything", f.root, true); st != http.StatusForbidden || !strings.Contains(out["detail"].(string), "needs role admin") {
		t.Errorf("a writer published a dataset: %d %v", st, out)
	}
	if st, out := create("everything", f.root, false); st != http.StatusConflict || out["code"] != api.CodeLocationOverlap {
		t.Errorf("a dataset over the key's whole root, which holds priv and pub: %d %v", st, out)
	}
	if st, out := create("mine", f.root+"/mine", false); st != http.StatusCreated {
		t.Fatalf("a writer's own dataset: %d %v", st, out)
	}
	public := true
	if st, out := f.do(t, "writer", "PATCH", "/orgs/acme/datasets/mine", api.UpdateDatasetRequest{Public: &public}); st != http.StatusForbidden {
		t.Errorf("a writer published its dataset later: %d %v", st, out)
	}
	if st, out := f.do(t, "superuser", "DELETE", "/orgs/acme/members/a-writer", nil); st != http.StatusNoContent {
		t.Fatalf("remove the writer: %d %v", st, out)
	}
	for _, ds := range []string{"mine", "priv"} {
		if st, _ := f.do(t, "writer", "POST", "/orgs/acme/datasets/"+ds+"/credentials", api.DatasetCredentialsRequest{Mode: "read"}); st != http.StatusForbidden {
			t.Errorf("the removed writer still vends %s: %d", ds, st)
		}
	}
}

// TestReadVendsWriteNothing: a reader asking for read credentials of ever new linked
// locations creates no directories on the server's disk; a registered dataset's directory
// is created on its first vend, so that a new dataset lists as empty.
func TestReadVendsWriteNothing(t *testing.T) {
	f := newFixture(t)
	dir := strings.TrimPrefix(f.root, "file://")
	for i := range 5 {
		loc := fmt.Sprintf("%s/junk/d%d", f.root, i)
		if st, out := f.do(t, "reader", "POST", "/orgs/acme/datasets/priv/linked-credentials", api.LinkedCredentialsRequest{CredsKey: "k", Location: loc}); st != http.StatusOK {
			t.Fatalf("linked vend: %d %v", st, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "junk")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("read vends of linked locations created directories: %v", err)
	}
	if st, out := f.do(t, "reader", "POST", "/orgs/acme/datasets/priv/credentials", api.DatasetCredentialsRequest{Mode: "read"}); st != http.StatusOK {
		t.Fatalf("dataset vend: %d %v", st, out)
	}
	if st, err := os.Stat(filepath.Join(dir, "priv")); err != nil || !st.IsDir() {
		t.Errorf("a registered dataset's directory was not created on its first vend: %v", err)
	}
}

// TestOutsidersCannotSeedTheAuditOfAFutureOrg: denied requests naming an org that does not
// exist yet are not found in its audit log once it is created.
func TestOutsidersCannotSeedTheAuditOfAFutureOrg(t *testing.T) {
	f := newFixture(t)
	f.do(t, "outsider", "POST", "/orgs", api.CreateOrgRequest{Name: "newco"})
	f.do(t, "outsider", "POST", "/tokens", api.CreateTokenRequest{Org: "newco", Role: "admin"})
	f.do(t, "outsider", "GET", "/orgs/newco/datasets", nil)
	if st, out := f.do(t, "superuser", "POST", "/orgs", api.CreateOrgRequest{Name: "newco"}); st != http.StatusCreated {
		t.Fatalf("create newco: %d %v", st, out)
	}
	recs, err := f.env.Server.Store.Audit(context.Background(), store.AuditQuery{Org: "newco"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if strings.HasPrefix(r.Principal, "outsider") {
			t.Errorf("newco's log holds an outsider's request from before it existed: %+v", r)
		}
	}
}
