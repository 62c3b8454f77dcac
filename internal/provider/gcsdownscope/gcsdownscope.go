// Package gcsdownscope is the provider "gcs": it vends OAuth 2.0 access tokens for Google
// Cloud Storage, limited to one location and one mode. The driver gets a source token (the
// server's Application Default Credentials, an org's service-account JSON key, or, with auth
// federated, a token of tarn's own OIDC issuer exchanged at Google STS for a workload
// identity pool principal's),
// impersonates the creds key's service account with it (IAM Credentials
// generateAccessToken), then cuts the impersonated token down through Google STS with a
// Credential Access Boundary: one rule on the location's bucket, with the mode's role and,
// below the bucket, a condition that admits only the location's prefix.
//
// Impersonated tokens are cached per creds key, shared by all its locations, and renewed
// when half their lifetime has passed; downscoped tokens are cached by the vend service like
// every vended credential. Every vend calls STS, so the driver is no provider.OfflineVender.
package gcsdownscope

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"golang.org/x/oauth2/google"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/netguard"
	"github.com/tarnhq/tarn/internal/provider"
	"github.com/tarnhq/tarn/location"
)

// Name is the provider name of this driver.
const Name = api.ProviderGCS

// Google's endpoints, used when a creds key names none.
const (
	DefaultIAMEndpoint     = "https://iamcredentials.googleapis.com"
	DefaultSTSEndpoint     = "https://sts.googleapis.com"
	DefaultStorageEndpoint = "https://storage.googleapis.com"
)

// ScopeStorage is the OAuth scope of impersonated tokens, which downscoping narrows.
const ScopeStorage = "https://www.googleapis.com/auth/devstorage.read_write"

// MaxLifetime is the longest lifetime of an impersonated token (generateAccessToken's
// limit), and so of a vended one; a vend asking for none or more gets it.
const MaxLifetime = time.Hour

// DefaultTimeout bounds each call to Google when Options.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// Options configure a Driver. The zero value is usable.
type Options struct {
	// Guard checks the endpoints of creds keys (and the token_uri of their service-account
	// keys) and every connection to them; nil means a guard that allows public addresses
	// only.
	Guard *netguard.Guard
	// Transport, when set, builds the transport of requests to Google around the guard's
	// dial function.
	Transport func(dial netguard.DialFunc) http.RoundTripper
	// DefaultCredentials are the credentials of auth mode default; nil means the server's
	// Application Default Credentials, found on first use. Their JSON, when set, tells
	// Provision the server's principal; given credentials without JSON have none (only ADC
	// found on the metadata server ask it). Tests pass a googletest key's
	// (google.CredentialsFromJSON).
	DefaultCredentials *google.Credentials
	// Authenticators replace the built-in source of an auth mode (api.AuthDefault,
	// api.AuthServiceAccountKey) or add one; those that are PrincipalSources tell Provision
	// their account.
	Authenticators map[string]Authenticator
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Timeout bounds each call to Google; zero means DefaultTimeout.
	Timeout time.Duration
}

// Driver vends downscoped Google Cloud Storage tokens. It is safe for concurrent use.
type Driver struct {
	guard   *netguard.Guard
	http    *http.Client
	auth    map[string]Authenticator
	now     func() time.Time
	timeout time.Duration
	tokens  *tokenCache
}

// New returns a driver with the given options.
func New(o Options) *Driver {
	d := &Driver{guard: o.Guard, now: o.Now, timeout: o.Timeout}
	if d.guard == nil {
		d.guard = &netguard.Guard{}
	}
	if d.now == nil {
		d.now = time.Now
	}
	if d.timeout <= 0 {
		d.timeout = DefaultTimeout
	}
	d.http = d.guard.Client(netguard.ClientOptions{Timeout: d.timeout, Transport: o.Transport})
	d.auth = map[string]Authenticator{
		api.AuthDefault:           &defaultAuth{creds: o.DefaultCredentials},
		api.AuthServiceAccountKey: keyAuth{client: d.http},
		api.AuthFederated:         federatedAuth{client: d.http},
	}
	for mode, a := range o.Authenticators {
		d.auth[mode] = a
	}
	d.tokens = newTokenCache(d.now, d.timeout, d.impersonate)
	return d
}

