package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gocloud.dev/blob"
	"gocloud.dev/blob/s3blob"
	"golang.org/x/sync/errgroup"

	"github.com/tarnhq/tarn/internal/miniotest"
	"github.com/tarnhq/tarn/storage"
)

const (
	readObjects     = 64
	readObjectSize  = 4 << 20 // 256 MiB in all
	readConcurrency = 8
	readRounds      = 2 // each side runs this often, alternating; the best run counts
)

// BenchmarkS3Read reads a 256 MiB dataset (64 objects of 4 MiB on MinIO) with 8 concurrent
// readers through storage.OpenBucket("al://local/coco"), that is with credentials tarn vends,
// and with the same code over an s3blob bucket opened with MinIO's root keys. Dataset bytes
// never pass through tarn, so the ratio (tarn / root) should be about 1. Each side runs
// twice, alternating, and the best run of each counts.
func BenchmarkS3Read(b *testing.B) {
	ctx := context.Background()
	env := newS3Env(b, miniotest.Start(b), "")
	srv := env.minio
	if err := seed(ctx, srv.S3(srv.RootUser, srv.RootPassword, ""), srv.Bucket, benchDataset); err != nil {
		b.Fatalf("seed: %v", err)
	}
	compareReads(b, "root",
		func() (*blob.Bucket, error) {
			return storage.OpenBucket(ctx, "al://"+benchOrg+"/"+benchDataset, storage.Options{Client: env.admin})
		},
		func() (*blob.Bucket, error) {
			c := s3.New(s3.Options{
				Region:                     srv.Region,
				BaseEndpoint:               aws.String(srv.Endpoint),
				UsePathStyle:               true,
				Credentials:                credentials.NewStaticCredentialsProvider(srv.RootUser, srv.RootPassword, ""),
				RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired, // as storage sets them
				ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired, // for S3-compatible stores
			})
			bkt, err := s3blob.OpenBucket(ctx, c, srv.Bucket, &s3blob.Options{RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired})
			if err != nil {
				return nil, err
			}
			return blob.PrefixedBucket(bkt, benchDataset+"/"), nil
		})
}

// compareReads reads the 256 MiB a bucket holds once through baseOpen's bucket, untimed (so
// that the side measured first does not pay for the store's and the connections' first
// use), then through tarnOpen's bucket and through baseOpen's, twice each, alternating, and
// reports the best MiB/s of each (tarn-MiB/s and BASE-MiB/s) and their ratio. Opening is
// timed too: for tarn it is one vend.
func compareReads(b *testing.B, base string, tarnOpen, baseOpen func() (*blob.Bucket, error)) {
	ctx := context.Background()
	const want = readObjects * readObjectSize
	const mib = 1 << 20
	// run opens a bucket (for tarn: one vend) and reads everything; it returns MiB/s.
	run := func(side string, open func() (*blob.Bucket, error)) float64 {
		start := time.Now()
		bkt, err := open()
		if err != nil {
			b.Fatalf("%s: open: %v", side, err)
		}
		defer bkt.Close()
		n, err := readAll(ctx, bkt)
		elapsed := time.Since(start)
		if err != nil {
			b.Fatalf("%s: %v", side, err)
		}
		if n != want {
			b.Fatalf("%s: read %d bytes, want %d", side, n, want)
		}
		return float64(n) / mib / elapsed.Seconds()
	}

	run("warm-up", baseOpen) // untimed: the store's first read of the data, and connections
	b.ResetTimer()
	for range b.N {
		var tarn, baseline float64
		for range readRounds {
			tarn = max(tarn, run("tarn", tarnOpen))
			baseline = max(baseline, run(base, baseOpen))
		}
		b.ReportMetric(tarn, "tarn-MiB/s")
		b.ReportMetric(baseline, base+"-MiB/s")
		b.ReportMetric(tarn/baseline, "ratio")
	}
}

// seed writes the objects prefix/part-NN.bin with random bytes.
func seed(ctx context.Context, c *s3.Client, bucket, prefix string) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(readConcurrency)
	for i := range readObjects {
		g.Go(func() error {
			data := make([]byte, readObjectSize)
			rand.Read(data)
			_, err := c.PutObject(ctx, &s3.PutObjectInput{
				Bucket: aws.String(bucket), Key: aws.String(fmt.Sprintf("%s/part-%02d.bin", prefix, i)),
				Body: bytes.NewReader(data), ContentLength: aws.Int64(readObjectSize),
			})
			return err
		})
	}
	return g.Wait()
}

// readAll lists bkt and reads every object to io.Discard with readConcurrency readers. It
// returns the bytes read.
func readAll(ctx context.Context, bkt *blob.Bucket) (int64, error) {
	var keys []string
	it := bkt.List(nil)
	for {
		o, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("list: %w", err)
		}
		keys = append(keys, o.Key)
	}
	var (
		mu sync.Mutex
		n  int64
	)
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(readConcurrency)
	for _, k := range keys {
		g.Go(func() error {
			r, err := bkt.NewReader(ctx, k, nil)
			if err != nil {
				return fmt.Errorf("open %s: %w", k, err)
			}
			defer r.Close()
			m, err := io.Copy(io.Discard, r)
			if err != nil {
				return fmt.Errorf("read %s: %w", k, err)
			}
			mu.Lock()
			n += m
			mu.Unlock()
			return nil
		})
	}
	return n, g.Wait()
}
