package dataset_test

import (
	"context"
	"testing"
	"time"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/dataset"
	"github.com/tarnhq/tarn/internal/azuritetest"
	"github.com/tarnhq/tarn/internal/testenv"
)

// TestAzureDataset runs the dataset format on Azure through a whole tarn in-process: a
// creds key of provider azure (shared key) on a real Azurite, CreatePath of a container
// through the key, the container connected as al://acme/coco, then 4 appenders, each with
// its own OpenPath, committing at once: every commit makes one version of one chain (the
// manifest is created with If-None-Match: *, and the loser of a race reads and retries), no
// row is lost, and a reader opens the result read-only.
func TestAzureDataset(t *testing.T) {
	ctx := context.Background()
	az := azuritetest.Start(t)
	env := testenv.New(t, testenv.Options{AllowEndpoints: []string{az.HostPort()}})
	env.Clock.Advance(time.Since(env.Clock.Now())) // tarn signs the SAS, Azurite checks it on its own clock
	admin := env.Admin(t)
	if _, err := admin.CreateOrg(ctx, org); err != nil {
		t.Fatal(err)
	}
	container := "az://" + az.Account + "/" + az.Container
	if _, err := admin.PutCredsKey(ctx, org, "az", api.PutCredsKeyRequest{
		Provider: api.ProviderAzure, Secret: az.AccountKey,
		Config: api.CredsKeyConfig{Roots: []string{container}, Account: az.Account, Endpoint: az.Endpoint, Auth: api.AuthSharedKey},
	}); err != nil {
		t.Fatal(err)
	}
	alice := env.Client(t, env.NewUser(t, "alice", org, api.RoleWriter))
	bob := env.Client(t, env.NewUser(t, "bob", org, api.RoleReader))

	ds, err := dataset.CreatePath(ctx, container, appendSchema, dataset.PathOptions{Client: alice, Org: org, CredsKey: "az", Mode: api.ModeWrite})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	ds.Close()
	if _, err := alice.CreateDataset(ctx, org, api.CreateDatasetRequest{Name: "coco", Location: container, CredsKey: "az"}); err != nil {
		t.Fatalf("connect: %v", err)
	}

	creates := countManifestCreates(t)

	const writers, rows, commits = 4, 200, 3
	appendConcurrently(t, writers, rows, commits, func() (*dataset.Dataset, error) {
		return dataset.OpenPath(ctx, "al://acme/coco", dataset.PathOptions{Client: alice, Mode: api.ModeWrite})
	})
	creates.check(t, writers*commits)

	read, err := dataset.OpenPath(ctx, "al://acme/coco", dataset.PathOptions{Client: bob})
	if err != nil {
		t.Fatalf("reader open: %v", err)
	}
	defer read.Close()
	checkAppended(t, read, writers, rows, commits)
	checkCannotCommit(t, read)
}
