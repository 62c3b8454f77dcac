package dataset_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/tarnhq/tarn/dataset"
)

// TestDataFilesArePlainParquet reads a data file with arrow-go's generic Parquet reader, not
// through the dataset package, and compares the values with what was appended.
func TestDataFilesArePlainParquet(t *testing.T) {
	ctx := context.Background()
	b, opts := fileBucket(t)
	ds, err := dataset.Create(ctx, b, allTypes, opts)
	if err != nil {
		t.Fatal(err)
	}
	w := ds.Appender(dataset.AppenderOptions{})
	defer w.Close()
	const n = 50
	for i := 0; i < n; i++ {
		if err := w.Append(ctx, allTypesRow(i)); err != nil {
			t.Fatal(err)
		}
	}
	v, err := w.Commit(ctx, "rows")
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Files) != 1 {
		t.Fatalf("%d data files, want 1", len(v.Files))
	}

	pf, err := file.OpenParquetFile(filepath.Join(opts.Dir, filepath.FromSlash(v.Files[0].Path)), false)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	cc, err := pf.MetaData().RowGroup(0).ColumnChunk(0)
	if err != nil {
		t.Fatal(err)
	}
	if got := cc.Compression(); got != compress.Codecs.Zstd {
		t.Errorf("compression %v, want zstd", got)
	}
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := fr.ReadTable(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	if tbl.NumRows() != n || int(tbl.NumCols()) != len(allTypes.Columns) {
		t.Fatalf("table of %d rows × %d columns, want %d × %d", tbl.NumRows(), tbl.NumCols(), n, len(allTypes.Columns))
	}
	col := func(name string) any {
		idx := tbl.Schema().FieldIndices(name)
		if len(idx) != 1 || len(tbl.Column(idx[0]).Data().Chunks()) != 1 {
			t.Fatalf("column %s: %v", name, idx)
		}
		return tbl.Column(idx[0]).Data().Chunk(0)
	}
	ids := col("id").(*array.Int64)
	text := col("text").(*array.String)
	u64 := col("u64").(*array.Uint64)
	img := col("image").(*array.Struct)
	emb := col("emb").(*array.List)
	for i := 0; i < n; i++ {
		want := allTypesRow(i)
		if ids.Value(i) != int64(i) {
			t.Errorf("row %d: id %d", i, ids.Value(i))
		}
		if want["text"] == nil {
			if !text.IsNull(i) || !u64.IsNull(i) || !img.IsNull(i) || !emb.IsNull(i) {
				t.Errorf("row %d: want nulls", i)
			}
			continue
		}
		if text.Value(i) != want["text"] || u64.Value(i) != want["u64"] {
			t.Errorf("row %d: text %q, u64 %d", i, text.Value(i), u64.Value(i))
		}
		if f, d := img.Field(0).(*array.String).Value(i), img.Field(1).(*array.Binary).Value(i); f != "png" || string(d) != string(want["image"].(dataset.ImageValue).Data) {
			t.Errorf("row %d: image %s %q", i, f, d)
		}
		start, end := emb.ValueOffsets(i)
		vals := emb.ListValues().(*array.Float32).Float32Values()[start:end]
		if fmt.Sprint(vals) != fmt.Sprint(want["emb"]) {
			t.Errorf("row %d: emb %v, want %v", i, vals, want["emb"])
		}
	}
	// The tarn type of each column is in the field metadata.
	f, _ := tbl.Schema().FieldsByName("tensor")
	if typ, ok := f[0].Metadata.GetValue("tarn.type"); !ok || typ != `{"kind":"tensor","dtype":"uint8","shape":[2,3]}` {
		t.Errorf("tensor field metadata tarn.type = %q", typ)
	}
}

// TestDataFilesHaveSmallIndexedPages checks what a reader of one page of rows relies on:
// every column chunk has an offset index, and a page of the image column holds a few
// images, not the row group, so that 50 rows are read with about 50 images' bytes.
func TestDataFilesHaveSmallIndexedPages(t *testing.T) {
	ctx := context.Background()
	b, opts := fileBucket(t)
	schema := dataset.NewSchema(
		dataset.Column{Name: "id", Type: dataset.T(dataset.Int64)},
		dataset.Column{Name: "image", Type: dataset.T(dataset.Image)},
	)
	ds, err := dataset.Create(ctx, b, schema, opts)
	if err != nil {
		t.Fatal(err)
	}
	w := ds.Appender(dataset.AppenderOptions{})
	defer w.Close()
	const n, imageBytes = 200, 100 << 10
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		img := make([]byte, imageBytes) // random bytes do not compress, as encoded images do not
		for j := range img {
			img[j] = byte(rng.Uint32())
		}
		if err := w.Append(ctx, dataset.Row{"id": int64(i), "image": dataset.ImageValue{Format: "png", Data: img}}); err != nil {
			t.Fatal(err)
		}
	}
	v, err := w.Commit(ctx, "rows")
	if err != nil {
		t.Fatal(err)
	}
	pf, err := file.OpenParquetFile(filepath.Join(opts.Dir, filepath.FromSlash(v.Files[0].Path)), false)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	if pf.NumRowGroups() != 1 {
		t.Fatalf("%d row groups, want 1", pf.NumRowGroups())
	}
	rg, err := pf.GetPageIndexReader().RowGroup(0)
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"id", "image.format", "image.data"} {
		oi, err := rg.GetOffsetIndex(i)
		if err != nil || oi == nil {
			t.Fatalf("column %s: no offset index (%v)", name, err)
		}
		if name != "image.data" {
			continue
		}
		locs := oi.GetPageLocations()
		for j, l := range locs {
			end := int64(n)
			if j+1 < len(locs) {
				end = locs[j+1].FirstRowIndex
			}
			if rows := end - l.FirstRowIndex; rows > 8 {
				t.Errorf("page %d of image.data holds %d images (%d bytes), want at most 8", j, rows, l.CompressedPageSize)
			}
		}
		cc, _ := pf.MetaData().RowGroup(0).ColumnChunk(i)
		if cc.HasDictionaryPage() {
			t.Errorf("image.data has a dictionary page: a reader of one page would fetch it too")
		}
	}
}
