package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResolveOrder(t *testing.T) {
	const (
		cfgEP  = "http://config.example:7777"
		envEP  = "http://env.example:7777"
		flagEP = "http://flag.example:7777"
	)
	for _, tc := range []struct {
		name      string
		flag      string
		vars      map[string]string
		cfg       *config
		endpoint  string
		token     string
		tokenFrom string
	}{
		{name: "nothing: default endpoint, no token",
			endpoint: "http://127.0.0.1:7777"},
		{name: "config",
			cfg:      &config{Endpoint: cfgEP, Token: "cfg-token"},
			endpoint: cfgEP, token: "cfg-token", tokenFrom: "config"},
		{name: "config without endpoint is the default endpoint's",
			cfg:      &config{Token: "cfg-token"},
			endpoint: "http://127.0.0.1:7777", token: "cfg-token", tokenFrom: "config"},
		{name: "env beats config",
			vars:     map[string]string{envEndpoint: envEP, envToken: "env-token"},
			cfg:      &config{Endpoint: cfgEP, Token: "cfg-token"},
			endpoint: envEP, token: "env-token", tokenFrom: envToken},
		{name: "flag beats env",
			flag:     flagEP,
			vars:     map[string]string{envEndpoint: envEP, envToken: "env-token"},
			endpoint: flagEP, token: "env-token", tokenFrom: envToken},
		{name: "env token with config endpoint",
			vars:     map[string]string{envToken: "env-token"},
			cfg:      &config{Endpoint: cfgEP, Token: "cfg-token"},
			endpoint: cfgEP, token: "env-token", tokenFrom: envToken},
		{name: "saved token is not sent to another endpoint (flag)",
			flag:     flagEP,
			cfg:      &config{Endpoint: cfgEP, Token: "cfg-token"},
			endpoint: flagEP},
		{name: "saved token is not sent to another endpoint (env)",
			vars:     map[string]string{envEndpoint: envEP},
			cfg:      &config{Endpoint: cfgEP, Token: "cfg-token"},
			endpoint: envEP},
		{name: "saved token goes to the same endpoint spelled with a slash",
			vars:     map[string]string{envEndpoint: cfgEP + "/"},
			cfg:      &config{Endpoint: cfgEP, Token: "cfg-token"},
			endpoint: cfgEP + "/", token: "cfg-token", tokenFrom: "config"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			te := newTestEnv(t, tc.vars)
			if tc.cfg != nil {
				writeConfig(t, te, *tc.cfg)
			}
			a := &app{env: te.env, endpoint: tc.flag}
			s, err := a.resolve()
			if err != nil {
				t.Fatal(err)
			}
			if s.endpoint != tc.endpoint || s.token != tc.token || s.tokenFrom != tc.tokenFrom {
				t.Errorf("resolved endpoint %q token %q (from %q); want %q %q (from %q)",
					s.endpoint, s.token, s.tokenFrom, tc.endpoint, tc.token, tc.tokenFrom)
			}
		})
	}
}

