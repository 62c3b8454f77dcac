package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestIssuerServedAtThePublicURLAndRotated(t *testing.T) {
	const public = "http://127.0.0.1:7777"
	url, tok := serveInProcess(t, "--public-url", public, "--issuer-key-rotation", "7d")
	resp, err := http.Get(url + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil || d.Issuer != public || d.JWKSURI != public+"/.well-known/jwks.json" {
		t.Fatalf("discovery %+v (%v), want issuer %s", d, err, public)
	}
	te := newTestEnv(t, map[string]string{envEndpoint: url, envToken: tok})
	res := te.run("issuer", "rotate")
	if res.code != exitOK || !strings.Contains(res.stdout, "New issuer key") || !strings.Contains(res.stdout, "generation 1") {
		t.Fatalf("tarn issuer rotate: %d %q %q", res.code, res.stdout, res.stderr)
	}
}

func TestIssuerFlagsAreChecked(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--public-url", "http://tarn.example.com"}, "loopback"},
		{[]string{"--public-url", "http://10.1.2.3:7777"}, "loopback"},
		{[]string{"--issuer-key-rotation", "0d"}, "positive"},
		{[]string{"--issuer-key-rotation", "soon"}, "positive"},
	}
	for _, tc := range tests {
		te := newTestEnv(t, nil)
		res := te.run(append([]string{"serve", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir()}, tc.args...)...)
		first, _, _ := strings.Cut(res.stderr, "\n")
		if res.code == exitOK || !strings.Contains(first, tc.want) {
			t.Errorf("serve %q: %d, stderr %q; want a first line saying %q", tc.args, res.code, res.stderr, tc.want)
		}
	}
}
