package oidc

// Matcher is the rule of one registered workload identity, of any issuer family.
type Matcher interface {
	// Issuers returns the issuers whose tokens the rule can match; each must be trusted by
	// the Verifier (Discover or Trust) for such tokens to verify.
	Issuers() []string
	// Match returns nil if the verified claims c belong to the identity, and otherwise an
	// error of kind Unauthenticated that says which claim differs.
	Match(c *Claims) error
	// Related reports whether the verified claims c come from the workload the rule names,
	// whether or not they Match: the same GitHub repository (on another ref, say), the same
	// Entra ID tenant, the same Kubernetes namespace, the same OIDC subject. Issuers serve
	// many tenants (anyone can get a GitHub Actions token), so only the refusals of related
	// tokens concern the identity's org.
	Related(c *Claims) bool
}

var (
	_ Matcher = AzureRule{}
	_ Matcher = GitHubRule{}
	_ Matcher = KubernetesRule{}
	_ Matcher = GenericRule{}
)

// mismatch returns the error of a claim that does not match the identity. It names the
// claim and the expected value (from the registration), never the token.
func mismatch(claim, want string) error {
	return unauth("token %s claim does not match the identity (want %s)", claim, quote(want))
}

// requireString returns nil if claim name of c is the string want.
func requireString(c *Claims, name, want string) error {
	if got, ok := c.StringClaim(name); !ok || got != want {
		return mismatch(name, want)
	}
	return nil
}

func incomplete(family, field string) error {
	return unauth("%s identity has no %s: register it again", family, field)
}
