// Package postgres implements store.Store on PostgreSQL. It is the database of a scaled-out
// tarn: any number of `tarn serve` processes share one database and keep no state of their
// own, so every invariant (unique names, creds keys in use, version numbers) is enforced by
// the database itself.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLock is the pg_advisory_lock key held while migrating ("tarnmigr").
const migrationLock int64 = 0x7461726e6d696772

// Store is a store.Store on a PostgreSQL database. It is safe for concurrent use, and any
// number of Stores, in one process or many, may share one database.
type Store struct {
	pool      *pgxpool.Pool
	closed    atomic.Bool
	closeOnce sync.Once
}

var _ store.Store = (*Store)(nil)

// Open connects to the PostgreSQL database at url (postgres://user[:password]@host[:port]/db?...)
// and applies any missing migrations while holding an advisory lock, so several processes
// may open the same database at once. It returns an error of kind Invalid if url cannot be
// parsed and Unavailable if the database cannot be reached or migrated. Error details never
// contain the password.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, err, "invalid PostgreSQL URL; want postgres://user@host:port/database")
	}
	where := fmt.Sprintf("%s/%s", net.JoinHostPort(cfg.ConnConfig.Host, strconv.Itoa(int(cfg.ConnConfig.Port))), cfg.ConnConfig.Database)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, errs.Wrap(errs.Unavailable, err, "cannot connect to PostgreSQL at "+where)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, errs.Wrap(errs.Unavailable, err, "cannot connect to PostgreSQL at "+where)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, errs.Wrap(errs.Unavailable, err, "cannot migrate the PostgreSQL database at "+where)
	}
	return &Store{pool: pool}, nil
}

// migrate applies the embedded migrations that schema_migrations does not list yet, each in
// its own transaction, while holding the migration advisory lock.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	slices.Sort(files) // numbered names: 0001_init.sql, 0002_...
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return err
	}
	defer func() {
		if _, err := conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, migrationLock); err != nil {
			conn.Conn().Close(context.Background()) // ending the session releases the lock
		}
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    bigint PRIMARY KEY,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return err
	}
	for _, f := range files {
		name := path.Base(f)
		version, err := strconv.Atoi(strings.SplitN(name, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migration %s: name must start with a number", name)
		}
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM schema_migrations WHERE version = $1`, version).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			continue
		}
		text, err := migrations.ReadFile(f)
		if err != nil {
			return err
		}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, string(text)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, version)
			return err
		})
		if err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
	}
	return nil
}

// Close closes all connections. Calls after the first do nothing.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.pool.Close()
	})
	return nil
}

// Ping checks that the database answers; it returns an error of kind Unavailable if not.
func (s *Store) Ping(ctx context.Context) error {
	if s.closed.Load() {
		return errs.E(errs.Unavailable, "the database is closed")
	}
	if err := s.pool.Ping(ctx); err != nil {
		return errs.Wrap(errs.Unavailable, err, "the database does not answer; try again")
	}
	return nil
}

// CreateUser adds u; Conflict if the name is taken.
func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO users (name, superuser, created_at) VALUES ($1, $2, $3)`,
		u.Name, u.Superuser, tstz(u.CreatedAt))
	if code(err) == uniqueViolation {
		return errs.E(errs.Conflict, "user %q already exists", u.Name)
	}
	return s.fail("create user", err)
}

// User returns the named user; NotFound if absent.
func (s *Store) User(ctx context.Context, name string) (store.User, error) {
	u := store.User{Name: name}
	err := s.pool.QueryRow(ctx, `SELECT superuser, created_at FROM users WHERE name = $1`, name).
		Scan(&u.Superuser, ts(&u.CreatedAt))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.User{}, errs.E(errs.NotFound, "user %q not found", name)
	}
	if err != nil {
		return store.User{}, s.fail("get user", err)
	}
	return u, nil
}

