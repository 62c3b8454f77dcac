package oidc_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tarnhq/tarn/internal/authn/oidc"
	"github.com/tarnhq/tarn/internal/authn/oidctest"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/netguard"
	"github.com/tarnhq/tarn/internal/netguard/netguardtest"
)

// clock is a settable clock shared by the issuer (for minting) and the verifier.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type env struct {
	clk *clock
	iss *oidctest.Issuer
	v   *oidc.Verifier
}

// setup starts an issuer named name (its URL if empty) and a verifier that has discovered it.
func setup(t testing.TB, name string) env {
	t.Helper()
	clk := newClock()
	iss := oidctest.NewWithOptions(t, oidctest.Options{Issuer: name, Now: clk.Now})
	v := oidc.NewVerifier(oidc.Options{Guard: guardFor(t, iss), Transport: iss.Transport, Now: clk.Now})
	if err := v.Discover(context.Background(), iss.URL); err != nil {
		t.Fatalf("Discover: %v", err)
	}
	return env{clk, iss, v}
}

// guardFor returns a guard that allows the loopback addresses of issuers, as tarn serve
// --allow-endpoint does, and dials nothing but loopback.
func guardFor(t testing.TB, issuers ...*oidctest.Issuer) *netguard.Guard {
	t.Helper()
	var allow []string
	for _, i := range issuers {
		allow = append(allow, i.HostPort())
	}
	g, err := netguard.New(netguard.Options{Allow: allow, Dial: netguardtest.Dial(t)})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func mustVerify(t *testing.T, v *oidc.Verifier, tok string) *oidc.Claims {
	t.Helper()
	c, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return c
}

func wantKind(t *testing.T, err error, k errs.Kind, tok string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want kind %d", k)
	}
	if got := errs.KindOf(err); got != k {
		t.Fatalf("got kind %d (%v), want %d", got, err, k)
	}
	if tok != "" {
		for _, part := range strings.Split(tok, ".") {
			if len(part) > 8 && strings.Contains(err.Error(), part) {
				t.Fatalf("error contains part of the token: %v", err)
			}
		}
	}
	if strings.Contains(err.Error(), "\n") {
		t.Fatalf("error detail is not one line: %q", err)
	}
}

func TestVerifyAcceptsRS256AndES256(t *testing.T) {
	e := setup(t, "")
	for _, alg := range []string{"RS256", "ES256"} {
		t.Run(alg, func(t *testing.T) {
			c := mustVerify(t, e.v, e.iss.Mint(map[string]any{"sub": "job-1", "team": "ml"}, oidctest.Alg(alg)))
			if c.Issuer != e.iss.URL || c.Subject != "job-1" || len(c.Audience) != 1 || c.Audience[0] != "api://tarn" {
				t.Fatalf("claims = %+v", c)
			}
			if s, ok := c.StringClaim("team"); !ok || s != "ml" {
				t.Fatalf("team = %q, %v", s, ok)
			}
			if !c.Expiry.Equal(e.clk.Now().Add(5 * time.Minute)) {
				t.Fatalf("exp = %v", c.Expiry)
			}
		})
	}
}

