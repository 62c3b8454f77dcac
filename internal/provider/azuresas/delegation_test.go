package azuresas

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/provider"
	"github.com/tarnhq/tarn/location"
)

func mustLoc(t *testing.T, s string) location.Location {
	t.Helper()
	l, err := location.ParseStorage(s)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// countingFetch is a stand-in for Blob Storage's user delegation key endpoint that counts
// its calls and answers "key-N" for the Nth.
type countingFetch struct {
	calls   atomic.Int64
	fail    atomic.Bool
	release chan struct{} // when set, each fetch waits for it to close
	starts  []time.Time
	mu      sync.Mutex
}

func (f *countingFetch) fetch(_ context.Context, _ provider.Key, start, expiry time.Time) (string, error) {
	n := f.calls.Add(1)
	if f.release != nil {
		<-f.release
	}
	if f.fail.Load() {
		return "", errs.E(errs.Unavailable, "stand-in refuses")
	}
	f.mu.Lock()
	f.starts = append(f.starts, start)
	f.mu.Unlock()
	if got := expiry.Sub(start); got != DelegationKeyLifetime+Backdate {
		return "", fmt.Errorf("key asked for %v, want %v", got, DelegationKeyLifetime+Backdate)
	}
	return fmt.Sprintf("key-%d", n), nil
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestDelegationKeyRenewsAtHalfLife(t *testing.T) {
	clk := &clock{t: t0}
	f := &countingFetch{}
	c := newKeyCache(clk.now, time.Second, f.fetch)
	key := provider.Key{Org: "acme", Name: "az", Version: 1}
	get := func() string {
		t.Helper()
		v, exp, err := c.get(context.Background(), key)
		if err != nil {
			t.Fatal(err)
		}
		if !exp.After(clk.now()) {
			t.Fatalf("key expires %v, not after now %v", exp, clk.now())
		}
		return v
	}
	steps := []struct {
		advance time.Duration
		version int64
		want    string
	}{
		{0, 1, "key-1"},
		{DelegationKeyLifetime/2 - time.Second, 1, "key-1"}, // just before half life: cached
		{time.Second, 1, "key-2"},                           // half life: renewed
		{time.Hour, 1, "key-2"},
		{0, 2, "key-3"}, // a new version of the creds key: a new key
		{0, 2, "key-3"},
	}
	for i, s := range steps {
		clk.add(s.advance)
		key.Version = s.version
		if got := get(); got != s.want {
			t.Fatalf("step %d: got %s, want %s", i, got, s.want)
		}
	}
	if got := f.starts[1]; !got.Equal(t0.Add(DelegationKeyLifetime / 2).Add(-Backdate)) {
		t.Errorf("renewed key starts %v, want backdated by %v", got, Backdate)
	}
}

func TestDelegationKeyErrorsNotCached(t *testing.T) {
	clk := &clock{t: t0}
	f := &countingFetch{}
	f.fail.Store(true)
	c := newKeyCache(clk.now, time.Second, f.fetch)
	key := provider.Key{Org: "acme", Name: "az", Version: 1}
	if _, _, err := c.get(context.Background(), key); !errs.Is(errs.Unavailable, err) {
		t.Fatalf("get = %v, want the fetch's error", err)
	}
	f.fail.Store(false)
	if v, _, err := c.get(context.Background(), key); err != nil || v != "key-2" {
		t.Fatalf("get after a failure = %q, %v; want a fresh fetch (key-2)", v, err)
	}
}

func TestDelegationKeyOneFetchForConcurrentCallers(t *testing.T) {
	clk := &clock{t: t0}
	f := &countingFetch{release: make(chan struct{})}
	c := newKeyCache(clk.now, time.Second, f.fetch)
	key := provider.Key{Org: "acme", Name: "az", Version: 1}
	const callers = 100
	var wg sync.WaitGroup
	got := make([]string, callers)
	errc := make(chan error, callers)
	for i := range callers {
		wg.Go(func() {
			v, _, err := c.get(context.Background(), key)
			got[i] = v
			if err != nil {
				errc <- err
			}
		})
	}
	close(f.release)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	if n := f.calls.Load(); n != 1 {
		t.Fatalf("%d fetches for %d concurrent callers, want 1", n, callers)
	}
	for i, v := range got {
		if v != "key-1" {
			t.Fatalf("caller %d got %q", i, v)
		}
	}
}

// TestDelegationKeyCallerGivesUp: a caller whose context ends stops waiting, and the fetch
// it started still fills the cache for the others.
func TestDelegationKeyCallerGivesUp(t *testing.T) {
	f := &countingFetch{release: make(chan struct{})}
	c := newKeyCache(func() time.Time { return t0 }, time.Minute, f.fetch)
	key := provider.Key{Org: "acme", Name: "az", Version: 1}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := c.get(ctx, key); !errs.Is(errs.Unavailable, err) || !errors.Is(err, context.Canceled) {
		t.Fatalf("get with a cancelled context = %v", err)
	}
	close(f.release)
	if v, _, err := c.get(context.Background(), key); err != nil || v != "key-1" || f.calls.Load() != 1 {
		t.Fatalf("get = %q, %v after %d fetches; want key-1 from the first fetch", v, err, f.calls.Load())
	}
}

// TestEntraModeFailureNamesCause: a vend in an Entra ID mode whose authenticator fails
// answers its error, and no SAS.
func TestEntraModeFailureNamesCause(t *testing.T) {
	d := New(Options{Now: func() time.Time { return t0 }, Authenticators: map[string]Authenticator{
		api.AuthDefault: failingAuth{},
	}})
	key := provider.Key{Org: "acme", Name: "az", Config: api.CredsKeyConfig{Roots: []string{"az://acme1/data"}, Account: "acme1",
		Auth: api.AuthDefault, Endpoint: publicEndpoint("acme1")}}
	c, err := d.Vend(context.Background(), provider.Request{Key: key, Location: mustLoc(t, "az://acme1/data"), Mode: api.ModeRead})
	if c != nil || !errs.Is(errs.Unavailable, err) || errs.DetailOf(err) != "no identity" {
		t.Fatalf("vend = %+v, %v; want the authenticator's error", c, err)
	}
}

type failingAuth struct{}

func (failingAuth) Credential(provider.Key) (azcore.TokenCredential, error) {
	return nil, errs.E(errs.Unavailable, "no identity")
}

// TestKeyCacheReady: a vend is offline (spends no upstream budget) only while the cache
// holds a fresh key for the creds key's version or a fetch it would join is under way.
func TestKeyCacheReady(t *testing.T) {
	clk := &clock{t: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	f := &countingFetch{release: make(chan struct{})}
	started := make(chan struct{})
	c := newKeyCache(clk.now, time.Minute, func(ctx context.Context, k provider.Key, start, expiry time.Time) (string, error) {
		close(started)
		return f.fetch(ctx, k, start, expiry)
	})
	key := provider.Key{Org: "acme", Name: "az", Version: 1}
	if c.ready(key) {
		t.Fatal("ready with nothing cached or fetching")
	}
	done := make(chan error)
	go func() { _, _, err := c.get(context.Background(), key); done <- err }()
	<-started // its caller is waiting
	if !c.ready(key) {
		t.Error("not ready while a fetch is under way")
	}
	if other := (provider.Key{Org: "acme", Name: "az", Version: 2}); c.ready(other) {
		t.Error("ready for another version of the key while fetching the first")
	}
	close(f.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !c.ready(key) {
		t.Error("not ready with a fresh key cached")
	}
	clk.add(DelegationKeyLifetime / 2)
	if c.ready(key) {
		t.Error("ready with the cached key due for renewal and no fetch under way")
	}
}