// CreateOrg adds o; Conflict if the name is taken; NotFound if o has a default creds key,
// which cannot exist yet.
func (s *Store) CreateOrg(ctx context.Context, o store.Org) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO orgs (name, created_at, default_location, default_creds_key) VALUES ($1, $2, $3, $4)`,
		o.Name, tstz(o.CreatedAt), o.DefaultLocation, null(o.DefaultCredsKey))
	switch code(err) {
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
	err := s.pool.QueryRow(ctx, `SELECT created_at, default_location, coalesce(default_creds_key, '') FROM orgs WHERE name = $1`, name).
		Scan(ts(&o.CreatedAt), &o.DefaultLocation, &o.DefaultCredsKey)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Org{}, errs.E(errs.NotFound, "org %q not found", name)
	}
	if err != nil {
		return store.Org{}, s.fail("get org", err)
	}
	return o, nil
}

// SetDefaultStorage sets an org's default location and creds key (empty clears it). It
// returns NotFound if the org or the creds key is absent.
func (s *Store) SetDefaultStorage(ctx context.Context, org, location, credsKey string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE orgs SET default_location = $1, default_creds_key = $2 WHERE name = $3`,
		location, null(credsKey), org)
	if code(err) == foreignKeyViolation {
		return errs.E(errs.NotFound, "creds key %q not found in org %q", credsKey, org)
	}
	return s.mustChange(tag, err, "set default storage", "org %q not found", org)
}

// PutMember creates or replaces a membership; NotFound if the org or user is absent.
func (s *Store) PutMember(ctx context.Context, m store.Member) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO members (org, user_name, role) VALUES ($1, $2, $3)
		ON CONFLICT (org, user_name) DO UPDATE SET role = excluded.role`,
		m.Org, m.User, string(m.Role))
	if code(err) == foreignKeyViolation {
		return s.notFound(ctx, "put member", err, orgRow(m.Org), userRow(m.User))
	}
	return s.fail("put member", err)
}

// Member returns a user's membership in an org; NotFound if there is none.
func (s *Store) Member(ctx context.Context, org, user string) (store.Member, error) {
	m := store.Member{Org: org, User: user}
	err := s.pool.QueryRow(ctx, `SELECT role FROM members WHERE org = $1 AND user_name = $2`, org, user).
		Scan((*string)(&m.Role))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Member{}, errs.E(errs.NotFound, "user %q is not a member of org %q", user, org)
	}
	if err != nil {
		return store.Member{}, s.fail("get member", err)
	}
	return m, nil
}

// Members lists an org's members ordered by user name; none if the org is absent.
func (s *Store) Members(ctx context.Context, org string) ([]store.Member, error) {
	return s.members(ctx, `SELECT org, user_name, role FROM members WHERE org = $1 ORDER BY user_name`, org)
}

// Memberships lists a user's memberships ordered by org name; none if the user is absent.
func (s *Store) Memberships(ctx context.Context, user string) ([]store.Member, error) {
	return s.members(ctx, `SELECT org, user_name, role FROM members WHERE user_name = $1 ORDER BY org`, user)
}

func (s *Store) members(ctx context.Context, query string, arg string) ([]store.Member, error) {
	rows, err := s.pool.Query(ctx, query, arg)
	if err != nil {
		return nil, s.fail("list members", err)
	}
	defer rows.Close()
	var ms []store.Member
	for rows.Next() {
		var m store.Member
		if err := rows.Scan(&m.Org, &m.User, (*string)(&m.Role)); err != nil {
			return nil, s.fail("list members", err)
		}
		ms = append(ms, m)
	}
	return ms, s.fail("list members", rows.Err())
}

// DeleteMember removes a membership; NotFound if there is none.
func (s *Store) DeleteMember(ctx context.Context, org, user string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM members WHERE org = $1 AND user_name = $2`, org, user)
	return s.mustChange(tag, err, "delete member", "user %q is not a member of org %q", user, org)
}

const tokenColumns = `id, coalesce(user_name, ''), identity, name, hash, coalesce(org, ''), role, created_at, expires_at, last_used_at, revoked_at`

func scanToken(row pgx.Row) (store.Token, error) {
	var t store.Token
	err := row.Scan(&t.ID, &t.User, &t.Identity, &t.Name, &t.Hash, &t.Org, (*string)(&t.Role),
		ts(&t.CreatedAt), ts(&t.ExpiresAt), ts(&t.LastUsedAt), ts(&t.RevokedAt))
	return t, err
}

