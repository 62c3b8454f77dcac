package issuer_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	neturl "net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/issuer"
	"github.com/tarnhq/tarn/internal/pgtest"
	"github.com/tarnhq/tarn/internal/secretbox"
	"github.com/tarnhq/tarn/internal/store"
	"github.com/tarnhq/tarn/internal/store/sqlstore"
	"github.com/tarnhq/tarn/internal/testenv"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const aud = "sts.amazonaws.com"

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// env is an issuer served on 127.0.0.1, as a cloud would reach it.
type env struct {
	iss   *issuer.Issuer
	url   string
	clock *testenv.Clock
	store store.Store
	box   *secretbox.Box
}

func newBox(t *testing.T) *secretbox.Box {
	t.Helper()
	key := make([]byte, secretbox.KeySize)
	rand.Read(key)
	box, err := secretbox.New(key)
	if err != nil {
		t.Fatal(err)
	}
	return box
}

func openSQLite(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlstore.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "tarn.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// serve starts an issuer on st at a new loopback URL.
func serve(t *testing.T, st store.Store, box *secretbox.Box, clock *testenv.Clock) *env {
	t.Helper()
	e := &env{clock: clock, store: st, box: box}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { e.iss.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	e.url = srv.URL
	var err error
	if e.iss, err = issuer.New(issuer.Options{Store: st, Secrets: box, PublicURL: srv.URL, Now: clock.Now}); err != nil {
		t.Fatal(err)
	}
	return e
}

func newEnv(t *testing.T) *env {
	return serve(t, openSQLite(t), newBox(t), testenv.NewClock(t0))
}

func (e *env) mint(t *testing.T, ttl time.Duration) (string, issuer.Claims) {
	t.Helper()
	tok, c, err := e.iss.Mint(t.Context(), "acme", "s3", aud, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok, c
}

// verify checks tok as a cloud does with go-oidc: discovery and the JWKS fetched now from
// the issuer's URL, the token's times judged at at.
func (e *env) verify(t *testing.T, tok string, at time.Time) (*oidc.IDToken, error) {
	t.Helper()
	ctx := oidc.ClientContext(t.Context(), &http.Client{})
	p, err := oidc.NewProvider(ctx, e.url)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	v := p.Verifier(&oidc.Config{ClientID: aud, Now: func() time.Time { return at }, SupportedSigningAlgs: []string{oidc.ES256}})
	return v.Verify(ctx, tok)
}

func TestMintedTokenVerifiesWithGoOIDC(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		ttl, want time.Duration
	}{
		{0, issuer.MaxTTL},
		{time.Minute, issuer.MinTTL},
		{10 * time.Minute, 10 * time.Minute},
		{time.Hour, issuer.MaxTTL},
	}
	for _, tc := range tests {
		tok, c := e.mint(t, tc.ttl)
		idt, err := e.verify(t, tok, t0.Add(time.Minute))
		if err != nil {
			t.Fatalf("ttl %s: go-oidc refused a minted token: %v", tc.ttl, err)
		}
		if idt.Issuer != e.url || idt.Subject != "org:acme:creds-key:s3" || len(idt.Audience) != 1 || idt.Audience[0] != aud {
			t.Errorf("claims iss %q sub %q aud %q", idt.Issuer, idt.Subject, idt.Audience)
		}
		if got := idt.Expiry.Sub(idt.IssuedAt); got != tc.want || !c.Expiry.Equal(idt.Expiry) {
			t.Errorf("ttl %s: lifetime %s (claims say exp %s), want %s", tc.ttl, got, c.Expiry, tc.want)
		}
		hdr := header(t, tok)
		if hdr["alg"] != "ES256" || hdr["typ"] != "JWT" || hdr["kid"] != c.KeyID || c.KeyID == "" {
			t.Errorf("header %v, want alg ES256, typ JWT, kid %q", hdr, c.KeyID)
		}
		if _, err := e.verify(t, tok, c.Expiry.Add(time.Minute)); err == nil {
			t.Errorf("ttl %s: a token verified after it expired", tc.ttl)
		}
	}
	_, c1 := e.mint(t, 0)
	_, c2 := e.mint(t, 0)
	if c1.ID == "" || c1.ID == c2.ID {
		t.Errorf("jti %q and %q: want distinct random IDs", c1.ID, c2.ID)
	}
}

// Tokens for Entra ID are RS256, which is all its workload identity federation supports;
// tokens for other audiences stay ES256. Both verify against the one JWKS.
func TestEntraTokensAreRS256(t *testing.T) {
	e := newEnv(t)
	ctx := oidc.ClientContext(t.Context(), &http.Client{})
	p, err := oidc.NewProvider(ctx, e.url)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ aud, alg string }{{"api://AzureADTokenExchange", "RS256"}, {aud, "ES256"},
		{"https://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/t", "ES256"}} {
		tok, c, err := e.iss.Mint(t.Context(), "acme", "s3", tc.aud, 0)
		if err != nil {
			t.Fatal(err)
		}
		if h := header(t, tok); h["alg"] != tc.alg || h["kid"] != c.KeyID {
			t.Errorf("audience %s: header %v, want alg %s and kid %s", tc.aud, h, tc.alg, c.KeyID)
		}
		v := p.Verifier(&oidc.Config{ClientID: tc.aud, Now: func() time.Time { return t0.Add(time.Minute) }, SupportedSigningAlgs: []string{tc.alg}})
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Errorf("audience %s: %v", tc.aud, err)
		}
	}
}

