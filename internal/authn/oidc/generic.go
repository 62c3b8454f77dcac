package oidc

import (
	"encoding/json"
	"maps"
	"slices"
	"strconv"
)

// GenericRule is a workload of any OIDC issuer, as registered with --issuer, --audience,
// --subject and --claim k=v.
type GenericRule struct {
	Issuer   string
	Audience string // empty means the Verifier's audience alone decides
	Subject  string
	Claims   map[string]string
}

// Issuers returns the rule's issuer.
func (r GenericRule) Issuers() []string { return []string{r.Issuer} }

// Related reports whether c has the rule's issuer and subject.
func (r GenericRule) Related(c *Claims) bool {
	return r.Issuer != "" && r.Subject != "" && c.Issuer == r.Issuer && c.Subject == r.Subject
}

// Match accepts claims whose iss and sub equal the rule's, whose aud holds the rule's
// audience if set, and where every claim of r.Claims is present with that exact value (a
// string, or a boolean or number whose JSON text is the value). Otherwise it returns an
// error of kind Unauthenticated.
func (r GenericRule) Match(c *Claims) error {
	switch {
	case r.Issuer == "":
		return incomplete("oidc", "issuer")
	case r.Subject == "":
		return incomplete("oidc", "subject")
	}
	if c.Issuer != r.Issuer {
		return mismatch("iss", r.Issuer)
	}
	if c.Subject != r.Subject {
		return mismatch("sub", r.Subject)
	}
	if r.Audience != "" && !slices.Contains(c.Audience, r.Audience) {
		return mismatch("aud", r.Audience)
	}
	for _, k := range slices.Sorted(maps.Keys(r.Claims)) {
		want := r.Claims[k]
		var got string
		switch x := c.All[k].(type) {
		case string:
			got = x
		case bool:
			got = strconv.FormatBool(x)
		case json.Number:
			got = x.String()
		default:
			return mismatch(k, want)
		}
		if got != want {
			return mismatch(k, want)
		}
	}
	return nil
}
