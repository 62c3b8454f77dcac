// Package oidc verifies the signed tokens that workloads present in place of a tarn API token:
// Azure managed identities, GitHub Actions, Kubernetes service accounts and any OIDC issuer.
//
// A Verifier checks a token's signature against its issuer's JWKS and its standard claims
// (iss, aud, exp, nbf, iat); a rule of one issuer family (AzureRule, GitHubRule,
// KubernetesRule, GenericRule) then decides whether the verified claims belong to one
// registered identity. Only RS256 and ES256 are accepted.
package oidc

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/netguard"
)

// DefaultAudience is the audience a Verifier requires when Options.Audience is empty.
const DefaultAudience = "api://tarn"

// MaxLeeway is the default and the largest clock skew allowed on exp, nbf and iat.
const MaxLeeway = 60 * time.Second

// maxTokenSize bounds the raw tokens Verify looks at.
const maxTokenSize = 16 << 10

var allowedAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.ES256}

// Options configure a Verifier. The zero value is usable.
type Options struct {
	// Audience is the only aud a token may carry; empty means DefaultAudience.
	Audience string
	// Guard checks every connection that fetches a discovery document or a JWKS, redirects
	// and jwks_uri hosts included; nil means a guard that allows public addresses only.
	// Fetches time out after 10 s and follow redirects only to https URLs.
	Guard *netguard.Guard
	// Transport, when set, builds the transport of those fetches around the guard's dial
	// function; tests route fetches to a stand-in issuer with it (oidctest.Issuer.Transport),
	// and every connection still passes Guard.
	Transport func(dial netguard.DialFunc) http.RoundTripper
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Leeway is the clock skew allowed on exp, nbf and iat. Zero means MaxLeeway, larger
	// values are cut to MaxLeeway and a negative value means none.
	Leeway time.Duration
	// Issuers, when set, lists the issuers to trust (those of the registered workload
	// identities, e.g. store.Store.Issuers). The Verifier reads it when a token names an
	// issuer it does not trust yet, at most once per SyncInterval, so an identity registered
	// through another server is trusted here on its first token.
	Issuers func(context.Context) ([]string, error)
}

// SyncInterval is how often, at most, a Verifier reads Options.Issuers.
const SyncInterval = time.Second

// Verifier verifies workload tokens from the issuers it has discovered or been told to trust.
// It is safe for concurrent use.
type Verifier struct {
	audience string
	client   *http.Client
	now      func() time.Time
	leeway   time.Duration

	mu   sync.Mutex
	sets map[string]*keySet // by issuer

	issuers  func(context.Context) ([]string, error)
	syncMu   sync.Mutex // held while reading issuers
	lastSync time.Time
}

// NewVerifier returns a Verifier that trusts no issuer yet.
func NewVerifier(o Options) *Verifier {
	v := &Verifier{audience: o.Audience, now: o.Now, leeway: o.Leeway, sets: map[string]*keySet{}, issuers: o.Issuers}
	if v.audience == "" {
		v.audience = DefaultAudience
	}
	// Org admins choose issuers: never let one point the server at an internal service or
	// its cloud's metadata service, directly, through jwks_uri or through a redirect.
	g := o.Guard
	if g == nil {
		g = &netguard.Guard{}
	}
	v.client = g.Client(netguard.ClientOptions{Timeout: fetchTimeout, HTTPSOnly: true, Transport: o.Transport})
	if v.now == nil {
		v.now = time.Now
	}
	switch {
	case v.leeway == 0 || v.leeway > MaxLeeway:
		v.leeway = MaxLeeway
	case v.leeway < 0:
		v.leeway = 0
	}
	return v
}

// Audience returns the audience tokens must carry.
func (v *Verifier) Audience() string { return v.audience }

// Discover fetches issuer's discovery document and JWKS now and, if both can be used, trusts
// issuer from then on, replacing any earlier state for it. It returns an error of kind Invalid
// when issuer is not an https URL, the document has no jwks_uri or names another issuer, the
// JWKS holds no RS256 or ES256 signing key, or the guard refuses the address of either
// (the detail then names the flag that allows it), and of kind Unavailable when either
// cannot be fetched. Details never repeat what the issuer answered.
func (v *Verifier) Discover(ctx context.Context, issuer string) error {
	if err := checkIssuer(issuer); err != nil {
		return err
	}
	s := newKeySet(v, issuer)
	s.lastAttempt = v.now()
	keys, ttl, err := s.fetch(ctx)
	if err != nil {
		return err
	}
	s.install(keys, ttl)
	v.mu.Lock()
	v.sets[issuer] = s
	v.mu.Unlock()
	return nil
}