func TestVerifyRefusesAttacks(t *testing.T) {
	e := setup(t, "")
	other := oidctest.NewWithOptions(t, oidctest.Options{Now: e.clk.Now}) // never discovered
	now := e.clk.Now()
	sub := map[string]any{"sub": "job-1"}
	with := func(kv ...any) map[string]any {
		m := map[string]any{"sub": "job-1"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name string
		tok  string
	}{
		{"wrong audience", e.iss.Mint(with("aud", "https://management.azure.com"))},
		{"tarn among several audiences", e.iss.Mint(with("aud", []string{"api://tarn", "https://management.azure.com"}))},
		{"no audience", e.iss.Mint(with("aud", nil))},
		{"wrong issuer", other.Mint(sub)},
		{"discovered issuer named, other issuer's key", other.Mint(with("iss", e.iss.URL), oidctest.KID(e.iss.RSAKeyID()))},
		{"issuer with trailing slash", e.iss.Mint(with("iss", e.iss.URL+"/"))},
		{"expired beyond leeway", e.iss.Mint(with("exp", now.Add(-61*time.Second).Unix()))},
		{"no exp", e.iss.Mint(with("exp", nil))},
		{"nbf in the future", e.iss.Mint(with("nbf", now.Add(2*time.Minute).Unix()))},
		{"iat in the future", e.iss.Mint(with("iat", now.Add(2*time.Minute).Unix()))},
		{"exp not a number", e.iss.Mint(with("exp", "tomorrow"))},
		{"no sub", e.iss.Mint(map[string]any{})},
		{"alg none", e.iss.Mint(sub, oidctest.AlgNone())},
		{"HS256 signed with the public key", e.iss.Mint(sub, oidctest.HS256WithPublicKey())},
		{"unknown kid", e.iss.Mint(sub, oidctest.KID("no-such-key"))},
		{"tampered payload", e.iss.Mint(sub, oidctest.Tampered(map[string]any{"sub": "admin"}))},
		{"tampered audience", e.iss.Mint(with("aud", "other"), oidctest.Tampered(map[string]any{"aud": "api://tarn"}))},
		{"ES256 header on RSA kid", e.iss.Mint(sub, oidctest.Alg("ES256"), oidctest.KID(e.iss.RSAKeyID()))},
		{"empty", ""},
		{"garbage", "not.a.jwt"},
		{"two parts", "abc.def"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.v.Verify(context.Background(), tt.tok)
			wantKind(t, err, errs.Unauthenticated, tt.tok)
		})
	}
}

func TestVerifyAllowsLeeway(t *testing.T) {
	e := setup(t, "")
	now := e.clk.Now()
	mustVerify(t, e.v, e.iss.Mint(map[string]any{"sub": "s", "exp": now.Add(-59 * time.Second).Unix()}))
	mustVerify(t, e.v, e.iss.Mint(map[string]any{"sub": "s", "nbf": now.Add(59 * time.Second).Unix()}))

	strict := oidc.NewVerifier(oidc.Options{Guard: guardFor(t, e.iss), Transport: e.iss.Transport, Now: e.clk.Now, Leeway: -1})
	if err := strict.Discover(context.Background(), e.iss.URL); err != nil {
		t.Fatal(err)
	}
	_, err := strict.Verify(context.Background(), e.iss.Mint(map[string]any{"sub": "s", "exp": now.Add(-time.Second).Unix()}))
	wantKind(t, err, errs.Unauthenticated, "")

	big := oidc.NewVerifier(oidc.Options{Guard: guardFor(t, e.iss), Transport: e.iss.Transport, Now: e.clk.Now, Leeway: time.Hour})
	if err := big.Discover(context.Background(), e.iss.URL); err != nil {
		t.Fatal(err)
	}
	_, err = big.Verify(context.Background(), e.iss.Mint(map[string]any{"sub": "s", "exp": now.Add(-2 * time.Minute).Unix()}))
	wantKind(t, err, errs.Unauthenticated, "") // leeway is capped at 60 s
}

func TestVerifyCustomAudience(t *testing.T) {
	e := setup(t, "")
	v := oidc.NewVerifier(oidc.Options{Audience: "https://tarn.example.com", Guard: guardFor(t, e.iss), Transport: e.iss.Transport, Now: e.clk.Now})
	if err := v.Discover(context.Background(), e.iss.URL); err != nil {
		t.Fatal(err)
	}
	mustVerify(t, v, e.iss.Mint(map[string]any{"sub": "s", "aud": "https://tarn.example.com"}))
	_, err := v.Verify(context.Background(), e.iss.Mint(map[string]any{"sub": "s"}))
	wantKind(t, err, errs.Unauthenticated, "")
}

func TestUnknownKIDRefetchesOnce(t *testing.T) {
	e := setup(t, "")
	e.clk.Advance(oidc.RefetchInterval) // Discover fetched just now
	before := e.iss.JWKSFetches()
	tok := e.iss.Mint(map[string]any{"sub": "s"}, oidctest.KID("no-such-key"))
	_, err := e.v.Verify(context.Background(), tok)
	wantKind(t, err, errs.Unauthenticated, tok)
	if got := e.iss.JWKSFetches() - before; got != 1 {
		t.Fatalf("JWKS fetched %d times after an unknown kid, want 1", got)
	}
}

