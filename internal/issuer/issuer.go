// Package issuer makes tarn an OpenID Connect issuer: it keeps signing keys in the
// database, sealed under the master key and shared by every server, rotates them, publishes
// discovery and the JWKS at the public URL, and mints short-lived tokens whose subject names
// one creds key of one org, so that a cloud's trust policy can trust exactly that key.
//
// Each generation of keys holds an ES256 key, which signs tokens for every cloud but one,
// and an RS256 key for tokens to Entra ID (audience api://AzureADTokenExchange), which
// supports only RS256 for workload identity federation (see Alg).
//
// A new key is published before it signs: it only signs once it has been in the JWKS for
// Options.PublishLead, so that no verifier caching the JWKS meets a kid it does not know.
// The first key of a fresh database signs at once. A replaced key stays in the JWKS until
// every token it could have signed has expired.
package issuer

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/secretbox"
	"github.com/tarnhq/tarn/internal/store"
	"github.com/tarnhq/tarn/location"
)

// Paths of the endpoints, relative to the public URL.
const (
	DiscoveryPath = "/.well-known/openid-configuration"
	JWKSPath      = "/.well-known/jwks.json"
)

// Lifetimes and schedule.
const (
	// MinTTL and MaxTTL bound the lifetime of a minted token.
	MinTTL = 5 * time.Minute
	MaxTTL = 15 * time.Minute
	// DefaultRotation is how long a key is the newest before a new one is made (tarn serve
	// --issuer-key-rotation).
	DefaultRotation = 30 * 24 * time.Hour
	// DefaultPublishLead is how long a new key is published before it signs.
	DefaultPublishLead = time.Hour
	// RetireMargin is how long, beyond MaxTTL, a replaced key stays in the JWKS: room for
	// clocks that disagree.
	RetireMargin = 5 * time.Minute
	// CacheMaxAge is the max-age, in seconds, of the answers of the endpoints.
	CacheMaxAge = 300
)

// AuditAction is the audit action of a minted token; see AuditRecord.
const AuditAction = "issuer.token"

// sealContext binds a sealed private key to its kid.
const sealContext = "tarn issuer key "

// Options configure an Issuer. Store, Secrets and PublicURL are required.
type Options struct {
	Store   store.Store
	Secrets *secretbox.Box
	// PublicURL is the issuer identifier, used exactly as given as iss and as the base of
	// the endpoints; see CheckPublicURL.
	PublicURL string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rotation is how long a key is the newest before the next mint or JWKS read makes a
	// new one; zero means DefaultRotation.
	Rotation time.Duration
	// PublishLead is how long a new key is published before it signs; zero means
	// DefaultPublishLead.
	PublishLead time.Duration
}

// Issuer mints tokens and serves discovery and the JWKS. It is safe for concurrent use,
// also by several servers on one database.
type Issuer struct {
	o    Options
	mu   sync.Mutex
	keys map[string]crypto.Signer // opened private keys by kid
}

// Algs are the signing algorithms of each generation of keys.
var Algs = []jose.SignatureAlgorithm{jose.ES256, jose.RS256}

// rsaBits is the size of RS256 keys.
const rsaBits = 2048

// Alg returns the algorithm of tokens for audience: RS256 for Entra ID
// (api://AzureADTokenExchange), whose workload identity federation supports only RS256;
// ES256, smaller and faster, for every other audience.
func Alg(audience string) jose.SignatureAlgorithm {
	if audience == api.AudienceAzure {
		return jose.RS256
	}
	return jose.ES256
}

