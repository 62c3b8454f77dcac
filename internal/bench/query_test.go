package bench

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/dataset"
	"github.com/tarnhq/tarn/internal/miniotest"
)

const (
	queryRows       = 1_000_000
	queryImageBytes = 96      // random payload per image: small, to keep the build short
	queryGroupBytes = 2 << 20 // Appender row groups
	queryBatch      = 1000    // rows per Append call
	queryRounds     = 2       // each side runs this often, alternating; the best run counts

	queryLargeDataset    = "coco-large" // the same rows in large row groups
	queryLargeGroupBytes = 64 << 20     // its row groups: one per data file
)

// BenchmarkDatasetQuery builds a 1,000,000-row dataset on MinIO (al://local/coco: id, an
// int64 in row order, and image, 96 random bytes as a "png") and runs a filter that selects
// 1 % of the rows, id >= 500000 && id < 510000, with every column, through
// dataset.OpenPath(al://..., read) and Query. It reports the bytes the query read ÷ the
// dataset's bytes (target ≤ 0.05: row-group statistics prune the rest) and its time ÷ a
// full scan (Iter over every column). It also reports, for comparison, a 1 % filter that
// statistics cannot prune (id % 100 == 0): it reads id everywhere and the images of every
// row group that has a match. The same rows in one 64 MiB row group per data file
// (al://local/coco-large) leave row-group statistics little to prune: there the page index
// skips the pages the filter rules out (large-bytes/dataset, large-ratio against a full
// scan of that dataset).
func BenchmarkDatasetQuery(b *testing.B) {
	ctx := context.Background()
	env := newS3Env(b, miniotest.Start(b), "")
	buildStart := time.Now()
	path, total := buildQueryDataset(b, env, benchDataset, queryGroupBytes)
	build := time.Since(buildStart)
	if _, err := env.admin.CreateDataset(ctx, benchOrg, api.CreateDatasetRequest{
		Name: queryLargeDataset, Location: "s3://" + env.minio.Bucket + "/" + queryLargeDataset, CredsKey: benchKey,
	}); err != nil {
		b.Fatalf("connect dataset: %v", err)
	}
	largePath, largeTotal := buildQueryDataset(b, env, queryLargeDataset, queryLargeGroupBytes)

	open := func(path string) *dataset.Dataset {
		ds, err := dataset.OpenPath(ctx, path, dataset.PathOptions{Client: env.admin, Mode: api.ModeRead})
		if err != nil {
			b.Fatalf("open: %v", err)
		}
		return ds
	}
	type result struct {
		elapsed time.Duration
		stats   dataset.QueryStats
	}
	query := func(path, where string, want int) result {
		ds := open(path)
		defer ds.Close()
		var st dataset.QueryStats
		start := time.Now()
		n := 0
		for r, err := range ds.Query(ctx, dataset.Query{Where: where, Stats: &st}) {
			if err != nil {
				b.Fatalf("%s: %v", where, err)
			}
			if _, ok := r.Values["image"].(dataset.ImageValue); !ok {
				b.Fatalf("%s: row %d has no image", where, r.Index)
			}
			n++
		}
		if n != want {
			b.Fatalf("%s: %d rows, want %d", where, n, want)
		}
		return result{time.Since(start), st}
	}
	scan := func(path string) result {
		ds := open(path)
		defer ds.Close()
		start := time.Now()
		n := 0
		for _, err := range ds.Iter(ctx, dataset.IterOptions{}) {
			if err != nil {
				b.Fatalf("scan: %v", err)
			}
			n++
		}
		if n != queryRows {
			b.Fatalf("scan: %d rows", n)
		}
		return result{elapsed: time.Since(start)}
	}
	best := func(r *result, f func() result) {
		if x := f(); r.elapsed == 0 || x.elapsed < r.elapsed {
			*r = x
		}
	}

	const sel = `id >= 500000 && id < 510000`
	b.ResetTimer()
	for range b.N {
		var small, unpruned, full, large, largeFull result
		for range queryRounds {
			best(&small, func() result { return query(path, sel, queryRows/100) })
			best(&unpruned, func() result { return query(path, `id % 100 == 0`, queryRows/100) })
			best(&full, func() result { return scan(path) })
			best(&large, func() result { return query(largePath, sel, queryRows/100) })
			best(&largeFull, func() result { return scan(largePath) })
		}
		b.ReportMetric(build.Seconds(), "build-s")
		b.ReportMetric(float64(total)/(1<<20), "dataset-MiB")
		b.ReportMetric(float64(small.stats.RowGroups), "row-groups")
		b.ReportMetric(float64(small.stats.RowGroupsPruned), "pruned-row-groups")
		b.ReportMetric(float64(small.elapsed.Milliseconds()), "query-ms")
		b.ReportMetric(float64(unpruned.elapsed.Milliseconds()), "unpruned-ms")
		b.ReportMetric(float64(full.elapsed.Milliseconds()), "scan-ms")
		b.ReportMetric(float64(small.stats.BytesRead)/float64(total), "bytes/dataset")
		b.ReportMetric(float64(unpruned.stats.BytesRead)/float64(total), "unpruned-bytes/dataset")
		b.ReportMetric(small.elapsed.Seconds()/full.elapsed.Seconds(), "ratio")
		b.ReportMetric(float64(large.stats.RowGroups), "large-row-groups")
		b.ReportMetric(float64(large.stats.RowGroupsPruned), "large-pruned-row-groups")
		b.ReportMetric(float64(large.stats.RowsPagePruned), "large-page-pruned-rows")
		b.ReportMetric(float64(large.elapsed.Milliseconds()), "large-query-ms")
		b.ReportMetric(float64(largeFull.elapsed.Milliseconds()), "large-scan-ms")
		b.ReportMetric(float64(large.stats.BytesRead)/float64(largeTotal), "large-bytes/dataset")
		b.ReportMetric(large.elapsed.Seconds()/largeFull.elapsed.Seconds(), "large-ratio")
	}
}

// buildQueryDataset creates dataset name of env, 1,000,000 rows of the query benchmark in
// row groups of about groupBytes, and returns its path and the bytes of its data files.
func buildQueryDataset(b *testing.B, env *s3Env, name string, groupBytes int64) (string, int64) {
	ctx := context.Background()
	path := "al://" + benchOrg + "/" + name
	schema := dataset.NewSchema(
		dataset.Column{Name: "id", Type: dataset.T(dataset.Int64)},
		dataset.Column{Name: "image", Type: dataset.T(dataset.Image)},
	)
	ds, err := dataset.CreatePath(ctx, path, schema, dataset.PathOptions{Client: env.admin})
	if err != nil {
		b.Fatalf("create: %v", err)
	}
	defer ds.Close()
	app := ds.Appender(dataset.AppenderOptions{RowGroupBytes: groupBytes, FileBytes: 64 << 20})
	defer app.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	rows := make([]dataset.Row, queryBatch)
	for i := 0; i < queryRows; i += queryBatch {
		for j := range rows {
			data := make([]byte, queryImageBytes)
			for k := range data {
				data[k] = byte(rng.Uint32())
			}
			rows[j] = dataset.Row{"id": int64(i + j), "image": dataset.ImageValue{Format: "png", Data: data}}
		}
		if err := app.Append(ctx, rows...); err != nil {
			b.Fatalf("append: %v", err)
		}
	}
	v, err := app.Commit(ctx, "rows")
	if err != nil {
		b.Fatalf("commit: %v", err)
	}
	var total int64
	for _, f := range v.Files {
		total += f.Bytes
	}
	return path, total
}
