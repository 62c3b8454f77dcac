package googletest_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google/externalaccount"

	"github.com/tarnhq/tarn/internal/googletest"
)

const (
	poolProvider = "projects/123456789012/locations/global/workloadIdentityPools/tarn-pool/providers/tarn-issuer"
	subject      = "org:acme:creds-key:gcs"
)

// testIssuer is an OIDC issuer on httptest: discovery and a JWKS of its published keys.
type testIssuer struct {
	URL       string
	published []jose.JSONWebKey
	keys      map[string]*ecdsa.PrivateKey
}

func newTestIssuer(t *testing.T) *testIssuer {
	t.Helper()
	iss := &testIssuer{keys: map[string]*ecdsa.PrivateKey{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			json.NewEncoder(w).Encode(map[string]string{"issuer": iss.URL, "jwks_uri": iss.URL + "/jwks"})
		case "/jwks":
			json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: iss.published})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	iss.URL = srv.URL
	return iss
}

// key makes a signing key kid, published in the JWKS when publish is set.
func (iss *testIssuer) key(t *testing.T, kid string, publish bool) {
	t.Helper()
	pk, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	iss.keys[kid] = pk
	if publish {
		iss.published = append(iss.published, jose.JSONWebKey{Key: &pk.PublicKey, KeyID: kid, Algorithm: "ES256", Use: "sig"})
	}
}

// sign returns a token signed by the key signer under key ID kid.
func (iss *testIssuer) sign(t *testing.T, signer, kid string, c jwt.Claims) string {
	t.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: iss.keys[signer], KeyID: kid}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(sig).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

type staticSupplier string

func (s staticSupplier) SubjectToken(context.Context, externalaccount.SupplierOptions) (string, error) {
	return string(s), nil
}

// federate exchanges token at s's STS with the real external-account library.
func federate(t *testing.T, s *googletest.Server, provider, token string) (*oauth2.Token, error) {
	t.Helper()
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: s.Transport()})
	ts, err := externalaccount.NewTokenSource(ctx, externalaccount.Config{
		Audience: "//iam.googleapis.com/" + provider, SubjectTokenType: googletest.TokenTypeJWT,
		TokenURL: s.URL + "/v1/token", Scopes: []string{"https://www.googleapis.com/auth/cloud-platform"},
		SubjectTokenSupplier: staticSupplier(token),
	})
	if err != nil {
		t.Fatal(err)
	}
	return ts.Token()
}