// New returns an Issuer. It fails if PublicURL is not acceptable (CheckPublicURL).
func New(o Options) (*Issuer, error) {
	if err := CheckPublicURL(o.PublicURL); err != nil {
		return nil, err
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rotation <= 0 {
		o.Rotation = DefaultRotation
	}
	if o.PublishLead <= 0 {
		o.PublishLead = DefaultPublishLead
	}
	return &Issuer{o: o, keys: map[string]crypto.Signer{}}, nil
}

// CheckPublicURL returns an error unless s is an absolute https:// URL, or an http:// URL
// of a loopback host (127.0.0.0/8, ::1, localhost), without query or fragment.
func CheckPublicURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("--public-url %q: give an absolute https:// URL without query, such as https://tarn.example.com", s)
	}
	if u.Scheme == "http" && !loopback(u.Hostname()) {
		return fmt.Errorf("--public-url %q: clouds only trust an issuer at an https:// URL; http:// is accepted only for a loopback host (127.0.0.1, ::1, localhost)", s)
	}
	return nil
}

func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// URL returns the issuer identifier: the public URL, the iss of every token.
func (i *Issuer) URL() string { return i.o.PublicURL }

// Subject returns the subject of tokens minted for creds key credsKey of org.
func Subject(org, credsKey string) string { return "org:" + org + ":creds-key:" + credsKey }

// Claims are the claims of a minted token, and the kid of the key that signed it.
type Claims struct {
	Issuer    string
	Subject   string
	Audience  string
	ID        string // jti
	KeyID     string
	IssuedAt  time.Time
	NotBefore time.Time
	Expiry    time.Time
}

// AuditRecord returns the audit record of a token minted for creds key credsKey of org:
// the caller adds who asked and stores it. It names the audience and the jti, never the
// token.
func AuditRecord(org, credsKey string, c Claims) store.AuditRecord {
	return store.AuditRecord{Org: org, Action: AuditAction, Target: "creds-key:" + org + "/" + credsKey, Result: "ok",
		Detail: fmt.Sprintf("audience %s, jti %s, kid %s, expires %s", c.Audience, c.ID, c.KeyID, c.Expiry.UTC().Format(time.RFC3339))}
}

// Mint returns a token for creds key credsKey of org with audience audience, signed by
// the current key of the audience's algorithm (Alg) (making the first key, or the next one when rotation is due). Its
// lifetime is ttl clamped to MinTTL..MaxTTL; zero means MaxTTL. It returns an error of
// kind Invalid for an empty audience or a bad name.
func (i *Issuer) Mint(ctx context.Context, org, credsKey, audience string, ttl time.Duration) (string, Claims, error) {
	if err := location.CheckName("org", org); err != nil {
		return "", Claims{}, errs.Wrap(errs.Invalid, err, err.Error())
	}
	if err := location.CheckName("creds key", credsKey); err != nil {
		return "", Claims{}, errs.Wrap(errs.Invalid, err, err.Error())
	}
	if audience == "" {
		return "", Claims{}, errs.E(errs.Invalid, "a token needs an audience: name the cloud's, such as sts.amazonaws.com")
	}
	if ttl <= 0 {
		ttl = MaxTTL
	}
	ttl = min(max(ttl, MinTTL), MaxTTL)
	keys, err := i.current(ctx)
	if err != nil {
		return "", Claims{}, err
	}
	now := i.o.Now()
	alg := Alg(audience)
	k, ok := signer(keys, alg, now)
	if !ok {
		return "", Claims{}, errs.E(errs.Unavailable, "no %s issuer key signs yet at %s: a new key signs %s after it is published (or is this server's clock behind the others'?)",
			alg, now.UTC().Format(time.RFC3339), i.o.PublishLead)
	}
	priv, err := i.open(k)
	if err != nil {
		return "", Claims{}, err
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: priv, KeyID: k.ID}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", Claims{}, fmt.Errorf("issuer signer: %w", err)
	}
	jti := make([]byte, 16)
	rand.Read(jti)
	c := Claims{Issuer: i.o.PublicURL, Subject: Subject(org, credsKey), Audience: audience,
		ID: base64.RawURLEncoding.EncodeToString(jti), KeyID: k.ID,
		IssuedAt: now.Truncate(time.Second), NotBefore: now.Truncate(time.Second), Expiry: now.Add(ttl).Truncate(time.Second)}
	tok, err := jwt.Signed(sig).Claims(jwt.Claims{Issuer: c.Issuer, Subject: c.Subject, Audience: jwt.Audience{c.Audience},
		ID: c.ID, IssuedAt: jwt.NewNumericDate(c.IssuedAt), NotBefore: jwt.NewNumericDate(c.NotBefore),
		Expiry: jwt.NewNumericDate(c.Expiry)}).Serialize()
	if err != nil {
		return "", Claims{}, fmt.Errorf("sign issuer token: %w", err)
	}
	return tok, c, nil
}

