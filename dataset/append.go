package dataset

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/google/uuid"
	"gocloud.dev/blob"
)

// AppenderOptions tunes an Appender. The zero value gives row groups of about 96 MiB and
// data files of about 256 MiB.
type AppenderOptions struct {
	// RowGroupBytes is the size of buffered row data at which a row group is written.
	RowGroupBytes int64
	// FileBytes is the size at which a data file is finished and the next one started.
	FileBytes int64
}

const (
	defaultRowGroupBytes = 96 << 20
	defaultFileBytes     = 256 << 20
)

// Appender adds rows to a dataset. Rows are buffered, written to new data files as they
// accumulate, and become visible only when Commit creates a version. An Appender is safe
// for concurrent use; several Appenders, in one process or many, may append to the same
// dataset at once.
type Appender struct {
	ds     *Dataset
	schema Schema
	arrow  *arrow.Schema
	opts   AppenderOptions

	mu       sync.Mutex
	rb       *array.RecordBuilder
	buffered int64 // estimated bytes in rb
	cur      *dataFile
	files    []File // finished, not yet committed
	err      error  // a failed write: the appender is unusable
}

// Appender returns an appender for rows of the dataset's current schema. Close it to
// release its buffers and delete data files it wrote but did not commit. The appender of a
// dataset at version 0 (half-created, see Create) fails every Append and Commit.
func (ds *Dataset) Appender(opts AppenderOptions) *Appender {
	if opts.RowGroupBytes <= 0 {
		opts.RowGroupBytes = defaultRowGroupBytes
	}
	if opts.FileBytes <= 0 {
		opts.FileBytes = defaultFileBytes
	}
	s := ds.Schema()
	as := s.arrowSchema()
	a := &Appender{ds: ds, schema: s, arrow: as, opts: opts, rb: array.NewRecordBuilder(memory.DefaultAllocator, as)}
	if len(s.Columns) == 0 {
		a.err = fmt.Errorf("append: %w", errNoVersion)
	}
	return a
}

