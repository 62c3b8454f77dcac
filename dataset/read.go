package dataset

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"math/rand/v2"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/apache/arrow-go/v18/parquet/schema"
	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

// Row returns row i (0 ≤ i < Len) with every column, or only the named ones.
func (ds *Dataset) Row(ctx context.Context, i int64, columns ...string) (Row, error) {
	rows, err := ds.Rows(ctx, i, i+1, columns...)
	if err != nil {
		return nil, err
	}
	return rows[0], nil
}

// Rows returns rows [start, end) with every column, or only the named ones. It reads only
// the row groups that hold those rows, with ranged reads. It fails, naming the column or
// file, for an unknown column, a range outside [0, Len], or a missing or corrupt data file.
func (ds *Dataset) Rows(ctx context.Context, start, end int64, columns ...string) ([]Row, error) {
	m := ds.current()
	cols, err := project(m.Schema, columns)
	if err != nil {
		return nil, err
	}
	if start < 0 || end > m.Rows || start > end {
		return nil, fmt.Errorf("rows [%d, %d) are outside the dataset's %d rows", start, end, m.Rows)
	}
	out := make([]Row, 0, end-start)
	var first int64 // first row of the file
	for _, f := range m.Files {
		if first >= end {
			break
		}
		if first+f.Rows > start {
			lo, hi := max(start-first, 0), min(end-first, f.Rows)
			src, err := ds.source(ctx, f)
			if err != nil {
				return nil, err
			}
			err = ds.readFile(ctx, f, src, cols, lo, hi, func(r Row) error {
				out = append(out, r)
				return nil
			})
			if err != nil {
				return nil, err
			}
		}
		first += f.Rows
	}
	return out, nil
}

// project returns the named columns of s, or all of them.
func project(s Schema, names []string) ([]Column, error) {
	if len(names) == 0 {
		return s.Columns, nil
	}
	cols := make([]Column, len(names))
	for i, n := range names {
		c, ok := s.Column(n)
		if !ok {
			return nil, fmt.Errorf("unknown column %q", n)
		}
		cols[i] = c
	}
	return cols, nil
}

// blobRange reads a data file with ranged reads.
type blobRange struct {
	ctx  context.Context
	b    *blob.Bucket
	key  string
	size int64
	off  int64
}

// wholeFileBytes is the size up to which a data file is read with one request rather than
// with a ranged read per column chunk.
const wholeFileBytes = 8 << 20

// source returns a reader of data file f: the whole file when it is small, ranged reads of
// the bucket otherwise.
func (ds *Dataset) source(ctx context.Context, f File) (parquet.ReaderAtSeeker, error) {
	if f.Bytes > wholeFileBytes {
		return &blobRange{ctx: ctx, b: ds.b, key: f.Path, size: f.Bytes}, nil
	}
	data, err := ds.b.ReadAll(ctx, f.Path)
	if err != nil {
		return nil, fileError(f, err)
	}
	return bytes.NewReader(data), nil
}

func (r *blobRange) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= r.size {
		return 0, io.EOF
	}
	n := int64(len(p))
	if off+n > r.size {
		n = r.size - off
	}
	rr, err := r.b.NewRangeReader(r.ctx, r.key, off, n, nil)
	if err != nil {
		return 0, err
	}
	defer rr.Close()
	got, err := io.ReadFull(rr, p[:n])
	if err == nil && got < len(p) {
		err = io.EOF
	}
	return got, err
}

func (r *blobRange) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.size
	}
	if offset < 0 {
		return 0, errors.New("negative seek")
	}
	r.off = offset
	return offset, nil
}

// fileError describes a failure to read data file f.
func fileError(f File, err error) error {
	if gcerrors.Code(err) == gcerrors.NotFound {
		return fmt.Errorf("data file %s is missing", f.Path)
	}
	return fmt.Errorf("data file %s: %w", f.Path, err)
}

