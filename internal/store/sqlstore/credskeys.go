package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/store"
)

const credsKeyColumns = `org, name, provider, config, secret, version, created_at, updated_at`

func scanCredsKey(row scanner) (store.CredsKey, error) {
	var k store.CredsKey
	err := row.Scan(&k.Org, &k.Name, &k.Provider, &k.Config, &k.Secret, &k.Version, ts(&k.CreatedAt), ts(&k.UpdatedAt))
	return k, err
}

// PutCredsKey creates k with version 1, or replaces the provider, config and secret of an
// existing key, sets its UpdatedAt to k.UpdatedAt and increments its version, keeping its
// CreatedAt. It returns the stored key. NotFound if the org is absent.
func (s *Store) PutCredsKey(ctx context.Context, k store.CredsKey) (store.CredsKey, error) {
	k.Config = nonNil(k.Config)
	err := s.execReturning(ctx, `INSERT INTO creds_keys (org, name, provider, config, secret, version, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, 1, ?, ?)
		ON CONFLICT (org, name) DO UPDATE SET provider = excluded.provider, config = excluded.config,
			secret = excluded.secret, version = creds_keys.version + 1, updated_at = excluded.updated_at
		RETURNING version, created_at, updated_at`,
		[]any{k.Org, k.Name, k.Provider, k.Config, k.Secret, s.d.time(k.CreatedAt), s.d.time(k.UpdatedAt)},
		&k.Version, ts(&k.CreatedAt), ts(&k.UpdatedAt))
	if s.d.violation(err) == foreignKeyViolation {
		return store.CredsKey{}, errs.E(errs.NotFound, "org %q not found", k.Org)
	}
	if err != nil {
		return store.CredsKey{}, s.fail("put creds key", err)
	}
	return k, nil
}

// CredsKey returns the named creds key; NotFound if absent.
func (s *Store) CredsKey(ctx context.Context, org, name string) (store.CredsKey, error) {
	k, err := scanCredsKey(s.queryRow(ctx, `SELECT `+credsKeyColumns+` FROM creds_keys WHERE org = ? AND name = ?`, org, name))
	if errors.Is(err, sql.ErrNoRows) {
		return store.CredsKey{}, errs.E(errs.NotFound, "creds key %q not found in org %q", name, org)
	}
	if err != nil {
		return store.CredsKey{}, s.fail("get creds key", err)
	}
	return k, nil
}

// CredsKeys lists an org's creds keys ordered by name; none if the org is absent.
func (s *Store) CredsKeys(ctx context.Context, org string) ([]store.CredsKey, error) {
	rows, err := s.query(ctx, `SELECT `+credsKeyColumns+` FROM creds_keys WHERE org = ? ORDER BY name`, org)
	if err != nil {
		return nil, s.fail("list creds keys", err)
	}
	ks, err := collect(rows, scanCredsKey)
	return ks, s.fail("list creds keys", err)
}

// DeleteCredsKey removes a creds key; NotFound if absent; Conflict (code in_use) if a
// dataset uses it as its creds key or linked key, or it is the org's default. The foreign
// keys refuse the delete, so a dataset created concurrently cannot be left dangling.
func (s *Store) DeleteCredsKey(ctx context.Context, org, name string) error {
	res, err := s.exec(ctx, `DELETE FROM creds_keys WHERE org = ? AND name = ?`, org, name)
	if s.d.violation(err) == foreignKeyViolation {
		return s.inUse(ctx, org, name)
	}
	return s.mustChange(res, err, "delete creds key", "creds key %q not found in org %q", name, org)
}

// inUse explains why creds key org/name cannot be deleted.
func (s *Store) inUse(ctx context.Context, org, name string) error {
	var isDefault int
	if err := s.queryRow(ctx, `SELECT count(*) FROM orgs WHERE name = ? AND default_creds_key = ?`, org, name).Scan(&isDefault); err != nil {
		return s.fail("delete creds key", err)
	}
	rows, err := s.query(ctx, `SELECT name FROM datasets WHERE org = ? AND creds_key = ?
		UNION SELECT dataset FROM dataset_linked_keys WHERE org = ? AND creds_key = ?
		ORDER BY 1`, org, name, org, name)
	if err != nil {
		return s.fail("delete creds key", err)
	}
	datasets, err := collect(rows, scanString)
	if err != nil {
		return s.fail("delete creds key", err)
	}
	return inUseError(org, name, isDefault > 0, datasets)
}

// inUseError returns the Conflict (code in_use) error of a creds key that is still
// referenced.
func inUseError(org, name string, isDefault bool, datasets []string) error {
	var why, fix []string
	if isDefault {
		why = append(why, fmt.Sprintf("is the default storage key of org %q", org))
		fix = append(fix, "set another default storage key")
	}
	switch {
	case len(datasets) == 1:
		why = append(why, "is used by dataset "+datasets[0])
		fix = append(fix, "remove it or point it at another key")
	case len(datasets) > 10:
		why = append(why, fmt.Sprintf("is used by datasets %s and %d more", strings.Join(datasets[:10], ", "), len(datasets)-10))
		fix = append(fix, "remove them or point them at another key")
	case len(datasets) > 1:
		why = append(why, "is used by datasets "+strings.Join(datasets, ", "))
		fix = append(fix, "remove them or point them at another key")
	}
	if len(why) == 0 {
		return errs.E(errs.Conflict, "creds key %q is in use; remove what uses it first", name).WithCode(api.CodeInUse)
	}
	return errs.E(errs.Conflict, "creds key %q %s; %s first", name, strings.Join(why, " and "), strings.Join(fix, ", then ")).WithCode(api.CodeInUse)
}
