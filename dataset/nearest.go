package dataset

import (
	"cmp"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"

	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"golang.org/x/sync/errgroup"
)

// Metric is how Nearest measures the distance between the query vector q and an embedding
// e. Every metric is a distance: smaller is nearer.
type Metric string

const (
	// Cosine is the cosine distance 1 − q·e / (|q| |e|), from 0 (same direction) to 2
	// (opposite). An all-zero embedding is at distance 1; an all-zero query is refused.
	Cosine Metric = "cosine"
	// L2 is the Euclidean distance |q − e|.
	L2 Metric = "l2"
	// Dot is the negated inner product −q·e, so the largest inner product comes first.
	Dot Metric = "dot"
)

// Neighbour is one result of Nearest.
type Neighbour struct {
	// Row is the row number (0 ≤ Row < Len), as Row and Rows take it.
	Row int64
	// Distance is the row's distance from the query vector under the metric.
	Distance float64
}

// NearestOptions are the optional arguments of Nearest. The zero value searches every row
// with GOMAXPROCS workers, at least 4.
type NearestOptions struct {
	// Filter, when set, restricts the search to the rows for which it returns true. It sees
	// each row with the columns in Columns only, and is called from several goroutines at
	// once.
	Filter func(Row) bool
	// Columns are the columns Filter reads; empty means every column.
	Columns []string
	// Workers is the number of row groups searched at once; zero means GOMAXPROCS, at
	// least 4, so that reads overlap with computation.
	Workers int
}

