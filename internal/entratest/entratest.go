// Package entratest runs a stand-in for Microsoft Entra ID's token endpoint on 127.0.0.1
// for tests, since Entra ID itself cannot run offline. It speaks the wire protocol that
// azidentity's ClientSecretCredential and ClientAssertionCredential (through MSAL) speak to
// Entra ID:
//
//   - GET  /{tenant}/v2.0/.well-known/openid-configuration: tenant discovery;
//   - POST /{tenant}/oauth2/v2.0/token with grant_type=client_credentials, client_id,
//     scope RESOURCE/.default and either client_secret or a client assertion
//     (client_assertion_type urn:ietf:params:oauth:client-assertion-type:jwt-bearer,
//     client_assertion JWT): a JSON answer with token_type Bearer, expires_in and
//     access_token, or an OAuth 2.0 error with Entra ID's AADSTS codes.
//
// A client assertion is checked as Entra ID checks one against the app's federated identity
// credentials (see FederatedCredential): one of them must name the assertion's issuer and
// subject exactly and one of its audiences; the server then fetches the issuer's discovery
// document and JWKS over HTTP (on loopback only), verifies the signature, and checks exp and
// nbf against its clock.
//
// Access tokens are RS256 JWTs in the shape Azure Storage receives (version 1.0: audience
// the resource, issuer https://sts.windows.net/{tenant}/, oid, tid, appid), which Azurite's
// `--oauth basic` accepts (internal/azuritetest.StartOAuth). The server serves HTTPS with a
// self-signed certificate for 127.0.0.1; Credential and CredentialOptions point azidentity at
// it. It records every token request, so tests can count upstream calls.
package entratest

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// StorageScope is the scope azblob asks tokens for; tokens for it have the audience
// https://storage.azure.com.
const StorageScope = "https://storage.azure.com/.default"

// Options configure a Server. The zero value is a working server with random identifiers.
type Options struct {
	// TenantID is the one tenant the server knows; empty means a random GUID.
	TenantID string
	// ClientID is the one app registration the server knows; empty means a random GUID.
	ClientID string
	// ClientSecret is its secret; empty means a random one.
	ClientSecret string
	// ObjectID is the oid claim of issued tokens (the app's service principal); empty means a
	// random GUID.
	ObjectID string
	// Lifetime is the expires_in of issued tokens; zero means an hour.
	Lifetime time.Duration
	// Now is the clock for the iat, nbf and exp claims, and for checking those of client
	// assertions; nil means time.Now.
	Now func() time.Time
	// FederatedCredentials are the app's federated identity credentials (see
	// AddFederatedCredential).
	FederatedCredentials []FederatedCredential
}

// Request is one token request the server received.
type Request struct {
	// TenantID is the tenant in the request path.
	TenantID string
	// GrantType and ClientID are the form fields of the request.
	GrantType, ClientID string
	// Scope is its scope field without the OpenID Connect scopes MSAL adds (openid,
	// offline_access, profile), which Entra ID ignores for client credentials.
	Scope string
	// Subject is the sub claim of its client assertion, as presented (verified or not),
	// and Assertion the assertion itself, so that tests can look for it where it must not
	// be; both empty for a client secret.
	Subject, Assertion string
	// Error is the OAuth error code of the answer ("invalid_client", ...); empty when a
	// token was issued.
	Error string
}

// Server is the stand-in token endpoint. It is safe for concurrent use.
type Server struct {
	// AuthorityHost is the server's URL, "https://127.0.0.1:PORT/": what Entra ID's
	// https://login.microsoftonline.com/ is in production.
	AuthorityHost string
	// TenantID, ClientID and ObjectID identify the tenant, the app registration and its
	// service principal.
	TenantID, ClientID, ObjectID string

	srv      *httptest.Server
	key      *rsa.PrivateKey
	lifetime time.Duration
	now      func() time.Time
	issuers  *http.Client // fetches the metadata of federated credentials' issuers

	mu        sync.Mutex
	secret    string
	federated []FederatedCredential
	requests  []Request
}

