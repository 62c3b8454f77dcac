package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/store"
)

// CreateUser adds u; Conflict if the name is taken.
func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	_, err := s.exec(ctx, `INSERT INTO users (name, superuser, created_at) VALUES (?, ?, ?)`,
		u.Name, u.Superuser, s.d.time(u.CreatedAt))
	if s.d.violation(err) == uniqueViolation {
		return errs.E(errs.Conflict, "user %q already exists", u.Name)
	}
	return s.fail("create user", err)
}

// User returns the named user; NotFound if absent.
func (s *Store) User(ctx context.Context, name string) (store.User, error) {
	u := store.User{Name: name}
	err := s.queryRow(ctx, `SELECT superuser, created_at FROM users WHERE name = ?`, name).
		Scan(&u.Superuser, ts(&u.CreatedAt))
	if errors.Is(err, sql.ErrNoRows) {
		return store.User{}, errs.E(errs.NotFound, "user %q not found", name)
	}
	if err != nil {
		return store.User{}, s.fail("get user", err)
	}
	return u, nil
}

// Users lists every user ordered by name.
func (s *Store) Users(ctx context.Context) ([]store.User, error) {
	rows, err := s.query(ctx, `SELECT name, superuser, created_at FROM users ORDER BY name`)
	if err != nil {
		return nil, s.fail("list users", err)
	}
	us, err := collect(rows, func(row scanner) (store.User, error) {
		var u store.User
		err := row.Scan(&u.Name, &u.Superuser, ts(&u.CreatedAt))
		return u, err
	})
	return us, s.fail("list users", err)
}

// CreateOrg adds o; Conflict if the name is taken; NotFound if o has a default creds key,
// which cannot exist yet.
func (s *Store) CreateOrg(ctx context.Context, o store.Org) error {
	_, err := s.exec(ctx, `INSERT INTO orgs (name, created_at, default_location, default_creds_key) VALUES (?, ?, ?, ?)`,
		o.Name, s.d.time(o.CreatedAt), o.DefaultLocation, null(o.DefaultCredsKey))
	switch s.d.violation(err) {
	case uniqueViolation:
		return errs.E(errs.Conflict, "org %q already exists", o.Name)
	case foreignKeyViolation:
		return errs.E(errs.NotFound, "creds key %q not found in org %q", o.DefaultCredsKey, o.Name)
	}
	return s.fail("create org", err)
}

// Org returns the named org; NotFound if absent.
func (s *Store) Org(ctx context.Context, name string) (store.Org, error) {
	o := store.Org{Name: name}
	err := s.queryRow(ctx, `SELECT created_at, default_location, coalesce(default_creds_key, '') FROM orgs WHERE name = ?`, name).
		Scan(ts(&o.CreatedAt), &o.DefaultLocation, &o.DefaultCredsKey)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Org{}, errs.E(errs.NotFound, "org %q not found", name)
	}
	if err != nil {
		return store.Org{}, s.fail("get org", err)
	}
	return o, nil
}

// Orgs lists every org ordered by name.
func (s *Store) Orgs(ctx context.Context) ([]store.Org, error) {
	rows, err := s.query(ctx, `SELECT name, created_at, default_location, coalesce(default_creds_key, '') FROM orgs ORDER BY name`)
	if err != nil {
		return nil, s.fail("list orgs", err)
	}
	orgs, err := collect(rows, func(row scanner) (store.Org, error) {
		var o store.Org
		err := row.Scan(&o.Name, ts(&o.CreatedAt), &o.DefaultLocation, &o.DefaultCredsKey)
		return o, err
	})
	return orgs, s.fail("list orgs", err)
}

// SetDefaultStorage sets an org's default location and creds key (empty clears it). It
// returns NotFound if the org or the creds key is absent.
func (s *Store) SetDefaultStorage(ctx context.Context, org, location, credsKey string) error {
	res, err := s.exec(ctx, `UPDATE orgs SET default_location = ?, default_creds_key = ? WHERE name = ?`,
		location, null(credsKey), org)
	if s.d.violation(err) == foreignKeyViolation {
		return errs.E(errs.NotFound, "creds key %q not found in org %q", credsKey, org)
	}
	return s.mustChange(res, err, "set default storage", "org %q not found", org)
}

