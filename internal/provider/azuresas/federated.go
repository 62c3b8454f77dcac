package azuresas

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/provider"
)

// StorageScope is the scope of the Entra ID tokens the driver gets: Azure Storage.
const StorageScope = "https://storage.azure.com/.default"

// federatedMode names auth mode federated in errors.
const federatedMode = "auth " + api.AuthFederated

// federatedAuth is auth mode federated: the org's app registration trusts tarn's own OIDC
// issuer through a federated identity credential for the key's subject, and tarn's token
// (audience api://AzureADTokenExchange) is the client assertion. No secret is stored.
type federatedAuth struct{ opts EntraOptions }

// Credential returns a credential for key's app registration whose assertions are tokens
// of key's Identity, minted (and audited) when Entra ID is asked for a token. It returns
// NeedsIssuer when the server is no OIDC issuer.
func (a federatedAuth) Credential(key provider.Key) (azcore.TokenCredential, error) {
	id, err := provider.IdentityOf(key, federatedMode)
	if err != nil {
		return nil, err
	}
	return a.assertionCredential(key, func(ctx context.Context) (string, error) {
		tok, err := id.Token(ctx, api.AudienceAzure)
		if err != nil {
			return "", errs.Wrap(errs.Unavailable, err, fmt.Sprintf("creds key %s/%s: tarn's issuer could not mint its token; try again later", key.Org, key.Name))
		}
		return tok, nil
	})
}

// assertionCredential returns a ClientAssertionCredential of key's app registration,
// through the same Entra ID pipeline as the other modes.
func (a federatedAuth) assertionCredential(key provider.Key, get func(context.Context) (string, error)) (azcore.TokenCredential, error) {
	c, err := azidentity.NewClientAssertionCredential(key.Config.TenantID, key.Config.ClientID, get, &azidentity.ClientAssertionCredentialOptions{
		ClientOptions: a.opts.ClientOptions, DisableInstanceDiscovery: a.opts.DisableInstanceDiscovery,
	})
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, err, fmt.Sprintf("creds key %s/%s: tenant_id or client_id is not usable; set them again with tarn creds add", key.Org, key.Name))
	}
	return c, nil
}

// federatedRefusal is the detail of Entra ID refusing tarn's token for key: what the app
// registration's federated credential must say.
func federatedRefusal(key provider.Key) string {
	iss, sub := "the tarn server's --public-url", "org:"+key.Org+":creds-key:"+key.Name
	if key.Identity != nil {
		iss, sub = key.Identity.Issuer, key.Identity.Subject
	}
	return fmt.Sprintf("Entra ID refused tarn's token for app %s: it needs a federated credential with issuer %s, subject %s and audience %s (tarn provision azure prints it)",
		key.Config.ClientID, iss, sub, api.AudienceAzure)
}

// federationChecks are verify's checks of auth mode federated: tarn's discovery is
// reachable at its public URL and names it (see provider.DiscoveryCheck), Entra ID gives a
// token for Azure Storage for tarn's token, and refuses one for another creds key's subject
// (the app must trust this key only). ok is false when no token was given, which the
// storage checks need.
func (d *Driver) federationChecks(ctx context.Context, key provider.Key) (checks []api.Check, ok bool) {
	id, err := provider.IdentityOf(key, federatedMode)
	if err != nil {
		return []api.Check{{Name: "issuer discovery", Detail: errs.DetailOf(err)}}, false
	}
	checks = append(checks, provider.DiscoveryCheck(ctx, d.entraDo, id.Issuer))
	fed := federatedAuth{opts: d.entra}
	token := api.Check{Name: "Entra ID token for tarn's token", OK: true, Detail: "app " + key.Config.ClientID + " trusts " + id.Subject}
	cred, err := fed.Credential(key)
	if err == nil {
		_, err = cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{StorageScope}})
	}
	if err != nil {
		token.OK, token.Detail = false, errs.DetailOf(delegationError(key, err))
		return append(checks, token), false
	}
	return append(checks, token, d.foreignCheck(ctx, key, id)), true
}

// foreignCheck presents a token for another creds key's subject as the app's client
// assertion: it passes when Entra ID refuses it.
func (d *Driver) foreignCheck(ctx context.Context, key provider.Key, id *provider.Identity) api.Check {
	c := api.Check{Name: "token of another subject refused"}
	var foreign string
	cred, err := federatedAuth{opts: d.entra}.assertionCredential(key, func(ctx context.Context) (string, error) {
		tok, sub, err := id.Foreign(ctx, api.AudienceAzure)
		foreign = sub
		return tok, err
	})
	if err == nil {
		_, err = cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{StorageScope}})
	}
	var authErr *azidentity.AuthenticationFailedError
	switch {
	case err == nil:
		c.Detail = fmt.Sprintf("Entra ID gave a token for subject %s: the app trusts another subject: its federated credential must name %s", foreign, id.Subject)
	case errors.As(err, &authErr) && authErr.RawResponse != nil && authErr.RawResponse.StatusCode < 500 && authErr.RawResponse.StatusCode != http.StatusTooManyRequests:
		c.OK, c.Detail = true, "Entra ID refused subject "+foreign
	default:
		c.Detail = "cannot tell: Entra ID did not answer the token of another subject; try again later"
	}
	return c
}
