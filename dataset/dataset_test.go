package dataset_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gocloud.dev/blob"
	"gocloud.dev/blob/s3blob"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/dataset"
	"github.com/tarnhq/tarn/internal/azuritetest"
	"github.com/tarnhq/tarn/internal/fakegcstest"
	"github.com/tarnhq/tarn/internal/miniotest"
	"github.com/tarnhq/tarn/storage"
)

func TestMain(m *testing.M) {
	if cfg := os.Getenv(killChildEnv); cfg != "" {
		os.Exit(killChild(cfg))
	}
	os.Exit(miniotest.Run(func() int { return azuritetest.Run(func() int { return fakegcstest.Run(m.Run) }) }))
}

// peer is a bucket to test on and the options that go with it.
type peer struct {
	name string
	open func(t *testing.T) (*blob.Bucket, dataset.Options)
}

var peers = []peer{
	{"file", fileBucket},
	{"minio", minioBucket},
	{"gcs", gcsBucket},
}

// fileBucket opens a new local directory through storage.OpenBucket, as a file:// path.
func fileBucket(t *testing.T) (*blob.Bucket, dataset.Options) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ds")
	b, err := storage.OpenBucket(context.Background(), dir, storage.Options{Mode: api.ModeWrite})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, dataset.Options{Dir: dir}
}

