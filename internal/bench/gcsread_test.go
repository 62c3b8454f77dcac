package bench

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"

	"cloud.google.com/go/storage"
	"gocloud.dev/blob"
	"gocloud.dev/blob/gcsblob"
	"golang.org/x/sync/errgroup"

	"github.com/tarnhq/tarn/internal/fakegcstest"
	"github.com/tarnhq/tarn/internal/googletest"
	tarnstorage "github.com/tarnhq/tarn/storage"
)

// BenchmarkGCSRead is BenchmarkS3Read on Google Cloud Storage (fake-gcs-server): 256 MiB
// read with 8 concurrent readers through storage.OpenBucket("al://local/coco"), that is
// with a token tarn vends (downscoped at the Google stand-ins), and with the same code over
// a gcsblob bucket whose JSON API client sends no token. The ratio (tarn / no-token) should
// be about 1.
func BenchmarkGCSRead(b *testing.B) {
	ctx := context.Background()
	srv := fakegcstest.Start(b)
	env := newGCSEnv(b, srv, googletest.New(b, googletest.Options{}))
	if err := seedGCS(ctx, srv.Client(b).Bucket(srv.Bucket), benchDataset); err != nil {
		b.Fatalf("seed: %v", err)
	}
	compareReads(b, "no-token",
		func() (*blob.Bucket, error) {
			return tarnstorage.OpenBucket(ctx, "al://"+benchOrg+"/"+benchDataset, tarnstorage.Options{Client: env.admin})
		},
		func() (*blob.Bucket, error) {
			c, err := fakegcstest.NewClient(ctx, srv.Endpoint, nil)
			if err != nil {
				return nil, err
			}
			bkt, err := gcsblob.OpenBucket(ctx, nil, srv.Bucket, &gcsblob.Options{Client: c})
			if err != nil {
				return nil, err
			}
			return blob.PrefixedBucket(bkt, benchDataset+"/"), nil
		})
}

// seedGCS writes the objects prefix/part-NN.bin with random bytes into bkt.
func seedGCS(ctx context.Context, bkt *storage.BucketHandle, prefix string) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(readConcurrency)
	for i := range readObjects {
		g.Go(func() error {
			data := make([]byte, readObjectSize)
			rand.Read(data)
			w := bkt.Object(fmt.Sprintf("%s/part-%02d.bin", prefix, i)).NewWriter(ctx)
			if _, err := w.Write(data); err != nil {
				w.Close()
				return err
			}
			return w.Close()
		})
	}
	return g.Wait()
}