// CreateToken adds t; Conflict if its ID or hash is taken; NotFound if its user or org is
// absent.
func (s *Store) CreateToken(ctx context.Context, t store.Token) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO tokens (id, user_name, identity, name, hash, org, role, created_at, expires_at, last_used_at, revoked_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		t.ID, null(t.User), t.Identity, t.Name, nonNil(t.Hash), null(t.Org), string(t.Role),
		tstz(t.CreatedAt), tstz(t.ExpiresAt), tstz(t.LastUsedAt), tstz(t.RevokedAt))
	switch {
	case code(err) == uniqueViolation && constraint(err) == "tokens_pkey":
		return errs.E(errs.Conflict, "token %q already exists", t.ID)
	case code(err) == uniqueViolation:
		return errs.E(errs.Conflict, "a token with the same secret already exists")
	case code(err) == foreignKeyViolation:
		return s.notFound(ctx, "create token", err, userRow(t.User), orgRow(t.Org))
	}
	return s.fail("create token", err)
}

// TokenByHash returns the token with the given SHA-256 hash, revoked or not; NotFound if none.
func (s *Store) TokenByHash(ctx context.Context, hash []byte) (store.Token, error) {
	t, err := scanToken(s.pool.QueryRow(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE hash = $1`, nonNil(hash)))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Token{}, errs.E(errs.NotFound, "token not found")
	}
	if err != nil {
		return store.Token{}, s.fail("get token", err)
	}
	return t, nil
}

// Token returns the token with the given ID; NotFound if none.
func (s *Store) Token(ctx context.Context, id string) (store.Token, error) {
	t, err := scanToken(s.pool.QueryRow(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Token{}, errs.E(errs.NotFound, "token %q not found", id)
	}
	if err != nil {
		return store.Token{}, s.fail("get token", err)
	}
	return t, nil
}

// Tokens lists a user's tokens, revoked ones included, oldest first.
func (s *Store) Tokens(ctx context.Context, user string) ([]store.Token, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE user_name = $1 ORDER BY created_at NULLS FIRST, id`, user)
	if err != nil {
		return nil, s.fail("list tokens", err)
	}
	defer rows.Close()
	var toks []store.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, s.fail("list tokens", err)
		}
		toks = append(toks, t)
	}
	return toks, s.fail("list tokens", rows.Err())
}

// RevokeToken sets a token's RevokedAt to at unless it is already revoked; NotFound if no
// such token.
func (s *Store) RevokeToken(ctx context.Context, id string, at time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE tokens SET revoked_at = coalesce(revoked_at, $1) WHERE id = $2`, tstz(at), id)
	return s.mustChange(tag, err, "revoke token", "token %q not found", id)
}

// TouchToken sets a token's LastUsedAt to at; NotFound if no such token.
func (s *Store) TouchToken(ctx context.Context, id string, at time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE tokens SET last_used_at = $1 WHERE id = $2`, tstz(at), id)
	return s.mustChange(tag, err, "touch token", "token %q not found", id)
}

const credsKeyColumns = `org, name, provider, config, secret, version, created_at, updated_at`

func scanCredsKey(row pgx.Row) (store.CredsKey, error) {
	var k store.CredsKey
	err := row.Scan(&k.Org, &k.Name, &k.Provider, &k.Config, &k.Secret, &k.Version, ts(&k.CreatedAt), ts(&k.UpdatedAt))
	return k, err
}

// PutCredsKey creates k with version 1, or replaces the provider, config and secret of an
// existing key, sets its UpdatedAt to k.UpdatedAt and increments its version, keeping its
// CreatedAt. It returns the stored key. NotFound if the org is absent.
func (s *Store) PutCredsKey(ctx context.Context, k store.CredsKey) (store.CredsKey, error) {
	k.Config = nonNil(k.Config)
	err := s.pool.QueryRow(ctx, `INSERT INTO creds_keys (org, name, provider, config, secret, version, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, 1, $6, $7)
		ON CONFLICT (org, name) DO UPDATE SET provider = excluded.provider, config = excluded.config,
			secret = excluded.secret, version = creds_keys.version + 1, updated_at = excluded.updated_at
		RETURNING version, created_at, updated_at`,
		k.Org, k.Name, k.Provider, k.Config, k.Secret, tstz(k.CreatedAt), tstz(k.UpdatedAt)).
		Scan(&k.Version, ts(&k.CreatedAt), ts(&k.UpdatedAt))
	if code(err) == foreignKeyViolation {
		return store.CredsKey{}, errs.E(errs.NotFound, "org %q not found", k.Org)
	}
	if err != nil {
		return store.CredsKey{}, s.fail("put creds key", err)
	}
	return k, nil
}