// readFile calls emit with rows [lo, hi) of data file f, read from src, with columns cols.
// Columns the file lacks (added after it was written) are null. It never panics on a
// corrupt file.
func (ds *Dataset) readFile(ctx context.Context, f File, src parquet.ReaderAtSeeker, cols []Column, lo, hi int64, emit func(Row) error, opts ...file.ReadOption) (err error) {
	inEmit := false // a panic in emit is the caller's (a loop body): let it through
	defer func() {
		if p := recover(); p != nil {
			if inEmit {
				panic(p)
			}
			err = fileError(f, fmt.Errorf("corrupt: %v", p))
		}
	}()
	emit0 := emit
	emit = func(r Row) error {
		inEmit = true
		err := emit0(r)
		inEmit = false
		return err
	}
	pr, err := file.NewParquetReader(src, opts...)
	if err != nil {
		return fileError(f, err)
	}
	defer pr.Close()
	if pr.NumRows() != f.Rows {
		return fileError(f, fmt.Errorf("holds %d rows, the manifest says %d", pr.NumRows(), f.Rows))
	}
	fr, err := pqarrow.NewFileReader(pr, pqarrow.ArrowReadProperties{BatchSize: 1024, PreAllocBinaryData: true}, memory.DefaultAllocator)
	if err != nil {
		return fileError(f, err)
	}
	leaves, present := fileLeaves(pr.MetaData().Schema, cols)
	for _, c := range cols {
		if !present[c.Name] && !c.Nullable {
			return fileError(f, fmt.Errorf("column %q is missing and not nullable", c.Name))
		}
	}
	// The row groups that hold [lo, hi).
	var groups []int
	var first int64 = -1
	var at int64
	for g := 0; g < pr.NumRowGroups(); g++ {
		n := pr.MetaData().RowGroup(g).NumRows()
		if at < hi && at+n > lo {
			if first < 0 {
				first = at
			}
			groups = append(groups, g)
		}
		at += n
	}
	if len(groups) == 0 {
		return nil
	}
	if len(leaves) == 0 { // only columns the file lacks: every value is null
		for i := lo; i < hi; i++ {
			if err := emit(nullRow(cols)); err != nil {
				return err
			}
		}
		return nil
	}
	rr, err := fr.GetRecordReader(ctx, leaves, groups)
	if err != nil {
		return fileError(f, err)
	}
	defer rr.Release()
	row := first
	for rr.Next() {
		rec := rr.RecordBatch()
		arrays := make([]arrow.Array, len(cols))
		for j, c := range cols {
			if !present[c.Name] {
				continue
			}
			idx := rec.Schema().FieldIndices(c.Name)
			if len(idx) != 1 {
				return fileError(f, fmt.Errorf("column %q is missing", c.Name))
			}
			a := rec.Column(idx[0])
			if !arrow.TypeEqual(a.DataType(), c.arrow()) {
				return fileError(f, fmt.Errorf("column %q has Arrow type %s, want %s for %s", c.Name, a.DataType(), c.arrow(), c.Type))
			}
			arrays[j] = a
		}
		n := int(rec.NumRows())
		for i := 0; i < n; i, row = i+1, row+1 {
			if row < lo {
				continue
			}
			if row >= hi {
				return nil
			}
			r := make(Row, len(cols))
			for j, c := range cols {
				if arrays[j] == nil {
					r[c.Name] = nil
					continue
				}
				v, err := value(c, arrays[j], i)
				if err != nil {
					return fileError(f, fmt.Errorf("column %q: %w", c.Name, err))
				}
				r[c.Name] = v
			}
			if err := emit(r); err != nil {
				return err
			}
		}
	}
	if err := rr.Err(); err != nil && !errors.Is(err, io.EOF) {
		return fileError(f, err)
	}
	if row < hi {
		return fileError(f, fmt.Errorf("ended at row %d, want %d", row, hi))
	}
	return nil
}

// fileLeaves returns the leaves of each of cols that a data file of schema sc has, and the
// names of those columns.
func fileLeaves(sc *schema.Schema, cols []Column) (leaves []int, present map[string]bool) {
	present = map[string]bool{}
	for i := 0; i < sc.NumColumns(); i++ {
		name := sc.ColumnRoot(i).Name()
		if _, ok := findColumn(cols, name); ok {
			leaves = append(leaves, i)
			present[name] = true
		}
	}
	return leaves, present
}

func findColumn(cols []Column, name string) (Column, bool) {
	for _, c := range cols {
		if c.Name == name {
			return c, true
		}
	}
	return Column{}, false
}