// PutMember creates or replaces a membership; NotFound if the org or user is absent.
func (s *Store) PutMember(ctx context.Context, m store.Member) error {
	_, err := s.exec(ctx, `INSERT INTO members (org, user_name, role) VALUES (?, ?, ?)
		ON CONFLICT (org, user_name) DO UPDATE SET role = excluded.role`,
		m.Org, m.User, string(m.Role))
	if s.d.violation(err) == foreignKeyViolation {
		return s.notFound(ctx, "put member", err, orgRow(m.Org), userRow(m.User))
	}
	return s.fail("put member", err)
}

// Member returns a user's membership in an org; NotFound if there is none.
func (s *Store) Member(ctx context.Context, org, user string) (store.Member, error) {
	m := store.Member{Org: org, User: user}
	err := s.queryRow(ctx, `SELECT role FROM members WHERE org = ? AND user_name = ?`, org, user).
		Scan((*string)(&m.Role))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Member{}, errs.E(errs.NotFound, "user %q is not a member of org %q", user, org)
	}
	if err != nil {
		return store.Member{}, s.fail("get member", err)
	}
	return m, nil
}

// Members lists an org's members ordered by user name; none if the org is absent.
func (s *Store) Members(ctx context.Context, org string) ([]store.Member, error) {
	return s.members(ctx, `SELECT org, user_name, role FROM members WHERE org = ? ORDER BY user_name`, org)
}

// Memberships lists a user's memberships ordered by org name; none if the user is absent.
func (s *Store) Memberships(ctx context.Context, user string) ([]store.Member, error) {
	return s.members(ctx, `SELECT org, user_name, role FROM members WHERE user_name = ? ORDER BY org`, user)
}

func (s *Store) members(ctx context.Context, query string, arg string) ([]store.Member, error) {
	rows, err := s.query(ctx, query, arg)
	if err != nil {
		return nil, s.fail("list members", err)
	}
	ms, err := collect(rows, func(row scanner) (store.Member, error) {
		var m store.Member
		err := row.Scan(&m.Org, &m.User, (*string)(&m.Role))
		return m, err
	})
	return ms, s.fail("list members", err)
}

// DeleteMember removes a membership; NotFound if there is none.
func (s *Store) DeleteMember(ctx context.Context, org, user string) error {
	res, err := s.exec(ctx, `DELETE FROM members WHERE org = ? AND user_name = ?`, org, user)
	return s.mustChange(res, err, "delete member", "user %q is not a member of org %q", user, org)
}

const tokenColumns = `id, coalesce(user_name, ''), identity, name, hash, coalesce(org, ''), role, created_at, expires_at, last_used_at, revoked_at`

func scanToken(row scanner) (store.Token, error) {
	var t store.Token
	err := row.Scan(&t.ID, &t.User, &t.Identity, &t.Name, &t.Hash, &t.Org, (*string)(&t.Role),
		ts(&t.CreatedAt), ts(&t.ExpiresAt), ts(&t.LastUsedAt), ts(&t.RevokedAt))
	return t, err
}

// CreateToken adds t; Conflict if its ID or hash is taken; NotFound if its user or org is
// absent; Invalid if it has neither a user nor an identity.
func (s *Store) CreateToken(ctx context.Context, t store.Token) error {
	_, err := s.exec(ctx, `INSERT INTO tokens (id, user_name, identity, name, hash, org, role, created_at, expires_at, last_used_at, revoked_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, null(t.User), t.Identity, t.Name, nonNil(t.Hash), null(t.Org), string(t.Role),
		s.d.time(t.CreatedAt), s.d.time(t.ExpiresAt), s.d.time(t.LastUsedAt), s.d.time(t.RevokedAt))
	switch s.d.violation(err) {
	case uniqueViolation:
		// The ID or the hash: the ID is the one a caller can act on.
		if _, err := s.Token(ctx, t.ID); err == nil {
			return errs.E(errs.Conflict, "token %q already exists", t.ID)
		}
		return errs.E(errs.Conflict, "a token with the same secret already exists")
	case foreignKeyViolation:
		return s.notFound(ctx, "create token", err, userRow(t.User), orgRow(t.Org))
	case checkViolation:
		return errs.E(errs.Invalid, "token %q has neither a user nor a workload identity", t.ID)
	}
	return s.fail("create token", err)
}

// TokenByHash returns the token with the given SHA-256 hash, revoked or not; NotFound if none.
func (s *Store) TokenByHash(ctx context.Context, hash []byte) (store.Token, error) {
	t, err := scanToken(s.queryRow(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE hash = ?`, nonNil(hash)))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Token{}, errs.E(errs.NotFound, "token not found")
	}
	if err != nil {
		return store.Token{}, s.fail("get token", err)
	}
	return t, nil
}

