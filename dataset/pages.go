package dataset

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/arrow-go/v18/parquet/schema"
	"github.com/apache/thrift/lib/go/thrift"
	"github.com/klauspost/compress/zstd"
)

// The values of a byte column (bytes, or an image's data) are large and few per page: a
// stream reads them page by page straight from the response body into a buffer per page and
// hands out slices of it, instead of going through arrow-go, which copies every value
// three or four times on its way to a Row. This is the path of an unrepeated BYTE_ARRAY
// column chunk, required or optional (definition levels of at most 1, RLE-encoded), with
// PLAIN data pages and no dictionary, uncompressed or Zstd, as this package writes image
// data and bytes; any other chunk is read with arrow-go.

// Parquet page types and the PLAIN encoding (parquet.thrift).
const (
	pageData       = 0
	pageIndex      = 1
	pageDictionary = 2
	pageDataV2     = 3
)

// maxPageHeaderBytes bounds what a page header's fields may claim (statistics hold at most
// a few KiB).
const maxPageHeaderBytes = 16 << 20

// maxPageBytes bounds the size of a decompressed page.
const maxPageBytes = 1 << 30

// pageHeader is what a reader of PLAIN byte pages needs of a Parquet page header.
type pageHeader struct {
	typ                      int32
	uncompressed, compressed int32
	values                   int32 // nulls included
	encoding                 int32
	defEncoding              int32 // data page v1: the definition levels' encoding
	// Data page v2: the byte lengths of the levels, stored before the values and never
	// compressed, and whether the values are compressed.
	defLen, repLen int32
	compressedV2   bool
}

// headerReader returns the reader of page headers, Thrift compact protocol, from r.
func headerReader(r *bufio.Reader) *thrift.TCompactProtocol {
	return thrift.NewTCompactProtocolConf(&thrift.StreamTransport{Reader: r}, &thrift.TConfiguration{MaxMessageSize: maxPageHeaderBytes})
}

// readPageHeader reads one page header with p.
func readPageHeader(p *thrift.TCompactProtocol) (pageHeader, error) {
	ctx := context.Background()
	h := pageHeader{compressedV2: true}
	err := readStruct(ctx, p, func(id int16, t thrift.TType) (bool, error) {
		switch {
		case id == 1 && t == thrift.I32:
			return true, readI32(ctx, p, &h.typ)
		case id == 2 && t == thrift.I32:
			return true, readI32(ctx, p, &h.uncompressed)
		case id == 3 && t == thrift.I32:
			return true, readI32(ctx, p, &h.compressed)
		case id == 5 && t == thrift.STRUCT: // DataPageHeader
			return true, readStruct(ctx, p, func(id int16, t thrift.TType) (bool, error) {
				switch {
				case id == 1 && t == thrift.I32:
					return true, readI32(ctx, p, &h.values)
				case id == 2 && t == thrift.I32:
					return true, readI32(ctx, p, &h.encoding)
				case id == 3 && t == thrift.I32:
					return true, readI32(ctx, p, &h.defEncoding)
				}
				return false, nil
			})
		case id == 8 && t == thrift.STRUCT: // DataPageHeaderV2
			return true, readStruct(ctx, p, func(id int16, t thrift.TType) (bool, error) {
				switch {
				case id == 1 && t == thrift.I32:
					return true, readI32(ctx, p, &h.values)
				case id == 4 && t == thrift.I32:
					return true, readI32(ctx, p, &h.encoding)
				case id == 5 && t == thrift.I32:
					return true, readI32(ctx, p, &h.defLen)
				case id == 6 && t == thrift.I32:
					return true, readI32(ctx, p, &h.repLen)
				case id == 7 && t == thrift.BOOL:
					v, err := p.ReadBool(ctx)
					h.compressedV2 = v
					return true, err
				}
				return false, nil
			})
		}
		return false, nil
	})
	if err != nil {
		return pageHeader{}, fmt.Errorf("page header: %w", err)
	}
	if h.uncompressed < 0 || h.compressed < 0 || h.values < 0 || h.defLen < 0 || h.repLen < 0 {
		return pageHeader{}, errors.New("page header: negative size")
	}
	return h, nil
}

