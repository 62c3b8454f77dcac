package oidc_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tarnhq/tarn/internal/authn/oidc"
	"github.com/tarnhq/tarn/internal/authn/oidctest"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/netguard"
	"github.com/tarnhq/tarn/internal/netguard/netguardtest"
)

// detail returns the user-facing detail of err.
func detail(t *testing.T, err error) string {
	t.Helper()
	var e *errs.Error
	if !errors.As(err, &e) {
		t.Fatalf("err %v is not an *errs.Error", err)
	}
	return e.Detail
}

var corpNames = netguardtest.NewResolver(map[string][]string{
	"idp.corp.test":  {"10.0.0.7"},
	"cgnat.test":     {"100.64.1.1"},
	"imds.test":      {"169.254.169.254"},
	"alibaba.test":   {"100.100.100.200"},
	"keys.corp.test": {"169.254.169.254"},
	"local.test":     {"127.0.0.1"},
})

func TestDiscoverRefusesInternalIssuers(t *testing.T) {
	g, err := netguard.New(netguard.Options{Resolver: corpNames, Dial: netguardtest.Dial(t)})
	if err != nil {
		t.Fatal(err)
	}
	v := oidc.NewVerifier(oidc.Options{Guard: g})
	for _, tc := range []struct{ issuer, addr string }{
		{"https://idp.corp.test", "10.0.0.7:443"},
		{"https://cgnat.test/tenant", "100.64.1.1:443"},
		{"https://imds.test", "169.254.169.254:443"},
		{"https://alibaba.test:8443", "100.100.100.200:8443"},
		{"https://local.test:9999", "127.0.0.1:9999"},
		{"https://10.9.8.7", "10.9.8.7:443"},
		{"https://[fd00::1]", "[fd00::1]:443"},
	} {
		err := v.Discover(context.Background(), tc.issuer)
		if !errs.Is(errs.Invalid, err) {
			t.Errorf("%s: err %v, want Invalid", tc.issuer, err)
			continue
		}
		if d := detail(t, err); !strings.Contains(d, "tarn serve --allow-endpoint "+tc.addr) {
			t.Errorf("%s: detail %q does not name the flag with %s", tc.issuer, d, tc.addr)
		}
	}
}

// An issuer on loopback is refused until the operator allows its address.
func TestDiscoverNeedsTheAllowList(t *testing.T) {
	iss := oidctest.New(t)
	v := oidc.NewVerifier(oidc.Options{Guard: guardFor(t), Transport: iss.Transport})
	err := v.Discover(context.Background(), iss.URL)
	if !errs.Is(errs.Invalid, err) || !strings.Contains(detail(t, err), "tarn serve --allow-endpoint "+iss.HostPort()) {
		t.Fatalf("unlisted loopback issuer: %v", err)
	}
	if n := iss.DiscoveryFetches(); n != 0 {
		t.Errorf("the refused issuer was fetched %d times", n)
	}
	v = oidc.NewVerifier(oidc.Options{Guard: guardFor(t, iss), Transport: iss.Transport})
	if err := v.Discover(context.Background(), iss.URL); err != nil {
		t.Fatalf("listed issuer: %v", err)
	}
}

// The issuer's own host is allowed; the jwks_uri it names is not.
func TestDiscoverChecksTheJWKSHost(t *testing.T) {
	iss := oidctest.New(t)
	iss.EditDiscovery(func(d map[string]any) { d["jwks_uri"] = "https://keys.corp.test/jwks" })
	g, err := netguard.New(netguard.Options{Allow: []string{iss.HostPort()}, Resolver: corpNames, Dial: netguardtest.Dial(t)})
	if err != nil {
		t.Fatal(err)
	}
	v := oidc.NewVerifier(oidc.Options{Guard: g, Transport: iss.Transport})
	err = v.Discover(context.Background(), iss.URL)
	if !errs.Is(errs.Invalid, err) || !strings.Contains(detail(t, err), "keys.corp.test:443 resolves to a cloud metadata address") {
		t.Fatalf("jwks_uri on the metadata address: %v", err)
	}
	if n := iss.JWKSFetches(); n != 0 {
		t.Errorf("JWKS fetched %d times from the issuer", n)
	}
}

// tlsIssuer serves h over TLS on loopback and returns a verifier whose guard allows that
// server only.
func tlsIssuer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *oidc.Verifier) {
	t.Helper()
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	g, err := netguard.New(netguard.Options{Allow: []string{strings.TrimPrefix(srv.URL, "https://")}, Resolver: corpNames, Dial: netguardtest.Dial(t)})
	if err != nil {
		t.Fatal(err)
	}
	v := oidc.NewVerifier(oidc.Options{Guard: g, Transport: func(dial netguard.DialFunc) http.RoundTripper {
		tr := srv.Client().Transport.(*http.Transport).Clone()
		tr.DialContext = dial
		return tr
	}})
	return srv, v
}

func TestDiscoverChecksRedirects(t *testing.T) {
	var inner atomic.Int64
	other := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { inner.Add(1) }))
	defer other.Close()
	for _, target := range []string{"https://idp.corp.test/.well-known/openid-configuration", other.URL + "/.well-known/openid-configuration"} {
		srv, v := tlsIssuer(t, func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, target, http.StatusFound) })
		err := v.Discover(context.Background(), srv.URL)
		if !errs.Is(errs.Invalid, err) || !strings.Contains(detail(t, err), "tarn serve --allow-endpoint") {
			t.Errorf("redirect to %s: %v", target, err)
		}
	}
	if inner.Load() != 0 {
		t.Error("the redirect target on another loopback port got a request")
	}
}

// Whatever answers an issuer's URL, its words never reach the org admin: neither the reason
// phrase, nor the body, nor the fields of a discovery document.
func TestDiscoverDoesNotRepeatTheAnswer(t *testing.T) {
	const secret = "db_password=hunter2"
	for name, h := range map[string]http.HandlerFunc{
		"reason phrase and body": func(w http.ResponseWriter, r *http.Request) {
			conn, buf, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			body := "internal config: " + secret
			fmt.Fprintf(buf, "HTTP/1.1 404 %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", secret, len(body), body)
			buf.Flush()
		},
		"server error": func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, secret, http.StatusInternalServerError)
		},
		"discovery fields": func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q,"id_token_signing_alg_values_supported":[%q]}`, secret, "http://"+secret, secret)
		},
	} {
		t.Run(name, func(t *testing.T) {
			srv, v := tlsIssuer(t, h)
			err := v.Discover(context.Background(), srv.URL)
			if err == nil {
				t.Fatal("discovered")
			}
			if d := detail(t, err); strings.Contains(d, "hunter2") || strings.Contains(d, "internal config") {
				t.Errorf("detail repeats the answer: %q", d)
			}
		})
	}
}