// CredsKey returns the named creds key; NotFound if absent.
func (s *Store) CredsKey(ctx context.Context, org, name string) (store.CredsKey, error) {
	k, err := scanCredsKey(s.pool.QueryRow(ctx, `SELECT `+credsKeyColumns+` FROM creds_keys WHERE org = $1 AND name = $2`, org, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.CredsKey{}, errs.E(errs.NotFound, "creds key %q not found in org %q", name, org)
	}
	if err != nil {
		return store.CredsKey{}, s.fail("get creds key", err)
	}
	return k, nil
}

// CredsKeys lists an org's creds keys ordered by name; none if the org is absent.
func (s *Store) CredsKeys(ctx context.Context, org string) ([]store.CredsKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+credsKeyColumns+` FROM creds_keys WHERE org = $1 ORDER BY name`, org)
	if err != nil {
		return nil, s.fail("list creds keys", err)
	}
	defer rows.Close()
	var ks []store.CredsKey
	for rows.Next() {
		k, err := scanCredsKey(rows)
		if err != nil {
			return nil, s.fail("list creds keys", err)
		}
		ks = append(ks, k)
	}
	return ks, s.fail("list creds keys", rows.Err())
}

// DeleteCredsKey removes a creds key; NotFound if absent; Conflict (code in_use) if a
// dataset uses it as its creds key or linked key, or it is the org's default. The foreign
// keys refuse the delete, so a dataset created concurrently cannot be left dangling.
func (s *Store) DeleteCredsKey(ctx context.Context, org, name string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM creds_keys WHERE org = $1 AND name = $2`, org, name)
	if code(err) == foreignKeyViolation {
		return s.inUse(ctx, org, name)
	}
	return s.mustChange(tag, err, "delete creds key", "creds key %q not found in org %q", name, org)
}

// inUse explains why creds key org/name cannot be deleted.
func (s *Store) inUse(ctx context.Context, org, name string) error {
	var isDefault int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM orgs WHERE name = $1 AND default_creds_key = $2`, org, name).Scan(&isDefault); err != nil {
		return s.fail("delete creds key", err)
	}
	rows, err := s.pool.Query(ctx, `SELECT name FROM datasets WHERE org = $1 AND creds_key = $2
		UNION SELECT dataset FROM dataset_linked_keys WHERE org = $1 AND creds_key = $2
		ORDER BY 1`, org, name)
	if err != nil {
		return s.fail("delete creds key", err)
	}
	datasets, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return s.fail("delete creds key", err)
	}
	return inUseError(org, name, isDefault > 0, datasets)
}

// inUseError returns the Conflict (code in_use) error of a creds key that is still
// referenced. The sqlite package words it the same way; keep them in step.
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

// datasetColumns selects a dataset row with its linked keys, comma-separated (creds key
// names hold no commas).
const datasetColumns = `org, name, location, coalesce(creds_key, ''), public, created_at, created_by,
	coalesce((SELECT string_agg(creds_key, ',' ORDER BY creds_key) FROM dataset_linked_keys l WHERE l.org = datasets.org AND l.dataset = datasets.name), '')`

func scanDataset(row pgx.Row) (store.Dataset, error) {
	var d store.Dataset
	var linked string
	err := row.Scan(&d.Org, &d.Name, &d.Location, &d.CredsKey, &d.Public, ts(&d.CreatedAt), &d.CreatedBy, &linked)
	if linked != "" {
		d.LinkedKeys = strings.Split(linked, ",")
	}
	return d, err
}

// CreateDataset adds d with its linked keys (sorted and deduplicated). It returns Conflict if
// the name is taken in its org and NotFound if the org, the creds key or a linked key is
// absent.
func (s *Store) CreateDataset(ctx context.Context, d store.Dataset) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO datasets (org, name, location, creds_key, public, created_at, created_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			d.Org, d.Name, d.Location, null(d.CredsKey), d.Public, tstz(d.CreatedAt), d.CreatedBy); err != nil {
			return err
		}
		for _, k := range sortedSet(d.LinkedKeys) {
			if _, err := tx.Exec(ctx, `INSERT INTO dataset_linked_keys (org, dataset, creds_key) VALUES ($1, $2, $3)`,
				d.Org, d.Name, k); err != nil {
				return err
			}
		}
		return nil
	})
	switch code(err) {
	case uniqueViolation:
		return errs.E(errs.Conflict, "dataset %q already exists in org %q", d.Name, d.Org)
	case foreignKeyViolation:
		lookups := []lookup{orgRow(d.Org), keyRow(d.Org, d.CredsKey)}
		for _, k := range d.LinkedKeys {
			lookups = append(lookups, keyRow(d.Org, k))
		}
		return s.notFound(ctx, "create dataset", err, lookups...)
	}
	return s.fail("create dataset", err)
}