// Trust makes v accept tokens from issuer without fetching anything now: discovery happens
// on the first token from issuer, and failures then are of kind Unavailable. Trusting an
// issuer already trusted keeps its cached keys. It returns an error of kind Invalid when
// issuer is not an https URL.
func (v *Verifier) Trust(issuer string) error {
	if err := checkIssuer(issuer); err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.sets[issuer] == nil {
		v.sets[issuer] = newKeySet(v, issuer)
	}
	return nil
}

// Forget makes v refuse tokens from issuer and drops its cached keys.
func (v *Verifier) Forget(issuer string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.sets, issuer)
}

// keySet returns the state of issuer if v trusts it. For an issuer it does not trust, it
// first reads Options.Issuers, unless that was read less than SyncInterval ago (concurrent
// callers share one read): issuers listed there are trusted from then on (their keys are
// fetched on first use) and issuers no longer listed are forgotten.
func (v *Verifier) keySet(ctx context.Context, issuer string) (*keySet, error) {
	v.mu.Lock()
	s := v.sets[issuer]
	v.mu.Unlock()
	if s != nil || v.issuers == nil {
		return s, nil
	}
	v.syncMu.Lock()
	defer v.syncMu.Unlock()
	if now := v.now(); v.lastSync.IsZero() || now.Sub(v.lastSync) >= SyncInterval {
		list, err := v.issuers(ctx)
		if err != nil {
			return nil, err
		}
		v.lastSync = now
		v.mu.Lock()
		listed := map[string]bool{}
		for _, iss := range list {
			if checkIssuer(iss) != nil {
				continue
			}
			listed[iss] = true
			if v.sets[iss] == nil {
				v.sets[iss] = newKeySet(v, iss)
			}
		}
		for iss := range v.sets {
			if !listed[iss] {
				delete(v.sets, iss)
			}
		}
		v.mu.Unlock()
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.sets[issuer], nil
}

// Claims are the claims of a verified token.
type Claims struct {
	Issuer    string
	Subject   string
	Audience  []string
	Expiry    time.Time
	NotBefore time.Time // zero if absent
	IssuedAt  time.Time // zero if absent
	// All holds every claim as decoded from JSON, numbers as json.Number.
	All map[string]any
}

// StringClaim returns the claim name if it is a JSON string.
func (c *Claims) StringClaim(name string) (string, bool) {
	s, ok := c.All[name].(string)
	return s, ok
}

// Verify checks rawJWT, a compact JWS, and returns its claims. The token must be signed with
// RS256 or ES256 by a key in the JWKS of a trusted issuer equal to its iss, carry exactly the
// configured audience, and be within exp, nbf and iat give or take the leeway. An unknown kid
// makes Verify refetch the issuer's JWKS, at most once per 10 s per issuer; concurrent
// callers share one fetch.
//
// Verify returns an error of kind Unauthenticated, whose one-line detail never contains the
// token, when the token is refused, and of kind Unavailable when the issuer's discovery
// document or JWKS cannot be fetched. A token of an issuer v does not trust, with a kid its
// issuer does not list, or with a bad signature gets one and the same detail
// (ErrNotVerified's), so that callers cannot learn which issuers are trusted; the reason is
// in the error's cause, for the server log.
func (v *Verifier) Verify(ctx context.Context, rawJWT string) (*Claims, error) {
	if rawJWT == "" {
		return nil, unauth("no token")
	}
	if len(rawJWT) > maxTokenSize {
		return nil, unauth("token is over %d bytes", maxTokenSize)
	}
	if strings.Count(rawJWT, ".") != 2 {
		return nil, unauth("malformed token: want a JWT in compact form (three base64url parts separated by dots)")
	}
	// Refuse any algorithm but RS256 and ES256 before looking at anything else.
	hdrJSON, err := base64.RawURLEncoding.DecodeString(rawJWT[:strings.IndexByte(rawJWT, '.')])
	if err != nil {
		return nil, unauth("malformed token header: not base64url")
	}
	var hdr struct {
		Alg any `json:"alg"`
	}
	if err := json.Unmarshal(hdrJSON, &hdr); err != nil {
		return nil, unauth("malformed token header: not a JSON object")
	}
	alg, _ := hdr.Alg.(string)
	if alg != string(jose.RS256) && alg != string(jose.ES256) {
		return nil, unauth("token algorithm %s is not accepted: tarn accepts RS256 and ES256 only", quote(alg))
	}
	jws, err := jose.ParseSignedCompact(rawJWT, allowedAlgs)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, unauth("malformed token: not a valid JWS")
	}
	h := jws.Signatures[0].Header
	if h.KeyID == "" {
		return nil, unauth("token header has no kid")
	}
	unverified, err := parseClaims(jws.UnsafePayloadWithoutVerification())
	if err != nil {
		return nil, err
	}
	iss := unverified.Issuer
	s, err := v.keySet(ctx, iss)
	if err != nil {
		return nil, errs.Wrap(errs.Unavailable, err, "the registered workload identity issuers cannot be read now: try again shortly")
	}
	if s == nil {
		return nil, notVerified("issuer %s is not registered with tarn", quote(iss))
	}
	key, err := s.key(ctx, h.Algorithm, h.KeyID)
	if err != nil {
		return nil, err
	}
	payload, err := jws.Verify(key)
	if err != nil {
		return nil, notVerified("bad signature (issuer %s, kid %s)", quote(iss), quote(h.KeyID))
	}
	c, err := parseClaims(payload)
	if err != nil {
		return nil, err
	}
	if c.Issuer != iss {
		return nil, unauth("token issuer changed under verification")
	}
	if err := v.check(c); err != nil {
		return nil, err
	}
	return c, nil
}