var (
	// A service account: NAME@PROJECT.iam.gserviceaccount.com, or a Google-managed one
	// such as 123-compute@developer.gserviceaccount.com.
	serviceAccountRe = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+gserviceaccount\.com$`)
	kmsKeyRe         = regexp.MustCompile(`^projects/[a-z0-9-]{6,30}/locations/[a-z0-9-]{1,64}/keyRings/[A-Za-z0-9_-]{1,63}/cryptoKeys/[A-Za-z0-9_-]{1,63}$`)
)

// CheckConfig validates a gcs creds key configuration and returns it in canonical form
// (auth default when left out, endpoints as scheme://host, empty for Google's own). It
// returns an error of kind Invalid naming the bad field: roots that are not gs://, a
// service_account that is not a service account's email, an auth mode without its secret
// (service-account-key) or with one (default, federated), auth federated without a valid
// workload_identity_provider or on a server that is no OIDC issuer (provider.NeedsIssuer),
// a workload_identity_provider for another auth mode, a kms_key that is not a Cloud KMS key name,
// an endpoint that is not an http(s) URL without a path (http only for an emulator on a
// loopback or private address) or whose host the driver's guard refuses, and the fields of
// other providers.
func (d *Driver) CheckConfig(ctx context.Context, cfg api.CredsKeyConfig, check provider.ConfigCheck) (api.CredsKeyConfig, error) {
	own := api.CredsKeyConfig{
		Roots: cfg.Roots, ServiceAccount: cfg.ServiceAccount, Auth: cfg.Auth, KMSKey: cfg.KMSKey,
		IAMEndpoint: cfg.IAMEndpoint, STSEndpoint: cfg.STSEndpoint, StorageEndpoint: cfg.StorageEndpoint,
		WorkloadIdentityProvider: cfg.WorkloadIdentityProvider,
	}
	if f := provider.ForeignField(cfg, own); f != "" {
		return cfg, errs.E(errs.Invalid, "provider gcs does not take %s", f)
	}
	for _, r := range cfg.Roots {
		if l, err := location.ParseStorage(r); err != nil || l.Scheme != location.GS {
			return cfg, errs.E(errs.Invalid, "provider gcs takes gs://BUCKET[/PREFIX] roots, not %s", r).WithCode(api.CodeInvalidLocation).In("roots")
		}
	}
	if !serviceAccountRe.MatchString(cfg.ServiceAccount) {
		return cfg, errs.E(errs.Invalid, "service_account %q is not a service account's email, like datasets@PROJECT.iam.gserviceaccount.com (--service-account)", cfg.ServiceAccount).In("service_account")
	}
	switch cfg.Auth {
	case "", api.AuthDefault:
		if check.HasSecret {
			return cfg, errs.E(errs.Invalid, "auth %q impersonates with the server's own Google credentials: leave out the secret (or use auth %q)", api.AuthDefault, api.AuthServiceAccountKey).In("secret")
		}
		cfg.Auth = api.AuthDefault
	case api.AuthServiceAccountKey:
		if !check.HasSecret {
			return cfg, errs.E(errs.Invalid, "auth %q needs the service account's JSON key as the creds key's secret (--secret-stdin)", api.AuthServiceAccountKey).In("secret")
		}
		if check.Secret != nil {
			if err := d.checkKey(ctx, check.Secret); err != nil {
				return cfg, err
			}
		}
	case api.AuthFederated:
		if err := checkFederated(cfg, check); err != nil {
			return cfg, err
		}
	default:
		return cfg, errs.E(errs.Invalid, "auth %q is not %q (the server's Application Default Credentials), %q or %q (a token of tarn's own OIDC issuer)",
			cfg.Auth, api.AuthDefault, api.AuthServiceAccountKey, api.AuthFederated).In("auth")
	}
	if cfg.Auth != api.AuthFederated && cfg.WorkloadIdentityProvider != "" {
		return cfg, errs.E(errs.Invalid, "workload_identity_provider is only for auth %q: leave out --workload-identity-provider", api.AuthFederated).In("workload_identity_provider")
	}
	if cfg.KMSKey != "" && !kmsKeyRe.MatchString(cfg.KMSKey) {
		return cfg, errs.E(errs.Invalid, "kms_key %q is not a Cloud KMS key name, like projects/P/locations/L/keyRings/R/cryptoKeys/K (--kms-key)", cfg.KMSKey).In("kms_key")
	}
	for _, ep := range []struct {
		field, def string
		v          *string
	}{
		{"iam_endpoint", DefaultIAMEndpoint, &cfg.IAMEndpoint},
		{"sts_endpoint", DefaultSTSEndpoint, &cfg.STSEndpoint},
		{"storage_endpoint", DefaultStorageEndpoint, &cfg.StorageEndpoint},
	} {
		var err error
		if *ep.v, err = d.checkEndpoint(ctx, ep.field, ep.def, *ep.v); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

// checkKey returns an error of kind Invalid when secret is not a service-account JSON key
// whose token_uri the guard accepts; it never quotes the key.
func (d *Driver) checkKey(ctx context.Context, secret []byte) error {
	cfg, err := parseKey(secret)
	if err != nil {
		return errs.Wrap(errs.Invalid, err, err.Error()+"; send the JSON key that Google made for the service account (--secret-stdin)")
	}
	if cfg.TokenURL != google.JWTTokenURL {
		if err := d.guard.CheckURL(ctx, "the key's token_uri", cfg.TokenURL); err != nil {
			return err
		}
	}
	return nil
}

// checkEndpoint returns endpoint s as scheme://host, or "" when s is empty or Google's own
// (def).
func (d *Driver) checkEndpoint(ctx context.Context, field, def, s string) (string, error) {
	if s == "" {
		return "", nil
	}
	bad := func(why string) (string, error) {
		return "", errs.E(errs.Invalid, "%s %q %s; use a base URL like %s, or http://127.0.0.1:PORT for an emulator", field, s, why, def).In(field)
	}
	u, why := provider.ParseEndpoint(s)
	switch {
	case why != "":
		return bad(why)
	case u.Path != "" && u.Path != "/":
		return bad("has a path")
	case u.Scheme == "http" && !provider.EmulatorHost(u.Hostname()):
		return bad("is not https:// (plain http is only for an emulator on a loopback or private address)")
	}
	canon := u.Scheme + "://" + u.Host
	if canon == def {
		return "", nil
	}
	if err := d.guard.CheckURL(ctx, field, canon); err != nil {
		return "", err
	}
	return canon, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// lifetime returns the lifetime of the impersonated token for a vend asking for ttl.
func lifetime(ttl time.Duration) time.Duration {
	if ttl <= 0 || ttl > MaxLifetime {
		return MaxLifetime
	}
	return max(ttl.Truncate(time.Second), time.Minute)
}

// Vend returns an access token limited to req.Location and req.Mode by the boundary of
// BoundaryFor. It lives as long as the impersonated token it is cut from: at most req.TTL
// (MaxLifetime when zero or longer), less the age of that cached token. It returns an error
// of kind Invalid for a location that is not gs:// or whose boundary breaks STS's limits, of
// kind Permission when the source identity may not impersonate the key's service account
// (roles/iam.serviceAccountTokenCreator missing), of kind Upstream when Google refuses for a
// reason retrying will not fix, and of kind Unavailable when it cannot be reached, does not
// answer in time or fails on its side; errors never carry a token, a key or Google's message.
func (d *Driver) Vend(ctx context.Context, req provider.Request) (*api.Credentials, error) {
	cfg := req.Key.Config
	if req.Location.Scheme != location.GS {
		return nil, errs.E(errs.Invalid, "provider gcs vends for gs:// locations, not %s", req.Location).WithCode(api.CodeInvalidLocation)
	}
	opts, err := BoundaryFor(req.Location, req.Mode).Options()
	if err != nil {
		return nil, err
	}
	if cfg.StorageEndpoint != "" {
		// Clients connect to the endpoint the answer names: check it again, so that a name
		// re-pointed at an internal address since the key was saved is not handed to them.
		if err := d.guard.CheckURL(ctx, "storage_endpoint", cfg.StorageEndpoint); err != nil {
			return nil, errs.Wrap(errs.Unavailable, err, fmt.Sprintf("creds key %s/%s: %s", req.Key.Org, req.Key.Name, errs.DetailOf(err)))
		}
	}
	src, err := d.tokens.get(ctx, req.Key, lifetime(req.TTL))
	if err != nil {
		return nil, err
	}
	tok, err := d.downscope(ctx, req.Key, src, opts)
	if err != nil {
		return nil, err
	}
	return &api.Credentials{
		Location:  req.Location.String(),
		Mode:      req.Mode,
		Provider:  Name,
		ExpiresAt: tok.Expiry.UTC().Truncate(time.Second),
		GCS: &api.GCSCredentials{
			Bucket: req.Location.Bucket, Prefix: req.Location.Path,
			AccessToken: tok.AccessToken, Endpoint: cfg.StorageEndpoint,
		},
	}, nil
}
