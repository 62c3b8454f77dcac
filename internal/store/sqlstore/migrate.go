package sqlstore

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// migrations holds the schema changes, numbered NNNN_what.sql. A change is written once,
// in migrations/, for both databases, using the dialect's vocabulary where the types differ:
//
//	{{time}}    a point in time: INTEGER microseconds (SQLite), timestamptz (PostgreSQL)
//	{{bytes}}   BLOB, bytea
//	{{bool}}    INTEGER 0/1, boolean (defaults differ: leave them out)
//	{{bigint}}  INTEGER, bigint
//	{{serial}}  an increasing integer primary key
//	{{strict}}  after a CREATE TABLE's closing parenthesis: STRICT on SQLite, nothing on PostgreSQL
//
// A change whose SQL really differs is written twice instead, as migrations/sqlite/NNNN_*.sql
// and migrations/postgres/NNNN_*.sql, taken as they are; 0001 and 0002 are such pairs.
//
//go:embed migrations
var migrations embed.FS

// migration is one schema change, ready to run.
type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations returns d's migrations in fsys (laid out as migrations is) in version order.
func loadMigrations(fsys fs.FS, d dialect) ([]migration, error) {
	var ms []migration
	for _, dir := range []string{"migrations", "migrations/" + d.name()} {
		files, err := fs.Glob(fsys, dir+"/*.sql")
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			m, err := readMigration(fsys, d, f, dir == "migrations")
			if err != nil {
				return nil, err
			}
			ms = append(ms, m)
		}
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s have the same number", ms[i-1].name, ms[i].name)
		}
	}
	return ms, nil
}

// readMigration reads the migration in file f, expanding d's vocabulary if shared.
func readMigration(fsys fs.FS, d dialect, f string, shared bool) (migration, error) {
	name := path.Base(f)
	version, err := strconv.Atoi(strings.SplitN(name, "_", 2)[0])
	if err != nil {
		return migration{}, fmt.Errorf("migration %s: name must start with a number", name)
	}
	text, err := fs.ReadFile(fsys, f)
	if err != nil {
		return migration{}, err
	}
	m := migration{version: version, name: name, sql: string(text)}
	if shared {
		if m.sql, err = expand(d, name, m.sql); err != nil {
			return migration{}, err
		}
	}
	return m, nil
}

// expand replaces the vocabulary of a shared migration with d's SQL.
func expand(d dialect, name, text string) (string, error) {
	funcs := template.FuncMap{}
	for word, sql := range d.types() {
		funcs[word] = func() string { return sql }
	}
	t, err := template.New(name).Funcs(funcs).Parse(text)
	if err != nil {
		return "", fmt.Errorf("migration %s: %w", name, err)
	}
	var b strings.Builder
	if err := t.Execute(&b, nil); err != nil {
		return "", fmt.Errorf("migration %s: %w", name, err)
	}
	return b.String(), nil
}

// migrate applies the migrations that schema_migrations does not list yet, all in one
// transaction that holds the migration lock (on SQLite, the write lock), so that several
// processes may open one database at once: one applies them, the others then find them
// applied.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := loadMigrations(migrations, s.d)
	if err != nil {
		return err
	}
	table, err := expand(s.d, "schema_migrations", `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    {{bigint}} PRIMARY KEY,
		applied_at {{time}} NOT NULL
	)`)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx txn) error {
		ctx, cancel := within(ctx, tx.deadline)
		defer cancel()
		if err := tx.lock(ctx, lockMigrations); err != nil {
			return err
		}
		// Migrations are run as they are: no placeholders to rebind.
		if _, err := tx.ExecContext(ctx, table); err != nil {
			return err
		}
		for _, m := range ms {
			var n int
			if err := tx.queryRow(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, m.version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				continue
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
			if _, err := tx.exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
				m.version, s.d.time(time.Now())); err != nil {
				return err
			}
		}
		return nil
	})
}
