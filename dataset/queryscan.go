package dataset

import (
	"cmp"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/interpreter"
)

// Query returns the rows of the dataset's version that match q.Where, with the columns
// q.Columns, in row order or sorted by q.OrderBy, after skipping q.Offset and at most
// q.Limit of them. The expression is type-checked against the schema before any data is
// read, and its errors point at the expression. Only the columns the expression reads are
// read for every row group, and the other queried columns only for row groups with a
// matching row; row groups whose min/max statistics rule out a comparison of a column with a
// constant that the expression requires (score > 0.9 && label == "cat") are skipped
// unread, and so are the pages of the other row groups whose min/max in the page index rule
// out such a comparison. Data files are read with ranged reads: the footer, then the column
// chunks needed or, when the page index rules out some rows of a row group, its index and
// the pages of the rest.
//
// Without OrderBy the rows stream and reading stops at the Limit; with OrderBy the matching
// rows are held in memory, at most Offset+Limit of them when Limit is positive. Iteration
// stops at the first error, yielded with a zero QueryRow.
func (ds *Dataset) Query(ctx context.Context, q Query) iter.Seq2[QueryRow, error] {
	return func(yield func(QueryRow, error) bool) {
		p, err := planQuery(ds.current(), q)
		if err != nil {
			yield(QueryRow{}, err)
			return
		}
		if q.OrderBy == "" {
			skip, left := q.Offset, q.Limit
			err = ds.scan(ctx, p, func(r QueryRow) bool {
				if skip > 0 {
					skip--
					return true
				}
				if !yield(r, nil) {
					return false
				}
				left--
				return left != 0
			})
		} else {
			err = ds.sorted(ctx, p, q, yield)
		}
		if err != nil {
			yield(QueryRow{}, err)
		}
	}
}

// Count returns the number of rows of the dataset's version that match the filter
// expression where (all rows for ""), reading as Query does but only the columns where
// reads.
func (ds *Dataset) Count(ctx context.Context, where string) (int64, error) {
	m := ds.current()
	if where == "" {
		return m.Rows, nil
	}
	p, err := planQuery(m, Query{Where: where, Columns: []string{}})
	if err != nil {
		return 0, err
	}
	p.out = nil
	var n int64
	err = ds.scan(ctx, p, func(QueryRow) bool { n++; return true })
	return n, err
}

// queryPlan is a checked query on one version.
type queryPlan struct {
	m     *manifest
	f     *filter // nil: every row matches
	out   []Column
	order *Column // the OrderBy column, read with out
	drop  bool    // the OrderBy column is not in out: drop it before yielding
	stats *QueryStats
}

// planQuery checks q against version m's schema.
func planQuery(m *manifest, q Query) (*queryPlan, error) {
	if q.Limit < 0 || q.Offset < 0 {
		return nil, fmt.Errorf("query: limit %d and offset %d must not be negative", q.Limit, q.Offset)
	}
	out, err := project(m.Schema, q.Columns)
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	p := &queryPlan{m: m, out: out, stats: q.Stats}
	if p.stats == nil {
		p.stats = &QueryStats{}
	}
	if q.Where != "" {
		if p.f, err = compileFilter(m.Schema, q.Where); err != nil {
			return nil, err
		}
	}
	if q.OrderBy != "" {
		c, ok := m.Schema.Column(q.OrderBy)
		if !ok {
			return nil, fmt.Errorf("query: order by: unknown column %q", q.OrderBy)
		}
		if !prunable(c.Type.Kind) {
			return nil, fmt.Errorf("query: order by %s: a %s column cannot be sorted; sort by a number, text, link or bool column", c.Name, c.Type)
		}
		p.order = &c
		if _, ok := findColumn(out, c.Name); !ok {
			p.out = append(slices.Clip(out), c)
			p.drop = true
		}
	}
	return p, nil
}

// errStopScan ends a scan whose consumer wants no more rows.
var errStopScan = errors.New("stop")

