package dataset_test

import (
	"context"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tarnhq/tarn/dataset"
	"github.com/tarnhq/tarn/internal/miniotest"
)

const nnDim = 8

// randomVector returns a vector of nnDim values in [-1, 1).
func randomVector(r *rand.Rand) []float32 {
	v := make([]float32, nnDim)
	for i := range v {
		v[i] = 2*r.Float32() - 1
	}
	return v
}

// nnDataset is a dataset of many data files of several row groups each, with columns id,
// emb (embedding, not nullable), opt (nullable, every fifth row null) and late (nullable,
// added after the first 1,500 rows). Row 2999 repeats row 10's emb, for ties.
func nnDataset(t *testing.T) (*dataset.Dataset, map[string][][]float32) {
	t.Helper()
	ctx := context.Background()
	b, opts := fileBucket(t)
	ds, err := dataset.Create(ctx, b, dataset.NewSchema(
		dataset.Column{Name: "id", Type: dataset.T(dataset.Int64)},
		dataset.Column{Name: "emb", Type: dataset.EmbeddingOf(nnDim)},
		dataset.Column{Name: "opt", Type: dataset.EmbeddingOf(nnDim), Nullable: true},
	), opts)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	vecs := map[string][][]float32{}
	appendRows := func(from, to int, late bool) {
		t.Helper()
		w := ds.Appender(dataset.AppenderOptions{RowGroupBytes: 6000, FileBytes: 30000})
		defer w.Close()
		for i := from; i < to; i++ {
			row := dataset.Row{"id": int64(i), "emb": randomVector(r)}
			if i == 2999 {
				row["emb"] = vecs["emb"][10]
			}
			if i%5 != 0 {
				row["opt"] = randomVector(r)
			}
			if late {
				row["late"] = randomVector(r)
			}
			for _, c := range []string{"emb", "opt", "late"} {
				v, _ := row[c].([]float32)
				vecs[c] = append(vecs[c], v)
			}
			if err := w.Append(ctx, row); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := w.Commit(ctx, "rows"); err != nil {
			t.Fatal(err)
		}
	}
	appendRows(0, 1500, false)
	if _, err := ds.AddColumn(ctx, dataset.Column{Name: "late", Type: dataset.EmbeddingOf(nnDim), Nullable: true}); err != nil {
		t.Fatal(err)
	}
	appendRows(1500, 3000, true)
	if n := len(ds.Info().Files); n < 6 {
		t.Fatalf("%d data files, want many", n)
	}
	return ds, vecs
}

// bruteForce returns the k nearest of vecs (nil: null) to q that keep allows, in float64.
func bruteForce(vecs [][]float32, q []float32, k int, m dataset.Metric, keep func(int) bool) []dataset.Neighbour {
	var all []dataset.Neighbour
	for i, v := range vecs {
		if v == nil || !keep(i) {
			continue
		}
		var d, nq, nv, l2 float64
		for j := range v {
			a, b := float64(q[j]), float64(v[j])
			d += a * b
			nq += a * a
			nv += b * b
			l2 += (a - b) * (a - b)
		}
		dist := -d
		switch m {
		case dataset.Cosine:
			dist = 1 - d/math.Sqrt(nq*nv)
		case dataset.L2:
			dist = math.Sqrt(l2)
		}
		all = append(all, dataset.Neighbour{Row: int64(i), Distance: dist})
	}
	slices.SortStableFunc(all, func(a, b dataset.Neighbour) int {
		if a.Distance < b.Distance {
			return -1
		}
		if a.Distance > b.Distance {
			return 1
		}
		return 0
	})
	return all[:min(k, len(all))]
}

func checkNeighbours(t *testing.T, what string, got, want []dataset.Neighbour) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d neighbours, want %d", what, len(got), len(want))
	}
	for i := range want {
		if got[i].Row != want[i].Row || math.Abs(got[i].Distance-want[i].Distance) > 1e-5 {
			t.Fatalf("%s: neighbour %d is %+v, want %+v\ngot  %v\nwant %v", what, i, got[i], want[i], got, want)
		}
	}
}