// generateAccessToken calls generateAccessToken for target with tok.
func generateAccessToken(t *testing.T, s *googletest.Server, tok *oauth2.Token) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/v1/projects/-/serviceAccounts/"+target+":generateAccessToken",
		strings.NewReader(`{"scope":["https://www.googleapis.com/auth/devstorage.read_write"]}`))
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestFederationVerifiesAsGoogleDoes drives the exchange with the real external-account
// library against an issuer on httptest: a token of the trusted issuer, audience and
// subject becomes a federated token of the subject's pool principal; every token an
// attacker could bring otherwise (another issuer's, signed by an unpublished key, forged
// under a published key ID, for another audience, expired, of a subject the attribute
// condition refuses, for an unknown provider) is refused with Google's error code.
func TestFederationVerifiesAsGoogleDoes(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	s := googletest.New(t, googletest.Options{Now: clock})
	iss := newTestIssuer(t)
	iss.key(t, "k1", true)
	iss.key(t, "gone", false)
	s.AddPoolProvider(t, googletest.PoolProvider{Name: poolProvider, IssuerURL: iss.URL, Subject: subject})
	claims := func(change func(*jwt.Claims)) jwt.Claims {
		c := jwt.Claims{Issuer: iss.URL, Subject: subject, Audience: jwt.Audience{"https://iam.googleapis.com/" + poolProvider},
			IssuedAt: jwt.NewNumericDate(clock()), Expiry: jwt.NewNumericDate(clock().Add(10 * time.Minute))}
		if change != nil {
			change(&c)
		}
		return c
	}
	tok, err := federate(t, s, poolProvider, iss.sign(t, "k1", "k1", claims(nil)))
	if err != nil {
		t.Fatalf("a trusted token: %v", err)
	}
	got, ok := s.Lookup(tok.AccessToken)
	if want := googletest.PoolPrincipal(poolProvider, subject); !ok || got.Kind != googletest.Federate || got.Principal != want {
		t.Fatalf("federated token %+v, want one of %s", got, want)
	}
	other := "projects/123456789012/locations/global/workloadIdentityPools/tarn-pool/providers/nosuch"
	for _, tc := range []struct {
		name, provider, token, code string
	}{
		{"another issuer", poolProvider, iss.sign(t, "k1", "k1", claims(func(c *jwt.Claims) { c.Issuer = "http://127.0.0.1:1" })), "invalid_grant"},
		{"an unpublished key", poolProvider, iss.sign(t, "gone", "gone", claims(nil)), "invalid_grant"},
		{"forged under a published kid", poolProvider, iss.sign(t, "gone", "k1", claims(nil)), "invalid_grant"},
		{"another audience", poolProvider, iss.sign(t, "k1", "k1", claims(func(c *jwt.Claims) { c.Audience = jwt.Audience{"sts.amazonaws.com"} })), "invalid_grant"},
		{"expired", poolProvider, iss.sign(t, "k1", "k1", claims(func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(clock().Add(-time.Second)) })), "invalid_grant"},
		{"another subject", poolProvider, iss.sign(t, "k1", "k1", claims(func(c *jwt.Claims) { c.Subject = "org:acme:creds-key:other" })), "unauthorized_client"},
		{"an unknown provider", other, iss.sign(t, "k1", "k1", claims(nil)), "invalid_target"},
		{"no JWT", poolProvider, "not-a-jwt", "invalid_grant"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := federate(t, s, tc.provider, tc.token)
			if err == nil || !strings.Contains(err.Error(), "status code 400") || !strings.Contains(err.Error(), `"error":"`+tc.code+`"`) {
				t.Errorf("exchange: %v, want 400 %s", err, tc.code)
			}
		})
	}
	if n := s.Calls(googletest.Federate); n != 9 {
		t.Errorf("STS counted %d exchanges, want 9", n)
	}
}

// TestImpersonationNeedsWorkloadIdentityUser: a federated token impersonates only a
// service account on which its pool principal, or its whole pool, holds
// roles/iam.workloadIdentityUser; another subject of the same pool is refused with 403.
func TestImpersonationNeedsWorkloadIdentityUser(t *testing.T) {
	s := googletest.New(t, googletest.Options{})
	iss := newTestIssuer(t)
	iss.key(t, "k1", true)
	s.AddPoolProvider(t, googletest.PoolProvider{Name: poolProvider, IssuerURL: iss.URL})
	token := func(sub string) *oauth2.Token {
		tok, err := federate(t, s, poolProvider, iss.sign(t, "k1", "k1", jwt.Claims{Issuer: iss.URL, Subject: sub,
			Audience: jwt.Audience{"https://iam.googleapis.com/" + poolProvider}, Expiry: jwt.NewNumericDate(time.Now().Add(time.Minute))}))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	mine, theirs := token(subject), token("org:acme:creds-key:other")
	if code := generateAccessToken(t, s, mine); code != http.StatusForbidden {
		t.Errorf("impersonation without a binding answered %d, want 403", code)
	}
	s.BindWorkloadIdentityUser(googletest.PoolPrincipal(poolProvider, subject), target)
	if code := generateAccessToken(t, s, mine); code != http.StatusOK {
		t.Errorf("impersonation of the bound subject answered %d, want 200", code)
	}
	if code := generateAccessToken(t, s, theirs); code != http.StatusForbidden {
		t.Errorf("impersonation of another subject answered %d, want 403", code)
	}
	s.BindWorkloadIdentityUser(googletest.PoolPrincipalSet(poolProvider), target)
	if code := generateAccessToken(t, s, theirs); code != http.StatusOK {
		t.Errorf("impersonation with the whole pool bound answered %d, want 200", code)
	}
}
