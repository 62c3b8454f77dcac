package sqlstore

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/tarnhq/tarn/internal/pgtest"
)

// dialects opens a new, empty Store of each dialect.
var dialects = []struct {
	name string
	open func(t *testing.T) (*Store, error)
}{
	{"sqlite", func(t *testing.T) (*Store, error) {
		return OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "tarn.db"))
	}},
	{"postgres", func(t *testing.T) (*Store, error) { return OpenPostgres(t.Context(), pgtest.URL(t)) }},
}

// TestMigrationsOfEachDialect checks that each dialect gets every version once, in order,
// and the shared ones expanded.
func TestMigrationsOfEachDialect(t *testing.T) {
	for _, d := range []dialect{sqliteDialect{}, postgresDialect{}} {
		ms, err := loadMigrations(migrations, d)
		if err != nil {
			t.Fatalf("%s: %v", d.name(), err)
		}
		for i, m := range ms {
			if m.version != i+1 {
				t.Errorf("%s: migration %d is %s, want version %d", d.name(), i, m.name, i+1)
			}
			if strings.Contains(m.sql, "{{") {
				t.Errorf("%s: migration %s is not expanded", d.name(), m.name)
			}
		}
		if len(ms) < 3 {
			t.Errorf("%s: %d migrations, want at least 3", d.name(), len(ms))
		}
	}
}

func TestLoadMigrationsRefusesMistakes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files fstest.MapFS
		want  string
	}{
		{"same version twice", fstest.MapFS{
			"migrations/0003_a.sql":        {Data: []byte("SELECT 1;")},
			"migrations/sqlite/0003_b.sql": {Data: []byte("SELECT 1;")},
		}, "have the same number"},
		{"unknown word", fstest.MapFS{"migrations/0003_a.sql": {Data: []byte("CREATE TABLE t (a {{uuid}});")}}, `"uuid" not defined`},
		{"no number", fstest.MapFS{"migrations/init.sql": {Data: []byte("SELECT 1;")}}, "must start with a number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadMigrations(tc.files, sqliteDialect{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("loadMigrations = %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

// TestVocabulary creates a table with every word of the shared migrations' vocabulary on
// each database and round-trips a row through it with the store's own encodings.
func TestVocabulary(t *testing.T) {
	const table = `CREATE TABLE vocab (
		id   {{serial}},
		at   {{time}},
		blob {{bytes}} NOT NULL,
		flag {{bool}} NOT NULL,
		n    {{bigint}} NOT NULL
	) {{strict}};`
	when := time.Date(2031, 7, 8, 9, 10, 11, 12000, time.UTC)
	for _, db := range dialects {
		t.Run(db.name, func(t *testing.T) {
			s, err := db.open(t)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx := t.Context()
			ddl, err := expand(s.d, "vocab", table)
			if err != nil {
				t.Fatal(err)
			}
			var id, n int64
			var at time.Time
			var blob []byte
			var flag bool
			err = s.inTx(ctx, func(tx txn) error {
				if _, err := tx.ExecContext(ctx, ddl); err != nil {
					return err
				}
				for range 2 {
					if _, err := tx.exec(ctx, `INSERT INTO vocab (at, blob, flag, n) VALUES (?, ?, ?, ?)`, s.d.time(when), []byte{0, 1}, true, int64(1)<<40); err != nil {
						return err
					}
				}
				return tx.queryRow(ctx, `SELECT id, at, blob, flag, n FROM vocab ORDER BY id DESC LIMIT 1`).Scan(&id, ts(&at), &blob, &flag, &n)
			})
			if err != nil {
				t.Fatalf("%s\n%v", ddl, err)
			}
			if id != 2 || !at.Equal(when) || !bytes.Equal(blob, []byte{0, 1}) || !flag || n != 1<<40 {
				t.Errorf("row = %d, %v, %x, %v, %d; want 2, %v, 0001, true, %d", id, at, blob, flag, n, when, int64(1)<<40)
			}
		})
	}
}

func TestRebindDollar(t *testing.T) {
	for in, want := range map[string]string{
		`SELECT 1`:                              `SELECT 1`,
		`a = ? AND b IN (?, ?)`:                 `a = $1 AND b IN ($2, $3)`,
		`x = '?' AND y = ? AND z = 'it''s ?'`:   `x = '?' AND y = $1 AND z = 'it''s ?'`,
		`substr(?, 1, length(CAST(? AS TEXT)))`: `substr($1, 1, length(CAST($2 AS TEXT)))`,
	} {
		if got := rebindDollar(in); got != want {
			t.Errorf("rebindDollar(%q) = %q, want %q", in, got, want)
		}
	}
}
