// Package googletest runs stand-ins for the Google endpoints that cannot run offline, on
// 127.0.0.1, for tests: the OAuth 2.0 token endpoint of service-account keys (the JWT-bearer
// grant), IAM Credentials generateAccessToken and signBlob, and Google STS token exchange:
// with Credential Access Boundaries, and of external OIDC tokens at workload identity pool
// providers (federation.go). They speak Google's wire protocols, so the real client libraries
// (golang.org/x/oauth2/google, google.golang.org/api/impersonate,
// golang.org/x/oauth2/google/downscope, golang.org/x/oauth2/google/externalaccount) drive them, and refuse malformed requests as Google
// does. A Server records the boundaries it was sent and counts its calls, and every token it
// issues can be looked up, so that tests assert what a token was bounded to; each service
// account has a signing key whose public half tests verify signed URLs with.
package googletest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The endpoints a Server counts calls of (see Server.Calls).
const (
	OAuth       = "oauth"       // POST /token: a service-account key's JWT-bearer grant
	Impersonate = "impersonate" // POST /v1/projects/-/serviceAccounts/EMAIL:generateAccessToken
	Downscope   = "downscope"   // POST /v1/token: STS token exchange with an access boundary
	SignBlob    = "signblob"    // POST /v1/projects/-/serviceAccounts/EMAIL:signBlob
)

// Wire constants of Google STS and the OAuth 2.0 JWT-bearer grant.
const (
	GrantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	GrantJWTBearer     = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	TokenTypeAccess    = "urn:ietf:params:oauth:token-type:access_token"
	// PermissionGetAccessToken is the permission that roles/iam.serviceAccountTokenCreator
	// grants and generateAccessToken needs.
	PermissionGetAccessToken = "iam.serviceAccounts.getAccessToken"
	// PermissionSignBlob is the permission, also of roles/iam.serviceAccountTokenCreator,
	// that signBlob needs.
	PermissionSignBlob = "iam.serviceAccounts.signBlob"
	// MaxRules and MaxOptions are STS's limits on a Credential Access Boundary.
	MaxRules   = 10
	MaxOptions = 2048
	// MaxLifetime is the longest lifetime generateAccessToken grants.
	MaxLifetime = time.Hour
)

// Boundary is a Credential Access Boundary as STS receives it in its options parameter.
type Boundary struct {
	Rules []Rule `json:"accessBoundaryRules"`
}

// Rule is one access boundary rule.
type Rule struct {
	AvailableResource    string     `json:"availableResource"`
	AvailablePermissions []string   `json:"availablePermissions"`
	Condition            *Condition `json:"availabilityCondition,omitempty"`
}

// Condition is a rule's availability condition (a CEL expression).
type Condition struct {
	Expression  string `json:"expression"`
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
}

// Token is what a Server knows about a token it issued.
type Token struct {
	// Kind is the endpoint that issued it: OAuth, Impersonate, Downscope or Federate.
	Kind string
	// Principal is the service account the token acts as, or the pool principal
	// (principal://...) of a federated token.
	Principal string
	// Scopes are the OAuth scopes asked for (OAuth, Impersonate).
	Scopes []string
	// Expiry is when the token stops being accepted.
	Expiry time.Time
	// Boundary is the access boundary of a downscoped token, nil for others.
	Boundary *Boundary
	// Subject is the token a downscoped one was exchanged from.
	Subject string
}

// Options configure a Server. The zero value is usable.
type Options struct {
	// Now is the clock that issues and expires tokens; nil means time.Now.
	Now func() time.Time
}

// Server is the stand-in: one HTTP server on 127.0.0.1 serving all three endpoints, so that
// a service-account key's token_uri, a creds key's iam_endpoint and its sts_endpoint may all
// be URL (token_uri is URL + "/token"). It is safe for concurrent use.
type Server struct {
	// URL is the base URL, http://127.0.0.1:PORT.
	URL string

	srv *httptest.Server
	now func() time.Time

	mu         sync.Mutex
	keys       map[string]*rsa.PublicKey // by client_email
	tokens     map[string]Token
	grants     map[[2]string]bool // (caller, target) has Token Creator
	wiu        map[[2]string]bool // (member, target) has Workload Identity User
	pools      map[string]PoolProvider
	calls      map[string]int
	boundaries []Boundary
	seq        int
	signing    map[string]*rsa.PrivateKey // the Google-managed key of each account signBlob signed for
	signatures []Signature
}

// Signature is one signBlob call the server answered with a signature.
type Signature struct {
	Caller, Account string // who called, and the account whose key signed
	Payload         []byte
}