func TestBrokenConfigIsAnErrorWithoutItsContent(t *testing.T) {
	te := newTestEnv(t, nil)
	dir := filepath.Join(te.cfgDir, "tarn")
	os.MkdirAll(dir, 0o700)
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"token":"`+testToken+`"`), 0o600)
	res := te.run("whoami")
	if res.code != 1 || !strings.Contains(res.stderr, "not valid JSON") || strings.Contains(res.stderr, testToken) {
		t.Errorf("exit %d, stderr %q", res.code, res.stderr)
	}
	// Env settings make the file unnecessary.
	srv := newFakeAPI(t, map[string]route{"GET /api/v1/whoami": {200, `{"user":"alice","token_id":"t1","orgs":[]}`}})
	te.vars[envEndpoint], te.vars[envToken] = srv.URL, testToken
	if res := te.run("whoami"); res.code != 0 {
		t.Errorf("with TARN_ENDPOINT and TARN_TOKEN: exit %d, stderr %q", res.code, res.stderr)
	}
}

func TestLoginChecksTokenThenWritesPrivateConfig(t *testing.T) {
	srv := newFakeAPI(t, map[string]route{
		"GET /api/v1/whoami": {200, `{"user":"alice","superuser":false,"token_id":"t1","orgs":[]}`},
	})
	te := newTestEnv(t, nil)
	te.stdin = strings.NewReader(testToken + "\n")
	res := te.run("login", "--endpoint", srv.URL+"/", "--token-stdin")
	if res.code != 0 {
		t.Fatalf("login: exit %d, stderr %q", res.code, res.stderr)
	}
	if got := srv.last(t).Auth; got != "Bearer "+testToken {
		t.Errorf("login sent Authorization %q", got)
	}
	p := filepath.Join(te.cfgDir, "tarn", "config.json")
	wantOut := "Logged in to " + srv.URL + " as alice. Saved to " + p + ".\n"
	if res.stdout != wantOut || res.stderr != "" {
		t.Errorf("stdout %q, stderr %q; want %q", res.stdout, res.stderr, wantOut)
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("config mode %v, want 0600", st.Mode().Perm())
	}
	dst, _ := os.Stat(filepath.Dir(p))
	if dst.Mode().Perm() != 0o700 {
		t.Errorf("config dir mode %v, want 0700", dst.Mode().Perm())
	}
	var c config
	b, _ := os.ReadFile(p)
	if err := json.Unmarshal(b, &c); err != nil || c != (config{Endpoint: srv.URL, Token: testToken}) {
		t.Errorf("config %s (%v)", b, err)
	}
	// Later commands use it.
	res = te.run("whoami")
	if res.code != 0 || srv.last(t).Auth != "Bearer "+testToken {
		t.Errorf("whoami after login: exit %d, stderr %q", res.code, res.stderr)
	}
}

func TestLoginWithBadTokenWritesNothing(t *testing.T) {
	srv := newFakeAPI(t, map[string]route{
		"GET /api/v1/whoami": {401, `{"title":"Unauthorized","status":401,"code":"unauthenticated","detail":"invalid or revoked token"}`},
	})
	te := newTestEnv(t, nil)
	res := te.run("login", "--endpoint", srv.URL, "--token", testToken)
	want := "tarn: login to " + srv.URL + ": invalid or revoked token\n"
	if res.code != 1 || res.stderr != want {
		t.Errorf("exit %d, stderr %q; want 1, %q", res.code, res.stderr, want)
	}
	if _, err := os.Stat(filepath.Join(te.cfgDir, "tarn", "config.json")); !os.IsNotExist(err) {
		t.Errorf("config written after a failed login (%v)", err)
	}
}

func TestLoginNeedsAToken(t *testing.T) {
	te := newTestEnv(t, nil)
	res := te.run("login", "--endpoint", "http://127.0.0.1:1")
	if res.code != 2 || !strings.HasPrefix(res.stderr, "tarn: no token: give --token-stdin") {
		t.Errorf("exit %d, stderr %q", res.code, res.stderr)
	}
	res = te.run("login", "--token-stdin")
	if res.code != 2 || !strings.HasPrefix(res.stderr, "tarn: --token-stdin: no token on standard input") {
		t.Errorf("exit %d, stderr %q", res.code, res.stderr)
	}
}

func TestLoginPromptsOnATerminal(t *testing.T) {
	srv := newFakeAPI(t, map[string]route{
		"GET /api/v1/whoami": {200, `{"user":"alice","token_id":"t1","orgs":[]}`},
	})
	te := newTestEnv(t, nil)
	te.stdinTerminal = true
	te.readSecret = func() (string, error) { return testToken, nil }
	res := te.run("login", "--endpoint", srv.URL)
	if res.code != 0 || res.stderr != "API token: \n" || srv.last(t).Auth != "Bearer "+testToken {
		t.Errorf("exit %d, stderr %q", res.code, res.stderr)
	}
}

func TestLoginRepairsABrokenConfig(t *testing.T) {
	srv := newFakeAPI(t, map[string]route{
		"GET /api/v1/whoami": {200, `{"user":"alice","token_id":"t1","orgs":[]}`},
	})
	te := newTestEnv(t, nil)
	dir := filepath.Join(te.cfgDir, "tarn")
	os.MkdirAll(dir, 0o700)
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`garbage`), 0o600)
	if res := te.run("login", "--endpoint", srv.URL, "--token", testToken); res.code != 0 {
		t.Fatalf("exit %d, stderr %q", res.code, res.stderr)
	}
	if res := te.run("whoami"); res.code != 0 {
		t.Errorf("whoami after login: exit %d, stderr %q", res.code, res.stderr)
	}
}

func TestInvalidEndpoint(t *testing.T) {
	te := newTestEnv(t, map[string]string{envEndpoint: "127.0.0.1:7777", envToken: testToken})
	res := te.run("whoami")
	want := "tarn: whoami: TARN_ENDPOINT: invalid endpoint \"127.0.0.1:7777\": use an http:// or https:// URL such as http://127.0.0.1:7777\n"
	if res.code != 1 || res.stderr != want {
		t.Errorf("exit %d, stderr %q; want %q", res.code, res.stderr, want)
	}
}
