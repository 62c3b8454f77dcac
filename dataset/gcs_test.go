package dataset_test

import (
	"context"
	"testing"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/dataset"
	"github.com/tarnhq/tarn/internal/fakegcstest"
)

// TestGCSDataset runs the dataset format on GCS through the data path that tarn's vends
// open, without a provider: a fakegcstest.Vendor's tokens on a real fake-gcs-server.
// CreatePath of a gs:// location through a creds key, the location as al://acme/coco, then
// 4 appenders, each with its own OpenPath, committing at once: every commit makes one
// version of one chain (the manifest is created with ifGenerationMatch=0, and the loser of
// a race reads and retries), no row is lost, and a reader opens the result read-only.
func TestGCSDataset(t *testing.T) {
	ctx := context.Background()
	v := fakegcstest.NewVendor(t, fakegcstest.Start(t))
	ds, err := dataset.CreatePath(ctx, v.Dataset, appendSchema, dataset.PathOptions{Client: v, Org: org, CredsKey: "gcs", Mode: api.ModeWrite})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	ds.Close()

	creates := countManifestCreates(t)

	const writers, rows, commits = 4, 200, 3
	appendConcurrently(t, writers, rows, commits, func() (*dataset.Dataset, error) {
		return dataset.OpenPath(ctx, "al://acme/coco", dataset.PathOptions{Client: v, Mode: api.ModeWrite})
	})
	creates.check(t, writers*commits)

	read, err := dataset.OpenPath(ctx, "al://acme/coco", dataset.PathOptions{Client: v, Mode: api.ModeRead})
	if err != nil {
		t.Fatalf("reader open: %v", err)
	}
	defer read.Close()
	checkAppended(t, read, writers, rows, commits)
	checkCannotCommit(t, read)
}