// scan calls emit with each matching row, in row order, until it returns false.
func (ds *Dataset) scan(ctx context.Context, p *queryPlan, emit func(QueryRow) bool) error {
	var first int64
	for _, f := range p.m.Files {
		err := ds.scanFile(ctx, p, f, first, emit)
		if errors.Is(err, errStopScan) {
			return nil
		}
		if err != nil {
			return err
		}
		first += f.Rows
	}
	return ctx.Err()
}

// countingSource counts the bytes read from a data file.
type countingSource struct {
	parquet.ReaderAtSeeker
	n *int64
}

func (s countingSource) ReadAt(p []byte, off int64) (int, error) {
	n, err := s.ReaderAtSeeker.ReadAt(p, off)
	*s.n += int64(n)
	return n, err
}

// scanFile scans data file f, whose first row is row first of the version.
func (ds *Dataset) scanFile(ctx context.Context, p *queryPlan, f File, first int64, emit func(QueryRow) bool) error {
	src := countingSource{&blobRange{ctx: ctx, b: ds.b, key: f.Path, size: f.Bytes}, &p.stats.BytesRead}
	fs, err := openScan(ctx, f, src)
	if err != nil {
		return err
	}
	defer fs.pr.Close()
	at := first
	for g := 0; g < fs.pr.NumRowGroups(); g++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := fs.pr.MetaData().RowGroup(g).NumRows()
		p.stats.RowGroups++
		rows, err := fs.group(ctx, p, g, at)
		if err != nil {
			return err
		}
		for _, r := range rows {
			if !emit(r) {
				return errStopScan
			}
		}
		at += n
	}
	return nil
}

// fileScan is an open data file.
type fileScan struct {
	f   File
	src parquet.ReaderAtSeeker
	pr  *file.Reader
	fr  *pqarrow.FileReader
	// leaves maps a column name to the leaf columns of the file that hold it, by the
	// field path below the column ("" for a column of one leaf; "format", "data" for an
	// image).
	leaves map[string]map[string]int
}

func openScan(ctx context.Context, f File, src parquet.ReaderAtSeeker) (fs *fileScan, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fileError(f, fmt.Errorf("corrupt: %v", p))
		}
	}()
	pr, err := file.NewParquetReader(src)
	if err != nil {
		return nil, fileError(f, err)
	}
	if pr.NumRows() != f.Rows {
		pr.Close()
		return nil, fileError(f, fmt.Errorf("holds %d rows, the manifest says %d", pr.NumRows(), f.Rows))
	}
	fr, err := pqarrow.NewFileReader(pr, pqarrow.ArrowReadProperties{BatchSize: 1 << 16}, memory.DefaultAllocator)
	if err != nil {
		pr.Close()
		return nil, fileError(f, err)
	}
	fs = &fileScan{f: f, src: src, pr: pr, fr: fr, leaves: map[string]map[string]int{}}
	sc := pr.MetaData().Schema
	for i := 0; i < sc.NumColumns(); i++ {
		path := sc.Column(i).ColumnPath()
		name, sub := path[0], ""
		if len(path) == 2 && (path[1] == "format" || path[1] == "data") {
			sub = path[1]
		}
		if fs.leaves[name] == nil {
			fs.leaves[name] = map[string]int{}
		}
		fs.leaves[name][sub] = i
	}
	return fs, nil
}