// A database whose newest generation has no RS256 key (made before RS256 keys were) gets a
// new generation: ES256 tokens keep being signed by the old key, RS256 ones wait for the
// new generation's publish lead and then verify.
func TestGenerationWithoutRS256GetsANewOne(t *testing.T) {
	e := newEnv(t)
	_, old := e.mint(t, 0)
	keys, err := e.store.IssuerKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	es := openSQLite(t)
	for _, k := range keys {
		if k.Alg == "ES256" {
			if err := es.AddIssuerKeys(t.Context(), []store.IssuerKey{k}); err != nil {
				t.Fatal(err)
			}
		}
	}
	e = serve(t, es, e.box, e.clock)
	if _, _, err := e.iss.Mint(t.Context(), "acme", "az", "api://AzureADTokenExchange", 0); !errs.Is(errs.Unavailable, err) || !strings.Contains(err.Error(), "RS256") {
		t.Fatalf("an RS256 token before an RS256 key signs: %v, want Unavailable naming RS256", err)
	}
	if _, c := e.mint(t, 0); c.KeyID != old.KeyID {
		t.Errorf("ES256 token signed by %s, want the old key %s until the new generation signs", c.KeyID, old.KeyID)
	}
	if ks := kids(t, e); len(ks) != 3 {
		t.Errorf("JWKS %q, want the new generation's two keys and the old ES256 key", ks)
	}
	e.clock.Advance(issuer.DefaultPublishLead)
	if tok, _, err := e.iss.Mint(t.Context(), "acme", "az", "api://AzureADTokenExchange", 0); err != nil || header(t, tok)["alg"] != "RS256" {
		t.Fatalf("RS256 token after the publish lead: %v", err)
	}
}

