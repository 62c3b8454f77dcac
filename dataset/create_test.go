package dataset_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gocloud.dev/blob"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/dataset"
	"github.com/tarnhq/tarn/internal/miniotest"
	"github.com/tarnhq/tarn/storage"
)

// importSchema is the schema of the datasets that importRows writes.
var importSchema = dataset.NewSchema(
	dataset.Column{Name: "writer", Type: dataset.T(dataset.Text)},
	dataset.Column{Name: "n", Type: dataset.T(dataset.Int64)},
)

// importRows does what an import does on b: it creates the dataset, or opens it when it
// exists, and commits the rows {writer, from}, …, {writer, to-1} as one version. With
// fileEach set, every row goes to a data file of its own.
func importRows(ctx context.Context, b *blob.Bucket, opts dataset.Options, writer string, from, to int, fileEach bool) error {
	ds, err := dataset.Create(ctx, b, importSchema, opts)
	if errors.Is(err, dataset.ErrExists) {
		ds, err = dataset.Open(ctx, b, opts)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", writer, err)
	}
	ao := dataset.AppenderOptions{}
	if fileEach {
		ao = dataset.AppenderOptions{RowGroupBytes: 1, FileBytes: 1}
	}
	w := ds.Appender(ao)
	defer w.Close()
	for n := from; n < to; n++ {
		if err := w.Append(ctx, dataset.Row{"writer": writer, "n": int64(n)}); err != nil {
			return fmt.Errorf("%s: %w", writer, err)
		}
	}
	if _, err := w.Commit(ctx, fmt.Sprintf("%s rows %d to %d", writer, from, to)); err != nil {
		return fmt.Errorf("%s: %w", writer, err)
	}
	return nil
}

// countRows returns how often each (writer, n) is in the latest version at b, after
// checking that the dataset opens, lists its versions and reads its first rows as the
// commands head and log do.
func countRows(t *testing.T, b *blob.Bucket) (map[string]int, []dataset.Version) {
	t.Helper()
	ctx := context.Background()
	ds, err := dataset.Open(ctx, b, dataset.Options{})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	vs, err := ds.Versions(ctx)
	if err != nil {
		t.Fatalf("versions (log): %v", err)
	}
	if _, err := ds.Rows(ctx, 0, min(10, ds.Len())); err != nil {
		t.Fatalf("first rows (head): %v", err)
	}
	seen := map[string]int{}
	for r, err := range ds.Iter(ctx, dataset.IterOptions{}) {
		if err != nil {
			t.Fatalf("iter: %v", err)
		}
		seen[fmt.Sprintf("%s/%d", r["writer"], r["n"])]++
	}
	return seen, vs
}

// Many first imports into one fresh dataset at once all succeed, each row is there once,
// and the dataset has one version per import on top of the one that created it. The import
// that creates tarn.json waits, before it goes on to create version 1, until every other
// import has finished: the interleaving that left half-created datasets, made certain.
func TestConcurrentFirstImports(t *testing.T) {
	for _, p := range peers {
		t.Run(p.name, func(t *testing.T) {
			ctx := context.Background()
			b, opts := p.open(t)
			const writers, rows = 96, 2
			var finished atomic.Int32
			othersDone := make(chan struct{})
			dataset.SetTestHook(func(event string) {
				if event == "created tarn.json" {
					<-othersDone
				}
			})
			defer dataset.SetTestHook(nil)
			start := make(chan struct{})
			errs := make(chan error, writers)
			var wg sync.WaitGroup
			for i := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					if err := importRows(ctx, b, opts, fmt.Sprintf("w%d", i), 0, rows, false); err != nil {
						errs <- err
					}
					if finished.Add(1) == writers-1 {
						close(othersDone)
					}
				}()
			}
			close(start)
			wg.Wait()
			close(errs)
			failed := 0
			for err := range errs {
				if failed++; failed <= 3 {
					t.Error(err)
				}
			}
			if failed > 0 {
				t.Fatalf("%d of %d first imports failed", failed, writers)
			}
			seen, vs := countRows(t, b)
			if len(vs) != writers+1 || vs[0].Message != "create" {
				t.Errorf("%d versions, the first %q; want %d, the first the create", len(vs), vs[0].Message, writers+1)
			}
			if len(seen) != writers*rows {
				t.Errorf("%d distinct rows, want %d", len(seen), writers*rows)
			}
			for k, n := range seen {
				if n != 1 {
					t.Errorf("row %s is there %d times", k, n)
				}
			}
		})
	}
}