func TestNearestIsExact(t *testing.T) {
	ctx := context.Background()
	ds, vecs := nnDataset(t)
	all := func(int) bool { return true }
	r := rand.New(rand.NewPCG(3, 4))
	for _, m := range []dataset.Metric{dataset.Cosine, dataset.L2, dataset.Dot} {
		for _, col := range []string{"emb", "opt", "late"} {
			q := randomVector(r)
			got, err := ds.Nearest(ctx, col, q, 10, m)
			if err != nil {
				t.Fatal(err)
			}
			checkNeighbours(t, string(m)+" "+col, got, bruteForce(vecs[col], q, 10, m, all))
			for _, workers := range []int{1, 3, 16} {
				again, err := ds.Nearest(ctx, col, q, 10, m, dataset.NearestOptions{Workers: workers})
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(again, got) {
					t.Fatalf("%s %s with %d workers: %v, want %v", m, col, workers, again, got)
				}
			}
		}
	}
	if got, _ := ds.Nearest(ctx, "late", randomVector(r), 1, dataset.L2); got[0].Row < 1500 {
		t.Errorf("nearest of late is row %d, which has no value", got[0].Row)
	}
	// A tie goes to the smaller row number: row 2999 repeats row 10.
	got, err := ds.Nearest(ctx, "emb", vecs["emb"][10], 2, dataset.L2)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Row != 10 || got[1].Row != 2999 || got[0].Distance != 0 || got[1].Distance != 0 {
		t.Errorf("nearest to row 10's own vector: %v, want rows 10 and 2999 at 0", got)
	}
	// More than the rows: every non-null row, in order of distance.
	q := randomVector(r)
	got, err = ds.Nearest(ctx, "opt", q, 5000, dataset.Dot)
	if err != nil {
		t.Fatal(err)
	}
	checkNeighbours(t, "k > rows", got, bruteForce(vecs["opt"], q, 5000, dataset.Dot, all))
	if len(got) != 2400 {
		t.Errorf("%d neighbours, want the 2400 non-null rows", len(got))
	}
}

