package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

const testToken = "tarn_TESTtokenTESTtokenTESTtokenTESTtokenTES"

var testNow = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// fakeAPI is a stand-in tarn server: routes map "METHOD /path" (escaped, without the query)
// to a status and a JSON answer. It records every request.
type fakeAPI struct {
	*httptest.Server
	mu     sync.Mutex
	routes map[string]route
	seen   []seenRequest
}

type route struct {
	status int
	body   string
}

type seenRequest struct {
	Method, Path, Query, Auth, Body string
}

func newFakeAPI(t *testing.T, routes map[string]route) *fakeAPI {
	t.Helper()
	f := &fakeAPI{routes: routes}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.seen = append(f.seen, seenRequest{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Get("Authorization"), string(b)})
		rt, ok := f.routes[r.Method+" "+r.URL.EscapedPath()]
		f.mu.Unlock()
		if !ok {
			rt = route{404, `{"title":"Not Found","status":404,"code":"not_found","detail":"no route ` + r.Method + " " + r.URL.EscapedPath() + `"}`}
		}
		if rt.status >= 400 {
			w.Header().Set("Content-Type", "application/problem+json")
		} else {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(rt.status)
		io.WriteString(w, rt.body)
	}))
	t.Cleanup(f.Close)
	return f
}

// requests returns the requests the fake saw.
func (f *fakeAPI) requests() []seenRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seenRequest(nil), f.seen...)
}

// last returns the last request the fake saw.
func (f *fakeAPI) last(t *testing.T) seenRequest {
	t.Helper()
	r := f.requests()
	if len(r) == 0 {
		t.Fatal("the fake API saw no request")
	}
	return r[len(r)-1]
}

// testEnv is an environment with the given variables, a private config directory and a
// fixed clock.
type testEnv struct {
	*env
	vars   map[string]string
	cfgDir string
	out    *bytes.Buffer
	errOut *bytes.Buffer
}

func newTestEnv(t *testing.T, vars map[string]string) *testEnv {
	t.Helper()
	if vars == nil {
		vars = map[string]string{}
	}
	te := &testEnv{vars: vars, cfgDir: t.TempDir(), out: &bytes.Buffer{}, errOut: &bytes.Buffer{}}
	te.env = &env{
		stdin:     strings.NewReader(""),
		stdout:    te.out,
		stderr:    te.errOut,
		getenv:    func(k string) string { return te.vars[k] },
		configDir: func() (string, error) { return te.cfgDir, nil },
		now:       func() time.Time { return testNow },
	}
	return te
}

// envFor returns an environment pointed at srv with the test token.
func envFor(t *testing.T, srv *fakeAPI) *testEnv {
	return newTestEnv(t, map[string]string{envEndpoint: srv.URL, envToken: testToken})
}

type result struct {
	code           int
	stdout, stderr string
}

func (te *testEnv) run(args ...string) result {
	te.out.Reset()
	te.errOut.Reset()
	code := run(context.Background(), args, te.env)
	return result{code, te.out.String(), te.errOut.String()}
}