// Nearest returns the k rows whose values in the embedding column are nearest to vector
// under metric, nearest first; ties go to the smaller row number. Nulls (and rows of data
// files written before the column was added) are skipped, as are rows whose distance is NaN,
// so fewer than k neighbours come back when fewer rows qualify. The search is exact: the
// row groups of every data file are searched in parallel, each worker keeping its own top k,
// and only the column's chunks are read, with ranged reads for large files. The result does
// not depend on the number of workers. At most one NearestOptions may be given.
//
// It fails, before reading any data, for an unknown column, a column that is not an
// embedding, a vector whose length is not the column's dimension or that holds NaN or
// infinity, an all-zero vector under Cosine, k < 1, or an unknown metric; and, naming the
// file, for a missing or corrupt data file.
func (ds *Dataset) Nearest(ctx context.Context, column string, vector []float32, k int, metric Metric, opts ...NearestOptions) ([]Neighbour, error) {
	if len(opts) > 1 {
		return nil, errors.New("nearest takes at most one NearestOptions")
	}
	var o NearestOptions
	if len(opts) == 1 {
		o = opts[0]
	}
	m := ds.current()
	s, err := newSearch(m.Schema, column, vector, k, metric, o)
	if err != nil {
		return nil, err
	}
	workers := o.Workers
	if workers <= 0 {
		workers = max(runtime.GOMAXPROCS(0), 4)
	}
	g, gctx := errgroup.WithContext(ctx)
	tasks := make(chan searchTask)
	g.Go(func() error {
		defer close(tasks)
		return ds.searchTasks(gctx, m.Files, s.col, workers, tasks)
	})
	tops := make([]topK, workers)
	for w := range tops {
		tops[w] = topK{k: k}
		g.Go(func() error {
			for t := range tasks {
				if err := ds.searchGroup(gctx, s, t, &tops[w]); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return s.results(tops), nil
}

// search is one validated Nearest call.
type search struct {
	col    Column
	vector []float32
	norm   float32 // |vector|, for Cosine
	metric Metric
	k      int
	filter func(Row) bool
	cols   []Column // the columns filter reads
}

func newSearch(sc Schema, column string, vector []float32, k int, metric Metric, o NearestOptions) (*search, error) {
	c, ok := sc.Column(column)
	if !ok {
		return nil, fmt.Errorf("unknown column %q", column)
	}
	if c.Type.Kind != Embedding {
		return nil, fmt.Errorf("column %q is %s, not an embedding: nearest-neighbour search needs an embedding column", column, c.Type)
	}
	if len(vector) != c.Type.Dim {
		return nil, fmt.Errorf("the vector has %d values but column %q is %s: give %d values", len(vector), column, c.Type, c.Type.Dim)
	}
	for i, x := range vector {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil, fmt.Errorf("the vector holds %v at index %d: give finite values", x, i)
		}
	}
	if k < 1 {
		return nil, fmt.Errorf("k is %d: ask for at least 1 neighbour", k)
	}
	s := &search{col: c, vector: vector, metric: metric, k: k, filter: o.Filter}
	switch metric {
	case Cosine:
		s.norm = float32(math.Sqrt(float64(dot(vector, vector))))
		if s.norm == 0 {
			return nil, errors.New("the vector is all zeros: cosine distance is undefined for it; use l2 or dot")
		}
	case L2, Dot:
	default:
		return nil, fmt.Errorf("unknown metric %q: use %s, %s or %s", metric, Cosine, L2, Dot)
	}
	if o.Filter != nil {
		cols, err := project(sc, o.Columns)
		if err != nil {
			return nil, err
		}
		s.cols = cols
	} else if len(o.Columns) > 0 {
		return nil, errors.New("NearestOptions.Columns is set without a Filter: set both or neither")
	}
	return s, nil
}

// key is the ordering key of embedding e: the distance, or, for L2, its square.
func (s *search) key(e []float32) float32 {
	switch s.metric {
	case Cosine:
		d, n := dotNorm(s.vector, e)
		if n == 0 {
			return 1
		}
		return 1 - d/(s.norm*float32(math.Sqrt(float64(n))))
	case L2:
		return l2sq(s.vector, e)
	}
	return -dot(s.vector, e)
}

// results merges the workers' top ks into the k nearest, as distances.
func (s *search) results(tops []topK) []Neighbour {
	var all []candidate
	for _, t := range tops {
		all = append(all, t.h...)
	}
	slices.SortFunc(all, compareCandidates)
	all = all[:min(len(all), s.k)]
	out := make([]Neighbour, len(all))
	for i, c := range all {
		d := float64(c.key)
		if s.metric == L2 {
			d = math.Sqrt(d)
		}
		out[i] = Neighbour{Row: c.row, Distance: d}
	}
	return out
}

// searchTask is one row group of a data file to search.
type searchTask struct {
	file  File
	src   parquet.ReaderAtSeeker
	pr    *file.Reader
	leaf  int   // the column's leaf in the file
	group int   // the row group
	first int64 // dataset row number of the group's first row
	lo    int64 // the group's first row within the file
	rows  int64
}

// searchTasks opens the data files, up to workers at once, and sends a task for each row
// group of each file that holds col. The readers stay open until the search ends.
func (ds *Dataset) searchTasks(ctx context.Context, files []File, col Column, workers int, tasks chan<- searchTask) error {
	var g errgroup.Group // not WithContext: the readers use ctx after Wait
	g.SetLimit(workers)
	var first int64
	for _, f := range files {
		at := first
		first += f.Rows
		g.Go(func() error { return ds.fileTasks(ctx, f, at, col, tasks) })
	}
	return g.Wait()
}

// fileTasks opens data file f, whose first row is row first of the dataset, and sends a task
// for each of its row groups.
func (ds *Dataset) fileTasks(ctx context.Context, f File, first int64, col Column, tasks chan<- searchTask) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fileError(f, fmt.Errorf("corrupt: %v", p))
		}
	}()
	src, err := ds.source(ctx, f)
	if err != nil {
		return err
	}
	pr, err := file.NewParquetReader(src)
	if err != nil {
		return fileError(f, err)
	}
	if pr.NumRows() != f.Rows {
		return fileError(f, fmt.Errorf("holds %d rows, the manifest says %d", pr.NumRows(), f.Rows))
	}
	leaf := -1
	sc := pr.MetaData().Schema
	for i := 0; i < sc.NumColumns(); i++ {
		if sc.ColumnRoot(i).Name() == col.Name {
			leaf = i
		}
	}
	if leaf < 0 {
		if !col.Nullable {
			return fileError(f, fmt.Errorf("column %q is missing and not nullable", col.Name))
		}
		return nil // written before the column was added: every value is null
	}
	if c := sc.Column(leaf); c.PhysicalType() != parquet.Types.Float || c.MaxRepetitionLevel() != 1 {
		return fileError(f, fmt.Errorf("column %q is stored as %s with repetition level %d, want a list of float", col.Name, c.PhysicalType(), c.MaxRepetitionLevel()))
	}
	var lo int64
	for g := 0; g < pr.NumRowGroups(); g++ {
		n := pr.MetaData().RowGroup(g).NumRows()
		t := searchTask{file: f, src: src, pr: pr, leaf: leaf, group: g, first: first + lo, lo: lo, rows: n}
		select {
		case tasks <- t:
		case <-ctx.Done():
			return ctx.Err()
		}
		lo += n
	}
	return nil
}

// searchGroup adds the rows of task t's row group that pass the filter to top.
func (ds *Dataset) searchGroup(ctx context.Context, s *search, t searchTask, top *topK) error {
	var keep []bool
	if s.filter != nil {
		keep = make([]bool, 0, t.rows)
		src := io.NewSectionReader(t.src, 0, t.file.Bytes) // a Seek of its own: t.src is shared
		err := ds.readFile(ctx, t.file, src, s.cols, t.lo, t.lo+t.rows, func(r Row) error {
			keep = append(keep, s.filter(r))
			return nil
		})
		if err != nil {
			return err
		}
	}
	return scanGroup(ctx, s, t, keep, top)
}

// levelBatch is the number of values (and levels) scanGroup decodes at a time.
const levelBatch = 64 << 10