// killChildEnv, when set, makes the test binary a child process of TestKilledImport: it
// holds the child's killConfig as JSON.
const killChildEnv = "TARN_TEST_DATASET_KILL_CHILD"

// killConfig tells a child where to import and at which step to stop.
type killConfig struct {
	At  int     // the step (call of the test hook, counted from 1) at which to stop
	Dir string  // the local directory of the dataset, or
	S3  *s3Peer // the MinIO prefix of the dataset
}

func (c killConfig) open() (*blob.Bucket, dataset.Options, error) {
	if c.S3 != nil {
		b, err := rootBucket(*c.S3)
		return b, dataset.Options{}, err
	}
	b, err := storage.OpenBucket(context.Background(), c.Dir, storage.Options{Mode: api.ModeWrite})
	return b, dataset.Options{Dir: c.Dir}, err
}

// The child's imports: two commits of three rows, each row in a data file of its own.
const childRows, childCommits = 3, 2

// killChild is the child: it imports into the dataset, printing "committed N" after each
// commit that returned, and at step At prints "step N EVENT" and waits to be killed.
func killChild(cfg string) int {
	var c killConfig
	if err := json.Unmarshal([]byte(cfg), &c); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	step := 0
	dataset.SetTestHook(func(event string) {
		if step++; step == c.At {
			fmt.Printf("step %d %s\n", step, event)
			time.Sleep(time.Hour) // until the parent kills the process
		}
	})
	b, opts, err := c.open()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	for i := range childCommits {
		if err := importRows(context.Background(), b, opts, "child", i*childRows, (i+1)*childRows, true); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Printf("committed %d\n", (i+1)*childRows)
	}
	fmt.Println("done")
	return 0
}

// runChild runs a child with c and kills it with SIGKILL when it reaches step c.At. It
// returns the rows the child reported committed, and whether it finished instead.
func runChild(t *testing.T, c killConfig) (committed int, finished bool, event string) {
	t.Helper()
	cfg, _ := json.Marshal(c)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), killChildEnv+"="+string(cfg))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "committed "):
			committed, _ = strconv.Atoi(strings.TrimPrefix(line, "committed "))
		case strings.HasPrefix(line, "step "):
			event = line
			if err := cmd.Process.Kill(); err != nil { // SIGKILL
				t.Fatal(err)
			}
		case line == "done":
			finished = true
		}
	}
	err = cmd.Wait()
	switch {
	case event != "":
		// killed, as intended
	case err != nil:
		t.Fatalf("child failed before step %d: %v\n%s", c.At, err, stderr.String())
	case !finished:
		t.Fatalf("child ended without finishing\n%s", stderr.String())
	}
	return committed, finished, event
}

