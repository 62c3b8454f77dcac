package dataset_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/parquet/file"
	"gocloud.dev/blob"
	"gocloud.dev/blob/driver"
	"gocloud.dev/gcerrors"

	"github.com/tarnhq/tarn/dataset"
)

// streamSchema has a small column, a large one and a text column between them, so that a
// projection leaves gaps between the wanted column chunks of a row group.
var streamSchema = dataset.NewSchema(
	dataset.Column{Name: "n", Type: dataset.T(dataset.Int64)},
	dataset.Column{Name: "name", Type: dataset.T(dataset.Text)},
	dataset.Column{Name: "payload", Type: dataset.T(dataset.Bytes)},
)

// streamRow is row i of a stream dataset: payload is 1–3 KiB of random bytes.
func streamRow(i int) dataset.Row {
	r := rand.New(rand.NewPCG(uint64(i), 1))
	p := make([]byte, 1024+r.IntN(2048))
	for j := range p {
		p[j] = byte(r.Uint32())
	}
	return dataset.Row{"n": int64(i), "name": fmt.Sprintf("row-%05d", i), "payload": p}
}

// streamDataset creates, in a local directory, a dataset of rows rows in data files of
// about fileBytes, each with row groups of about groupBytes, and returns it with its bucket
// and directory.
func streamDataset(t *testing.T, rows int, groupBytes, fileBytes int64) (*dataset.Dataset, *blob.Bucket, string) {
	t.Helper()
	ctx := context.Background()
	b, opts := fileBucket(t)
	ds, err := dataset.Create(ctx, b, streamSchema, opts)
	if err != nil {
		t.Fatal(err)
	}
	w := ds.Appender(dataset.AppenderOptions{RowGroupBytes: groupBytes, FileBytes: fileBytes})
	defer w.Close()
	for i := range rows {
		if err := w.Append(ctx, streamRow(i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Commit(ctx, "rows"); err != nil {
		t.Fatal(err)
	}
	return ds, b, opts.Dir
}

// iterAll returns every row Iter yields, failing on an error.
func iterAll(t *testing.T, ds *dataset.Dataset, o dataset.IterOptions) []dataset.Row {
	t.Helper()
	var out []dataset.Row
	for r, err := range ds.Iter(context.Background(), o) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// firstGroupEnd returns the offset at which the first row group of data file path ends.
func firstGroupEnd(t *testing.T, path string) int64 {
	t.Helper()
	pf, err := file.OpenParquetFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	rg := pf.MetaData().RowGroup(0)
	var end int64
	for i := range rg.NumColumns() {
		cc, err := rg.ColumnChunk(i)
		if err != nil {
			t.Fatal(err)
		}
		end = max(end, cc.DataPageOffset()+cc.TotalCompressedSize())
	}
	return end
}

// groupLayout returns, for each row group of the data files of ds in order, its rows and
// the compressed bytes of the column chunks of cols (all when empty).
func groupLayout(t *testing.T, ds *dataset.Dataset, dir string, cols ...string) (rows, bytes []int64) {
	t.Helper()
	for _, f := range ds.Info().Files {
		pf, err := file.OpenParquetFile(filepath.Join(dir, f.Path), false)
		if err != nil {
			t.Fatal(err)
		}
		md := pf.MetaData()
		for g := range md.NumRowGroups() {
			rg := md.RowGroup(g)
			var n int64
			for c := range md.Schema.NumColumns() {
				if len(cols) == 0 || slices.Contains(cols, md.Schema.ColumnRoot(c).Name()) {
					cc, err := rg.ColumnChunk(c)
					if err != nil {
						t.Fatal(err)
					}
					n += cc.TotalCompressedSize()
				}
			}
			rows, bytes = append(rows, rg.NumRows()), append(bytes, n)
		}
		pf.Close()
	}
	return rows, bytes
}

func TestIterMatchesRowsAcrossFilesAndRowGroups(t *testing.T) {
	ctx := context.Background()
	ds, _, dir := streamDataset(t, 600, 40<<10, 300<<10)
	// Older files lack a column added later: it reads as null there.
	if _, err := ds.AddColumn(ctx, dataset.Column{Name: "late", Type: dataset.T(dataset.Text), Nullable: true}); err != nil {
		t.Fatal(err)
	}
	w := ds.Appender(dataset.AppenderOptions{RowGroupBytes: 40 << 10, FileBytes: 300 << 10})
	defer w.Close()
	for i := 600; i < 800; i++ {
		r := streamRow(i)
		r["late"] = fmt.Sprint("late-", i)
		if err := w.Append(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Commit(ctx, "late rows"); err != nil {
		t.Fatal(err)
	}
	if groups, _ := groupLayout(t, ds, dir); len(ds.Info().Files) < 3 || len(groups) < 3*len(ds.Info().Files) {
		t.Fatalf("%d files, %d row groups: want several files of several row groups", len(ds.Info().Files), len(groups))
	}
	for _, cols := range [][]string{nil, {"payload"}, {"n", "payload"}, {"late", "n"}, {"late"}, {"name"}} {
		want, err := ds.Rows(ctx, 0, ds.Len(), cols...)
		if err != nil {
			t.Fatal(err)
		}
		for _, prefetch := range []int{1, 3, 64} {
			got := iterAll(t, ds, dataset.IterOptions{Columns: cols, Prefetch: prefetch})
			if !reflect.DeepEqual(got, want) {
				t.Errorf("columns %v, prefetch %d: Iter's %d rows differ from Rows' %d", cols, prefetch, len(got), len(want))
			}
		}
		// A shuffle yields the same rows, in an order that depends on Seed only.
		a := iterAll(t, ds, dataset.IterOptions{Columns: cols, Prefetch: 2, ShuffleBuffer: 50, Seed: 7})
		b := iterAll(t, ds, dataset.IterOptions{Columns: cols, Prefetch: 9, ShuffleBuffer: 50, Seed: 7})
		c := iterAll(t, ds, dataset.IterOptions{Columns: cols, Prefetch: 2, ShuffleBuffer: 50, Seed: 8})
		if !reflect.DeepEqual(a, b) {
			t.Errorf("columns %v: the same seed gave different orders with different Prefetch", cols)
		}
		if slices.Contains(cols, "n") || cols == nil {
			if reflect.DeepEqual(a, c) || reflect.DeepEqual(a, want) {
				t.Errorf("columns %v: the shuffle is not shuffled", cols)
			}
			if !sameRows(a, want) {
				t.Errorf("columns %v: the shuffle does not yield every row exactly once", cols)
			}
		}
	}
}

// sameRows reports whether a and b hold the same rows, told apart by column n, in any order.
func sameRows(a, b []dataset.Row) bool {
	byN := func(x, y dataset.Row) int { return int(x["n"].(int64) - y["n"].(int64)) }
	a, b = slices.Clone(a), slices.Clone(b)
	slices.SortFunc(a, byN)
	slices.SortFunc(b, byN)
	return reflect.DeepEqual(a, b)
}

func TestIterMemoryIsBoundedByPrefetchRowGroups(t *testing.T) {
	ctx := context.Background()
	ds, b, dir := streamDataset(t, 3000, 64<<10, 3<<20) // 3 files of ~3 MiB, ~90 row groups
	files := ds.Info().Files
	for _, cols := range [][]string{nil, {"n"}, {"n", "payload"}} {
		for _, prefetch := range []int{1, 2, 5} {
			t.Run(fmt.Sprintf("%v/prefetch=%d", cols, prefetch), func(t *testing.T) {
				rows, bytes := groupLayout(t, ds, dir, cols...)
				cb := &countingBucket{inner: b}
				rds := openVersion(t, cb, ds.Version())
				tails := int64(len(files)) * (256 << 10)
				var seen, group, groupEnd int64
				for r, err := range rds.Iter(ctx, dataset.IterOptions{Columns: cols, Prefetch: prefetch}) {
					if err != nil {
						t.Fatal(err)
					}
					for seen == groupEnd {
						groupEnd += rows[group]
						group++
					}
					seen++
					// Rows of group-1 are being yielded: at most prefetch groups are held.
					var allowed int64
					for g := 0; g < min(len(bytes), int(group)-1+prefetch); g++ {
						allowed += bytes[g]
					}
					if got := cb.stats().bytes; got > allowed+tails {
						t.Fatalf("at row %d (row group %d) %d bytes were read, want at most %d (%d row groups ahead)", seen-1, group-1, got, allowed+tails, prefetch)
					}
					_ = r
				}
				st := cb.stats()
				if seen != ds.Len() {
					t.Fatalf("%d rows, want %d", seen, ds.Len())
				}
				if st.maxOpen > prefetch+1 {
					t.Errorf("%d ranged reads at once, want at most Prefetch+1 = %d", st.maxOpen, prefetch+1)
				}
				var largest, total int64
				for _, n := range bytes {
					largest, total = max(largest, n), total+n
				}
				if st.maxRead > max(largest, 256<<10) {
					t.Errorf("a read of %d bytes, want at most a row group's %d (or the tail)", st.maxRead, largest)
				}
				if st.bytes > total+tails {
					t.Errorf("read %d bytes for %d bytes of wanted column chunks", st.bytes, total)
				}
			})
		}
	}
}

func TestIterBreakStopsFetches(t *testing.T) {
	ctx := context.Background()
	ds, b, dir := streamDataset(t, 3000, 64<<10, 3<<20)
	size := map[string]int64{}
	for _, f := range ds.Info().Files {
		size[f.Path] = f.Bytes
	}
	rows, _ := groupLayout(t, ds, dir)
	if len(rows) < 4 {
		t.Fatalf("%d row groups, want several", len(rows))
	}
	// Reads of the first row group (right after the magic number) and of the tails pass.
	firstEnd := firstGroupEnd(t, filepath.Join(dir, ds.Info().Files[0].Path))
	pass := func(key string, off, n int64) bool {
		return (key == ds.Info().Files[0].Path && off+n <= firstEnd) || off+n == size[key]
	}
	cb := &countingBucket{inner: b, pass: pass, blocked: make(chan struct{})}
	rds := openVersion(t, cb, ds.Version())
	n := 0
	for _, err := range rds.Iter(ctx, dataset.IterOptions{Prefetch: 4}) {
		if err != nil {
			t.Fatal(err)
		}
		<-cb.blocked // a fetch of a later row group is waiting
		if n++; n == 3 {
			break
		}
	}
	st := cb.stats()
	if st.open != 0 || st.active != 0 {
		t.Errorf("after breaking out, %d readers are open and %d reads are running", st.open, st.active)
	}
	if st.blockedCalls == 0 || st.cancelledCalls != st.blockedCalls {
		t.Errorf("%d reads were blocked and %d of them cancelled, want all of them", st.blockedCalls, st.cancelledCalls)
	}
}

func TestIterNamesCorruptRowGroups(t *testing.T) {
	ctx := context.Background()
	ds, _, dir := streamDataset(t, 600, 40<<10, 300<<10)
	files := ds.Info().Files
	if len(files) < 2 {
		t.Fatalf("%d data files, want several", len(files))
	}
	// Garbage over the first page header of the second file's second row group.
	bad := filepath.Join(dir, files[1].Path)
	pf, err := file.OpenParquetFile(bad, false)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := pf.MetaData().RowGroup(1).ColumnChunk(0)
	if err != nil {
		t.Fatal(err)
	}
	pf.Close()
	f, err := os.OpenFile(bad, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte(strings.Repeat("\xff", 64)), cc.DataPageOffset()); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var n int64
	var errs []error
	for r, err := range ds.Iter(ctx, dataset.IterOptions{Prefetch: 3}) {
		if err != nil {
			if r != nil {
				t.Errorf("the error came with row %v", r)
			}
			errs = append(errs, err)
			continue
		}
		if len(errs) > 0 {
			t.Fatal("a row after the error")
		}
		n++
	}
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), files[1].Path) {
		t.Fatalf("errors %v, want one naming %s", errs, files[1].Path)
	}
	if n < files[0].Rows || n >= files[0].Rows+files[1].Rows {
		t.Errorf("%d rows before the error, want the first file's %d and part of the second", n, files[0].Rows)
	}
	// A truncated file: its footer is not where the manifest's size says.
	if err := os.Truncate(bad, files[1].Bytes/2); err != nil {
		t.Fatal(err)
	}
	for r, err := range ds.Iter(ctx, dataset.IterOptions{Columns: []string{"n"}}) {
		if err != nil {
			if r != nil || !strings.Contains(err.Error(), files[1].Path) {
				t.Errorf("reading a truncated file: %v, %v; want an error naming %s", r, err, files[1].Path)
			}
			break
		}
	}
}

// openVersion opens version v of the dataset in b, through a bucket wrapper that
// implements reading only.
func openVersion(t *testing.T, b *countingBucket, v int64) *dataset.Dataset {
	t.Helper()
	ds, err := dataset.OpenVersion(context.Background(), blob.NewBucket(b), v, dataset.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// countingBucket reads from inner and counts the reads of data files: bytes, the longest
// read, readers open at once. With blocked set, the reads of data files that pass rejects
// wait until their context is done, and the first of them closes blocked.
type countingBucket struct {
	driver.Bucket // nil: only reading is implemented
	inner         *blob.Bucket
	pass          func(key string, off, n int64) bool
	blocked       chan struct{}

	mu sync.Mutex
	st bucketStats
}

type bucketStats struct {
	reads, open, maxOpen, active int
	bytes, maxRead               int64
	blockedCalls, cancelledCalls int
}

func (b *countingBucket) stats() bucketStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.st
}

func (b *countingBucket) ErrorCode(err error) gcerrors.ErrorCode { return gcerrors.Code(err) }
func (b *countingBucket) As(any) bool                            { return false }
func (b *countingBucket) ErrorAs(error, any) bool                { return false }
func (b *countingBucket) Close() error                           { return nil }

func (b *countingBucket) NewRangeReader(ctx context.Context, key string, off, n int64, _ *driver.ReaderOptions) (driver.Reader, error) {
	if !strings.HasPrefix(key, "data/") {
		return b.open(ctx, key, off, n)
	}
	b.mu.Lock()
	b.st.active++
	b.st.reads++
	block := b.blocked != nil && !b.pass(key, off, n)
	if block {
		if b.st.blockedCalls++; b.st.blockedCalls == 1 {
			close(b.blocked)
		}
	}
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.st.active--
		b.mu.Unlock()
	}()
	if block {
		<-ctx.Done()
		b.mu.Lock()
		b.st.cancelledCalls++
		b.mu.Unlock()
		return nil, ctx.Err()
	}
	r, err := b.open(ctx, key, off, n)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.st.open++
	b.st.maxOpen = max(b.st.maxOpen, b.st.open)
	if n < 0 {
		n = r.Size() - off
	}
	b.st.maxRead = max(b.st.maxRead, n)
	b.mu.Unlock()
	return &countedReader{reader: r, b: b}, nil
}

func (b *countingBucket) open(ctx context.Context, key string, off, n int64) (*reader, error) {
	r, err := b.inner.NewRangeReader(ctx, key, off, n, nil)
	if err != nil {
		return nil, err
	}
	return &reader{r}, nil
}

// reader is a blob.Reader as a driver.Reader.
type reader struct{ *blob.Reader }

func (r *reader) As(any) bool { return false }
func (r *reader) Attributes() *driver.ReaderAttributes {
	return &driver.ReaderAttributes{ContentType: r.ContentType(), ModTime: r.ModTime(), Size: r.Size()}
}

// countedReader counts the bytes read and the readers open in b.
type countedReader struct {
	*reader
	b    *countingBucket
	once sync.Once
}

func (r *countedReader) Read(p []byte) (int, error) {
	n, err := r.reader.Read(p)
	r.b.mu.Lock()
	r.b.st.bytes += int64(n)
	r.b.mu.Unlock()
	return n, err
}

func (r *countedReader) Close() error {
	r.once.Do(func() {
		r.b.mu.Lock()
		r.b.st.open--
		r.b.mu.Unlock()
	})
	return r.reader.Close()
}

// mediaSchema has image and bytes columns, required and nullable, which Iter reads page by
// page itself, between columns it leaves to arrow-go.
var mediaSchema = dataset.NewSchema(
	dataset.Column{Name: "id", Type: dataset.T(dataset.Int64)},
	dataset.Column{Name: "image", Type: dataset.T(dataset.Image)},
	dataset.Column{Name: "label", Type: dataset.T(dataset.Text), Nullable: true},
	dataset.Column{Name: "blob", Type: dataset.T(dataset.Bytes)},
	dataset.Column{Name: "thumb", Type: dataset.T(dataset.Image), Nullable: true},
	dataset.Column{Name: "extra", Type: dataset.T(dataset.Bytes), Nullable: true},
)

// mediaRow is row i of a media dataset: an image of 0 to ~600 KiB (more than a page, and
// sometimes many to a page) and a blob of 0 to 2 KiB.
func mediaRow(i int) dataset.Row {
	r := rand.New(rand.NewPCG(uint64(i), 2))
	img := make([]byte, []int{0, 40, 5 << 10, 90 << 10, 600 << 10}[i%5]+r.IntN(100))
	for j := range img {
		img[j] = byte(r.Uint32())
	}
	blob := make([]byte, r.IntN(2048))
	for j := range blob {
		blob[j] = byte(j % 7)
	}
	label := any(fmt.Sprintf("l%d", i%3))
	if i%4 == 0 {
		label = nil
	}
	var thumb, extra any // null in some rows, differently
	if i%3 != 0 {
		thumb = dataset.ImageValue{Format: "webp", Data: img[:len(img)/4]}
	}
	if i%4 != 1 {
		extra = blob[:len(blob)/2]
	}
	return dataset.Row{"id": int64(i), "image": dataset.ImageValue{Format: []string{"jpeg", "png"}[i%2], Data: img}, "label": label, "blob": blob, "thumb": thumb, "extra": extra}
}

func TestIterReadsImagesAndBytes(t *testing.T) {
	for _, p := range peers[:2] {
		t.Run(p.name, func(t *testing.T) {
			ctx := context.Background()
			b, opts := p.open(t)
			ds, err := dataset.Create(ctx, b, mediaSchema, opts)
			if err != nil {
				t.Fatal(err)
			}
			w := ds.Appender(dataset.AppenderOptions{RowGroupBytes: 1 << 20, FileBytes: 3 << 20})
			defer w.Close()
			const n = 60
			for i := range n {
				if err := w.Append(ctx, mediaRow(i)); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := w.Commit(ctx, "media"); err != nil {
				t.Fatal(err)
			}
			for _, cols := range [][]string{nil, {"image"}, {"blob", "id"}, {"label"}, {"thumb", "extra"}} {
				got := iterAll(t, ds, dataset.IterOptions{Columns: cols, Prefetch: 3})
				if len(got) != n {
					t.Fatalf("columns %v: %d rows, want %d", cols, len(got), n)
				}
				for i, r := range got {
					want := mediaRow(i)
					if len(cols) > 0 {
						want = project(want, cols)
					}
					if !reflect.DeepEqual(r, want) {
						t.Fatalf("columns %v: row %d differs from the row appended", cols, i)
					}
				}
			}
		})
	}
}

// project returns the columns cols of r.
func project(r dataset.Row, cols []string) dataset.Row {
	out := dataset.Row{}
	for _, c := range cols {
		out[c] = r[c]
	}
	return out
}
