package googletest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Federate counts Google STS's exchanges of external credentials (POST /v1/token with a
// JWT as subject token) for federated tokens of a workload identity pool principal.
const Federate = "federate"

// Wire constants of workload identity federation.
const (
	TokenTypeJWT     = "urn:ietf:params:oauth:token-type:jwt"
	TokenTypeIDToken = "urn:ietf:params:oauth:token-type:id_token"
	// RoleWorkloadIdentityUser is the role that lets a pool principal impersonate a
	// service account (iam.serviceAccounts.getAccessToken, not signBlob).
	RoleWorkloadIdentityUser = "roles/iam.workloadIdentityUser"
	// FederatedLifetime is the lifetime of a federated token.
	FederatedLifetime = time.Hour
	// maxSubject is the longest google.subject Google maps.
	maxSubject = 127
)

// PoolProvider is an OIDC provider of a workload identity pool, as the server's STS
// trusts it, mapping google.subject=assertion.sub.
type PoolProvider struct {
	// Name is projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER.
	Name string
	// IssuerURL is the provider's issuer URI. The server fetches its discovery document and
	// JWKS on every exchange; it must be on a loopback address.
	IssuerURL string
	// AllowedAudiences are the audiences a token may carry; empty means the default,
	// https://iam.googleapis.com/ + Name.
	AllowedAudiences []string
	// Subject, when set, is the attribute condition assertion.sub == Subject: tokens of
	// other subjects are refused at the exchange.
	Subject string
}

var poolProviderRe = regexp.MustCompile(`^projects/([0-9]+)/locations/global/workloadIdentityPools/([a-z0-9-]{4,32})/providers/[a-z0-9-]{4,32}$`)

