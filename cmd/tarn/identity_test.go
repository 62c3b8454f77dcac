package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tarnhq/tarn/api"
)

const identityJSON = `{"org":"acme","name":"trainer","provider":"azure","role":"reader","tenant_id":"T","client_id":"C","created_at":"2025-03-01T12:00:00Z","created_by":"alice"}`

func TestIdentityRequests(t *testing.T) {
	const z = `"created_at":"0001-01-01T00:00:00Z"`
	for _, tc := range []struct {
		args   []string
		route  string
		status int
		answer string
		body   string
	}{
		{[]string{"identity", "add", "acme/trainer", "--provider", "azure", "--tenant-id", "T", "--client-id", "C", "--role", "reader"},
			"PUT /api/v1/orgs/acme/identities/trainer", 200, identityJSON,
			`{"org":"acme","name":"trainer","provider":"azure","role":"reader","tenant_id":"T","client_id":"C",` + z + `}`},
		{[]string{"identity", "add", "acme/ci", "--provider", "github", "--repository", "acme/models", "--ref", "refs/heads/main", "--environment", "prod", "--role", "writer"},
			"PUT /api/v1/orgs/acme/identities/ci", 200, identityJSON,
			`{"org":"acme","name":"ci","provider":"github","role":"writer","repository":"acme/models","ref":"refs/heads/main","environment":"prod",` + z + `}`},
		{[]string{"identity", "add", "acme/loader", "--provider", "kubernetes", "--issuer", "https://k8s.example", "--service-account", "ml/loader", "--role", "reader"},
			"PUT /api/v1/orgs/acme/identities/loader", 200, identityJSON,
			`{"org":"acme","name":"loader","provider":"kubernetes","role":"reader","issuer":"https://k8s.example","service_account":"ml/loader",` + z + `}`},
		{[]string{"identity", "add", "acme/batch", "--provider", "oidc", "--issuer", "https://id.example", "--subject", "runner", "--claim", "team=ml", "--claim", "env=a=b", "--role", "reader"},
			"PUT /api/v1/orgs/acme/identities/batch", 200, identityJSON,
			`{"org":"acme","name":"batch","provider":"oidc","role":"reader","issuer":"https://id.example","subject":"runner","claims":{"env":"a=b","team":"ml"},` + z + `}`},
		{[]string{"identity", "ls", "acme"}, "GET /api/v1/orgs/acme/identities", 200, `{"identities":[]}`, ""},
		{[]string{"identity", "show", "acme/trainer"}, "GET /api/v1/orgs/acme/identities/trainer", 200, identityJSON, ""},
		{[]string{"identity", "rm", "acme/trainer"}, "DELETE /api/v1/orgs/acme/identities/trainer", 204, "", ""},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			srv := newFakeAPI(t, map[string]route{tc.route: {tc.status, tc.answer}})
			res := envFor(t, srv).run(tc.args...)
			if res.code != 0 {
				t.Fatalf("exit %d, stderr %q", res.code, res.stderr)
			}
			r := srv.last(t)
			if got := r.Method + " " + r.Path; got != tc.route {
				t.Errorf("request %s, want %s", got, tc.route)
			}
			if r.Body != tc.body {
				t.Errorf("body %s\nwant %s", r.Body, tc.body)
			}
			if r.Auth != "Bearer "+testToken {
				t.Errorf("Authorization %q", r.Auth)
			}
		})
	}
}

func TestIdentityOutput(t *testing.T) {
	list := `{"identities":[` + identityJSON + `,{"org":"acme","name":"ci","provider":"github","role":"writer","repository":"acme/models","ref":"refs/heads/main","created_at":"2025-03-01T12:00:00Z"}]}`
	for _, tc := range []struct {
		args          []string
		route, answer string
		stdout        string
	}{
		{[]string{"identity", "ls", "acme"}, "GET /api/v1/orgs/acme/identities", list,
			"NAME     PROVIDER  ROLE    MATCHES                                      CREATED\n" +
				"trainer  azure     reader  tenant T, client C                           2025-03-01T12:00:00Z\n" +
				"ci       github    writer  repository acme/models, ref refs/heads/main  2025-03-01T12:00:00Z\n"},
		{[]string{"identity", "add", "acme/trainer", "--provider", "azure", "--tenant-id", "T", "--client-id", "C", "--role", "reader"},
			"PUT /api/v1/orgs/acme/identities/trainer", identityJSON,
			"Saved identity acme/trainer (azure, role reader): tenant T, client C.\n"},
		{[]string{"identity", "show", "acme/trainer"}, "GET /api/v1/orgs/acme/identities/trainer", identityJSON,
			"org:        acme\nname:       trainer\nprovider:   azure\nrole:       reader\nmatches:    tenant T, client C\ncreated:    2025-03-01T12:00:00Z\ncreated by: alice\n"},
		{[]string{"identity", "rm", "acme/trainer"}, "DELETE /api/v1/orgs/acme/identities/trainer", "", "Deleted identity acme/trainer.\n"},
		{[]string{"identity", "ls", "acme", "-o", "json"}, "GET /api/v1/orgs/acme/identities", `{"identities":null}`, "[]\n"},
		{[]string{"identity", "rm", "acme/trainer", "-o", "json"}, "DELETE /api/v1/orgs/acme/identities/trainer", "", ""},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			srv := newFakeAPI(t, map[string]route{tc.route: {200, tc.answer}})
			res := envFor(t, srv).run(tc.args...)
			if res.code != 0 || res.stdout != tc.stdout {
				t.Errorf("exit %d\nstdout:\n%s\nwant:\n%s\nstderr: %s", res.code, res.stdout, tc.stdout, res.stderr)
			}
		})
	}
	srv := newFakeAPI(t, map[string]route{"GET /api/v1/orgs/acme/identities": {200, list}})
	res := envFor(t, srv).run("identity", "ls", "acme", "--output", "json")
	var ids []api.Identity
	if err := json.Unmarshal([]byte(res.stdout), &ids); err != nil || len(ids) != 2 || ids[1].Repository != "acme/models" {
		t.Errorf("json: %v %s", err, res.stdout)
	}
}

func TestIdentityUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"identity", "add", "acme/x", "--provider", "azure", "--tenant-id", "T", "--role", "reader"}, "--provider azure needs --client-id"},
		{[]string{"identity", "add", "acme/x", "--provider", "azure", "--tenant-id", "T", "--client-id", "C", "--role", "admin"}, `invalid value "admin" for --role: use reader or writer`},
		{[]string{"identity", "add", "acme/x", "--provider", "aws", "--role", "reader"}, `invalid value "aws" for --provider`},
		{[]string{"identity", "add", "acme/x", "--provider", "azure", "--tenant-id", "T", "--client-id", "C", "--repository", "a/b", "--role", "reader"}, "--repository do not apply to --provider azure"},
		{[]string{"identity", "add", "acme/x", "--provider", "github", "--repository", "models", "--role", "reader"}, `invalid --repository "models": use OWNER/REPO`},
		{[]string{"identity", "add", "acme/x", "--provider", "kubernetes", "--issuer", "https://k", "--service-account", "loader", "--role", "reader"}, "use NAMESPACE/NAME"},
		{[]string{"identity", "add", "acme/x", "--provider", "oidc", "--issuer", "issuer", "--subject", "s", "--role", "reader"}, "invalid --issuer"},
		{[]string{"identity", "add", "acme/x", "--provider", "oidc", "--issuer", "https://i", "--subject", "s", "--claim", "team", "--role", "reader"}, `invalid --claim "team"`},
		{[]string{"identity", "add", "trainer", "--provider", "oidc", "--role", "reader"}, "is not ORG/NAME"},
		{[]string{"identity", "add", "acme/x", "--provider", "azure"}, `required flag(s) "role" not set`},
		{[]string{"identity", "rm", "acme"}, "is not ORG/NAME"},
		{[]string{"identity", "ls"}, "accepts 1 arg(s)"},
		{[]string{"login", "--provider", "aws"}, `invalid value "aws" for --provider`},
		{[]string{"login", "--org", "acme"}, "--org goes with --provider"},
		{[]string{"login", "--provider", "github", "--token", "x"}, "drop --token"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			srv := newFakeAPI(t, nil)
			res := envFor(t, srv).run(tc.args...)
			if res.code != exitUsage || !strings.Contains(res.stderr, tc.want) {
				t.Errorf("exit %d, stderr %q, want %q", res.code, res.stderr, tc.want)
			}
			if n := len(srv.requests()); n != 0 {
				t.Errorf("%d requests sent", n)
			}
		})
	}
}

func TestIdentityHelp(t *testing.T) {
	srv := newFakeAPI(t, nil)
	for _, args := range [][]string{{"identity", "--help"}, {"identity", "add", "--help"}, {"login", "--help"}} {
		res := envFor(t, srv).run(args...)
		if res.code != 0 || !strings.Contains(res.stdout, "Example") && !strings.Contains(res.stdout, "Available Commands") {
			t.Errorf("%v: exit %d, %s", args, res.code, res.stdout)
		}
	}
	if res := envFor(t, srv).run("login", "--help"); !strings.Contains(res.stdout, "expires") {
		t.Error("login --help does not say the token expires")
	}
}

const exchangeAnswer = `{"access_token":"tarn_workload","issued_token_type":"urn:ietf:params:oauth:token-type:access_token","token_type":"Bearer","expires_in":3600}`

