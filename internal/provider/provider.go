// Package provider mints temporary credentials from an org's creds keys. Users of the
// package get one concrete type, Vendor; each cloud implements the small Driver interface in
// a package of its own (localfile/, and later awssts/, azuresas/, gcsdownscope/).
//
// Vendor enforces what every provider shares: a location must lie within one of the creds
// key's roots, and the mode must be read or write. Drivers only mint.
package provider

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"net/url"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/store"
	"github.com/tarnhq/tarn/location"
)

// Key is a creds key as drivers see it: decoded configuration and, where the provider has
// one, the decrypted secret.
type Key struct {
	Org, Name string
	Version   int64
	Config    api.CredsKeyConfig
	Secret    []byte
	// Identity is tarn's own OIDC identity for this key, which federated auth modes
	// present to their cloud instead of a stored secret; nil when the server is no issuer
	// (tarn serve without --public-url).
	Identity *Identity
}

// Identity mints tokens of tarn's own OIDC issuer (package issuer) for one creds key.
// Every token minted is audited (audience, jti; never the token).
type Identity struct {
	// Issuer is the issuer's URL, the tokens' iss: the server's public URL.
	Issuer string
	// Subject is the tokens' sub: "org:ORG:creds-key:NAME" (issuer.Subject), which a
	// cloud's trust policy pins.
	Subject string
	// Token returns a token of at most 15 minutes with subject Subject and the given
	// audience (e.g. sts.amazonaws.com).
	Token func(ctx context.Context, audience string) (string, error)
	// Foreign returns a token as Token does but for another creds key's subject, one that
	// no creds key has: verify presents it to check that the cloud trusts this key's
	// subject only (the negative check of a trust policy, as a missing external ID is for
	// AssumeRole). It returns the token and its subject.
	Foreign func(ctx context.Context, audience string) (token, subject string, err error)
}

// IssuerHost returns issuer URL u without its scheme and trailing slash
// (tarn.example.com/tarn): the name clouds give an OIDC provider in ARNs and condition keys.
func IssuerHost(u string) string {
	_, rest, _ := strings.Cut(u, "://")
	return strings.TrimSuffix(rest, "/")
}

// NeedsIssuer is the error of a federated auth mode on a server that is no OIDC issuer.
func NeedsIssuer(mode string) error {
	return errs.E(errs.Invalid, "%s needs tarn's own OIDC issuer: start tarn serve with --public-url https://... (the URL the cloud fetches discovery from)", mode)
}

// IdentityOf returns key's Identity, or NeedsIssuer(mode) when the server is no issuer.
func IdentityOf(key Key, mode string) (*Identity, error) {
	if key.Identity == nil || key.Identity.Token == nil {
		return nil, NeedsIssuer(mode)
	}
	return key.Identity, nil
}

// Request asks a driver for credentials.
type Request struct {
	Key      Key
	Location location.Location // within one of Key.Config.Roots
	Mode     string            // api.ModeRead or api.ModeWrite
	Session  string            // who asks, for the provider's own audit trail (e.g. CloudTrail)
	TTL      time.Duration     // requested lifetime; drivers may shorten it
	// Registered is set when Location is a registered dataset's location: drivers whose
	// locations must exist to be listed (local directories) create it even for a read
	// vend, so that a new dataset lists as empty. Other read vends write nothing.
	Registered bool
}

// ConfigCheck is what CheckConfig knows about a creds key besides its configuration.
type ConfigCheck struct {
	// Org is the org the key belongs to.
	Org string
	// Superuser tells whether the caller is a superuser (a token not narrowed to an org),
	// who may configure what org admins may not (for provider file: roots outside the
	// org's own directory).
	Superuser bool
	// HasSecret tells whether the key has a secret, sent now or kept from before.
	HasSecret bool
	// Secret is the secret sent now, in plaintext, for drivers that check its form (a
	// service-account JSON key); nil when none was sent. Drivers must not keep it.
	Secret []byte
	// Prev is the key's current configuration, nil for a new key.
	Prev *api.CredsKeyConfig
	// Issuer is the server's OIDC issuer URL (its public URL), "" when it is no issuer:
	// federated auth modes need one (NeedsIssuer).
	Issuer string
}

