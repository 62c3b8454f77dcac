// Package azuresas is the provider "azure": it vends a SAS (shared access signature) for
// Azure Blob Storage, limited to one location and one mode. A whole container gets a
// container SAS (sr=c); a prefix on an account with hierarchical namespace gets a directory
// SAS (sr=d); a prefix on a flat account, which Azure cannot scope tighter than its
// container, is refused unless the creds key opts into container scope.
//
// In the Entra ID auth modes (default: the server's own identity; client-secret: an app
// registration of the org and its secret; federated: an app registration of the org that
// trusts tarn's own OIDC issuer, with tarn's token as client assertion) the SAS is signed with a user delegation key, fetched with an
// Entra ID token and cached; in mode shared-key it is signed with the account key.
package azuresas

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/netguard"
	"github.com/tarnhq/tarn/internal/provider"
	"github.com/tarnhq/tarn/location"
)

// Name is the provider name of this driver.
const Name = api.ProviderAzure

// Backdate is how long before the vend a SAS starts, so that a store whose clock is
// slightly behind the server's does not refuse a fresh SAS as not yet valid.
const Backdate = 60 * time.Second

// DefaultTTL is the lifetime of a SAS when the request asks for none.
const DefaultTTL = time.Hour

// DefaultTimeout bounds each call to Entra ID and Blob Storage when Options.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// Options configure a Driver. The zero value is usable.
type Options struct {
	// Guard checks the endpoint of creds keys when they are configured, and every
	// connection to Blob Storage when it is made; nil means a guard that allows public
	// addresses only.
	Guard *netguard.Guard
	// Transport, when set, builds the transport of requests to Blob Storage around the
	// guard's dial function; tests use it to trust an emulator's certificate.
	Transport func(dial netguard.DialFunc) http.RoundTripper
	// Authenticators get the Entra ID tokens of the auth modes that use them, by mode
	// (api.AuthDefault, api.AuthClientSecret, api.AuthFederated); a mode left out gets the built-in one (see
	// EntraOptions). A later mode plugs in here.
	Authenticators map[string]Authenticator
	// Entra configures the built-in Authenticators, and the client with which verify fetches
	// tarn's own discovery (its transport; nil means a plain HTTP client).
	Entra EntraOptions
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Timeout bounds each call to Entra ID and Blob Storage; zero means DefaultTimeout.
	Timeout time.Duration
}

// Driver vends Azure Blob Storage SAS. It is safe for concurrent use.
type Driver struct {
	guard   *netguard.Guard
	http    *http.Client
	auth    map[string]Authenticator
	entra   EntraOptions
	entraDo func(*http.Request) (*http.Response, error)
	now     func() time.Time
	timeout time.Duration
	keys    *keyCache[*sas.UserDelegationCredential]
}

// New returns a driver with the given options.
func New(o Options) *Driver {
	d := &Driver{guard: o.Guard, now: o.Now, timeout: o.Timeout, entra: o.Entra, auth: map[string]Authenticator{
		api.AuthDefault:      &defaultAuth{opts: o.Entra},
		api.AuthClientSecret: clientSecretAuth{opts: o.Entra},
		api.AuthFederated:    federatedAuth{opts: o.Entra},
	}}
	for mode, a := range o.Authenticators {
		d.auth[mode] = a
	}
	if d.guard == nil {
		d.guard = &netguard.Guard{}
	}
	if d.now == nil {
		d.now = time.Now
	}
	if d.timeout <= 0 {
		d.timeout = DefaultTimeout
	}
	d.entraDo = (&http.Client{Timeout: d.timeout}).Do
	if t := o.Entra.ClientOptions.Transport; t != nil {
		d.entraDo = t.Do
	}
	d.http = d.guard.Client(netguard.ClientOptions{Timeout: d.timeout, Transport: o.Transport})
	d.keys = newKeyCache(d.now, d.timeout, d.fetchDelegationKey)
	return d
}

var (
	accountRe = regexp.MustCompile(`^[a-z0-9]{3,24}$`)
	guidRe    = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	// A tenant is a GUID or a verified domain such as contoso.onmicrosoft.com.
	tenantRe = regexp.MustCompile(`^(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+)$`)
)

