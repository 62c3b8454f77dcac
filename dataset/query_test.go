package dataset_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"gocloud.dev/blob"

	"github.com/tarnhq/tarn/dataset"
)

// qSchema has a column of every type; the nullable ones are null in every fifth row.
var qSchema = dataset.NewSchema(
	dataset.Column{Name: "id", Type: dataset.T(dataset.Int64)},
	dataset.Column{Name: "flag", Type: dataset.T(dataset.Bool), Nullable: true},
	dataset.Column{Name: "i8", Type: dataset.T(dataset.Int8), Nullable: true},
	dataset.Column{Name: "i16", Type: dataset.T(dataset.Int16)},
	dataset.Column{Name: "i32", Type: dataset.T(dataset.Int32)},
	dataset.Column{Name: "u8", Type: dataset.T(dataset.Uint8)},
	dataset.Column{Name: "u16", Type: dataset.T(dataset.Uint16)},
	dataset.Column{Name: "u32", Type: dataset.T(dataset.Uint32)},
	dataset.Column{Name: "u64", Type: dataset.T(dataset.Uint64)},
	dataset.Column{Name: "f32", Type: dataset.T(dataset.Float32)},
	dataset.Column{Name: "score", Type: dataset.T(dataset.Float64), Nullable: true},
	dataset.Column{Name: "label", Type: dataset.T(dataset.Text)},
	dataset.Column{Name: "raw", Type: dataset.T(dataset.Bytes)},
	dataset.Column{Name: "meta", Type: dataset.T(dataset.JSON), Nullable: true},
	dataset.Column{Name: "image", Type: dataset.T(dataset.Image), Nullable: true},
	dataset.Column{Name: "emb", Type: dataset.EmbeddingOf(3)},
	dataset.Column{Name: "tensor", Type: dataset.TensorOf(dataset.Uint8, 2, 2)},
	dataset.Column{Name: "url", Type: dataset.LinkTo(dataset.Image)},
)

var labels = []string{"cat", "dog", "bird", "fish"}

