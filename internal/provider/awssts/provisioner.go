package awssts

import (
	"context"
	"encoding/json"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/provider"
)

// Provision answers the role's permission and trust policies for key (provider.Provisioner).
// Without req.PrincipalARN the principal is the identity the key's source credentials
// belong to (sts:GetCallerIdentity).
func (d *Driver) Provision(ctx context.Context, key provider.Key, req api.ProvisionRequest) (*api.ProvisionResponse, error) {
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