// scanGroup reads the column's chunk in task t's row group and adds the rows that keep
// allows (all when nil) to top. It decodes the Parquet leaf column (the list's float
// values, with their repetition and definition levels) straight into reused buffers. It
// never panics on a corrupt file.
func scanGroup(ctx context.Context, s *search, t searchTask, keep []bool, top *topK) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fileError(t.file, fmt.Errorf("corrupt: %v", p))
		}
	}()
	cc, err := t.pr.RowGroup(t.group).Column(t.leaf)
	if err != nil {
		return fileError(t.file, err)
	}
	cr := cc.(*file.Float32ColumnChunkReader) // fileTasks checked the physical type
	maxDef := cr.Descriptor().MaxDefinitionLevel()
	dim := s.col.Type.Dim
	vals := make([]float32, levelBatch)
	defs, reps := make([]int16, levelBatch), make([]int16, levelBatch)
	vec := make([]float32, 0, dim)
	n := 0           // values of the row at hand; vec holds the first dim
	row := int64(-1) // the row at hand, within the group
	finish := func() error {
		switch {
		case row < 0 || (n == 0 && s.col.Nullable) || (keep != nil && !keep[row]):
		case n != dim:
			return fileError(t.file, fmt.Errorf("column %q: row %d holds %d values, want %d", s.col.Name, t.lo+row, n, dim))
		default:
			if key := s.key(vec); !math.IsNaN(float64(key)) {
				top.add(candidate{key: key, row: t.first + row})
			}
		}
		return nil
	}
	for cr.HasNext() {
		if err := ctx.Err(); err != nil {
			return err
		}
		levels, _, err := cr.ReadBatch(levelBatch, vals, defs, reps)
		if err != nil {
			return fileError(t.file, err)
		}
		v := 0
		for i := range levels {
			if reps[i] == 0 {
				if err := finish(); err != nil {
					return err
				}
				row, n, vec = row+1, 0, vec[:0]
				if row >= t.rows {
					return fileError(t.file, fmt.Errorf("row group %d holds more than %d rows", t.group, t.rows))
				}
			}
			if defs[i] == maxDef {
				if n++; n <= dim {
					vec = append(vec, vals[v])
				}
				v++
			}
		}
	}
	if err := cr.Err(); err != nil {
		return fileError(t.file, err)
	}
	if err := finish(); err != nil {
		return err
	}
	if row+1 != t.rows {
		return fileError(t.file, fmt.Errorf("row group %d ended at row %d, want %d", t.group, row+1, t.rows))
	}
	return nil
}

// candidate is a row and its ordering key.
type candidate struct {
	key float32
	row int64
}

// compareCandidates orders by key, then by row number.
func compareCandidates(a, b candidate) int {
	if c := cmp.Compare(a.key, b.key); c != 0 {
		return c
	}
	return cmp.Compare(a.row, b.row)
}

// topK keeps the k least candidates added, in a heap with the greatest at the root.
type topK struct {
	k int
	h []candidate
}

func (t *topK) add(c candidate) {
	if len(t.h) < t.k {
		heap.Push(t, c)
		return
	}
	if compareCandidates(c, t.h[0]) < 0 {
		t.h[0] = c
		heap.Fix(t, 0)
	}
}

func (t *topK) Len() int           { return len(t.h) }
func (t *topK) Less(i, j int) bool { return compareCandidates(t.h[i], t.h[j]) > 0 }
func (t *topK) Swap(i, j int)      { t.h[i], t.h[j] = t.h[j], t.h[i] }
func (t *topK) Push(x any)         { t.h = append(t.h, x.(candidate)) }
func (t *topK) Pop() any           { x := t.h[len(t.h)-1]; t.h = t.h[:len(t.h)-1]; return x }

// dot returns a·b for vectors of the same length.
func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// dotNorm returns a·b and b·b for vectors of the same length.
func dotNorm(a, b []float32) (float32, float32) {
	b = b[:len(a)]
	var d0, d1, n0, n1 float32
	i := 0
	for ; i+2 <= len(a); i += 2 {
		d0 += a[i] * b[i]
		d1 += a[i+1] * b[i+1]
		n0 += b[i] * b[i]
		n1 += b[i+1] * b[i+1]
	}
	for ; i < len(a); i++ {
		d0 += a[i] * b[i]
		n0 += b[i] * b[i]
	}
	return d0 + d1, n0 + n1
}

// l2sq returns |a − b|² for vectors of the same length.
func l2sq(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		d0, d1, d2, d3 := a[i]-b[i], a[i+1]-b[i+1], a[i+2]-b[i+2], a[i+3]-b[i+3]
		s0 += d0 * d0
		s1 += d1 * d1
		s2 += d2 * d2
		s3 += d3 * d3
	}
	for ; i < len(a); i++ {
		d := a[i] - b[i]
		s0 += d * d
	}
	return (s0 + s1) + (s2 + s3)
}