func header(t *testing.T, tok string) map[string]any {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

func kids(t *testing.T, e *env) []string {
	t.Helper()
	set, err := e.iss.JWKS(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, k := range set.Keys {
		if !k.IsPublic() {
			t.Fatalf("the JWKS holds a private key %s", k.KeyID)
		}
		ids = append(ids, k.KeyID)
	}
	return ids
}

func TestScheduledRotationPublishesBeforeSigningAndRetiresAfterExpiry(t *testing.T) {
	e := newEnv(t)
	tokA, a := e.mint(t, 0)

	e.clock.Advance(issuer.DefaultRotation)
	tokB, b := e.mint(t, 0) // rotation is due: a new key is made, but the old one still signs
	if b.KeyID != a.KeyID {
		t.Fatalf("the new key signed at once; it must be published for %s first", issuer.DefaultPublishLead)
	}
	ks := kids(t, e)
	if len(ks) != 4 || ks[2] != a.KeyID {
		t.Fatalf("JWKS after rotation %q, want the new ES256 and RS256 keys, then %q and its RS256 key", ks, a.KeyID)
	}
	newKid := ks[0]

	e.clock.Advance(issuer.DefaultPublishLead)
	tokC, c := e.mint(t, 0)
	if c.KeyID != newKid {
		t.Fatalf("after the publish lead the token is signed by %q, want the new key %q", c.KeyID, newKid)
	}
	for _, tc := range []struct {
		name string
		tok  string
		c    issuer.Claims
	}{{"A (old key)", tokA, a}, {"B (old key, after rotation)", tokB, b}, {"C (new key)", tokC, c}} {
		if _, err := e.verify(t, tc.tok, tc.c.IssuedAt.Add(time.Minute)); err != nil {
			t.Errorf("token %s, judged before it expired: %v", tc.name, err)
		}
	}

	// The old key signed until the new one took over: it stays until its last token expired.
	retired := e.clock.Now()
	e.clock.Advance(issuer.MaxTTL + issuer.RetireMargin - time.Second)
	if ks := kids(t, e); len(ks) != 4 {
		t.Fatalf("JWKS %q: the old keys left while a token they signed could still be valid", ks)
	}
	if _, err := e.verify(t, tokB, b.IssuedAt.Add(time.Minute)); err != nil {
		t.Errorf("token B while its key is still published: %v", err)
	}
	e.clock.Advance(time.Second)
	if ks := kids(t, e); len(ks) != 2 || ks[0] != newKid {
		t.Fatalf("JWKS %q at %s after retirement, want only %q and its RS256 key", ks, e.clock.Now().Sub(retired), newKid)
	}
	// Judged at a time when it had not expired, a token of a key that left the JWKS fails.
	if _, err := e.verify(t, tokB, b.IssuedAt.Add(time.Minute)); err == nil {
		t.Error("a token signed by a key that left the JWKS verified")
	}
}

func TestRotateOnDemand(t *testing.T) {
	e := newEnv(t)
	firsts, err := e.iss.Rotate(t.Context()) // a fresh issuer: the first keys sign at once
	if err != nil {
		t.Fatal(err)
	}
	if len(firsts) != 2 || firsts[0].Alg != "ES256" || firsts[1].Alg != "RS256" {
		t.Fatalf("first generation %+v: want an ES256 and an RS256 key", firsts)
	}
	first := firsts[0]
	if !first.NotBefore.Equal(t0) || first.Private != nil || firsts[1].Private != nil {
		t.Fatalf("first key %+v: want it usable at once and without its private part", first)
	}
	nexts, err := e.iss.Rotate(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	next := nexts[0]
	if next.Generation != 2 || !next.NotBefore.Equal(t0.Add(issuer.DefaultPublishLead)) || next.Alg != "ES256" {
		t.Fatalf("rotated key %+v: want generation 2's ES256 key, signing after the publish lead", next)
	}
	if _, c := e.mint(t, 0); c.KeyID != first.ID {
		t.Errorf("signed by %s before the lead, want %s", c.KeyID, first.ID)
	}
	e.clock.Advance(issuer.DefaultPublishLead)
	if _, c := e.mint(t, 0); c.KeyID != next.ID {
		t.Errorf("signed by %s after the lead, want %s", c.KeyID, next.ID)
	}
}

func TestConcurrentRotationsMakeOneKey(t *testing.T) {
	st, box, clock := openSQLite(t), newBox(t), testenv.NewClock(t0)
	a, b := serve(t, st, box, clock), serve(t, st, box, clock)
	a.mint(t, 0)
	clock.Advance(issuer.DefaultRotation)
	var wg sync.WaitGroup
	for _, e := range []*env{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := e.iss.Mint(context.Background(), "acme", "s3", aud, 0); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	keys, err := st.IssuerKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 4 {
		t.Fatalf("%d keys after concurrent due rotations, want 4 (two generations of ES256 and RS256)", len(keys))
	}
}

func TestForgedTokensFail(t *testing.T) {
	e := newEnv(t)
	tok, c := e.mint(t, 0)
	now := e.clock.Now()
	claims := jwt.Claims{Issuer: e.url, Subject: c.Subject, Audience: jwt.Audience{aud}, ID: "x",
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(10 * time.Minute))}

	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherSigner, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: other, KeyID: c.KeyID}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := jwt.Signed(otherSigner).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	payload := base64.RawURLEncoding.EncodeToString(mustJSON(t, claims))
	algNone := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT","kid":"`+c.KeyID+`"}`)) + "." + payload + "."
	parts := strings.Split(tok, ".")
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(mustJSON(t, map[string]any{
		"iss": e.url, "sub": "org:acme:creds-key:prod", "aud": aud, "iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()})) + "." + parts[2]

	// The same keys, another issuer URL: a token tarn signed for a different issuer.
	elsewhere, err := issuer.New(issuer.Options{Store: e.store, Secrets: e.box, PublicURL: "https://other.example", Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	wrongIss, _, err := elsewhere.Mint(t.Context(), "acme", "s3", aud, 0)
	if err != nil {
		t.Fatal(err)
	}
	wrongAud, _, err := e.iss.Mint(t.Context(), "acme", "s3", "https://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/t", 0)
	if err != nil {
		t.Fatal(err)
	}

	for name, forged := range map[string]string{
		"another key under tarn's kid":      otherKey,
		"alg none":                          algNone,
		"another subject, tarn's signature": tampered,
		"wrong iss":                         wrongIss,
		"wrong aud":                         wrongAud,
	} {
		if _, err := e.verify(t, forged, now); err == nil {
			t.Errorf("%s: verified", name)
		}
	}
	if _, err := e.verify(t, tok, now); err != nil {
		t.Fatalf("the genuine token: %v", err)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEndpoints(t *testing.T) {
	e := newEnv(t)
	get := func(method, path string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, e.url+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, body := get("GET", issuer.DiscoveryPath)
	var d map[string]any
	if err := json.Unmarshal([]byte(body), &d); err != nil || resp.StatusCode != 200 {
		t.Fatalf("discovery: %d %s", resp.StatusCode, body)
	}
	want := map[string]any{"issuer": e.url, "jwks_uri": e.url + issuer.JWKSPath,
		"id_token_signing_alg_values_supported": []any{"ES256", "RS256"}, "response_types_supported": []any{"id_token"},
		"subject_types_supported": []any{"public"}}
	for k, v := range want {
		if got := mustJSON(t, d[k]); string(got) != string(mustJSON(t, v)) {
			t.Errorf("discovery %s = %s, want %s", k, got, mustJSON(t, v))
		}
	}
	resp, body = get("GET", issuer.JWKSPath)
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "public, max-age=300" || strings.Contains(body, `"d"`) {
		t.Errorf("JWKS: %d, Cache-Control %q, body %s", resp.StatusCode, resp.Header.Get("Cache-Control"), body)
	}
	if resp, _ := get("POST", issuer.JWKSPath); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST JWKS: %d, want 405", resp.StatusCode)
	}
	if resp, _ := get("GET", "/.well-known/other"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("another path: %d, want 404", resp.StatusCode)
	}
}

func TestCheckPublicURL(t *testing.T) {
	tests := []struct {
		url string
		ok  bool
	}{
		{"https://tarn.example.com", true},
		{"https://tarn.example.com/tarn", true},
		{"http://127.0.0.1:7777", true},
		{"http://127.9.9.9", true},
		{"http://[::1]:7777", true},
		{"http://localhost:7777", true},
		{"http://tarn.example.com", false},
		{"http://10.0.0.1", false},
		{"http://0.0.0.0:7777", false},
		{"http://localhost.example.com", false},
		{"ftp://tarn.example.com", false},
		{"tarn.example.com", false},
		{"https://tarn.example.com?x=1", false},
		{"https://u:p@tarn.example.com", false},
		{"", false},
	}
	for _, tc := range tests {
		if err := issuer.CheckPublicURL(tc.url); (err == nil) != tc.ok {
			t.Errorf("CheckPublicURL(%q) = %v, want ok %v", tc.url, err, tc.ok)
		}
	}
}

func TestTwoServersOnOnePostgresPublishTheSameJWKS(t *testing.T) {
	url := pgtest.URL(t)
	box, clock := newBox(t), testenv.NewClock(t0)
	var envs []*env
	for range 2 {
		st, err := sqlstore.OpenPostgres(t.Context(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		envs = append(envs, serve(t, st, box, clock))
	}
	tok, _ := envs[0].mint(t, 0) // the first server makes the first key
	clock.Advance(issuer.DefaultRotation)
	envs[1].mint(t, 0) // the second server rotates
	a, b := kids(t, envs[0]), kids(t, envs[1])
	if len(a) != 4 || strings.Join(a, ",") != strings.Join(b, ",") {
		t.Fatalf("JWKS of the servers: %q and %q, want the same four keys (two generations of ES256 and RS256)", a, b)
	}
	// A token of the first server verifies against the second's JWKS.
	ctx := oidc.ClientContext(t.Context(), &http.Client{})
	keys := oidc.NewRemoteKeySet(ctx, envs[1].url+issuer.JWKSPath)
	v := oidc.NewVerifier(envs[0].url, keys, &oidc.Config{ClientID: aud, Now: func() time.Time { return t0.Add(time.Minute) },
		SupportedSigningAlgs: []string{oidc.ES256}})
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatalf("the first server's token against the second's JWKS: %v", err)
	}
}

// FuzzCheckPublicURL checks that an accepted public URL is https, or http of a loopback host.
func FuzzCheckPublicURL(f *testing.F) {
	for _, s := range []string{"https://tarn.example.com", "http://127.0.0.1:7777", "http://[::1]", "http://localhost",
		"http://LOCALHOST.", "http://127.0.0.1.nip.io", "http://0x7f.1", "HTTP://tarn.example.com", "http://[::ffff:127.0.0.1]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if issuer.CheckPublicURL(s) != nil {
			return
		}
		u, err := neturl.Parse(s)
		if err != nil {
			t.Fatalf("accepted %q, which does not parse: %v", s, err)
		}
		if u.Scheme == "https" {
			return
		}
		h := u.Hostname()
		if ip := net.ParseIP(h); (ip == nil || !ip.IsLoopback()) && !strings.EqualFold(h, "localhost") {
			t.Fatalf("accepted %q: http:// of a host that is not loopback (%q)", s, h)
		}
	})
}
