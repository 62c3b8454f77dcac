package dataset

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"iter"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"
)

// tailBytes is the size of the first read of a data file, from its end: enough for the
// footer of most files, and the whole of a small file, whose row groups then need no
// further read.
const tailBytes = 256 << 10

// oldWriterPadding is what arrow-go adds to a column chunk's length for files written by
// parquet-mr before 1.2.9 (PARQUET-816), whose lengths leave out the dictionary page
// header: a chunk read covers as many bytes as arrow-go will ask for.
const oldWriterPadding = 100

// pageBufferBytes is the buffer through which a row group's pages are read from its
// fetched bytes; a larger page grows it.
const pageBufferBytes = 1 << 20

// span is bytes data of a data file, starting at off.
type span struct {
	off  int64
	data []byte
}

func (s span) end() int64 { return s.off + int64(len(s.data)) }

// holds reports whether s holds the bytes of r.
func (s span) holds(r byteRange) bool { return s.off <= r.off && r.end <= s.end() }

// bytes returns the bytes of r, which s holds.
func (s span) bytes(r byteRange) []byte { return s.data[r.off-s.off : r.end-s.off] }

// spans is the fetched parts of a data file of size bytes, read as the file itself. A read
// outside them fails: it would mean the Parquet reader needs bytes the plan did not fetch.
type spans struct {
	size  int64
	parts []span
}