// Dataset returns the named dataset; NotFound if absent.
func (s *Store) Dataset(ctx context.Context, org, name string) (store.Dataset, error) {
	d, err := scanDataset(s.pool.QueryRow(ctx, `SELECT `+datasetColumns+` FROM datasets WHERE org = $1 AND name = $2`, org, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Dataset{}, errs.E(errs.NotFound, "dataset %q not found in org %q", name, org)
	}
	if err != nil {
		return store.Dataset{}, s.fail("get dataset", err)
	}
	return d, nil
}

// Datasets lists an org's datasets ordered by name; none if the org is absent.
func (s *Store) Datasets(ctx context.Context, org string) ([]store.Dataset, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+datasetColumns+` FROM datasets WHERE org = $1 ORDER BY name`, org)
	if err != nil {
		return nil, s.fail("list datasets", err)
	}
	ds, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Dataset, error) { return scanDataset(row) })
	if err != nil {
		return nil, s.fail("list datasets", err)
	}
	return ds, nil
}

// DeleteDataset removes a dataset entry and its linked keys; NotFound if absent.
func (s *Store) DeleteDataset(ctx context.Context, org, name string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM datasets WHERE org = $1 AND name = $2`, org, name)
	return s.mustChange(tag, err, "delete dataset", "dataset %q not found in org %q", name, org)
}

// AddLinkedKey adds key to a dataset's linked keys (idempotent); NotFound if the dataset or
// the creds key is absent.
func (s *Store) AddLinkedKey(ctx context.Context, org, name, key string) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO dataset_linked_keys (org, dataset, creds_key) VALUES ($1, $2, $3)
		ON CONFLICT DO NOTHING`, org, name, key)
	if code(err) == foreignKeyViolation {
		return s.notFound(ctx, "add linked key", err, datasetRow(org, name), keyRow(org, key))
	}
	return s.fail("add linked key", err)
}