func TestExitCodesAndErrorLines(t *testing.T) {
	srv := newFakeAPI(t, map[string]route{
		"POST /api/v1/orgs/acme/datasets": {409, `{"title":"Conflict","status":409,"code":"already_exists","detail":"dataset \"coco\" already exists in org \"acme\""}`},
		"GET /api/v1/whoami":              {200, `{"user":"alice","superuser":false,"token_id":"t1","orgs":[]}`},
		"POST /api/v1/orgs":               {502, `<html>bad gateway</html>`},
	})
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string // exact stderr
	}{
		{"ok", []string{"whoami"}, 0, ""},
		{"problem detail", []string{"ds", "create", "al://acme/coco"}, 1,
			"tarn: create dataset al://acme/coco: dataset \"coco\" already exists in org \"acme\"\n"},
		{"not a problem", []string{"org", "create", "acme"}, 1,
			"tarn: create org acme: the server answered 502 Bad Gateway\n"},
		{"unknown flag", []string{"whoami", "--nope"}, 2,
			"tarn: unknown flag: --nope\nRun 'tarn whoami --help' for usage.\n"},
		{"missing argument", []string{"org", "create"}, 2,
			"tarn: accepts 1 arg(s), received 0\nRun 'tarn org create --help' for usage.\n"},
		{"bad enum", []string{"vend", "al://acme/coco", "--mode", "admin"}, 2,
			"tarn: invalid value \"admin\" for --mode: use read or write\nRun 'tarn vend --help' for usage.\n"},
		{"bad output", []string{"whoami", "--output", "yaml"}, 2,
			"tarn: invalid value \"yaml\" for --output: use text or json\nRun 'tarn whoami --help' for usage.\n"},
		{"missing required flag", []string{"org", "member", "add", "acme", "bob"}, 2,
			"tarn: required flag(s) \"role\" not set\nRun 'tarn org member add --help' for usage.\n"},
		{"zero db timeout", []string{"serve", "--db-timeout", "0s"}, 2,
			"tarn: --db-timeout 0s: give a positive duration such as 5s\nRun 'tarn serve --help' for usage.\n"},
		{"negative upstream timeout", []string{"serve", "--upstream-timeout", "-1s"}, 2,
			"tarn: --upstream-timeout -1s: give a positive duration such as 5s\nRun 'tarn serve --help' for usage.\n"},
		{"zero upstream rate", []string{"serve", "--upstream-rate", "0"}, 2,
			"tarn: --upstream-rate 0: give a positive number of calls per second such as 20\nRun 'tarn serve --help' for usage.\n"},
		{"infinite upstream rate", []string{"serve", "--upstream-rate", "+Inf"}, 2,
			"tarn: --upstream-rate +Inf: give a positive number of calls per second such as 20\nRun 'tarn serve --help' for usage.\n"},
		{"zero upstream burst", []string{"serve", "--upstream-burst", "0"}, 2,
			"tarn: --upstream-burst 0: give a whole number of at least 1\nRun 'tarn serve --help' for usage.\n"},
		{"negative upstream in flight", []string{"serve", "--upstream-max-in-flight", "-3"}, 2,
			"tarn: --upstream-max-in-flight -3: give a whole number of at least 1\nRun 'tarn serve --help' for usage.\n"},
		{"zero upstream failures", []string{"serve", "--upstream-failures", "0"}, 2,
			"tarn: --upstream-failures 0: give a whole number of at least 1\nRun 'tarn serve --help' for usage.\n"},
		{"zero upstream cooldown", []string{"serve", "--upstream-cooldown", "0s"}, 2,
			"tarn: --upstream-cooldown 0s: give a positive duration such as 5s\nRun 'tarn serve --help' for usage.\n"},
		{"unknown command", []string{"frobnicate"}, 2,
			"tarn: unknown command \"frobnicate\" for \"tarn\"\nRun 'tarn --help' for usage.\n"},
		{"unknown subcommand", []string{"org", "crate", "acme"}, 2,
			"tarn: unknown command \"crate\" for \"tarn org\"; did you mean \"create\"?\nRun 'tarn org --help' for usage.\n"},
		{"bad name", []string{"org", "create", "Acme"}, 2,
			"tarn: org name \"Acme\" must match [a-z0-9][a-z0-9_-]{0,62}\nRun 'tarn org create --help' for usage.\n"},
		{"bad ORG/KEY", []string{"creds", "show", "acme"}, 2,
			"tarn: \"acme\" is not ORG/KEY: name a creds key as ORG/KEY, e.g. acme/local\nRun 'tarn creds show --help' for usage.\n"},
		{"not a dataset", []string{"ds", "info", "s3://bucket/x"}, 2,
			"tarn: \"s3://bucket/x\" is not a dataset: use al://ORG/NAME\nRun 'tarn ds info --help' for usage.\n"},
		{"bad location", []string{"ds", "info", "al://acme/../x"}, 2,
			"tarn: invalid location \"al://acme/../x\": dataset name \"..\" must match [a-z0-9][a-z0-9_-]{0,62}\nRun 'tarn ds info --help' for usage.\n"},
		{"exclusive flags", []string{"login", "--token", "x", "--token-stdin"}, 2,
			"tarn: if any flags in the group [token token-stdin] are set none of the others can be; [token token-stdin] were all set\nRun 'tarn login --help' for usage.\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := envFor(t, srv).run(tc.args...)
			if res.code != tc.code || res.stderr != tc.stderr {
				t.Errorf("tarn %s: exit %d, stderr\n%q\nwant exit %d, stderr\n%q", strings.Join(tc.args, " "), res.code, res.stderr, tc.code, tc.stderr)
			}
		})
	}
}