// Rotate adds a new generation of keys now, whatever the schedule says; they sign after
// the publish lead (at once if they are the first). Of servers rotating at once, one adds
// the keys and the others return them. It returns the new keys, one per algorithm, without
// their private parts.
func (i *Issuer) Rotate(ctx context.Context) ([]store.IssuerKey, error) {
	keys, err := i.o.Store.IssuerKeys(ctx)
	if err != nil {
		return nil, err
	}
	if keys, err = i.add(ctx, keys); err != nil {
		return nil, err
	}
	var gen []store.IssuerKey
	for _, k := range keys {
		if k.Generation == keys[0].Generation {
			k.Private = nil
			gen = append(gen, k)
		}
	}
	return gen, nil
}

// JWKS returns the published public keys: the current one, the ones waiting to sign and
// the replaced ones whose tokens may not have expired yet, newest first.
func (i *Issuer) JWKS(ctx context.Context) (jose.JSONWebKeySet, error) {
	keys, err := i.current(ctx)
	if err != nil {
		return jose.JSONWebKeySet{}, err
	}
	now := i.o.Now()
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	for _, k := range keys {
		if !k.RetiredAt.IsZero() && !now.Before(k.RetiredAt.Add(MaxTTL+RetireMargin)) {
			continue
		}
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(k.Public); err != nil {
			return jose.JSONWebKeySet{}, fmt.Errorf("issuer key %s: %w", k.ID, err)
		}
		set.Keys = append(set.Keys, jwk)
	}
	return set, nil
}

// Discovery is the OpenID Provider metadata the issuer publishes.
type Discovery struct {
	Issuer          string   `json:"issuer"`
	JWKSURI         string   `json:"jwks_uri"`
	SigningAlgs     []string `json:"id_token_signing_alg_values_supported"`
	ResponseTypes   []string `json:"response_types_supported"`
	SubjectTypes    []string `json:"subject_types_supported"`
	ClaimsSupported []string `json:"claims_supported"`
}

// Discovery returns the issuer's metadata.
func (i *Issuer) Discovery() Discovery {
	return Discovery{Issuer: i.o.PublicURL, JWKSURI: strings.TrimSuffix(i.o.PublicURL, "/") + JWKSPath,
		SigningAlgs: []string{string(jose.ES256), string(jose.RS256)}, ResponseTypes: []string{"id_token"}, SubjectTypes: []string{"public"},
		ClaimsSupported: []string{"iss", "sub", "aud", "iat", "nbf", "exp", "jti"}}
}

