package dataset

import (
	"cmp"
	"context"
	"errors"
	"io"
	"math"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/google/cel-go/common/types/ref"
)

// A row group that survives row-group pruning is narrowed further with the page index of
// its data file: the column index gives each page's min/max and whether it is all nulls,
// the offset index where each page starts and the first row it holds. The rows of the pages
// that cannot satisfy every cond are skipped: the pages of the row group's columns that
// hold only such rows are neither fetched nor decoded.
//
// arrow-go reads the pages of a column chunk through a page reader that seeks with the
// offset index (SeekToRow) and then reads on sequentially through a buffer. The reader is
// given a source that holds the fetched index and pages and fetches anything else it asks
// for with a ranged read of just that (counted like every read), so what is read is always
// right and the plan only decides how much is fetched up front: the index and the pages of
// the wanted rows, the dictionary page of each chunk, and no more than a buffer's worth
// past the last page of a run when the buffer reads ahead.

// pageReadBufferBytes is the buffer through which a row group's pages are read when only
// some are fetched: small, because a read ahead past the fetched pages costs a fetch.
const pageReadBufferBytes = 16 << 10

// rowRange is rows [lo, hi) of a row group.
type rowRange struct{ lo, hi int64 }

// fetchedSource reads a data file from its fetched parts and anything outside them from
// src.
type fetchedSource struct {
	parts *spans
	src   io.ReaderAt
}

func (s fetchedSource) ReadAt(p []byte, off int64) (int, error) {
	n, err := s.parts.ReadAt(p, off)
	if err == nil || errors.Is(err, io.EOF) {
		return n, err
	}
	return s.src.ReadAt(p, off)
}

// pageScan reads the pages of one row group that hold some rows.
type pageScan struct {
	fs   *fileScan
	g    int
	rg   *metadata.RowGroupMetaData
	src  fetchedSource
	fr   *pqarrow.FileReader
	oidx []metadata.OffsetIndex // by leaf, read when needed
}

// pages returns a reader of the pages of row group g, having fetched its page index, or
// nil when a column chunk of g has no offset index or a cond's column no column index:
// then the row group is read whole.
func (fs *fileScan) pages(ctx context.Context, conds []cond, g int) (*pageScan, error) {
	rg := fs.pr.MetaData().RowGroup(g)
	col, off := byteRange{math.MaxInt64, -1}, byteRange{math.MaxInt64, -1}
	for i := range rg.NumColumns() {
		ol, ok := rg.OffsetIndexLocation(i)
		if !ok {
			return nil, nil
		}
		off = byteRange{min(off.off, ol.Offset), max(off.end, ol.Offset+int64(ol.Length))}
		if cl, ok := rg.ColumnIndexLocation(i); ok {
			col = byteRange{min(col.off, cl.Offset), max(col.end, cl.Offset+int64(cl.Length))}
		}
	}
	for _, c := range conds {
		if leaf, ok := fs.leaves[c.column][""]; ok {
			if _, ok := rg.ColumnIndexLocation(leaf); !ok {
				return nil, nil
			}
		}
	}
	ps := &pageScan{fs: fs, g: g, rg: rg, src: fetchedSource{&spans{size: fs.f.Bytes}, fs.src}}
	if err := ps.fetch(ctx, []byteRange{col, off}); err != nil {
		return nil, err
	}
	props := parquet.NewReaderProperties(memory.DefaultAllocator)
	props.BufferedStreamEnabled, props.BufferSize = true, pageReadBufferBytes
	pr, err := file.NewParquetReader(io.NewSectionReader(ps.src, 0, fs.f.Bytes), file.WithMetadata(fs.pr.MetaData()), file.WithReadProps(props))
	if err != nil {
		return nil, fileError(fs.f, err)
	}
	if ps.fr, err = pqarrow.NewFileReader(pr, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator); err != nil {
		return nil, fileError(fs.f, err)
	}
	ps.oidx = make([]metadata.OffsetIndex, rg.NumColumns())
	return ps, nil
}

// fetch reads ranges of the data file, each with one ranged read, unless already fetched.
func (ps *pageScan) fetch(ctx context.Context, ranges []byteRange) error {
	for _, r := range coalesce(ranges) {
		if r.end <= r.off || ps.fetched(r) {
			continue
		}
		sp, err := readSpan(ps.src.src, ps.fs.f.Bytes, r.off, r.end-r.off)
		if err != nil {
			return fileError(ps.fs.f, err)
		}
		ps.src.parts.parts = append(ps.src.parts.parts, sp)
	}
	return ctx.Err()
}