// encodeImage encodes a w×h image as format (png, jpeg or gif).
func encodeImage(t testing.TB, format string, w, h int) []byte {
	img := image.NewPaletted(image.Rect(0, 0, w, h), color.Palette{color.Black, color.White})
	img.Set(0, 0, color.White)
	var buf bytes.Buffer
	var err error
	switch format {
	case "png":
		err = png.Encode(&buf, img)
	case "jpeg":
		err = jpeg.Encode(&buf, img, nil)
	case "gif":
		err = gif.Encode(&buf, img, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var imageFormats = []string{"png", "jpeg", "gif"}

// imageDims is the size of the image of row i.
func imageDims(i int) (w, h int) { return 1 + i%37, 1 + i%5 }

func qRow(t testing.TB, i int) dataset.Row {
	w, h := imageDims(i)
	f := imageFormats[i%3]
	r := dataset.Row{
		"id": int64(i), "flag": i%2 == 0, "i8": int8(i%200 - 100), "i16": int16(-i), "i32": int32(i * 1000),
		"u8": uint8(i % 250), "u16": uint16(i), "u32": uint32(i) * 7, "u64": uint64(1<<63) + uint64(i),
		"f32": float32(i) / 2, "score": float64(i%100) / 100, "label": labels[i%4],
		"raw":    []byte{byte(i), 1},
		"meta":   json.RawMessage(fmt.Sprintf(`{"n":%d,"tags":[%q,"all"]}`, i, labels[(i+1)%4])),
		"image":  dataset.ImageValue{Format: f, Data: encodeImage(t, f, w, h)},
		"emb":    []float32{float32(i), 0.5, -1},
		"tensor": []uint8{1, 2, 3, byte(i)},
		"url":    fmt.Sprintf("https://example.com/%d.png", i),
	}
	if i%5 == 4 {
		r["flag"], r["i8"], r["score"], r["meta"], r["image"] = nil, nil, nil, nil, nil
	}
	return r
}

// newQueryDataset makes a dataset of n qRows in several files and row groups.
func newQueryDataset(t *testing.T, n int) (*dataset.Dataset, *blob.Bucket) {
	t.Helper()
	ctx := context.Background()
	b, opts := fileBucket(t)
	ds, err := dataset.Create(ctx, b, qSchema, opts)
	if err != nil {
		t.Fatal(err)
	}
	app := ds.Appender(dataset.AppenderOptions{RowGroupBytes: 8 << 10, FileBytes: 40 << 10})
	defer app.Close()
	for i := range n {
		if err := app.Append(ctx, qRow(t, i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := app.Commit(ctx, "rows"); err != nil {
		t.Fatal(err)
	}
	return ds, b
}

// collect runs q and returns its rows, failing the test on an error.
func collect(t *testing.T, ds *dataset.Dataset, q dataset.Query) []dataset.QueryRow {
	t.Helper()
	var out []dataset.QueryRow
	for r, err := range ds.Query(context.Background(), q) {
		if err != nil {
			t.Fatalf("query %+v: %v", q, err)
		}
		out = append(out, r)
	}
	return out
}

func TestQueryEveryColumnType(t *testing.T) {
	const n = 300
	ds, _ := newQueryDataset(t, n)
	all, err := ds.Rows(context.Background(), 0, n)
	if err != nil {
		t.Fatal(err)
	}
	width := func(r dataset.Row) int {
		if r["image"] == nil {
			return -1
		}
		w, _ := imageDims(int(r["id"].(int64)))
		return w
	}
	id := func(r dataset.Row) int { return int(r["id"].(int64)) }
	cases := []struct {
		where string
		want  func(r dataset.Row) bool
	}{
		{`id == 7`, func(r dataset.Row) bool { return id(r) == 7 }},
		{`flag`, func(r dataset.Row) bool { return r["flag"] == true }},
		{`flag == null`, func(r dataset.Row) bool { return r["flag"] == nil }},
		{`i8 < -50`, func(r dataset.Row) bool { return r["i8"] != nil && r["i8"].(int8) < -50 }},
		{`i16 <= -250`, func(r dataset.Row) bool { return r["i16"].(int16) <= -250 }},
		{`i32 >= 100000 && i32 < 120000`, func(r dataset.Row) bool { x := r["i32"].(int32); return x >= 100000 && x < 120000 }},
		{`u8 == 42`, func(r dataset.Row) bool { return r["u8"].(uint8) == 42 }},
		{`u16 > 290`, func(r dataset.Row) bool { return r["u16"].(uint16) > 290 }},
		{`u32 < 70`, func(r dataset.Row) bool { return r["u32"].(uint32) < 70 }},
		{`u64 >= 9223372036854776000u`, func(r dataset.Row) bool { return r["u64"].(uint64) >= 9223372036854776000 }},
		{`f32 > 140.5`, func(r dataset.Row) bool { return r["f32"].(float32) > 140.5 }},
		{`score >= 0.9`, func(r dataset.Row) bool { return r["score"] != nil && r["score"].(float64) >= 0.9 }},
		{`score > 0`, func(r dataset.Row) bool { return r["score"] != nil && r["score"].(float64) > 0 }},
		{`label == "cat" && size(label) == 3`, func(r dataset.Row) bool { return r["label"] == "cat" }},
		{`label.startsWith("b")`, func(r dataset.Row) bool { return strings.HasPrefix(r["label"].(string), "b") }},
		{`raw == b"\x05\x01"`, func(r dataset.Row) bool { return id(r)%256 == 5 }},
		{`meta.n > 280`, func(r dataset.Row) bool { return r["meta"] != nil && id(r) > 280 }},
		{`"dog" in meta.tags`, func(r dataset.Row) bool { return r["meta"] != nil && labels[(id(r)+1)%4] == "dog" }},
		{`image.format == "jpeg"`, func(r dataset.Row) bool { return r["image"] != nil && id(r)%3 == 1 }},
		{`image.width > 30`, func(r dataset.Row) bool { return width(r) > 30 }},
		{`image.width == 3 && image.height == 4`, func(r dataset.Row) bool { return width(r) == 3 && id(r)%5 == 3 }},
		{`image.size > 0 && image.format == "gif"`, func(r dataset.Row) bool { return r["image"] != nil && id(r)%3 == 2 }},
		{`image == null`, func(r dataset.Row) bool { return r["image"] == nil }},
		{`emb[0] >= 295.0`, func(r dataset.Row) bool { return id(r) >= 295 }},
		{`tensor[3] == 9`, func(r dataset.Row) bool { return id(r)%256 == 9 }},
		{`url.endsWith("/12.png")`, func(r dataset.Row) bool { return id(r) == 12 }},
		{`id < 10 || id > 290`, func(r dataset.Row) bool { return id(r) < 10 || id(r) > 290 }},
		{`false`, func(r dataset.Row) bool { return false }},
	}
	for _, c := range cases {
		var want []int64
		for i, r := range all {
			if c.want(r) {
				want = append(want, int64(i))
			}
		}
		var got []int64
		for _, r := range collect(t, ds, dataset.Query{Where: c.where, Columns: []string{"id", "label"}}) {
			if !reflect.DeepEqual(r.Values, dataset.Row{"id": int64(r.Index), "label": labels[r.Index%4]}) {
				t.Errorf("%s: row %d is %v", c.where, r.Index, r.Values)
			}
			got = append(got, r.Index)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: rows %v, want %v", c.where, got, want)
		}
		if len(want) == 0 && c.where != "false" {
			t.Errorf("%s: the test matches no row", c.where)
		}
		count, err := ds.Count(context.Background(), c.where)
		if err != nil || count != int64(len(want)) {
			t.Errorf("Count(%s) = %d, %v; want %d", c.where, count, err, len(want))
		}
	}

	// Every column, as Rows returns them.
	got := collect(t, ds, dataset.Query{Where: `id % 50 == 3`})
	if len(got) != n/50 {
		t.Fatalf("got %d rows, want %d", len(got), n/50)
	}
	for _, r := range got {
		if want := full(qSchema, all[r.Index]); !reflect.DeepEqual(r.Values, want) {
			t.Errorf("row %d: %v, want %v", r.Index, r.Values, want)
		}
	}
}

// TestQueryErrorsBeforeReading deletes the data files: a query that read one would fail
// naming it, so an expression error proves nothing was read.
func TestQueryErrorsBeforeReading(t *testing.T) {
	ctx := context.Background()
	ds, b := newQueryDataset(t, 20)
	for _, f := range ds.Info().Files {
		if err := b.Delete(ctx, f.Path); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct{ where, want string }{
		{`lable == "cat"`, "where 1:1: undeclared reference to 'lable' (columns: id, flag, i8, i16, i32, u8, u16, u32, u64, f32, score, label, raw, meta, image, emb, tensor, url)\n  | lable == \"cat\"\n  | ^"},
		{`label == 3`, "where 1:7: found no matching overload for '_==_' applied to '(string, int)'\n  | label == 3\n  |       ^"},
		{`score >`, "where 1:8: Syntax error: mismatched input '<EOF>'"},
		{"id > 1 &&\n  image.widht > 3", "where 2:8: undefined field 'widht'\n  |   image.widht > 3\n  |        ^"},
		{`id + 1`, "where: the expression is of type int, not bool"},
		{`emb.size() > "x"`, "where 1:"},
	}
	for _, c := range cases {
		for _, err := range ds.Query(ctx, dataset.Query{Where: c.where}) {
			if err == nil || !strings.HasPrefix(err.Error(), c.want) {
				t.Errorf("Query(%q): %v\nwant an error starting %q", c.where, err, c.want)
			}
			break
		}
		if _, err := ds.Count(ctx, c.where); err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("Count(%q): %v, want %q", c.where, err, c.want)
		}
	}
	for _, q := range []dataset.Query{{Columns: []string{"nope"}}, {OrderBy: "image"}, {OrderBy: "nope"}, {Limit: -1}} {
		for _, err := range ds.Query(ctx, q) {
			if err == nil || strings.Contains(err.Error(), "missing") {
				t.Errorf("Query(%+v): %v, want an error about the query", q, err)
			}
			break
		}
	}
	// The control: a valid query does read, and fails.
	if _, err := ds.Count(ctx, `id > 3`); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("Count on deleted files: %v, want a missing data file", err)
	}
}

// TestQueryPrunesRowGroups checks that a selective filter on a sorted column reads the
// images of only the row groups it needs.
func TestQueryPrunesRowGroups(t *testing.T) {
	ctx := context.Background()
	b, opts := fileBucket(t)
	schema := dataset.NewSchema(
		dataset.Column{Name: "id", Type: dataset.T(dataset.Int64)},
		dataset.Column{Name: "label", Type: dataset.T(dataset.Text)},
		dataset.Column{Name: "image", Type: dataset.T(dataset.Image)},
	)
	ds, err := dataset.Create(ctx, b, schema, opts)
	if err != nil {
		t.Fatal(err)
	}
	app := ds.Appender(dataset.AppenderOptions{RowGroupBytes: 64 << 10, FileBytes: 1 << 20})
	defer app.Close()
	const n = 8000
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		data := make([]byte, 512)
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		if err := app.Append(ctx, dataset.Row{"id": int64(i), "label": fmt.Sprintf("l%05d", i), "image": dataset.ImageValue{Format: "png", Data: data}}); err != nil {
			t.Fatal(err)
		}
	}
	v, err := app.Commit(ctx, "rows")
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, f := range v.Files {
		total += f.Bytes
	}

	var full dataset.QueryStats
	if got := collect(t, ds, dataset.Query{Where: `id % 100 == 0`, Stats: &full}); len(got) != n/100 {
		t.Fatalf("full scan: %d rows", len(got))
	}
	if full.RowGroups < 20 || full.RowGroupsPruned != 0 || full.BytesRead < total*9/10 {
		t.Fatalf("full scan: %+v of %d bytes: want every row group read", full, total)
	}
	for _, where := range []string{`id >= 2000 && id < 2040`, `2040 > id && 2000 <= id && label != ""`, `label >= "l02000" && label < "l02040"`} {
		var st dataset.QueryStats
		got := collect(t, ds, dataset.Query{Where: where, Stats: &st})
		if len(got) != 40 || got[0].Index != 2000 || got[39].Values["image"] == nil {
			t.Fatalf("%s: %d rows from %d", where, len(got), got[0].Index)
		}
		if st.RowGroups != full.RowGroups || st.RowGroupsMatched > 2 || st.RowGroupsPruned < st.RowGroups-2 {
			t.Errorf("%s: %+v, want all but 1 or 2 row groups pruned", where, st)
		}
		if st.BytesRead*20 > full.BytesRead {
			t.Errorf("%s: read %d bytes, a full scan %d: want at most 1/20", where, st.BytesRead, full.BytesRead)
		}
	}
	// Image bytes only for row groups with a match, even without statistics to prune.
	var st dataset.QueryStats
	if got := collect(t, ds, dataset.Query{Where: `id % 1000 == 7 || id == 2`, Columns: []string{"image"}, Stats: &st}); len(got) != 9 {
		t.Fatalf("or: %d rows", len(got))
	}
	if st.RowGroupsPruned != 0 || st.RowGroupsMatched != 8 || st.BytesRead*4 > full.BytesRead {
		t.Errorf("or: %+v; a full scan reads %d bytes", st, full.BytesRead)
	}
}

func TestQueryOrderLimitOffset(t *testing.T) {
	const n = 300
	ds, _ := newQueryDataset(t, n)
	all, err := ds.Rows(context.Background(), 0, n)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []dataset.Query{
		{Where: `u8 % 3 == 0`, Limit: 7},
		{Where: `u8 % 3 == 0`, Limit: 7, Offset: 20},
		{Where: `u8 % 3 == 0`, Offset: 95},
		{Where: `u8 % 3 == 0`, OrderBy: "score", Limit: 10, Offset: 5},
		{Where: `u8 % 3 == 0`, OrderBy: "score", Desc: true, Limit: 10},
		{OrderBy: "score", Offset: 250},
		{OrderBy: "label", Desc: true, Limit: 12, Offset: 70},
		{Where: `flag != null`, OrderBy: "flag", Limit: 3},
		{Where: `id > 10`, OrderBy: "i16", Limit: 1000},
	} {
		// Brute force: filter, stable sort, slice.
		var want []int64
		for i, r := range all {
			if q.Where == "" || (q.Where == `u8 % 3 == 0` && r["u8"].(uint8)%3 == 0) ||
				(q.Where == `flag != null` && r["flag"] != nil) || (q.Where == `id > 10` && i > 10) {
				want = append(want, int64(i))
			}
		}
		if q.OrderBy != "" {
			slices.SortStableFunc(want, func(a, b int64) int { return compareCells(all[a][q.OrderBy], all[b][q.OrderBy], q.Desc) })
		}
		want = want[min(int(q.Offset), len(want)):]
		if q.Limit > 0 {
			want = want[:min(int(q.Limit), len(want))]
		}
		q.Columns = []string{"id"}
		var got []int64
		for _, r := range collect(t, ds, q) {
			if len(r.Values) != 1 || r.Values["id"] != r.Index {
				t.Errorf("%+v: row %d: %v, want only id", q, r.Index, r.Values)
			}
			got = append(got, r.Index)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%+v:\n got %v\nwant %v", q, got, want)
		}
	}
}

// compareCells orders values of one column for the brute force: nulls last either way.
func compareCells(a, b any, desc bool) int {
	if a == nil || b == nil {
		return cmp.Compare(btoi(a == nil), btoi(b == nil))
	}
	var c int
	switch x := a.(type) {
	case float64:
		c = cmp.Compare(x, b.(float64))
	case string:
		c = cmp.Compare(x, b.(string))
	case int16:
		c = cmp.Compare(x, b.(int16))
	case bool:
		c = cmp.Compare(btoi(x), btoi(b.(bool)))
	}
	if desc {
		return -c
	}
	return c
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
