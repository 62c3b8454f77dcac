package azuresas

import (
	"fmt"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/provider"
)

// Authenticator gives the Entra ID credential that gets a creds key's tokens for Azure
// Storage, with which the driver asks for user delegation keys. Each auth mode that uses
// Entra ID has one; implementations must be safe for concurrent use.
type Authenticator interface {
	Credential(key provider.Key) (azcore.TokenCredential, error)
}

// EntraOptions configure the built-in Authenticators: their HTTP pipeline (transport,
// cloud and authority host; tests point them at a stand-in token endpoint) and whether they
// skip Entra ID's instance discovery (for a stand-in or a disconnected cloud).
type EntraOptions struct {
	ClientOptions            azcore.ClientOptions
	DisableInstanceDiscovery bool
}

// defaultAuth is auth mode default: the server's own identity, an
// azidentity.DefaultAzureCredential (environment, workload identity, managed identity, …)
// made on first use and shared by every key of the mode.
type defaultAuth struct {
	opts EntraOptions
	mu   sync.Mutex
	cred azcore.TokenCredential
}

// Credential returns the server's credential. It returns an error of kind Unavailable when
// none can be made.
func (a *defaultAuth) Credential(provider.Key) (azcore.TokenCredential, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cred == nil {
		c, err := azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{
			ClientOptions: a.opts.ClientOptions, DisableInstanceDiscovery: a.opts.DisableInstanceDiscovery,
		})
		if err != nil {
			return nil, errs.Wrap(errs.Unavailable, err, "the tarn server has no Azure identity (DefaultAzureCredential): configure one on the server or use auth client-secret")
		}
		a.cred = c
	}
	return a.cred, nil
}

// clientSecretAuth is auth mode client-secret: the org's app registration, its client
// secret being the creds key's secret.
type clientSecretAuth struct{ opts EntraOptions }

// Credential returns a credential for key's app registration. It returns an error of kind
// Invalid when the key has no usable secret.
func (a clientSecretAuth) Credential(key provider.Key) (azcore.TokenCredential, error) {
	if len(key.Secret) == 0 {
		return nil, errs.E(errs.Invalid, "creds key %s/%s has auth %q but no secret; set it again with tarn creds add --secret-stdin", key.Org, key.Name, api.AuthClientSecret)
	}
	c, err := azidentity.NewClientSecretCredential(key.Config.TenantID, key.Config.ClientID, string(key.Secret), &azidentity.ClientSecretCredentialOptions{
		ClientOptions: a.opts.ClientOptions, DisableInstanceDiscovery: a.opts.DisableInstanceDiscovery,
	})
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, err, fmt.Sprintf("creds key %s/%s: tenant_id, client_id or the client secret is not usable; set them again with tarn creds add", key.Org, key.Name))
	}
	return c, nil
}
