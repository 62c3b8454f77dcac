package oidc

// GitHubIssuer is the issuer of GitHub Actions OIDC tokens.
const GitHubIssuer = "https://token.actions.githubusercontent.com"

// GitHubRule is a GitHub Actions workflow, as registered with --repository and optionally
// --ref and --environment.
type GitHubRule struct {
	Repository  string // owner/repo
	Ref         string // e.g. refs/heads/main; empty matches any
	Environment string // empty matches any
}

// Issuers returns GitHubIssuer.
func (r GitHubRule) Issuers() []string { return []string{GitHubIssuer} }

// Match accepts claims from GitHubIssuer whose repository equals the rule's and, when the
// rule sets them, whose ref and environment equal the rule's. Otherwise it returns an error
// of kind Unauthenticated.
func (r GitHubRule) Match(c *Claims) error {
	if r.Repository == "" {
		return incomplete("github", "repository")
	}
	if c.Issuer != GitHubIssuer {
		return unauth("token issuer %s is not GitHub Actions", quote(c.Issuer))
	}
	if err := requireString(c, "repository", r.Repository); err != nil {
		return err
	}
	if r.Ref != "" {
		if err := requireString(c, "ref", r.Ref); err != nil {
			return err
		}
	}
	if r.Environment != "" {
		return requireString(c, "environment", r.Environment)
	}
	return nil
}