// fetched reports whether one fetched part holds r.
func (ps *pageScan) fetched(r byteRange) bool {
	for _, sp := range ps.src.parts.parts {
		if sp.off <= r.off && r.end <= sp.end() {
			return true
		}
	}
	return false
}

// offsets returns the page locations of leaf in the row group.
func (ps *pageScan) offsets(leaf int) ([]*metadata.PageLocation, error) {
	if ps.oidx[leaf] == nil {
		rgi, err := ps.fr.ParquetReader().GetPageIndexReader().RowGroup(ps.g)
		if err != nil || rgi == nil {
			return nil, fileError(ps.fs.f, errors.Join(errors.New("no page index"), err))
		}
		oi, err := rgi.GetOffsetIndex(leaf)
		if err != nil || oi == nil {
			return nil, fileError(ps.fs.f, errors.Join(errors.New("no offset index"), err))
		}
		ps.oidx[leaf] = oi
	}
	return ps.oidx[leaf].GetPageLocations(), nil
}

// ranges returns the rows of the row group (n rows) that the page index does not rule out
// for any of conds, in order.
func (ps *pageScan) ranges(conds []cond, n int64) ([]rowRange, error) {
	out := []rowRange{{0, n}}
	rgi, err := ps.fr.ParquetReader().GetPageIndexReader().RowGroup(ps.g)
	if err != nil || rgi == nil {
		return nil, fileError(ps.fs.f, errors.Join(errors.New("no page index"), err))
	}
	for _, c := range conds {
		leaf, ok := ps.fs.leaves[c.column][""]
		if !ok {
			continue
		}
		ci, err := rgi.GetColumnIndex(leaf)
		if err != nil {
			return nil, fileError(ps.fs.f, err)
		}
		locs, err := ps.offsets(leaf)
		if err != nil {
			return nil, err
		}
		lo, hi := pageBounds(c.kind, ci)
		if len(lo) != len(locs) {
			continue // no usable min/max: the column index cannot say
		}
		nulls := ci.GetNullPages()
		var keep []rowRange
		for k, l := range locs {
			if nulls[k] || lo[k] != nil && excludes(c, lo[k], hi[k]) {
				continue
			}
			end := n
			if k+1 < len(locs) {
				end = locs[k+1].FirstRowIndex
			}
			keep = appendRange(keep, rowRange{l.FirstRowIndex, end})
		}
		out = intersect(out, keep)
	}
	return out, nil
}

// pageBounds returns the min and max of each page of a column of kind k from its column
// index, or nils when ci is not one of a type statistics prune.
func pageBounds(k Kind, ci metadata.ColumnIndex) (lo, hi []ref.Val) {
	switch x := ci.(type) {
	case *metadata.TypedColumnIndex[bool]:
		return celBounds(k, x.MinValues(), x.MaxValues())
	case *metadata.TypedColumnIndex[int32]:
		return celBounds(k, x.MinValues(), x.MaxValues())
	case *metadata.TypedColumnIndex[int64]:
		return celBounds(k, x.MinValues(), x.MaxValues())
	case *metadata.TypedColumnIndex[float32]:
		return celBounds(k, x.MinValues(), x.MaxValues())
	case *metadata.TypedColumnIndex[float64]:
		return celBounds(k, x.MinValues(), x.MaxValues())
	case *metadata.TypedColumnIndex[parquet.ByteArray]:
		return celBounds(k, x.MinValues(), x.MaxValues())
	}
	return nil, nil
}

func celBounds[T any](k Kind, mins, maxs []T) (lo, hi []ref.Val) {
	lo, hi = make([]ref.Val, len(mins)), make([]ref.Val, len(maxs))
	for i := range mins {
		lo[i], hi[i] = celBound(k, mins[i]), celBound(k, maxs[i])
	}
	return lo, hi
}

// appendRange appends r to ranges, merging it with the last when they touch.
func appendRange(ranges []rowRange, r rowRange) []rowRange {
	if k := len(ranges) - 1; k >= 0 && ranges[k].hi >= r.lo {
		ranges[k].hi = max(ranges[k].hi, r.hi)
		return ranges
	}
	return append(ranges, r)
}

// intersect returns the rows in both a and b, each sorted and disjoint.
func intersect(a, b []rowRange) []rowRange {
	var out []rowRange
	for i, j := 0, 0; i < len(a) && j < len(b); {
		if lo, hi := max(a[i].lo, b[j].lo), min(a[i].hi, b[j].hi); lo < hi {
			out = append(out, rowRange{lo, hi})
		}
		if a[i].hi < b[j].hi {
			i++
		} else {
			j++
		}
	}
	return out
}

// rowCount is the number of rows in ranges.
func rowCount(ranges []rowRange) int64 {
	var n int64
	for _, r := range ranges {
		n += r.hi - r.lo
	}
	return n
}