func TestRotationTriggersExactlyOneRefetch(t *testing.T) {
	e := setup(t, "")
	old := e.iss.Mint(map[string]any{"sub": "s"})
	mustVerify(t, e.v, old)
	e.clk.Advance(oidc.RefetchInterval)
	e.iss.Rotate()
	before := e.iss.JWKSFetches()
	for _, alg := range []string{"RS256", "ES256", "RS256"} {
		mustVerify(t, e.v, e.iss.Mint(map[string]any{"sub": "s"}, oidctest.Alg(alg)))
	}
	if got := e.iss.JWKSFetches() - before; got != 1 {
		t.Fatalf("JWKS fetched %d times after rotation, want 1", got)
	}
	_, err := e.v.Verify(context.Background(), old)
	wantKind(t, err, errs.Unauthenticated, old) // the old key left the JWKS
}

func TestUnknownKIDFloodIsRateLimited(t *testing.T) {
	e := setup(t, "")
	e.clk.Advance(oidc.RefetchInterval) // Discover fetched just now
	before := e.iss.JWKSFetches()
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			tok := e.iss.Mint(map[string]any{"sub": "s"}, oidctest.KID(fmt.Sprintf("flood-%d", i)))
			_, err := e.v.Verify(context.Background(), tok)
			if !errs.Is(errs.Unauthenticated, err) {
				t.Errorf("flood-%d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if got := e.iss.JWKSFetches() - before; got != 1 {
		t.Fatalf("JWKS fetched %d times for 50 unknown kids, want 1", got)
	}
	e.clk.Advance(oidc.RefetchInterval - time.Second)
	e.v.Verify(context.Background(), e.iss.Mint(map[string]any{"sub": "s"}, oidctest.KID("later")))
	if got := e.iss.JWKSFetches() - before; got != 1 {
		t.Fatalf("JWKS fetched %d times within the refetch interval, want 1", got)
	}
	e.clk.Advance(time.Second)
	e.v.Verify(context.Background(), e.iss.Mint(map[string]any{"sub": "s"}, oidctest.KID("later")))
	if got := e.iss.JWKSFetches() - before; got != 2 {
		t.Fatalf("JWKS fetched %d times after the refetch interval, want 2", got)
	}
	mustVerify(t, e.v, e.iss.Mint(map[string]any{"sub": "s"})) // known keys keep working
}

func TestConcurrentCallersShareOneFetch(t *testing.T) {
	e := setup(t, "")
	e.clk.Advance(2 * time.Hour) // past max-age=3600
	before := e.iss.JWKSFetches()
	tok := e.iss.Mint(map[string]any{"sub": "s"})
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := e.v.Verify(context.Background(), tok); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := e.iss.JWKSFetches() - before; got != 1 {
		t.Fatalf("JWKS fetched %d times by 20 concurrent callers, want 1", got)
	}
}

func TestJWKSCacheHonoursCacheControl(t *testing.T) {
	tests := []struct {
		header string
		ttl    time.Duration
	}{
		{"public, max-age=300", 300 * time.Second},
		{"max-age=5", oidc.MinCacheTTL},
		{"max-age=999999999", oidc.MaxCacheTTL},
		{"no-store", oidc.MinCacheTTL},
		{"", oidc.DefaultCacheTTL},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			clk := newClock()
			iss := oidctest.NewWithOptions(t, oidctest.Options{Now: clk.Now})
			iss.SetCacheControl(tt.header)
			v := oidc.NewVerifier(oidc.Options{Guard: guardFor(t, iss), Transport: iss.Transport, Now: clk.Now})
			if err := v.Discover(context.Background(), iss.URL); err != nil {
				t.Fatal(err)
			}
			fetches := func() int { return iss.JWKSFetches() }
			clk.Advance(tt.ttl - time.Second)
			mustVerify(t, v, iss.Mint(map[string]any{"sub": "s"}))
			if got := fetches(); got != 1 {
				t.Fatalf("fetched %d times before max-age, want 1", got)
			}
			clk.Advance(time.Second)
			mustVerify(t, v, iss.Mint(map[string]any{"sub": "s"}))
			if got := fetches(); got != 2 {
				t.Fatalf("fetched %d times at max-age, want 2", got)
			}
		})
	}
}