// AddPoolProvider makes STS trust p; it fails t when p's name or issuer is malformed or the
// issuer is not on a loopback address.
func (s *Server) AddPoolProvider(t testing.TB, p PoolProvider) {
	t.Helper()
	if !poolProviderRe.MatchString(p.Name) {
		t.Fatalf("googletest: %q is not a workload identity pool provider's name", p.Name)
	}
	if u, err := url.Parse(p.IssuerURL); err != nil || !loopbackHost(u.Hostname()) {
		t.Fatalf("googletest: issuer %q is not on a loopback address", p.IssuerURL)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pools[p.Name] = p
}

// PoolPrincipal returns the IAM member of the identity with google.subject subject in the
// pool of provider (a PoolProvider.Name).
func PoolPrincipal(provider, subject string) string {
	return poolOf(provider) + "/subject/" + subject
}

// PoolPrincipalSet returns the IAM member of every identity of the pool of provider.
func PoolPrincipalSet(provider string) string {
	return strings.Replace(poolOf(provider), "principal://", "principalSet://", 1) + "/*"
}

// poolOf returns principal://iam.googleapis.com/projects/N/locations/global/workloadIdentityPools/POOL.
func poolOf(provider string) string {
	pool, _, _ := strings.Cut(provider, "/providers/")
	return "principal://iam.googleapis.com/" + pool
}

// BindWorkloadIdentityUser grants member (PoolPrincipal, or PoolPrincipalSet for a whole
// pool) RoleWorkloadIdentityUser on serviceAccount: generateAccessToken for it with a
// federated token of a principal that no binding names is refused (403 PERMISSION_DENIED).
func (s *Server) BindWorkloadIdentityUser(member, serviceAccount string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.wiu[[2]string{member, serviceAccount}] = true
}

// workloadIdentityUser reports whether principal holds RoleWorkloadIdentityUser on target,
// bound to it or to its whole pool.
func (s *Server) workloadIdentityUser(principal, target string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.wiu[[2]string{principal, target}] {
		return true
	}
	pool, _, ok := strings.Cut(principal, "/subject/")
	return ok && s.wiu[[2]string{strings.Replace(pool, "principal://", "principalSet://", 1) + "/*", target}]
}

// externalTokenType reports whether t is a subject_token_type of an external credential.
func externalTokenType(t string) bool { return t == TokenTypeJWT || t == TokenTypeIDToken }

// federate is STS's exchange of an OIDC token for a federated token, checked as Google
// does: the audience names a known pool provider; the token is signed by a key of the
// JWKS that the provider's issuer publishes now (fetched over HTTP from its discovery
// document, whose issuer must be the provider's); its iss is the provider's issuer, its
// aud one of the allowed audiences, it has not expired, and it passes the attribute
// condition. The federated token's principal is PoolPrincipal(provider, sub).
func (s *Server) federate(w http.ResponseWriter, r *http.Request) {
	s.count(Federate)
	f := r.PostForm
	if badExchange(w, f, externalTokenType) {
		return
	}
	if f.Get("scope") == "" {
		oauthError(w, http.StatusBadRequest, "invalid_scope", "A scope is required when exchanging an external credential.")
		return
	}
	name, ok := strings.CutPrefix(f.Get("audience"), "//iam.googleapis.com/")
	if !ok || !poolProviderRe.MatchString(name) {
		oauthError(w, http.StatusBadRequest, "invalid_request", "Invalid value for \"audience\". This value should be the full resource name of the Identity Provider.")
		return
	}
	s.mu.Lock()
	p, ok := s.pools[name]
	s.mu.Unlock()
	if !ok {
		oauthError(w, http.StatusBadRequest, "invalid_target", "The target service indicated by the \"audience\" parameters is invalid. This might either be because the pool or provider is disabled or deleted or because it doesn't exist.")
		return
	}
	sub, status, code, msg := s.verifyExternal(r.Context(), p, f.Get("subject_token"))
	if code != "" {
		oauthError(w, status, code, msg)
		return
	}
	v := s.issue(Token{Kind: Federate, Principal: PoolPrincipal(p.Name, sub), Scopes: strings.Fields(f.Get("scope")), Expiry: s.now().Add(FederatedLifetime)})
	writeJSON(w, map[string]any{"access_token": v, "issued_token_type": TokenTypeAccess, "token_type": "Bearer",
		"expires_in": int(FederatedLifetime/time.Second) - 1})
}

// verifyExternal checks an OIDC token for pool provider p and returns its subject, or the
// status, OAuth error code and description STS refuses it with.
func (s *Server) verifyExternal(ctx context.Context, p PoolProvider, token string) (sub string, status int, code, msg string) {
	refuse := func(format string, args ...any) (string, int, string, string) {
		return "", http.StatusBadRequest, "invalid_grant", fmt.Sprintf(format, args...)
	}
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
	if err != nil || len(tok.Headers) != 1 {
		return refuse("Unable to parse the ID Token.")
	}
	keys, err := fetchJWKS(ctx, p.IssuerURL)
	if err != nil {
		return refuse("Unable to verify the ID Token: %s.", err)
	}
	kid := tok.Headers[0].KeyID
	found := keys.Key(kid)
	if len(found) == 0 {
		return refuse("The ID Token was signed by a key (kid %q) that is not in the JWKS of issuer %s.", kid, p.IssuerURL)
	}
	var c jwt.Claims
	if err := tok.Claims(found[0].Key, &c); err != nil {
		return refuse("Invalid ID Token signature.")
	}
	audiences := p.AllowedAudiences
	if len(audiences) == 0 {
		audiences = []string{"https://iam.googleapis.com/" + p.Name}
	}
	now := s.now()
	switch {
	case c.Issuer != p.IssuerURL:
		return refuse("The issuer in ID Token [%s] does not match the expected issuer [%s].", c.Issuer, p.IssuerURL)
	case !slices.ContainsFunc(c.Audience, func(a string) bool { return slices.Contains(audiences, a) }):
		return refuse("The audience in ID Token [%s] does not match the expected audience.", strings.Join(c.Audience, ", "))
	case c.Expiry == nil || !now.Before(c.Expiry.Time()):
		return refuse("The ID Token has expired.")
	case c.IssuedAt != nil && c.IssuedAt.Time().After(now.Add(5*time.Minute)),
		c.NotBefore != nil && c.NotBefore.Time().After(now.Add(5*time.Minute)):
		return refuse("The ID Token is not valid yet.")
	case c.Subject == "" || len(c.Subject) > maxSubject:
		return "", http.StatusBadRequest, "invalid_request", "The mapped attribute 'google.subject' must be 1 to 127 bytes long."
	case p.Subject != "" && c.Subject != p.Subject:
		return "", http.StatusBadRequest, "unauthorized_client", "The given credential is rejected by the attribute condition."
	}
	return c.Subject, 0, "", ""
}

// fetchJWKS fetches the discovery document of issuer and the JWKS it names, as Google
// does, over loopback only; its error says which step failed.
func fetchJWKS(ctx context.Context, issuer string) (jose.JSONWebKeySet, error) {
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	var set jose.JSONWebKeySet
	if err := getJSON(ctx, strings.TrimSuffix(issuer, "/")+"/.well-known/openid-configuration", &doc); err != nil {
		return set, fmt.Errorf("the discovery document of issuer %s could not be fetched (%v)", issuer, err)
	}
	if doc.Issuer != issuer {
		return set, fmt.Errorf("the discovery document of issuer %s names issuer %s", issuer, doc.Issuer)
	}
	if err := getJSON(ctx, doc.JWKSURI, &set); err != nil {
		return set, fmt.Errorf("the JWKS of issuer %s could not be fetched (%v)", issuer, err)
	}
	return set, nil
}

// loopbackClient is the client of the stand-in's fetches: it connects to loopback
// addresses only, so that a test can never send the server's traffic off the machine.
var loopbackClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
	Proxy: nil,
	DialContext: (&net.Dialer{Control: func(_, address string, _ syscall.RawConn) error {
		host, _, _ := net.SplitHostPort(address)
		if !loopbackHost(host) {
			return fmt.Errorf("googletest: refusing to connect to %s", address)
		}
		return nil
	}}).DialContext,
}}

func loopbackHost(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func getJSON(ctx context.Context, u string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := loopbackClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(out)
}