// AppendAudit stores r and returns its ID; IDs increase.
func (s *Store) AppendAudit(ctx context.Context, r store.AuditRecord) (int64, error) {
	var id int64
	err := s.pool.QueryRow(ctx, `INSERT INTO audit (time, request_id, principal, org, action, target, mode, result, detail, key_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
		tstz(r.Time), r.RequestID, r.Principal, r.Org, r.Action, r.Target, r.Mode, r.Result, r.Detail, r.KeyID).Scan(&id)
	if err != nil {
		return 0, s.fail("append audit record", err)
	}
	return id, nil
}

// Audit returns the records of q.Org at or after q.Since with action q.Action, oldest
// first (by time, then ID), at most q.Limit (1000 when q.Limit is 0 or less).
func (s *Store) Audit(ctx context.Context, q store.AuditQuery) ([]store.AuditRecord, error) {
	query := `SELECT id, time, request_id, principal, org, action, target, mode, result, detail, key_id
		FROM audit WHERE org = $1`
	args := []any{q.Org}
	if !q.Since.IsZero() {
		args = append(args, tstz(q.Since))
		query += fmt.Sprintf(` AND time >= $%d`, len(args))
	}
	if q.Action != "" {
		args = append(args, q.Action)
		query += fmt.Sprintf(` AND action = $%d`, len(args))
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 1000
	}
	args = append(args, limit)
	query += fmt.Sprintf(` ORDER BY time DESC NULLS LAST, id DESC LIMIT $%d`, len(args))
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, s.fail("query audit", err)
	}
	defer rows.Close()
	var rs []store.AuditRecord
	for rows.Next() {
		var r store.AuditRecord
		if err := rows.Scan(&r.ID, ts(&r.Time), &r.RequestID, &r.Principal, &r.Org, &r.Action, &r.Target,
			&r.Mode, &r.Result, &r.Detail, &r.KeyID); err != nil {
			return nil, s.fail("query audit", err)
		}
		rs = append(rs, r)
	}
	slices.Reverse(rs) // the newest Limit records, oldest first
	return rs, s.fail("query audit", rows.Err())
}

// lookup is a query that selects one row if a named thing exists.
type lookup struct {
	query    string
	args     []any
	notFound string
}

func orgRow(org string) lookup {
	return lookup{`SELECT 1 FROM orgs WHERE name = $1`, []any{org}, fmt.Sprintf("org %q not found", org)}
}

func userRow(user string) lookup {
	return lookup{`SELECT 1 FROM users WHERE name = $1`, []any{user}, fmt.Sprintf("user %q not found", user)}
}

func keyRow(org, key string) lookup {
	return lookup{`SELECT 1 FROM creds_keys WHERE org = $1 AND name = $2`, []any{org, key},
		fmt.Sprintf("creds key %q not found in org %q", key, org)}
}

func datasetRow(org, name string) lookup {
	return lookup{`SELECT 1 FROM datasets WHERE org = $1 AND name = $2`, []any{org, name},
		fmt.Sprintf("dataset %q not found in org %q", name, org)}
}

// notFound explains a foreign key failure: it returns NotFound for the first lookup whose
// row is absent, skipping lookups with an empty name. If all exist (something was created
// in the meantime), it reports cause.
func (s *Store) notFound(ctx context.Context, op string, cause error, lookups ...lookup) error {
	for _, l := range lookups {
		if slices.Contains(l.args, any("")) {
			continue
		}
		var one int
		err := s.pool.QueryRow(ctx, l.query, l.args...).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return errs.E(errs.NotFound, "%s", l.notFound)
		}
		if err != nil {
			return s.fail(op, err)
		}
	}
	return s.fail(op, cause)
}

// mustChange returns NotFound with the given detail if the statement changed no row.
func (s *Store) mustChange(tag pgconn.CommandTag, err error, op, format string, args ...any) error {
	if err != nil {
		return s.fail(op, err)
	}
	if tag.RowsAffected() == 0 {
		return errs.E(errs.NotFound, format, args...)
	}
	return nil
}

// SQLSTATE codes.
const (
	uniqueViolation     = "23505"
	foreignKeyViolation = "23503"
)

func code(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func constraint(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.ConstraintName
	}
	return ""
}

// fail classifies a database error: nil stays nil; a closed store, a connection failure, a
// timeout or a server that is shutting down or out of resources is Unavailable; anything
// else is Internal.
func (s *Store) fail(op string, err error) error {
	if err == nil {
		return nil
	}
	wrapped := fmt.Errorf("%s: %w", op, err)
	var pe *pgconn.PgError
	var ce *pgconn.ConnectError
	var ne net.Error
	switch {
	case s.closed.Load():
		return errs.Wrap(errs.Unavailable, wrapped, "the database is closed")
	case errors.As(err, &pe):
		switch pe.Code[:2] {
		case "08", "53", "57": // connection exception, insufficient resources, operator intervention
			return errs.Wrap(errs.Unavailable, wrapped, "the database is unavailable; try again")
		}
	case errors.Is(err, context.Canceled):
	case errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err):
		return errs.Wrap(errs.Unavailable, wrapped, "the database did not answer in time; try again")
	case errors.As(err, &ce) || errors.As(err, &ne) || pgconn.SafeToRetry(err) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return errs.Wrap(errs.Unavailable, wrapped, "the database cannot be reached; try again")
	}
	return errs.Wrap(errs.Internal, wrapped, "")
}

// tstz returns t in UTC, or NULL for the zero time.
func tstz(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}

// timeDst scans a timestamptz (or NULL, the zero time) into a time in UTC.
type timeDst struct{ t *time.Time }

func ts(t *time.Time) *timeDst { return &timeDst{t} }

func (d *timeDst) ScanTimestamptz(v pgtype.Timestamptz) error {
	if !v.Valid || v.InfinityModifier != pgtype.Finite {
		*d.t = time.Time{}
		return nil
	}
	*d.t = v.Time.UTC()
	return nil
}

// null returns s, or NULL if s is empty.
func null(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// sortedSet returns the distinct non-empty strings of a in order.
func sortedSet(a []string) []string {
	a = slices.DeleteFunc(slices.Clone(a), func(s string) bool { return s == "" })
	slices.Sort(a)
	return slices.Compact(a)
}
