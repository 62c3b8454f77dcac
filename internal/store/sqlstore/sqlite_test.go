package sqlstore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tarnhq/tarn/internal/store"
	"github.com/tarnhq/tarn/internal/store/sqlstore"
)

// TestSQLiteTwoProcesses opens one file four times at the same moment, as `tarn serve`
// processes starting together would: all migrate safely, see each other's writes and
// refuse overlapping datasets created at once through different Stores.
func TestSQLiteTwoProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tarn.db")
	testSharedDatabase(t, func(t *testing.T) store.Store { return openSQLite(t, path) })
}

// testSharedDatabase opens four Stores on one database at once and checks that they
// cooperate.
func testSharedDatabase(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := t.Context()
	var stores [4]store.Store
	var wg sync.WaitGroup
	for i := range stores {
		wg.Go(func() { stores[i] = open(t) })
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	a, b := stores[0], stores[1]
	must(t, a.CreateUser(ctx, store.User{Name: "ann"}))
	must(t, b.CreateOrg(ctx, store.Org{Name: "acme"}))
	if err := a.PutMember(ctx, store.Member{Org: "acme", User: "ann", Role: store.Admin}); err != nil {
		t.Fatalf("the first store does not see the second one's org: %v", err)
	}
	_, err := b.PutCredsKey(ctx, store.CredsKey{Org: "acme", Name: "k", Provider: "file"})
	must(t, err)
	k, err := a.PutCredsKey(ctx, store.CredsKey{Org: "acme", Name: "k", Provider: "file"})
	if err != nil || k.Version != 2 {
		t.Fatalf("PutCredsKey on the other store = version %d, %v; want version 2", k.Version, err)
	}
	// Overlapping datasets created at once through different Stores: exactly one wins.
	errc := make([]error, len(stores))
	for i, s := range stores {
		loc := "mem://race"
		for j := range i {
			loc += fmt.Sprintf("/%d", j)
		}
		wg.Go(func() {
			errc[i] = s.CreateDataset(ctx, store.Dataset{Org: "acme", Name: fmt.Sprint("ds", i), Location: loc, CredsKey: "k"})
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errc {
		if err == nil {
			won++
		}
	}
	if won != 1 {
		t.Fatalf("%d of %d creates of overlapping datasets through different stores succeeded (%v), want 1", won, len(stores), errc)
	}
	// Opening an up-to-date database again applies nothing and keeps the data.
	if ds, err := open(t).Datasets(ctx, "acme"); err != nil || len(ds) != 1 {
		t.Fatalf("reopened store lists datasets %v, %v; want the one created", ds, err)
	}
}

func TestOpenSQLiteRejectsBadPath(t *testing.T) {
	for _, path := range []string{"", "tarn.db?mode=ro", filepath.Join(t.TempDir(), "missing-dir", "tarn.db")} {
		if s, err := sqlstore.OpenSQLite(t.Context(), path); err == nil {
			s.Close()
			t.Errorf("OpenSQLite(%q) succeeded, want an error", path)
		}
	}
}

// TestSQLiteWALStaysBounded appends tens of thousands of audit records from several
// goroutines that also read, as a busy server does: SQLite's checkpoints must keep the WAL
// file small. (Writes that SQLite resets before they complete skip the checkpoint; the WAL
// then grows by every page written, here hundreds of MiB.)
func TestSQLiteWALStaysBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 20000 records")
	}
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "tarn.db")
	s := openSQLite(t, path)
	must(t, s.CreateUser(ctx, store.User{Name: "ann"}))
	must(t, s.CreateOrg(ctx, store.Org{Name: "acme"}))
	const workers, perWorker, limit = 4, 5000, 32 << 20
	var mu sync.Mutex
	var largest int64 // the largest WAL size seen
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				if _, err := s.AppendAudit(ctx, store.AuditRecord{Time: time.Now(), RequestID: fmt.Sprint(w, "-", i), Principal: "user:ann",
					Org: "acme", Action: "vend", Target: "s3://bucket/coco", Mode: "read", Result: "ok"}); err != nil {
					t.Error(err)
					return
				}
				if _, err := s.User(ctx, "ann"); err != nil { // as every request authenticates
					t.Error(err)
					return
				}
				if i%250 == 0 {
					fi, err := os.Stat(path + "-wal")
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					largest = max(largest, fi.Size())
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	t.Logf("largest WAL size seen: %d KiB", largest>>10)
	if largest > limit {
		t.Errorf("the WAL file grew to %d MiB under %d audit appends, want at most %d MiB", largest>>20, workers*perWorker, limit>>20)
	}
	rs, err := s.Audit(ctx, store.AuditQuery{Org: "acme", Limit: workers * perWorker})
	must(t, err)
	if len(rs) != workers*perWorker {
		t.Errorf("Audit returned %d records, want %d", len(rs), workers*perWorker)
	}
}

// TestSQLiteFileModes checks that the database, its WAL and its shared-memory file are
// readable by their owner only: new files, and files that an earlier version or an
// operator left readable by everyone.
func TestSQLiteFileModes(t *testing.T) {
	ctx := t.Context()
	files := func(path string) []string { return []string{path, path + "-wal", path + "-shm"} }
	check := func(t *testing.T, path string) {
		t.Helper()
		for _, f := range files(path) {
			fi, err := os.Stat(f)
			if err != nil {
				t.Fatal(err)
			}
			if perm := fi.Mode().Perm(); perm&0o077 != 0 {
				t.Errorf("%s has mode %v, want no access for group and others", filepath.Base(f), perm)
			}
		}
	}
	t.Run("new", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "tarn.db")
		s := openSQLite(t, path)
		must(t, s.CreateUser(ctx, store.User{Name: "ann"})) // SQLite creates -wal and -shm
		check(t, path)
	})
	t.Run("existing, readable by all", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "tarn.db")
		first := openSQLite(t, path) // keeps -wal and -shm in place
		must(t, first.CreateUser(ctx, store.User{Name: "ann"}))
		for _, f := range files(path) {
			if err := os.Chmod(f, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		s := openSQLite(t, path)
		check(t, path)
		if _, err := s.User(ctx, "ann"); err != nil {
			t.Fatalf("the tightened database does not work: %v", err)
		}
	})
	t.Run("empty file readable by all", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "tarn.db")
		if err := os.WriteFile(path, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chmod(path, 0o644) // whatever the umask
		s := openSQLite(t, path)
		must(t, s.CreateUser(ctx, store.User{Name: "ann"}))
		check(t, path)
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func ExampleOpenSQLite() {
	dir, err := os.MkdirTemp("", "tarn-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	s, err := sqlstore.OpenSQLite(ctx, filepath.Join(dir, "tarn.db"))
	if err != nil {
		panic(err)
	}
	defer s.Close()
	if err := s.CreateOrg(ctx, store.Org{Name: "acme", CreatedAt: time.Now()}); err != nil {
		panic(err)
	}
	err = s.CreateOrg(ctx, store.Org{Name: "acme", CreatedAt: time.Now()})
	fmt.Println(err)
	// Output: org "acme" already exists
}