func TestJWKSDownIsUnavailable(t *testing.T) {
	t.Run("503 after the cache expires", func(t *testing.T) {
		e := setup(t, "")
		e.clk.Advance(2 * time.Hour)
		e.iss.SetDown(true)
		tok := e.iss.Mint(map[string]any{"sub": "s"})
		_, err := e.v.Verify(context.Background(), tok)
		wantKind(t, err, errs.Unavailable, tok)
		before := e.iss.JWKSFetches()
		_, err = e.v.Verify(context.Background(), tok) // failures are rate-limited too
		wantKind(t, err, errs.Unavailable, tok)
		if e.iss.JWKSFetches() != before {
			t.Fatal("refetched a failed JWKS within the refetch interval")
		}
		e.iss.SetDown(false)
		e.clk.Advance(oidc.RefetchInterval)
		mustVerify(t, e.v, tok)
	})
	t.Run("connection refused", func(t *testing.T) {
		e := setup(t, "")
		e.clk.Advance(2 * time.Hour)
		tok := e.iss.Mint(map[string]any{"sub": "s"})
		e.iss.Close()
		_, err := e.v.Verify(context.Background(), tok)
		wantKind(t, err, errs.Unavailable, tok)
	})
	t.Run("trusted issuer never reached", func(t *testing.T) {
		clk := newClock()
		iss := oidctest.NewWithOptions(t, oidctest.Options{Now: clk.Now})
		iss.SetDown(true)
		v := oidc.NewVerifier(oidc.Options{Guard: guardFor(t, iss), Transport: iss.Transport, Now: clk.Now})
		if err := v.Trust(iss.URL); err != nil {
			t.Fatal(err)
		}
		tok := iss.Mint(map[string]any{"sub": "s"})
		_, err := v.Verify(context.Background(), tok)
		wantKind(t, err, errs.Unavailable, tok)
		iss.SetDown(false)
		clk.Advance(oidc.RefetchInterval)
		mustVerify(t, v, tok)
	})
}

func TestDiscoverRefusesConfigItCannotVerify(t *testing.T) {
	tests := []struct {
		name  string
		setup func(*oidctest.Issuer)
		kind  errs.Kind
		want  string
	}{
		{"unreachable", func(i *oidctest.Issuer) { i.Close() }, errs.Unavailable, "cannot reach"},
		{"down", func(i *oidctest.Issuer) { i.SetDown(true) }, errs.Unavailable, "answered HTTP status 503"},
		{"no jwks_uri", func(i *oidctest.Issuer) {
			i.EditDiscovery(func(d map[string]any) { delete(d, "jwks_uri") })
		}, errs.Invalid, "no jwks_uri"},
		{"issuer mismatch", func(i *oidctest.Issuer) {
			i.EditDiscovery(func(d map[string]any) { d["issuer"] = "https://evil.example.com" })
		}, errs.Invalid, "names another issuer"},
		{"http jwks_uri", func(i *oidctest.Issuer) {
			i.EditDiscovery(func(d map[string]any) { d["jwks_uri"] = "http://example.com/keys" })
		}, errs.Invalid, "not an https URL"},
		{"HS256 only", func(i *oidctest.Issuer) {
			i.EditDiscovery(func(d map[string]any) { d["id_token_signing_alg_values_supported"] = []string{"HS256"} })
		}, errs.Invalid, "neither RS256 nor ES256"},
		{"no usable keys", func(i *oidctest.Issuer) {
			i.SetJWKSBody([]byte(`{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"},{"kty":"EC","kid":"p384","crv":"P-384","x":"AA","y":"AA"}]}`))
		}, errs.Invalid, "no RS256"},
		{"JWKS not JSON", func(i *oidctest.Issuer) { i.SetJWKSBody([]byte("<html>")) }, errs.Invalid, "not a JSON key set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			iss := oidctest.New(t)
			tt.setup(iss)
			v := oidc.NewVerifier(oidc.Options{Guard: guardFor(t, iss), Transport: iss.Transport})
			err := v.Discover(context.Background(), iss.URL)
			wantKind(t, err, tt.kind, "")
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not say %q", err, tt.want)
			}
			// A refused issuer is not trusted.
			_, err = v.Verify(context.Background(), iss.Mint(map[string]any{"sub": "s"}))
			wantKind(t, err, errs.Unauthenticated, "")
		})
	}
	t.Run("not https", func(t *testing.T) {
		v := oidc.NewVerifier(oidc.Options{})
		for _, iss := range []string{"http://example.com", "example.com", "https://example.com/?q=1", ""} {
			if err := v.Discover(context.Background(), iss); !errs.Is(errs.Invalid, err) {
				t.Errorf("Discover(%q) = %v, want Invalid", iss, err)
			}
		}
	})
}