func (s *spans) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= s.size {
		return 0, io.EOF
	}
	want := min(int64(len(p)), s.size-off)
	for _, sp := range s.parts {
		if sp.off <= off && off+want <= sp.end() {
			n := copy(p, sp.data[off-sp.off:off-sp.off+want])
			if n < len(p) {
				return n, io.EOF
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("read of bytes [%d, %d) outside the fetched ranges", off, off+want)
}

// reader returns the parts as a ReaderAtSeeker of the whole file.
func (s *spans) reader() *io.SectionReader { return io.NewSectionReader(s, 0, s.size) }

// byteRange is bytes [off, end) of a data file.
type byteRange struct{ off, end int64 }

// segment is bytes of a data file that a row group needs: a span for arrow-go to decode
// or, when direct ≥ 0, the pages of the direct column of that index.
type segment struct {
	byteRange
	direct int
}

// fetch is one ranged read of a data file: bytes [off, end), made of segs in file order.
type fetch struct {
	byteRange
	segs []segment
}

// groupTask is one row group to fetch and decode: row group group, rows [lo, hi), of file
// f, whose footer is md. Columns arrow are decoded by arrow-go from the bytes in tail and
// in the span segments of fetches; columns direct by readGroup itself.
type groupTask struct {
	f       File
	md      *metadata.FileMetaData
	tail    span
	fetches []fetch
	group   int
	lo, hi  int64
	arrow   []Column
	direct  []directColumn
}

// directColumn is a column whose values readGroup reads itself (see pages.go): a bytes
// column, or an image column whose data it reads so and whose format, a short string,
// through arrow-go's column reader from the fetched ranges.
type directColumn struct {
	col         Column
	data        byteChunk
	format      int       // the leaf of an image's format; -1 for a bytes column
	formatBytes byteRange // the bytes of the format's chunk
}

// groupResult is a decoded row group, or the error that stopped it; ready is closed when
// it is set.
type groupResult struct {
	ready chan struct{}
	rows  []Row
	err   error
}

// rowGroups streams the row groups of files, decoded into rows with columns cols, in file
// order and, within a file, in row-group order or, when shuffle is non-nil, in an order
// drawn from it. Each data file costs one ranged read of its tail (footer) and each row
// group one ranged read per run of contiguous wanted column chunks; at most prefetch row
// groups are held (being fetched, decoded, or waiting for the consumer), so at most
// prefetch+1 reads are in flight and memory is bounded by about prefetch row groups of the
// wanted columns plus the decoding of up to GOMAXPROCS of them. The first error, in stream
// order, ends the stream. When the loop ends, for whatever reason, every fetch is cancelled
// and waited for.
func (ds *Dataset) rowGroups(ctx context.Context, files []File, cols []Column, prefetch int, shuffle *rand.Rand) iter.Seq2[[]Row, error] {
	return func(yield func([]Row, error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		defer wg.Wait()
		defer cancel()
		queue := make(chan *groupResult, prefetch)
		slots := make(chan struct{}, prefetch)
		decoders := make(chan struct{}, runtime.GOMAXPROCS(0))
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(queue)
			ds.plan(ctx, files, cols, shuffle, func(t groupTask, err error) bool {
				select {
				case slots <- struct{}{}:
				case <-ctx.Done():
					return false
				}
				res := &groupResult{ready: make(chan struct{})}
				queue <- res // never blocks: the queue holds at most one result per slot
				if err != nil {
					res.err = err
					close(res.ready)
					return false
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer close(res.ready)
					res.rows, res.err = ds.readGroup(ctx, t, decoders)
				}()
				return true
			})
		}()
		for res := range queue {
			select {
			case <-res.ready:
			case <-ctx.Done():
				yield(nil, ctx.Err())
				return
			}
			if res.err != nil {
				yield(nil, res.err)
				return
			}
			if !yield(res.rows, nil) {
				return
			}
			<-slots
		}
		if err := ctx.Err(); err != nil {
			yield(nil, err)
		}
	}
}

// plan reads the footer of each of files in turn and calls task with each of its row
// groups, or with the error that stops the plan; it stops when task returns false.
func (ds *Dataset) plan(ctx context.Context, files []File, cols []Column, shuffle *rand.Rand, task func(groupTask, error) bool) {
	for _, f := range files {
		tasks, err := ds.planFile(ctx, f, cols)
		if err != nil {
			task(groupTask{}, err)
			return
		}
		if shuffle != nil {
			shuffle.Shuffle(len(tasks), func(i, j int) { tasks[i], tasks[j] = tasks[j], tasks[i] })
		}
		for _, t := range tasks {
			if !task(t, nil) {
				return
			}
		}
	}
}

// planFile reads the footer of data file f and returns its row groups, each with the
// ranges of the column chunks of cols it must fetch, adjacent chunks coalesced. It never
// panics on a corrupt file.
func (ds *Dataset) planFile(ctx context.Context, f File, cols []Column) (tasks []groupTask, err error) {
	defer func() {
		if p := recover(); p != nil {
			tasks, err = nil, fileError(f, fmt.Errorf("corrupt: %v", p))
		}
	}()
	tail, err := ds.readTail(ctx, f)
	if err != nil {
		return nil, fileError(f, err)
	}
	pr, err := file.NewParquetReader((&spans{size: f.Bytes, parts: []span{tail}}).reader())
	if err != nil {
		return nil, fileError(f, err)
	}
	md := pr.MetaData()
	if md.NumRows != f.Rows {
		return nil, fileError(f, fmt.Errorf("holds %d rows, the manifest says %d", md.NumRows, f.Rows))
	}
	padded := md.WriterVersion().LessThan(metadata.Parquet816FixedVersion)
	// chunk returns the bytes of the chunk of leaf in row group g.
	chunk := func(g, leaf int) (*metadata.ColumnChunkMetaData, byteRange, error) {
		cc, err := md.RowGroup(g).ColumnChunk(leaf)
		if err != nil {
			return nil, byteRange{}, err
		}
		start, n := cc.DataPageOffset(), cc.TotalCompressedSize()
		if cc.HasDictionaryPage() && cc.DictionaryPageOffset() > 0 && cc.DictionaryPageOffset() < start {
			start = cc.DictionaryPageOffset()
		}
		if start < 0 || n < 0 || start+n > f.Bytes {
			return nil, byteRange{}, fmt.Errorf("corrupt: row group %d has a column chunk at [%d, %d), outside the file's %d bytes", g, start, start+n, f.Bytes)
		}
		if padded {
			n += min(oldWriterPadding, f.Bytes-start-n)
		}
		return cc, byteRange{start, start + n}, nil
	}
	var at int64
	for g := range md.NumRowGroups() {
		t := groupTask{f: f, md: md, tail: tail, group: g, lo: at, hi: at + md.RowGroup(g).NumRows()}
		at = t.hi
		var segs []segment
		for _, c := range cols {
			d, ok, err := directChunk(md, g, c, chunk)
			if err != nil {
				return nil, fileError(f, err)
			}
			if ok && !padded {
				segs = append(segs, segment{byteRange{d.data.off, d.data.end}, len(t.direct)})
				t.direct = append(t.direct, d)
				if d.format >= 0 {
					segs = append(segs, segment{d.formatBytes, -1})
				}
				continue
			}
			t.arrow = append(t.arrow, c)
			leaves, _ := fileLeaves(md.Schema, []Column{c})
			for _, leaf := range leaves {
				_, r, err := chunk(g, leaf)
				if err != nil {
					return nil, fileError(f, err)
				}
				segs = append(segs, segment{r, -1})
			}
		}
		if t.fetches, err = planFetches(segs, tail); err != nil {
			return nil, fileError(f, fmt.Errorf("corrupt: row group %d: %w", g, err))
		}
		tasks = append(tasks, t)
	}
	return tasks, nil
}

// directChunk returns column c of row group g of a file with footer md as a directColumn,
// when it is a bytes or image column whose chunk of byte values readBytePages can read;
// chunk gives the metadata and bytes of a leaf's chunk.
func directChunk(md *metadata.FileMetaData, g int, c Column, chunk func(g, leaf int) (*metadata.ColumnChunkMetaData, byteRange, error)) (directColumn, bool, error) {
	d := directColumn{col: c, format: -1}
	data := -1
	switch c.Type.Kind {
	case Bytes:
		data = md.Schema.ColumnIndexByName(c.Name)
	case Image:
		data = md.Schema.ColumnIndexByName(c.Name + ".data")
		d.format = md.Schema.ColumnIndexByName(c.Name + ".format")
		if d.format < 0 || data < 0 || md.Schema.Column(d.format).MaxDefinitionLevel() != md.Schema.Column(data).MaxDefinitionLevel() {
			return directColumn{}, false, nil
		}
		var err error
		if _, d.formatBytes, err = chunk(g, d.format); err != nil {
			return directColumn{}, false, err
		}
	}
	if data < 0 {
		return directColumn{}, false, nil
	}
	cc, r, err := chunk(g, data)
	if err != nil {
		return directColumn{}, false, err
	}
	var ok bool
	d.data, ok = directByteChunk(md.Schema.Column(data), cc, r.off, r.end, md.RowGroup(g).NumRows())
	return d, ok, nil
}

// planFetches returns the reads that fetch segs: segments are sorted, spans that touch or
// overlap are merged, segments that touch share a read, and those tail holds are dropped.
// A direct segment that overlaps another segment is an error: its pages are read once.
func planFetches(segs []segment, tail span) ([]fetch, error) {
	slices.SortFunc(segs, func(a, b segment) int { return cmp.Compare(a.off, b.off) })
	var out []fetch
	for _, sg := range segs {
		if tail.holds(sg.byteRange) {
			continue
		}
		k := len(out) - 1
		if k < 0 || sg.off > out[k].end {
			out = append(out, fetch{byteRange: sg.byteRange, segs: []segment{sg}})
			continue
		}
		last := &out[k].segs[len(out[k].segs)-1]
		switch {
		case sg.off < out[k].end && (sg.direct >= 0 || last.direct >= 0):
			return nil, fmt.Errorf("column chunks at [%d, %d) and [%d, %d) overlap", last.off, last.end, sg.off, sg.end)
		case sg.direct < 0 && last.direct < 0:
			last.end = max(last.end, sg.end)
		default:
			out[k].segs = append(out[k].segs, sg)
		}
		out[k].end = max(out[k].end, sg.end)
	}
	return out, nil
}

// readTail reads the end of data file f: tailBytes, or the whole footer when it is longer.
func (ds *Dataset) readTail(ctx context.Context, f File) (span, error) {
	src := &blobRange{ctx: ctx, b: ds.b, key: f.Path, size: f.Bytes}
	n := min(f.Bytes, tailBytes)
	tail, err := readSpan(src, f.Bytes, f.Bytes-n, n)
	if err != nil || n < 8 || !bytes.Equal(tail.data[n-4:], []byte("PAR1")) {
		return tail, err // a bad magic number is the Parquet reader's to report
	}
	if need := int64(binary.LittleEndian.Uint32(tail.data[n-8:])) + 8; need > n && need <= f.Bytes {
		return readSpan(src, f.Bytes, f.Bytes-need, need)
	}
	return tail, nil
}

// readSpan reads bytes [off, off+n) of src, a data file of size bytes.
func readSpan(src io.ReaderAt, size, off, n int64) (span, error) {
	data := make([]byte, n)
	if _, err := src.ReadAt(data, off); err != nil && !(errors.Is(err, io.EOF) && off+n == size) {
		return span{}, err
	}
	return span{off: off, data: data}, nil
}

// readGroup fetches the column chunks of t, then decodes them, at most cap(decoders) row
// groups at a time.
func (ds *Dataset) readGroup(ctx context.Context, t groupTask, decoders chan struct{}) ([]Row, error) {
	fg, err := ds.fetchGroup(ctx, t)
	if err != nil {
		return nil, err
	}
	select {
	case decoders <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-decoders }()
	return ds.decodeGroup(ctx, t, fg)
}

// fetchedGroup is what fetchGroup fetched of a row group: the bytes for arrow-go, and the
// pages of each direct column.
type fetchedGroup struct {
	spans *spans
	pages [][]bytePage
}

// fetchGroup makes the ranged reads of t, one per fetch.
func (ds *Dataset) fetchGroup(ctx context.Context, t groupTask) (fetchedGroup, error) {
	fg := fetchedGroup{spans: &spans{size: t.f.Bytes, parts: []span{t.tail}}, pages: make([][]bytePage, len(t.direct))}
	for _, fc := range t.fetches {
		if err := ds.readFetch(ctx, t, fc, fg); err != nil {
			return fetchedGroup{}, fileError(t.f, err)
		}
	}
	for i, d := range t.direct {
		if r := (byteRange{d.data.off, d.data.end}); t.tail.holds(r) {
			var err error
			if fg.pages[i], err = readBytePages(bytes.NewReader(t.tail.bytes(r)), d.data); err != nil {
				return fetchedGroup{}, fileError(t.f, fmt.Errorf("column %q: %w", d.col.Name, err))
			}
		}
	}
	return fg, nil
}

// readOptions are the options of a Parquet reader of t's file from fetched bytes: t's
// footer, and pages read through a small buffer rather than copied whole, column chunk by
// column chunk.
func (t groupTask) readOptions() []file.ReadOption {
	props := parquet.NewReaderProperties(memory.DefaultAllocator)
	props.BufferedStreamEnabled, props.BufferSize = true, pageBufferBytes
	return []file.ReadOption{file.WithMetadata(t.md), file.WithReadProps(props)}
}

// decodeGroup returns the rows of t, with its columns, from the bytes fetchGroup fetched.
func (ds *Dataset) decodeGroup(ctx context.Context, t groupTask, fg fetchedGroup) ([]Row, error) {
	opts := t.readOptions()
	n := int(t.hi - t.lo)
	rows := make([]Row, 0, n)
	if len(t.arrow) > 0 {
		err := ds.readFile(ctx, t.f, fg.spans.reader(), t.arrow, t.lo, t.hi, func(r Row) error {
			rows = append(rows, r)
			return nil
		}, opts...)
		if err != nil {
			return nil, err
		}
	} else {
		for range n {
			rows = append(rows, make(Row, len(t.direct)))
		}
	}
	for i, d := range t.direct {
		if err := setDirect(rows, t.group, d, fg.pages[i], fg.spans, opts); err != nil {
			return nil, fileError(t.f, fmt.Errorf("column %q: %w", d.col.Name, err))
		}
	}
	return rows, nil
}

// readFetch makes ranged read fc of t's file, adding its spans and the pages of its direct
// segments to fg.
func (ds *Dataset) readFetch(ctx context.Context, t groupTask, fc fetch, fg fetchedGroup) error {
	r, err := ds.b.NewRangeReader(ctx, t.f.Path, fc.off, fc.end-fc.off, nil)
	if err != nil {
		return err
	}
	defer r.Close()
	for _, sg := range fc.segs {
		if sg.direct >= 0 {
			d := t.direct[sg.direct]
			if fg.pages[sg.direct], err = readBytePages(r, d.data); err != nil {
				return fmt.Errorf("column %q: %w", d.col.Name, err)
			}
			continue
		}
		data := make([]byte, sg.end-sg.off)
		if _, err := io.ReadFull(r, data); err != nil {
			return err
		}
		fg.spans.parts = append(fg.spans.parts, span{off: sg.off, data: data})
	}
	return nil
}

// setDirect sets column d of rows, the rows of row group g, to the values of pages and,
// for an image, of its format leaf, read from fetched. It never panics on a corrupt file.
func setDirect(rows []Row, g int, d directColumn, pages []bytePage, fetched *spans, opts []file.ReadOption) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("corrupt: %v", p)
		}
	}()
	values, err := byteValues(make([][]byte, 0, len(rows)), pages, d.data)
	if err != nil {
		return err
	}
	null := func(i int) bool { return d.data.optional && values[i] == nil }
	if d.format < 0 {
		for i, r := range rows {
			if null(i) {
				r[d.col.Name] = nil
			} else {
				r[d.col.Name] = values[i]
			}
		}
		return nil
	}
	pr, err := file.NewParquetReader(fetched.reader(), opts...)
	if err != nil {
		return err
	}
	defer pr.Close()
	formats, err := readStrings(pr, g, d.format, len(rows))
	if err != nil {
		return err
	}
	for i, r := range rows {
		if null(i) {
			r[d.col.Name] = nil
			continue
		}
		if len(formats) == 0 {
			return errors.New("an image has data but no format")
		}
		r[d.col.Name] = ImageValue{Format: formats[0], Data: values[i]}
		formats = formats[1:]
	}
	if len(formats) > 0 {
		return errors.New("an image has a format but no data")
	}
	return nil
}

// readStrings returns the values of leaf, a byte array leaf of row group g of pr, whose n
// rows it holds; nulls are left out.
func readStrings(pr *file.Reader, g, leaf, n int) ([]string, error) {
	cr, err := pr.RowGroup(g).Column(leaf)
	if err != nil {
		return nil, err
	}
	br, ok := cr.(*file.ByteArrayColumnChunkReader)
	if !ok {
		return nil, fmt.Errorf("leaf %d does not hold byte arrays", leaf)
	}
	vals, defs := make([]parquet.ByteArray, n), make([]int16, n)
	out := make([]string, 0, n)
	for rows := 0; rows < n; {
		total, read, err := br.ReadBatch(int64(n-rows), vals, defs, nil)
		if err != nil {
			return nil, err
		}
		if total == 0 {
			return nil, fmt.Errorf("leaf %d holds %d rows, want %d", leaf, rows, n)
		}
		rows += int(total)
		for _, v := range vals[:read] {
			out = append(out, string(v))
		}
	}
	return out, nil
}
