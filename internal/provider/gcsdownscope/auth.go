package gcsdownscope

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"cloud.google.com/go/compute/metadata"
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
// the org's JSON key; federated: tarn's own token exchanged at a workload identity pool
// provider); implementations must be safe for concurrent use.
type Authenticator interface {
	Source(ctx context.Context, key provider.Key) (oauth2.TokenSource, error)
}

// PrincipalSource is implemented by Authenticators that know which account their source
// token acts as. Principal returns its email, or "" when it is no service account or cannot
// be known.
type PrincipalSource interface {
	Principal(ctx context.Context, key provider.Key) (string, error)
}

// defaultAuth is auth mode default: the server's Application Default Credentials
// (GOOGLE_APPLICATION_CREDENTIALS, gcloud, the metadata server), found on first use and
// shared by every key of the mode, or those given in Options.DefaultCredentials.
type defaultAuth struct {
	mu    sync.Mutex
	creds *google.Credentials
	found bool // creds came from google.FindDefaultCredentials, not from Options
}

// credentials returns the server's ADC. It returns an error of kind Unavailable when there
// are none.
func (a *defaultAuth) credentials(ctx context.Context) (*google.Credentials, bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.creds == nil {
		// ADC fetch their tokens with Go's own client: the metadata server is on a
		// link-local address that the endpoint guard rightly refuses to org-chosen hosts.
		creds, err := google.FindDefaultCredentials(context.WithoutCancel(ctx), ScopeCloudPlatform)
		if err != nil {
			return nil, false, errs.Wrap(errs.Unavailable, err, "the tarn server has no Google Application Default Credentials: set GOOGLE_APPLICATION_CREDENTIALS or run it with a service account (or use auth service-account-key)")
		}
		a.creds, a.found = creds, true
	}
	return a.creds, a.found, nil
}

// Source returns the server's token source. It returns an error of kind Unavailable when
// there are no ADC.
func (a *defaultAuth) Source(ctx context.Context, _ provider.Key) (oauth2.TokenSource, error) {
	creds, _, err := a.credentials(ctx)
	if err != nil {
		return nil, err
	}
	return creds.TokenSource, nil
}

// Principal returns the email of the service account the server's ADC act as: from their
// JSON (adcEmail), or, only for ADC that were found on the metadata server (GCE, GKE, Cloud
// Run), that server's default account. It returns "" when the ADC name no service account
// (a gcloud user login, workload identity federation without impersonation), and an error
// of kind Unavailable when there are no ADC or the metadata server does not answer.
func (a *defaultAuth) Principal(ctx context.Context, _ provider.Key) (string, error) {
	creds, found, err := a.credentials(ctx)
	if err != nil {
		return "", err
	}
	if creds.JSON != nil || !found {
		return adcEmail(creds.JSON), nil
	}
	email, err := metadata.EmailWithContext(ctx, "default")
	if err != nil {
		return "", errs.Wrap(errs.Unavailable, err, "the metadata server did not tell the email of the tarn server's service account; give it with tarn provision gcp --principal")
	}
	if !serviceAccountRe.MatchString(email) {
		return "", nil // e.g. a GKE node's workload pool, which is no account
	}
	return email, nil
}

// adcEmail returns the email of the service account that Application Default Credentials
// of JSON form adc (google.Credentials.JSON) act as: the client_email of a service_account
// key, and the target of an impersonated_service_account or of an external_account that
// impersonates (service_account_impersonation_url). It returns "" for any other ADC (a
// gcloud user login, authorized_user), for an external_account without impersonation, and
// for what is not ADC JSON or names no valid service account email.
func adcEmail(adc []byte) string {
	var f struct {
		Type          string `json:"type"`
		ClientEmail   string `json:"client_email"`
		Impersonation string `json:"service_account_impersonation_url"`
	}
	if json.Unmarshal(adc, &f) != nil {
		return ""
	}
	var email string
	switch f.Type {
	case "service_account":
		email = f.ClientEmail
	case "impersonated_service_account", "external_account":
		// .../v1/projects/-/serviceAccounts/EMAIL:generateAccessToken
		_, rest, ok := strings.Cut(f.Impersonation, "/serviceAccounts/")
		if !ok {
			return ""
		}
		email, _, _ = strings.Cut(rest, ":")
	}
	if !serviceAccountRe.MatchString(email) {
		return ""
	}
	return email
}

// keyAuth is auth mode service-account-key: the creds key's secret is a JSON key of the
// org's service account; its tokens are fetched from the key's token_uri through client
// (the endpoint guard's), since the key, and so its token_uri, is the org's choice.
type keyAuth struct{ client *http.Client }

// Source returns a token source for key's JSON key. It returns an error of kind Invalid
// when the secret is not a service-account key.
func (a keyAuth) Source(ctx context.Context, key provider.Key) (oauth2.TokenSource, error) {
	cfg, err := keyConfig(key)
	if err != nil {
		return nil, err
	}
	return cfg.TokenSource(context.WithValue(context.WithoutCancel(ctx), oauth2.HTTPClient, a.client)), nil
}

// Principal returns the client_email of key's JSON key: the account that impersonates. It
// returns an error of kind Invalid when the secret is not a service-account key.
func (a keyAuth) Principal(_ context.Context, key provider.Key) (string, error) {
	cfg, err := keyConfig(key)
	if err != nil {
		return "", err
	}
	return cfg.Email, nil
}

// keyConfig parses key's secret as a service-account JSON key; its error is of kind
// Invalid.
func keyConfig(key provider.Key) (*jwt.Config, error) {
	cfg, err := parseKey(key.Secret)
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, err, fmt.Sprintf("creds key %s/%s: %s; set it again with tarn creds add --secret-stdin", key.Org, key.Name, err))
	}
	return cfg, nil
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
