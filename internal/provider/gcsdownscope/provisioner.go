package gcsdownscope

import (
	"context"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/provider"
)

// Provision answers who impersonates key's service account, the IAM member that needs
// roles/iam.serviceAccountTokenCreator on it (provider.Provisioner), in PrincipalARN:
// req.PrincipalARN when given, else serviceAccount:EMAIL of the account the key's auth mode
// acts as (for auth default, the server's Application Default Credentials; for
// service-account-key, the client_email of the key's JSON key). PrincipalARN is empty when
// that account is no service account or cannot be known (a gcloud user login, workload
// identity federation, an auth mode that is no PrincipalSource); tarn provision gcp then
// prints a placeholder. It returns the errors of the auth mode's PrincipalSource: kind
// Unavailable when the server has no ADC, Invalid for a key whose secret is no JSON key.
//
// For auth federated the principal is the pool principal of the key's subject, whatever
// req.PrincipalARN says, and OIDCProvider is set; it returns NeedsIssuer when the
// server is no OIDC issuer.
func (d *Driver) Provision(ctx context.Context, key provider.Key, req api.ProvisionRequest) (*api.ProvisionResponse, error) {
	if key.Config.Auth == api.AuthFederated {
		return provisionFederated(key)
	}
	if req.PrincipalARN != "" {
		return &api.ProvisionResponse{PrincipalARN: req.PrincipalARN}, nil
	}
	p, ok := d.auth[key.Config.Auth].(PrincipalSource)
	if !ok {
		return &api.ProvisionResponse{}, nil
	}
	email, err := p.Principal(ctx, key)
	if err != nil {
		return nil, err
	}
	if email == "" {
		return &api.ProvisionResponse{}, nil
	}
	return &api.ProvisionResponse{PrincipalARN: "serviceAccount:" + email}, nil
}

// provisionFederated answers Provision for a key of auth federated.
func provisionFederated(key provider.Key) (*api.ProvisionResponse, error) {
	id, err := provider.IdentityOf(key, modeFederated)
	if err != nil {
		return nil, err
	}
	p, ok := ParsePoolProvider(key.Config.WorkloadIdentityProvider)
	if !ok {
		return nil, errs.E(errs.Invalid, "creds key %s/%s: workload_identity_provider %q is not a pool provider's name; set it again with tarn creds add --workload-identity-provider", key.Org, key.Name, key.Config.WorkloadIdentityProvider)
	}
	return &api.ProvisionResponse{PrincipalARN: p.Principal(id.Subject),
		OIDCProvider: &api.OIDCProvider{URL: id.Issuer, Host: provider.IssuerHost(id.Issuer), Audience: p.Audience(), Subject: id.Subject}}, nil
}