// CheckConfig validates an azure creds key configuration and returns it in canonical form:
// Auth defaults to default, Scope to directory, Endpoint to
// https://ACCOUNT.blob.core.windows.net. It returns an error of kind Invalid naming the bad
// field: roots that are not az://ACCOUNT/... of the key's account, an auth mode without its
// fields or secret, an endpoint that is not an http(s) URL of the blob service (http only for
// an emulator on a loopback or private address) or whose host the driver's guard refuses,
// and a prefix root that Azure cannot scope (see Confine).
func (d *Driver) CheckConfig(ctx context.Context, cfg api.CredsKeyConfig, check provider.ConfigCheck) (api.CredsKeyConfig, error) {
	own := api.CredsKeyConfig{
		Roots: cfg.Roots, Account: cfg.Account, Endpoint: cfg.Endpoint, Auth: cfg.Auth,
		TenantID: cfg.TenantID, ClientID: cfg.ClientID, HierarchicalNamespace: cfg.HierarchicalNamespace,
		Scope: cfg.Scope,
	}
	if f := provider.ForeignField(cfg, own); f != "" {
		return cfg, errs.E(errs.Invalid, "provider azure does not take %s", f)
	}
	if !accountRe.MatchString(cfg.Account) {
		return cfg, errs.E(errs.Invalid, "account %q is not a storage account name (3 to 24 lowercase letters and digits; --account)", cfg.Account).In("account")
	}
	if cfg.Scope == "" {
		cfg.Scope = api.ScopeDirectory
	}
	switch {
	case cfg.Scope != api.ScopeDirectory && cfg.Scope != api.ScopeContainer:
		return cfg, errs.E(errs.Invalid, "scope %q is not %q or %q", cfg.Scope, api.ScopeDirectory, api.ScopeContainer).In("scope")
	case cfg.Scope == api.ScopeContainer && cfg.HierarchicalNamespace:
		return cfg, errs.E(errs.Invalid, "scope %q is for accounts without hierarchical namespace; with it, prefixes get a directory SAS: leave --scope out", api.ScopeContainer).In("scope")
	}
	for _, r := range cfg.Roots {
		l, err := location.ParseStorage(r)
		if err != nil || l.Scheme != location.AZ || l.Account != cfg.Account {
			return cfg, errs.E(errs.Invalid, "provider azure takes az://%s/CONTAINER[/PREFIX] roots of its account, not %s", cfg.Account, r).WithCode(api.CodeInvalidLocation).In("roots")
		}
		if err := scopable(cfg, l); err != nil {
			return cfg, err
		}
	}
	if err := checkAuth(cfg, check); err != nil {
		return cfg, err
	}
	if cfg.Auth == "" {
		cfg.Auth = api.AuthDefault
	}
	var err error
	cfg.Endpoint, err = d.checkEndpoint(ctx, cfg.Account, cfg.Endpoint)
	return cfg, err
}

// checkAuth checks that cfg's auth mode has the fields and secret it needs and no others,
// and, for mode federated, that the server is an OIDC issuer.
func checkAuth(cfg api.CredsKeyConfig, check provider.ConfigCheck) error {
	hasSecret := check.HasSecret
	switch cfg.Auth {
	case "", api.AuthDefault:
		if cfg.TenantID != "" || cfg.ClientID != "" || hasSecret {
			return errs.E(errs.Invalid, "auth %q uses the server's own Azure identity: leave out tenant_id, client_id and the secret (or use auth %q)", api.AuthDefault, api.AuthClientSecret).In("auth")
		}
	case api.AuthClientSecret:
		if err := checkApp(cfg); err != nil {
			return err
		}
		if !hasSecret {
			return errs.E(errs.Invalid, "auth %q needs the app registration's client secret as the creds key's secret (--secret-stdin)", api.AuthClientSecret).In("secret")
		}
	case api.AuthFederated:
		if err := checkApp(cfg); err != nil {
			return err
		}
		if hasSecret {
			return errs.E(errs.Invalid, "auth %q stores no secret: the app registration trusts tarn's own tokens; leave out the secret (or use auth %q)", api.AuthFederated, api.AuthClientSecret).In("secret")
		}
		if check.Issuer == "" {
			return errs.InField(provider.NeedsIssuer(federatedMode), "auth")
		}
	case api.AuthSharedKey:
		switch {
		case cfg.TenantID != "" || cfg.ClientID != "":
			return errs.E(errs.Invalid, "auth %q signs with the account key: leave out tenant_id and client_id", api.AuthSharedKey).In("auth")
		case !hasSecret:
			return errs.E(errs.Invalid, "auth %q needs the account key as the creds key's secret (--secret-stdin)", api.AuthSharedKey).In("secret")
		}
	default:
		return errs.E(errs.Invalid, "auth %q is not %q (the server's Azure identity), %q, %q or %q", cfg.Auth, api.AuthDefault, api.AuthClientSecret, api.AuthFederated, api.AuthSharedKey).In("auth")
	}
	return nil
}

// checkApp checks the app registration fields of cfg's auth mode: tenant_id and client_id.
func checkApp(cfg api.CredsKeyConfig) error {
	switch {
	case !tenantRe.MatchString(cfg.TenantID):
		return errs.E(errs.Invalid, "auth %q needs tenant_id, the directory (tenant) ID or domain of the app registration (--tenant-id)", cfg.Auth).In("tenant_id")
	case !guidRe.MatchString(cfg.ClientID):
		return errs.E(errs.Invalid, "auth %q needs client_id, the application (client) ID of the app registration, a GUID (--client-id)", cfg.Auth).In("client_id")
	}
	return nil
}

