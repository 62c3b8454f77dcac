package dataset_test

import (
	"context"
	"errors"
	"fmt"
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

	schema := dataset.NewSchema(
		dataset.Column{Name: "writer", Type: dataset.T(dataset.Int32)},
		dataset.Column{Name: "n", Type: dataset.T(dataset.Int32)},
	)
	ds, err := dataset.CreatePath(ctx, container, schema, dataset.PathOptions{Client: alice, Org: org, CredsKey: "az", Mode: api.ModeWrite})
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
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for wr := range writers {
		wg.Go(func() {
			ds, err := dataset.OpenPath(ctx, "al://acme/coco", dataset.PathOptions{Client: alice, Mode: api.ModeWrite})
			if err != nil {
				errs <- err
				return
			}
			defer ds.Close()
			w := ds.Appender(dataset.AppenderOptions{})
			defer w.Close()
			for c := range commits {
				for i := c * rows / commits; i < (c+1)*rows/commits; i++ {
					if err := w.Append(ctx, dataset.Row{"writer": int32(wr), "n": int32(i)}); err != nil {
						errs <- err
						return
					}
				}
				if _, err := w.Commit(ctx, fmt.Sprintf("writer %d commit %d", wr, c)); err != nil {
					errs <- fmt.Errorf("writer %d commit %d: %w", wr, c, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

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
	if want := int64(1 + writers*commits); read.Version() != want {
		t.Errorf("version %d, want %d", read.Version(), want)
	}
	vs, err := read.Versions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	msgs := map[string]bool{}
	for i, v := range vs {
		if v.Version != int64(i+1) || v.Parent != int64(i) {
			t.Errorf("version %d has parent %d", v.Version, v.Parent)
		}
		msgs[v.Message] = true
	}
	if len(msgs) != 1+writers*commits {
		t.Errorf("%d distinct commit messages, want %d", len(msgs), 1+writers*commits)
	}
	seen := map[[2]int32]int{}
	for r, err := range read.Iter(ctx, dataset.IterOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		seen[[2]int32{r["writer"].(int32), r["n"].(int32)}]++
	}
	if len(seen) != writers*rows {
		t.Errorf("%d distinct rows, want %d", len(seen), writers*rows)
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("row %v present %d times", k, n)
		}
	}
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
