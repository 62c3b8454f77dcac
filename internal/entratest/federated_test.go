package entratest_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tarnhq/tarn/internal/entratest"
)

// testIssuer is an OIDC issuer on 127.0.0.1 with one RS256 key in its JWKS.
type testIssuer struct {
	URL string
	key *rsa.PrivateKey
	kid string
}

func newRSAKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func newTestIssuer(t *testing.T) *testIssuer {
	t.Helper()
	key := newRSAKey(t)
	iss := &testIssuer{key: key, kid: "k1"}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"issuer": iss.URL, "jwks_uri": iss.URL + "/jwks"})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: iss.kid, Algorithm: "RS256", Use: "sig"}}})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	iss.URL = srv.URL
	return iss
}

// sign returns a JWT of claims signed with key under kid: RS256 for an RSA key, ES256 for
// an ECDSA one.
func sign(t *testing.T, key any, kid string, claims jwt.Claims) string {
	t.Helper()
	alg := jose.RS256
	if _, ok := key.(*ecdsa.PrivateKey); ok {
		alg = jose.ES256
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

const subject = "org:acme:creds-key:az"

func (i *testIssuer) claims(now time.Time) jwt.Claims {
	return jwt.Claims{Issuer: i.URL, Subject: subject, Audience: jwt.Audience{entratest.TokenExchangeAudience},
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(10 * time.Minute))}
}

func TestClientAssertionOfAFederatedCredentialGetsAToken(t *testing.T) {
	iss := newTestIssuer(t)
	s := entratest.New(t, entratest.Options{FederatedCredentials: []entratest.FederatedCredential{{Name: "tarn", Issuer: iss.URL, Subject: subject}}})
	assertion := sign(t, iss.key, iss.kid, iss.claims(time.Now()))
	cred := s.AssertionCredential(t, func(context.Context) (string, error) { return assertion, nil })
	tok, err := cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{entratest.StorageScope}})
	if err != nil {
		t.Fatalf("GetToken: %v", err)
	}
	if c := claims(t, tok.Token); c["aud"] != "https://storage.azure.com" || c["appid"] != s.ClientID || c["oid"] != s.ObjectID {
		t.Errorf("access token claims %v", c)
	}
	reqs := s.Requests()
	if len(reqs) != 1 || reqs[0].Subject != subject || reqs[0].Error != "" {
		t.Errorf("requests %+v; want one, of subject %s, answered", reqs, subject)
	}
}

// TestClientAssertionRefusals: each way an assertion differs from what the federated
// credential and the issuer's JWKS say is refused with Entra ID's code, and the error
// carries no assertion.
func TestClientAssertionRefusals(t *testing.T) {
	iss := newTestIssuer(t)
	other := newTestIssuer(t) // trusted by no federated credential
	now := time.Now()
	s := entratest.New(t, entratest.Options{FederatedCredentials: []entratest.FederatedCredential{{Name: "tarn", Issuer: iss.URL, Subject: subject}}})
	otherKey := newRSAKey(t)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	with := func(f func(*jwt.Claims)) jwt.Claims {
		c := iss.claims(now)
		f(&c)
		return c
	}
	tests := []struct {
		name      string
		assertion string
		want      string
	}{
		{"another subject", sign(t, iss.key, iss.kid, with(func(c *jwt.Claims) { c.Subject = "org:acme:creds-key:other" })), "AADSTS70021"},
		{"subject of another case", sign(t, iss.key, iss.kid, with(func(c *jwt.Claims) { c.Subject = strings.ToUpper(subject) })), "AADSTS70021"},
		{"another audience", sign(t, iss.key, iss.kid, with(func(c *jwt.Claims) { c.Audience = jwt.Audience{"sts.amazonaws.com"} })), "AADSTS70021"},
		{"another issuer", sign(t, other.key, other.kid, with(func(c *jwt.Claims) { c.Issuer = other.URL })), "AADSTS70021"},
		{"key not in the JWKS", sign(t, otherKey, "k2", iss.claims(now)), "AADSTS7000272"},
		{"signed by another key under the issuer's kid", sign(t, otherKey, iss.kid, iss.claims(now)), "AADSTS700027"},
		{"expired", sign(t, iss.key, iss.kid, with(func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(now.Add(-time.Second)) })), "AADSTS700024"},
		{"not yet valid", sign(t, iss.key, iss.kid, with(func(c *jwt.Claims) { c.NotBefore = jwt.NewNumericDate(now.Add(5 * time.Minute)) })), "AADSTS700024"},
		{"no expiry", sign(t, iss.key, iss.kid, with(func(c *jwt.Claims) { c.Expiry = nil })), "AADSTS700024"},
		{"not a JWT", "not.a.jwt", "AADSTS50027"},
		{"ES256, which Entra ID does not take", sign(t, ecKey, iss.kid, iss.claims(now)), "AADSTS50027"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := s.Issued()
			cred := s.AssertionCredential(t, func(context.Context) (string, error) { return tt.assertion, nil })
			_, err := cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{entratest.StorageScope}})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("GetToken err = %v, want %s", err, tt.want)
			}
			if strings.Contains(err.Error(), tt.assertion) {
				t.Errorf("error carries the assertion: %v", err)
			}
			if s.Issued() != before {
				t.Error("a token was issued")
			}
		})
	}
}

// TestIssuerMetadataOfAnotherIssuerIsRefused: an issuer whose discovery names another
// issuer is not trusted, whatever its JWKS holds.
func TestIssuerMetadataOfAnotherIssuerIsRefused(t *testing.T) {
	iss := newTestIssuer(t)
	trusted := iss.URL + "/" // what the discovery does not say
	s := entratest.New(t, entratest.Options{FederatedCredentials: []entratest.FederatedCredential{{Issuer: trusted, Subject: subject}}})
	c := iss.claims(time.Now())
	c.Issuer = trusted
	assertion := sign(t, iss.key, iss.kid, c)
	_, err := s.AssertionCredential(t, func(context.Context) (string, error) { return assertion, nil }).
		GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{entratest.StorageScope}})
	if err == nil || !strings.Contains(err.Error(), "AADSTS50027") {
		t.Fatalf("GetToken err = %v, want AADSTS50027", err)
	}
}

// TestSecretAndAssertionTogetherAreRefused: a request must carry exactly one client
// credential.
func TestSecretAndAssertionTogetherAreRefused(t *testing.T) {
	iss := newTestIssuer(t)
	s := entratest.New(t, entratest.Options{FederatedCredentials: []entratest.FederatedCredential{{Issuer: iss.URL, Subject: subject}}})
	for name, form := range map[string]url.Values{
		"both":                 {"client_secret": {s.ClientSecret()}, "client_assertion_type": {entratest.AssertionType}, "client_assertion": {sign(t, iss.key, iss.kid, iss.claims(time.Now()))}},
		"neither":              {},
		"wrong assertion type": {"client_assertion_type": {"urn:other"}, "client_assertion": {sign(t, iss.key, iss.kid, iss.claims(time.Now()))}},
	} {
		form.Set("grant_type", "client_credentials")
		form.Set("client_id", s.ClientID)
		form.Set("scope", entratest.StorageScope)
		resp, err := s.HTTPClient().PostForm(s.AuthorityHost+s.TenantID+"/oauth2/v2.0/token", form)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Codes []int `json:"error_codes"`
		}
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || len(body.Codes) != 1 || body.Codes[0] != 7000218 {
			t.Errorf("%s: %d %v; want 400 AADSTS7000218", name, resp.StatusCode, body.Codes)
		}
	}
	if s.Issued() != 0 {
		t.Errorf("issued %d tokens", s.Issued())
	}
}
