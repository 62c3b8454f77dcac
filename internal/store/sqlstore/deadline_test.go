package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/pgtest"
	"github.com/tarnhq/tarn/internal/store"
	"github.com/tarnhq/tarn/internal/store/sqlstore"
)

// storeCalls are calls of each kind the Store makes: a one-row read, a list, a write, a
// transaction and a ping.
var storeCalls = []struct {
	name string
	call func(ctx context.Context, s store.Store) error
}{
	{"read", func(ctx context.Context, s store.Store) error { _, err := s.User(ctx, "alice"); return err }},
	{"list", func(ctx context.Context, s store.Store) error { _, err := s.Datasets(ctx, "acme"); return err }},
	{"write", func(ctx context.Context, s store.Store) error {
		return s.CreateUser(ctx, store.User{Name: "bob-" + strings.ToLower(time.Now().Format("150405.000000000")), CreatedAt: time.Now()})
	}},
	{"transaction", func(ctx context.Context, s store.Store) error {
		return s.CreateDataset(ctx, store.Dataset{Org: "acme", Name: "d" + time.Now().Format("150405000000000"), Location: "mem://d" + time.Now().Format("150405000000000"), CreatedAt: time.Now()})
	}},
	{"ping", func(ctx context.Context, s store.Store) error { return s.Ping(ctx) }},
}

// answered runs call and fails t if it does not return within a minute (a bound for a
// hung test, far above the Store's timeout; not a measured time).
func answered(t *testing.T, call func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- call() }()
	select {
	case err := <-done:
		return err
	case <-time.After(time.Minute):
		t.Fatal("the call still waits after a minute")
		return nil
	}
}

func seed(t *testing.T, s store.Store) {
	t.Helper()
	if err := s.CreateUser(t.Context(), store.User{Name: "alice", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateOrg(t.Context(), store.Org{Name: "acme", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
}

// A frozen PostgreSQL (every process stopped) makes every call of the Store fail with
// Unavailable once its timeout is spent, and opening a Store too; after the thaw the same
// Store answers again.
func TestFrozenPostgresIsUnavailable(t *testing.T) {
	pg := pgtest.Private(t)
	o := sqlstore.Options{Timeout: 300 * time.Millisecond}
	s, err := sqlstore.OpenPostgresWith(t.Context(), pg.URL, o)
	s = opened(t, s, err)
	seed(t, s)
	pg.Freeze(t)
	for _, c := range storeCalls {
		err := answered(t, func() error { return c.call(context.Background(), s) })
		if !errs.Is(errs.Unavailable, err) || errs.RetryAfter(err) <= 0 {
			t.Errorf("%s on a frozen database: %v, want Unavailable", c.name, err)
		}
	}
	err = answered(t, func() error {
		s2, err := sqlstore.OpenPostgresWith(context.Background(), pg.URL, o)
		if err == nil {
			s2.Close()
		}
		return err
	})
	if !errs.Is(errs.Unavailable, err) || !strings.Contains(err.Error(), "cannot connect to PostgreSQL") {
		t.Errorf("open on a frozen database: %v, want Unavailable", err)
	}
	pg.Thaw(t)
	for _, c := range storeCalls {
		if err := c.call(t.Context(), s); err != nil {
			t.Errorf("%s after the thaw: %v", c.name, err)
		}
	}
}

// A write that waits for the SQLite write lock, held by another process, fails with
// Unavailable once the Store's timeout is spent, well before SQLite's own busy timeout.
func TestSQLiteLockedIsUnavailable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tarn.db")
	s, err := sqlstore.OpenSQLiteWith(t.Context(), path, sqlstore.Options{Timeout: 300 * time.Millisecond})
	s = opened(t, s, err)
	seed(t, s)
	other, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	for _, c := range storeCalls[2:4] {
		err := answered(t, func() error { return c.call(context.Background(), s) })
		if !errs.Is(errs.Unavailable, err) {
			t.Errorf("%s while another process holds the write lock: %v, want Unavailable", c.name, err)
		}
	}
	conn.ExecContext(t.Context(), "ROLLBACK")
}

// A Store whose calls take at most two seconds each: a call that would take longer fails
// with an error of kind Unavailable (503 with Retry-After at the API).
func ExampleOpenSQLiteWith() {
	dir, err := os.MkdirTemp("", "tarn-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	s, err := sqlstore.OpenSQLiteWith(context.Background(), filepath.Join(dir, "tarn.db"), sqlstore.Options{Timeout: 2 * time.Second})
	if err != nil {
		panic(err)
	}
	defer s.Close()
	fmt.Println(s.Ping(context.Background()))
	// Output: <nil>
}