func TestForgetRefusesIssuer(t *testing.T) {
	e := setup(t, "")
	tok := e.iss.Mint(map[string]any{"sub": "s"})
	mustVerify(t, e.v, tok)
	e.v.Forget(e.iss.URL)
	_, err := e.v.Verify(context.Background(), tok)
	wantKind(t, err, errs.Unauthenticated, tok)
}

func FuzzVerify(f *testing.F) {
	e := setup(f, "")
	sub := map[string]any{"sub": "s"}
	for _, s := range []string{
		e.iss.Mint(sub),
		e.iss.Mint(sub, oidctest.Alg("ES256")),
		e.iss.Mint(sub, oidctest.AlgNone()),
		e.iss.Mint(sub, oidctest.HS256WithPublicKey()),
		e.iss.Mint(sub, oidctest.Tampered(map[string]any{"exp": "x"})),
		e.iss.Mint(map[string]any{"sub": 1, "aud": []any{1, nil}, "exp": 1e300, "nbf": -1}),
		"", ".", "..", "a.b.c", "eyJhbGciOiJSUzI1NiJ9.e30.", "eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYS0xIn0.bnVsbA.AA",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := e.v.Verify(context.Background(), raw)
		if err == nil && (c == nil || c.Issuer != e.iss.URL) {
			t.Fatalf("accepted %q with claims %+v", raw, c)
		}
		if err != nil {
			if k := errs.KindOf(err); k != errs.Unauthenticated && k != errs.Unavailable {
				t.Fatalf("error of kind %d: %v", k, err)
			}
		}
	})
}

// TestRefusalsDoNotTellWhichIssuersAreTrusted: a forged token answers the same whether its
// issuer is trusted (bad signature, unknown kid) or not, so an anonymous caller cannot probe
// which issuers an org registered.
func TestRefusalsDoNotTellWhichIssuersAreTrusted(t *testing.T) {
	e := setup(t, "")
	stranger := oidctest.NewWithOptions(t, oidctest.Options{Now: e.clk.Now}) // never trusted
	sub := map[string]any{"sub": "job-1"}
	for name, tok := range map[string]string{
		"untrusted issuer":                 stranger.Mint(sub),
		"trusted issuer, bad signature":    stranger.Mint(map[string]any{"sub": "job-1", "iss": e.iss.URL}, oidctest.KID(e.iss.RSAKeyID())),
		"trusted issuer, unknown kid":      e.iss.Mint(sub, oidctest.KID("forged")),
		"trusted issuer, tampered payload": e.iss.Mint(sub, oidctest.Tampered(map[string]any{"sub": "admin"})),
		"untrusted issuer, trusted kid":    stranger.Mint(sub, oidctest.KID(e.iss.RSAKeyID())),
		"untrusted issuer, wrong audience": stranger.Mint(map[string]any{"sub": "x", "aud": "elsewhere"}),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := e.v.Verify(context.Background(), tok)
			wantKind(t, err, errs.Unauthenticated, tok)
			var ee *errs.Error
			if !errors.As(err, &ee) || ee.Detail != oidc.NotVerifiedDetail {
				t.Fatalf("refusal %v, want the one refusal %q", err, oidc.NotVerifiedDetail)
			}
			if !strings.Contains(err.Error(), "issuer") {
				t.Errorf("the cause (for the log) names no reason: %v", err)
			}
		})
	}
}

