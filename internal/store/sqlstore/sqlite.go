package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/tarnhq/tarn/internal/errs"
)

// SQLite connection settings.
const (
	// busyTimeout is how long a statement waits for the write lock of another process.
	busyTimeout = 10 * time.Second
	// journalSizeLimit is the size the WAL file is truncated to when a checkpoint resets it.
	journalSizeLimit = 16 << 20
)

// OpenSQLite opens the SQLite database at path and applies any missing migrations. It
// creates the file with mode 0600 if it does not exist, and takes group and other access
// away from an existing file and its -wal and -shm files (SQLite creates those with the
// database file's mode). Several processes may open the same file at once: the migrations
// run in one write transaction, so exactly one applies them. It returns an error of kind
// Invalid if path cannot be used as a file name and Unavailable if the file cannot be
// opened or migrated.
func OpenSQLite(ctx context.Context, path string) (*Store, error) {
	if path == "" || strings.ContainsAny(path, "?\x00") {
		return nil, errs.E(errs.Invalid, "SQLite database path %q is not a usable file name", path)
	}
	if err := restrictFiles(path); err != nil {
		return nil, errs.Wrap(errs.Unavailable, err, fmt.Sprintf("cannot open SQLite database %s", path))
	}
	dsn := path + "?_txlock=immediate" +
		"&_pragma=busy_timeout(" + strconv.FormatInt(busyTimeout.Milliseconds(), 10) + ")" +
		"&_pragma=journal_size_limit(" + strconv.Itoa(journalSizeLimit) + ")" +
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
	if err := useWAL(ctx, db); err != nil {
		db.Close()
		return nil, errs.Wrap(errs.Unavailable, err, fmt.Sprintf("cannot open SQLite database %s", path))
	}
	s, err := open(ctx, db, sqliteDialect{}, make(chan struct{}, 1))
	if err != nil {
		return nil, errs.Wrap(errs.Unavailable, err, fmt.Sprintf("cannot migrate SQLite database %s", path))
	}
	return s, nil
}

// useWAL puts the database in WAL mode, which lasts in the file, so that readers run
// alongside the one writer. Switching modes takes the database's exclusive lock without
// calling the busy handler, so while other processes open the same file the switch is
// retried, for up to busyTimeout.
func useWAL(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(busyTimeout)
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		var mode string
		err := db.QueryRowContext(ctx, "PRAGMA journal_mode=WAL").Scan(&mode)
		if err == nil && !strings.EqualFold(mode, "wal") {
			err = fmt.Errorf("journal mode is %s, not WAL", mode)
		}
		var se *sqlite.Error
		if err == nil || !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// restrictFiles creates the database file at path with mode 0600 if it is missing and
// removes group and other permissions from it and from its -wal and -shm files.
func restrictFiles(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			if err := os.Chmod(p, perm&^0o077); err != nil {
				return err
			}
		}
	}
	return nil
}

// sqliteDialect is SQLite as modernc.org/sqlite runs it.
type sqliteDialect struct{}

func (sqliteDialect) name() string { return "sqlite" }

func (sqliteDialect) rebind(query string) string { return query }

// time encodes t as microseconds since the Unix epoch.
func (sqliteDialect) time(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func (sqliteDialect) types() map[string]string {
	return map[string]string{
		"time":   "INTEGER",
		"bytes":  "BLOB",
		"bool":   "INTEGER",
		"bigint": "INTEGER",
		"serial": "INTEGER PRIMARY KEY AUTOINCREMENT",
		"strict": "STRICT",
	}
}

// lock does nothing: every transaction begins immediate, holding the database's write
// lock, so write transactions of all connections and processes already run one at a time.
func (sqliteDialect) lock(context.Context, *sql.Tx, lockName) error { return nil }

// txOptions are the defaults: every write transaction takes the database's write lock when
// it begins (_txlock=immediate), so it sees all that committed before.
func (sqliteDialect) txOptions() *sql.TxOptions { return nil }

func (sqliteDialect) violation(err error) violation {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return noViolation
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
		return uniqueViolation
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return foreignKeyViolation
	case sqlite3.SQLITE_CONSTRAINT_CHECK:
		return checkViolation
	}
	return noViolation
}

func (sqliteDialect) unavailable(err error) string {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return ""
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return "the database is busy; try again"
	case sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL, sqlite3.SQLITE_READONLY:
		return "the database file cannot be read or written"
	}
	return ""
}
