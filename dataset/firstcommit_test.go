package dataset_test

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gocloud.dev/blob/memblob"

	"github.com/tarnhq/tarn/dataset"
)

var petSchema = dataset.NewSchema(
	dataset.Column{Name: "name", Type: dataset.T(dataset.Text)},
	dataset.Column{Name: "n", Type: dataset.T(dataset.Int64)},
)

// appendPets appends n rows, each to a data file of its own, so that the bucket holds data
// files before any commit.
func appendPets(t *testing.T, ds *dataset.Dataset, n int) *dataset.Appender {
	t.Helper()
	w := ds.Appender(dataset.AppenderOptions{RowGroupBytes: 1, FileBytes: 1})
	for i := range n {
		if err := w.Append(context.Background(), dataset.Row{"name": "rex", "n": int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// stagePets returns the path of a dataset of petSchema that its first commit creates, and
// the dataset, closed at the end of the test.
func stagePets(t *testing.T) (string, *dataset.Dataset) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "cats")
	ds, err := dataset.CreatePath(context.Background(), dir, petSchema, dataset.PathOptions{CreateOnCommit: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ds.Close() })
	return dir, ds
}

// files returns the regular files below dir, relative to it.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCreateOnCommit: the first commit of a dataset created with CreateOnCommit is version 1,
// holding its rows and its source; nothing is visible before it, and the next commit
// records no source of its own.
func TestCreateOnCommit(t *testing.T) {
	ctx := context.Background()
	dir, ds := stagePets(t)
	w := appendPets(t, ds, 3)
	defer w.Close()
	if _, err := dataset.OpenPath(ctx, dir, dataset.PathOptions{}); !errors.Is(err, dataset.ErrNoDataset) {
		t.Fatalf("open before the first commit: %v, want ErrNoDataset", err)
	}
	src := dataset.Source{Dataset: "al://acme/pets", Version: 7, Where: `name == "rex"`, Columns: []string{"n", "name"}, OrderBy: "n", Desc: true, Limit: 3}
	v, err := w.Commit(ctx, "save", dataset.CommitOptions{Source: &src})
	if err != nil {
		t.Fatal(err)
	}
	if v.Version != 1 || v.Parent != 0 || v.Rows != 3 || !reflect.DeepEqual(v.Source, &src) {
		t.Fatalf("first commit: %+v", v)
	}

	again, err := dataset.OpenPath(ctx, dir, dataset.PathOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	vs, err := again.Versions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 1 || vs[0].Rows != 3 || !reflect.DeepEqual(vs[0].Source, &src) || again.ID() != ds.ID() {
		t.Fatalf("versions after the first commit: %+v", vs)
	}
	if got := vs[0].Source.Query(); got.Where != src.Where || got.OrderBy != "n" || !got.Desc || got.Limit != 3 || len(got.Columns) != 2 {
		t.Errorf("Source.Query() = %+v", got)
	}

	if v, err = again.AddColumn(ctx, dataset.Column{Name: "x", Type: dataset.T(dataset.Int64), Nullable: true}); err != nil || v.Version != 2 || v.Source != nil {
		t.Fatalf("add column: %+v, %v; want version 2, no source", v, err)
	}
	w2 := appendPets(t, again, 1)
	defer w2.Close()
	if v, err = w2.Commit(ctx, "more"); err != nil || v.Version != 3 || v.Rows != 4 || v.Source != nil {
		t.Fatalf("third commit: %+v, %v; want version 3, 4 rows, no source", v, err)
	}
}

// TestCreateOnCommitFailureLeavesNothing: a save that stops before its commit, or whose commit
// is cancelled midway, leaves no dataset, and the path can be saved to again.
func TestCreateOnCommitFailureLeavesNothing(t *testing.T) {
	ctx := context.Background()
	dir, ds := stagePets(t)
	w := appendPets(t, ds, 3)
	if len(files(t, dir)) != 3 { // a data file per row
		t.Fatalf("before close: files %v", files(t, dir))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	ds.Close()
	if got := files(t, dir); len(got) != 0 {
		t.Errorf("an appender closed without a commit left %v", got)
	}
	if _, err := dataset.OpenPath(ctx, dir, dataset.PathOptions{}); !errors.Is(err, dataset.ErrNoDataset) {
		t.Errorf("open after an abandoned save: %v, want ErrNoDataset", err)
	}

	// Cancelled while creating version 1, after tarn.json was written (Ctrl-C mid-commit).
	b := memblob.OpenBucket(nil)
	defer b.Close()
	mem, err := dataset.Create(ctx, b, petSchema, dataset.Options{CreateOnCommit: true})
	if err != nil {
		t.Fatal(err)
	}
	w = appendPets(t, mem, 2)
	defer w.Close()
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	dataset.SetTestHook(func(event string) {
		if strings.HasPrefix(event, "create versions/") {
			cancel()
		}
	})
	_, err = w.Commit(cctx, "save")
	dataset.SetTestHook(nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled commit: %v", err)
	}
	if ok, _ := b.Exists(ctx, "tarn.json"); ok {
		t.Error("a cancelled first commit left tarn.json")
	}
	if _, err := dataset.Open(ctx, b, dataset.Options{}); !errors.Is(err, dataset.ErrNoDataset) {
		t.Errorf("open after a cancelled first commit: %v, want ErrNoDataset", err)
	}
	if v, err := w.Commit(ctx, "save"); err != nil || v.Version != 1 || v.Rows != 2 {
		t.Errorf("commit again: %+v, %v; want version 1 with 2 rows", v, err)
	}
}

// TestCreateOnCommitRace: when another creator makes the dataset between CreatePath and the
// first commit, the commit fails with ErrExists and leaves the other dataset as it was.
func TestCreateOnCommitRace(t *testing.T) {
	ctx := context.Background()
	dir, staged := stagePets(t)
	other, err := dataset.CreatePath(ctx, dir, petSchema, dataset.PathOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	w := appendPets(t, staged, 2)
	defer w.Close()
	if _, err := w.Commit(ctx, "save"); !errors.Is(err, dataset.ErrExists) {
		t.Fatalf("commit over another creator: %v, want ErrExists", err)
	}
	again, err := dataset.OpenPath(ctx, dir, dataset.PathOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if again.ID() != other.ID() || again.Version() != 1 || again.Len() != 0 {
		t.Errorf("the other dataset: id %s (want %s), version %d, %d rows", again.ID(), other.ID(), again.Version(), again.Len())
	}
	if _, err := dataset.CreatePath(ctx, dir, petSchema, dataset.PathOptions{CreateOnCommit: true}); !errors.Is(err, dataset.ErrExists) {
		t.Errorf("CreateOnCommit on a dataset: %v, want ErrExists", err)
	}
}

// TestCommitRefusesBadSource: a source that a reader would refuse is refused before anything
// is written.
func TestCommitRefusesBadSource(t *testing.T) {
	ctx := context.Background()
	dir, ds := stagePets(t)
	w := appendPets(t, ds, 1)
	defer w.Close()
	for _, src := range []dataset.Source{
		{Dataset: "", Version: 1},
		{Dataset: "http://169.254.169.254/x", Version: 1},
		{Dataset: "al://acme/pets", Version: 0},
		{Dataset: "al://acme/pets", Version: 1, Columns: []string{"nope"}},
		{Dataset: "al://acme/pets", Version: 1, Where: "x\x1b[2J"},
		{Dataset: "al://acme/pets", Version: 1, Desc: true},
	} {
		if _, err := w.Commit(ctx, "save", dataset.CommitOptions{Source: &src}); err == nil || !strings.Contains(err.Error(), "commit: source: ") {
			t.Errorf("commit with source %+v: %v", src, err)
		}
	}
	if _, err := dataset.OpenPath(ctx, dir, dataset.PathOptions{}); !errors.Is(err, dataset.ErrNoDataset) {
		t.Errorf("open after refused commits: %v, want ErrNoDataset", err)
	}
}