// ServeHTTP answers GET and HEAD of DiscoveryPath and JWKSPath, cacheable for CacheMaxAge
// seconds, and 404 for every other path.
func (i *Issuer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body any
	switch r.URL.Path {
	case DiscoveryPath:
		body = i.Discovery()
	case JWKSPath:
		set, err := i.JWKS(r.Context())
		if err != nil {
			http.Error(w, "the issuer's keys cannot be read now; try again", errs.Status(errs.KindOf(err)))
			return
		}
		body = set
	default:
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "only GET and HEAD", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", fmt.Sprintf("public, max-age=%d", CacheMaxAge))
	json.NewEncoder(w).Encode(body)
}

// current returns the keys, newest first, after making the first generation, or the next
// one if rotation is due or the newest lacks an algorithm (a database from before RS256).
func (i *Issuer) current(ctx context.Context) ([]store.IssuerKey, error) {
	keys, err := i.o.Store.IssuerKeys(ctx)
	if err != nil {
		return nil, err
	}
	if len(keys) > 0 && i.o.Now().Before(keys[0].CreatedAt.Add(i.o.Rotation)) && complete(keys) {
		return keys, nil
	}
	return i.add(ctx, keys)
}

// complete reports whether the newest generation of keys holds a key of every algorithm.
func complete(keys []store.IssuerKey) bool {
	n := 0
	for _, k := range keys {
		if k.Generation == keys[0].Generation {
			n++
		}
	}
	return n == len(Algs)
}

// add adds the generation after keys[0]'s (the first if keys is empty), one key per
// algorithm, and returns the keys, newest first. When another server added that generation
// first, it returns the keys with that server's.
func (i *Issuer) add(ctx context.Context, keys []store.IssuerKey) ([]store.IssuerKey, error) {
	now := i.o.Now()
	gen := store.IssuerKey{Generation: 1, CreatedAt: now, NotBefore: now}
	if len(keys) > 0 {
		gen.Generation = keys[0].Generation + 1
		gen.NotBefore = now.Add(i.o.PublishLead)
	}
	var add []store.IssuerKey
	for _, alg := range Algs {
		k, err := i.generate(gen, alg)
		if err != nil {
			return nil, err
		}
		add = append(add, k)
	}
	if err := i.o.Store.AddIssuerKeys(ctx, add); err != nil && !errs.Is(errs.Conflict, err) {
		return nil, err
	}
	keys, err := i.o.Store.IssuerKeys(ctx)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, errs.E(errs.Internal, "the issuer keys just added are missing")
	}
	return keys, nil
}

// generate returns a new key of alg for generation gen, its private part sealed.
func (i *Issuer) generate(gen store.IssuerKey, alg jose.SignatureAlgorithm) (store.IssuerKey, error) {
	var (
		priv crypto.Signer
		err  error
	)
	if alg == jose.RS256 {
		priv, err = rsa.GenerateKey(rand.Reader, rsaBits)
	} else {
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		return store.IssuerKey{}, fmt.Errorf("generate %s issuer key: %w", alg, err)
	}
	k := gen
	k.Alg = string(alg)
	jwk := jose.JSONWebKey{Key: priv.Public(), Algorithm: k.Alg, Use: "sig"}
	thumb, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return store.IssuerKey{}, fmt.Errorf("issuer key thumbprint: %w", err)
	}
	k.ID = base64.RawURLEncoding.EncodeToString(thumb)
	jwk.KeyID = k.ID
	if k.Public, err = jwk.MarshalJSON(); err != nil {
		return store.IssuerKey{}, fmt.Errorf("issuer public key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return store.IssuerKey{}, fmt.Errorf("issuer private key: %w", err)
	}
	k.Private = i.o.Secrets.Seal(der, sealContext+k.ID)
	return k, nil
}

// signer returns the key of alg that signs at now: the newest whose NotBefore has come.
func signer(keys []store.IssuerKey, alg jose.SignatureAlgorithm, now time.Time) (store.IssuerKey, bool) {
	for _, k := range keys {
		if k.Alg == string(alg) && !now.Before(k.NotBefore) {
			return k, true
		}
	}
	return store.IssuerKey{}, false
}

// open returns k's private key, opening it once per kid.
func (i *Issuer) open(k store.IssuerKey) (crypto.Signer, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if priv, ok := i.keys[k.ID]; ok {
		return priv, nil
	}
	der, err := i.o.Secrets.Open(k.Private, sealContext+k.ID)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, fmt.Errorf("open issuer key %s: %w", k.ID, err),
			"the issuer's signing key does not decrypt: every server on one database needs the same master key")
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	priv, ok := parsed.(crypto.Signer)
	if err != nil || !ok {
		return nil, errs.E(errs.Internal, "issuer key %s is not a private key", k.ID)
	}
	i.keys[k.ID] = priv
	return priv, nil
}