// readStruct reads a Thrift struct, calling field for each field; a field it does not
// read (false) is skipped.
func readStruct(ctx context.Context, p *thrift.TCompactProtocol, field func(id int16, t thrift.TType) (bool, error)) error {
	if _, err := p.ReadStructBegin(ctx); err != nil {
		return err
	}
	for {
		_, t, id, err := p.ReadFieldBegin(ctx)
		if err != nil {
			return err
		}
		if t == thrift.STOP {
			return p.ReadStructEnd(ctx)
		}
		read, err := field(id, t)
		if err == nil && !read {
			err = p.Skip(ctx, t)
		}
		if err != nil {
			return err
		}
		if err := p.ReadFieldEnd(ctx); err != nil {
			return err
		}
	}
}

func readI32(ctx context.Context, p *thrift.TCompactProtocol, v *int32) (err error) {
	*v, err = p.ReadI32(ctx)
	return err
}

// byteChunk is a column chunk of PLAIN byte values that a stream reads itself.
type byteChunk struct {
	off, end   int64 // its bytes in the data file
	rows       int64
	codec      compress.Compression
	maxPayload int64 // its uncompressed size: no page holds more
	optional   bool  // a value may be null: pages have definition levels (max 1)
}

// directByteChunk returns the chunk of a leaf of descriptor descr in a row group of rows
// rows, with metadata cc at [off, end) of its file, when its pages can be read by
// readBytePages.
func directByteChunk(descr *schema.Column, cc *metadata.ColumnChunkMetaData, off, end, rows int64) (byteChunk, bool) {
	if descr.PhysicalType() != parquet.Types.ByteArray || descr.MaxDefinitionLevel() > 1 || descr.MaxRepetitionLevel() != 0 {
		return byteChunk{}, false
	}
	optional := descr.MaxDefinitionLevel() == 1
	if cc.HasDictionaryPage() || (cc.Compression() != compress.Codecs.Uncompressed && cc.Compression() != compress.Codecs.Zstd) {
		return byteChunk{}, false
	}
	for _, e := range cc.Encodings() {
		// BIT_PACKED, deprecated, can only encode levels, which an optional chunk has.
		if e != parquet.Encodings.Plain && e != parquet.Encodings.RLE && (e != parquet.Encodings.BitPacked || optional) {
			return byteChunk{}, false
		}
	}
	return byteChunk{off: off, end: end, rows: rows, codec: cc.Compression(), maxPayload: cc.TotalUncompressedSize(), optional: optional}, true
}

// bytePage is one data page of a byte chunk as stored: its header and its payload, still
// compressed when the chunk is.
type bytePage struct {
	h    pageHeader
	data []byte
}

// readBytePages reads the pages of chunk c from r, which is at its start, each payload
// into a buffer of its own, and leaves r at the chunk's end. Index pages are skipped; a dictionary page, or pages
// whose values do not add up to the chunk's rows, fail it.
func readBytePages(r io.Reader, c byteChunk) ([]bytePage, error) {
	lr := &io.LimitedReader{R: r, N: c.end - c.off}
	br := bufio.NewReaderSize(lr, 64<<10)
	hr := headerReader(br)
	var pages []bytePage
	var values int64
	for values < c.rows {
		h, err := readPageHeader(hr)
		if err != nil {
			return nil, err
		}
		if int64(h.compressed) > int64(br.Buffered())+lr.N {
			return nil, fmt.Errorf("a page of %d bytes runs past its column chunk", h.compressed)
		}
		if int64(h.uncompressed) > c.maxPayload {
			return nil, fmt.Errorf("a page of %d bytes is larger than its column chunk's %d", h.uncompressed, c.maxPayload)
		}
		data := make([]byte, h.compressed)
		if _, err := io.ReadFull(br, data); err != nil {
			return nil, err
		}
		switch h.typ {
		case pageIndex:
			continue
		case pageData, pageDataV2:
		default:
			return nil, fmt.Errorf("unexpected page of type %d in a column chunk without a dictionary", h.typ)
		}
		if h.encoding != int32(parquet.Encodings.Plain) {
			return nil, fmt.Errorf("data page of encoding %d, want PLAIN", h.encoding)
		}
		values += int64(h.values)
		pages = append(pages, bytePage{h: h, data: data})
	}
	if values != c.rows {
		return nil, fmt.Errorf("pages hold %d values, the row group %d rows", values, c.rows)
	}
	// What follows the last data page is the chunk's too: read it, so that r is at the
	// chunk's end.
	if _, err := io.Copy(io.Discard, br); err != nil {
		return nil, err
	}
	return pages, nil
}

