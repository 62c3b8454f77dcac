package dataset

import (
	"cmp"
	"container/heap"
	"context"
	"errors"
	"fmt"
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
// and only the chunks of the column and of the filter's columns are read: each data file's
// tail, then one ranged read per run of adjacent chunks of a row group. The result does not
// depend on the number of workers. At most one NearestOptions may be given.
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
		return ds.searchTasks(gctx, m.Files, s, workers, tasks)
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

// searchTask is one row group of a data file to search: the group's task for the columns
// of the search, and the dataset row number of its first row.
type searchTask struct {
	groupTask
	first int64
}

// searchTasks plans the data files, up to workers at once, and sends a task for each of
// their row groups, reading the column and those the filter reads.
func (ds *Dataset) searchTasks(ctx context.Context, files []File, s *search, workers int, tasks chan<- searchTask) error {
	cols := append([]Column{s.col}, slices.DeleteFunc(slices.Clone(s.cols), func(c Column) bool { return c.Name == s.col.Name })...)
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	var first int64
	for _, f := range files {
		at := first
		first += f.Rows
		g.Go(func() error {
			groups, err := ds.planFile(ctx, f, cols)
			if err != nil {
				return err
			}
			for _, t := range groups {
				select {
				case tasks <- searchTask{t, at + t.lo}:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// searchGroup fetches the chunks of task t's row group and adds its rows that pass the
// filter to top.
func (ds *Dataset) searchGroup(ctx context.Context, s *search, t searchTask, top *topK) error {
	fg, err := ds.fetchGroup(ctx, t.groupTask)
	if err != nil {
		return err
	}
	var keep []bool
	if s.filter != nil {
		ft := t.groupTask // the filter's columns: the search's column only when it reads it
		if _, ok := findColumn(s.cols, s.col.Name); !ok {
			ft.arrow = slices.DeleteFunc(slices.Clone(ft.arrow), func(c Column) bool { return c.Name == s.col.Name })
		}
		rows, err := ds.decodeGroup(ctx, ft, fg)
		if err != nil {
			return err
		}
		keep = make([]bool, len(rows))
		for i, r := range rows {
			keep[i] = s.filter(r)
		}
	}
	return scanGroup(ctx, s, t, fg, keep, top)
}

// levelBatch is the number of values (and levels) scanGroup decodes at a time.
const levelBatch = 64 << 10

// scanGroup reads the column's chunk in task t's row group from fg and adds the rows that
// keep allows (all when nil) to top. It decodes the Parquet leaf column (the list's float
// values, with their repetition and definition levels) straight into reused buffers. It
// never panics on a corrupt file.
func scanGroup(ctx context.Context, s *search, t searchTask, fg fetchedGroup, keep []bool, top *topK) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fileError(t.f, fmt.Errorf("corrupt: %v", p))
		}
	}()
	leaves, _ := fileLeaves(t.md.Schema, []Column{s.col})
	if len(leaves) == 0 {
		if !s.col.Nullable {
			return fileError(t.f, fmt.Errorf("column %q is missing and not nullable", s.col.Name))
		}
		return nil // written before the column was added: every value is null
	}
	if c := t.md.Schema.Column(leaves[0]); c.PhysicalType() != parquet.Types.Float || c.MaxRepetitionLevel() != 1 {
		return fileError(t.f, fmt.Errorf("column %q is stored as %s with repetition level %d, want a list of float", s.col.Name, c.PhysicalType(), c.MaxRepetitionLevel()))
	}
	pr, err := file.NewParquetReader(fg.spans.reader(), t.readOptions()...)
	if err != nil {
		return fileError(t.f, err)
	}
	defer pr.Close()
	cc, err := pr.RowGroup(t.group).Column(leaves[0])
	if err != nil {
		return fileError(t.f, err)
	}
	cr := cc.(*file.Float32ColumnChunkReader) // checked above
	maxDef := cr.Descriptor().MaxDefinitionLevel()
	dim := s.col.Type.Dim
	vals := make([]float32, levelBatch)
	defs, reps := make([]int16, levelBatch), make([]int16, levelBatch)
	vec := make([]float32, 0, dim)
	n := 0           // values of the row at hand; vec holds the first dim
	row := int64(-1) // the row at hand, within the group
	rows := t.hi - t.lo
	finish := func() error {
		switch {
		case row < 0 || (n == 0 && s.col.Nullable) || (keep != nil && !keep[row]):
		case n != dim:
			return fileError(t.f, fmt.Errorf("column %q: row %d holds %d values, want %d", s.col.Name, t.lo+row, n, dim))
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
			return fileError(t.f, err)
		}
		v := 0
		for i := range levels {
			if reps[i] == 0 {
				if err := finish(); err != nil {
					return err
				}
				row, n, vec = row+1, 0, vec[:0]
				if row >= rows {
					return fileError(t.f, fmt.Errorf("row group %d holds more than %d rows", t.group, rows))
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
		return fileError(t.f, err)
	}
	if err := finish(); err != nil {
		return err
	}
	if row+1 != rows {
		return fileError(t.f, fmt.Errorf("row group %d ended at row %d, want %d", t.group, row+1, rows))
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