// read fetches the pages of leaves that hold rows ranges, and each chunk's dictionary page,
// then decodes those rows: the arrays of each field of the returned schema, over ranges in
// order.
func (ps *pageScan) read(ctx context.Context, leaves []int, ranges []rowRange) (*arrow.Schema, [][]arrow.Array, error) {
	var want []byteRange
	for _, leaf := range leaves {
		locs, err := ps.offsets(leaf)
		if err != nil {
			return nil, nil, err
		}
		cc, err := ps.rg.ColumnChunk(leaf)
		if err != nil {
			return nil, nil, fileError(ps.fs.f, err)
		}
		start := cc.DataPageOffset()
		if cc.HasDictionaryPage() && cc.DictionaryPageOffset() > 0 && cc.DictionaryPageOffset() < start {
			start = cc.DictionaryPageOffset()
		}
		if len(locs) > 0 && start < locs[0].Offset {
			want = append(want, byteRange{start, locs[0].Offset}) // the dictionary page
		}
		// The page reader reads ahead through its buffer: fetch that much past each run.
		for _, r := range coalesce(pageRanges(locs, ranges, ps.rg.NumRows())) {
			want = append(want, byteRange{r.off, min(r.end+pageReadBufferBytes, start+cc.TotalCompressedSize())})
		}
	}
	if err := ps.fetch(ctx, want); err != nil {
		return nil, nil, err
	}
	readers, sc, err := ps.fr.GetFieldReaders(ctx, leaves, []int{ps.g})
	if err != nil {
		return nil, nil, fileError(ps.fs.f, err)
	}
	defer func() {
		for _, r := range readers {
			r.Release()
		}
	}()
	out := make([][]arrow.Array, len(readers))
	for j, rd := range readers {
		for _, r := range ranges {
			if err := rd.SeekToRow(r.lo); err != nil {
				releaseAll(out)
				return nil, nil, fileError(ps.fs.f, err)
			}
			ch, err := rd.NextBatch(r.hi - r.lo)
			if err != nil {
				releaseAll(out)
				return nil, nil, fileError(ps.fs.f, err)
			}
			for _, a := range ch.Chunks() {
				a.Retain()
				out[j] = append(out[j], a)
			}
			ch.Release()
		}
	}
	return sc, out, nil
}

func releaseAll(arrays [][]arrow.Array) {
	for _, as := range arrays {
		for _, a := range as {
			a.Release()
		}
	}
}

// pageRanges returns the byte ranges of the pages at locs (of a row group of n rows) that
// hold a row of ranges.
func pageRanges(locs []*metadata.PageLocation, ranges []rowRange, n int64) []byteRange {
	var out []byteRange
	j := 0
	for k, l := range locs {
		end := n
		if k+1 < len(locs) {
			end = locs[k+1].FirstRowIndex
		}
		for j < len(ranges) && ranges[j].hi <= l.FirstRowIndex {
			j++
		}
		if j < len(ranges) && ranges[j].lo < end {
			out = append(out, byteRange{l.Offset, l.Offset + int64(l.CompressedPageSize)})
		}
	}
	return out
}

// matchRanges returns, for each of ranges, the rows from its first to its last match, of
// match (increasing rows, each in one of ranges).
func matchRanges(ranges []rowRange, match []int) []rowRange {
	var out []rowRange
	k := 0
	for _, r := range ranges {
		first := -1
		for k < len(match) && int64(match[k]) < r.hi {
			if first < 0 {
				first = match[k]
			}
			k++
		}
		if first >= 0 {
			out = append(out, rowRange{int64(first), int64(match[k-1]) + 1})
		}
	}
	return out
}

// positions returns the position of each of rows (increasing, each in one of ranges) among
// the rows of ranges, in order.
func positions(ranges []rowRange, rows []int) []int {
	out := make([]int, len(rows))
	var base int64
	j := 0
	for k, i := range rows {
		for int64(i) >= ranges[j].hi {
			base += ranges[j].hi - ranges[j].lo
			j++
		}
		out[k] = int(base + int64(i) - ranges[j].lo)
	}
	return out
}

// coalesce sorts ranges and merges those that touch or overlap.
func coalesce(ranges []byteRange) []byteRange {
	slices.SortFunc(ranges, func(a, b byteRange) int { return cmp.Compare(a.off, b.off) })
	var out []byteRange
	for _, r := range ranges {
		if k := len(out) - 1; k >= 0 && r.off <= out[k].end {
			out[k].end = max(out[k].end, r.end)
			continue
		}
		out = append(out, r)
	}
	return out
}
