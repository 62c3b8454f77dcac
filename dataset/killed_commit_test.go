package dataset_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gocloud.dev/blob"

	"github.com/tarnhq/tarn/dataset"
	"github.com/tarnhq/tarn/internal/miniotest"
)

// appendChildEnv, when set, makes TestAppendChild the child process of
// TestClientKilledMidCommit: it holds the child's appendChild config as JSON.
const appendChildEnv = "TARN_TEST_DATASET_APPEND_CHILD"

// appendChild tells a child where to append and under which writer name.
type appendChild struct {
	Writer string
	Kill   killConfig // its Dir or S3 names the dataset; At is unused
}

// Each commit of the child is one batch of batchRows rows of batchPayload random bytes
// each: a 6 MiB data file, which MinIO receives as a multipart upload.
const (
	batchRows    = 24
	batchPayload = 256 << 10
)

var bigSchema = dataset.NewSchema(
	dataset.Column{Name: "writer", Type: dataset.T(dataset.Text)},
	dataset.Column{Name: "batch", Type: dataset.T(dataset.Int64)},
	dataset.Column{Name: "payload", Type: dataset.T(dataset.Bytes)},
)

// TestAppendChild is the child of TestClientKilledMidCommit, run in a process of its own;
// it does nothing in a normal test run. It commits batches to the dataset until it is
// killed, printing "committed N" after batch N's commit returned.
func TestAppendChild(t *testing.T) {
	cfg := os.Getenv(appendChildEnv)
	if cfg == "" {
		t.Skip("the child process of TestClientKilledMidCommit")
	}
	var c appendChild
	if err := json.Unmarshal([]byte(cfg), &c); err != nil {
		t.Fatal(err)
	}
	b, opts, err := c.Kill.open()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ds, err := dataset.Open(ctx, b, opts)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("ready")
	for n := 0; ; n++ {
		w := ds.Appender(dataset.AppenderOptions{})
		for range batchRows {
			p := make([]byte, batchPayload)
			rand.Read(p)
			if err := w.Append(ctx, dataset.Row{"writer": c.Writer, "batch": int64(n), "payload": p}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := w.Commit(ctx, fmt.Sprintf("%s batch %d", c.Writer, n)); err != nil {
			t.Fatal(err)
		}
		w.Close()
		fmt.Printf("committed %d\n", n)
	}
}

// A client killed with SIGKILL at random moments of its commits, many times over on one
// dataset (on local disk and on MinIO), leaves a dataset whose every version opens and
// holds as many rows as its manifest says, in whole batches, each batch once; every batch
// whose commit returned is in the latest version; and a later append succeeds. Data files
// of the commits that the kills cut short may stay behind, but never as rows.
func TestClientKilledMidCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("kills child processes")
	}
	const kills = 6
	for _, p := range []string{"file", "minio"} {
		t.Run(p, func(t *testing.T) {
			c := killConfig{Dir: filepath.Join(t.TempDir(), "ds")}
			if p == "minio" {
				s := miniotest.Start(t)
				c = killConfig{S3: &s3Peer{s.Endpoint, s.RootUser, s.RootPassword, s.Bucket, "killed-commit/"}}
			}
			b, opts, err := c.open()
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			ctx := context.Background()
			if _, err := dataset.Create(ctx, b, bigSchema, opts); err != nil {
				t.Fatal(err)
			}
			committed := map[string]bool{} // writer/batch whose commit returned
			for k := range kills {
				writer := fmt.Sprintf("child%d", k)
				// Kill after 0 to 2 s: while it builds rows, uploads a data file, creates a
				// manifest, or between commits (a commit takes about a second with -race).
				last := killAppender(t, appendChild{Writer: writer, Kill: c}, time.Duration(mrand.Int64N(int64(2*time.Second))))
				for n := 0; n <= last; n++ {
					committed[fmt.Sprintf("%s/%d", writer, n)] = true
				}
				checkBatches(t, b, opts, committed)
			}

			ds, err := dataset.Open(ctx, b, opts)
			if err != nil {
				t.Fatal(err)
			}
			before := ds.Len()
			w := ds.Appender(dataset.AppenderOptions{})
			defer w.Close()
			if err := w.Append(ctx, dataset.Row{"writer": "after", "batch": int64(0), "payload": []byte("x")}); err != nil {
				t.Fatal(err)
			}
			v, err := w.Commit(ctx, "after the kills")
			if err != nil {
				t.Fatalf("append after %d killed clients: %v", kills, err)
			}
			if v.Rows != before+1 {
				t.Errorf("append after the kills: %d rows, want %d", v.Rows, before+1)
			}
			committed["after/0"] = true
			checkBatches(t, b, opts, committed)
		})
	}
}

// killAppender runs an appending child and kills it with SIGKILL after it has been
// appending for wait. It returns the last batch that the child reported committed (-1 for
// none).
func killAppender(t *testing.T, c appendChild, wait time.Duration) (last int) {
	t.Helper()
	cfg, _ := json.Marshal(c)
	cmd := exec.Command(os.Args[0], "-test.run=^TestAppendChild$", "-test.v=false")
	cmd.Env = append(os.Environ(), appendChildEnv+"="+string(cfg))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	last = -1
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "ready":
			time.AfterFunc(wait, func() { cmd.Process.Kill() }) // SIGKILL
		case strings.HasPrefix(line, "committed "):
			last, _ = strconv.Atoi(strings.TrimPrefix(line, "committed "))
		}
	}
	if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("the appending child ended with %v, not killed:\n%s", err, stderr.String())
	}
	t.Logf("%s killed after %s, %d batches committed", c.Writer, wait, last+1)
	return last
}

// checkBatches checks every version of the dataset at b: it opens, its rows are as many
// as its manifest says, and they come in whole batches, each at most once. The latest
// version holds every batch in committed.
func checkBatches(t *testing.T, b *blob.Bucket, opts dataset.Options, committed map[string]bool) {
	t.Helper()
	ctx := context.Background()
	ds, err := dataset.Open(ctx, b, opts)
	if err != nil {
		t.Fatalf("open after a kill: %v", err)
	}
	vs, err := ds.Versions(ctx)
	if err != nil {
		t.Fatalf("versions after a kill: %v", err)
	}
	for i, v := range vs {
		if v.Version != int64(i+1) {
			t.Fatalf("versions %d and %d are not consecutive", vs[max(i-1, 0)].Version, v.Version)
		}
		old, err := dataset.OpenVersion(ctx, b, v.Version, opts)
		if err != nil {
			t.Errorf("version %d does not open: %v", v.Version, err)
			continue
		}
		rows := map[string]int{}
		var n int64
		for r, err := range old.Iter(ctx, dataset.IterOptions{Columns: []string{"writer", "batch"}}) {
			if err != nil {
				t.Errorf("version %d: %v", v.Version, err)
				break
			}
			n++
			rows[fmt.Sprintf("%s/%d", r["writer"], r["batch"])]++
		}
		if n != v.Rows || n != old.Len() {
			t.Errorf("version %d: %d rows read, its manifest says %d", v.Version, n, v.Rows)
		}
		for k, c := range rows {
			if c != batchRows && !strings.HasPrefix(k, "after/") {
				t.Errorf("version %d: batch %s has %d rows, want %d: a commit is half visible or twice", v.Version, k, c, batchRows)
			}
		}
		if i == len(vs)-1 {
			for k := range committed {
				if rows[k] == 0 {
					t.Errorf("batch %s was committed and is not in the latest version %d", k, v.Version)
				}
			}
		}
	}
}