// TestIssuersComeFromTheirSource: an issuer listed by Options.Issuers after the verifier
// started (an identity registered through another server) is trusted on its first token;
// the source is read at most once per SyncInterval however many unknown issuers arrive, and
// an issuer no longer listed is forgotten.
func TestIssuersComeFromTheirSource(t *testing.T) {
	clk := newClock()
	iss := oidctest.NewWithOptions(t, oidctest.Options{Now: clk.Now})
	var mu sync.Mutex
	var listed []string
	reads := 0
	v := oidc.NewVerifier(oidc.Options{Guard: guardFor(t, iss), Transport: iss.Transport, Now: clk.Now, Issuers: func(context.Context) ([]string, error) {
		mu.Lock()
		defer mu.Unlock()
		reads++
		return slices.Clone(listed), nil
	}})
	tok := iss.Mint(map[string]any{"sub": "job"})
	if _, err := v.Verify(context.Background(), tok); err == nil {
		t.Fatal("a token of an issuer nobody registered was accepted")
	}
	mu.Lock()
	listed = []string{iss.URL} // registered elsewhere
	mu.Unlock()
	stranger := oidctest.NewWithOptions(t, oidctest.Options{Now: clk.Now})
	for range 20 {
		v.Verify(context.Background(), stranger.Mint(map[string]any{"sub": "flood"}))
	}
	if reads != 1 {
		t.Fatalf("source read %d times within one interval, want 1", reads)
	}
	clk.Advance(oidc.SyncInterval)
	mustVerify(t, v, tok)
	if reads != 2 {
		t.Fatalf("source read %d times, want 2", reads)
	}
	mustVerify(t, v, iss.Mint(map[string]any{"sub": "job"})) // trusted now: no read
	if reads != 2 {
		t.Fatalf("a trusted issuer's token read the source (%d reads)", reads)
	}
	mu.Lock()
	listed = nil // its identities were deleted
	mu.Unlock()
	clk.Advance(oidc.SyncInterval)
	v.Verify(context.Background(), stranger.Mint(map[string]any{"sub": "x"})) // a miss syncs
	if _, err := v.Verify(context.Background(), iss.Mint(map[string]any{"sub": "job"})); err == nil {
		t.Fatal("an issuer no longer listed is still trusted")
	}
}

// roundTripFunc adapts a function to an http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestIssuerOutageIsNeverUnauthenticated covers the outages in which a token cannot be
// verified for want of keys: the token is not known to be bad, so the error is Unavailable
// with a Retry-After of when the next fetch may be made, never Unauthenticated.
func TestIssuerOutageIsNeverUnauthenticated(t *testing.T) {
	t.Run("new key while the issuer is stopped", func(t *testing.T) {
		e := setup(t, "")
		mustVerify(t, e.v, e.iss.Mint(map[string]any{"sub": "s"}))
		e.clk.Advance(oidc.RefetchInterval)
		e.iss.Rotate() // the issuer signs with a key tarn has not seen
		tok := e.iss.Mint(map[string]any{"sub": "s"})
		e.iss.Close()
		_, err := e.v.Verify(context.Background(), tok) // fetches, fails
		wantKind(t, err, errs.Unavailable, tok)
		if d := errs.RetryAfter(err); d != oidc.RefetchInterval {
			t.Errorf("Retry-After %v right after the failed fetch, want %v", d, oidc.RefetchInterval)
		}
		e.clk.Advance(4 * time.Second)
		_, err = e.v.Verify(context.Background(), tok) // within the refetch interval: no fetch
		wantKind(t, err, errs.Unavailable, tok)
		if d := errs.RetryAfter(err); d != oidc.RefetchInterval-4*time.Second {
			t.Errorf("Retry-After %v 4 s after the failed fetch, want %v", d, oidc.RefetchInterval-4*time.Second)
		}
	})
	t.Run("hanging issuer", func(t *testing.T) {
		clk := newClock()
		iss := oidctest.NewWithOptions(t, oidctest.Options{Now: clk.Now})
		hang := make(chan struct{})
		t.Cleanup(func() { close(hang) })
		v := oidc.NewVerifier(oidc.Options{Guard: guardFor(t, iss), Now: clk.Now, Transport: func(dial netguard.DialFunc) http.RoundTripper {
			next := iss.Transport(dial)
			return roundTripFunc(func(r *http.Request) (*http.Response, error) {
				select {
				case <-hang:
				case <-r.Context().Done():
					return nil, r.Context().Err()
				}
				return next.RoundTrip(r)
			})
		}})
		if err := v.Trust(iss.URL); err != nil {
			t.Fatal(err)
		}
		tok := iss.Mint(map[string]any{"sub": "s"})
		for i := range 2 { // the first starts the fetch, the second joins it
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			_, err := v.Verify(ctx, tok)
			cancel()
			wantKind(t, err, errs.Unavailable, tok)
			if !strings.Contains(err.Error(), "gave up waiting") {
				t.Errorf("verify %d during a hanging fetch: %v", i+1, err)
			}
		}
	})
}
