package gcsdownscope

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"sync"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
	"golang.org/x/oauth2/jwt"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/provider"
)

// ScopeCloudPlatform is the OAuth scope of the source token that impersonates.
const ScopeCloudPlatform = "https://www.googleapis.com/auth/cloud-platform"

// Authenticator gives the source token with which the driver impersonates a creds key's
// service account. Each auth mode has one (default: the server's ADC; service-account-key:
// the org's JSON key); implementations must be safe for concurrent use. A later mode
// (federated) plugs in here.
type Authenticator interface {
	Source(ctx context.Context, key provider.Key) (oauth2.TokenSource, error)
}

// defaultAuth is auth mode default: the server's Application Default Credentials
// (GOOGLE_APPLICATION_CREDENTIALS, gcloud, the metadata server), found on first use and
// shared by every key of the mode, or the source given in Options.DefaultCredentials.
type defaultAuth struct {
	mu  sync.Mutex
	src oauth2.TokenSource
}

// Source returns the server's token source. It returns an error of kind Unavailable when
// there are no ADC.
func (a *defaultAuth) Source(ctx context.Context, _ provider.Key) (oauth2.TokenSource, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.src == nil {
		// ADC fetch their tokens with Go's own client: the metadata server is on a
		// link-local address that the endpoint guard rightly refuses to org-chosen hosts.
		creds, err := google.FindDefaultCredentials(context.WithoutCancel(ctx), ScopeCloudPlatform)
		if err != nil {
			return nil, errs.Wrap(errs.Unavailable, err, "the tarn server has no Google Application Default Credentials: set GOOGLE_APPLICATION_CREDENTIALS or run it with a service account (or use auth service-account-key)")
		}
		a.src = creds.TokenSource
	}
	return a.src, nil
}

// keyAuth is auth mode service-account-key: the creds key's secret is a JSON key of the
// org's service account; its tokens are fetched from the key's token_uri through client
// (the endpoint guard's), since the key, and so its token_uri, is the org's choice.
type keyAuth struct{ client *http.Client }

// Source returns a token source for key's JSON key. It returns an error of kind Invalid
// when the secret is not a service-account key.
func (a keyAuth) Source(ctx context.Context, key provider.Key) (oauth2.TokenSource, error) {
	cfg, err := parseKey(key.Secret)
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, err, fmt.Sprintf("creds key %s/%s: %s; set it again with tarn creds add --secret-stdin", key.Org, key.Name, err))
	}
	return cfg.TokenSource(context.WithValue(context.WithoutCancel(ctx), oauth2.HTTPClient, a.client)), nil
}

// parseKey parses a service-account JSON key. Its errors say what is wrong without
// quoting the key.
func parseKey(secret []byte) (*jwt.Config, error) {
	if len(secret) == 0 {
		return nil, fmt.Errorf("auth %q needs the service account's JSON key as the creds key's secret", api.AuthServiceAccountKey)
	}
	var f struct {
		Type        string `json:"type"`
		ClientEmail string `json:"client_email"`
		TokenURI    string `json:"token_uri"`
		PrivateKey  string `json:"private_key"`
	}
	if json.Unmarshal(secret, &f) != nil {
		return nil, fmt.Errorf("the secret is not a JSON service account key")
	}
	if f.Type != "service_account" || !serviceAccountRe.MatchString(f.ClientEmail) {
		return nil, fmt.Errorf("the secret is not a service account key (its type must be \"service_account\", with a client_email)")
	}
	if u, why := provider.ParseEndpoint(f.TokenURI); u == nil && f.TokenURI != "" {
		return nil, fmt.Errorf("the key's token_uri %s", why)
	}
	block, _ := pem.Decode([]byte(f.PrivateKey))
	if block == nil {
		return nil, fmt.Errorf("the service account key's private_key is not a PEM key")
	}
	_, err1 := x509.ParsePKCS8PrivateKey(block.Bytes)
	_, err2 := x509.ParsePKCS1PrivateKey(block.Bytes)
	cfg, err := google.JWTConfigFromJSON(secret, ScopeCloudPlatform)
	if err != nil || err1 != nil && err2 != nil {
		return nil, fmt.Errorf("the service account key's private key cannot be read")
	}
	return cfg, nil
}
