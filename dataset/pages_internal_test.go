package dataset

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// valueSizes are the sizes of the values of a byteFile, in turn: empty, small, and larger
// than a page.
var valueSizes = []int{0, 1, 7, 300, 3000, 70_000}

// byteFile is a Parquet file of one binary column "b" written with props, in row groups of
// groupRows rows, and the values it holds, of the given sizes in turn; when nullable, every
// fifth is null (nil).
func byteFile(t testing.TB, nullable bool, groupRows int, sizes []int, props ...parquet.WriterProperty) ([]byte, [][]byte) {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 5))
	var values [][]byte
	for i := range 120 {
		n := sizes[i%len(sizes)]
		v := make([]byte, n)
		for j := range v {
			v[j] = byte(rng.Uint32())
		}
		if nullable && i%5 == 2 {
			v = nil
		}
		values = append(values, v)
	}
	sc := arrow.NewSchema([]arrow.Field{{Name: "b", Type: arrow.BinaryTypes.Binary, Nullable: nullable}}, nil)
	bld := array.NewBinaryBuilder(memory.DefaultAllocator, arrow.BinaryTypes.Binary)
	for _, v := range values {
		if v == nil {
			bld.AppendNull()
		} else {
			bld.Append(v)
		}
	}
	rec := array.NewRecordBatch(sc, []arrow.Array{bld.NewArray()}, int64(len(values)))
	var buf bytes.Buffer
	props = append([]parquet.WriterProperty{parquet.WithMaxRowGroupLength(int64(groupRows))}, props...)
	w, err := pqarrow.NewFileWriter(sc, &buf, parquet.NewWriterProperties(props...), pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), values
}

// byteChunks returns the chunks of column 0 of each row group of a Parquet file, and
// whether each can be read directly.
func byteChunks(t testing.TB, data []byte) ([]byteChunk, []bool) {
	t.Helper()
	pr, err := file.NewParquetReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	md := pr.MetaData()
	var chunks []byteChunk
	var direct []bool
	for g := range md.NumRowGroups() {
		cc, err := md.RowGroup(g).ColumnChunk(0)
		if err != nil {
			t.Fatal(err)
		}
		off := cc.DataPageOffset()
		if cc.HasDictionaryPage() {
			off = min(off, cc.DictionaryPageOffset())
		}
		c, ok := directByteChunk(md.Schema.Column(0), cc, off, off+cc.TotalCompressedSize(), md.RowGroup(g).NumRows())
		chunks, direct = append(chunks, c), append(direct, ok)
	}
	return chunks, direct
}

// readChunk reads the values of chunk c of data directly.
func readChunk(data []byte, c byteChunk) ([][]byte, []bytePage, error) {
	pages, err := readBytePages(bytes.NewReader(data[c.off:c.end]), c)
	if err != nil {
		return nil, nil, err
	}
	values, err := byteValues(nil, pages, c)
	return values, pages, err
}

func TestBytePagesReadEveryLayoutArrowWrites(t *testing.T) {
	layouts := []struct {
		name  string
		props []parquet.WriterProperty
	}{
		{"v1 zstd", []parquet.WriterProperty{parquet.WithCompression(compress.Codecs.Zstd)}},
		{"v1 uncompressed", nil},
		{"v2 zstd", []parquet.WriterProperty{parquet.WithCompression(compress.Codecs.Zstd), parquet.WithDataPageVersion(parquet.DataPageV2)}},
		{"v2 uncompressed", []parquet.WriterProperty{parquet.WithDataPageVersion(parquet.DataPageV2)}},
		{"small pages", []parquet.WriterProperty{parquet.WithCompression(compress.Codecs.Zstd), parquet.WithDataPageSize(1 << 10), parquet.WithBatchSize(2)}},
		{"page index", []parquet.WriterProperty{parquet.WithPageIndexEnabled(true), parquet.WithDataPageSize(pageBytes), parquet.WithBatchSize(batchRows)}},
	}
	for _, l := range layouts {
		for _, nullable := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s nullable=%v", l.name, nullable), func(t *testing.T) {
				data, want := byteFile(t, nullable, 50, valueSizes, append(l.props, parquet.WithDictionaryDefault(false))...)
				chunks, direct := byteChunks(t, data)
				var got [][]byte
				for i, c := range chunks {
					if !direct[i] {
						t.Fatalf("row group %d cannot be read directly", i)
					}
					values, pages, err := readChunk(data, c)
					if err != nil {
						t.Fatalf("row group %d: %v", i, err)
					}
					checkRetention(t, values, pages)
					got = append(got, values...)
				}
				if len(got) != len(want) {
					t.Fatalf("%d values, want %d", len(got), len(want))
				}
				for i := range want {
					if (got[i] == nil) != (want[i] == nil) || !bytes.Equal(got[i], want[i]) {
						t.Fatalf("value %d: %d bytes, want %d bytes %x…", i, len(got[i]), len(want[i]), want[i][:min(len(want[i]), 8)])
					}
				}
			})
		}
	}
}