func TestNearestFilter(t *testing.T) {
	ctx := context.Background()
	ds, vecs := nnDataset(t)
	q := randomVector(rand.New(rand.NewPCG(5, 6)))
	var calls atomic.Int64
	got, err := ds.Nearest(ctx, "emb", q, 7, dataset.Cosine, dataset.NearestOptions{
		Columns: []string{"id"},
		Filter: func(r dataset.Row) bool {
			calls.Add(1)
			if len(r) != 1 {
				t.Errorf("the filter sees %v, want only id", r)
			}
			return r["id"].(int64)%3 == 0
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	checkNeighbours(t, "filtered", got, bruteForce(vecs["emb"], q, 7, dataset.Cosine, func(i int) bool { return i%3 == 0 }))
	if calls.Load() != 3000 {
		t.Errorf("the filter ran %d times, want once per row (3000)", calls.Load())
	}
}

func TestNearestErrors(t *testing.T) {
	ctx := context.Background()
	ds, _ := nnDataset(t)
	v := make([]float32, nnDim)
	v[0] = 1
	zero := make([]float32, nnDim)
	nan := append([]float32(nil), v...)
	nan[3] = float32(math.NaN())
	keep := func(dataset.Row) bool { return true }
	for _, c := range []struct {
		name   string
		column string
		vector []float32
		k      int
		metric dataset.Metric
		opts   []dataset.NearestOptions
		want   string
	}{
		{"unknown column", "nope", v, 1, dataset.L2, nil, `unknown column "nope"`},
		{"not an embedding", "id", v, 1, dataset.L2, nil, `column "id" is int64, not an embedding`},
		{"short vector", "emb", v[:3], 1, dataset.L2, nil, `the vector has 3 values but column "emb" is embedding(8): give 8 values`},
		{"k zero", "emb", v, 0, dataset.L2, nil, "k is 0: ask for at least 1 neighbour"},
		{"unknown metric", "emb", v, 1, "hamming", nil, `unknown metric "hamming": use cosine, l2 or dot`},
		{"zero vector", "emb", zero, 1, dataset.Cosine, nil, "the vector is all zeros"},
		{"NaN", "emb", nan, 1, dataset.Dot, nil, "the vector holds NaN at index 3"},
		{"filter column", "emb", v, 1, dataset.Dot, []dataset.NearestOptions{{Filter: keep, Columns: []string{"nope"}}}, `unknown column "nope"`},
		{"columns only", "emb", v, 1, dataset.Dot, []dataset.NearestOptions{{Columns: []string{"id"}}}, "Columns is set without a Filter"},
		{"two options", "emb", v, 1, dataset.Dot, []dataset.NearestOptions{{}, {}}, "at most one NearestOptions"},
	} {
		got, err := ds.Nearest(ctx, c.column, c.vector, c.k, c.metric, c.opts...)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v, %v; want an error with %q", c.name, got, err, c.want)
		}
	}
	// A zero vector is fine for l2 and dot.
	if _, err := ds.Nearest(ctx, "emb", zero, 1, dataset.L2); err != nil {
		t.Errorf("zero vector, l2: %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := ds.Nearest(cancelled, "emb", v, 1, dataset.L2); err == nil {
		t.Error("a cancelled search succeeded")
	}
}

// byteCounter counts the bytes of response bodies.
type byteCounter struct{ n atomic.Int64 }

func (c *byteCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil {
		resp.Body = &countingBody{resp.Body, &c.n}
	}
	return resp, err
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// Nearest reads only the column's chunks, with ranged reads: on a data file of 2 KiB
// payloads and 64-byte embeddings, it reads a small part of the file.
func TestNearestReadsOnlyTheColumn(t *testing.T) {
	ctx := context.Background()
	s := miniotest.Start(t)
	var ct byteCounter
	b, err := rootBucketHTTP(s3Peer{s.Endpoint, s.RootUser, s.RootPassword, s.Bucket, "nn/"}, &http.Client{Transport: &ct})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ds, err := dataset.Create(ctx, b, dataset.NewSchema(
		dataset.Column{Name: "emb", Type: dataset.EmbeddingOf(16)},
		dataset.Column{Name: "payload", Type: dataset.T(dataset.Bytes)},
	), dataset.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := ds.Appender(dataset.AppenderOptions{RowGroupBytes: 2 << 20})
	defer w.Close()
	r := rand.New(rand.NewPCG(7, 8))
	noise := rand.NewChaCha8([32]byte{7})
	const rows = 6000
	var vecs [][]float32
	for range rows {
		v := make([]float32, 16)
		for j := range v {
			v[j] = r.Float32()
		}
		payload := make([]byte, 2048)
		noise.Read(payload)
		vecs = append(vecs, v)
		if err := w.Append(ctx, dataset.Row{"emb": v, "payload": payload}); err != nil {
			t.Fatal(err)
		}
	}
	info, err := w.Commit(ctx, "rows")
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Files) != 1 || info.Files[0].Bytes < 10<<20 {
		t.Fatalf("files %v, want one of over 10 MiB, which is read with ranged reads", info.Files)
	}
	q := vecs[123]
	before := ct.n.Load()
	got, err := ds.Nearest(ctx, "emb", q, 5, dataset.L2)
	if err != nil {
		t.Fatal(err)
	}
	read := ct.n.Load() - before
	checkNeighbours(t, "ranged", got, bruteForce(vecs, q, 5, dataset.L2, func(int) bool { return true }))
	// The column, about rows×16×4 bytes, and the file's tail: 256 KiB with the footer.
	if limit := int64(rows*16*4) + 2*256<<10; read > limit {
		t.Errorf("read %d bytes of a %d-byte file, want at most %d (the column and the tail)", read, info.Files[0].Bytes, limit)
	}
}
