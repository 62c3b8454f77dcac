package postgres_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/store"
	"github.com/tarnhq/tarn/internal/store/postgres"
	"github.com/tarnhq/tarn/internal/store/postgres/pgtest"
	"github.com/tarnhq/tarn/internal/store/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func open(t *testing.T, url string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := postgres.Open(t.Context(), pgtest.URL(t))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestTwoServers opens one empty database from several Stores at the same moment, as
// `tarn serve` processes starting together behind a load balancer would: all of them
// migrate safely, and each sees the others' writes.
func TestTwoServers(t *testing.T) {
	ctx := t.Context()
	url := pgtest.URL(t)
	var stores [4]*postgres.Store
	var wg sync.WaitGroup
	for i := range stores {
		wg.Go(func() {
			s, err := postgres.Open(ctx, url)
			if err != nil {
				t.Errorf("Open %d: %v", i, err)
				return
			}
			t.Cleanup(func() { s.Close() })
			stores[i] = s
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	a, b := stores[0], stores[1]
	if err := a.CreateUser(ctx, store.User{Name: "ann"}); err != nil {
		t.Fatal(err)
	}
	if err := b.CreateOrg(ctx, store.Org{Name: "acme"}); err != nil {
		t.Fatal(err)
	}
	if err := a.PutMember(ctx, store.Member{Org: "acme", User: "ann", Role: store.Admin}); err != nil {
		t.Fatalf("the first store does not see the second one's org: %v", err)
	}
	if _, err := b.PutCredsKey(ctx, store.CredsKey{Org: "acme", Name: "k", Provider: "file"}); err != nil {
		t.Fatal(err)
	}
	k, err := a.PutCredsKey(ctx, store.CredsKey{Org: "acme", Name: "k", Provider: "file"})
	if err != nil || k.Version != 2 {
		t.Fatalf("PutCredsKey on the other store = version %d, %v; want version 2", k.Version, err)
	}
	if err := b.CreateDataset(ctx, store.Dataset{Org: "acme", Name: "coco", Location: "mem://coco", CredsKey: "k"}); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteCredsKey(ctx, "acme", "k"); !errs.Is(errs.Conflict, err) {
		t.Fatalf("DeleteCredsKey of a key the other store's dataset uses = %v, want Conflict", err)
	}
	if m, err := b.Member(ctx, "acme", "ann"); err != nil || m.Role != store.Admin {
		t.Fatalf("Member on the other store = %+v, %v", m, err)
	}
	// Opening an up-to-date database again applies nothing and keeps the data.
	c := open(t, url)
	if _, err := c.Dataset(ctx, "acme", "coco"); err != nil {
		t.Fatalf("reopened store lost data: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	_, err := postgres.Open(t.Context(), "postgres://u:hunter2@127.0.0.1:1/db?sslmode=disable&connect_timeout=2")
	if !errs.Is(errs.Unavailable, err) {
		t.Errorf("Open on a closed port = %v, want Unavailable", err)
	}
	if err != nil && strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %q shows the password", err)
	}
	_, err = postgres.Open(t.Context(), "postgres://u:hunter2@127.0.0.1:5432/db?sslmode=nonsense")
	if !errs.Is(errs.Invalid, err) {
		t.Errorf("Open on a bad URL = %v, want Invalid", err)
	}
	if err != nil && strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %q shows the password", err)
	}
}

func ExampleOpen() {
	url := os.Getenv(pgtest.EnvServer) // e.g. postgres://postgres@127.0.0.1:5432/tarn?sslmode=disable
	if url == "" {
		return
	}
	s, err := postgres.Open(context.Background(), url)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	fmt.Println(s.Ping(context.Background()))
}