// New starts a Server on 127.0.0.1 and stops it when t ends.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("entratest: signing key: %v", err)
	}
	s := &Server{
		TenantID: or(opts.TenantID, guid()),
		ClientID: or(opts.ClientID, guid()),
		ObjectID: or(opts.ObjectID, guid()),
		key:      key,
		lifetime: opts.Lifetime,
		now:      opts.Now,
		secret:   or(opts.ClientSecret, rand.Text()),
		issuers:  loopbackClient(),
	}
	for _, fc := range opts.FederatedCredentials {
		s.AddFederatedCredential(fc)
	}
	if s.lifetime == 0 {
		s.lifetime = time.Hour
	}
	if s.now == nil {
		s.now = time.Now
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", s.discovery)
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", s.token)
	s.srv = httptest.NewTLSServer(mux) // a self-signed certificate for 127.0.0.1
	t.Cleanup(s.srv.Close)
	s.AuthorityHost = s.srv.URL + "/"
	return s
}

// ClientSecret returns the secret the server accepts for ClientID.
func (s *Server) ClientSecret() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.secret
}

// SetClientSecret replaces the accepted secret, as rotating it in Entra ID does: requests
// with the old one are refused from now on with invalid_client (AADSTS7000215).
func (s *Server) SetClientSecret(secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secret = secret
}

// Requests returns the token requests received so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Issued returns how many tokens the server has issued.
func (s *Server) Issued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.requests {
		if r.Error == "" {
			n++
		}
	}
	return n
}

// CertPool returns a pool that trusts the server's certificate.
func (s *Server) CertPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(s.srv.Certificate())
	return pool
}

// HTTPClient returns a client that trusts the server's certificate.
func (s *Server) HTTPClient() *http.Client { return s.srv.Client() }

// CredentialOptions returns the options that make azidentity.NewClientSecretCredential
// talk to the server: its authority host, instance discovery off, and a transport that
// trusts its certificate.
func (s *Server) CredentialOptions() *azidentity.ClientSecretCredentialOptions {
	return &azidentity.ClientSecretCredentialOptions{
		ClientOptions: azcore.ClientOptions{
			Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: s.AuthorityHost},
			Transport: s.HTTPClient(),
		},
		DisableInstanceDiscovery: true,
	}
}

// AssertionCredential returns a ClientAssertionCredential for ClientID in TenantID whose
// assertions getAssertion returns, pointed at the server.
func (s *Server) AssertionCredential(t testing.TB, getAssertion func(context.Context) (string, error)) *azidentity.ClientAssertionCredential {
	t.Helper()
	o := s.CredentialOptions()
	cred, err := azidentity.NewClientAssertionCredential(s.TenantID, s.ClientID, getAssertion, &azidentity.ClientAssertionCredentialOptions{
		ClientOptions: o.ClientOptions, DisableInstanceDiscovery: o.DisableInstanceDiscovery,
	})
	if err != nil {
		t.Fatalf("entratest: client assertion credential: %v", err)
	}
	return cred
}

// Credential returns a ClientSecretCredential for ClientID in TenantID with secret, pointed
// at the server.
func (s *Server) Credential(t testing.TB, secret string) *azidentity.ClientSecretCredential {
	t.Helper()
	cred, err := azidentity.NewClientSecretCredential(s.TenantID, s.ClientID, secret, s.CredentialOptions())
	if err != nil {
		t.Fatalf("entratest: client secret credential: %v", err)
	}
	return cred
}

