package storage_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/storage"
)

// LocalDir is told the directory of local-directory buckets, and nothing for others.
func TestLocalDirHook(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "ds")
	for _, path := range []string{dir, "file://" + filepath.ToSlash(dir)} {
		var got []string
		b, err := storage.OpenBucket(ctx, path, storage.Options{Mode: api.ModeWrite, LocalDir: func(d string) { got = append(got, d) }})
		if err != nil {
			t.Fatal(err)
		}
		b.Close()
		if len(got) != 1 || got[0] != dir {
			t.Errorf("%s: LocalDir got %q, want [%q]", path, got, dir)
		}
	}
	b, err := storage.OpenBucket(ctx, "mem://localdir-hook/x", storage.Options{LocalDir: func(d string) { t.Errorf("mem: LocalDir(%q)", d) }})
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
}
