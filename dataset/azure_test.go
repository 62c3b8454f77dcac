package dataset_test

import (
	"context"
	"errors"
	"strings"
	"sync"
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

	// Count manifest creates tried and made: more tries than versions made means that
	// commits raced and the losers' creates were refused, as they must be.
	var mu sync.Mutex
	tried, made := 0, 0
	dataset.SetTestHook(func(event string) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case strings.HasPrefix(event, "create versions/"):
			tried++
		case strings.HasPrefix(event, "created versions/"):
			made++
		}
	})
	defer dataset.SetTestHook(nil)

	const writers, rows, commits = 4, 200, 3
	appendConcurrently(t, writers, rows, commits, func() (*dataset.Dataset, error) {
		return dataset.OpenPath(ctx, "al://acme/coco", dataset.PathOptions{Client: alice, Mode: api.ModeWrite})
	})
	if made != writers*commits || tried <= made {
		t.Errorf("%d manifest creates tried, %d made; want %d made and some refused", tried, made, writers*commits)
	}
	t.Logf("%d manifest creates tried, %d made", tried, made)

	read, err := dataset.OpenPath(ctx, "al://acme/coco", dataset.PathOptions{Client: bob})
	if err != nil {
		t.Fatalf("reader open: %v", err)
	}
	defer read.Close()
	if !read.ReadOnly() {
		t.Error("a reader's open is writable")
	}
	checkAppended(t, read, writers, rows, commits)
	w := read.Appender(dataset.AppenderOptions{})
	defer w.Close()
	err = w.Append(ctx, dataset.Row{"writer": int32(9), "n": int32(0)})
	if err == nil {
		_, err = w.Commit(ctx, "reader")
	}
	if !errors.Is(err, dataset.ErrReadOnly) {
		t.Errorf("a reader's commit: %v, want ErrReadOnly", err)
	}
}