// checkRetention fails unless each value is a copy or fills at least an eighth of the
// page buffer it is a slice of.
func checkRetention(t *testing.T, values [][]byte, pages []bytePage) {
	t.Helper()
	for i, v := range values {
		if len(v) == 0 {
			continue
		}
		for _, pg := range pages {
			start := uintptr(unsafe.Pointer(unsafe.SliceData(pg.data)))
			p := uintptr(unsafe.Pointer(unsafe.SliceData(v)))
			if p >= start && p < start+uintptr(len(pg.data)) && 8*len(v) < len(pg.data) {
				t.Fatalf("value %d of %d bytes keeps a page of %d bytes alive", i, len(v), len(pg.data))
			}
		}
	}
}

func TestBytePagesLeaveOtherChunksToArrow(t *testing.T) {
	for name, c := range map[string]struct {
		nullable bool
		props    []parquet.WriterProperty
	}{
		"nullable, with a dictionary": {true, nil},
		"dictionary":                  {false, nil},
		"snappy":                      {false, []parquet.WriterProperty{parquet.WithDictionaryDefault(false), parquet.WithCompression(compress.Codecs.Snappy)}},
	} {
		data, _ := byteFile(t, c.nullable, 1000, valueSizes, c.props...)
		if _, direct := byteChunks(t, data); direct[0] {
			t.Errorf("%s: a chunk is read directly", name)
		}
	}
}

func TestBytePagesRefuseCorruptChunks(t *testing.T) {
	data, _ := byteFile(t, false, 1000, valueSizes, parquet.WithDictionaryDefault(false), parquet.WithCompression(compress.Codecs.Zstd))
	chunks, _ := byteChunks(t, data)
	c := chunks[0]
	for name, mutate := range map[string]func(c *byteChunk, b []byte){
		"truncated":         func(c *byteChunk, b []byte) { c.end = c.off + (c.end-c.off)/2 },
		"fewer rows":        func(c *byteChunk, b []byte) { c.rows-- },
		"more rows":         func(c *byteChunk, b []byte) { c.rows++ },
		"garbage header":    func(c *byteChunk, b []byte) { copy(b[c.off:], bytes.Repeat([]byte{0xff}, 16)) },
		"wrong codec":       func(c *byteChunk, b []byte) { c.codec = compress.Codecs.Uncompressed },
		"smaller than page": func(c *byteChunk, b []byte) { c.maxPayload = 10 },
	} {
		b := bytes.Clone(data)
		cc := c
		mutate(&cc, b)
		if _, _, err := readChunk(b, cc); err == nil {
			t.Errorf("%s: read without an error", name)
		}
	}
}

// FuzzBytePages feeds arbitrary chunk bytes to the direct reader: it must return values
// or an error, never panic or allocate past what the chunk claims.
func FuzzBytePages(f *testing.F) {
	for _, props := range [][]parquet.WriterProperty{
		{parquet.WithCompression(compress.Codecs.Zstd)},
		{parquet.WithDataPageVersion(parquet.DataPageV2), parquet.WithDataPageSize(1 << 10)},
	} {
		for _, nullable := range []bool{false, true} {
			data, _ := byteFile(f, nullable, 10, []int{0, 3, 40}, append(props, parquet.WithDictionaryDefault(false))...)
			chunks, _ := byteChunks(f, data)
			for _, c := range chunks[:2] {
				f.Add(data[c.off:c.end], c.rows, c.codec == compress.Codecs.Zstd, c.optional)
			}
		}
	}
	f.Fuzz(func(t *testing.T, chunk []byte, rows int64, zstd, optional bool) {
		if rows < 0 || rows > 1<<16 {
			return
		}
		c := byteChunk{off: 0, end: int64(len(chunk)), rows: rows, codec: compress.Codecs.Uncompressed, maxPayload: 4 * int64(len(chunk)), optional: optional}
		if zstd {
			c.codec = compress.Codecs.Zstd
		}
		values, _, err := readChunk(chunk, c)
		if err == nil && int64(len(values)) != rows {
			t.Fatalf("%d values for %d rows", len(values), rows)
		}
	})
}