// group returns the matching rows of row group g, whose first row is row at of the version.
func (fs *fileScan) group(ctx context.Context, p *queryPlan, g int, at int64) (rows []QueryRow, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fileError(fs.f, fmt.Errorf("corrupt: %v", r))
		}
	}()
	n := fs.pr.MetaData().RowGroup(g).NumRows()
	sel := []rowRange{{0, n}} // the rows that may match
	var ps *pageScan          // nil: the row group is read whole
	var match []int
	if p.f == nil {
		match = make([]int, n)
		for i := range match {
			match[i] = i
		}
	} else {
		if fs.pruned(p.f.conds, g) {
			p.stats.RowGroupsPruned++
			return nil, nil
		}
		if sel, ps, err = fs.pageSelect(ctx, p, g, n); err != nil {
			return nil, err
		}
		if len(sel) == 0 {
			p.stats.RowGroupsPruned++
			return nil, nil
		}
		if match, err = fs.filter(ctx, p.f, g, sel, ps, at); err != nil {
			return nil, err
		}
	}
	if len(match) == 0 {
		return nil, nil
	}
	p.stats.RowGroupsMatched++
	rows = make([]QueryRow, len(match))
	for k, i := range match {
		rows[k] = QueryRow{Index: at + int64(i), Values: make(Row, len(p.out))}
	}
	if len(p.out) == 0 {
		return rows, nil
	}
	if ps != nil {
		sel = matchRanges(sel, match)
	}
	cols, err := fs.read(ctx, p.out, g, sel, ps, true)
	if err != nil {
		return nil, err
	}
	pos := positions(sel, match)
	for j, c := range p.out {
		cur := cols[j]
		for k := range match {
			var v any
			if cur != nil {
				a, off := cur.at(pos[k])
				if v, err = value(c, a, off); err != nil {
					return nil, fileError(fs.f, fmt.Errorf("column %q: %w", c.Name, err))
				}
			}
			rows[k].Values[c.Name] = v
		}
	}
	return rows, nil
}

// pageSelect returns the rows of row group g (n rows) that the page index does not rule
// out for p's filter, and the reader of their pages; with no page index, or when it rules
// out no row, all rows and a nil reader.
func (fs *fileScan) pageSelect(ctx context.Context, p *queryPlan, g int, n int64) ([]rowRange, *pageScan, error) {
	all := []rowRange{{0, n}}
	if len(p.f.conds) == 0 {
		return all, nil, nil
	}
	ps, err := fs.pages(ctx, p.f.conds, g)
	if err != nil || ps == nil {
		return all, nil, err
	}
	sel, err := ps.ranges(p.f.conds, n)
	if err != nil {
		return nil, nil, err
	}
	if rowCount(sel) == n {
		return all, nil, nil
	}
	p.stats.RowsPagePruned += n - rowCount(sel)
	return sel, ps, nil
}

// filter returns the rows among sel of row group g (the first is row at) that match f,
// reading sel's pages with ps or, when ps is nil, the row group whole.
func (fs *fileScan) filter(ctx context.Context, f *filter, g int, sel []rowRange, ps *pageScan, at int64) ([]int, error) {
	arrays, err := fs.readFilter(ctx, f, g, sel, ps)
	if err != nil {
		return nil, err
	}
	act := &rowActivation{names: f.index, vals: make([]any, len(f.reads))}
	var match []int
	pos := 0
	for _, r := range sel {
		for i := int(r.lo); i < int(r.hi); i, pos = i+1, pos+1 {
			hasNull := false
			for j, c := range f.reads {
				v := any(types.NullValue)
				if arrays[j] != nil {
					a, off := arrays[j].at(pos)
					if v, err = celFromArrow(c, a, off); err != nil {
						return nil, fileError(fs.f, fmt.Errorf("column %q: %w", c.col.Name, err))
					}
				}
				hasNull = hasNull || v == types.NullValue
				act.vals[j] = v
			}
			out, _, err := f.prg.ContextEval(ctx, act)
			b, err := matches(out, hasNull, err)
			if err != nil {
				return nil, fmt.Errorf("where: row %d: %w", at+int64(i), err)
			}
			if b {
				match = append(match, i)
			}
		}
	}
	return match, nil
}