// New starts a Server and stops it when t ends.
func New(t testing.TB, o Options) *Server {
	t.Helper()
	s := &Server{now: o.Now, keys: map[string]*rsa.PublicKey{}, tokens: map[string]Token{}, grants: map[[2]string]bool{}, calls: map[string]int{},
		signing: map[string]*rsa.PrivateKey{}, wiu: map[[2]string]bool{}, pools: map[string]PoolProvider{}}
	if s.now == nil {
		s.now = time.Now
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", s.oauthToken)
	mux.HandleFunc("POST /v1/token", s.exchange)
	mux.HandleFunc("POST /v1/projects/-/serviceAccounts/{rest}", func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.PathValue("rest"), ":signBlob") {
			s.signBlob(w, r)
			return
		}
		s.generateAccessToken(w, r)
	})
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// HostPort returns the server's 127.0.0.1:PORT, for tarn's --allow-endpoint.
func (s *Server) HostPort() string { return strings.TrimPrefix(s.URL, "http://") }

// TokenURI is the token_uri of the keys the server makes.
func (s *Server) TokenURI() string { return s.URL + "/token" }

// ServiceAccountKey makes a service-account JSON key for email whose token_uri is the
// server's token endpoint, and registers its public key there.
func (s *Server) ServiceAccountKey(t testing.TB, email string) []byte {
	t.Helper()
	pk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(pk)
	if err != nil {
		t.Fatal(err)
	}
	project := "test-project"
	if _, domain, ok := strings.Cut(email, "@"); ok {
		project, _, _ = strings.Cut(domain, ".")
	}
	s.mu.Lock()
	s.keys[email] = &pk.PublicKey
	s.seq++
	id := fmt.Sprintf("%040x", s.seq)
	s.mu.Unlock()
	key, err := json.MarshalIndent(map[string]string{
		"type": "service_account", "project_id": project, "private_key_id": id,
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email": email, "client_id": "1" + strings.Repeat("0", 20),
		"auth_uri": s.URL + "/auth", "token_uri": s.TokenURI(),
		"auth_provider_x509_cert_url": s.URL + "/certs", "client_x509_cert_url": s.URL + "/certs/" + url.PathEscape(email),
		"universe_domain": "googleapis.com",
	}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// KeyFile writes ServiceAccountKey(t, email) to a file in a temporary directory and returns
// its path, for GOOGLE_APPLICATION_CREDENTIALS (the test's ADC).
func (s *Server) KeyFile(t testing.TB, email string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "adc.json")
	if err := os.WriteFile(path, s.ServiceAccountKey(t, email), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Grant gives caller roles/iam.serviceAccountTokenCreator on target: generateAccessToken
// for target with caller's token is refused (403 PERMISSION_DENIED) until then.
func (s *Server) Grant(caller, target string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.grants[[2]string{caller, target}] = true
}

// Revoke takes the grant back.
func (s *Server) Revoke(caller, target string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.grants, [2]string{caller, target})
}

// Calls returns how many requests endpoint (OAuth, Impersonate, Downscope, Federate, SignBlob) has answered,
// refusals included.
func (s *Server) Calls(endpoint string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[endpoint]
}

// Boundaries returns the boundaries of the downscoping requests the server accepted, in order.
func (s *Server) Boundaries() []Boundary {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Boundary(nil), s.boundaries...)
}

// Lookup returns what the server knows about a token it issued.
func (s *Server) Lookup(token string) (Token, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tok, ok := s.tokens[token]
	return tok, ok
}

// Transport returns a transport that sends requests meant for Google's own hosts
// (oauth2, iamcredentials, sts .googleapis.com) to the server instead, and refuses any
// other host, so that client libraries with fixed endpoints can be pointed at it.
func (s *Server) Transport() http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		switch r.URL.Host {
		case "oauth2.googleapis.com", "iamcredentials.googleapis.com", "sts.googleapis.com", s.HostPort():
		default:
			return nil, fmt.Errorf("googletest: refusing a request to %s", r.URL.Host)
		}
		r = r.Clone(r.Context())
		r.URL.Scheme, r.URL.Host, r.Host = "http", s.HostPort(), ""
		return http.DefaultTransport.RoundTrip(r)
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func (s *Server) count(endpoint string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[endpoint]++
}

// issue records tok under a fresh random token string of the given shape and returns it.
func (s *Server) issue(tok Token) string {
	b := make([]byte, 24)
	rand.Read(b)
	v := "ya29." + tok.Kind + "." + base64.RawURLEncoding.EncodeToString(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[v] = tok
	return v
}

// live returns the token v if the server issued it and it has not expired.
func (s *Server) live(v string) (Token, bool) {
	tok, ok := s.Lookup(v)
	return tok, ok && s.now().Before(tok.Expiry)
}

// oauthError answers as Google's OAuth 2.0 endpoints do: {"error", "error_description"}.
func oauthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

// apiError answers as Google's JSON APIs do: {"error": {code, message, status, details}}.
func apiError(w http.ResponseWriter, status int, state, msg string, details ...any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	e := map[string]any{"code": status, "message": msg, "status": state}
	if len(details) > 0 {
		e["details"] = details
	}
	json.NewEncoder(w).Encode(map[string]any{"error": e})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	json.NewEncoder(w).Encode(v)
}

// oauthToken is the token endpoint of service-account keys: a JWT-bearer grant whose
// assertion is signed by a key the server made, for the issuer that key belongs to and the
// server's token URI as audience, unexpired and at most an hour long.
func (s *Server) oauthToken(w http.ResponseWriter, r *http.Request) {
	s.count(OAuth)
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != GrantJWTBearer {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "Invalid grant_type: "+r.PostForm.Get("grant_type"))
		return
	}
	claims, err := s.verifyAssertion(r.PostForm.Get("assertion"))
	if err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_grant", err.Error())
		return
	}
	exp := s.now().Add(MaxLifetime)
	v := s.issue(Token{Kind: OAuth, Principal: claims.Iss, Scopes: strings.Fields(claims.Scope), Expiry: exp})
	writeJSON(w, map[string]any{"access_token": v, "token_type": "Bearer", "expires_in": int(MaxLifetime / time.Second)})
}

