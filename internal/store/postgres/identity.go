package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/store"
)

const identityColumns = `org, name, provider, role, issuers, config, created_at, created_by`

func scanIdentity(row pgx.Row) (store.Identity, error) {
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
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO identities (`+identityColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			id.Org, id.Name, id.Provider, string(id.Role), string(enc), nonNil(id.Config), tstz(id.CreatedAt), id.CreatedBy); err != nil {
			return err
		}
		for _, iss := range issuers {
			if _, err := tx.Exec(ctx, `INSERT INTO identity_issuers (org, name, issuer) VALUES ($1, $2, $3)`, id.Org, id.Name, iss); err != nil {
				return err
			}
		}
		return nil
	})
	switch code(err) {
	case uniqueViolation:
		return errs.E(errs.Conflict, "identity %q already exists in org %q", id.Name, id.Org)
	case foreignKeyViolation:
		return s.notFound(ctx, "put identity", err, orgRow(id.Org))
	}
	return s.fail("put identity", err)
}

// Identity returns the named workload identity; NotFound if absent.
func (s *Store) Identity(ctx context.Context, org, name string) (store.Identity, error) {
	id, err := scanIdentity(s.pool.QueryRow(ctx, `SELECT `+identityColumns+` FROM identities WHERE org = $1 AND name = $2`, org, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Identity{}, errs.E(errs.NotFound, "identity %q not found in org %q", name, org)
	}
	if err != nil {
		return store.Identity{}, s.fail("get identity", err)
	}
	return id, nil
}

// Identities lists an org's workload identities ordered by name; none if the org is absent.
func (s *Store) Identities(ctx context.Context, org string) ([]store.Identity, error) {
	return s.identities(ctx, `SELECT `+identityColumns+` FROM identities WHERE org = $1 ORDER BY name`, org)
}

// IdentitiesByIssuer lists the workload identities that accept tokens of issuer, ordered by
// org and name.
func (s *Store) IdentitiesByIssuer(ctx context.Context, issuer string) ([]store.Identity, error) {
	return s.identities(ctx, `SELECT `+identityColumns+` FROM identities WHERE (org, name) IN
		(SELECT org, name FROM identity_issuers WHERE issuer = $1) ORDER BY org, name`, issuer)
}

func (s *Store) identities(ctx context.Context, query, arg string) ([]store.Identity, error) {
	rows, err := s.pool.Query(ctx, query, arg)
	if err != nil {
		return nil, s.fail("list identities", err)
	}
	ids, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Identity, error) { return scanIdentity(row) })
	if err != nil {
		return nil, s.fail("list identities", err)
	}
	return ids, nil
}

// Issuers lists the distinct issuers of every workload identity, ordered.
func (s *Store) Issuers(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT issuer FROM identity_issuers ORDER BY issuer`)
	if err != nil {
		return nil, s.fail("list issuers", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, s.fail("list issuers", err)
	}
	return out, nil
}

// DeleteIdentity removes a workload identity and revokes every token minted for it, in one
// transaction; NotFound if absent.
func (s *Store) DeleteIdentity(ctx context.Context, org, name string, at time.Time) error {
	if at.IsZero() {
		at = time.Now()
	}
	var found bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM identities WHERE org = $1 AND name = $2`, org, name)
		if err != nil {
			return err
		}
		if found = tag.RowsAffected() > 0; !found {
			return nil
		}
		_, err = tx.Exec(ctx, `UPDATE tokens SET revoked_at = $1 WHERE identity = $2 AND revoked_at IS NULL`, tstz(at), org+"/"+name)
		return err
	})
	if err != nil {
		return s.fail("delete identity", err)
	}
	if !found {
		return errs.E(errs.NotFound, "identity %q not found in org %q", name, org)
	}
	return nil
}
