package bench

import (
	"context"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/dataset"
	"github.com/tarnhq/tarn/internal/miniotest"
)

const (
	nearestRows   = 200_000
	nearestDim    = 128
	nearestK      = 10
	nearestBatch  = 1000 // rows per Append call
	nearestRounds = 3    // each side runs this often, alternating; the best run counts
)

// BenchmarkNearest imports 200,000 rows of 128-d float32 embeddings (columns id, emb) into
// al://local/coco on MinIO through dataset.CreatePath and an Appender (row groups of 8 MiB,
// data files of 32 MiB, so that there are row groups to search in parallel), opens it with
// dataset.OpenPath(al://..., read), and times three things, alternating, best of 3 each:
// ds.Nearest (top 10, cosine); reading the emb column once with Iter (Prefetch 8); and a
// plain Go loop (one goroutine) computing the same cosine distances over the same vectors
// already in memory and keeping the top 10. It reports ratio-loop = Nearest ÷ loop (the
// limit) and ratio-read = Nearest ÷ read, and checks that Nearest and the loop agree.
func BenchmarkNearest(b *testing.B) {
	ctx := context.Background()
	env := newS3Env(b, miniotest.Start(b), "")
	path := "al://" + benchOrg + "/" + benchDataset

	r := rand.New(rand.NewPCG(1, 2))
	vecs := make([][]float32, nearestRows)
	for i := range vecs {
		v := make([]float32, nearestDim)
		for j := range v {
			v[j] = float32(r.NormFloat64())
		}
		vecs[i] = v
	}
	query := vecs[12345]

	ds, err := dataset.CreatePath(ctx, path, dataset.NewSchema(
		dataset.Column{Name: "id", Type: dataset.T(dataset.Int64)},
		dataset.Column{Name: "emb", Type: dataset.EmbeddingOf(nearestDim)},
	), dataset.PathOptions{Client: env.admin})
	if err != nil {
		b.Fatalf("create: %v", err)
	}
	app := ds.Appender(dataset.AppenderOptions{RowGroupBytes: 8 << 20, FileBytes: 32 << 20})
	rows := make([]dataset.Row, 0, nearestBatch)
	for i := 0; i < nearestRows; i += nearestBatch {
		rows = rows[:0]
		for j := i; j < i+nearestBatch; j++ {
			rows = append(rows, dataset.Row{"id": int64(j), "emb": vecs[j]})
		}
		if err := app.Append(ctx, rows...); err != nil {
			b.Fatalf("append: %v", err)
		}
	}
	info, err := app.Commit(ctx, "embeddings")
	if err != nil {
		b.Fatalf("commit: %v", err)
	}
	var dsBytes int64
	for _, f := range info.Files {
		dsBytes += f.Bytes
	}
	app.Close()
	ds.Close()

	ds, err = dataset.OpenPath(ctx, path, dataset.PathOptions{Client: env.admin, Mode: api.ModeRead})
	if err != nil {
		b.Fatalf("open: %v", err)
	}
	defer ds.Close()

	var got, want []dataset.Neighbour
	nearest := func() {
		var err error
		if got, err = ds.Nearest(ctx, "emb", query, nearestK, dataset.Cosine); err != nil {
			b.Fatalf("nearest: %v", err)
		}
	}
	readColumn := func() {
		n := 0
		for r, err := range ds.Iter(ctx, dataset.IterOptions{Columns: []string{"emb"}, Prefetch: streamPrefetch}) {
			if err != nil {
				b.Fatalf("read: %v", err)
			}
			if len(r["emb"].([]float32)) != nearestDim {
				b.Fatalf("read: emb is %v", r["emb"])
			}
			n++
		}
		if n != nearestRows {
			b.Fatalf("read %d rows, want %d", n, nearestRows)
		}
	}
	loop := func() { want = plainNearest(vecs, query, nearestK) }
	best := func(f func(), best *time.Duration) {
		start := time.Now()
		f()
		if d := time.Since(start); *best == 0 || d < *best {
			*best = d
		}
	}

	b.ResetTimer()
	for range b.N {
		var nn, rd, lp time.Duration
		for range nearestRounds {
			best(nearest, &nn)
			best(readColumn, &rd)
			best(loop, &lp)
		}
		gotRows, wantRows := make([]int64, len(got)), make([]int64, len(want))
		for i := range got {
			gotRows[i] = got[i].Row
		}
		for i := range want {
			wantRows[i] = want[i].Row
		}
		if !reflect.DeepEqual(gotRows, wantRows) {
			b.Fatalf("Nearest found rows %v, the loop %v", gotRows, wantRows)
		}
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
		b.ReportMetric(float64(len(info.Files)), "files")
		b.ReportMetric(float64(dsBytes)/(1<<20), "dataset-MiB")
		b.ReportMetric(ms(nn), "nearest-ms")
		b.ReportMetric(ms(rd), "read-column-ms")
		b.ReportMetric(ms(lp), "loop-ms")
		b.ReportMetric(nn.Seconds()/lp.Seconds(), "ratio-loop")
		b.ReportMetric(nn.Seconds()/rd.Seconds(), "ratio-read")
	}
}

// plainNearest is the baseline: one loop over vecs computing the cosine distance to q,
// keeping the k nearest in a sorted slice.
func plainNearest(vecs [][]float32, q []float32, k int) []dataset.Neighbour {
	var qq float32
	for _, x := range q {
		qq += x * x
	}
	qn := math.Sqrt(float64(qq))
	top := make([]dataset.Neighbour, 0, k+1)
	for i, v := range vecs {
		var d, n float32
		for j, x := range v {
			d += q[j] * x
			n += x * x
		}
		dist := 1 - float64(d)/(qn*math.Sqrt(float64(n)))
		if len(top) == k && dist >= top[k-1].Distance {
			continue
		}
		at, _ := slices.BinarySearchFunc(top, dist, func(e dataset.Neighbour, t float64) int {
			if e.Distance <= t {
				return -1
			}
			return 1
		})
		top = slices.Insert(top, at, dataset.Neighbour{Row: int64(i), Distance: dist})
		if len(top) > k {
			top = top[:k]
		}
	}
	return top
}
