package awssts

import (
	"context"
	"encoding/json"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/provider"
)

// Provision answers the role's permission and trust policies for key (provider.Provisioner).
// Without req.PrincipalARN the principal is the identity the key's source credentials
// belong to (sts:GetCallerIdentity). For source web-identity it answers tarn's issuer as
// the OIDC provider to trust and a trust policy for the key's subject (ProvisionWebIdentity);
// it then takes no principal, and returns NeedsIssuer when the server is no issuer.
func (d *Driver) Provision(ctx context.Context, key provider.Key, req api.ProvisionRequest) (*api.ProvisionResponse, error) {
	if key.Config.Source == api.SourceWebIdentity {
		return provisionWebIdentity(key, req)
	}
	principal := req.PrincipalARN
	if principal == "" {
		var err error
		if principal, err = d.CallerARN(ctx, key); err != nil {
			return nil, err
		}
	}
	perm, trust, err := Provision(key.Config, req.Bucket, req.Prefix, req.KMSKeyARN, principal)
	if err != nil {
		return nil, err
	}
	return &api.ProvisionResponse{PrincipalARN: principal, ExternalID: key.Config.ExternalID,
		PermissionPolicy: json.RawMessage(perm), TrustPolicy: json.RawMessage(trust)}, nil
}

func provisionWebIdentity(key provider.Key, req api.ProvisionRequest) (*api.ProvisionResponse, error) {
	if req.PrincipalARN != "" {
		return nil, errs.E(errs.Invalid, "creds key %s/%s has source %q: the principal is tarn's OIDC issuer; leave out --principal-arn", key.Org, key.Name, api.SourceWebIdentity)
	}
	id, err := provider.IdentityOf(key, "source "+api.SourceWebIdentity)
	if err != nil {
		return nil, err
	}
	perm, trust, p, err := ProvisionWebIdentity(key.Config, req.Bucket, req.Prefix, req.KMSKeyARN, id.Issuer, id.Subject)
	if err != nil {
		return nil, err
	}
	out := &api.ProvisionResponse{PrincipalARN: p.ARN, PermissionPolicy: json.RawMessage(perm), OIDCProvider: &p}
	if trust != "" {
		out.TrustPolicy = json.RawMessage(trust)
	}
	return out, nil
}
