package oidc

import "strings"

// KubernetesRule is a Kubernetes service account, as registered with --issuer (the cluster's
// service account issuer) and --service-account NS/NAME.
type KubernetesRule struct {
	Issuer         string
	Namespace      string
	ServiceAccount string
}

// Issuers returns the cluster's issuer.
func (r KubernetesRule) Issuers() []string { return []string{r.Issuer} }

// Subject returns the sub claim of the service account's tokens:
// system:serviceaccount:NAMESPACE:NAME.
func (r KubernetesRule) Subject() string {
	return "system:serviceaccount:" + r.Namespace + ":" + r.ServiceAccount
}

// Related reports whether c comes from a service account of the rule's namespace in the
// rule's cluster.
func (r KubernetesRule) Related(c *Claims) bool {
	return r.Issuer != "" && r.Namespace != "" && c.Issuer == r.Issuer &&
		strings.HasPrefix(c.Subject, "system:serviceaccount:"+r.Namespace+":")
}

// Match accepts claims whose iss is the rule's issuer and whose sub is Subject. Otherwise it
// returns an error of kind Unauthenticated.
func (r KubernetesRule) Match(c *Claims) error {
	switch {
	case r.Issuer == "":
		return incomplete("kubernetes", "issuer")
	case r.Namespace == "" || r.ServiceAccount == "":
		return incomplete("kubernetes", "service account")
	}
	if c.Issuer != r.Issuer {
		return mismatch("iss", r.Issuer)
	}
	if c.Subject != r.Subject() {
		return mismatch("sub", r.Subject())
	}
	return nil
}