// zstdDecoder decompresses the Zstd pages of byte chunks; it is safe for concurrent use.
var zstdDecoder, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(maxPageBytes))

// byteValues appends the values of pages, PLAIN byte values of chunk c, to out: nil for a
// null. A value that fills at least an eighth of its page is a slice of the page's buffer,
// so a value kept by the caller never keeps more than eight times its size alive; a
// smaller one is a copy.
func byteValues(out [][]byte, pages []bytePage, c byteChunk) ([][]byte, error) {
	for _, pg := range pages {
		data, compressed := pg.data, c.codec != compress.Codecs.Uncompressed
		var levels []byte // the definition levels, RLE without their length
		if pg.h.typ == pageDataV2 {
			n := int64(pg.h.defLen) + int64(pg.h.repLen)
			if n > int64(len(data)) {
				return nil, errors.New("page levels run past the page")
			}
			levels, data, compressed = data[pg.h.repLen:n], data[n:], compressed && pg.h.compressedV2
		}
		if compressed {
			want := int(pg.h.uncompressed) - (len(pg.data) - len(data)) // less the levels
			if want < 0 {
				return nil, fmt.Errorf("page levels are longer than the page's %d bytes", pg.h.uncompressed)
			}
			var err error
			if data, err = zstdDecoder.DecodeAll(data, make([]byte, 0, want)); err != nil {
				return nil, fmt.Errorf("page: %w", err)
			}
			if len(data) != want {
				return nil, fmt.Errorf("page holds %d bytes, its header says %d", len(data), want)
			}
		}
		size := len(data)
		if c.optional && pg.h.typ == pageData {
			if pg.h.defEncoding != int32(parquet.Encodings.RLE) {
				return nil, fmt.Errorf("definition levels of encoding %d, want RLE", pg.h.defEncoding)
			}
			if len(data) < 4 || uint64(binary.LittleEndian.Uint32(data)) > uint64(len(data)-4) {
				return nil, errors.New("page levels run past the page")
			}
			n := binary.LittleEndian.Uint32(data)
			levels, data = data[4:4+n], data[4+n:]
		}
		var present []bool
		if c.optional {
			var err error
			if present, err = definedLevels(levels, int(pg.h.values)); err != nil {
				return nil, err
			}
		}
		for i := range int(pg.h.values) {
			if present != nil && !present[i] {
				out = append(out, nil)
				continue
			}
			if len(data) < 4 {
				return nil, errors.New("page ends inside a value's length")
			}
			n := binary.LittleEndian.Uint32(data)
			if uint64(n) > uint64(len(data)-4) {
				return nil, fmt.Errorf("a value of %d bytes runs past its page", n)
			}
			v := data[4 : 4+n : 4+n]
			if 8*len(v) < size {
				v = append([]byte{}, v...)
			}
			out = append(out, v)
			data = data[4+n:]
		}
	}
	return out, nil
}

// definedLevels decodes n definition levels of maximum 1 (bit width 1), stored in the RLE /
// bit-packed hybrid encoding of the Parquet format, and reports which are 1: defined.
func definedLevels(data []byte, n int) ([]bool, error) {
	out := make([]bool, 0, n)
	for len(out) < n {
		h, k := binary.Uvarint(data)
		if k <= 0 {
			return nil, errors.New("definition levels end early")
		}
		data = data[k:]
		if h&1 == 0 { // a run of h>>1 copies of one value, in one byte
			if len(data) < 1 || data[0] > 1 {
				return nil, errors.New("definition levels: bad run")
			}
			count := min(h>>1, uint64(n-len(out)))
			for range count {
				out = append(out, data[0] == 1)
			}
			data = data[1:]
			continue
		}
		groups := h >> 1 // of 8 values, one byte each at bit width 1
		if groups > uint64(len(data)) {
			return nil, errors.New("definition levels end early")
		}
		for _, b := range data[:groups] {
			for bit := 0; bit < 8 && len(out) < n; bit++ {
				out = append(out, b>>bit&1 == 1)
			}
		}
		data = data[groups:]
	}
	return out, nil
}