// tokenAuthQuery reads a token by hash with its user or identity and, for the org of the
// first two arguments, whether it exists and the user's role in it: one indexed lookup per
// table, in one statement, so that a request is authenticated and admitted in one round trip.
const tokenAuthQuery = `SELECT t.id, coalesce(t.user_name, ''), t.identity, t.name, t.hash, coalesce(t.org, ''), t.role,
		t.created_at, t.expires_at, t.last_used_at, t.revoked_at,
		u.name IS NOT NULL, coalesce(u.superuser, false), i.name IS NOT NULL, i.created_at,
		EXISTS (SELECT 1 FROM orgs WHERE name = ?),
		coalesce((SELECT role FROM members m WHERE m.org = ? AND m.user_name = t.user_name), '')
	FROM tokens t
	LEFT JOIN users u ON u.name = t.user_name
	LEFT JOIN identities i ON t.identity <> '' AND i.org = t.org AND i.org || '/' || i.name = t.identity
	WHERE t.hash = ?`

// TokenAuth returns the token with the given hash, revoked or not, with its user's or
// identity's state and org's existence and the user's role in org; NotFound if none.
func (s *Store) TokenAuth(ctx context.Context, hash []byte, org string) (store.TokenAuth, error) {
	a := store.TokenAuth{Org: org}
	t := &a.Token
	err := s.queryRow(ctx, tokenAuthQuery, org, org, nonNil(hash)).Scan(
		&t.ID, &t.User, &t.Identity, &t.Name, &t.Hash, &t.Org, (*string)(&t.Role),
		ts(&t.CreatedAt), ts(&t.ExpiresAt), ts(&t.LastUsedAt), ts(&t.RevokedAt),
		&a.UserFound, &a.Superuser, &a.IdentityFound, ts(&a.IdentityCreatedAt), &a.OrgFound, (*string)(&a.MemberRole))
	if errors.Is(err, sql.ErrNoRows) {
		return store.TokenAuth{}, errs.E(errs.NotFound, "token not found")
	}
	if err != nil {
		return store.TokenAuth{}, s.fail("get token", err)
	}
	return a, nil
}

// Token returns the token with the given ID; NotFound if none.
func (s *Store) Token(ctx context.Context, id string) (store.Token, error) {
	t, err := scanToken(s.queryRow(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Token{}, errs.E(errs.NotFound, "token %q not found", id)
	}
	if err != nil {
		return store.Token{}, s.fail("get token", err)
	}
	return t, nil
}

// Tokens lists a user's tokens, revoked ones included, oldest first.
func (s *Store) Tokens(ctx context.Context, user string) ([]store.Token, error) {
	rows, err := s.query(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE user_name = ? ORDER BY created_at NULLS FIRST, id`, user)
	if err != nil {
		return nil, s.fail("list tokens", err)
	}
	toks, err := collect(rows, scanToken)
	return toks, s.fail("list tokens", err)
}

// RevokeToken sets a token's RevokedAt to at unless it is already revoked; NotFound if no
// such token.
func (s *Store) RevokeToken(ctx context.Context, id string, at time.Time) error {
	res, err := s.exec(ctx, `UPDATE tokens SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?`, s.d.time(at), id)
	return s.mustChange(res, err, "revoke token", "token %q not found", id)
}

// TouchToken sets a token's LastUsedAt to at; NotFound if no such token.
func (s *Store) TouchToken(ctx context.Context, id string, at time.Time) error {
	res, err := s.exec(ctx, `UPDATE tokens SET last_used_at = ? WHERE id = ?`, s.d.time(at), id)
	return s.mustChange(res, err, "touch token", "token %q not found", id)
}
