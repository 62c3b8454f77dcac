package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/store"
)

const identityColumns = `org, name, provider, role, issuers, config, created_at, created_by`

func scanIdentity(row scanner) (store.Identity, error) {
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
	err = s.inTx(ctx, func(tx txn) error {
		if _, err := tx.exec(ctx, `INSERT INTO identities (`+identityColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			id.Org, id.Name, id.Provider, string(id.Role), string(enc), nonNil(id.Config), s.d.time(id.CreatedAt), id.CreatedBy); err != nil {
			return err
		}
		for _, iss := range issuers {
			if _, err := tx.exec(ctx, `INSERT INTO identity_issuers (org, name, issuer) VALUES (?, ?, ?)`, id.Org, id.Name, iss); err != nil {
				return err
			}
		}
		return nil
	})
	switch s.d.violation(err) {
	case uniqueViolation:
		return errs.E(errs.Conflict, "identity %q already exists in org %q", id.Name, id.Org)
	case foreignKeyViolation:
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
	ids, err := collect(rows, scanIdentity)
	return ids, s.fail("list identities", err)
}

// Issuers lists the distinct issuers of every workload identity, ordered.
func (s *Store) Issuers(ctx context.Context) ([]string, error) {
	rows, err := s.query(ctx, `SELECT DISTINCT issuer FROM identity_issuers ORDER BY issuer`)
	if err != nil {
		return nil, s.fail("list issuers", err)
	}
	out, err := collect(rows, scanString)
	return out, s.fail("list issuers", err)
}

func scanString(row scanner) (string, error) {
	var s string
	err := row.Scan(&s)
	return s, err
}

// DeleteIdentity removes a workload identity and revokes every token minted for it, in one
// transaction; NotFound if absent.
func (s *Store) DeleteIdentity(ctx context.Context, org, name string, at time.Time) error {
	if at.IsZero() {
		at = time.Now()
	}
	err := s.inTx(ctx, func(tx txn) error {
		res, err := tx.exec(ctx, `DELETE FROM identities WHERE org = ? AND name = ?`, org, name)
		if err := s.mustChange(res, err, "delete identity", "identity %q not found in org %q", name, org); err != nil {
			return err
		}
		_, err = tx.exec(ctx, `UPDATE tokens SET revoked_at = ? WHERE identity = ? AND revoked_at IS NULL`,
			s.d.time(at), org+"/"+name)
		return err
	})
	return s.fail("delete identity", err)
}