func TestUnreachableServerIsOneLine(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	te := newTestEnv(t, map[string]string{envEndpoint: "http://" + addr, envToken: testToken})
	res := te.run("ds", "ls", "acme")
	want := `tarn: list datasets of org acme: cannot reach tarn at http://` + addr +
		`: connection refused (is "tarn serve" running? set TARN_ENDPOINT or run "tarn login --endpoint URL")` + "\n"
	if res.code != 1 || res.stderr != want {
		t.Errorf("exit %d, stderr %q; want 1, %q", res.code, res.stderr, want)
	}
}

func TestUnauthenticatedWithoutTokenHintsAtLogin(t *testing.T) {
	srv := newFakeAPI(t, map[string]route{
		"GET /api/v1/whoami": {401, `{"title":"Unauthorized","status":401,"code":"unauthenticated","detail":"missing bearer token"}`},
	})
	te := newTestEnv(t, map[string]string{envEndpoint: srv.URL})
	res := te.run("whoami")
	want := "tarn: whoami: missing bearer token (not logged in: run \"tarn login\" or set TARN_TOKEN)\n"
	if res.code != 1 || res.stderr != want {
		t.Errorf("exit %d, stderr %q; want 1, %q", res.code, res.stderr, want)
	}
	if a := srv.last(t).Auth; a != "" {
		t.Errorf("Authorization %q sent without a token", a)
	}
}

func TestHelpOfEveryCommand(t *testing.T) {
	a := &app{env: newTestEnv(t, nil).env}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Short == "" {
			t.Errorf("%q has no Short", c.CommandPath())
		}
		if !c.HasSubCommands() && c.Name() != "help" && c.Name() != "serve" && c.Example == "" {
			t.Errorf("%q has no Example", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(a.rootCmd())

	te := newTestEnv(t, nil)
	for _, args := range [][]string{{"--help"}, {"ds", "--help"}, {"cp", "--help"}, {"org"}, {"help", "vend"}} {
		res := te.run(args...)
		if res.code != 0 || !strings.Contains(res.stdout, "Usage:") || res.stderr != "" {
			t.Errorf("tarn %s: exit %d, stdout %q, stderr %q", strings.Join(args, " "), res.code, res.stdout, res.stderr)
		}
	}
}

func TestTokenNeverPrintedOutsideMinting(t *testing.T) {
	srv := newFakeAPI(t, map[string]route{
		"GET /api/v1/whoami": {200, `{"user":"alice","superuser":true,"token_id":"t1","orgs":[{"org":"acme","user":"alice","role":"admin"}]}`},
		// A hostile server that echoes the token in its problem detail would leak it; ours
		// does not, but errors built by the CLI must not carry it either.
		"GET /api/v1/tokens": {500, `{"title":"x","status":500,"code":"internal","detail":"boom"}`},
	})
	te := envFor(t, srv)
	for _, args := range [][]string{{"whoami"}, {"whoami", "-o", "json"}, {"token", "ls"}, {"ds", "ls", "acme"}} {
		res := te.run(args...)
		if strings.Contains(res.stdout+res.stderr, testToken) {
			t.Errorf("tarn %s printed the token", strings.Join(args, " "))
		}
	}
	// Through the config file too.
	te = newTestEnv(t, map[string]string{envEndpoint: srv.URL})
	writeConfig(t, te, config{Endpoint: srv.URL, Token: testToken})
	for _, args := range [][]string{{"whoami"}, {"token", "ls"}} {
		res := te.run(args...)
		if strings.Contains(res.stdout+res.stderr, testToken) {
			t.Errorf("tarn %s printed the token", strings.Join(args, " "))
		}
	}
}

func writeConfig(t *testing.T, te *testEnv, c config) {
	t.Helper()
	dir := filepath.Join(te.cfgDir, "tarn")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(c)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
}