type jwtClaims struct {
	Iss   string `json:"iss"`
	Scope string `json:"scope"`
	Aud   string `json:"aud"`
	Exp   int64  `json:"exp"`
	Iat   int64  `json:"iat"`
}

// verifyAssertion checks a JWT-bearer assertion and returns its claims, or the reason it
// is refused in Google's words.
func (s *Server) verifyAssertion(assertion string) (jwtClaims, error) {
	var c jwtClaims
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return c, fmt.Errorf("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.")
	}
	var hdr struct {
		Alg string `json:"alg"`
	}
	h, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	p, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(h, &hdr) != nil || json.Unmarshal(p, &c) != nil || hdr.Alg != "RS256" {
		return c, fmt.Errorf("Invalid JWT Signature.")
	}
	s.mu.Lock()
	pub := s.keys[c.Iss]
	s.mu.Unlock()
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if pub == nil || rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig) != nil {
		return c, fmt.Errorf("Invalid JWT Signature.")
	}
	now := s.now().Unix()
	switch {
	case c.Aud != s.TokenURI():
		return c, fmt.Errorf("Invalid JWT: audience %q is not the token endpoint", c.Aud)
	case c.Exp <= now || c.Exp-c.Iat > int64(MaxLifetime/time.Second) || c.Iat > now+300:
		return c, fmt.Errorf("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.")
	}
	return c, nil
}

var lifetimeRe = regexp.MustCompile(`^([0-9]{1,10})(?:\.[0-9]{1,9})?s$`)

