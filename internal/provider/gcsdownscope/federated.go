package gcsdownscope

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google/externalaccount"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/provider"
)

// Wire constants of workload identity federation.
const (
	// TokenTypeJWT is the subject_token_type of tarn's tokens at Google STS.
	TokenTypeJWT = "urn:ietf:params:oauth:token-type:jwt"
	// RoleWorkloadIdentityUser is the role a pool principal needs on a creds key's service
	// account to impersonate it.
	RoleWorkloadIdentityUser = "roles/iam.workloadIdentityUser"
)

// modeFederated names auth federated in NeedsIssuer's error.
const modeFederated = "auth " + api.AuthFederated

// PoolProvider is a workload identity pool provider, the parts of its resource name
// projects/PROJECT/locations/global/workloadIdentityPools/POOL/providers/PROVIDER (PROJECT
// is the project number).
type PoolProvider struct {
	Project, Pool, Provider string
}

var poolProviderRe = regexp.MustCompile(`^projects/([0-9]{1,20})/locations/global/workloadIdentityPools/([a-z0-9][a-z0-9-]{2,30}[a-z0-9])/providers/([a-z0-9][a-z0-9-]{2,30}[a-z0-9])$`)

// ParsePoolProvider parses a workload identity pool provider's resource name; ok is false
// when s is not one (a project ID instead of its number, a location other than global, an
// ID that is not 4 to 32 lowercase letters, digits and '-').
func ParsePoolProvider(s string) (p PoolProvider, ok bool) {
	m := poolProviderRe.FindStringSubmatch(s)
	if m == nil {
		return PoolProvider{}, false
	}
	return PoolProvider{Project: m[1], Pool: m[2], Provider: m[3]}, true
}

// Name returns the provider's resource name.
func (p PoolProvider) Name() string {
	return "projects/" + p.Project + "/locations/global/workloadIdentityPools/" + p.Pool + "/providers/" + p.Provider
}

// Audience returns the audience tarn's tokens carry: the provider's default allowed
// audience, https://iam.googleapis.com/ + Name.
func (p PoolProvider) Audience() string { return "https://iam.googleapis.com/" + p.Name() }

// Principal returns the IAM member of the pool's identity with google.subject subject.
func (p PoolProvider) Principal(subject string) string {
	return "principal://iam.googleapis.com/projects/" + p.Project + "/locations/global/workloadIdentityPools/" + p.Pool + "/subject/" + subject
}

// federatedAuth is auth mode federated: a token of tarn's own issuer for the creds key,
// exchanged at Google STS (through client, the endpoint guard's) for a federated token of
// the pool principal of the key's subject. Nothing is stored.
type federatedAuth struct{ client *http.Client }

// Source returns the token source of key's pool principal. It returns NeedsIssuer when the
// server is no OIDC issuer.
func (a federatedAuth) Source(ctx context.Context, key provider.Key) (oauth2.TokenSource, error) {
	id, err := provider.IdentityOf(key, modeFederated)
	if err != nil {
		return nil, err
	}
	return exchangeSource(ctx, a.client, key.Config, id.Token)
}

// subjectSupplier supplies a token of tarn's issuer with a fixed audience.
type subjectSupplier struct {
	audience string
	mint     func(ctx context.Context, audience string) (string, error)
}

func (s subjectSupplier) SubjectToken(ctx context.Context, _ externalaccount.SupplierOptions) (string, error) {
	return s.mint(ctx, s.audience)
}

// exchangeSource returns the external-account token source that exchanges tokens of mint
// at cfg's STS endpoint for federated tokens at cfg's pool provider. It returns an error of
// kind Invalid when cfg names no valid pool provider.
func exchangeSource(ctx context.Context, client *http.Client, cfg api.CredsKeyConfig, mint func(context.Context, string) (string, error)) (oauth2.TokenSource, error) {
	p, ok := ParsePoolProvider(cfg.WorkloadIdentityProvider)
	if !ok {
		return nil, errs.E(errs.Invalid, "workload_identity_provider %q is not a pool provider's name: set it again with --workload-identity-provider", cfg.WorkloadIdentityProvider)
	}
	ts, err := externalaccount.NewTokenSource(context.WithValue(context.WithoutCancel(ctx), oauth2.HTTPClient, client), externalaccount.Config{
		Audience:             "//iam.googleapis.com/" + p.Name(),
		SubjectTokenType:     TokenTypeJWT,
		TokenURL:             orDefault(cfg.STSEndpoint, DefaultSTSEndpoint) + "/v1/token",
		Scopes:               []string{ScopeCloudPlatform},
		SubjectTokenSupplier: subjectSupplier{audience: p.Audience(), mint: mint},
	})
	if err != nil {
		return nil, fmt.Errorf("workload identity federation: %w", err)
	}
	return ts, nil
}

// stsStatusRe reads the status and body out of the external-account library's error of a
// refused exchange ("oauth2/google: status code 400: {...}").
var stsStatusRe = regexp.MustCompile(`(?s)status code ([0-9]{3}): (.*)$`)

// stsRefusal returns err, an error of the external-account library, as the refusal of
// Google STS it reports (its status and error code, never its message), or nil when it
// reports none (STS could not be reached).
func stsRefusal(err error) *upstreamError {
	m := stsStatusRe.FindStringSubmatch(err.Error())
	if m == nil {
		return nil
	}
	status, _ := strconv.Atoi(m[1])
	return &upstreamError{status: status, code: errorCode([]byte(m[2]))}
}

