package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tarnhq/tarn/internal/store"
	"github.com/tarnhq/tarn/internal/store/sqlite"
	"github.com/tarnhq/tarn/internal/store/storetest"
)

func open(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, filepath.Join(t.TempDir(), "tarn.db"))
	})
}

// TestTwoProcesses opens one file twice at the same moment, as two `tarn serve` processes
// starting together would: both migrate safely and see each other's writes.
func TestTwoProcesses(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "tarn.db")
	var stores [4]*sqlite.Store
	var wg sync.WaitGroup
	for i := range stores {
		wg.Go(func() {
			s, err := sqlite.Open(ctx, path)
			if err != nil {
				t.Errorf("Open %d: %v", i, err)
				return
			}
			t.Cleanup(func() { s.Close() })
			stores[i] = s
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if err := stores[0].CreateUser(ctx, store.User{Name: "ann"}); err != nil {
		t.Fatal(err)
	}
	if _, err := stores[1].User(ctx, "ann"); err != nil {
		t.Fatalf("the second store does not see the first one's write: %v", err)
	}
	// Opening an up-to-date database again applies nothing and keeps the data.
	s := open(t, path)
	defer s.Close()
	if _, err := s.User(ctx, "ann"); err != nil {
		t.Fatalf("reopened store lost data: %v", err)
	}
}

func TestOpenRejectsBadPath(t *testing.T) {
	for _, path := range []string{"", "tarn.db?mode=ro", filepath.Join(t.TempDir(), "missing-dir", "tarn.db")} {
		if s, err := sqlite.Open(t.Context(), path); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded, want an error", path)
		}
	}
}

func ExampleOpen() {
	dir, err := os.MkdirTemp("", "tarn-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(dir, "tarn.db"))
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
