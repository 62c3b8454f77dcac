package dataset

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
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

// groupTask is one row group to fetch and decode: rows [lo, hi) of file f, whose footer is
// md, from the bytes in tail and the ranges still to fetch.
type groupTask struct {
	f      File
	md     *metadata.FileMetaData
	tail   span
	ranges []byteRange
	lo, hi int64
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
					res.rows, res.err = ds.readGroup(ctx, t, cols, decoders)
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
	leaves, _ := fileLeaves(md.Schema, cols)
	padded := md.WriterVersion().LessThan(metadata.Parquet816FixedVersion)
	var at int64
	for g := range md.NumRowGroups() {
		rg := md.RowGroup(g)
		t := groupTask{f: f, md: md, tail: tail, lo: at, hi: at + rg.NumRows()}
		at = t.hi
		for _, leaf := range leaves {
			cc, err := rg.ColumnChunk(leaf)
			if err != nil {
				return nil, fileError(f, err)
			}
			start, n := cc.DataPageOffset(), cc.TotalCompressedSize()
			if cc.HasDictionaryPage() && cc.DictionaryPageOffset() > 0 && cc.DictionaryPageOffset() < start {
				start = cc.DictionaryPageOffset()
			}
			if start < 0 || n < 0 || start+n > f.Bytes {
				return nil, fileError(f, fmt.Errorf("corrupt: row group %d has a column chunk at [%d, %d), outside the file's %d bytes", g, start, start+n, f.Bytes))
			}
			if padded {
				n += min(oldWriterPadding, f.Bytes-start-n)
			}
			t.ranges = append(t.ranges, byteRange{start, start + n})
		}
		t.ranges = coalesce(t.ranges, tail)
		tasks = append(tasks, t)
	}
	return tasks, nil
}

// coalesce sorts ranges, merges those that touch or overlap, and drops those tail holds.
func coalesce(ranges []byteRange, tail span) []byteRange {
	slices.SortFunc(ranges, func(a, b byteRange) int { return cmp.Compare(a.off, b.off) })
	var out []byteRange
	for _, r := range ranges {
		if k := len(out) - 1; k >= 0 && r.off <= out[k].end {
			out[k].end = max(out[k].end, r.end)
			continue
		}
		out = append(out, r)
	}
	return slices.DeleteFunc(out, func(r byteRange) bool { return tail.off <= r.off && r.end <= tail.end() })
}

// readTail reads the end of data file f: tailBytes, or the whole footer when it is longer.
func (ds *Dataset) readTail(ctx context.Context, f File) (span, error) {
	src := &blobRange{ctx: ctx, b: ds.b, key: f.Path, size: f.Bytes}
	n := min(f.Bytes, tailBytes)
	tail, err := readSpan(src, f.Bytes-n, n)
	if err != nil || n < 8 || !bytes.Equal(tail.data[n-4:], []byte("PAR1")) {
		return tail, err // a bad magic number is the Parquet reader's to report
	}
	if need := int64(binary.LittleEndian.Uint32(tail.data[n-8:])) + 8; need > n && need <= f.Bytes {
		return readSpan(src, f.Bytes-need, need)
	}
	return tail, nil
}

// readSpan reads bytes [off, off+n) of src.
func readSpan(src *blobRange, off, n int64) (span, error) {
	data := make([]byte, n)
	if _, err := src.ReadAt(data, off); err != nil && !(err == io.EOF && off+n == src.size) {
		return span{}, err
	}
	return span{off: off, data: data}, nil
}

// readGroup fetches the column chunks of t, one ranged read per range, then decodes them,
// at most cap(decoders) row groups at a time.
func (ds *Dataset) readGroup(ctx context.Context, t groupTask, cols []Column, decoders chan struct{}) ([]Row, error) {
	src := &blobRange{ctx: ctx, b: ds.b, key: t.f.Path, size: t.f.Bytes}
	fetched := &spans{size: t.f.Bytes, parts: []span{t.tail}}
	for _, r := range t.ranges {
		sp, err := readSpan(src, r.off, r.end-r.off)
		if err != nil {
			return nil, fileError(t.f, err)
		}
		fetched.parts = append(fetched.parts, sp)
	}
	select {
	case decoders <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-decoders }()
	// Pages are read from the fetched bytes through a small buffer rather than copied
	// whole, column chunk by column chunk.
	props := parquet.NewReaderProperties(memory.DefaultAllocator)
	props.BufferedStreamEnabled, props.BufferSize = true, pageBufferBytes
	rows := make([]Row, 0, t.hi-t.lo)
	err := ds.readFile(ctx, t.f, fetched.reader(), cols, t.lo, t.hi, func(r Row) error {
		rows = append(rows, r)
		return nil
	}, file.WithMetadata(t.md), file.WithReadProps(props))
	if err != nil {
		return nil, err
	}
	return rows, nil
}