// Append adds rows. It checks every value of every row first, so a call that fails adds
// nothing; the error names the row and column of a wrong type, an unknown column, or a null
// in a column that is not nullable. It may write a row group to a data file in the bucket.
func (a *Appender) Append(ctx context.Context, rows ...Row) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err != nil {
		return a.err
	}
	if a.rb == nil {
		return errors.New("append: appender is closed")
	}
	if err := a.ds.checkReadOnly(); err != nil {
		return fmt.Errorf("append: %w", err)
	}
	// Check the whole batch first, so that a bad row appends nothing.
	canon := make([][]any, len(rows))
	for i, r := range rows {
		for name := range r {
			if _, ok := a.schema.Column(name); !ok {
				return fmt.Errorf("append: row %d: unknown column %q", i, name)
			}
		}
		canon[i] = make([]any, len(a.schema.Columns))
		for j, c := range a.schema.Columns {
			v, err := canonical(c, r[c.Name])
			if err != nil {
				return fmt.Errorf("append: row %d: column %q (%s): %w", i, c.Name, c.Type, err)
			}
			canon[i][j] = v
		}
	}
	for i, vals := range canon {
		for j, c := range a.schema.Columns {
			if b := a.rb.Field(j); vals[j] == nil {
				b.AppendNull()
			} else {
				appendCanonical(c.Type, b, vals[j])
			}
			a.buffered += sizeOf(c, rows[i][c.Name])
		}
		if a.buffered >= a.opts.RowGroupBytes {
			if err := a.flush(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

// sizeOf estimates the bytes v takes in a row group before compression.
func sizeOf(c Column, v any) int64 {
	switch x := v.(type) {
	case nil:
		return 1
	case string:
		return int64(len(x)) + 4
	case []byte:
		return int64(len(x)) + 4
	case ImageValue:
		return int64(len(x.Data)+len(x.Format)) + 8
	case *ImageValue:
		return int64(len(x.Data)+len(x.Format)) + 8
	}
	switch c.Type.Kind {
	case Embedding:
		return int64(c.Type.Dim) * 4
	case Tensor:
		return int64(c.Type.elems()) * int64(arrowKind(c.Type.DType).(arrow.FixedWidthDataType).BitWidth()/8)
	}
	return 8
}

// flush writes the buffered rows as one row group, starting a data file if none is open,
// and finishes the file when it is large enough.
func (a *Appender) flush(ctx context.Context) error {
	if a.rb.Field(0).Len() == 0 {
		return nil
	}
	if a.cur == nil {
		f, err := newDataFile(ctx, a.ds.b, a.schema, a.arrow)
		if err != nil {
			a.err = fmt.Errorf("append: %w", err)
			return a.err
		}
		a.cur = f
	}
	rec := a.rb.NewRecordBatch()
	defer rec.Release()
	a.buffered = 0
	if err := a.cur.write(rec); err != nil {
		a.err = fmt.Errorf("append: %w", err)
		return a.err
	}
	if a.cur.n.n >= a.opts.FileBytes {
		return a.finishFile()
	}
	return nil
}

func (a *Appender) finishFile() error {
	f, err := a.cur.close()
	a.cur = nil
	if err != nil {
		a.err = fmt.Errorf("append: %w", err)
		return a.err
	}
	a.files = append(a.files, f)
	return nil
}

// Commit writes the buffered rows and creates a new version holding every row appended
// since the last Commit, with message. If other writers committed meanwhile, the rows are
// added on top of their versions; Commit fails, naming the column, when one of them changed
// the schema in a way these rows do not fit (a column removed or retyped). After Commit the
// appender may be used again, and the Dataset it came from is at the new version. A Commit
// with no rows still creates a version. The version records opts' Source, if any; Commit
// fails before writing anything when that source is invalid (Source.Dataset not a path,
// Source.Columns not columns of the dataset).
func (a *Appender) Commit(ctx context.Context, message string, opts ...CommitOptions) (Version, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err != nil {
		return Version{}, a.err
	}
	var source *Source
	for _, o := range opts {
		source = o.Source.clone()
	}
	if source != nil {
		if err := source.check(a.schema); err != nil {
			return Version{}, fmt.Errorf("commit: source: %w", err)
		}
	}
	if a.rb == nil {
		return Version{}, errors.New("commit: appender is closed")
	}
	if err := a.ds.checkReadOnly(); err != nil {
		return Version{}, fmt.Errorf("commit: %w", err)
	}
	if err := a.flush(ctx); err != nil {
		return Version{}, err
	}
	if a.cur != nil {
		if err := a.finishFile(); err != nil {
			return Version{}, err
		}
	}
	files := a.files
	var rows int64
	for _, f := range files {
		rows += f.Rows
	}
	m, err := a.ds.commit(ctx, func(latest *manifest) (*manifest, error) {
		if err := a.schema.compatible(latest.Schema); err != nil {
			return nil, fmt.Errorf("commit: %w", err)
		}
		next := *latest
		next.Files = append(append([]File(nil), latest.Files...), files...)
		next.Rows = latest.Rows + rows
		next.Message = message
		next.Source = source
		return &next, nil
	})
	if err != nil {
		return Version{}, err
	}
	a.files = nil
	return m.info(), nil
}

// CommitOptions describes the version an Appender's Commit creates, beyond its message.
type CommitOptions struct {
	// Source, when set, records where the committed rows came from (Version.Source).
	Source *Source
}

// Close releases the appender's buffers and deletes the data files it wrote since the last
// Commit. Rows appended since then are lost.
func (a *Appender) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.rb == nil {
		return nil
	}
	a.rb.Release()
	a.rb = nil
	var errs []error
	if a.cur != nil {
		a.cur.abort()
		a.cur = nil
	}
	for _, f := range a.files {
		if err := a.ds.b.Delete(context.Background(), f.Path); err != nil {
			errs = append(errs, fmt.Errorf("delete uncommitted %s: %w", f.Path, err))
		}
	}
	a.files = nil
	return errors.Join(errs...)
}

// dataFile is a Parquet file being written to the bucket.
type dataFile struct {
	path   string
	cancel context.CancelFunc
	w      *blob.Writer
	n      *countingWriter
	pw     *pqarrow.FileWriter
	rows   int64
}

type countingWriter struct {
	w *blob.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Data files are written for readers that fetch only what they show, such as the console's
// viewer, which reads one page of rows with ranged requests: every column has a page index
// (the offset index says where each page starts and which rows it holds), and pages are cut
// at about pageBytes, checked every batchRows values, so a page of images holds a few images
// and not a whole row group. Image data and bytes are written without a dictionary: their
// values rarely repeat, and a dictionary page would have to be read before any of them.
// Image data is stored uncompressed: images are compressed already (JPEG, PNG, WebP), so
// Zstd would only cost time on both ends, and a reader can hand out an image's bytes
// without copying them (see pages.go).
const (
	pageBytes = 256 << 10
	batchRows = 4
)

// writePageIndex is false only in tests of data files written without a page index, as
// older writers did.
var writePageIndex = true

func writerProps(s Schema) *parquet.WriterProperties {
	props := []parquet.WriterProperty{
		parquet.WithCompression(compress.Codecs.Zstd),
		parquet.WithMaxRowGroupLength(1 << 40), // row groups are cut by size, in Appender
		parquet.WithStats(true),
		parquet.WithPageIndexEnabled(writePageIndex),
		parquet.WithDataPageSize(pageBytes),
		parquet.WithBatchSize(batchRows),
	}
	for _, c := range s.Columns {
		switch c.Type.Kind {
		case Image:
			data := parquet.ColumnPath{c.Name, "data"}
			props = append(props, parquet.WithDictionaryPath(data, false), parquet.WithCompressionPath(data, compress.Codecs.Uncompressed))
		case Bytes:
			props = append(props, parquet.WithDictionaryPath(parquet.ColumnPath{c.Name}, false))
		}
	}
	return parquet.NewWriterProperties(props...)
}

func newDataFile(ctx context.Context, b *blob.Bucket, s Schema, schema *arrow.Schema) (*dataFile, error) {
	path := dataDir + uuid.NewString() + ".parquet"
	// The upload outlives the Append call that starts it; abort cancels it.
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	w, err := b.NewWriter(wctx, path, &blob.WriterOptions{ContentType: "application/vnd.apache.parquet"})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	cw := &countingWriter{w: w}
	pw, err := pqarrow.NewFileWriter(schema, cw, writerProps(s), pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		cancel()
		w.Close()
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	return &dataFile{path: path, cancel: cancel, w: w, n: cw, pw: pw}, nil
}

func (f *dataFile) write(rec arrow.RecordBatch) error {
	if err := f.pw.Write(rec); err != nil {
		return fmt.Errorf("write %s: %w", f.path, err)
	}
	f.rows += rec.NumRows()
	return nil
}

func (f *dataFile) close() (File, error) {
	defer f.cancel()
	if err := f.pw.Close(); err != nil {
		f.cancel()
		f.w.Close()
		return File{}, fmt.Errorf("write %s: %w", f.path, err)
	}
	if err := f.w.Close(); err != nil {
		return File{}, fmt.Errorf("write %s: %w", f.path, err)
	}
	hook("wrote data file")
	return File{Path: f.path, Rows: f.rows, Bytes: f.n.n}, nil
}

func (f *dataFile) abort() {
	f.cancel()
	f.pw.Close()
	f.w.Close()
}
