package oidc

import "fmt"

// Azure Entra ID issuers of a tenant: v2.0 access tokens and v1 access tokens.
const (
	azureV2Issuer = "https://login.microsoftonline.com/%s/v2.0"
	azureV1Issuer = "https://sts.windows.net/%s/"
)

// AzureRule is an Azure managed identity (or app registration) in one Entra ID tenant, as
// registered with --tenant-id and --client-id.
type AzureRule struct {
	TenantID string
	ClientID string
}

// Issuers returns the v2.0 and v1 issuers of the tenant:
// https://login.microsoftonline.com/TENANT/v2.0 and https://sts.windows.net/TENANT/.
func (r AzureRule) Issuers() []string {
	return []string{fmtIssuer(azureV2Issuer, r.TenantID), fmtIssuer(azureV1Issuer, r.TenantID)}
}

// Match accepts claims whose iss is one of the tenant's issuers, whose tid is the tenant ID,
// and whose client ID, azp in v2.0 tokens and appid in v1 tokens, is the rule's client ID.
// Otherwise it returns an error of kind Unauthenticated.
func (r AzureRule) Match(c *Claims) error {
	switch {
	case r.TenantID == "":
		return incomplete("azure", "tenant ID")
	case r.ClientID == "":
		return incomplete("azure", "client ID")
	}
	clientClaim := ""
	switch c.Issuer {
	case fmtIssuer(azureV2Issuer, r.TenantID):
		clientClaim = "azp"
	case fmtIssuer(azureV1Issuer, r.TenantID):
		clientClaim = "appid"
	default:
		return unauth("token issuer %s is not Entra ID tenant %s", quote(c.Issuer), quote(r.TenantID))
	}
	if err := requireString(c, "tid", r.TenantID); err != nil {
		return err
	}
	return requireString(c, clientClaim, r.ClientID)
}

// Related reports whether c comes from the rule's tenant (one of its issuers, and its tid).
func (r AzureRule) Related(c *Claims) bool {
	tid, _ := c.StringClaim("tid")
	return r.TenantID != "" && tid == r.TenantID && (c.Issuer == fmtIssuer(azureV2Issuer, r.TenantID) || c.Issuer == fmtIssuer(azureV1Issuer, r.TenantID))
}

func fmtIssuer(format, tenant string) string {
	// Tenant IDs are GUIDs; refuse anything that could change the URL's shape.
	for _, ch := range tenant {
		if !(ch >= '0' && ch <= '9' || ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch == '-' || ch == '.') {
			return "invalid-tenant"
		}
	}
	return fmt.Sprintf(format, tenant)
}