// generateAccessToken is IAM Credentials' method: the caller's token must be live and its
// principal granted Token Creator on the target service account.
func (s *Server) generateAccessToken(w http.ResponseWriter, r *http.Request) {
	s.count(Impersonate)
	target, ok := strings.CutSuffix(r.PathValue("rest"), ":generateAccessToken")
	if !ok {
		apiError(w, http.StatusNotFound, "NOT_FOUND", "Method not found.")
		return
	}
	caller, ok := s.caller(w, r)
	if !ok {
		return
	}
	var req struct {
		Delegates []string `json:"delegates"`
		Scope     []string `json:"scope"`
		Lifetime  string   `json:"lifetime"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		apiError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Invalid JSON payload received.")
		return
	}
	life := MaxLifetime
	if req.Lifetime != "" {
		m := lifetimeRe.FindStringSubmatch(req.Lifetime)
		if m == nil {
			apiError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Invalid value at 'lifetime' (type.googleapis.com/google.protobuf.Duration).")
			return
		}
		n, _ := strconv.ParseInt(m[1], 10, 64)
		life = time.Duration(n) * time.Second
	}
	switch {
	case len(req.Scope) == 0:
		apiError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Scope required.")
		return
	case life <= 0 || life > MaxLifetime:
		apiError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "The lifetime must be between 1 second and 3600 seconds.")
		return
	}
	if !s.granted(w, caller.Principal, target, PermissionGetAccessToken) {
		return
	}
	exp := s.now().Add(life).UTC().Truncate(time.Second)
	v := s.issue(Token{Kind: Impersonate, Principal: target, Scopes: req.Scope, Expiry: exp})
	writeJSON(w, map[string]string{"accessToken": v, "expireTime": exp.Format(time.RFC3339)})
}

// caller returns the live token that authenticates r, a source or impersonated one (IAM
// Credentials refuses downscoped tokens), and else answers 401 UNAUTHENTICATED.
func (s *Server) caller(w http.ResponseWriter, r *http.Request) (Token, bool) {
	bearer, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	tok, ok := s.live(bearer)
	if !ok || tok.Kind == Downscope {
		apiError(w, http.StatusUnauthorized, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.")
		return Token{}, false
	}
	return tok, true
}

// granted reports whether caller has permission on target, through Token Creator or, for
// PermissionGetAccessToken, Workload Identity User, and else answers 403 PERMISSION_DENIED
// for permission, as IAM Credentials does.
func (s *Server) granted(w http.ResponseWriter, caller, target, permission string) bool {
	s.mu.Lock()
	ok := s.grants[[2]string{caller, target}]
	s.mu.Unlock()
	ok = ok || permission == PermissionGetAccessToken && s.workloadIdentityUser(caller, target)
	if !ok {
		apiError(w, http.StatusForbidden, "PERMISSION_DENIED",
			fmt.Sprintf("Permission '%s' denied on resource (or it may not exist).", permission),
			map[string]any{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "IAM_PERMISSION_DENIED",
				"domain": "iam.googleapis.com", "metadata": map[string]string{"permission": permission}})
	}
	return ok
}

// exchange is Google STS's token exchange: of an external credential for a federated
// token (federate), or of an access token for a downscoped one.
func (s *Server) exchange(w http.ResponseWriter, r *http.Request) {
	if r.ParseForm() == nil && externalTokenType(r.PostForm.Get("subject_token_type")) {
		s.federate(w, r)
		return
	}
	s.count(Downscope)
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "The request body is not a form.")
		return
	}
	f := r.PostForm
	if badExchange(w, f, func(t string) bool { return t == TokenTypeAccess }) {
		return
	}
	switch {
	case len(f.Get("options")) > MaxOptions:
		oauthError(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf("The \"options\" parameter exceeds the maximum length of %d characters.", MaxOptions))
		return
	}
	var opts struct {
		Boundary *Boundary `json:"accessBoundary"`
	}
	if err := json.Unmarshal([]byte(f.Get("options")), &opts); err != nil || opts.Boundary == nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "The \"options\" parameter is not a valid access boundary.")
		return
	}
	if msg := checkBoundary(*opts.Boundary); msg != "" {
		oauthError(w, http.StatusBadRequest, "invalid_request", msg)
		return
	}
	subject, ok := s.live(f.Get("subject_token"))
	if !ok {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "The subject token is invalid or has expired.")
		return
	}
	b := *opts.Boundary
	v := s.issue(Token{Kind: Downscope, Principal: subject.Principal, Expiry: subject.Expiry, Boundary: &b, Subject: f.Get("subject_token")})
	s.mu.Lock()
	s.boundaries = append(s.boundaries, b)
	s.mu.Unlock()
	writeJSON(w, map[string]any{"access_token": v, "issued_token_type": TokenTypeAccess, "token_type": "Bearer",
		"expires_in": int(subject.Expiry.Sub(s.now()) / time.Second)})
}

// badExchange answers 400 invalid_request, as STS does, and reports true when f's
// grant_type is not token exchange, its subject_token_type fails subjectType, or its
// requested_token_type is not an access token.
func badExchange(w http.ResponseWriter, f url.Values, subjectType func(string) bool) bool {
	bad := ""
	switch {
	case f.Get("grant_type") != GrantTokenExchange:
		bad = "grant_type"
	case !subjectType(f.Get("subject_token_type")):
		bad = "subject_token_type"
	case f.Get("requested_token_type") != TokenTypeAccess:
		bad = "requested_token_type"
	default:
		return false
	}
	oauthError(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf("Invalid value for %q.", bad))
	return true
}

var resourceRe = regexp.MustCompile(`^//storage\.googleapis\.com/projects/_/buckets/[a-z0-9][a-z0-9._-]{1,221}[a-z0-9]$`)

// checkBoundary returns why STS refuses b, or "".
func checkBoundary(b Boundary) string {
	switch {
	case len(b.Rules) == 0:
		return "The access boundary must contain at least one access boundary rule."
	case len(b.Rules) > MaxRules:
		return fmt.Sprintf("The access boundary must not contain more than %d access boundary rules.", MaxRules)
	}
	for _, r := range b.Rules {
		switch {
		case r.AvailableResource == "":
			return "Each access boundary rule must specify an availableResource."
		case !resourceRe.MatchString(r.AvailableResource):
			return "Invalid availableResource: " + r.AvailableResource
		case len(r.AvailablePermissions) == 0:
			return "Each access boundary rule must specify availablePermissions."
		case r.Condition != nil && r.Condition.Expression == "":
			return "An availabilityCondition must specify an expression."
		}
		for _, p := range r.AvailablePermissions {
			if !strings.HasPrefix(p, "inRole:") {
				return "Invalid availablePermissions: " + p
			}
		}
	}
	return ""
}
