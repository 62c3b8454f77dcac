package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
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
// files of ~64 MiB, row groups of ~32 MiB), and reports the import's MiB/s and rows/s. The
// same payloads are also stored as 20,000 objects (setup, not measured). Then it streams the
// image column of the dataset with Iter (Prefetch 8) through dataset.OpenPath(al://...,
// read) and, as baselines, GETs whole with 8 concurrent readers (s3blob, root keys, io.Copy
// to io.Discard) the dataset's data files (large objects: the store's speed) and the 20,000
// objects. Each side runs twice, alternating, and the best run of each counts; ratio =
// dataset MiB/s / data files MiB/s (the goal is ≥ 0.7), objects-ratio = dataset MiB/s /
// objects MiB/s. The peak RSS (VmHWM, reset before each run) of the best dataset and data
// file runs is reported too, with the CPU time (user and system) this process spent on
// them: on a machine of few cores the client's CPU time competes with MinIO's. Iter's
// bound is about Prefetch × row group = 256 MiB of data.
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
	last, err := app.Commit(ctx, "import, second half")
	if err != nil {
		b.Fatalf("commit: %v", err)
	}
	importElapsed := time.Since(importStart)
	var fileKeys []string
	var fileBytes int64
	for _, f := range last.Files {
		fileKeys = append(fileKeys, benchDataset+"/"+f.Path)
		fileBytes += f.Bytes
	}
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

	type result struct{ rowsPerSec, mibPerSec, peakRSS, cpu float64 }
	check := func(side string, n, got, wantN, want int64, elapsed time.Duration, cpu0 float64) result {
		if n != wantN || got != want {
			b.Fatalf("%s: read %d rows, %d bytes; want %d rows, %d bytes", side, n, got, wantN, want)
		}
		return result{float64(streamRows) / elapsed.Seconds(), float64(got) / mib / elapsed.Seconds(), peakRSS(b), processCPU(b) - cpu0}
	}

	// (a) the dataset through Iter, including the open (one read vend).
	streamDataset := func() result {
		resetPeakRSS(b)
		start, cpu0 := time.Now(), processCPU(b)
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
		return check("dataset", n, got, streamRows, want, time.Since(start), cpu0)
	}

	// (b) keys (the objects or the data files), with plain concurrent GETs and root keys,
	// including the open.
	get := func(side string, keys []string, want int64) result {
		resetPeakRSS(b)
		start, cpu0 := time.Now(), processCPU(b)
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
			b.Fatalf("%s: open: %v", side, err)
		}
		defer bkt.Close()
		var got atomic.Int64
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(streamPrefetch)
		for _, k := range keys {
			g.Go(func() error { return getObject(gctx, bkt, k, &got) })
		}
		if err := g.Wait(); err != nil {
			b.Fatalf("%s: %v", side, err)
		}
		return check(side, int64(len(keys)), got.Load(), int64(len(keys)), want, time.Since(start), cpu0)
	}
	objKeys := make([]string, streamRows)
	for i := range objKeys {
		objKeys[i] = streamObjKey(i)
	}

	b.ResetTimer()
	for range b.N {
		var dsBest, objBest, filesBest result
		for range streamRounds {
			if r := streamDataset(); r.mibPerSec > dsBest.mibPerSec {
				dsBest = r
			}
			if r := get("objects", objKeys, want); r.mibPerSec > objBest.mibPerSec {
				objBest = r
			}
			if r := get("files", fileKeys, fileBytes); r.mibPerSec > filesBest.mibPerSec {
				filesBest = r
			}
		}
		b.ReportMetric(float64(want)/mib/importElapsed.Seconds(), "import-MiB/s")
		b.ReportMetric(streamRows/importElapsed.Seconds(), "import-rows/s")
		b.ReportMetric(dsBest.rowsPerSec, "dataset-rows/s")
		b.ReportMetric(dsBest.mibPerSec, "dataset-MiB/s")
		b.ReportMetric(dsBest.peakRSS, "dataset-peak-RSS-MiB")
		b.ReportMetric(dsBest.cpu, "dataset-CPU-s")
		b.ReportMetric(objBest.rowsPerSec, "objects-rows/s")
		b.ReportMetric(objBest.mibPerSec, "objects-MiB/s")
		b.ReportMetric(dsBest.mibPerSec/objBest.mibPerSec, "objects-ratio")
		b.ReportMetric(filesBest.mibPerSec, "files-MiB/s")
		b.ReportMetric(filesBest.peakRSS, "files-peak-RSS-MiB")
		b.ReportMetric(filesBest.cpu, "files-CPU-s")
		b.ReportMetric(dsBest.mibPerSec/filesBest.mibPerSec, "ratio")
	}
}

// resetPeakRSS returns the heap's free memory to the system and resets the process's peak
// resident set size (VmHWM), so that peakRSS measures what follows.
func resetPeakRSS(b *testing.B) {
	b.Helper()
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Fatalf("reset the peak RSS: %v", err)
	}
}

// processCPU returns the CPU time, user and system, the process has used so far.
func processCPU(b *testing.B) float64 {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("CPU time: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// peakRSS returns the process's peak resident set size (VmHWM) in MiB.
func peakRSS(b *testing.B) float64 {
	b.Helper()
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatalf("peak RSS: %v", err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kib, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				b.Fatalf("peak RSS: %q: %v", line, err)
			}
			return kib / 1024
		}
	}
	b.Fatal("peak RSS: no VmHWM in /proc/self/status")
	return 0
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
