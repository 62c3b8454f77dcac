// Package oidctest runs an OpenID Connect issuer on httptest for tests. It serves a real
// discovery document and a JWKS over TLS, mints tokens signed with RS256 or ES256, and mints
// the bad tokens that a verifier must refuse (alg none, HS256 keyed with the RSA public key,
// unknown kid, tampered payload). Knobs rotate keys, take the endpoints down, set the JWKS
// Cache-Control header and count fetches.
package oidctest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tarnhq/tarn/internal/netguard"
)

// DefaultAudience is the aud claim Mint sets when the claims do not name one.
const DefaultAudience = "api://tarn"

// Paths under the issuer at which the discovery document and the JWKS are served.
const (
	DiscoveryPath = "/.well-known/openid-configuration"
	JWKSPath      = "/.well-known/jwks.json"
)

// Options configure an Issuer. The zero value is a working issuer named by its server URL.
type Options struct {
	// Issuer is the issuer identifier put in the discovery document and in minted tokens,
	// e.g. "https://login.microsoftonline.com/TENANT/v2.0". Empty means the server's URL.
	// A name other than the server's URL is reachable only through Transport.
	Issuer string
	// Now is the clock used for the iat and exp claims Mint fills in; nil means time.Now.
	Now func() time.Time
}

// Issuer is an OIDC issuer served by httptest. It is safe for concurrent use.
type Issuer struct {
	// URL is the issuer identifier: the iss claim of minted tokens.
	URL string

	srv  *httptest.Server
	host string
	now  func() time.Time

	mu           sync.Mutex
	gen          int
	rsaKey       *rsa.PrivateKey
	ecKey        *ecdsa.PrivateKey
	down         bool
	cacheControl string
	jwksBody     []byte
	editDisc     func(map[string]any)
	jwksFetches  int
	discFetches  int
}

// New starts an issuer named by its server URL and stops it when the test ends.
func New(t testing.TB) *Issuer {
	t.Helper()
	return NewWithOptions(t, Options{})
}

// NewWithOptions starts an issuer configured by o and stops it when the test ends.
func NewWithOptions(t testing.TB, o Options) *Issuer {
	t.Helper()
	i := &Issuer{now: o.Now, cacheControl: "public, max-age=3600"}
	if i.now == nil {
		i.now = time.Now
	}
	i.rotate()
	i.srv = httptest.NewTLSServer(http.HandlerFunc(i.serve))
	t.Cleanup(i.srv.Close)
	u, err := url.Parse(i.srv.URL)
	if err != nil {
		t.Fatalf("oidctest: %v", err)
	}
	i.host = u.Host
	i.URL = o.Issuer
	if i.URL == "" {
		i.URL = i.srv.URL
	}
	return i
}

// HostPort returns "127.0.0.1:PORT", the address the issuer's server listens on: the entry
// that lets a tarn server reach it (tarn serve --allow-endpoint,
// server.Options.AllowEndpoints).
func (i *Issuer) HostPort() string { return i.host }

// Transport returns an HTTP transport that trusts the issuer's TLS certificate, sends the
// requests for the issuer's own host (its name, even a made-up one) to the issuer's server,
// and sends other requests as they are. Every connection is made with dial, normally the
// verifier's guard (netguard.Guard.DialContext), which then sees the server's loopback
// address; nil means a dialer that reaches the issuer's server only. Use it as the
// verifier's Options.Transport.
func (i *Issuer) Transport(dial netguard.DialFunc) http.RoundTripper {
	if dial == nil {
		dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			if addr != i.host {
				return nil, fmt.Errorf("oidctest: no route to %s", addr)
			}
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}
	}
	base := i.srv.Client().Transport.(*http.Transport).Clone()
	base.DialContext = dial
	u, _ := url.Parse(i.URL)
	return rewrite{name: u.Host, host: i.host, next: base}
}

type rewrite struct {
	name, host string
	next       http.RoundTripper
}

func (r rewrite) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host == r.name {
		req = req.Clone(req.Context())
		req.URL.Scheme = "https"
		req.URL.Host = r.host
		req.Host = r.host
	}
	return r.next.RoundTrip(req)
}

// Close stops the server: later fetches fail with connection refused.
func (i *Issuer) Close() { i.srv.Close() }

// SetDown makes the discovery and JWKS endpoints answer 503 while down is true.
func (i *Issuer) SetDown(down bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.down = down
}

// SetCacheControl sets the Cache-Control header of JWKS responses; "" sends none.
// The default is "public, max-age=3600".
func (i *Issuer) SetCacheControl(v string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.cacheControl = v
}

// SetJWKSBody makes the JWKS endpoint answer body instead of the issuer's keys; nil restores
// the keys.
func (i *Issuer) SetJWKSBody(body []byte) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.jwksBody = body
}

// EditDiscovery sets a function that edits each discovery document before it is served,
// e.g. to delete jwks_uri or change issuer; nil serves the document unedited.
func (i *Issuer) EditDiscovery(edit func(doc map[string]any)) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.editDisc = edit
}

// Rotate replaces both signing keys with new ones under new kids; the old keys leave the JWKS.
func (i *Issuer) Rotate() {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.rotate()
}

func (i *Issuer) rotate() {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	i.gen++
	i.rsaKey, i.ecKey = rk, ek
}

// RSAKeyID returns the kid of the current RS256 key.
func (i *Issuer) RSAKeyID() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return fmt.Sprintf("rsa-%d", i.gen)
}

// ECKeyID returns the kid of the current ES256 key.
func (i *Issuer) ECKeyID() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return fmt.Sprintf("ec-%d", i.gen)
}

// JWKSFetches returns how many times the JWKS has been requested.
func (i *Issuer) JWKSFetches() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.jwksFetches
}

