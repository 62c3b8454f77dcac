package azuresas

import (
	"context"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/provider"
)

// Provision answers what the cloud must trust for a key of auth federated
// (provider.Provisioner): tarn's issuer and the key's subject, with audience
// api://AzureADTokenExchange, for the app registration's federated credential. Keys of other
// auth modes get an empty answer: their role assignments follow from the key alone. It
// returns NeedsIssuer for a federated key on a server that is no OIDC issuer.
func (d *Driver) Provision(_ context.Context, key provider.Key, _ api.ProvisionRequest) (*api.ProvisionResponse, error) {
	if key.Config.Auth != api.AuthFederated {
		return &api.ProvisionResponse{}, nil
	}
	id, err := provider.IdentityOf(key, "auth "+api.AuthFederated)
	if err != nil {
		return nil, err
	}
	return &api.ProvisionResponse{OIDCProvider: &api.OIDCProvider{URL: id.Issuer, Host: provider.IssuerHost(id.Issuer),
		Audience: api.AudienceAzure, Subject: id.Subject}}, nil
}