// matches tells whether a filter's evaluation, out or err, matches its row: an evaluation
// that failed on a null column, or gave null, does not match (as in SQL); any other failure
// is an error.
func matches(out ref.Val, hasNull bool, err error) (bool, error) {
	switch {
	case err != nil && hasNull:
		return false, nil
	case err != nil:
		return false, err
	case out == types.NullValue:
		return false, nil
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("the expression gave %v, not a bool", out.Value())
	}
	return b, nil
}

// rowActivation resolves the columns of one row for a filter expression.
type rowActivation struct {
	names map[string]int
	vals  []any
}

func (a *rowActivation) ResolveName(name string) (any, bool) {
	i, ok := a.names[name]
	if !ok {
		return nil, false
	}
	return a.vals[i], true
}

func (a *rowActivation) Parent() interpreter.Activation { return nil }

// celFromArrow returns row i of a as the filter expression sees column r.
func celFromArrow(r filterColumn, a arrow.Array, i int) (any, error) {
	if a.IsNull(i) {
		return types.NullValue, nil
	}
	if r.col.Type.Kind != Image {
		v, err := value(r.col, a, i)
		return celValue(r.col, v), err
	}
	s := a.(*array.Struct)
	st := s.DataType().(*arrow.StructType)
	img := &imageInfo{}
	if k, ok := st.FieldIdx("format"); ok {
		img.Format = s.Field(k).(*array.String).Value(i)
	}
	if k, ok := st.FieldIdx("data"); ok && r.whole {
		data := s.Field(k).(*array.Binary).Value(i)
		img.Size = int64(len(data))
		img.Width, img.Height = imageSize(data)
	}
	return img, nil
}

// readFilter reads the leaves of row group g that f reads, at rows sel with ps or whole:
// the format alone of an image whose width, height and size f does not read.
func (fs *fileScan) readFilter(ctx context.Context, f *filter, g int, sel []rowRange, ps *pageScan) ([]*cursor, error) {
	out := make([]*cursor, len(f.reads))
	var leaves []int
	for _, r := range f.reads {
		l := fs.leaves[r.col.Name]
		if r.col.Type.Kind == Image && !r.whole {
			if i, ok := l["format"]; ok {
				leaves = append(leaves, i)
			}
			continue
		}
		for _, i := range l {
			leaves = append(leaves, i)
		}
	}
	cols := make([]Column, len(f.reads))
	for i, r := range f.reads {
		cols[i] = r.col
	}
	return out, fs.readLeaves(ctx, cols, leaves, g, sel, ps, false, out)
}

// read reads the columns cols of row group g, at rows sel with ps or, when ps is nil,
// whole; a column the file lacks is nil.
func (fs *fileScan) read(ctx context.Context, cols []Column, g int, sel []rowRange, ps *pageScan, whole bool) ([]*cursor, error) {
	var leaves []int
	for _, c := range cols {
		for _, i := range fs.leaves[c.Name] {
			leaves = append(leaves, i)
		}
	}
	out := make([]*cursor, len(cols))
	return out, fs.readLeaves(ctx, cols, leaves, g, sel, ps, whole, out)
}

// readLeaves reads the given leaves of row group g, at rows sel with ps or, when ps is nil,
// whole, and sets out[j] to the values of cols[j], over those rows in order. Columns the
// file lacks must be nullable; with whole, the Arrow type of each column must be its
// type's.
func (fs *fileScan) readLeaves(ctx context.Context, cols []Column, leaves []int, g int, sel []rowRange, ps *pageScan, whole bool, out []*cursor) error {
	for _, c := range cols {
		if fs.leaves[c.Name] == nil && !c.Nullable {
			return fileError(fs.f, fmt.Errorf("column %q is missing and not nullable", c.Name))
		}
	}
	if len(leaves) == 0 {
		return nil
	}
	slices.Sort(leaves)
	leaves = slices.Compact(leaves)
	var sc *arrow.Schema
	var arrays [][]arrow.Array
	if ps != nil {
		var err error
		if sc, arrays, err = ps.read(ctx, leaves, sel); err != nil {
			return err
		}
	} else {
		tbl, err := fs.fr.ReadRowGroups(ctx, leaves, []int{g})
		if err != nil {
			return fileError(fs.f, err)
		}
		defer tbl.Release()
		sc = tbl.Schema()
		arrays = make([][]arrow.Array, tbl.NumCols())
		for k := range arrays {
			arrays[k] = tbl.Column(k).Data().Chunks()
			for _, a := range arrays[k] {
				a.Retain()
			}
		}
	}
	for j, c := range cols {
		idx := sc.FieldIndices(c.Name)
		if len(idx) != 1 {
			continue
		}
		typ := sc.Field(idx[0]).Type
		if (whole || c.Type.Kind != Image) && !arrow.TypeEqual(typ, c.arrow()) {
			releaseAll(arrays)
			return fileError(fs.f, fmt.Errorf("column %q has Arrow type %s, want %s for %s", c.Name, typ, c.arrow(), c.Type))
		}
		out[j] = &cursor{chunks: arrays[idx[0]]}
	}
	return nil
}