// Driver mints credentials for one provider.
type Driver interface {
	// CheckConfig validates a creds key configuration for this provider and returns it in
	// canonical form. It returns an error of kind Invalid naming the bad field, and of kind
	// Permission for a configuration that only a superuser may make.
	CheckConfig(ctx context.Context, cfg api.CredsKeyConfig, check ConfigCheck) (api.CredsKeyConfig, error)
	// Vend returns credentials limited to req.Location and req.Mode. The answer's
	// Location, Mode, Provider and ExpiresAt are filled in by the Vendor when left empty.
	Vend(ctx context.Context, req Request) (*api.Credentials, error)
	// Verify runs the provider's configuration checks against loc.
	Verify(ctx context.Context, key Key, loc location.Location) []api.Check
}

// ExternalIDUser is implemented by drivers whose upstream takes an external ID (AWS
// AssumeRole). The Vendor then generates one for every new creds key and keeps it stable.
type ExternalIDUser interface {
	UsesExternalID() bool
}

// OfflineVender is implemented by drivers that vend without calling their upstream while
// they hold what signs (azure: a cached user delegation key or an account key; file: always).
// VendsOffline reports whether a vend with key would need no upstream call now; the vend
// service then spends none of the key's upstream budget on it.
type OfflineVender interface {
	VendsOffline(key Key) bool
}

// VendsOffline reports whether provider's driver is an OfflineVender that would vend with
// key without an upstream call now.
func (v *Vendor) VendsOffline(provider string, key Key) bool {
	d, err := v.driver(provider)
	if err != nil {
		return false
	}
	o, ok := d.(OfflineVender)
	return ok && o.VendsOffline(key)
}

// URLSigner is implemented by drivers whose URLs for single objects are signed by the
// driver rather than with the vended credential (gcs: V4 signed URLs through IAM
// Credentials signBlob). SignURL returns a URL that GETs object (a key relative to loc),
// valid from now for expires. Such a URL is bounded only by the object it names, so a
// driver signs only keys below loc, and callers pass a loc they vended.
type URLSigner interface {
	SignURL(ctx context.Context, key Key, loc location.Location, object string, now time.Time, expires time.Duration) (string, error)
}

// SignsURLs reports whether provider's driver is a URLSigner.
func (v *Vendor) SignsURLs(provider string) bool {
	d, err := v.driver(provider)
	if err != nil {
		return false
	}
	_, ok := d.(URLSigner)
	return ok
}

// SignURL signs a URL of object below loc through provider's driver (see URLSigner). It
// returns an error of kind Invalid when the driver signs no URLs, and of kind Permission
// when loc is outside key's roots.
func (v *Vendor) SignURL(ctx context.Context, provider string, key Key, loc location.Location, object string, now time.Time, expires time.Duration) (string, error) {
	d, err := v.driver(provider)
	if err != nil {
		return "", err
	}
	s, ok := d.(URLSigner)
	if !ok {
		return "", errs.E(errs.Invalid, "provider %s signs no URLs of its own", provider)
	}
	if !Allows(key, loc) {
		return "", OutsideRoots(key, loc)
	}
	return s.SignURL(ctx, key, loc, object, now, expires)
}

// Provisioner is implemented by drivers that can describe the cloud-side setup a creds key
// needs (for AWS: the role's permission and trust policies).
type Provisioner interface {
	Provision(ctx context.Context, key Key, req api.ProvisionRequest) (*api.ProvisionResponse, error)
}

// Provision describes the cloud-side setup of key through provider's driver. It returns an
// error of kind Invalid when the provider needs none.
func (v *Vendor) Provision(ctx context.Context, provider string, key Key, req api.ProvisionRequest) (*api.ProvisionResponse, error) {
	d, err := v.driver(provider)
	if err != nil {
		return nil, err
	}
	p, ok := d.(Provisioner)
	if !ok {
		return nil, errs.E(errs.Invalid, "provider %s needs no cloud-side setup", provider)
	}
	return p.Provision(ctx, key, req)
}

// ProbeName returns a fresh name for the probe object of a verify: "tarn-verify-" and 16
// random hex digits, so that two verifies never touch each other's probe.
func ProbeName() string {
	b := make([]byte, 8)
	rand.Read(b)
	return "tarn-verify-" + hex.EncodeToString(b)
}

