// Package sqlstore implements store.Store once, over database/sql, for SQLite and
// PostgreSQL. Every query is written once; a small dialect holds what really differs:
// placeholders, time encoding, error codes, locks, connection setup and the first two
// migrations.
//
// SQLite (OpenSQLite) is the embedded database of a single `tarn serve`: one file in the
// data directory, in WAL mode with foreign keys on, that waits for the write lock instead of
// failing when another connection or process holds it. PostgreSQL (OpenPostgres) is the
// database of a scaled-out tarn: any number of servers share it and keep no state of their
// own, so every invariant (unique names, creds keys in use, version numbers, datasets that
// do not overlap) is enforced in the database.
package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/store"
)

// maxConns bounds the connection pool of either database.
const maxConns = 8

// DefaultTimeout is how long one call of a Store may take, waiting for a pooled connection
// and connecting included, when Options.Timeout is zero.
const DefaultTimeout = 5 * time.Second

// migrateTimeout bounds the migrations of an open: they may rewrite large tables, and they
// wait while another process migrates.
const migrateTimeout = 10 * time.Minute

// Options configure a Store. The zero value is the defaults.
type Options struct {
	// Timeout bounds every call of the Store (each query, statement or transaction,
	// including waiting for a connection and connecting) whose context has no earlier
	// deadline; a call that takes longer fails with an error of kind Unavailable. Zero
	// means DefaultTimeout.
	Timeout time.Duration
}

func (o Options) timeout() time.Duration {
	if o.Timeout <= 0 {
		return DefaultTimeout
	}
	return o.Timeout
}

// Store is a store.Store on an SQL database. It is safe for concurrent use, and any number
// of Stores, in one process or many, may share one database.
type Store struct {
	db        *sql.DB
	d         dialect
	writeSlot chan struct{} // if not nil, held by the one write of this Store in progress
	stmts     sync.Map      // query text -> *sql.Stmt, prepared once per connection
	timeout   time.Duration // bounds every call whose context has no earlier deadline
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

var _ store.Store = (*Store)(nil)

// open returns the Store on db after applying the missing migrations, which may take up to
// migrateTimeout; calls after that take at most timeout. It closes db if migrating fails.
func open(ctx context.Context, db *sql.DB, d dialect, writeSlot chan struct{}, timeout time.Duration) (*Store, error) {
	s := &Store{db: db, d: d, writeSlot: writeSlot, timeout: migrateTimeout}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	s.timeout = timeout
	return s, nil
}

// bound returns ctx limited to the Store's timeout from now, unless ctx ends earlier. The
// caller must call the returned function when the call is done.
func (s *Store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return within(ctx, time.Now().Add(s.timeout))
}

// within returns ctx limited to deadline, unless ctx ends earlier or deadline is zero.
func within(ctx context.Context, deadline time.Time) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); deadline.IsZero() || (ok && !d.After(deadline)) {
		return ctx, func() {}
	}
	return context.WithDeadline(ctx, deadline)
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

// Ping checks that the database answers; it returns an error of kind Unavailable if not.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if err := s.db.PingContext(ctx); err != nil {
		return s.fail("ping", err)
	}
	var one int
	return s.fail("ping", s.queryRow(ctx, `SELECT 1`).Scan(&one))
}

// prepared returns the prepared statement of query, preparing it on first use. Parsing SQL
// costs more than running these small queries, so every query outside a transaction is
// prepared. It returns nil when preparing fails; callers then run the query unprepared,
// which reports the error.
func (s *Store) prepared(ctx context.Context, query string) *sql.Stmt {
	if st, ok := s.stmts.Load(query); ok {
		return st.(*sql.Stmt)
	}
	st, err := s.db.PrepareContext(ctx, s.d.rebind(query))
	if err != nil {
		return nil
	}
	if prev, loaded := s.stmts.LoadOrStore(query, st); loaded {
		st.Close()
		return prev.(*sql.Stmt)
	}
	return st
}

// row is a *sql.Row whose call ends when it is scanned.
type row struct {
	*sql.Row
	done context.CancelFunc
}

// Scan scans the row into dest and ends the call.
func (r row) Scan(dest ...any) error {
	defer r.done()
	return r.Row.Scan(dest...)
}

// rows is a *sql.Rows whose call ends when it is closed.
type rows struct {
	*sql.Rows
	done context.CancelFunc
}

// Close closes the rows and ends the call.
func (r *rows) Close() error {
	defer r.done()
	return r.Rows.Close()
}

// queryRow runs a query that reads at most one row, within the Store's timeout; the caller
// must scan the row.
func (s *Store) queryRow(ctx context.Context, query string, args ...any) row {
	ctx, cancel := s.bound(ctx)
	if st := s.prepared(ctx, query); st != nil {
		return row{st.QueryRowContext(ctx, args...), cancel}
	}
	return row{s.db.QueryRowContext(ctx, s.d.rebind(query), args...), cancel}
}

// query runs a query that reads rows, within the Store's timeout; the caller must close the
// rows.
func (s *Store) query(ctx context.Context, query string, args ...any) (*rows, error) {
	ctx, cancel := s.bound(ctx)
	r, err := s.queryRows(ctx, query, args...)
	if err != nil {
		cancel()
		return nil, err
	}
	return &rows{r, cancel}, nil
}

