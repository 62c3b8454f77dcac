package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	sqlite3 "modernc.org/sqlite/lib"

	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/store"
)

const identityColumns = `org, name, provider, role, issuers, config, created_at, created_by`

func scanIdentity(row interface{ Scan(...any) error }) (store.Identity, error) {
	var id store.Identity
	var issuers string
	err := row.Scan(&id.Org, &id.Name, &id.Provider, (*string)(&id.Role), &issuers, &id.Config, ts(&id.CreatedAt), &id.CreatedBy)
	if err == nil {
		if jerr := json.Unmarshal([]byte(issuers), &id.Issuers); jerr != nil {
			err = jerr
		}
	}
	return id, err
}

// PutIdentity adds id with its issuers (sorted and deduplicated); Conflict if the name is
// taken in its org; NotFound if the org is absent.
func (s *Store) PutIdentity(ctx context.Context, id store.Identity) error {
	issuers := sortedSet(id.Issuers)
	if issuers == nil {
		issuers = []string{}
	}
	enc, err := json.Marshal(issuers)
	if err != nil {
		return s.fail("put identity", err)
	}
	err = func() error {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, `INSERT INTO identities (`+identityColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			id.Org, id.Name, id.Provider, string(id.Role), string(enc), nonNil(id.Config), micros(id.CreatedAt), id.CreatedBy); err != nil {
			return err
		}
		for _, iss := range issuers {
			if _, err := tx.ExecContext(ctx, `INSERT INTO identity_issuers (org, name, issuer) VALUES (?, ?, ?)`, id.Org, id.Name, iss); err != nil {
				return err
			}
		}
		return tx.Commit()
	}()
	switch {
	case isConstraint(err, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY):
		return errs.E(errs.Conflict, "identity %q already exists in org %q", id.Name, id.Org)
	case isConstraint(err, sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY):
		return s.notFound(ctx, "put identity", err, orgRow(id.Org))
	}
	return s.fail("put identity", err)
}

// Identity returns the named workload identity; NotFound if absent.
func (s *Store) Identity(ctx context.Context, org, name string) (store.Identity, error) {
	id, err := scanIdentity(s.queryRow(ctx, `SELECT `+identityColumns+` FROM identities WHERE org = ? AND name = ?`, org, name))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Identity{}, errs.E(errs.NotFound, "identity %q not found in org %q", name, org)
	}
	if err != nil {
		return store.Identity{}, s.fail("get identity", err)
	}
	return id, nil
}

// Identities lists an org's workload identities ordered by name; none if the org is absent.
func (s *Store) Identities(ctx context.Context, org string) ([]store.Identity, error) {
	return s.identities(ctx, `SELECT `+identityColumns+` FROM identities WHERE org = ? ORDER BY name`, org)
}

// IdentitiesByIssuer lists the workload identities that accept tokens of issuer, ordered by
// org and name.
func (s *Store) IdentitiesByIssuer(ctx context.Context, issuer string) ([]store.Identity, error) {
	return s.identities(ctx, `SELECT `+identityColumns+` FROM identities WHERE (org, name) IN
		(SELECT org, name FROM identity_issuers WHERE issuer = ?) ORDER BY org, name`, issuer)
}

func (s *Store) identities(ctx context.Context, query, arg string) ([]store.Identity, error) {
	rows, err := s.query(ctx, query, arg)
	if err != nil {
		return nil, s.fail("list identities", err)
	}
	defer rows.Close()
	var ids []store.Identity
	for rows.Next() {
		id, err := scanIdentity(rows)
		if err != nil {
			return nil, s.fail("list identities", err)
		}
		ids = append(ids, id)
	}
	return ids, s.fail("list identities", rows.Err())
}

// Issuers lists the distinct issuers of every workload identity, ordered.
func (s *Store) Issuers(ctx context.Context) ([]string, error) {
	rows, err := s.query(ctx, `SELECT DISTINCT issuer FROM identity_issuers ORDER BY issuer`)
	if err != nil {
		return nil, s.fail("list issuers", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var iss string
		if err := rows.Scan(&iss); err != nil {
			return nil, s.fail("list issuers", err)
		}
		out = append(out, iss)
	}
	return out, s.fail("list issuers", rows.Err())
}

// DeleteIdentity removes a workload identity and revokes every token minted for it, in one
// transaction; NotFound if absent.
func (s *Store) DeleteIdentity(ctx context.Context, org, name string, at time.Time) error {
	if at.IsZero() {
		at = time.Now()
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.fail("delete identity", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `DELETE FROM identities WHERE org = ? AND name = ?`, org, name)
	if err := s.mustChange(res, err, "delete identity", "identity %q not found in org %q", name, org); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE tokens SET revoked_at = ? WHERE identity = ? AND revoked_at IS NULL`,
		micros(at), org+"/"+name); err != nil {
		return s.fail("delete identity", err)
	}
	return s.fail("delete identity", tx.Commit())
}
