package entratest_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/tarnhq/tarn/internal/entratest"
)

// claims decodes the payload of a JWT without verifying it, as Azurite does.
func claims(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts, want 3", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("decode payload: %v", err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatalf("payload: %v", err)
	}
	return c
}

func TestClientSecretCredentialGetsAStorageToken(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s := entratest.New(t, entratest.Options{Lifetime: 30 * time.Minute, Now: func() time.Time { return now }})
	cred := s.Credential(t, s.ClientSecret())
	tok, err := cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{entratest.StorageScope}})
	if err != nil {
		t.Fatalf("GetToken: %v", err)
	}
	c := claims(t, tok.Token)
	want := map[string]any{
		"aud":   "https://storage.azure.com",
		"iss":   "https://sts.windows.net/" + s.TenantID + "/",
		"tid":   s.TenantID,
		"oid":   s.ObjectID,
		"appid": s.ClientID,
		"iat":   float64(now.Unix()),
		"nbf":   float64(now.Unix()),
		"exp":   float64(now.Add(30 * time.Minute).Unix()),
	}
	for k, v := range want {
		if c[k] != v {
			t.Errorf("claim %s = %v, want %v", k, c[k], v)
		}
	}
	// azidentity computes ExpiresOn from expires_in and its own clock.
	if d := time.Until(tok.ExpiresOn); d < 29*time.Minute || d > 31*time.Minute {
		t.Errorf("ExpiresOn in %s, want about 30m", d)
	}
	reqs := s.Requests()
	if len(reqs) != 1 || s.Issued() != 1 {
		t.Fatalf("requests = %+v, issued %d; want one, issued", reqs, s.Issued())
	}
	if r := reqs[0]; r.TenantID != s.TenantID || r.ClientID != s.ClientID || r.Scope != entratest.StorageScope || r.GrantType != "client_credentials" || r.Error != "" {
		t.Errorf("request = %+v", r)
	}

	// MSAL caches the token: a second GetToken sends nothing.
	if _, err := cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{entratest.StorageScope}}); err != nil {
		t.Fatalf("second GetToken: %v", err)
	}
	if got := len(s.Requests()); got != 1 {
		t.Errorf("%d requests after a cached GetToken, want 1", got)
	}
}

func TestRefusals(t *testing.T) {
	s := entratest.New(t, entratest.Options{ClientSecret: "right-secret"})
	tests := []struct {
		name               string
		tenant, client     string
		secret, scope      string
		wantCode, wantText string
	}{
		{"wrong secret", s.TenantID, s.ClientID, "wrong-secret", entratest.StorageScope, "invalid_client", "AADSTS7000215"},
		{"unknown client", s.TenantID, "00000000-0000-4000-8000-000000000000", "right-secret", entratest.StorageScope, "unauthorized_client", "AADSTS700016"},
		{"scope without /.default", s.TenantID, s.ClientID, "right-secret", "https://storage.azure.com", "invalid_scope", "AADSTS1002012"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := s.Issued()
			cred, err := azidentity.NewClientSecretCredential(tt.tenant, tt.client, tt.secret, s.CredentialOptions())
			if err != nil {
				t.Fatal(err)
			}
			_, err = cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{tt.scope}})
			if err == nil || !strings.Contains(err.Error(), tt.wantText) {
				t.Fatalf("GetToken err = %v, want %s", err, tt.wantText)
			}
			if strings.Contains(err.Error(), "right-secret") || strings.Contains(err.Error(), "wrong-secret") {
				t.Errorf("error carries the secret: %v", err)
			}
			if s.Issued() != before {
				t.Errorf("a token was issued")
			}
			reqs := s.Requests()
			if got := reqs[len(reqs)-1].Error; got != tt.wantCode {
				t.Errorf("recorded error %q, want %q", got, tt.wantCode)
			}
		})
	}
}

func TestUnknownTenantIsRefusedAtDiscovery(t *testing.T) {
	s := entratest.New(t, entratest.Options{})
	cred, err := azidentity.NewClientSecretCredential("11111111-1111-4111-8111-111111111111", s.ClientID, s.ClientSecret(), s.CredentialOptions())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{entratest.StorageScope}}); err == nil {
		t.Fatal("GetToken for an unknown tenant succeeded")
	}
	if s.Issued() != 0 {
		t.Errorf("issued %d tokens", s.Issued())
	}
}

func TestRotatedSecretIsRefused(t *testing.T) {
	s := entratest.New(t, entratest.Options{ClientSecret: "old"})
	s.SetClientSecret("new")
	cred := s.Credential(t, "old")
	_, err := cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{entratest.StorageScope}})
	if err == nil || !strings.Contains(err.Error(), "AADSTS7000215") {
		t.Fatalf("old secret: err = %v, want AADSTS7000215", err)
	}
	if _, err := s.Credential(t, "new").GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{entratest.StorageScope}}); err != nil {
		t.Fatalf("new secret: %v", err)
	}
}

// TestWireProtocol checks the token endpoint's answer with a plain form POST, as any OAuth
// 2.0 client sends it.
func TestWireProtocol(t *testing.T) {
	s := entratest.New(t, entratest.Options{Lifetime: time.Hour})
	resp, err := s.HTTPClient().PostForm(s.AuthorityHost+s.TenantID+"/oauth2/v2.0/token", url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {s.ClientID},
		"client_secret": {s.ClientSecret()},
		"scope":         {entratest.StorageScope},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		TokenType   string `json:"token_type"`
		ExpiresIn   int    `json:"expires_in"`
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || body.TokenType != "Bearer" || body.ExpiresIn != 3600 || body.AccessToken == "" {
		t.Errorf("answer %d %+v", resp.StatusCode, body)
	}
	if !strings.HasPrefix(s.AuthorityHost, "https://127.0.0.1:") {
		t.Errorf("AuthorityHost = %s, want https on loopback", s.AuthorityHost)
	}
}
