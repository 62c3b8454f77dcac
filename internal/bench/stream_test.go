package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gocloud.dev/blob"
	"gocloud.dev/blob/s3blob"
	"golang.org/x/sync/errgroup"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/dataset"
	"github.com/tarnhq/tarn/internal/miniotest"
)

const (
	streamRows        = 20_000
	streamImageBytes  = 100 << 10 // mean payload size; each is 80–120 KiB
	streamPrefetch    = 8         // Iter's Prefetch, and the GET concurrency of the baseline
	streamPutParallel = 16        // concurrent PUTs when storing the payloads as objects (setup)
	streamAppendBatch = 100       // rows per Append call
	streamRounds      = 2         // each side runs this often, alternating; the best run counts
	streamObjPrefix   = "coco-objects/"
)

// streamPayload returns the bytes of image i: 80–120 KiB of pseudo-random (incompressible)
// bytes, the same on every call, like a JPEG as far as storage and zstd are concerned.
func streamPayload(i int) []byte {
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], uint64(i)+1)
	r := rand.NewChaCha8(seed)
	n := streamImageBytes*8/10 + int(uint64(i)*2654435761%uint64(streamImageBytes*4/10+1))
	data := make([]byte, n)
	r.Read(data)
	return data
}

func streamObjKey(i int) string { return fmt.Sprintf("%simg-%05d.jpg", streamObjPrefix, i) }

