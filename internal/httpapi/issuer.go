package httpapi

import (
	"net/http"
	"strings"

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
	keys, err := a.issuer.Rotate(c.ctx)
	if err != nil {
		return 0, nil, err
	}
	out := api.IssuerKeys{Generation: keys[0].Generation, CreatedAt: keys[0].CreatedAt, NotBefore: keys[0].NotBefore}
	var kids []string
	for _, k := range keys {
		out.Keys = append(out.Keys, api.IssuerKey{ID: k.ID, Alg: k.Alg})
		kids = append(kids, k.ID+" ("+k.Alg+")")
	}
	c.auditNote = "new keys " + strings.Join(kids, ", ")
	return http.StatusOK, out, nil
}
