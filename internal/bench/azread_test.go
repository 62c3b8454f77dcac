package bench

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"gocloud.dev/blob"
	"gocloud.dev/blob/azureblob"
	"golang.org/x/sync/errgroup"

	"github.com/tarnhq/tarn/internal/azuritetest"
	"github.com/tarnhq/tarn/storage"
)

// BenchmarkAzureRead is BenchmarkS3Read on Azure Blob Storage (Azurite): 256 MiB read with
// 8 concurrent readers through storage.OpenBucket("al://local/coco"), that is with a SAS
// tarn vends, and with the same code over an azureblob bucket whose client signs with the
// account key. The ratio (tarn / key) should be about 1.
func BenchmarkAzureRead(b *testing.B) {
	ctx := context.Background()
	srv := azuritetest.Start(b)
	env := newAzureEnv(b, srv, nil, nil)
	if err := seedAzure(ctx, srv.SharedKeyClient(b), srv.Container); err != nil {
		b.Fatalf("seed: %v", err)
	}
	compareReads(b, "key",
		func() (*blob.Bucket, error) {
			return storage.OpenBucket(ctx, "al://"+benchOrg+"/"+benchDataset, storage.Options{Client: env.admin})
		},
		func() (*blob.Bucket, error) {
			return azureblob.OpenBucket(ctx, srv.SharedKeyClient(b).ServiceClient().NewContainerClient(srv.Container), nil)
		})
}

// seedAzure writes the objects part-NN.bin with random bytes into container.
func seedAzure(ctx context.Context, c *azblob.Client, container string) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(readConcurrency)
	for i := range readObjects {
		g.Go(func() error {
			data := make([]byte, readObjectSize)
			rand.Read(data)
			_, err := c.UploadBuffer(ctx, container, fmt.Sprintf("part-%02d.bin", i), data, nil)
			return err
		})
	}
	return g.Wait()
}