// NewExternalID returns a fresh random external ID.
func NewExternalID() string {
	b := make([]byte, 18)
	rand.Read(b)
	return "tarn-" + base64.RawURLEncoding.EncodeToString(b)
}

// Vendor is the one entry point for minting: it resolves a store.CredsKey to its driver,
// checks the location and mode, and calls the driver.
type Vendor struct {
	drivers map[string]Driver
	now     func() time.Time
}

// New returns a Vendor over the given drivers, keyed by provider name. now may be nil.
func New(drivers map[string]Driver, now func() time.Time) *Vendor {
	if now == nil {
		now = time.Now
	}
	return &Vendor{drivers: drivers, now: now}
}

// Providers lists the provider names, sorted.
func (v *Vendor) Providers() []string {
	names := make([]string, 0, len(v.drivers))
	for n := range v.drivers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (v *Vendor) driver(name string) (Driver, error) {
	d, ok := v.drivers[name]
	if !ok {
		return nil, errs.E(errs.Invalid, "unknown provider %q: this server supports %s", name, strings.Join(v.Providers(), ", ")).In("provider")
	}
	return d, nil
}

// CheckConfig validates cfg for provider and returns it in canonical form, with its roots
// parsed by the location parser, then checked by the provider's driver with check. For
// drivers that use an external ID it keeps check.Prev's (or generates one) and refuses one
// chosen by the caller.
func (v *Vendor) CheckConfig(ctx context.Context, provider string, cfg api.CredsKeyConfig, check ConfigCheck) ([]byte, error) {
	d, err := v.driver(provider)
	if err != nil {
		return nil, err
	}
	if len(cfg.Roots) == 0 {
		return nil, errs.E(errs.Invalid, "a creds key needs at least one root location it may vend for").In("roots")
	}
	cfg.Roots = slices.Clone(cfg.Roots)
	for i, r := range cfg.Roots {
		l, err := location.ParseStorage(r)
		if err != nil {
			return nil, errs.Wrap(errs.Invalid, err, err.Error()).WithCode(api.CodeInvalidLocation).In("roots")
		}
		cfg.Roots[i] = l.String()
	}
	if u, ok := d.(ExternalIDUser); ok && u.UsesExternalID() {
		kept := ""
		if check.Prev != nil {
			kept = check.Prev.ExternalID
		}
		if cfg.ExternalID != "" && cfg.ExternalID != kept {
			return nil, errs.E(errs.Invalid, "external_id is generated by the server; leave it out (rotate it with tarn creds rotate-external-id)")
		}
		cfg.ExternalID = kept
		if cfg.ExternalID == "" {
			cfg.ExternalID = NewExternalID()
		}
	} else if cfg.ExternalID != "" {
		return nil, errs.E(errs.Invalid, "provider %s takes no external_id", provider)
	}
	cfg, err = d.CheckConfig(ctx, cfg, check)
	if err != nil {
		return nil, err
	}
	return json.Marshal(cfg)
}

// ForeignField returns the JSON name of the first field of cfg that a provider does not read,
// or "" when there is none. own is cfg with only the fields the provider reads copied over.
func ForeignField(cfg, own api.CredsKeyConfig) string {
	if reflect.DeepEqual(cfg, own) {
		return ""
	}
	v, o := reflect.ValueOf(cfg), reflect.ValueOf(own)
	for i := range v.NumField() {
		if !reflect.DeepEqual(v.Field(i).Interface(), o.Field(i).Interface()) {
			name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
			return name
		}
	}
	return "a field meant for another provider"
}

// ParseEndpoint parses s, the URL of an upstream endpoint that a creds key names (an S3,
// STS or blob service URL). It returns the URL, or nil and why s is not one: not a URL, not
// http:// or https://, no host, user information, a query or a fragment. Paths are the
// driver's to check.
func ParseEndpoint(s string) (*url.URL, string) {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return nil, "is not a URL"
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, "is not an http:// or https:// URL"
	case u.Hostname() == "" || u.Opaque != "":
		return nil, "has no host"
	case u.User != nil:
		return nil, "carries user information"
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, "has a query or fragment"
	}
	return u, ""
}

// EmulatorHost reports whether host may serve plain http: localhost, or an IP address that
// is not public (loopback, private), where emulators and stand-ins run.
func EmulatorHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && (ip.IsLoopback() || ip.IsPrivate())
}