func nullRow(cols []Column) Row {
	r := make(Row, len(cols))
	for _, c := range cols {
		r[c.Name] = nil
	}
	return r
}

// IterOptions configures Iter. The zero value streams every column in order, holding
// four row groups ahead.
type IterOptions struct {
	// Columns are the columns to read; empty means all.
	Columns []string
	// Prefetch is the number of row groups fetched concurrently and held in memory ahead
	// of the consumer; memory use is bounded by about Prefetch row groups of the wanted
	// columns, whatever the size of the data files and of the dataset. Zero means 4.
	Prefetch int
	// ShuffleBuffer, when positive, shuffles: data files are visited in a random order, the
	// row groups of each in a random order, and rows pass through a buffer of this many rows
	// from which each yielded row is drawn at random. The order is a function of Seed (and
	// of the dataset's version), not of Prefetch or of timing.
	ShuffleBuffer int
	// Seed seeds the shuffle and the sample.
	Seed int64
	// Sample, when positive, makes Iter yield a random sample of this many rows instead of
	// every row: it streams the whole dataset once, holding the sample (at most Sample
	// rows) in memory, and then yields it in row order, or shuffled when ShuffleBuffer is
	// positive. The sample is a function of Seed and the dataset's version. Without
	// replacement it holds every row when the dataset has fewer than Sample (of positive
	// weight).
	Sample int
	// Replace samples with replacement: Sample independent draws, so a row may come more
	// than once (each time as its own Row).
	Replace bool
	// Weight, when set, weighs the rows of the sample: each draw picks a row with
	// probability proportional to its weight among the rows it can pick (without
	// replacement: those not drawn yet). Weights must be finite and not negative, or
	// iteration stops with an error; rows of weight 0 are never drawn. Weight sees each row
	// with the columns in Columns. Nil weighs every row the same.
	Weight func(Row) float64
}

// Iter streams the rows of the dataset's version, row group by row group: each data file's
// footer is read first, then the wanted column chunks of each row group with ranged reads
// (one per run of adjacent chunks), up to opts.Prefetch row groups at a time, fetched and
// decoded concurrently while the consumer takes earlier ones, which suits feeding a
// training loop from object storage. Iteration stops at the first error, which is yielded
// with a nil Row and names the file or column; breaking out of the loop stops the fetches
// and waits for them before Iter returns.
func (ds *Dataset) Iter(ctx context.Context, opts IterOptions) iter.Seq2[Row, error] {
	if opts.Sample > 0 {
		return ds.sample(ctx, opts)
	}
	return func(yield func(Row, error) bool) {
		m := ds.current()
		cols, err := project(m.Schema, opts.Columns)
		if err != nil {
			yield(nil, err)
			return
		}
		prefetch := opts.Prefetch
		if prefetch <= 0 {
			prefetch = 4
		}
		files := append([]File(nil), m.Files...)
		var rng, groupOrder *rand.Rand
		if opts.ShuffleBuffer > 0 {
			rng = rand.New(rand.NewPCG(uint64(opts.Seed), 0x7461726e))          // "tarn"
			groupOrder = rand.New(rand.NewPCG(uint64(opts.Seed), 0x67726f7570)) // "group"
			rng.Shuffle(len(files), func(i, j int) { files[i], files[j] = files[j], files[i] })
		}

		var buf []Row
		emit := func(r Row) bool {
			if rng == nil {
				return yield(r, nil)
			}
			if len(buf) < opts.ShuffleBuffer {
				buf = append(buf, r)
				return true
			}
			j := rng.IntN(len(buf))
			out := buf[j]
			buf[j] = r
			return yield(out, nil)
		}
		for rows, err := range ds.rowGroups(ctx, files, cols, prefetch, groupOrder) {
			if err != nil {
				yield(nil, err)
				return
			}
			for _, r := range rows {
				if !emit(r) {
					return
				}
			}
		}
		if rng != nil {
			rng.Shuffle(len(buf), func(i, j int) { buf[i], buf[j] = buf[j], buf[i] })
			for _, r := range buf {
				if !yield(r, nil) {
					return
				}
			}
		}
	}
}
