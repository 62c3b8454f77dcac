package sqlite_test

import (
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/tarnhq/tarn/internal/store"
)

// TestMigrationKeepsTokens upgrades a database of schema 1 holding a token: the token
// survives migration 0002 unchanged and workload tokens can be stored next to it.
func TestMigrationKeepsTokens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tarn.db")
	db, err := sql.Open("sqlite", path+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	init, err := os.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	created := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, q := range []string{
		string(init),
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`,
		`INSERT INTO schema_migrations VALUES (1, 0)`,
		`INSERT INTO users (name, superuser, created_at) VALUES ('ann', 0, 0)`,
		`INSERT INTO orgs (name, created_at) VALUES ('acme', 0)`,
		`INSERT INTO tokens (id, user_name, name, hash, org, role, created_at) VALUES ('t1', 'ann', 'ci', x'0102', 'acme', 'reader', ` +
			"1735787045000000" + `)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	s := open(t, path)
	defer s.Close()
	got, err := s.Token(t.Context(), "t1")
	if err != nil {
		t.Fatal(err)
	}
	want := store.Token{ID: "t1", User: "ann", Name: "ci", Hash: []byte{1, 2}, Org: "acme", Role: store.Reader, CreatedAt: created}
	if got.ID != want.ID || got.User != want.User || got.Identity != "" || got.Org != want.Org || got.Role != want.Role ||
		!got.CreatedAt.Equal(created) || string(got.Hash) != string(want.Hash) {
		t.Errorf("token after migration: %+v, want %+v", got, want)
	}
	wl := store.Token{ID: "w1", Identity: "acme/ci", Hash: []byte{3}, Org: "acme", Role: store.Reader, CreatedAt: created}
	if err := s.CreateToken(t.Context(), wl); err != nil {
		t.Fatal(err)
	}
}
