package vend

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tarnhq/tarn/api"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// minter counts upstream calls and answers credentials valid for an hour.
type minter struct {
	calls atomic.Int64
	clock *clock
	fail  atomic.Bool
	gate  chan struct{} // when set, every call waits for it
}

func (m *minter) mint(ctx context.Context) (*api.Credentials, error) {
	m.calls.Add(1)
	if m.gate != nil {
		<-m.gate
	}
	if m.fail.Load() {
		return nil, errors.New("upstream down")
	}
	return &api.Credentials{Provider: "test", ExpiresAt: m.clock.now().Add(time.Hour)}, nil
}

var k1 = cacheKey{org: "acme", key: "k", version: 1, location: "s3://b/ds", mode: "read"}

func TestCacheReusesUntilHalfLifetime(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	m := &minter{clock: clk}
	c := newCache(clk.now)
	ctx := context.Background()
	if _, hit, _ := c.get(ctx, k1, m.mint); hit {
		t.Fatal("cold cache hit")
	}
	clk.add(29 * time.Minute)
	if _, hit, _ := c.get(ctx, k1, m.mint); !hit || m.calls.Load() != 1 {
		t.Fatalf("at 29 of 60 minutes: hit %v, %d upstream calls", hit, m.calls.Load())
	}
	clk.add(time.Minute)
	if _, hit, _ := c.get(ctx, k1, m.mint); hit || m.calls.Load() != 2 {
		t.Fatalf("at half lifetime: hit %v, %d upstream calls; want a fresh vend", hit, m.calls.Load())
	}
	for _, other := range []cacheKey{
		{org: "acme", key: "k", version: 2, location: k1.location, mode: k1.mode},
		{org: "acme", key: "k", version: 1, location: "s3://b/ds2", mode: k1.mode},
		{org: "acme", key: "k", version: 1, location: k1.location, mode: "write"},
		{org: "beta", key: "k", version: 1, location: k1.location, mode: k1.mode},
	} {
		before := m.calls.Load()
		if _, hit, _ := c.get(ctx, other, m.mint); hit || m.calls.Load() != before+1 {
			t.Errorf("%v shared credentials of %v", other, k1)
		}
	}
}

func TestCacheSharesOneUpstreamCallAmongConcurrentMisses(t *testing.T) {
	clk := &clock{t: time.Now()}
	m := &minter{clock: clk, gate: make(chan struct{})}
	c := newCache(clk.now)
	var wg sync.WaitGroup
	for i := 0; i < 1000; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := c.get(context.Background(), k1, m.mint); err != nil {
				t.Error(err)
			}
		}()
	}
	// Whether a goroutine joins the flight or arrives after it, it must not call upstream.
	close(m.gate)
	wg.Wait()
	if n := m.calls.Load(); n != 1 {
		t.Fatalf("1000 concurrent misses made %d upstream calls, want 1", n)
	}
}

func TestCacheDoesNotKeepErrorsAndForgets(t *testing.T) {
	clk := &clock{t: time.Now()}
	m := &minter{clock: clk}
	c := newCache(clk.now)
	ctx := context.Background()
	m.fail.Store(true)
	if _, _, err := c.get(ctx, k1, m.mint); err == nil {
		t.Fatal("error not returned")
	}
	m.fail.Store(false)
	if _, _, err := c.get(ctx, k1, m.mint); err != nil || m.calls.Load() != 2 {
		t.Fatalf("after an error: %v, %d calls; the error must not be cached", err, m.calls.Load())
	}
	c.drop("acme", "k")
	if _, hit, _ := c.get(ctx, k1, m.mint); hit {
		t.Fatal("entry survived drop")
	}
}

func TestCacheAnswersAreCopies(t *testing.T) {
	clk := &clock{t: time.Now()}
	m := &minter{clock: clk}
	c := newCache(clk.now)
	a, _, _ := c.get(context.Background(), k1, m.mint)
	a.Mode = "tampered"
	b, _, _ := c.get(context.Background(), k1, m.mint)
	if b.Mode == "tampered" {
		t.Fatal("callers share one credentials value")
	}
}

