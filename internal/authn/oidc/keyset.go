package oidc

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/netguard"
)

// Bounds on how long a JWKS is cached, whatever its Cache-Control says, and how often one
// issuer's JWKS may be fetched again (after an unknown kid or a failure).
const (
	MinCacheTTL     = time.Minute
	MaxCacheTTL     = 24 * time.Hour
	DefaultCacheTTL = 15 * time.Minute // when the JWKS response has no max-age
	RefetchInterval = 10 * time.Second
)

const (
	fetchTimeout = 10 * time.Second
	maxBody      = 1 << 20
)

// keySet is the discovered configuration and cached JWKS of one issuer.
type keySet struct {
	v      *Verifier
	issuer string

	mu          sync.Mutex
	jwksURL     string                    // empty until discovered
	keys        map[string]map[string]any // alg -> kid -> public key; nil until fetched
	expires     time.Time
	lastAttempt time.Time
	lastErr     error
	call        *fetchCall // the fetch in flight, if any
}

type fetchCall struct {
	done chan struct{}
	err  error
}

func newKeySet(v *Verifier, issuer string) *keySet {
	return &keySet{v: v, issuer: issuer}
}

func (s *keySet) install(keys map[string]map[string]any, ttl time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys, s.expires, s.lastErr = keys, s.v.now().Add(ttl), nil
}

// lookup returns the fresh key alg/kid; s.mu must be held.
func (s *keySet) lookup(alg, kid string, now time.Time) any {
	if s.keys == nil || !now.Before(s.expires) {
		return nil
	}
	return s.keys[alg][kid]
}

// key returns the public key alg/kid, fetching the JWKS when the cache is stale or lacks kid,
// unless the issuer was fetched less than RefetchInterval ago. It returns an error of kind
// Unauthenticated only when a fresh JWKS lacks kid, and of kind Unavailable when the keys
// cannot be had: the fetch failed (within RefetchInterval, the last fetch did), or ctx ended
// while it ran (a hanging issuer).
func (s *keySet) key(ctx context.Context, alg, kid string) (any, error) {
	s.mu.Lock()
	now := s.v.now()
	if k := s.lookup(alg, kid, now); k != nil {
		s.mu.Unlock()
		return k, nil
	}
	c := s.call
	if c == nil {
		if !s.lastAttempt.IsZero() && now.Sub(s.lastAttempt) < RefetchInterval {
			fresh, lastErr, last := s.keys != nil && now.Before(s.expires), s.lastErr, s.lastAttempt
			s.mu.Unlock()
			if !fresh || lastErr != nil {
				// The last fetch failed: kid may be a key the issuer has added since, so the
				// token is not known to be bad, and a 401 would tell the workload it is.
				return nil, s.unavailable(lastErr, RefetchInterval-now.Sub(last))
			}
			return nil, s.unknownKID(kid)
		}
		s.lastAttempt = now
		c = &fetchCall{done: make(chan struct{})}
		s.call = c
		go s.run(context.WithoutCancel(ctx), c)
	}
	s.mu.Unlock()

	select {
	case <-c.done:
	case <-ctx.Done():
		return nil, errs.Wrap(errs.Unavailable, ctx.Err(), fmt.Sprintf("gave up waiting for the signing keys of issuer %s", quote(s.issuer)))
	}
	s.mu.Lock()
	now, last := s.v.now(), s.lastAttempt
	k := s.lookup(alg, kid, now)
	s.mu.Unlock()
	if c.err != nil {
		return nil, s.unavailable(c.err, RefetchInterval-now.Sub(last))
	}
	if k == nil {
		return nil, s.unknownKID(kid)
	}
	return k, nil
}

func (s *keySet) unknownKID(kid string) error {
	return notVerified("kid %s is not in the JWKS of issuer %s", quote(kid), quote(s.issuer))
}

// unavailable is the error of keys that cannot be fetched, asking callers to retry after
// wait (at least a second), when the next fetch may be made.
func (s *keySet) unavailable(err error, wait time.Duration) error {
	wait = max(wait, time.Second)
	if err == nil {
		return errs.E(errs.Unavailable, "the signing keys of issuer %s cannot be fetched now: try again shortly", quote(s.issuer)).After(wait)
	}
	return errs.Wrap(errs.Unavailable, err, fmt.Sprintf("the signing keys of issuer %s cannot be fetched: try again later", quote(s.issuer))).After(wait)
}

func (s *keySet) run(ctx context.Context, c *fetchCall) {
	keys, ttl, err := s.fetch(ctx)
	s.mu.Lock()
	if err == nil {
		s.keys, s.expires, s.lastErr = keys, s.v.now().Add(ttl), nil
	} else {
		s.lastErr = err
	}
	s.call = nil
	c.err = err
	s.mu.Unlock()
	close(c.done)
}

// fetch discovers the issuer if needed and fetches its JWKS. It returns errors of kind
// Invalid for a configuration that cannot be used and Unavailable for one that cannot be
// fetched.
func (s *keySet) fetch(ctx context.Context) (map[string]map[string]any, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	s.mu.Lock()
	jwksURL := s.jwksURL
	s.mu.Unlock()
	if jwksURL == "" {
		u, err := s.discover(ctx)
		if err != nil {
			return nil, 0, err
		}
		s.mu.Lock()
		s.jwksURL = u
		s.mu.Unlock()
		jwksURL = u
	}
	body, hdr, err := s.v.get(ctx, jwksURL)
	if err != nil {
		return nil, 0, err
	}
	keys, err := parseJWKS(body)
	if err != nil {
		return nil, 0, errs.Wrap(errs.Invalid, err, fmt.Sprintf("issuer %s: JWKS at %s: %v", quote(s.issuer), jwksURL, err))
	}
	return keys, cacheTTL(hdr), nil
}