// TestAuthProviderExchangesThePlatformToken: with TARN_AUTH_PROVIDER and no TARN_TOKEN, the
// CLI exchanges the platform token and uses the tarn token; TARN_TOKEN still wins.
func TestAuthProviderExchangesThePlatformToken(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "tarn")
	os.WriteFile(tokenFile, []byte("eyJ.k8s.sa\n"), 0o600)
	srv := newFakeAPI(t, map[string]route{
		"POST /api/v1/oauth/token": {200, exchangeAnswer},
		"GET /api/v1/whoami":       {200, `{"user":"identity:acme/loader","superuser":false,"token_id":"t1","orgs":[]}`},
	})
	for _, alias := range []string{"TARN_AUTH_PROVIDER", "ACTIVELOOP_AUTH_PROVIDER"} {
		te := newTestEnv(t, map[string]string{envEndpoint: srv.URL, alias: "kubernetes", "TARN_TOKEN_FILE": tokenFile, "TARN_SCOPE": "org:acme"})
		// A saved token of the same endpoint is not used: TARN_AUTH_PROVIDER comes first.
		if _, err := (&app{env: te.env}).saveConfig(config{Endpoint: srv.URL, Token: "tarn_saved"}); err != nil {
			t.Fatal(err)
		}
		if res := te.run("whoami"); res.code != 0 {
			t.Fatalf("%s: exit %d, %s", alias, res.code, res.stderr)
		}
		reqs := srv.requests()
		ex, who := reqs[len(reqs)-2], reqs[len(reqs)-1]
		form, _ := url.ParseQuery(ex.Body)
		if ex.Path != "/api/v1/oauth/token" || ex.Auth != "" || form.Get("subject_token") != "eyJ.k8s.sa" ||
			form.Get("grant_type") != api.GrantTokenExchange || form.Get("subject_token_type") != api.TokenTypeJWT || form.Get("scope") != "org:acme" {
			t.Errorf("%s: exchange %+v", alias, ex)
		}
		if who.Auth != "Bearer tarn_workload" {
			t.Errorf("%s: whoami sent %q", alias, who.Auth)
		}
	}
	n := len(srv.requests())
	te := newTestEnv(t, map[string]string{envEndpoint: srv.URL, envToken: testToken, "TARN_AUTH_PROVIDER": "kubernetes", "TARN_TOKEN_FILE": tokenFile})
	if res := te.run("whoami"); res.code != 0 || len(srv.requests()) != n+1 || srv.last(t).Auth != "Bearer "+testToken {
		t.Errorf("TARN_TOKEN must win over TARN_AUTH_PROVIDER: %+v", srv.last(t))
	}
	// A refused exchange is one clear line, exit 1.
	bad := newFakeAPI(t, map[string]route{"POST /api/v1/oauth/token": {401, `{"title":"Unauthorized","status":401,"code":"unauthenticated","detail":"no identity of org acme matches this token"}`}})
	te = newTestEnv(t, map[string]string{envEndpoint: bad.URL, "TARN_AUTH_PROVIDER": "kubernetes", "TARN_TOKEN_FILE": tokenFile})
	res := te.run("whoami")
	if res.code != exitFailure || !strings.Contains(res.stderr, "no identity of org acme matches this token") || strings.Contains(res.stderr, "eyJ") {
		t.Errorf("refused: exit %d, %q", res.code, res.stderr)
	}
}

// TestLoginWithProvider: login --provider github exchanges once and saves the tarn token.
func TestLoginWithProvider(t *testing.T) {
	gh := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer gh-req" || r.URL.Query().Get("audience") != "api://tarn" {
			w.WriteHeader(403)
			return
		}
		io.WriteString(w, `{"value":"eyJ.github"}`)
	}))
	defer gh.Close()
	srv := newFakeAPI(t, map[string]route{
		"POST /api/v1/oauth/token": {200, exchangeAnswer},
		"GET /api/v1/whoami":       {200, `{"user":"identity:acme/ci","superuser":false,"token_id":"t1","orgs":[]}`},
	})
	te := newTestEnv(t, map[string]string{
		"ACTIONS_ID_TOKEN_REQUEST_URL": gh.URL + "/token?api-version=2.0", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "gh-req",
	})
	res := te.run("login", "--endpoint", srv.URL, "--provider", "github", "--org", "acme")
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	reqs := srv.requests()
	form, _ := url.ParseQuery(reqs[0].Body)
	if form.Get("subject_token") != "eyJ.github" || form.Get("scope") != "org:acme" || reqs[0].Auth != "" {
		t.Errorf("exchange %+v", reqs[0])
	}
	if reqs[1].Auth != "Bearer tarn_workload" {
		t.Errorf("whoami %+v", reqs[1])
	}
	cfg, err := (&app{env: te.env}).loadConfig()
	if err != nil || cfg.Token != "tarn_workload" || cfg.Endpoint != srv.URL {
		t.Errorf("saved %+v, %v", cfg, err)
	}
	if !strings.Contains(res.stdout, "expires at 2025-03-01T13:00:00Z") || !strings.Contains(res.stdout, "TARN_AUTH_PROVIDER=github") {
		t.Errorf("stdout %q", res.stdout)
	}
}