// s3Minter returns a mint function that answers S3 credentials AK1, AK2, ... valid for an
// hour, and the count of its calls.
func s3Minter(clk *clock) (func(context.Context) (*api.Credentials, error), *int) {
	n := new(int)
	return func(ctx context.Context) (*api.Credentials, error) {
		*n++
		return &api.Credentials{ExpiresAt: clk.now().Add(time.Hour), S3: &api.S3Credentials{AccessKeyID: fmt.Sprint("AK", *n)}}, nil
	}, n
}

func TestCacheDropsCredentialsTheirHolderSawRefused(t *testing.T) {
	clk := &clock{t: time.Now()}
	mint, _ := s3Minter(clk)
	c := newCache(clk.now)
	ctx := context.Background()
	first, _, _ := c.get(ctx, k1, mint)
	if r := c.refuse(k1, "AK-other"); r != refusalNone {
		t.Fatalf("a refusal of other credentials: %q", r)
	}
	if again, hit, _ := c.get(ctx, k1, mint); !hit || again.S3.AccessKeyID != first.S3.AccessKeyID {
		t.Fatal("a refusal of other credentials dropped the cached ones")
	}
	if r := c.refuse(k1, first.S3.AccessKeyID); r != refusalHonoured {
		t.Fatalf("refusal of the cached credentials: %q", r)
	}
	fresh, hit, _ := c.get(ctx, k1, mint)
	if hit || fresh.S3.AccessKeyID == first.S3.AccessKeyID {
		t.Fatalf("refused credentials were answered again: %+v", fresh.S3)
	}
	if r := c.refuse(k1, first.S3.AccessKeyID); r != refusalNone {
		t.Fatalf("a stale refusal: %q", r)
	}
	if again, hit, _ := c.get(ctx, k1, mint); !hit || again.S3.AccessKeyID != fresh.S3.AccessKeyID {
		t.Fatal("a stale refusal dropped the fresh credentials")
	}
}

// TestCacheHonoursARefusalOncePerCredential: a client that reports every credential it
// gets as refused gets one fresh credential, then the same one again, until the cache renews
// it at half its lifetime; the upstream is called once per refusal chain, not once per vend.
func TestCacheHonoursARefusalOncePerCredential(t *testing.T) {
	clk := &clock{t: time.Now()}
	mint, calls := s3Minter(clk)
	c := newCache(clk.now)
	ctx := context.Background()
	got, _, _ := c.get(ctx, k1, mint)
	outcomes := map[string]int{}
	for range 100 {
		outcomes[c.refuse(k1, got.S3.AccessKeyID)]++
		got, _, _ = c.get(ctx, k1, mint)
	}
	if *calls != 2 || outcomes[refusalHonoured] != 1 || outcomes[refusalIgnored] != 99 {
		t.Fatalf("100 refusals: %d upstream calls, outcomes %v; want 2 calls, 1 honoured, 99 ignored", *calls, outcomes)
	}
	clk.add(31 * time.Minute) // renewed at half lifetime: a new chain
	got, _, _ = c.get(ctx, k1, mint)
	if r := c.refuse(k1, got.S3.AccessKeyID); r != refusalHonoured || *calls != 3 {
		t.Fatalf("refusal of a renewed credential: %q after %d calls", r, *calls)
	}
}