// federatedFailure classifies err, the failure of key's exchange at Google STS: a refusal is
// of kind Upstream (Unavailable when retrying may help) and names what the pool provider
// must trust; an error of tarn's issuer is returned as it is.
func federatedFailure(key provider.Key, err error) error {
	where := fmt.Sprintf("creds key %s/%s", key.Org, key.Name)
	var e *errs.Error
	if errors.As(err, &e) {
		return err
	}
	ue := stsRefusal(err)
	switch {
	case ue == nil:
		return errs.E(errs.Unavailable, "%s: cannot reach Google STS at %s to exchange tarn's token", where, orDefault(key.Config.STSEndpoint, DefaultSTSEndpoint))
	case ue.retryable():
		return errs.Wrap(errs.Unavailable, ue, fmt.Sprintf("%s: Google STS could not exchange tarn's token (%s); try again later", where, ue))
	}
	trust := "tarn's issuer and the key's subject"
	if id := key.Identity; id != nil {
		trust = fmt.Sprintf("issuer %s and subject %s", id.Issuer, id.Subject)
	}
	return errs.Wrap(errs.Upstream, ue, fmt.Sprintf("%s: Google STS refused tarn's token at %s (%s): the pool provider must trust %s (see tarn provision gcp)",
		where, key.Config.WorkloadIdentityProvider, ue, trust))
}

// checkFederated returns why cfg, of auth federated, is refused: a secret, a missing or
// malformed workload_identity_provider, or a server that is no OIDC issuer (NeedsIssuer).
func checkFederated(cfg api.CredsKeyConfig, check provider.ConfigCheck) error {
	switch {
	case check.HasSecret:
		return errs.E(errs.Invalid, "auth %q presents a token of tarn's own issuer and stores no secret: leave out the secret", api.AuthFederated).In("secret")
	case cfg.WorkloadIdentityProvider == "":
		return errs.E(errs.Invalid, "auth %q needs the workload identity pool provider that trusts tarn's issuer (--workload-identity-provider projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER)", api.AuthFederated).In("workload_identity_provider")
	}
	if _, ok := ParsePoolProvider(cfg.WorkloadIdentityProvider); !ok {
		return errs.E(errs.Invalid, "workload_identity_provider %q is not a pool provider's name, projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER (the project's number, not its ID)", cfg.WorkloadIdentityProvider).In("workload_identity_provider")
	}
	if check.Issuer == "" {
		return provider.NeedsIssuer(modeFederated)
	}
	return nil
}

// Names of verify's checks of auth federated.
const (
	checkExchangeName = "exchange tarn's token at Google STS"
	checkForeignName  = "a token for another creds key refused"
)

// checkDiscovery checks that the discovery document of key's issuer is served at the
// issuer's URL and names that issuer, as Google STS fetches it. The issuer's URL is the
// server's own --public-url, set by the operator, not by an org: it is fetched directly,
// not through the endpoint guard.
func (d *Driver) checkDiscovery(ctx context.Context, key provider.Key) api.Check {
	id, err := provider.IdentityOf(key, modeFederated)
	if err != nil {
		return api.Check{Name: provider.CheckDiscovery, Detail: errs.DetailOf(err)}
	}
	return provider.DiscoveryCheck(ctx, (&http.Client{Timeout: d.timeout}).Do, id.Issuer)
}

// checkForeign checks that the pool provider and the service account trust key's subject
// only: a token of tarn's issuer for another creds key's subject (Identity.Foreign) must be
// refused by Google STS or, exchanged, at impersonation. Anything else than a refusal
// (Google unreachable, a server error) fails the check, as it proves nothing.
func (d *Driver) checkForeign(ctx context.Context, key provider.Key) api.Check {
	c := api.Check{Name: checkForeignName}
	id, err := provider.IdentityOf(key, modeFederated)
	if err == nil && id.Foreign == nil {
		err = provider.NeedsIssuer(modeFederated)
	}
	if err != nil {
		c.Detail = errs.DetailOf(err)
		return c
	}
	var subject string
	ts, err := exchangeSource(ctx, d.http, key.Config, func(ctx context.Context, audience string) (string, error) {
		tok, sub, err := id.Foreign(ctx, audience)
		subject = sub
		return tok, err
	})
	if err != nil {
		c.Detail = errs.DetailOf(err)
		return c
	}
	fed, err := ts.Token()
	if err != nil {
		if ue := stsRefusal(err); ue != nil && !ue.retryable() {
			c.OK, c.Detail = true, fmt.Sprintf("refused by Google STS (%s)", ue)
			return c
		}
		c.Detail = "could not check: " + errs.DetailOf(federatedFailure(key, err))
		return c
	}
	var out struct{}
	err = d.iam(ctx, key, fed, "generateAccessToken", map[string]any{"scope": []string{ScopeStorage}, "lifetime": "60s"}, &out)
	var ue *upstreamError
	switch {
	case err == nil:
		p, _ := ParsePoolProvider(key.Config.WorkloadIdentityProvider)
		c.Detail = fmt.Sprintf("a token of subject %s impersonated %s: the service account trusts another subject: bind %s to %s only",
			subject, key.Config.ServiceAccount, RoleWorkloadIdentityUser, p.Principal(id.Subject))
	case errors.As(err, &ue) && ue.status == http.StatusForbidden:
		c.OK, c.Detail = true, fmt.Sprintf("refused by IAM Credentials (%s)", ue)
	case errors.As(err, &ue):
		c.Detail = fmt.Sprintf("could not check: IAM Credentials answered %s", ue)
	default:
		c.Detail = "could not check: " + err.Error()
	}
	return c
}
