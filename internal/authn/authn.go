// Package authn turns a request's bearer token into a Principal. It answers "who is this?";
// package authz answers "may they?".
package authn

import (
	"context"
	"strings"
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

// Authenticate returns the principal of token. It returns an error of kind Unauthenticated
// when the token is empty, malformed, unknown, revoked or expired, or its user is gone, and
// Unavailable when the store cannot answer. The error never contains the token.
func (a *Authenticator) Authenticate(ctx context.Context, token string) (Principal, error) {
	if token == "" {
		return Principal{}, errs.E(errs.Unauthenticated, "no API token: send Authorization: Bearer <token>, or run \"tarn login\"")
	}
	if !apitoken.WellFormed(token) {
		return Principal{}, errs.E(errs.Unauthenticated, "malformed API token: tarn tokens start with \"tarn_\" followed by 43 letters and digits")
	}
	t, err := a.Store.TokenByHash(ctx, apitoken.Hash(token))
	if errs.Is(errs.NotFound, err) || err == nil && !apitoken.Matches(token, t.Hash) {
		return Principal{}, errs.E(errs.Unauthenticated, "unknown API token: create one with \"tarn token create\"")
	}
	if err != nil {
		return Principal{}, err
	}
	now := a.now()
	if !t.RevokedAt.IsZero() {
		return Principal{}, errs.E(errs.Unauthenticated, "API token %s was revoked: create a new one with \"tarn token create\"", t.ID)
	}
	if !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt) {
		return Principal{}, errs.E(errs.Unauthenticated, "API token %s expired at %s: create a new one with \"tarn token create\"", t.ID, t.ExpiresAt.UTC().Format(time.RFC3339))
	}
	if t.Identity != "" {
		// A workload identity's token: its org and role are all it may do. Deleting the
		// identity revokes the token in the same transaction.
		if !t.Role.Valid() || t.Org == "" {
			return Principal{}, errs.E(errs.Unauthenticated, "API token %s of identity %s has no org or role", t.ID, t.Identity)
		}
		// Also refuse a token minted while its identity was being deleted (an exchange
		// that matched just before the delete and stored its token just after).
		_, name, _ := strings.Cut(t.Identity, "/")
		id, err := a.Store.Identity(ctx, t.Org, name)
		if errs.Is(errs.NotFound, err) || err == nil && id.CreatedAt.After(t.CreatedAt) {
			return Principal{}, errs.E(errs.Unauthenticated, "the workload identity %s of API token %s no longer exists", t.Identity, t.ID)
		}
		if err != nil {
			return Principal{}, err
		}
		if err := a.touch(ctx, t, now); err != nil {
			return Principal{}, err
		}
		return Principal{Identity: t.Identity, TokenID: t.ID, TokenOrg: t.Org, TokenRole: t.Role, TokenExpiresAt: t.ExpiresAt}, nil
	}
	u, err := a.Store.User(ctx, t.User)
	if errs.Is(errs.NotFound, err) {
		return Principal{}, errs.E(errs.Unauthenticated, "the user of API token %s no longer exists", t.ID)
	}
	if err != nil {
		return Principal{}, err
	}
	if err := a.touch(ctx, t, now); err != nil {
		return Principal{}, err
	}
	return Principal{User: u.Name, Superuser: u.Superuser, TokenID: t.ID, TokenOrg: t.Org, TokenRole: t.Role, TokenExpiresAt: t.ExpiresAt}, nil
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