// TestOneOrgCannotTakeTheCache: an org that vends for ever new locations (every one a new
// cache entry) evicts only its own entries; another org's cached credentials stay cached.
func TestOneOrgCannotTakeTheCache(t *testing.T) {
	clk := &clock{t: time.Now()}
	m := &minter{clock: clk}
	c := newCache(clk.now)
	ctx := context.Background()
	victim := cacheKey{org: "acme", key: "k", version: 1, location: "s3://b/acme/coco", mode: "read"}
	c.get(ctx, victim, m.mint)
	for i := range maxEntries + 500 {
		clk.add(time.Millisecond) // each entry due a little later than the one before
		c.get(ctx, cacheKey{org: "evil", key: "k", version: 1, location: fmt.Sprintf("s3://b/evil/junk/%d", i), mode: "read"}, m.mint)
	}
	if _, hit, _ := c.get(ctx, victim, m.mint); !hit {
		t.Error("another org's flood evicted acme's cached credentials")
	}
	if n := c.perOrg["evil"]; n != maxPerOrg || len(c.entries) != maxPerOrg+1 {
		t.Errorf("evil holds %d entries (want %d), the cache %d", n, maxPerOrg, len(c.entries))
	}
	// The flooding org still caches what it asks for now: its oldest entries went first.
	last := cacheKey{org: "evil", key: "k", version: 1, location: fmt.Sprintf("s3://b/evil/junk/%d", maxEntries+499), mode: "read"}
	if _, hit, _ := c.get(ctx, last, m.mint); !hit {
		t.Error("the flooding org's newest entry is not cached")
	}
}

// TestCacheServesStaleOnlyWithASafeMargin: past its reuse point a credential is answered
// stale while at least max(5 min, 1/6 of its lifetime) of it remains, and never once its
// holder reported it refused.
func TestCacheServesStaleOnlyWithASafeMargin(t *testing.T) {
	for _, tc := range []struct {
		lifetime, elapsed time.Duration
		want              bool
	}{
		{time.Hour, 31 * time.Minute, true},
		{time.Hour, 50 * time.Minute, true}, // 10 minutes left: a sixth
		{time.Hour, 50*time.Minute + time.Second, false},
		{15 * time.Minute, 10 * time.Minute, true}, // 5 minutes left, more than a sixth
		{15 * time.Minute, 10*time.Minute + time.Second, false},
		{time.Hour, 2 * time.Hour, false},
	} {
		clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
		c := newCache(clk.now)
		c.get(context.Background(), k1, func(context.Context) (*api.Credentials, error) {
			return &api.Credentials{ExpiresAt: clk.now().Add(tc.lifetime), S3: &api.S3Credentials{AccessKeyID: "AK"}}, nil
		})
		clk.add(tc.elapsed)
		if got := c.stale(k1) != nil; got != tc.want {
			t.Errorf("%v into %v: stale answered %v, want %v", tc.elapsed, tc.lifetime, got, tc.want)
		}
		if c.refuse(k1, "AK"); c.stale(k1) != nil {
			t.Errorf("%v into %v: refused credentials answered stale", tc.elapsed, tc.lifetime)
		}
	}
}

// A holder of an Azure SAS reports it refused by its digest (api.Credentials.RefusalID),
// never by the token: the report of the digest is honoured, the token itself or another
// SAS's digest is not.
func TestCacheDropsASASItsHolderSawRefused(t *testing.T) {
	clk := &clock{t: time.Now()}
	n := 0
	mint := func(context.Context) (*api.Credentials, error) {
		n++
		return &api.Credentials{ExpiresAt: clk.now().Add(time.Hour), Azure: &api.AzureCredentials{SASToken: fmt.Sprint("sv=2025&sig=S", n)}}, nil
	}
	k := cacheKey{org: "acme", key: "az", version: 1, location: "az://acct/data", mode: "read"}
	c := newCache(clk.now)
	ctx := context.Background()
	first, _, _ := c.get(ctx, k, mint)
	other := (&api.Credentials{Azure: &api.AzureCredentials{SASToken: "sv=2025&sig=other"}}).RefusalID()
	for _, id := range []string{first.Azure.SASToken, other, ""} {
		if r := c.refuse(k, id); r != refusalNone {
			t.Fatalf("refusal by %q: %q, want none", id, r)
		}
	}
	if r := c.refuse(k, first.RefusalID()); r != refusalHonoured {
		t.Fatalf("refusal of the cached SAS by its digest: %q", r)
	}
	if fresh, hit, _ := c.get(ctx, k, mint); hit || fresh.Azure.SASToken == first.Azure.SASToken || n != 2 {
		t.Fatalf("the refused SAS was answered again (hit %v, %d mints)", hit, n)
	}
}
