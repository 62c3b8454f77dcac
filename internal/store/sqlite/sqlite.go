// Package sqlite implements store.Store on an SQLite database file. It is the embedded
// database of a single `tarn serve`: the file lives in the data directory, runs in WAL mode
// with foreign keys on, and waits for the write lock instead of failing when another
// connection or process holds it.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// maxConns bounds the connection pool.
const maxConns = 8

// busyTimeout is how long a statement waits for the write lock before failing.
const busyTimeout = 10 * time.Second

// Store is a store.Store on an SQLite file. It is safe for concurrent use, also by several
// processes on the same file.
type Store struct {
	db        *sql.DB
	stmts     sync.Map // query text -> *sql.Stmt, prepared once per connection
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

var _ store.Store = (*Store)(nil)

// Open opens the SQLite database at path, creating the file if it does not exist, and
// applies any missing migrations. Several processes may open the same file at once: the
// migrations run in one write transaction, so exactly one applies them. It returns an error
// of kind Invalid if path cannot be used as a file name and Unavailable if the file cannot
// be opened.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" || strings.ContainsAny(path, "?\x00") {
		return nil, errs.E(errs.Invalid, "SQLite database path %q is not a usable file name", path)
	}
	dsn := path + "?_txlock=immediate" +
		"&_pragma=busy_timeout(" + strconv.FormatInt(busyTimeout.Milliseconds(), 10) + ")" +
		"&_pragma=journal_mode(WAL)" +
		"&_pragma=synchronous(NORMAL)" +
		"&_pragma=foreign_keys(1)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, errs.Wrap(errs.Unavailable, err, fmt.Sprintf("cannot open SQLite database %s", path))
	}
	// Keep connections open: opening one costs far more than a query. WAL lets the readers
	// run alongside the one writer.
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, errs.Wrap(errs.Unavailable, err, fmt.Sprintf("cannot open SQLite database %s", path))
	}
	if err := migrate(ctx, db); err != nil {
		db.Close()
		return nil, errs.Wrap(errs.Unavailable, err, fmt.Sprintf("cannot migrate SQLite database %s", path))
	}
	return &Store{db: db}, nil
}

// migrate applies the embedded migrations that schema_migrations does not list yet, all in
// one immediate (write-locked) transaction.
func migrate(ctx context.Context, db *sql.DB) error {
	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	slices.Sort(files) // numbered names: 0001_init.sql, 0002_...
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at INTEGER NOT NULL
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
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			continue
		}
		text, err := migrations.ReadFile(f)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, string(text)); err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
			version, time.Now().UnixMicro()); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Close closes the database. Calls after the first return the first call's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.stmts.Range(func(_, v any) bool { v.(*sql.Stmt).Close(); return true })
		s.closeErr = s.db.Close()
	})
	return s.closeErr
}

// prepared returns the prepared statement of query, preparing it on first use. Parsing SQL
// costs more than running these small queries, so every query of the store is prepared.
// It returns nil when preparing fails; callers then run the query unprepared, which
// reports the error.
func (s *Store) prepared(ctx context.Context, query string) *sql.Stmt {
	if st, ok := s.stmts.Load(query); ok {
		return st.(*sql.Stmt)
	}
	st, err := s.db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	if prev, loaded := s.stmts.LoadOrStore(query, st); loaded {
		st.Close()
		return prev.(*sql.Stmt)
	}
	return st
}

func (s *Store) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if st := s.prepared(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return s.db.QueryRowContext(ctx, query, args...)
}

func (s *Store) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := s.prepared(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return s.db.QueryContext(ctx, query, args...)
}

func (s *Store) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := s.prepared(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return s.db.ExecContext(ctx, query, args...)
}

// Ping checks that the database answers; it returns an error of kind Unavailable if not.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return s.fail("ping", err)
	}
	var one int
	return s.fail("ping", s.queryRow(ctx, `SELECT 1`).Scan(&one))
}

