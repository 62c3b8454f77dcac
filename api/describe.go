package api

import (
	"fmt"
	"sort"
	"time"
)

// Matches describes what a workload's token must show to be the identity, e.g. "tenant T,
// client C" or "repository acme/models, ref refs/heads/main".
func (id *Identity) Matches() string {
	switch id.Provider {
	case IdentityAzure:
		return fmt.Sprintf("tenant %s, client %s", id.TenantID, id.ClientID)
	case IdentityGitHub:
		s := "repository " + id.Repository
		if id.RepositoryID != "" {
			s += " (ID " + id.RepositoryID + ")"
		}
		if id.OwnerID != "" {
			s += ", owner ID " + id.OwnerID
		}
		if id.Ref != "" {
			s += ", ref " + id.Ref
		}
		if id.Environment != "" {
			s += ", environment " + id.Environment
		}
		return s
	case IdentityKubernetes:
		return fmt.Sprintf("service account %s of %s", id.ServiceAccount, id.Issuer)
	case IdentityOIDC:
		s := fmt.Sprintf("subject %s of %s", id.Subject, id.Issuer)
		keys := make([]string, 0, len(id.Claims))
		for k := range id.Claims {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			s += fmt.Sprintf(", %s=%s", k, id.Claims[k])
		}
		return s
	}
	return ""
}

// Status returns "revoked", "expired" (at now) or "active".
func (t Token) Status(now time.Time) string {
	switch {
	case t.RevokedAt != nil:
		return "revoked"
	case t.ExpiresAt != nil && !now.Before(*t.ExpiresAt):
		return "expired"
	}
	return "active"
}
