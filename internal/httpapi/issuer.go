package httpapi

import (
	"net/http"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/errs"
)

// ActIssuerRotate is the audit action of a rotation of the issuer's signing key.
const ActIssuerRotate = "issuer.rotate"

// rotateIssuerKey makes a new signing key of tarn's OIDC issuer (superusers only); it
// signs after the publish lead.
func (a *API) rotateIssuerKey(c *call) (int, any, error) {
	c.record.Target = "issuer"
	if err := a.authz.Superuser(c.principal); err != nil {
		return 0, nil, err
	}
	if a.issuer == nil {
		return 0, nil, errs.E(errs.Invalid, "this server is no OIDC issuer: start tarn serve with --public-url https://... first")
	}
	k, err := a.issuer.Rotate(c.ctx)
	if err != nil {
		return 0, nil, err
	}
	c.auditNote = "new key " + k.ID
	return http.StatusOK, api.IssuerKey{ID: k.ID, Generation: k.Generation, CreatedAt: k.CreatedAt, NotBefore: k.NotBefore}, nil
}