func (s *keySet) discover(ctx context.Context) (string, error) {
	u := strings.TrimSuffix(s.issuer, "/") + "/.well-known/openid-configuration"
	body, _, err := s.v.get(ctx, u)
	if err != nil {
		return "", err
	}
	var doc struct {
		Issuer  string   `json:"issuer"`
		JWKSURI string   `json:"jwks_uri"`
		Algs    []string `json:"id_token_signing_alg_values_supported"`
	}
	invalid := func(format string, args ...any) error {
		return errs.E(errs.Invalid, "issuer %s: discovery document %s: %s", quote(s.issuer), u, fmt.Sprintf(format, args...))
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", invalid("not a JSON object")
	}
	// The details below never repeat the document's values: whatever answered may not be an
	// issuer at all.
	if doc.Issuer != s.issuer {
		return "", invalid("names another issuer: register the issuer exactly as the iss claim of its tokens names it")
	}
	if doc.JWKSURI == "" {
		return "", invalid("has no jwks_uri")
	}
	if ju, err := url.Parse(doc.JWKSURI); err != nil || ju.Scheme != "https" || ju.Host == "" {
		return "", invalid("jwks_uri is not an https URL")
	}
	if len(doc.Algs) > 0 && !slices.Contains(doc.Algs, "RS256") && !slices.Contains(doc.Algs, "ES256") {
		return "", invalid("the issuer signs with neither RS256 nor ES256, the only algorithms tarn accepts")
	}
	return doc.JWKSURI, nil
}

func (v *Verifier) get(ctx context.Context, u string) ([]byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, errs.Wrap(errs.Invalid, err, fmt.Sprintf("bad URL %s", quote(u)))
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.client.Do(req)
	var refused *netguard.RefusedError
	switch {
	case errors.As(err, &refused):
		return nil, nil, errs.Wrap(errs.Invalid, err, fmt.Sprintf("cannot reach %s: %v", u, refused))
	case err != nil:
		// Never more than this: how a connection failed tells about the network behind.
		return nil, nil, errs.Wrap(errs.Unavailable, err, fmt.Sprintf("cannot reach %s", u))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	// The status code only: the reason phrase and the body are the answerer's words.
	switch {
	case err != nil:
		return nil, nil, errs.Wrap(errs.Unavailable, err, fmt.Sprintf("reading %s", u))
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return nil, nil, errs.E(errs.Unavailable, "%s answered HTTP status %d", u, resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return nil, nil, errs.E(errs.Invalid, "%s answered HTTP status %d", u, resp.StatusCode)
	case len(body) > maxBody:
		return nil, nil, errs.E(errs.Invalid, "%s answered more than %d bytes", u, maxBody)
	}
	return body, resp.Header, nil
}

// parseJWKS returns the RS256 and ES256 signing keys of a JWKS by alg and kid, skipping keys
// it cannot use. It fails if none is left.
func parseJWKS(body []byte) (map[string]map[string]any, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("not a JSON key set")
	}
	keys := map[string]map[string]any{string(jose.RS256): {}, string(jose.ES256): {}}
	n := 0
	for _, raw := range set.Keys {
		var k jose.JSONWebKey
		if json.Unmarshal(raw, &k) != nil || k.KeyID == "" || (k.Use != "" && k.Use != "sig") {
			continue
		}
		pub := k.Public()
		var alg string
		switch p := pub.Key.(type) {
		case *rsa.PublicKey:
			if p.N.BitLen() < 2048 {
				continue
			}
			alg = string(jose.RS256)
		case *ecdsa.PublicKey:
			if p.Curve != elliptic.P256() {
				continue
			}
			alg = string(jose.ES256)
		default:
			continue
		}
		if k.Algorithm != "" && k.Algorithm != alg {
			continue
		}
		if _, dup := keys[alg][k.KeyID]; !dup {
			keys[alg][k.KeyID] = pub.Key
			n++
		}
	}
	if n == 0 {
		return nil, fmt.Errorf("no RS256 (RSA >= 2048 bits) or ES256 (P-256) signing key with a kid")
	}
	return keys, nil
}

// cacheTTL returns how long a JWKS response may be cached: its max-age less its Age, or
// DefaultCacheTTL, within [MinCacheTTL, MaxCacheTTL].
func cacheTTL(h http.Header) time.Duration {
	ttl := DefaultCacheTTL
	for _, d := range strings.Split(h.Get("Cache-Control"), ",") {
		d = strings.ToLower(strings.TrimSpace(d))
		switch {
		case d == "no-store" || d == "no-cache":
			return MinCacheTTL
		case strings.HasPrefix(d, "max-age="):
			n, err := strconv.ParseInt(strings.Trim(d[len("max-age="):], `"`), 10, 64)
			if err != nil || n < 0 {
				continue
			}
			if n > int64(MaxCacheTTL/time.Second) {
				n = int64(MaxCacheTTL / time.Second)
			}
			ttl = time.Duration(n) * time.Second
			if age, err := strconv.ParseInt(h.Get("Age"), 10, 64); err == nil && age > 0 && age < n {
				ttl -= time.Duration(age) * time.Second
			}
		}
	}
	return min(max(ttl, MinCacheTTL), MaxCacheTTL)
}

// checkIssuer returns an error of kind Invalid unless issuer is an absolute https URL
// without query or fragment.
func checkIssuer(issuer string) error {
	u, err := url.Parse(issuer)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return errs.E(errs.Invalid, "issuer %s is not an https URL without query or fragment", quote(issuer))
	}
	return nil
}