// BenchmarkDatasetStream imports 20,000 rows of ~100 KiB random "JPEG" bytes (columns image,
// filename) into al://local/coco on MinIO through dataset.CreatePath and an Appender (data
// files of ~64 MiB), and reports the import's MiB/s and rows/s. The same payloads are also
// stored as 20,000 objects (setup, not measured). Then it streams the image column of the
// dataset with Iter (Prefetch 8) through dataset.OpenPath(al://..., read) and, as the
// baseline, GETs the 20,000 objects with 8 concurrent readers (s3blob, root keys, io.Copy to
// io.Discard). Each side runs twice, alternating, and the best run of each counts; ratio =
// dataset MiB/s / objects MiB/s (the goal is ≥ 0.8).
func BenchmarkDatasetStream(b *testing.B) {
	ctx := context.Background()
	env := newS3Env(b, miniotest.Start(b), "")
	srv := env.minio
	path := "al://" + benchOrg + "/" + benchDataset
	const mib = 1 << 20

	// Setup: the payloads, generated once.
	payloads := make([][]byte, streamRows)
	var want int64
	for i := range payloads {
		payloads[i] = streamPayload(i)
		want += int64(len(payloads[i]))
	}

	// Import, measured.
	importStart := time.Now()
	schema := dataset.NewSchema(
		dataset.Column{Name: "image", Type: dataset.T(dataset.Image)},
		dataset.Column{Name: "filename", Type: dataset.T(dataset.Text)},
	)
	ds, err := dataset.CreatePath(ctx, path, schema, dataset.PathOptions{Client: env.admin})
	if err != nil {
		b.Fatalf("create: %v", err)
	}
	app := ds.Appender(dataset.AppenderOptions{RowGroupBytes: 32 << 20, FileBytes: 64 << 20})
	rows := make([]dataset.Row, 0, streamAppendBatch)
	for i := 0; i < streamRows; i += streamAppendBatch {
		rows = rows[:0]
		for j := i; j < min(i+streamAppendBatch, streamRows); j++ {
			rows = append(rows, dataset.Row{
				"image":    dataset.ImageValue{Format: "jpeg", Data: payloads[j]},
				"filename": fmt.Sprintf("img-%05d.jpg", j),
			})
		}
		if err := app.Append(ctx, rows...); err != nil {
			b.Fatalf("append: %v", err)
		}
		if next := i + streamAppendBatch; next%(streamRows/2) == 0 && next < streamRows {
			if _, err := app.Commit(ctx, "import, first half"); err != nil {
				b.Fatalf("commit: %v", err)
			}
		}
	}
	if _, err := app.Commit(ctx, "import, second half"); err != nil {
		b.Fatalf("commit: %v", err)
	}
	importElapsed := time.Since(importStart)
	if err := app.Close(); err != nil {
		b.Fatalf("appender close: %v", err)
	}
	if err := ds.Close(); err != nil {
		b.Fatalf("close: %v", err)
	}

	// Setup, not measured: the same payloads as objects, written with root keys.
	root := srv.S3(srv.RootUser, srv.RootPassword, "")
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(streamPutParallel)
	for i, p := range payloads {
		g.Go(func() error {
			_, err := root.PutObject(gctx, &s3.PutObjectInput{
				Bucket: aws.String(srv.Bucket), Key: aws.String(streamObjKey(i)),
				Body: bytes.NewReader(p), ContentLength: aws.Int64(int64(len(p))),
				ContentType: aws.String("image/jpeg"),
			})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatalf("put objects: %v", err)
	}
	payloads = nil

	type result struct{ rowsPerSec, mibPerSec float64 }
	check := func(side string, n, got int64, elapsed time.Duration) result {
		if n != streamRows || got != want {
			b.Fatalf("%s: read %d rows, %d bytes; want %d rows, %d bytes", side, n, got, streamRows, want)
		}
		return result{float64(n) / elapsed.Seconds(), float64(got) / mib / elapsed.Seconds()}
	}

	// (a) the dataset through Iter, including the open (one read vend).
	streamDataset := func() result {
		start := time.Now()
		ds, err := dataset.OpenPath(ctx, path, dataset.PathOptions{Client: env.admin, Mode: api.ModeRead})
		if err != nil {
			b.Fatalf("dataset: open: %v", err)
		}
		defer ds.Close()
		var n, got int64
		for r, err := range ds.Iter(ctx, dataset.IterOptions{Columns: []string{"image"}, Prefetch: streamPrefetch}) {
			if err != nil {
				b.Fatalf("dataset: %v", err)
			}
			img, ok := r["image"].(dataset.ImageValue)
			if !ok {
				b.Fatalf("dataset: image is %T", r["image"])
			}
			n++
			got += int64(len(img.Data))
		}
		return check("dataset", n, got, time.Since(start))
	}

	// (b) the objects, with plain concurrent GETs and root keys, including the open.
	getObjects := func() result {
		start := time.Now()
		c := s3.New(s3.Options{
			Region:                     srv.Region,
			BaseEndpoint:               aws.String(srv.Endpoint),
			UsePathStyle:               true,
			Credentials:                credentials.NewStaticCredentialsProvider(srv.RootUser, srv.RootPassword, ""),
			RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
			ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		})
		bkt, err := s3blob.OpenBucket(ctx, c, srv.Bucket, &s3blob.Options{RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired})
		if err != nil {
			b.Fatalf("objects: open: %v", err)
		}
		defer bkt.Close()
		var got atomic.Int64
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(streamPrefetch)
		for i := range streamRows {
			g.Go(func() error { return getObject(gctx, bkt, streamObjKey(i), &got) })
		}
		if err := g.Wait(); err != nil {
			b.Fatalf("objects: %v", err)
		}
		return check("objects", streamRows, got.Load(), time.Since(start))
	}

	b.ResetTimer()
	for range b.N {
		var dsBest, objBest result
		for range streamRounds {
			if r := streamDataset(); r.mibPerSec > dsBest.mibPerSec {
				dsBest = r
			}
			if r := getObjects(); r.mibPerSec > objBest.mibPerSec {
				objBest = r
			}
		}
		b.ReportMetric(float64(want)/mib/importElapsed.Seconds(), "import-MiB/s")
		b.ReportMetric(streamRows/importElapsed.Seconds(), "import-rows/s")
		b.ReportMetric(dsBest.rowsPerSec, "dataset-rows/s")
		b.ReportMetric(dsBest.mibPerSec, "dataset-MiB/s")
		b.ReportMetric(objBest.rowsPerSec, "objects-rows/s")
		b.ReportMetric(objBest.mibPerSec, "objects-MiB/s")
		b.ReportMetric(dsBest.mibPerSec/objBest.mibPerSec, "ratio")
	}
}

// getObject reads key to io.Discard and adds its size to n.
func getObject(ctx context.Context, bkt *blob.Bucket, key string, n *atomic.Int64) error {
	r, err := bkt.NewReader(ctx, key, nil)
	if err != nil {
		return fmt.Errorf("open %s: %w", key, err)
	}
	defer r.Close()
	m, err := io.Copy(io.Discard, r)
	if err != nil {
		return fmt.Errorf("read %s: %w", key, err)
	}
	n.Add(m)
	return nil
}