// queryRows runs query through its prepared statement, or unprepared when it cannot be
// prepared.
func (s *Store) queryRows(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := s.prepared(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return s.db.QueryContext(ctx, s.d.rebind(query), args...)
}

// exec runs a statement that writes, within the Store's timeout.
func (s *Store) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if err := s.acquireWrite(ctx); err != nil {
		return nil, err
	}
	defer s.releaseWrite()
	if st := s.prepared(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return s.db.ExecContext(ctx, s.d.rebind(query), args...)
}

// execReturning runs a statement that writes one row and returns it (INSERT ... RETURNING),
// and scans the row into dest. It reads the rows to their end: SQLite commits an
// autocommit statement when the statement is reset, but runs its WAL auto-checkpoint only
// when the statement runs to completion, so a write through QueryRow, which resets after
// the first row, grows the WAL file without bound.
func (s *Store) execReturning(ctx context.Context, query string, args []any, dest ...any) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if err := s.acquireWrite(ctx); err != nil {
		return err
	}
	defer s.releaseWrite()
	rows, err := s.queryRows(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return sql.ErrNoRows
	}
	if err := rows.Scan(dest...); err != nil {
		return err
	}
	for rows.Next() {
	}
	return rows.Err()
}

// txn is a transaction whose queries are written with ? placeholders. Its statements end
// by the transaction's deadline, whatever context they are given.
type txn struct {
	*sql.Tx
	d        dialect
	deadline time.Time
}

func (t txn) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx, cancel := within(ctx, t.deadline)
	defer cancel()
	return t.ExecContext(ctx, t.d.rebind(query), args...)
}

func (t txn) queryRow(ctx context.Context, query string, args ...any) row {
	ctx, cancel := within(ctx, t.deadline)
	return row{t.QueryRowContext(ctx, t.d.rebind(query), args...), cancel}
}

func (t txn) lock(ctx context.Context, l lockName) error {
	ctx, cancel := within(ctx, t.deadline)
	defer cancel()
	return t.d.lock(ctx, t.Tx, l)
}

// inTx runs f in a write transaction and commits it if f returns nil; the whole
// transaction, waiting for the write slot included, takes at most the Store's timeout. On
// SQLite the transaction takes the write lock when it begins (_txlock=immediate), so
// transactions of all processes run one at a time.
func (s *Store) inTx(ctx context.Context, f func(txn) error) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if err := s.acquireWrite(ctx); err != nil {
		return err
	}
	defer s.releaseWrite()
	t, err := s.db.BeginTx(ctx, s.d.txOptions())
	if err != nil {
		return err
	}
	defer t.Rollback()
	deadline, _ := ctx.Deadline()
	if err := f(txn{t, s.d, deadline}); err != nil {
		return err
	}
	return t.Commit()
}

// acquireWrite waits for the Store's write slot, if it has one: SQLite lets one connection
// write at a time and makes the others sleep and retry, so the writes of one process queue
// here instead, in order, without sleeping. Writes of other processes still wait on the
// database's own lock.
func (s *Store) acquireWrite(ctx context.Context) error {
	if s.writeSlot == nil {
		return nil
	}
	select {
	case s.writeSlot <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Store) releaseWrite() {
	if s.writeSlot != nil {
		<-s.writeSlot
	}
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

// fail classifies a database error: nil stays nil and an *errs.Error stays as it is; a
// closed store, a timeout, a lost connection or what the dialect deems unavailable (busy,
// unreachable, out of resources) is Unavailable; anything else is Internal.
func (s *Store) fail(op string, err error) error {
	if err == nil {
		return nil
	}
	var e *errs.Error
	if errors.As(err, &e) {
		return err
	}
	wrapped := fmt.Errorf("%s: %w", op, err)
	switch {
	case s.closed.Load():
		return errs.Wrap(errs.Unavailable, wrapped, "the database is closed")
	case errors.Is(err, context.DeadlineExceeded):
		return errs.Wrap(errs.Unavailable, wrapped, "the database did not answer in time; try again")
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone):
		return errs.Wrap(errs.Unavailable, wrapped, "the database connection was lost; try again")
	}
	if why := s.d.unavailable(err); why != "" {
		return errs.Wrap(errs.Unavailable, wrapped, why)
	}
	return errs.Wrap(errs.Internal, wrapped, "")
}

// timeDst scans a time column into a time in UTC: NULL is the zero time, an integer is
// microseconds since the Unix epoch (SQLite), a time is itself (PostgreSQL).
type timeDst struct{ t *time.Time }

func ts(t *time.Time) timeDst { return timeDst{t} }

func (d timeDst) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*d.t = time.Time{}
	case int64:
		*d.t = time.UnixMicro(v).UTC()
	case time.Time:
		*d.t = v.UTC()
	default:
		return fmt.Errorf("time column holds %T, want an integer or a time", v)
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

// scanner is a row or the current row of rows.
type scanner interface{ Scan(dest ...any) error }

// collect scans every row of rs with scan; it closes rs.
func collect[T any](rs *rows, scan func(scanner) (T, error)) ([]T, error) {
	defer rs.Close()
	var out []T
	for rs.Next() {
		v, err := scan(rs)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rs.Err()
}

// AccessVersion returns the count of committed changes to the tables access reads; the
// triggers of migration 0005 count them in the writing transactions.
func (s *Store) AccessVersion(ctx context.Context) (int64, error) {
	var v int64
	err := s.queryRow(ctx, `SELECT version FROM access_version WHERE id = 1`).Scan(&v)
	return v, s.fail("read access version", err)
}
