package oidc

// GitHubIssuer is the issuer of GitHub Actions OIDC tokens.
const GitHubIssuer = "https://token.actions.githubusercontent.com"

// GitHubRule is a GitHub Actions workflow, as registered with --repository and optionally
// --repository-id, --owner-id, --ref and --environment.
type GitHubRule struct {
	Repository   string // owner/repo
	RepositoryID string // GitHub's numeric repository ID; when set, it decides instead of Repository
	OwnerID      string // GitHub's numeric ID of the owner; empty matches any
	Ref          string // e.g. refs/heads/main; empty matches any
	Environment  string // empty matches any
}

// Issuers returns GitHubIssuer.
func (r GitHubRule) Issuers() []string { return []string{GitHubIssuer} }

// Related reports whether c comes from the rule's repository: by repository_id when the
// rule has one, by name otherwise.
func (r GitHubRule) Related(c *Claims) bool {
	if c.Issuer != GitHubIssuer {
		return false
	}
	if r.RepositoryID != "" {
		id, _ := c.StringClaim("repository_id")
		return id == r.RepositoryID
	}
	repo, _ := c.StringClaim("repository")
	return r.Repository != "" && repo == r.Repository
}

// Match accepts claims from GitHubIssuer of the rule's repository: the one whose
// repository_id claim equals RepositoryID when that is set (so a renamed repository still
// matches and a new repository of the old name does not), else the one whose repository
// claim equals Repository. When the rule sets them, the repository_owner_id, ref and
// environment claims must equal OwnerID, Ref and Environment. Otherwise it returns an error
// of kind Unauthenticated.
func (r GitHubRule) Match(c *Claims) error {
	if r.Repository == "" && r.RepositoryID == "" {
		return incomplete("github", "repository")
	}
	if c.Issuer != GitHubIssuer {
		return unauth("token issuer %s is not GitHub Actions", quote(c.Issuer))
	}
	checks := []struct{ claim, want string }{
		{"repository_id", r.RepositoryID},
		{"repository_owner_id", r.OwnerID},
		{"ref", r.Ref},
		{"environment", r.Environment},
	}
	if r.RepositoryID == "" {
		checks[0] = struct{ claim, want string }{"repository", r.Repository}
	}
	for _, ch := range checks {
		if ch.want == "" {
			continue
		}
		if err := requireString(c, ch.claim, ch.want); err != nil {
			return err
		}
	}
	return nil
}