// cursor finds rows in the chunks of a column, for rows asked in increasing order.
type cursor struct {
	chunks []arrow.Array
	k      int // chunk of the last row
	base   int // first row of chunk k
}

// at returns the chunk that holds row i and i's offset in it.
func (c *cursor) at(i int) (arrow.Array, int) {
	if i < c.base {
		c.k, c.base = 0, 0
	}
	for i-c.base >= c.chunks[c.k].Len() {
		c.base += c.chunks[c.k].Len()
		c.k++
	}
	return c.chunks[c.k], i - c.base
}

// pruned reports whether row group g's statistics rule out one of conds.
func (fs *fileScan) pruned(conds []cond, g int) bool {
	rg := fs.pr.MetaData().RowGroup(g)
	for _, c := range conds {
		leaf, ok := fs.leaves[c.column][""]
		if !ok {
			continue // a column the file lacks is null: statistics cannot say
		}
		cc, err := rg.ColumnChunk(leaf)
		if err != nil {
			continue
		}
		if set, err := cc.StatsSet(); err != nil || !set {
			continue
		}
		st, err := cc.Statistics()
		if err != nil || st == nil || !st.HasMinMax() {
			continue
		}
		lo, hi := statBounds(c.kind, st)
		if lo != nil && excludes(c, lo, hi) {
			return true
		}
	}
	return false
}

// statBounds returns the minimum and maximum of a column chunk of kind k as CEL values, or
// nils.
func statBounds(k Kind, st metadata.TypedStatistics) (lo, hi ref.Val) {
	switch s := st.(type) {
	case *metadata.Int32Statistics:
		return celBound(k, s.Min()), celBound(k, s.Max())
	case *metadata.Int64Statistics:
		return celBound(k, s.Min()), celBound(k, s.Max())
	case *metadata.Float32Statistics:
		return celBound(k, s.Min()), celBound(k, s.Max())
	case *metadata.Float64Statistics:
		return celBound(k, s.Min()), celBound(k, s.Max())
	case *metadata.ByteArrayStatistics:
		return celBound(k, s.Min()), celBound(k, s.Max())
	case *metadata.BooleanStatistics:
		return celBound(k, s.Min()), celBound(k, s.Max())
	}
	return nil, nil
}

// celBound returns v, a Parquet statistic (a min or max) of a column of kind k, as a CEL
// value, or nil.
func celBound(k Kind, v any) ref.Val {
	switch x := v.(type) {
	case int32:
		if k == Uint32 || k == Uint16 || k == Uint8 {
			return types.Int(uint32(x))
		}
		return types.Int(x)
	case int64:
		if k == Uint64 {
			return types.Uint(uint64(x))
		}
		return types.Int(x)
	case float32:
		return types.Double(x)
	case float64:
		return types.Double(x)
	case parquet.ByteArray:
		return types.String(x)
	case bool:
		return types.Bool(x)
	}
	return nil
}