// A client killed at any step of creating a dataset and importing into it leaves a dataset
// that the next import completes, that head and log read, and that still holds every row
// whose commit returned.
func TestKilledImport(t *testing.T) {
	for _, p := range []string{"file", "minio"} {
		t.Run(p, func(t *testing.T) {
			var s3 *miniotest.Server
			if p == "minio" {
				s3 = miniotest.Start(t)
			}
			for at := 1; ; at++ {
				if at > 40 {
					t.Fatal("the child never finished")
				}
				c := killConfig{At: at, Dir: filepath.Join(t.TempDir(), "ds")}
				if s3 != nil {
					c = killConfig{At: at, S3: &s3Peer{s3.Endpoint, s3.RootUser, s3.RootPassword, s3.Bucket, fmt.Sprintf("kill-%d/", at)}}
				}
				committed, finished, event := runChild(t, c)
				if finished {
					if at < 10 {
						t.Fatalf("the child finished after %d steps; the hook is not called", at-1)
					}
					break
				}
				b, opts, err := c.open()
				if err != nil {
					t.Fatal(err)
				}
				// The next import works, and so do head and log.
				if err := importRows(context.Background(), b, opts, "next", 0, 2, false); err != nil {
					t.Errorf("killed at %s: next import: %v", event, err)
					b.Close()
					continue
				}
				seen, vs := countRows(t, b)
				b.Close()
				for n := range childRows * childCommits {
					k := fmt.Sprintf("child/%d", n)
					if n < committed && seen[k] != 1 || seen[k] > 1 {
						t.Errorf("killed at %s after %d committed rows: row %s is there %d times", event, committed, k, seen[k])
					}
				}
				if seen["next/0"] != 1 || seen["next/1"] != 1 {
					t.Errorf("killed at %s: the next import's rows: %v", event, seen)
				}
				if last := vs[len(vs)-1]; last.Message != "next rows 0 to 2" {
					t.Errorf("killed at %s: the last version is %q", event, last.Message)
				}
			}
		})
	}
}

// A half-created dataset (tarn.json, no manifest) reads as empty at version 0, refuses
// appends with a message that says what to do, and the next Create completes it with its
// id kept. A bucket without tarn.json is no dataset.
func TestHalfCreatedDataset(t *testing.T) {
	for _, p := range peers {
		t.Run(p.name, func(t *testing.T) {
			ctx := context.Background()
			b, opts := p.open(t)
			if _, err := dataset.Open(ctx, b, opts); !errors.Is(err, dataset.ErrNoDataset) {
				t.Errorf("Open of an empty bucket: %v, want ErrNoDataset", err)
			}
			const id = "4f1c3f5e-0000-4000-8000-000000000001"
			if err := b.WriteAll(ctx, "tarn.json", []byte(`{"format":"tarn-dataset","version":1,"id":"`+id+`"}`), nil); err != nil {
				t.Fatal(err)
			}
			ds, err := dataset.Open(ctx, b, opts)
			if err != nil {
				t.Fatalf("Open of a half-created dataset: %v", err)
			}
			vs, err := ds.Versions(ctx)
			if ds.Version() != 0 || ds.Len() != 0 || len(ds.Schema().Columns) != 0 || len(vs) != 0 || err != nil {
				t.Errorf("version %d, %d rows, schema %q, versions %v, %v; want an empty version 0", ds.Version(), ds.Len(), ds.Schema(), vs, err)
			}
			if rows, err := ds.Rows(ctx, 0, 0); err != nil || len(rows) != 0 {
				t.Errorf("Rows: %v, %v", rows, err)
			}
			w := ds.Appender(dataset.AppenderOptions{})
			if err := w.Append(ctx, dataset.Row{}); err == nil || !strings.Contains(err.Error(), "Create or CreatePath completes it") {
				t.Errorf("Append at version 0: %v", err)
			}
			if _, err := w.Commit(ctx, "x"); err == nil {
				t.Error("Commit at version 0 succeeded")
			}
			w.Close()

			created, err := dataset.Create(ctx, b, importSchema, opts)
			if err != nil {
				t.Fatalf("Create on a half-created dataset: %v", err)
			}
			if created.ID() != id || created.Version() != 1 {
				t.Errorf("completed: id %s, version %d; want id %s, version 1", created.ID(), created.Version(), id)
			}
			if _, err := dataset.Create(ctx, b, importSchema, opts); !errors.Is(err, dataset.ErrExists) {
				t.Errorf("second Create: %v, want ErrExists", err)
			}
		})
	}
}