// checkEndpoint returns the canonical blob service URL of account: endpoint without a
// trailing slash, or the public Azure one when endpoint is empty.
func (d *Driver) checkEndpoint(ctx context.Context, account, endpoint string) (string, error) {
	if endpoint == "" {
		return publicEndpoint(account), nil
	}
	bad := func(why string) (string, error) {
		return "", errs.E(errs.Invalid, "endpoint %q %s; use the blob service URL, like https://%s.blob.core.windows.net or http://127.0.0.1:10000/%s for an emulator", endpoint, why, account, account).In("endpoint")
	}
	u, why := provider.ParseEndpoint(endpoint)
	switch {
	case why != "":
		return bad(why)
	case u.Path != "" && u.Path != "/" && u.Path != "/"+account && u.Path != "/"+account+"/":
		return bad("has a path other than the account's (/" + account + ")")
	case u.Scheme == "http" && !provider.EmulatorHost(u.Hostname()):
		return bad("is not https:// (plain http is only for an emulator on a loopback or private address)")
	}
	canon := u.Scheme + "://" + u.Host
	if u.Path != "" && u.Path != "/" {
		canon += "/" + account
	}
	if canon == publicEndpoint(account) {
		return canon, nil // Azure's own, as when left out
	}
	if err := d.guard.CheckURL(ctx, "endpoint", canon); err != nil {
		return "", err
	}
	return canon, nil
}

// publicEndpoint returns the blob service URL of account in Azure's public cloud.
func publicEndpoint(account string) string {
	return "https://" + account + ".blob.core.windows.net"
}

// Confine returns an error of kind Invalid when loc is a prefix that key cannot scope a SAS
// to: a prefix on an account without hierarchical namespace, unless the key's scope is
// container. Registering a dataset there is refused, as a vend would be.
func (d *Driver) Confine(key provider.Key, loc location.Location) error {
	return scopable(key.Config, loc)
}

// scopable returns the error for a location below a container that cfg cannot scope a SAS
// to, or nil.
func scopable(cfg api.CredsKeyConfig, loc location.Location) error {
	if loc.Path == "" || cfg.HierarchicalNamespace || cfg.Scope == api.ScopeContainer {
		return nil
	}
	return errs.E(errs.Invalid, "%s is a prefix of a container on account %s, which has no hierarchical namespace, and Azure cannot scope a SAS tighter than the container: use a container per dataset, an account with hierarchical namespace (--hierarchical-namespace), or --scope container on the creds key (its SAS then reach the whole container)",
		loc, cfg.Account).WithCode(api.CodeInvalidLocation)
}

// Vend returns a SAS limited to req.Location and req.Mode: read grants rl (read, list),
// write adds acwd (add, create, write, delete). It starts Backdate before now and expires
// after req.TTL (DefaultTTL when zero), or when the user delegation key that signs it
// expires, if that is earlier. It allows HTTPS only, except on an emulator's http endpoint.
// It returns an error of kind Invalid for a location that is not az:// or that the key
// cannot scope (see Confine), and of kind Unavailable or Upstream when Entra ID or Blob
// Storage cannot give a user delegation key; errors never carry a secret or a SAS.
func (d *Driver) Vend(ctx context.Context, req provider.Request) (*api.Credentials, error) {
	cfg := req.Key.Config
	v, err := signatureValues(cfg, req.Location, req.Mode, d.now(), req.TTL)
	if err != nil {
		return nil, err
	}
	if cfg.Endpoint != publicEndpoint(cfg.Account) {
		// Clients connect to the endpoint the answer names: check it again, so that a name
		// re-pointed at an internal address since the key was saved is not handed to them.
		if err := d.guard.CheckURL(ctx, "endpoint", cfg.Endpoint); err != nil {
			return nil, errs.Wrap(errs.Unavailable, err, fmt.Sprintf("creds key %s/%s: %s", req.Key.Org, req.Key.Name, errs.DetailOf(err)))
		}
	}
	qp, err := d.sign(ctx, req.Key, &v)
	if err != nil {
		return nil, err
	}
	return &api.Credentials{
		Location:  req.Location.String(),
		Mode:      req.Mode,
		Provider:  Name,
		ExpiresAt: v.ExpiryTime,
		Azure: &api.AzureCredentials{
			Account:   cfg.Account,
			Endpoint:  cfg.Endpoint,
			Container: req.Location.Container,
			Prefix:    req.Location.Path,
			SASToken:  qp.Encode(),
		},
	}, nil
}

// VendsOffline reports whether a vend with key would be signed without a call to Azure of
// its own: with the account key (auth shared-key), with a user delegation key cached for
// key's version that is not due for renewal, or with the one being fetched, which the vend
// would wait for.
func (d *Driver) VendsOffline(key provider.Key) bool {
	return key.Config.Auth == api.AuthSharedKey || d.keys.ready(key)
}

var _ provider.OfflineVender = (*Driver)(nil)
