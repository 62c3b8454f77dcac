package server_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tarnhq/tarn/internal/server"
)

// TestDataDirIsPrivate starts a server on a data dir and database files that an earlier
// version or an operator left readable by everyone: the server takes group and other
// access away from all of them before it uses them.
func TestDataDirIsPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	start := func() *server.Server {
		t.Helper()
		s, err := server.New(t.Context(), server.Options{DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	first := start() // stays open, so tarn.db-wal and tarn.db-shm exist
	db := filepath.Join(dir, "tarn.db")
	paths := []string{dir, db, db + "-wal", db + "-shm"}
	for _, p := range paths {
		mode := os.FileMode(0o644)
		if p == dir {
			mode = 0o755
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	start()
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s has mode %v after a start, want no access for group and others", p, perm)
		}
	}
	if err := first.Store.Ping(t.Context()); err != nil {
		t.Errorf("the first server lost its database: %v", err)
	}
}
