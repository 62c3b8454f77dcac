package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/tarnhq/tarn/internal/errs"
)

// OpenPostgres connects to the PostgreSQL database at url
// (postgres://user[:password]@host[:port]/db?...) and applies any missing migrations while
// holding an advisory lock, so several processes may open the same database at once. It
// returns an error of kind Invalid if url cannot be parsed and Unavailable if the database
// cannot be reached or migrated. Error details never contain the password. Calls of the
// Store take at most DefaultTimeout.
func OpenPostgres(ctx context.Context, url string) (*Store, error) {
	return OpenPostgresWith(ctx, url, Options{})
}

// OpenPostgresWith is OpenPostgres with options: every call of the Store, connecting to the
// database included, fails with an error of kind Unavailable after o.Timeout, so a database
// that is frozen or unreachable is answered for, never waited on.
func OpenPostgresWith(ctx context.Context, url string, o Options) (*Store, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, err, "invalid PostgreSQL URL; want postgres://user@host:port/database")
	}
	if cfg.ConnectTimeout <= 0 || cfg.ConnectTimeout > o.timeout() {
		cfg.ConnectTimeout = o.timeout()
	}
	where := net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))) + "/" + cfg.Database
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	ping, cancel := within(ctx, time.Now().Add(o.timeout()))
	err = db.PingContext(ping)
	cancel()
	if err != nil {
		db.Close()
		return nil, errs.Wrap(errs.Unavailable, err, "cannot connect to PostgreSQL at "+where)
	}
	s, err := open(ctx, db, postgresDialect{}, nil, o.timeout())
	if err != nil {
		return nil, errs.Wrap(errs.Unavailable, err, "cannot migrate the PostgreSQL database at "+where)
	}
	return s, nil
}

// postgresDialect is PostgreSQL through pgx's database/sql driver.
type postgresDialect struct{}

func (postgresDialect) name() string { return "postgres" }

func (postgresDialect) rebind(query string) string { return rebindDollar(query) }

// time encodes t as a timestamptz.
func (postgresDialect) time(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}

func (postgresDialect) types() map[string]string {
	return map[string]string{
		"time":   "timestamptz",
		"bytes":  "bytea",
		"bool":   "boolean",
		"bigint": "bigint",
		"serial": "bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
		"strict": "",
	}
}

// Advisory lock keys: "tarnmigr" (also the session lock of earlier versions, which
// therefore never migrate at the same time) and "tarndset".
var advisoryKeys = map[lockName]int64{
	lockMigrations: 0x7461726e6d696772,
	lockDatasets:   0x7461726e64736574,
}

// lock takes a transaction-level advisory lock, released when tx ends.
// txOptions asks for READ COMMITTED whatever the database's default: under REPEATABLE READ
// a transaction's snapshot is taken by its first statement, the lock, before it waits, so it
// would not see what the transaction that held the lock wrote.
func (postgresDialect) txOptions() *sql.TxOptions {
	return &sql.TxOptions{Isolation: sql.LevelReadCommitted}
}

func (postgresDialect) lock(ctx context.Context, tx *sql.Tx, l lockName) error {
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, advisoryKeys[l])
	return err
}

// SQLSTATE codes.
const (
	pgUniqueViolation     = "23505"
	pgForeignKeyViolation = "23503"
	pgCheckViolation      = "23514"
)

func (postgresDialect) violation(err error) violation {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return noViolation
	}
	switch pe.Code {
	case pgUniqueViolation:
		return uniqueViolation
	case pgForeignKeyViolation:
		return foreignKeyViolation
	case pgCheckViolation:
		return checkViolation
	}
	return noViolation
}

func (postgresDialect) unavailable(err error) string {
	var pe *pgconn.PgError
	var ce *pgconn.ConnectError
	var ne net.Error
	switch {
	case errors.As(err, &pe):
		switch pe.Code[:2] {
		case "08", "53", "57": // connection exception, insufficient resources, operator intervention
			return "the database is unavailable; try again"
		}
	case errors.Is(err, context.Canceled):
	case pgconn.Timeout(err):
		return "the database did not answer in time; try again"
	case errors.As(err, &ce) || errors.As(err, &ne) || pgconn.SafeToRetry(err) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "the database cannot be reached; try again"
	}
	return ""
}