// minioBucket opens a prefix of a new MinIO bucket with the root keys.
func minioBucket(t *testing.T) (*blob.Bucket, dataset.Options) {
	t.Helper()
	s := miniotest.Start(t)
	b, err := rootBucket(s3Peer{s.Endpoint, s.RootUser, s.RootPassword, s.Bucket, "datasets/coco/"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, dataset.Options{}
}

// gcsBucket opens the dataset al://acme/coco on a new fake-gcs-server bucket through
// storage.OpenBucket, with write tokens of a fakegcstest.Vendor: the whole GCS data path.
func gcsBucket(t *testing.T) (*blob.Bucket, dataset.Options) {
	t.Helper()
	v := fakegcstest.NewVendor(t, fakegcstest.Start(t))
	b, err := storage.OpenBucket(context.Background(), "al://acme/coco", storage.Options{Client: v, Mode: api.ModeWrite})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, dataset.Options{}
}

// s3Peer is a prefix of a MinIO bucket and MinIO's root keys.
type s3Peer struct {
	Endpoint, User, Password, Bucket, Prefix string
}

// rootBucket opens p.Prefix of p.Bucket with the root keys.
func rootBucket(p s3Peer) (*blob.Bucket, error) { return rootBucketHTTP(p, nil) }

// rootBucketHTTP is rootBucket sending its requests through hc (nil: the SDK's default).
func rootBucketHTTP(p s3Peer, hc *http.Client) (*blob.Bucket, error) {
	o := s3.Options{
		Region:                     miniotest.Region,
		BaseEndpoint:               aws.String(p.Endpoint),
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(p.User, p.Password, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	}
	if hc != nil {
		o.HTTPClient = hc
	}
	c := s3.New(o)
	b, err := s3blob.OpenBucket(context.Background(), c, p.Bucket, &s3blob.Options{RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired})
	if err != nil {
		return nil, err
	}
	return blob.PrefixedBucket(b, p.Prefix), nil
}

// allTypes has one nullable column of every type.
var allTypes = dataset.NewSchema(
	dataset.Column{Name: "id", Type: dataset.T(dataset.Int64)},
	dataset.Column{Name: "bool", Type: dataset.T(dataset.Bool), Nullable: true},
	dataset.Column{Name: "i8", Type: dataset.T(dataset.Int8), Nullable: true},
	dataset.Column{Name: "i16", Type: dataset.T(dataset.Int16), Nullable: true},
	dataset.Column{Name: "i32", Type: dataset.T(dataset.Int32), Nullable: true},
	dataset.Column{Name: "u8", Type: dataset.T(dataset.Uint8), Nullable: true},
	dataset.Column{Name: "u16", Type: dataset.T(dataset.Uint16), Nullable: true},
	dataset.Column{Name: "u32", Type: dataset.T(dataset.Uint32), Nullable: true},
	dataset.Column{Name: "u64", Type: dataset.T(dataset.Uint64), Nullable: true},
	dataset.Column{Name: "f32", Type: dataset.T(dataset.Float32), Nullable: true},
	dataset.Column{Name: "f64", Type: dataset.T(dataset.Float64), Nullable: true},
	dataset.Column{Name: "text", Type: dataset.T(dataset.Text), Nullable: true},
	dataset.Column{Name: "bytes", Type: dataset.T(dataset.Bytes), Nullable: true},
	dataset.Column{Name: "json", Type: dataset.T(dataset.JSON), Nullable: true},
	dataset.Column{Name: "image", Type: dataset.T(dataset.Image), Nullable: true},
	dataset.Column{Name: "emb", Type: dataset.EmbeddingOf(4), Nullable: true},
	dataset.Column{Name: "tensor", Type: dataset.TensorOf(dataset.Uint8, 2, 3), Nullable: true},
	dataset.Column{Name: "tensor64", Type: dataset.TensorOf(dataset.Float64, 2), Nullable: true},
	dataset.Column{Name: "link", Type: dataset.LinkTo(dataset.Image), Nullable: true},
)

// allTypesRow returns row i: every third row has nulls in every nullable column.
func allTypesRow(i int) dataset.Row {
	if i%3 == 2 {
		return dataset.Row{"id": int64(i)}
	}
	return dataset.Row{
		"id":       int64(i),
		"bool":     i%2 == 0,
		"i8":       int8(i % 100),
		"i16":      int16(-i),
		"i32":      int32(i * 1000),
		"u8":       uint8(i % 250),
		"u16":      uint16(i),
		"u32":      uint32(i * 7),
		"u64":      uint64(1<<63 + uint64(i)),
		"f32":      float32(i) / 2,
		"f64":      float64(i) / 3,
		"text":     fmt.Sprintf("row %d", i),
		"bytes":    []byte{byte(i), 0, 1},
		"json":     json.RawMessage(fmt.Sprintf(`{"n":%d}`, i)),
		"image":    dataset.ImageValue{Format: "png", Data: []byte(fmt.Sprintf("\x89PNG%d", i))},
		"emb":      []float32{float32(i), 1, 2, 3},
		"tensor":   []uint8{1, 2, 3, 4, 5, byte(i)},
		"tensor64": []float64{float64(i), -1},
		"link":     fmt.Sprintf("s3://images/%d.png", i),
	}
}

// full returns r with every column of s present (nil where absent).
func full(s dataset.Schema, r dataset.Row) dataset.Row {
	out := dataset.Row{}
	for _, c := range s.Columns {
		out[c.Name] = r[c.Name]
	}
	return out
}

func TestRoundTripEveryType(t *testing.T) {
	for _, p := range peers {
		t.Run(p.name, func(t *testing.T) {
			ctx := context.Background()
			b, opts := p.open(t)
			ds, err := dataset.Create(ctx, b, allTypes, opts)
			if err != nil {
				t.Fatal(err)
			}
			// Small row groups and files, so that reads cross both.
			w := ds.Appender(dataset.AppenderOptions{RowGroupBytes: 8 << 10, FileBytes: 16 << 10})
			defer w.Close()
			const n = 300
			for i := 0; i < n; i += 10 {
				var rows []dataset.Row
				for j := i; j < i+10; j++ {
					rows = append(rows, allTypesRow(j))
				}
				if err := w.Append(ctx, rows...); err != nil {
					t.Fatal(err)
				}
			}
			v, err := w.Commit(ctx, "first rows")
			if err != nil {
				t.Fatal(err)
			}
			if v.Version != 2 || v.Rows != n || len(v.Files) < 2 {
				t.Fatalf("commit: version %d, %d rows, %d files; want version 2, %d rows, several files", v.Version, v.Rows, len(v.Files), n)
			}

			ds, err = dataset.Open(ctx, b, dataset.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if ds.Len() != n || ds.Version() != 2 || ds.Schema().String() != allTypes.String() {
				t.Fatalf("open: %d rows at version %d, schema %s", ds.Len(), ds.Version(), ds.Schema())
			}
			rows, err := ds.Rows(ctx, 0, n)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range rows {
				if want := full(allTypes, allTypesRow(i)); !reflect.DeepEqual(r, want) {
					t.Fatalf("row %d:\n got %v\nwant %v", i, r, want)
				}
			}
			i := 0
			for r, err := range ds.Iter(ctx, dataset.IterOptions{Prefetch: 2}) {
				if err != nil {
					t.Fatal(err)
				}
				if want := full(allTypes, allTypesRow(i)); !reflect.DeepEqual(r, want) {
					t.Fatalf("Iter row %d:\n got %v\nwant %v", i, r, want)
				}
				i++
			}
			if i != n {
				t.Fatalf("Iter yielded %d rows, want %d", i, n)
			}
			r, err := ds.Row(ctx, 157, "text", "emb")
			if err != nil {
				t.Fatal(err)
			}
			if want := (dataset.Row{"text": "row 157", "emb": []float32{157, 1, 2, 3}}); !reflect.DeepEqual(r, want) {
				t.Errorf("Row(157, text, emb) = %v, want %v", r, want)
			}
			mid, err := ds.Rows(ctx, 95, 205, "id")
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range mid {
				if r["id"] != int64(95+i) {
					t.Fatalf("Rows(95, 205)[%d] = %v", i, r)
				}
			}
			if _, err := ds.Rows(ctx, 0, n+1); err == nil {
				t.Error("Rows past the end succeeded")
			}
		})
	}
}

func TestAppendRejectsBadRows(t *testing.T) {
	ctx := context.Background()
	b, opts := fileBucket(t)
	ds, err := dataset.Create(ctx, b, allTypes, opts)
	if err != nil {
		t.Fatal(err)
	}
	w := ds.Appender(dataset.AppenderOptions{})
	defer w.Close()
	for _, tc := range []struct {
		row  dataset.Row
		want string
	}{
		{dataset.Row{"id": int64(1), "nope": 1}, `unknown column "nope"`},
		{dataset.Row{"id": "one"}, `column "id" (int64): want int64, got string`},
		{dataset.Row{}, `column "id" (int64): null in a column that is not nullable`},
		{dataset.Row{"id": 1, "i8": 300}, `column "i8" (int8): 300 does not fit in int8`},
		{dataset.Row{"id": 1, "emb": []float32{1}}, `column "emb" (embedding(4)): want 4 values, got 1`},
		{dataset.Row{"id": 1, "tensor": []float32{1, 2, 3, 4, 5, 6}}, `column "tensor" (tensor(uint8, [2 3])): want []uint8`},
		{dataset.Row{"id": 1, "json": "{"}, `column "json" (json): invalid JSON`},
		{dataset.Row{"id": 1, "image": []byte("x")}, `column "image" (image): want ImageValue`},
	} {
		err := w.Append(ctx, dataset.Row{"id": int64(0)}, tc.row)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "row 1") {
			t.Errorf("Append(%v) = %v, want an error about row 1 containing %q", tc.row, err, tc.want)
		}
	}
	// Failed appends added nothing; an int literal fits an integer column.
	if err := w.Append(ctx, dataset.Row{"id": 7}); err != nil {
		t.Fatal(err)
	}
	v, err := w.Commit(ctx, "one row")
	if err != nil {
		t.Fatal(err)
	}
	if v.Rows != 1 {
		t.Errorf("rows = %d, want 1", v.Rows)
	}
	if r, err := ds.Row(ctx, 0, "id"); err != nil || r["id"] != int64(7) {
		t.Errorf("row 0 = %v, %v", r, err)
	}
	if _, err := ds.Rows(ctx, 0, 1, "nope"); err == nil || !strings.Contains(err.Error(), `unknown column "nope"`) {
		t.Errorf("reading an unknown column: %v", err)
	}
}

func TestTimeTravelAndVersions(t *testing.T) {
	ctx := context.Background()
	b, opts := fileBucket(t)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	opts.Now = func() time.Time { return now }
	schema := dataset.NewSchema(dataset.Column{Name: "n", Type: dataset.T(dataset.Int32)})
	ds, err := dataset.Create(ctx, b, schema, opts)
	if err != nil {
		t.Fatal(err)
	}
	w := ds.Appender(dataset.AppenderOptions{})
	defer w.Close()
	for c := 0; c < 3; c++ {
		for i := 0; i < 10; i++ {
			if err := w.Append(ctx, dataset.Row{"n": int32(c*10 + i)}); err != nil {
				t.Fatal(err)
			}
		}
		now = now.Add(time.Hour)
		if _, err := w.Commit(ctx, fmt.Sprintf("batch %d", c)); err != nil {
			t.Fatal(err)
		}
	}
	vs, err := ds.Versions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range vs {
		got = append(got, fmt.Sprintf("%d<-%d %s %d rows %s", v.Version, v.Parent, v.Message, v.Rows, v.Time.Format("15:04")))
	}
	want := []string{"1<-0 create 0 rows 03:04", "2<-1 batch 0 10 rows 04:04", "3<-2 batch 1 20 rows 05:04", "4<-3 batch 2 30 rows 06:04"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Versions:\n got %q\nwant %q", got, want)
	}
	old, err := dataset.OpenVersion(ctx, b, 3, dataset.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if old.Len() != 20 {
		t.Fatalf("version 3 has %d rows, want 20", old.Len())
	}
	if _, err := old.Row(ctx, 20); err == nil {
		t.Error("version 3 has a row 20")
	}
	if r, err := old.Row(ctx, 19); err != nil || r["n"] != int32(19) {
		t.Errorf("version 3 row 19 = %v, %v", r, err)
	}
	if _, err := dataset.OpenVersion(ctx, b, 9, dataset.Options{}); err == nil || !strings.Contains(err.Error(), "versions/v00000000000000000009.json") {
		t.Errorf("opening a missing version: %v", err)
	}
}

// TestConcurrentAppenders runs 8 appenders of 1,000 rows each, each with its own Dataset as
// separate processes would, and checks that every row is present exactly once.
func TestConcurrentAppenders(t *testing.T) {
	for _, p := range peers {
		t.Run(p.name, func(t *testing.T) {
			ctx := context.Background()
			b, opts := p.open(t)
			if _, err := dataset.Create(ctx, b, appendSchema, opts); err != nil {
				t.Fatal(err)
			}
			const writers, rows, commits = 8, 1000, 4
			appendConcurrently(t, writers, rows, commits, func() (*dataset.Dataset, error) { return dataset.Open(ctx, b, opts) })
			ds, err := dataset.Open(ctx, b, opts)
			if err != nil {
				t.Fatal(err)
			}
			checkAppended(t, ds, writers, rows, commits)
		})
	}
}

// appendSchema is the schema of appendConcurrently's rows.
var appendSchema = dataset.NewSchema(
	dataset.Column{Name: "writer", Type: dataset.T(dataset.Int32)},
	dataset.Column{Name: "n", Type: dataset.T(dataset.Int32)},
)

// appendConcurrently runs writers appenders at once, each on a dataset of its own open
// (closed after), each appending rows rows {writer, n} in commits commits.
func appendConcurrently(t *testing.T, writers, rows, commits int, open func() (*dataset.Dataset, error)) {
	t.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for wr := range writers {
		wg.Go(func() {
			ds, err := open()
			if err != nil {
				errs <- err
				return
			}
			defer ds.Close()
			w := ds.Appender(dataset.AppenderOptions{})
			defer w.Close()
			for c := range commits {
				for i := c * rows / commits; i < (c+1)*rows/commits; i++ {
					if err := w.Append(ctx, dataset.Row{"writer": int32(wr), "n": int32(i)}); err != nil {
						errs <- err
						return
					}
				}
				if _, err := w.Commit(ctx, fmt.Sprintf("writer %d commit %d", wr, c)); err != nil {
					errs <- fmt.Errorf("writer %d commit %d: %w", wr, c, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// checkAppended checks that ds holds what appendConcurrently appended to a new dataset:
// every commit made exactly one version, in one chain, and every row is present once.
func checkAppended(t *testing.T, ds *dataset.Dataset, writers, rows, commits int) {
	t.Helper()
	ctx := context.Background()
	if want := int64(1 + writers*commits); ds.Version() != want {
		t.Errorf("version %d, want %d", ds.Version(), want)
	}
	vs, err := ds.Versions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	msgs := map[string]bool{}
	for i, v := range vs {
		if v.Version != int64(i+1) || v.Parent != int64(i) {
			t.Errorf("version %d has parent %d", v.Version, v.Parent)
		}
		msgs[v.Message] = true
	}
	if len(msgs) != 1+writers*commits {
		t.Errorf("%d distinct commit messages, want %d", len(msgs), 1+writers*commits)
	}
	seen := map[[2]int32]int{}
	for r, err := range ds.Iter(ctx, dataset.IterOptions{Prefetch: 3}) {
		if err != nil {
			t.Fatal(err)
		}
		seen[[2]int32{r["writer"].(int32), r["n"].(int32)}]++
	}
	if len(seen) != writers*rows {
		t.Errorf("%d distinct rows, want %d", len(seen), writers*rows)
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("row %v present %d times", k, n)
		}
	}
}

func TestIncompatibleConcurrentSchemaChange(t *testing.T) {
	ctx := context.Background()
	b, opts := fileBucket(t)
	ds, err := dataset.Create(ctx, b, dataset.NewSchema(dataset.Column{Name: "a", Type: dataset.T(dataset.Text)}), opts)
	if err != nil {
		t.Fatal(err)
	}
	w := ds.Appender(dataset.AppenderOptions{})
	defer w.Close()
	if err := w.Append(ctx, dataset.Row{"a": "x"}); err != nil {
		t.Fatal(err)
	}
	// Another writer adds a required column while the dataset is still empty.
	other, err := dataset.Open(ctx, b, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.AddColumn(ctx, dataset.Column{Name: "label", Type: dataset.T(dataset.Int64)}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(ctx, "late"); err == nil || !strings.Contains(err.Error(), `column "label"`) {
		t.Errorf("commit over an incompatible schema: %v, want an error naming column \"label\"", err)
	}
}

func TestAddColumnFillsNulls(t *testing.T) {
	for _, p := range peers {
		t.Run(p.name, func(t *testing.T) {
			ctx := context.Background()
			b, opts := p.open(t)
			ds, err := dataset.Create(ctx, b, dataset.NewSchema(dataset.Column{Name: "a", Type: dataset.T(dataset.Int64)}), opts)
			if err != nil {
				t.Fatal(err)
			}
			w := ds.Appender(dataset.AppenderOptions{})
			defer w.Close()
			w.Append(ctx, dataset.Row{"a": 1}, dataset.Row{"a": 2})
			if _, err := w.Commit(ctx, "two"); err != nil {
				t.Fatal(err)
			}
			if _, err := ds.AddColumn(ctx, dataset.Column{Name: "b", Type: dataset.EmbeddingOf(2)}); err == nil || !strings.Contains(err.Error(), `column "b" must be nullable`) {
				t.Errorf("adding a required column to a non-empty dataset: %v", err)
			}
			if _, err := ds.AddColumn(ctx, dataset.Column{Name: "a", Type: dataset.T(dataset.Text), Nullable: true}); err == nil || !strings.Contains(err.Error(), `column "a" already exists`) {
				t.Errorf("adding an existing column: %v", err)
			}
			v, err := ds.AddColumn(ctx, dataset.Column{Name: "b", Type: dataset.EmbeddingOf(2), Nullable: true})
			if err != nil {
				t.Fatal(err)
			}
			if v.Version != 3 || v.Rows != 2 {
				t.Errorf("AddColumn made version %d with %d rows", v.Version, v.Rows)
			}
			w2 := ds.Appender(dataset.AppenderOptions{})
			defer w2.Close()
			if err := w2.Append(ctx, dataset.Row{"a": 3, "b": []float32{1, 2}}); err != nil {
				t.Fatal(err)
			}
			if _, err := w2.Commit(ctx, "three"); err != nil {
				t.Fatal(err)
			}
			ds, err = dataset.Open(ctx, b, opts)
			if err != nil {
				t.Fatal(err)
			}
			rows, err := ds.Rows(ctx, 0, 3)
			if err != nil {
				t.Fatal(err)
			}
			want := []dataset.Row{{"a": int64(1), "b": nil}, {"a": int64(2), "b": nil}, {"a": int64(3), "b": []float32{1, 2}}}
			if !reflect.DeepEqual(rows, want) {
				t.Errorf("rows = %v, want %v", rows, want)
			}
			if r, err := ds.Row(ctx, 0, "b"); err != nil || !reflect.DeepEqual(r, dataset.Row{"b": nil}) {
				t.Errorf("row 0, column b only = %v, %v", r, err)
			}
		})
	}
}

// TestUncommittedFilesAreIgnored simulates a writer that dies after writing data files but
// before creating the manifest: the dataset stays readable at its last version.
func TestUncommittedFilesAreIgnored(t *testing.T) {
	for _, p := range peers {
		t.Run(p.name, func(t *testing.T) {
			ctx := context.Background()
			b, opts := p.open(t)
			ds, err := dataset.Create(ctx, b, dataset.NewSchema(dataset.Column{Name: "s", Type: dataset.T(dataset.Text)}), opts)
			if err != nil {
				t.Fatal(err)
			}
			w := ds.Appender(dataset.AppenderOptions{})
			w.Append(ctx, dataset.Row{"s": "kept"})
			if _, err := w.Commit(ctx, "kept"); err != nil {
				t.Fatal(err)
			}
			dying := ds.Appender(dataset.AppenderOptions{RowGroupBytes: 1, FileBytes: 1})
			for i := 0; i < 5; i++ {
				if err := dying.Append(ctx, dataset.Row{"s": "lost"}); err != nil {
					t.Fatal(err)
				}
			}
			// The process dies here: no Commit, no Close. A stray temporary file in
			// versions/ is left too.
			if err := b.WriteAll(ctx, "versions/v00000000000000000003.json.123.tmp", []byte("{"), nil); err != nil {
				t.Fatal(err)
			}
			var dataFiles int
			for it := b.List(&blob.ListOptions{Prefix: "data/"}); ; {
				if _, err := it.Next(ctx); err != nil {
					break
				}
				dataFiles++
			}
			if dataFiles < 6 {
				t.Fatalf("%d data files in the bucket; the dying appender should have written 5", dataFiles)
			}
			ds, err = dataset.Open(ctx, b, opts)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for r, err := range ds.Iter(ctx, dataset.IterOptions{}) {
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, r["s"].(string))
			}
			if ds.Version() != 2 || !reflect.DeepEqual(got, []string{"kept"}) {
				t.Errorf("version %d, rows %q; want version 2 with [kept]", ds.Version(), got)
			}
			// A later appender commits on top as usual.
			w = ds.Appender(dataset.AppenderOptions{})
			defer w.Close()
			w.Append(ctx, dataset.Row{"s": "after"})
			if v, err := w.Commit(ctx, "after"); err != nil || v.Version != 3 || v.Rows != 2 {
				t.Errorf("commit after the crash: %+v, %v", v, err)
			}
		})
	}
}

func TestIterPrefetchAndShuffle(t *testing.T) {
	ctx := context.Background()
	b, opts := fileBucket(t)
	ds, err := dataset.Create(ctx, b, dataset.NewSchema(dataset.Column{Name: "n", Type: dataset.T(dataset.Int64)}), opts)
	if err != nil {
		t.Fatal(err)
	}
	w := ds.Appender(dataset.AppenderOptions{RowGroupBytes: 400, FileBytes: 1})
	defer w.Close()
	const n = 2000
	for i := 0; i < n; i++ {
		if err := w.Append(ctx, dataset.Row{"n": int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	v, err := w.Commit(ctx, "rows")
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Files) < 10 {
		t.Fatalf("%d data files, want many", len(v.Files))
	}
	read := func(o dataset.IterOptions) []int64 {
		t.Helper()
		var out []int64
		for r, err := range ds.Iter(ctx, o) {
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, r["n"].(int64))
		}
		return out
	}
	inOrder := read(dataset.IterOptions{Prefetch: 3})
	for i, x := range inOrder {
		if x != int64(i) {
			t.Fatalf("in-order row %d = %d", i, x)
		}
	}
	if len(inOrder) != n {
		t.Fatalf("%d rows, want %d", len(inOrder), n)
	}
	a := read(dataset.IterOptions{Prefetch: 2, ShuffleBuffer: 100, Seed: 42})
	bb := read(dataset.IterOptions{Prefetch: 5, ShuffleBuffer: 100, Seed: 42})
	c := read(dataset.IterOptions{Prefetch: 2, ShuffleBuffer: 100, Seed: 43})
	if !reflect.DeepEqual(a, bb) {
		t.Error("the same seed gave different orders")
	}
	if reflect.DeepEqual(a, c) || reflect.DeepEqual(a, inOrder) {
		t.Error("shuffles are not shuffled")
	}
	sorted := append([]int64(nil), a...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	if !reflect.DeepEqual(sorted, inOrder) {
		t.Error("the shuffle does not yield every row exactly once")
	}
	// A panic in the loop body is the caller's, not a corrupt file.
	func() {
		defer func() {
			if p := recover(); p != "boom" {
				t.Errorf("recovered %v, want the loop body's panic", p)
			}
		}()
		for range ds.Iter(ctx, dataset.IterOptions{}) {
			panic("boom")
		}
	}()
	// Breaking early stops cleanly.
	k := 0
	for _, err := range ds.Iter(ctx, dataset.IterOptions{Prefetch: 2}) {
		if err != nil {
			t.Fatal(err)
		}
		if k++; k == 10 {
			break
		}
	}
}

func TestCorruptFilesAreNamed(t *testing.T) {
	ctx := context.Background()
	b, opts := fileBucket(t)
	ds, err := dataset.Create(ctx, b, dataset.NewSchema(dataset.Column{Name: "n", Type: dataset.T(dataset.Int64)}), opts)
	if err != nil {
		t.Fatal(err)
	}
	w := ds.Appender(dataset.AppenderOptions{})
	defer w.Close()
	w.Append(ctx, dataset.Row{"n": 1})
	v, err := w.Commit(ctx, "one")
	if err != nil {
		t.Fatal(err)
	}
	path := v.Files[0].Path
	dir := opts.Dir

	// A corrupt data file.
	if err := os.WriteFile(filepath.Join(dir, path), []byte(strings.Repeat("x", int(v.Files[0].Bytes))), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ds.Row(ctx, 0); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("reading a corrupt data file: %v, want an error naming %s", err, path)
	}
	for _, err := range ds.Iter(ctx, dataset.IterOptions{}) {
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("iterating over a corrupt data file: %v, want an error naming %s", err, path)
		}
	}
	// A missing data file.
	os.Remove(filepath.Join(dir, path))
	if _, err := ds.Row(ctx, 0); err == nil || !strings.Contains(err.Error(), path+" is missing") {
		t.Errorf("reading a missing data file: %v", err)
	}
	// A corrupt latest manifest.
	m := filepath.Join(dir, "versions", "v00000000000000000002.json")
	os.WriteFile(m, []byte(`{"version":2,"parent":1,"rows":5,"files":[],"schema":{"columns":[]}}`), 0o644)
	if _, err := dataset.Open(ctx, b, opts); err == nil || !strings.Contains(err.Error(), "versions/v00000000000000000002.json: corrupt manifest") {
		t.Errorf("opening with a corrupt manifest: %v", err)
	}
	// No dataset at all.
	empty, eopts := fileBucket(t)
	if _, err := dataset.Open(ctx, empty, eopts); err == nil || !strings.Contains(err.Error(), "tarn.json is missing") {
		t.Errorf("opening an empty bucket: %v", err)
	}
	// Create twice.
	if _, err := dataset.Create(ctx, b, ds.Schema(), opts); !errors.Is(err, dataset.ErrExists) {
		t.Errorf("creating over a dataset: %v, want ErrExists", err)
	}
}

func TestLocalDirectoryNeedsDir(t *testing.T) {
	ctx := context.Background()
	b, opts := fileBucket(t)
	if _, err := dataset.Create(ctx, b, allTypes, dataset.Options{}); err == nil || !strings.Contains(err.Error(), "Options.Dir") {
		t.Errorf("Create on a local directory without Dir: %v", err)
	}
	if _, err := dataset.Create(ctx, b, allTypes, dataset.Options{Dir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "not the bucket's directory") {
		t.Errorf("Create with the wrong Dir: %v", err)
	}
	if _, err := dataset.Create(ctx, b, allTypes, opts); err != nil {
		t.Fatal(err)
	}
	// Reading needs no Dir.
	if _, err := dataset.Open(ctx, b, dataset.Options{}); err != nil {
		t.Error(err)
	}
}

// manifestCreates counts the manifest creates that commits try and make, through
// dataset.SetTestHook.
type manifestCreates struct {
	mu          sync.Mutex
	tried, made int
}

// countManifestCreates counts manifest creates until t ends.
func countManifestCreates(t *testing.T) *manifestCreates {
	c := &manifestCreates{}
	dataset.SetTestHook(func(event string) {
		c.mu.Lock()
		defer c.mu.Unlock()
		switch {
		case strings.HasPrefix(event, "create versions/"):
			c.tried++
		case strings.HasPrefix(event, "created versions/"):
			c.made++
		}
	})
	t.Cleanup(func() { dataset.SetTestHook(nil) })
	return c
}

// check wants versions manifests made and more tried: the commits raced, and the losers'
// creates were refused, as they must be.
func (c *manifestCreates) check(t *testing.T, versions int) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.made != versions || c.tried <= c.made {
		t.Errorf("%d manifest creates tried, %d made; want %d made and some refused", c.tried, c.made, versions)
	}
	t.Logf("%d manifest creates tried, %d made", c.tried, c.made)
}

// checkCannotCommit wants ds to be open read-only: a commit fails with ErrReadOnly.
func checkCannotCommit(t *testing.T, ds *dataset.Dataset) {
	t.Helper()
	if !ds.ReadOnly() {
		t.Error("a reader's open is writable")
	}
	w := ds.Appender(dataset.AppenderOptions{})
	defer w.Close()
	err := w.Append(context.Background(), dataset.Row{"writer": int32(9), "n": int32(0)})
	if err == nil {
		_, err = w.Commit(context.Background(), "reader")
	}
	if !errors.Is(err, dataset.ErrReadOnly) {
		t.Errorf("a reader's commit: %v, want ErrReadOnly", err)
	}
}