// CreateUser adds u; Conflict if the name is taken.
func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	_, err := s.exec(ctx, `INSERT INTO users (name, superuser, created_at) VALUES (?, ?, ?)`,
		u.Name, u.Superuser, micros(u.CreatedAt))
	if isConstraint(err, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY) {
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

// CreateOrg adds o; Conflict if the name is taken; NotFound if o has a default creds key,
// which cannot exist yet.
func (s *Store) CreateOrg(ctx context.Context, o store.Org) error {
	_, err := s.exec(ctx, `INSERT INTO orgs (name, created_at, default_location, default_creds_key) VALUES (?, ?, ?, ?)`,
		o.Name, micros(o.CreatedAt), o.DefaultLocation, null(o.DefaultCredsKey))
	switch {
	case isConstraint(err, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY):
		return errs.E(errs.Conflict, "org %q already exists", o.Name)
	case isConstraint(err, sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY):
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

// SetDefaultStorage sets an org's default location and creds key (empty clears it). It
// returns NotFound if the org or the creds key is absent.
func (s *Store) SetDefaultStorage(ctx context.Context, org, location, credsKey string) error {
	res, err := s.exec(ctx, `UPDATE orgs SET default_location = ?, default_creds_key = ? WHERE name = ?`,
		location, null(credsKey), org)
	if isConstraint(err, sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY) {
		return errs.E(errs.NotFound, "creds key %q not found in org %q", credsKey, org)
	}
	return s.mustChange(res, err, "set default storage", "org %q not found", org)
}

// PutMember creates or replaces a membership; NotFound if the org or user is absent.
func (s *Store) PutMember(ctx context.Context, m store.Member) error {
	_, err := s.exec(ctx, `INSERT INTO members (org, user_name, role) VALUES (?, ?, ?)
		ON CONFLICT (org, user_name) DO UPDATE SET role = excluded.role`,
		m.Org, m.User, string(m.Role))
	if isConstraint(err, sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY) {
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
	res, err := s.exec(ctx, `DELETE FROM members WHERE org = ? AND user_name = ?`, org, user)
	return s.mustChange(res, err, "delete member", "user %q is not a member of org %q", user, org)
}

const tokenColumns = `id, coalesce(user_name, ''), identity, name, hash, coalesce(org, ''), role, created_at, expires_at, last_used_at, revoked_at`

func scanToken(row interface{ Scan(...any) error }) (store.Token, error) {
	var t store.Token
	err := row.Scan(&t.ID, &t.User, &t.Identity, &t.Name, &t.Hash, &t.Org, (*string)(&t.Role),
		ts(&t.CreatedAt), ts(&t.ExpiresAt), ts(&t.LastUsedAt), ts(&t.RevokedAt))
	return t, err
}

// CreateToken adds t; Conflict if its ID or hash is taken; NotFound if its user or org is
// absent.
func (s *Store) CreateToken(ctx context.Context, t store.Token) error {
	_, err := s.exec(ctx, `INSERT INTO tokens (id, user_name, identity, name, hash, org, role, created_at, expires_at, last_used_at, revoked_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, null(t.User), t.Identity, t.Name, nonNil(t.Hash), null(t.Org), string(t.Role),
		micros(t.CreatedAt), micros(t.ExpiresAt), micros(t.LastUsedAt), micros(t.RevokedAt))
	switch {
	case isConstraint(err, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY):
		return errs.E(errs.Conflict, "token %q already exists", t.ID)
	case isConstraint(err, sqlite3.SQLITE_CONSTRAINT_UNIQUE):
		return errs.E(errs.Conflict, "a token with the same secret already exists")
	case isConstraint(err, sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY):
		return s.notFound(ctx, "create token", err, userRow(t.User), orgRow(t.Org))
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
	rows, err := s.query(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE user_name = ? ORDER BY created_at, id`, user)
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
	res, err := s.exec(ctx, `UPDATE tokens SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?`, micros(at), id)
	return s.mustChange(res, err, "revoke token", "token %q not found", id)
}

// TouchToken sets a token's LastUsedAt to at; NotFound if no such token.
func (s *Store) TouchToken(ctx context.Context, id string, at time.Time) error {
	res, err := s.exec(ctx, `UPDATE tokens SET last_used_at = ? WHERE id = ?`, micros(at), id)
	return s.mustChange(res, err, "touch token", "token %q not found", id)
}

const credsKeyColumns = `org, name, provider, config, secret, version, created_at, updated_at`

func scanCredsKey(row interface{ Scan(...any) error }) (store.CredsKey, error) {
	var k store.CredsKey
	err := row.Scan(&k.Org, &k.Name, &k.Provider, &k.Config, &k.Secret, &k.Version, ts(&k.CreatedAt), ts(&k.UpdatedAt))
	return k, err
}

// PutCredsKey creates k with version 1, or replaces the provider, config and secret of an
// existing key, sets its UpdatedAt to k.UpdatedAt and increments its version, keeping its
// CreatedAt. It returns the stored key. NotFound if the org is absent.
func (s *Store) PutCredsKey(ctx context.Context, k store.CredsKey) (store.CredsKey, error) {
	k.Config = nonNil(k.Config)
	err := s.queryRow(ctx, `INSERT INTO creds_keys (org, name, provider, config, secret, version, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, 1, ?, ?)
		ON CONFLICT (org, name) DO UPDATE SET provider = excluded.provider, config = excluded.config,
			secret = excluded.secret, version = creds_keys.version + 1, updated_at = excluded.updated_at
		RETURNING version, created_at, updated_at`,
		k.Org, k.Name, k.Provider, k.Config, k.Secret, micros(k.CreatedAt), micros(k.UpdatedAt)).
		Scan(&k.Version, ts(&k.CreatedAt), ts(&k.UpdatedAt))
	if isConstraint(err, sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY) {
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
	res, err := s.exec(ctx, `DELETE FROM creds_keys WHERE org = ? AND name = ?`, org, name)
	if isConstraint(err, sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY) {
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
	defer rows.Close()
	var datasets []string
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			return s.fail("delete creds key", err)
		}
		datasets = append(datasets, d)
	}
	if err := rows.Err(); err != nil {
		return s.fail("delete creds key", err)
	}
	return inUseError(org, name, isDefault > 0, datasets)
}

// inUseError returns the Conflict (code in_use) error of a creds key that is still
// referenced. It is shared in spirit with the postgres package; keep the wording in step.
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
	coalesce((SELECT group_concat(creds_key, ',') FROM (SELECT creds_key FROM dataset_linked_keys l WHERE l.org = datasets.org AND l.dataset = datasets.name ORDER BY creds_key)), '')`

func scanDataset(row interface{ Scan(...any) error }) (store.Dataset, error) {
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
	err := s.createDataset(ctx, d)
	switch {
	case isConstraint(err, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY):
		return errs.E(errs.Conflict, "dataset %q already exists in org %q", d.Name, d.Org)
	case isConstraint(err, sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY):
		lookups := []lookup{orgRow(d.Org), keyRow(d.Org, d.CredsKey)}
		for _, k := range d.LinkedKeys {
			lookups = append(lookups, keyRow(d.Org, k))
		}
		return s.notFound(ctx, "create dataset", err, lookups...)
	}
	return s.fail("create dataset", err)
}

func (s *Store) createDataset(ctx context.Context, d store.Dataset) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO datasets (org, name, location, creds_key, public, created_at, created_by)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		d.Org, d.Name, d.Location, null(d.CredsKey), d.Public, micros(d.CreatedAt), d.CreatedBy); err != nil {
		return err
	}
	for _, k := range sortedSet(d.LinkedKeys) {
		if _, err := tx.ExecContext(ctx, `INSERT INTO dataset_linked_keys (org, dataset, creds_key) VALUES (?, ?, ?)`,
			d.Org, d.Name, k); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Dataset returns the named dataset; NotFound if absent.
func (s *Store) Dataset(ctx context.Context, org, name string) (store.Dataset, error) {
	d, err := scanDataset(s.queryRow(ctx, `SELECT `+datasetColumns+` FROM datasets WHERE org = ? AND name = ?`, org, name))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Dataset{}, errs.E(errs.NotFound, "dataset %q not found in org %q", name, org)
	}
	if err != nil {
		return store.Dataset{}, s.fail("get dataset", err)
	}
	return d, nil
}

// Datasets lists an org's datasets ordered by name; none if the org is absent.
func (s *Store) Datasets(ctx context.Context, org string) ([]store.Dataset, error) {
	rows, err := s.query(ctx, `SELECT `+datasetColumns+` FROM datasets WHERE org = ? ORDER BY name`, org)
	if err != nil {
		return nil, s.fail("list datasets", err)
	}
	defer rows.Close()
	var ds []store.Dataset
	for rows.Next() {
		d, err := scanDataset(rows)
		if err != nil {
			return nil, s.fail("list datasets", err)
		}
		ds = append(ds, d)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail("list datasets", err)
	}
	return ds, nil
}

// DeleteDataset removes a dataset entry and its linked keys; NotFound if absent.
func (s *Store) DeleteDataset(ctx context.Context, org, name string) error {
	res, err := s.exec(ctx, `DELETE FROM datasets WHERE org = ? AND name = ?`, org, name)
	return s.mustChange(res, err, "delete dataset", "dataset %q not found in org %q", name, org)
}

// AddLinkedKey adds key to a dataset's linked keys (idempotent); NotFound if the dataset or
// the creds key is absent.
func (s *Store) AddLinkedKey(ctx context.Context, org, name, key string) error {
	_, err := s.exec(ctx, `INSERT INTO dataset_linked_keys (org, dataset, creds_key) VALUES (?, ?, ?)
		ON CONFLICT DO NOTHING`, org, name, key)
	if isConstraint(err, sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY) {
		return s.notFound(ctx, "add linked key", err, datasetRow(org, name), keyRow(org, key))
	}
	return s.fail("add linked key", err)
}

// AppendAudit stores r and returns its ID; IDs increase.
func (s *Store) AppendAudit(ctx context.Context, r store.AuditRecord) (int64, error) {
	var id int64
	err := s.queryRow(ctx, `INSERT INTO audit (time, request_id, principal, org, action, target, mode, result, detail, key_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		micros(r.Time), r.RequestID, r.Principal, r.Org, r.Action, r.Target, r.Mode, r.Result, r.Detail, r.KeyID).Scan(&id)
	if err != nil {
		return 0, s.fail("append audit record", err)
	}
	return id, nil
}

// Audit returns the records of q.Org at or after q.Since with action q.Action, oldest
// first (by time, then ID), at most q.Limit (1000 when q.Limit is 0 or less).
func (s *Store) Audit(ctx context.Context, q store.AuditQuery) ([]store.AuditRecord, error) {
	query := `SELECT id, time, request_id, principal, org, action, target, mode, result, detail, key_id
		FROM audit WHERE org = ?`
	args := []any{q.Org}
	if !q.Since.IsZero() {
		query += ` AND time >= ?`
		args = append(args, micros(q.Since))
	}
	if q.Action != "" {
		query += ` AND action = ?`
		args = append(args, q.Action)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 1000
	}
	query += ` ORDER BY time DESC, id DESC LIMIT ?`
	args = append(args, limit)
	rows, err := s.query(ctx, query, args...)
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
	return lookup{`SELECT 1 FROM orgs WHERE name = ?`, []any{org}, fmt.Sprintf("org %q not found", org)}
}

func userRow(user string) lookup {
	return lookup{`SELECT 1 FROM users WHERE name = ?`, []any{user}, fmt.Sprintf("user %q not found", user)}
}

func keyRow(org, key string) lookup {
	return lookup{`SELECT 1 FROM creds_keys WHERE org = ? AND name = ?`, []any{org, key},
		fmt.Sprintf("creds key %q not found in org %q", key, org)}
}

func datasetRow(org, name string) lookup {
	return lookup{`SELECT 1 FROM datasets WHERE org = ? AND name = ?`, []any{org, name},
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
		err := s.queryRow(ctx, l.query, l.args...).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return errs.E(errs.NotFound, "%s", l.notFound)
		}
		if err != nil {
			return s.fail(op, err)
		}
	}
	return s.fail(op, cause)
}

// mustChange returns NotFound with the given detail if the statement changed no row.
func (s *Store) mustChange(res sql.Result, err error, op, format string, args ...any) error {
	if err != nil {
		return s.fail(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return s.fail(op, err)
	}
	if n == 0 {
		return errs.E(errs.NotFound, format, args...)
	}
	return nil
}

// fail classifies a database error: nil stays nil; a closed store, a lock wait that timed
// out or a file that cannot be read or written is Unavailable; anything else is Internal.
func (s *Store) fail(op string, err error) error {
	if err == nil {
		return nil
	}
	var se *sqlite.Error
	switch {
	case s.closed.Load():
		return errs.Wrap(errs.Unavailable, fmt.Errorf("%s: %w", op, err), "the database is closed")
	case errors.Is(err, context.DeadlineExceeded):
		return errs.Wrap(errs.Unavailable, fmt.Errorf("%s: %w", op, err), "the database did not answer in time; try again")
	case errors.As(err, &se):
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return errs.Wrap(errs.Unavailable, fmt.Errorf("%s: %w", op, err), "the database is busy; try again")
		case sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL, sqlite3.SQLITE_READONLY:
			return errs.Wrap(errs.Unavailable, fmt.Errorf("%s: %w", op, err), "the database file cannot be read or written")
		}
	}
	return errs.Wrap(errs.Internal, fmt.Errorf("%s: %w", op, err), "")
}

func isConstraint(err error, code int) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == code
}

// micros returns t as microseconds since the Unix epoch, or NULL for the zero time.
func micros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// timeDst scans microseconds since the Unix epoch (or NULL, the zero time) into a time.
type timeDst struct{ t *time.Time }

func ts(t *time.Time) timeDst { return timeDst{t} }

func (d timeDst) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*d.t = time.Time{}
	case int64:
		*d.t = time.UnixMicro(v).UTC()
	default:
		return fmt.Errorf("time column holds %T, want integer", v)
	}
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