func (s *Server) discovery(w http.ResponseWriter, r *http.Request) {
	tenant := r.PathValue("tenant")
	if tenant != s.TenantID {
		s.oauthError(w, http.StatusBadRequest, "invalid_tenant", 90002, fmt.Sprintf("Tenant '%s' not found.", tenant))
		return
	}
	base := s.srv.URL + "/" + tenant
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                base + "/v2.0",
		"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
		"token_endpoint":                        base + "/oauth2/v2.0/token",
		"jwks_uri":                              s.srv.URL + "/discovery/v2.0/keys",
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"tenant_region_scope":                   "EU",
	})
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.oauthError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain a form.")
		return
	}
	req := Request{
		TenantID:  r.PathValue("tenant"),
		GrantType: r.PostForm.Get("grant_type"),
		ClientID:  r.PostForm.Get("client_id"),
		Scope:     resourceScope(r.PostForm.Get("scope")),
	}
	audience, hasDefault := strings.CutSuffix(req.Scope, "/.default")
	var ref *refusal
	switch {
	case req.TenantID != s.TenantID:
		ref = &refusal{http.StatusBadRequest, "invalid_request", 90002, fmt.Sprintf("Tenant '%s' not found.", req.TenantID)}
	case req.GrantType != "client_credentials":
		ref = &refusal{http.StatusBadRequest, "unsupported_grant_type", 70003, "The app requested an unsupported grant type."}
	case req.ClientID != s.ClientID:
		ref = &refusal{http.StatusBadRequest, "unauthorized_client", 700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory.", req.ClientID)}
	default:
		ref = s.authenticate(r.Context(), r.PostForm, &req)
	}
	if ref == nil && (!hasDefault || strings.Contains(req.Scope, " ") || audience == "") {
		ref = &refusal{http.StatusBadRequest, "invalid_scope", 1002012, fmt.Sprintf("The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.", req.Scope)}
	}
	var tok string
	if ref == nil {
		var err error
		if tok, err = s.mint(audience, req.ClientID); err != nil {
			ref = &refusal{http.StatusInternalServerError, "server_error", 50000, "Could not sign the token."}
		}
	}
	if ref != nil {
		req.Error = ref.code
	}
	s.mu.Lock()
	s.requests = append(s.requests, req)
	s.mu.Unlock()
	if ref != nil {
		s.oauthError(w, ref.status, ref.code, ref.aadsts, ref.msg)
		return
	}
	secs := int(s.lifetime / time.Second)
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type":     "Bearer",
		"expires_in":     secs,
		"ext_expires_in": secs,
		"access_token":   tok,
	})
}

// resourceScope returns the space-separated scope without openid, offline_access and profile.
func resourceScope(scope string) string {
	var keep []string
	for _, sc := range strings.Fields(scope) {
		switch sc {
		case "openid", "offline_access", "profile":
		default:
			keep = append(keep, sc)
		}
	}
	return strings.Join(keep, " ")
}

// mint returns a signed version 1.0 access token for audience issued to clientID.
func (s *Server) mint(audience, clientID string) (string, error) {
	now := s.now()
	claims := map[string]any{
		"aud":   audience,
		"iss":   "https://sts.windows.net/" + s.TenantID + "/",
		"iat":   now.Unix(),
		"nbf":   now.Unix(),
		"exp":   now.Add(s.lifetime).Unix(),
		"appid": clientID,
		"idtyp": "app",
		"oid":   s.ObjectID,
		"sub":   s.ObjectID,
		"tid":   s.TenantID,
		"ver":   "1.0",
	}
	header, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": "entratest"})
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	signing := b64(header) + "." + b64(payload)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return signing + "." + b64(sig), nil
}

// oauthError writes an OAuth 2.0 error answer as Entra ID does: error, an
// "AADSTSnnn: ..." description and the numeric error_codes.
func (s *Server) oauthError(w http.ResponseWriter, status int, code string, aadsts int, msg string) {
	writeJSON(w, status, map[string]any{
		"error":             code,
		"error_description": fmt.Sprintf("AADSTS%d: %s", aadsts, msg),
		"error_codes":       []int{aadsts},
		"timestamp":         s.now().UTC().Format("2006-01-02 15:04:05Z"),
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store, no-cache")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func constantTimeEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func or(s, def string) string {
	if s != "" {
		return s
	}
	return def
}

// guid returns a random version 4 UUID, the shape of Entra ID's identifiers.
func guid() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
