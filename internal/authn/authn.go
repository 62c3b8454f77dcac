// Package authn turns a request's bearer token into a Principal. It answers "who is this?";
// package authz answers "may they?".
package authn

import (
	"context"
	"time"

	"github.com/tarnhq/tarn/internal/authn/apitoken"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/store"
)

// Principal is an authenticated caller: a user acting through one token, or a workload
// identity acting through a token it got by token exchange. TokenOrg and TokenRole, when
// set, narrow what the token may do below what the user may do; a workload identity's token
// always has both, and they are all it may do.
type Principal struct {
	User string
	// Identity is "org/name" of the workload identity the token was minted for; User is then
	// empty.
	Identity  string
	Superuser bool
	TokenID   string
	TokenOrg  string
	TokenRole store.Role
	// TokenExpiresAt is when the token expires; zero if never.
	TokenExpiresAt time.Time
	// In is what was read about the request's org together with the token; In.Org is ""
	// when the request names no org.
	In OrgState
}

// OrgState is what the lookup of a token read about one org: whether it exists and the
// user's membership role in it. It is as fresh as the token's state, so the checks of one
// request use it instead of asking the store again; it is never kept beyond the request.
type OrgState struct {
	Org        string
	Exists     bool
	MemberRole store.Role // "" if the user is not a member, or the principal is no user
}

// String names the principal for audit records and logs: "alice (tok_...)" or
// "identity:org/name (tok_...)".
func (p Principal) String() string {
	if p.User == "" && p.Identity == "" {
		return "anonymous"
	}
	return p.Name() + " (" + p.TokenID + ")"
}

// Name names who acts, without the token: the user, "identity:org/name" for a workload
// identity, or "" for nobody.
func (p Principal) Name() string {
	if p.Identity != "" {
		return "identity:" + p.Identity
	}
	return p.User
}

// IsWorkload reports whether p is a workload identity.
func (p Principal) IsWorkload() bool { return p.Identity != "" }

// touchEvery bounds how often last_used_at is written for one token.
const touchEvery = time.Minute

// Authenticator checks API tokens against the store.
type Authenticator struct {
	Store store.Store
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (a *Authenticator) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// Authenticate returns the principal of token. When org is not empty, the same query reads
// whether org exists and the user's role in it, and the principal carries them (In), so the
// request's access checks need no second lookup. It returns an error of kind
// Unauthenticated when the token is empty, malformed, unknown, revoked or expired, or its
// user or workload identity is gone, and Unavailable when the store cannot answer. The error
// never contains the token.
func (a *Authenticator) Authenticate(ctx context.Context, token, org string) (Principal, error) {
	if token == "" {
		return Principal{}, errs.E(errs.Unauthenticated, "no API token: send Authorization: Bearer <token>, or run \"tarn login\"")
	}
	if !apitoken.WellFormed(token) {
		return Principal{}, errs.E(errs.Unauthenticated, "malformed API token: tarn tokens start with \"tarn_\" followed by 43 letters and digits")
	}
	ta, err := a.Store.TokenAuth(ctx, apitoken.Hash(token), org)
	t := ta.Token
	if errs.Is(errs.NotFound, err) || err == nil && !apitoken.Matches(token, t.Hash) {
		return Principal{}, errs.E(errs.Unauthenticated, "unknown API token: create one with \"tarn token create\"")
	}
	if err != nil {
		return Principal{}, err
	}
	return a.admit(ctx, ta, org)
}

// AuthenticateID is Authenticate for the token with the given ID, which the caller holds
// on the token's behalf (a console session started with it): the same checks, on the
// token's state now. It returns an error of kind Unauthenticated when there is no such
// token or Authenticate would refuse it.
func (a *Authenticator) AuthenticateID(ctx context.Context, id, org string) (Principal, error) {
	t, err := a.Store.Token(ctx, id)
	if errs.Is(errs.NotFound, err) {
		return Principal{}, errs.E(errs.Unauthenticated, "API token %s no longer exists", id)
	}
	if err != nil {
		return Principal{}, err
	}
	ta, err := a.Store.TokenAuth(ctx, t.Hash, org)
	if errs.Is(errs.NotFound, err) {
		return Principal{}, errs.E(errs.Unauthenticated, "API token %s no longer exists", id)
	}
	if err != nil {
		return Principal{}, err
	}
	return a.admit(ctx, ta, org)
}

// admit returns the principal of the token ta read, or why it may not act.
func (a *Authenticator) admit(ctx context.Context, ta store.TokenAuth, org string) (Principal, error) {
	t := ta.Token
	now := a.now()
	if !t.RevokedAt.IsZero() {
		return Principal{}, errs.E(errs.Unauthenticated, "API token %s was revoked: create a new one with \"tarn token create\"", t.ID)
	}
	if !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt) {
		return Principal{}, errs.E(errs.Unauthenticated, "API token %s expired at %s: create a new one with \"tarn token create\"", t.ID, t.ExpiresAt.UTC().Format(time.RFC3339))
	}
	p := Principal{TokenID: t.ID, TokenOrg: t.Org, TokenRole: t.Role, TokenExpiresAt: t.ExpiresAt,
		In: OrgState{Org: org, Exists: ta.OrgFound}}
	if t.Identity != "" {
		// A workload identity's token: its org and role are all it may do. Deleting the
		// identity revokes the token in the same transaction.
		if !t.Role.Valid() || t.Org == "" {
			return Principal{}, errs.E(errs.Unauthenticated, "API token %s of identity %s has no org or role", t.ID, t.Identity)
		}
		// Also refuse a token minted while its identity was being deleted (an exchange
		// that matched just before the delete and stored its token just after).
		if !ta.IdentityFound || ta.IdentityCreatedAt.After(t.CreatedAt) {
			return Principal{}, errs.E(errs.Unauthenticated, "the workload identity %s of API token %s no longer exists", t.Identity, t.ID)
		}
		p.Identity = t.Identity
	} else {
		if !ta.UserFound {
			return Principal{}, errs.E(errs.Unauthenticated, "the user of API token %s no longer exists", t.ID)
		}
		p.User, p.Superuser, p.In.MemberRole = t.User, ta.Superuser, ta.MemberRole
	}
	if err := a.touch(ctx, t, now); err != nil {
		return Principal{}, err
	}
	return p, nil
}

// touch records that t was used at now, at most once per touchEvery.
func (a *Authenticator) touch(ctx context.Context, t store.Token, now time.Time) error {
	if now.Sub(t.LastUsedAt) >= touchEvery {
		return a.Store.TouchToken(ctx, t.ID, now)
	}
	return nil
}

type ctxKey struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the principal in ctx and whether there is one.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(ctxKey{}).(Principal)
	return p, ok
}