func (v *Verifier) check(c *Claims) error {
	if len(c.Audience) != 1 || c.Audience[0] != v.audience {
		return unauth("token audience %s is not %s: get a token for tarn's audience, not another service's", quote(strings.Join(c.Audience, " ")), quote(v.audience))
	}
	if c.Subject == "" {
		return unauth("token has no sub claim")
	}
	now := v.now()
	if c.Expiry.IsZero() {
		return unauth("token has no exp claim")
	}
	if !now.Before(c.Expiry.Add(v.leeway)) {
		return unauth("token expired at %s: get a new one", c.Expiry.UTC().Format(time.RFC3339))
	}
	if !c.NotBefore.IsZero() && now.Add(v.leeway).Before(c.NotBefore) {
		return unauth("token is not valid before %s", c.NotBefore.UTC().Format(time.RFC3339))
	}
	if !c.IssuedAt.IsZero() && now.Add(v.leeway).Before(c.IssuedAt) {
		return unauth("token was issued in the future (iat %s): check the clocks", c.IssuedAt.UTC().Format(time.RFC3339))
	}
	return nil
}

func parseClaims(payload []byte) (*Claims, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var all map[string]any
	if err := dec.Decode(&all); err != nil || all == nil {
		return nil, unauth("malformed token payload: not a JSON object")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, unauth("malformed token payload: data after the JSON object")
	}
	c := &Claims{All: all}
	var ok bool
	if c.Issuer, ok = all["iss"].(string); !ok {
		return nil, unauth("token has no iss claim")
	}
	if sub, present := all["sub"]; present {
		if c.Subject, ok = sub.(string); !ok {
			return nil, unauth("token sub claim is not a string")
		}
	}
	switch a := all["aud"].(type) {
	case nil:
	case string:
		c.Audience = []string{a}
	case []any:
		for _, x := range a {
			s, ok := x.(string)
			if !ok {
				return nil, unauth("token aud claim holds a non-string")
			}
			c.Audience = append(c.Audience, s)
		}
	default:
		return nil, unauth("token aud claim is neither a string nor a list")
	}
	for _, d := range []struct {
		name string
		dst  *time.Time
	}{{"exp", &c.Expiry}, {"nbf", &c.NotBefore}, {"iat", &c.IssuedAt}} {
		x, present := all[d.name]
		if !present {
			continue
		}
		t, err := numericDate(x)
		if err != nil {
			return nil, unauth("token %s claim is not a valid date", d.name)
		}
		*d.dst = t
	}
	return c, nil
}

func numericDate(x any) (time.Time, error) {
	n, ok := x.(json.Number)
	if !ok {
		return time.Time{}, errors.New("not a number")
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || f < 0 || f > 1e11 {
		return time.Time{}, errors.New("out of range")
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), nil
}

func unauth(format string, args ...any) error {
	return errs.E(errs.Unauthenticated, format, args...)
}

// NotVerifiedDetail is the one detail of every token whose signature could not be checked
// against a trusted issuer's keys, whatever the reason.
const NotVerifiedDetail = "the token's signature cannot be verified against any issuer registered with tarn: check that a workload identity is registered for its issuer and that the token is genuine"

// notVerified is the refusal of a token whose signature could not be checked against a
// trusted issuer's keys; the formatted reason is its cause, for logs only.
func notVerified(format string, args ...any) error {
	return errs.Wrap(errs.Unauthenticated, fmt.Errorf(format, args...), NotVerifiedDetail)
}

// quote returns s quoted for a one-line error detail, cut to 100 bytes.
func quote(s string) string {
	if len(s) > 100 {
		s = s[:100] + "..."
	}
	return strconv.Quote(s)
}