// excludes reports whether no value in [lo, hi] satisfies c.
func excludes(c cond, lo, hi ref.Val) bool {
	cmpTo := func(v ref.Val) (int, bool) {
		r, ok := v.(traits.Comparer).Compare(c.value).(types.Int)
		return int(r), ok
	}
	l, ok1 := cmpTo(lo)
	h, ok2 := cmpTo(hi)
	if !ok1 || !ok2 {
		return false
	}
	switch c.op {
	case operators.Equals:
		return l > 0 || h < 0
	case operators.Less:
		return l >= 0
	case operators.LessEquals:
		return l > 0
	case operators.Greater:
		return h <= 0
	case operators.GreaterEquals:
		return h < 0
	}
	return false
}

// sorted yields the matching rows sorted by q.OrderBy, after q.Offset, at most q.Limit.
func (ds *Dataset) sorted(ctx context.Context, p *queryPlan, q Query, yield func(QueryRow, error) bool) error {
	name := p.order.Name
	less := func(a, b QueryRow) bool { // a comes before b
		if c := compareValues(a.Values[name], b.Values[name], q.Desc); c != 0 {
			return c < 0
		}
		return a.Index < b.Index
	}
	keep := int64(-1)
	if q.Limit > 0 {
		keep = q.Offset + q.Limit
	}
	h := &rowHeap{less: less}
	err := ds.scan(ctx, p, func(r QueryRow) bool {
		switch {
		case keep < 0 || int64(len(h.rows)) < keep:
			heap.Push(h, r)
		case less(r, h.rows[0]):
			h.rows[0] = r
			heap.Fix(h, 0)
		}
		return true
	})
	if err != nil {
		return err
	}
	rows := h.rows
	slices.SortFunc(rows, func(a, b QueryRow) int {
		if less(a, b) {
			return -1
		}
		return 1
	})
	for _, r := range rows[min(int64(len(rows)), q.Offset):] {
		if p.drop {
			delete(r.Values, name)
		}
		if !yield(r, nil) {
			return nil
		}
	}
	return nil
}

// rowHeap is a max-heap by less: the row that sorts last is on top.
type rowHeap struct {
	rows []QueryRow
	less func(a, b QueryRow) bool
}

func (h *rowHeap) Len() int           { return len(h.rows) }
func (h *rowHeap) Less(i, j int) bool { return h.less(h.rows[j], h.rows[i]) }
func (h *rowHeap) Swap(i, j int)      { h.rows[i], h.rows[j] = h.rows[j], h.rows[i] }
func (h *rowHeap) Push(x any)         { h.rows = append(h.rows, x.(QueryRow)) }
func (h *rowHeap) Pop() any {
	r := h.rows[len(h.rows)-1]
	h.rows = h.rows[:len(h.rows)-1]
	return r
}

// compareValues orders two values of one sortable column: nulls last, and descending when
// desc.
func compareValues(a, b any, desc bool) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return 1
	case b == nil:
		return -1
	}
	c := compareSame(a, b)
	if desc {
		return -c
	}
	return c
}

func compareSame(a, b any) int {
	switch x := a.(type) {
	case bool:
		y := b.(bool)
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		}
		return 1
	case string:
		return cmp.Compare(x, b.(string))
	case int8:
		return cmp.Compare(x, b.(int8))
	case int16:
		return cmp.Compare(x, b.(int16))
	case int32:
		return cmp.Compare(x, b.(int32))
	case int64:
		return cmp.Compare(x, b.(int64))
	case uint8:
		return cmp.Compare(x, b.(uint8))
	case uint16:
		return cmp.Compare(x, b.(uint16))
	case uint32:
		return cmp.Compare(x, b.(uint32))
	case uint64:
		return cmp.Compare(x, b.(uint64))
	case float32:
		return cmp.Compare(x, b.(float32))
	case float64:
		return cmp.Compare(x, b.(float64))
	}
	return 0
}
