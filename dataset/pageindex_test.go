package dataset_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"gocloud.dev/blob"

	"github.com/tarnhq/tarn/dataset"
)

// pageSchema has a sorted text column whose values are long and distinct, so that its
// pages hold about a thousand rows each, another (zone) that alternates between two
// prefixes every 4,000 rows, an id whose dictionary-encoded pages hold the
// whole row group, a nullable unsorted score, images and embeddings (a repeated leaf).
var pageSchema = dataset.NewSchema(
	dataset.Column{Name: "id", Type: dataset.T(dataset.Int64)},
	dataset.Column{Name: "label", Type: dataset.T(dataset.Text)},
	dataset.Column{Name: "zone", Type: dataset.T(dataset.Text)},
	dataset.Column{Name: "score", Type: dataset.T(dataset.Float64), Nullable: true},
	dataset.Column{Name: "image", Type: dataset.T(dataset.Image)},
	dataset.Column{Name: "emb", Type: dataset.EmbeddingOf(3)},
)

const pagePad = 200 // bytes of padding in each label

// pageLabel is the label of row i: sorted by i.
func pageLabel(i int) string { return fmt.Sprintf("l%06d-%s", i, strings.Repeat("x", pagePad)) }

// pageZone is the zone of row i: z0-… and z1-… by turns of 4,000 rows.
func pageZone(i int) string {
	return fmt.Sprintf("z%d-%06d-%s", i/4000%2, i, strings.Repeat("x", pagePad))
}

func pageRow(i int, rng *rand.Rand) dataset.Row {
	data := make([]byte, 200)
	for j := range data {
		data[j] = byte(rng.Uint32())
	}
	var score any = float64(i%1000) / 1000
	if i%7 == 0 {
		score = nil
	}
	emb := []float32{float32(i % 16), 0.5, -1}
	return dataset.Row{"id": int64(i), "label": pageLabel(i), "zone": pageZone(i), "score": score, "image": dataset.ImageValue{Format: "png", Data: data}, "emb": emb}
}

// pageDataset creates a dataset whose version 2 is one data file of one row group of n
// rows, with a page index, and whose version 3 adds a file of m rows written without one.
func pageDataset(t *testing.T, n, m int) (*blob.Bucket, []dataset.Row) {
	t.Helper()
	ctx := context.Background()
	b, opts := fileBucket(t)
	ds, err := dataset.Create(ctx, b, pageSchema, opts)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	var rows []dataset.Row
	for _, k := range []int{n, m} {
		dataset.SetPageIndex(k == n)
		app := ds.Appender(dataset.AppenderOptions{RowGroupBytes: 64 << 20, FileBytes: 256 << 20})
		for range k {
			r := pageRow(len(rows), rng)
			rows = append(rows, r)
			if err := app.Append(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := app.Commit(ctx, "rows"); err != nil {
			t.Fatal(err)
		}
		app.Close()
	}
	dataset.SetPageIndex(true)
	return b, rows
}

// TestQueryPrunesPages checks that a selective filter on a sorted column of one large row
// group returns what a scan of every row finds, reading a small part of the data file, and
// that filters the page index cannot help, and files without one, still give every match.
func TestQueryPrunesPages(t *testing.T) {
	const n, m = 30000, 3000
	b, rows := pageDataset(t, n, m)
	lo, hi := pageLabel(12000), pageLabel(12300)
	score := func(r dataset.Row) (float64, bool) { s, ok := r["score"].(float64); return s, ok }
	cases := []struct {
		where string
		match func(i int, r dataset.Row) bool
	}{
		{fmt.Sprintf(`label >= %q && label < %q`, lo, hi), func(i int, _ dataset.Row) bool { return i >= 12000 && i < 12300 }},
		{fmt.Sprintf(`label == %q`, pageLabel(n+100)), func(i int, _ dataset.Row) bool { return i == n+100 }},
		{fmt.Sprintf(`%q <= label && score > 0.5 && label < %q`, lo, hi), func(i int, r dataset.Row) bool {
			s, ok := score(r)
			return i >= 12000 && i < 12300 && ok && s > 0.5
		}},
		{fmt.Sprintf(`label > %q && id < 100`, pageLabel(29000)), func(int, dataset.Row) bool { return false }},
		{fmt.Sprintf(`label < %q || id == 29999`, pageLabel(5)), func(i int, _ dataset.Row) bool { return i < 5 || i == 29999 }},
		{fmt.Sprintf(`label >= %q && label < %q && zone < "z1" && score < 0.3`, pageLabel(2000), pageLabel(21000)), func(i int, r dataset.Row) bool {
			s, ok := score(r)
			return i >= 2000 && i < 21000 && i/4000%2 == 0 && ok && s < 0.3
		}},
		{`id >= 20000 && id < 20010`, func(i int, _ dataset.Row) bool { return i >= 20000 && i < 20010 }},
		{`score >= 0.998`, func(_ int, r dataset.Row) bool { s, ok := score(r); return ok && s >= 0.998 }},
		{fmt.Sprintf(`label >= %q && size(image.format) > 0`, pageLabel(n-2)), func(i int, _ dataset.Row) bool { return i >= n-2 }},
	}
	cb := &countingBucket{inner: b}
	ds := openVersion(t, cb, 3)
	for _, c := range cases {
		var want []dataset.QueryRow
		for i, r := range rows {
			if c.match(i, r) {
				want = append(want, dataset.QueryRow{Index: int64(i), Values: r})
			}
		}
		got := collect(t, ds, dataset.Query{Where: c.where})
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%.60s: %d rows %v, want %d %v", c.where, len(got), indexes(got), len(want), indexes(want))
		}
		var st dataset.QueryStats
		got = collect(t, ds, dataset.Query{Where: c.where, OrderBy: "score", Desc: true, Limit: 3, Stats: &st})
		if len(want) > 3 {
			want = want[:3]
		}
		if len(got) != len(want) {
			t.Errorf("%.60s sorted: %d rows, want %d", c.where, len(got), len(want))
		}
	}

	// Bytes at the bucket: a full read of version 2 against the pruned query.
	cb = &countingBucket{inner: b}
	ds1 := openVersion(t, cb, 2)
	var all dataset.QueryStats
	if got := collect(t, ds1, dataset.Query{Where: `id % 100 == 0`, Stats: &all}); len(got) != n/100 {
		t.Fatalf("full read: %d rows", len(got))
	}
	full := cb.stats().bytes
	if all.RowsPagePruned != 0 || full < ds1.Info().Files[0].Bytes*9/10 {
		t.Fatalf("full read: %+v, %d bytes of %d", all, full, ds1.Info().Files[0].Bytes)
	}
	for _, c := range cases[:1] {
		cb.st = bucketStats{}
		var st dataset.QueryStats
		got := collect(t, ds1, dataset.Query{Where: c.where, Stats: &st})
		read := cb.stats().bytes
		if len(got) != 300 || st.RowsPagePruned < n*9/10 {
			t.Errorf("%.60s: %d rows, %+v", c.where, len(got), st)
		}
		if read*10 > full || st.BytesRead != read {
			t.Errorf("%.60s: %d bytes at the bucket (the query says %d), a full read %d: want at most 1/10", c.where, read, st.BytesRead, full)
		}
		t.Logf("%.60s: %d of %d bytes, %d reads, %+v", c.where, read, full, cb.stats().reads, st)
	}
}

func indexes(rows []dataset.QueryRow) []int64 {
	var out []int64
	for _, r := range rows[:min(len(rows), 5)] {
		out = append(out, r.Index)
	}
	return out
}
