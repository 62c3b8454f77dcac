package entratest

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// AssertionType is the client_assertion_type of a client assertion.
const AssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// TokenExchangeAudience is the audience Entra ID proposes for federated identity
// credentials, the one a workload's token must have.
const TokenExchangeAudience = "api://AzureADTokenExchange"

// FederatedCredential is a federated identity credential of the app registration: Entra ID
// accepts, as the app's client assertion, a JWT of Issuer with subject Subject and one of
// Audiences (compared exactly, case included), signed with a key of the issuer's JWKS.
type FederatedCredential struct {
	Name, Issuer, Subject string
	// SubjectPattern, instead of Subject, is a flexible federated identity credential
	// (claimsMatchingExpression "claims['sub'] matches 'PATTERN'"): * matches any run of
	// characters. Tests use it for an app that trusts more subjects than it should.
	SubjectPattern string
	// Audiences default to TokenExchangeAudience.
	Audiences []string
}

// AddFederatedCredential adds fc to the app registration, as az ad app
// federated-credential create does.
func (s *Server) AddFederatedCredential(fc FederatedCredential) {
	if len(fc.Audiences) == 0 {
		fc.Audiences = []string{TokenExchangeAudience}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.federated = append(s.federated, fc)
}

// refusal is an OAuth error answer: HTTP status, error code, AADSTS number and message.
type refusal struct {
	status int
	code   string
	aadsts int
	msg    string
}

func invalidClient(aadsts int, format string, args ...any) *refusal {
	return &refusal{http.StatusUnauthorized, "invalid_client", aadsts, fmt.Sprintf(format, args...)}
}

// authenticate checks the client credential of a token request: the client secret, or a
// client assertion (see verifyAssertion). It records the assertion's subject in req.
func (s *Server) authenticate(ctx context.Context, form url.Values, req *Request) *refusal {
	secret, assertion := form.Get("client_secret"), form.Get("client_assertion")
	switch {
	case secret != "" && assertion == "":
		s.mu.Lock()
		ok := constantTimeEqual(secret, s.secret)
		s.mu.Unlock()
		if !ok {
			return invalidClient(7000215, "Invalid client secret provided.")
		}
		return nil
	case assertion != "" && secret == "" && form.Get("client_assertion_type") == AssertionType:
		return s.verifyAssertion(ctx, assertion, req)
	}
	return &refusal{http.StatusBadRequest, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."}
}

// verifyAssertion checks a client assertion as Entra ID does for a federated identity
// credential: a federated credential of the app names its issuer, subject and an audience
// exactly (AADSTS70021); the issuer's discovery names it as issuer and its JWKS has the key
// the assertion names (AADSTS7000272) and that key verifies the signature (AADSTS700027);
// the assertion is valid now (AADSTS700024). A token that does not parse is AADSTS50027, and
// so is one not signed with RS256, the only algorithm Entra ID supports for workload
// identity federation.
func (s *Server) verifyAssertion(ctx context.Context, assertion string, req *Request) *refusal {
	tok, err := jwt.ParseSigned(assertion, []jose.SignatureAlgorithm{jose.RS256})
	var claims jwt.Claims
	if err == nil {
		err = tok.UnsafeClaimsWithoutVerification(&claims)
	}
	if err != nil || len(tok.Headers) != 1 {
		return &refusal{http.StatusBadRequest, "invalid_request", 50027, "JWT token is invalid or malformed."}
	}
	req.Subject, req.Assertion = claims.Subject, assertion
	if !s.trusts(claims) {
		return invalidClient(70021, "No matching federated identity record found for presented assertion. Assertion Issuer: '%s'. Assertion Subject: '%s'. Assertion Audience: '%s'.",
			claims.Issuer, claims.Subject, strings.Join(claims.Audience, ","))
	}
	keys, err := s.issuerKeys(ctx, claims.Issuer)
	if err != nil {
		return invalidClient(50027, "JWT token is invalid or malformed: the metadata of identity provider %s could not be used (%v).", claims.Issuer, err)
	}
	kid := tok.Headers[0].KeyID
	found := keys.Key(kid)
	if len(found) == 0 {
		return invalidClient(7000272, "The certificate with identifier %s used to sign the federated credential could not be found in the metadata of identity provider %s. Please validate that your Identity Provider's metadata exposes the key used to sign the incoming token.",
			kid, claims.Issuer)
	}
	if err := tok.Claims(found[0].Key, &claims); err != nil {
		return invalidClient(700027, "Client assertion contains an invalid signature.")
	}
	now := s.now()
	if claims.Expiry == nil || !now.Before(claims.Expiry.Time()) || (claims.NotBefore != nil && now.Before(claims.NotBefore.Time())) {
		return invalidClient(700024, "Client assertion is not within its valid time range. Current time: %s, assertion valid from %s, expiry time of assertion %s.",
			stamp(now), stamp(numeric(claims.NotBefore)), stamp(numeric(claims.Expiry)))
	}
	return nil
}

// trusts reports whether a federated credential of the app names the issuer, the subject and
// one of the audiences of claims.
func (s *Server) trusts(claims jwt.Claims) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, fc := range s.federated {
		if fc.Issuer == claims.Issuer && fc.matches(claims.Subject) && slices.ContainsFunc(fc.Audiences, claims.Audience.Contains) {
			return true
		}
	}
	return false
}

// matches reports whether fc names subject: exactly, or as SubjectPattern matches it.
func (fc FederatedCredential) matches(subject string) bool {
	if fc.SubjectPattern == "" {
		return fc.Subject == subject
	}
	parts := strings.Split(fc.SubjectPattern, "*")
	rest, ok := strings.CutPrefix(subject, parts[0])
	if !ok {
		return false
	}
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(rest, p)
		if i < 0 {
			return false
		}
		rest = rest[i+len(p):]
	}
	return len(parts) == 1 && rest == "" || len(parts) > 1 && strings.HasSuffix(rest, parts[len(parts)-1])
}

// issuerKeys fetches issuer's discovery document, checks that it names issuer, and fetches
// the JWKS it points at. It fetches on every call: what a rotation takes out of the JWKS
// is refused at once.
func (s *Server) issuerKeys(ctx context.Context, issuer string) (*jose.JSONWebKeySet, error) {
	var disc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := s.getJSON(ctx, strings.TrimSuffix(issuer, "/")+"/.well-known/openid-configuration", &disc); err != nil {
		return nil, err
	}
	if disc.Issuer != issuer {
		return nil, fmt.Errorf("its discovery names issuer %q", disc.Issuer)
	}
	var keys jose.JSONWebKeySet
	if err := s.getJSON(ctx, disc.JWKSURI, &keys); err != nil {
		return nil, err
	}
	return &keys, nil
}

func (s *Server) getJSON(ctx context.Context, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := s.issuers.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// loopbackClient returns the client that fetches issuers' metadata: it connects to
// loopback addresses only, so that a test never sends traffic off the machine.
func loopbackClient() *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
				return nil, fmt.Errorf("entratest fetches issuer metadata on loopback addresses only, not %s", addr)
			}
			return dialer.DialContext(ctx, network, addr)
		},
	}}
}

func numeric(d *jwt.NumericDate) time.Time {
	if d == nil {
		return time.Unix(0, 0)
	}
	return d.Time()
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.0000000Z") }
