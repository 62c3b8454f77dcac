package dataset_test

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/tarnhq/tarn/dataset"
)

// sampleDataset is a dataset of 2,000 rows (column n = row number) in many data files.
func sampleDataset(t *testing.T) *dataset.Dataset {
	t.Helper()
	ctx := context.Background()
	b, opts := fileBucket(t)
	ds, err := dataset.Create(ctx, b, dataset.NewSchema(
		dataset.Column{Name: "n", Type: dataset.T(dataset.Int64)},
		dataset.Column{Name: "label", Type: dataset.T(dataset.Text)},
	), opts)
	if err != nil {
		t.Fatal(err)
	}
	w := ds.Appender(dataset.AppenderOptions{RowGroupBytes: 2000, FileBytes: 1})
	defer w.Close()
	rows := make([]dataset.Row, 2000)
	for i := range rows {
		label := "common"
		if i%100 == 0 {
			label = "rare"
		}
		rows[i] = dataset.Row{"n": int64(i), "label": label}
	}
	for i := 0; i < len(rows); i += 50 { // the appender cuts row groups between calls
		if err := w.Append(ctx, rows[i:i+50]...); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := w.Commit(ctx, "rows"); err != nil || len(v.Files) < 5 {
		t.Fatalf("commit: %d files, %v; want many", len(v.Files), err)
	}
	return ds
}

// sampleOf returns the n column of the rows Iter yields with opts.
func sampleOf(t *testing.T, ds *dataset.Dataset, opts dataset.IterOptions) []int64 {
	t.Helper()
	var out []int64
	for r, err := range ds.Iter(context.Background(), opts) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r["n"].(int64))
	}
	return out
}

func hasDuplicates(s []int64) bool {
	s = slices.Clone(s)
	slices.Sort(s)
	return len(slices.Compact(s)) != len(s)
}

func TestIterSample(t *testing.T) {
	ds := sampleDataset(t)
	for _, replace := range []bool{false, true} {
		o := dataset.IterOptions{Sample: 50, Replace: replace, Seed: 1, Prefetch: 2}
		a := sampleOf(t, ds, o)
		o.Prefetch = 5
		if b := sampleOf(t, ds, o); !reflect.DeepEqual(a, b) {
			t.Errorf("replace %v: seed 1 gave %v, then %v", replace, a, b)
		}
		o.Seed = 2
		if c := sampleOf(t, ds, o); reflect.DeepEqual(a, c) {
			t.Errorf("replace %v: seeds 1 and 2 gave the same sample %v", replace, a)
		}
		if len(a) != 50 || !slices.IsSorted(a) {
			t.Errorf("replace %v: sample %v, want 50 rows in row order", replace, a)
		}
		if !replace && hasDuplicates(a) {
			t.Errorf("a sample without replacement has duplicates: %v", a)
		}
		// Shuffled: the same rows, in another order.
		o.Seed, o.ShuffleBuffer = 1, 1
		s := sampleOf(t, ds, o)
		sorted := slices.Clone(s)
		slices.Sort(sorted)
		if !reflect.DeepEqual(sorted, a) || slices.IsSorted(s) {
			t.Errorf("replace %v: shuffled sample %v, want %v shuffled", replace, s, a)
		}
	}
	// More than the rows.
	all := sampleOf(t, ds, dataset.IterOptions{Sample: 5000})
	if len(all) != 2000 || hasDuplicates(all) || !slices.IsSorted(all) {
		t.Errorf("a sample of 5000 of 2000 rows without replacement has %d rows", len(all))
	}
	more := sampleOf(t, ds, dataset.IterOptions{Sample: 5000, Replace: true})
	if len(more) != 5000 || !hasDuplicates(more) {
		t.Errorf("5000 draws with replacement: %d rows", len(more))
	}
}

func TestIterSampleWeighted(t *testing.T) {
	ds := sampleDataset(t)
	// Rare rows (1 in 100) weigh 99 times more: half the draws are rare.
	rare := func(r dataset.Row) float64 {
		if r["label"] == "rare" {
			return 99
		}
		return 1
	}
	got := sampleOf(t, ds, dataset.IterOptions{Sample: 4000, Replace: true, Weight: rare, Seed: 3})
	n := 0
	for _, x := range got {
		if x%100 == 0 {
			n++
		}
	}
	if f := float64(n) / float64(len(got)); f < 0.45 || f > 0.55 {
		t.Errorf("%d of %d draws are rare rows, want about half", n, len(got))
	}
	// Weight 0 is never drawn; the weight sees the projected columns.
	only := func(r dataset.Row) float64 {
		if len(r) != 2 {
			t.Errorf("weight sees %v", r)
		}
		return rare(r) - 1
	}
	got = sampleOf(t, ds, dataset.IterOptions{Sample: 30, Weight: only, Columns: []string{"n", "label"}})
	if len(got) != 20 {
		t.Errorf("sample of 30 of the 20 rows of positive weight: %v", got)
	}
	for _, x := range got {
		if x%100 != 0 {
			t.Errorf("row %d of weight 0 was drawn", x)
		}
	}
	// A bad weight stops the iteration, naming the row.
	var err error
	for _, err = range ds.Iter(context.Background(), dataset.IterOptions{Sample: 3, Weight: func(r dataset.Row) float64 { return 5 - float64(r["n"].(int64)) }}) {
		if err != nil {
			break
		}
	}
	if err == nil || !strings.Contains(err.Error(), "row 6 has sampling weight -1") {
		t.Errorf("negative weight: %v", err)
	}
}