// Decode returns the driver view of a stored creds key.
func Decode(k store.CredsKey) (Key, error) {
	var cfg api.CredsKeyConfig
	if err := json.Unmarshal(k.Config, &cfg); err != nil {
		return Key{}, fmt.Errorf("decode config of creds key %s/%s: %w", k.Org, k.Name, err)
	}
	return Key{Org: k.Org, Name: k.Name, Version: k.Version, Config: cfg, Secret: k.Secret}, nil
}

// Confiner is implemented by drivers that refuse some locations within a key's roots: those
// that lead elsewhere than their names say (local directories, through symbolic links: an
// error of kind Permission when loc really lies outside the roots), or that the provider
// cannot scope credentials to (Azure prefixes on flat accounts: kind Invalid).
type Confiner interface {
	Confine(key Key, loc location.Location) error
}

// CheckLocation returns nil if provider's key may vend for loc: loc lies within one of the
// key's roots, by name and, for drivers that are Confiners, in fact. It returns an error of
// kind Permission otherwise, and Invalid for an unknown provider or a location the driver
// cannot scope credentials to. Registering a dataset or
// a default storage calls it, so that nothing is registered that a vend would refuse.
func (v *Vendor) CheckLocation(provider string, key Key, loc location.Location) error {
	d, err := v.driver(provider)
	if err != nil {
		return err
	}
	if !Allows(key, loc) {
		return OutsideRoots(key, loc)
	}
	if c, ok := d.(Confiner); ok {
		return c.Confine(key, loc)
	}
	return nil
}

// Allows reports whether loc lies within one of key's roots.
func Allows(key Key, loc location.Location) bool {
	for _, r := range key.Config.Roots {
		root, err := location.ParseStorage(r)
		if err == nil && loc.Within(root) {
			return true
		}
	}
	return false
}

// OutsideRoots is the error for a location that key may not vend for.
func OutsideRoots(key Key, loc location.Location) error {
	return errs.E(errs.Permission, "%s is outside the locations creds key %q may vend for (%s)",
		loc, key.Name, strings.Join(key.Config.Roots, ", ")).WithCode(api.CodeInvalidLocation)
}

// Vend mints credentials for req through provider. It returns an error of kind Permission
// when req.Location is outside the key's roots, and Invalid for an unknown mode or provider.
func (v *Vendor) Vend(ctx context.Context, provider string, req Request) (*api.Credentials, error) {
	d, err := v.driver(provider)
	if err != nil {
		return nil, err
	}
	if req.Mode != api.ModeRead && req.Mode != api.ModeWrite {
		return nil, errs.E(errs.Invalid, "mode %q is not read or write", req.Mode)
	}
	if !Allows(req.Key, req.Location) {
		return nil, OutsideRoots(req.Key, req.Location)
	}
	c, err := d.Vend(ctx, req)
	if err != nil {
		return nil, err
	}
	if c.Location == "" {
		c.Location = req.Location.String()
	}
	if c.Mode == "" {
		c.Mode = req.Mode
	}
	if c.Provider == "" {
		c.Provider = provider
	}
	if c.ExpiresAt.IsZero() {
		c.ExpiresAt = v.now().Add(req.TTL).UTC().Truncate(time.Second)
	}
	return c, nil
}

// Verify runs provider's checks of key against loc (the key's first root when loc is zero).
func (v *Vendor) Verify(ctx context.Context, provider string, key Key, loc location.Location) ([]api.Check, error) {
	d, err := v.driver(provider)
	if err != nil {
		return nil, err
	}
	if loc.IsZero() {
		if len(key.Config.Roots) == 0 {
			return nil, errs.E(errs.Invalid, "creds key %q has no roots", key.Name)
		}
		if loc, err = location.ParseStorage(key.Config.Roots[0]); err != nil {
			return nil, err
		}
	}
	if !Allows(key, loc) {
		return []api.Check{{Name: "location within roots", OK: false,
			Detail: fmt.Sprintf("%s is outside the key's roots (%s)", loc, strings.Join(key.Config.Roots, ", "))}}, nil
	}
	return append([]api.Check{{Name: "location within roots", OK: true}}, d.Verify(ctx, key, loc)...), nil
}