// DiscoveryFetches returns how many times the discovery document has been requested.
func (i *Issuer) DiscoveryFetches() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.discFetches
}

func (i *Issuer) base() string { return strings.TrimSuffix(i.URL, "/") }

func (i *Issuer) serve(w http.ResponseWriter, r *http.Request) {
	i.mu.Lock()
	defer i.mu.Unlock()
	var body []byte
	switch {
	case strings.HasSuffix(r.URL.Path, DiscoveryPath):
		i.discFetches++
		if i.down {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		doc := map[string]any{
			"issuer":                                i.URL,
			"jwks_uri":                              i.base() + JWKSPath,
			"id_token_signing_alg_values_supported": []string{"RS256", "ES256"},
			"response_types_supported":              []string{"id_token"},
			"subject_types_supported":               []string{"public"},
		}
		if i.editDisc != nil {
			i.editDisc(doc)
		}
		body, _ = json.Marshal(doc)
	case strings.HasSuffix(r.URL.Path, JWKSPath):
		i.jwksFetches++
		if i.down {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		body = i.jwksBody
		if body == nil {
			body, _ = json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
				{Key: &i.rsaKey.PublicKey, KeyID: fmt.Sprintf("rsa-%d", i.gen), Algorithm: "RS256", Use: "sig"},
				{Key: &i.ecKey.PublicKey, KeyID: fmt.Sprintf("ec-%d", i.gen), Algorithm: "ES256", Use: "sig"},
			}})
		}
		if i.cacheControl != "" {
			w.Header().Set("Cache-Control", i.cacheControl)
		}
	default:
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}

// A MintOption changes how Mint signs a token.
type MintOption func(*mintConfig)

type mintConfig struct {
	alg    string
	kid    string
	none   bool
	hmac   bool
	tamper map[string]any
}

// Alg signs with alg, "RS256" (the default) or "ES256".
func Alg(alg string) MintOption { return func(c *mintConfig) { c.alg = alg } }

// KID puts kid in the header instead of the signing key's kid, e.g. a kid the JWKS lacks.
func KID(kid string) MintOption { return func(c *mintConfig) { c.kid = kid } }

// AlgNone mints an unsigned token with header alg "none" and an empty signature.
func AlgNone() MintOption { return func(c *mintConfig) { c.none = true } }

// HS256WithPublicKey mints a token with alg HS256 whose HMAC secret is the PEM of the RSA
// public key, under the RSA key's kid: the classic algorithm-confusion attack.
func HS256WithPublicKey() MintOption { return func(c *mintConfig) { c.hmac = true } }

// Tampered signs the claims, then replaces the payload with the claims merged with overrides
// (a nil value deletes a claim), keeping the original signature.
func Tampered(overrides map[string]any) MintOption {
	return func(c *mintConfig) { c.tamper = overrides }
}

// Mint returns a compact JWS over claims. Claims iss (the issuer), aud (DefaultAudience),
// iat (now) and exp (now + 5 min) are filled in when absent; a nil value deletes a claim.
// Mint panics if signing fails.
func (i *Issuer) Mint(claims map[string]any, opts ...MintOption) string {
	cfg := mintConfig{alg: "RS256"}
	for _, o := range opts {
		o(&cfg)
	}
	now := i.now()
	c := map[string]any{
		"iss": i.URL,
		"aud": DefaultAudience,
		"iat": now.Unix(),
		"exp": now.Add(5 * time.Minute).Unix(),
	}
	merge(c, claims)
	payload, err := json.Marshal(c)
	if err != nil {
		panic(err)
	}

	i.mu.Lock()
	rk, ek := i.rsaKey, i.ecKey
	rsaKID, ecKID := fmt.Sprintf("rsa-%d", i.gen), fmt.Sprintf("ec-%d", i.gen)
	i.mu.Unlock()

	b64 := base64.RawURLEncoding.EncodeToString
	var tok string
	switch {
	case cfg.none:
		h, _ := json.Marshal(map[string]any{"alg": "none", "typ": "JWT"})
		tok = b64(h) + "." + b64(payload) + "."
	case cfg.hmac:
		kid := rsaKID
		if cfg.kid != "" {
			kid = cfg.kid
		}
		der, err := x509.MarshalPKIXPublicKey(&rk.PublicKey)
		if err != nil {
			panic(err)
		}
		secret := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
		h, _ := json.Marshal(map[string]any{"alg": "HS256", "typ": "JWT", "kid": kid})
		input := b64(h) + "." + b64(payload)
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(input))
		tok = input + "." + b64(m.Sum(nil))
	default:
		var key crypto.Signer
		var alg jose.SignatureAlgorithm
		kid := rsaKID
		switch cfg.alg {
		case "RS256":
			key, alg = rk, jose.RS256
		case "ES256":
			key, alg, kid = ek, jose.ES256, ecKID
		default:
			panic("oidctest: unsupported alg " + cfg.alg)
		}
		if cfg.kid != "" {
			kid = cfg.kid
		}
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
			(&jose.SignerOptions{}).WithType("JWT"))
		if err != nil {
			panic(err)
		}
		jws, err := s.Sign(payload)
		if err != nil {
			panic(err)
		}
		tok, err = jws.CompactSerialize()
		if err != nil {
			panic(err)
		}
	}
	if cfg.tamper != nil {
		merge(c, cfg.tamper)
		p, err := json.Marshal(c)
		if err != nil {
			panic(err)
		}
		parts := strings.Split(tok, ".")
		parts[1] = b64(p)
		tok = strings.Join(parts, ".")
	}
	return tok
}

func merge(dst, src map[string]any) {
	for k, v := range src {
		if v == nil {
			delete(dst, k)
		} else {
			dst[k] = v
		}
	}
}
