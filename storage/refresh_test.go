package storage

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"

	"github.com/tarnhq/tarn/internal/renew"
)

// clock is a clock that tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// counter is a fetch function that vends credentials living life from the clock's now (none
// when life is zero), named key-1, key-2, … in order, and counts its calls. fail, when set,
// makes a call fail.
type counter struct {
	clock *clock
	life  time.Duration

	mu   sync.Mutex
	n    int
	fail func(n int) error
}

func (c *counter) fetch(ctx context.Context) (aws.Credentials, error) {
	c.mu.Lock()
	c.n++
	n, fail := c.n, c.fail
	c.mu.Unlock()
	if fail != nil {
		if err := fail(n); err != nil {
			return aws.Credentials{}, err
		}
	}
	cr := aws.Credentials{AccessKeyID: fmt.Sprintf("key-%d", n), SecretAccessKey: "s"}
	if c.life != 0 { // negative: expired on arrival
		cr.CanExpire, cr.Expires = true, c.clock.Now().Add(c.life)
	}
	return cr, nil
}

func (c *counter) calls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func retrieve(t *testing.T, r *refresher[aws.Credentials]) string {
	t.Helper()
	c, err := (s3Credentials{r}).Retrieve(context.Background())
	if err != nil {
		t.Fatalf("Retrieve: %v", err)
	}
	return c.AccessKeyID
}

func TestRefresherRenewsAtTheRenewalTime(t *testing.T) {
	clk := newClock()
	v := &counter{clock: clk, life: time.Hour}
	r := newRefresher(v.fetch, awsInfo, clk.Now, nil)

	if got := retrieve(t, r); got != "key-1" {
		t.Fatalf("first Retrieve = %s", got)
	}
	clk.Add(30*time.Minute - time.Second)
	if got := retrieve(t, r); got != "key-1" || v.calls() != 1 {
		t.Fatalf("31 minutes before expiry: %s after %d vends, want key-1 after 1", got, v.calls())
	}
	clk.Add(time.Second)
	if got := retrieve(t, r); got != "key-2" || v.calls() != 2 {
		t.Fatalf("30 minutes before expiry: %s after %d vends, want key-2 after 2", got, v.calls())
	}

	// Over 10 hours, one request a minute: one vend per 30 minutes, not one per request.
	for range 600 {
		clk.Add(time.Minute)
		retrieve(t, r)
	}
	if got := v.calls() - 2; got != 20 {
		t.Errorf("%d vends over 10 hours of 1-hour credentials, want 20 (one per 30 minutes)", got)
	}
}

func TestRefresherMeasuresLifetimeFromArrival(t *testing.T) {
	// A credential the server had cached arrives with 31 of its 60 minutes left: it is
	// renewed after half of those 31 minutes, not at 80 % of them (6 minutes before expiry).
	clk := newClock()
	v := &counter{clock: clk, life: 31 * time.Minute}
	r := newRefresher(v.fetch, awsInfo, clk.Now, nil)
	retrieve(t, r)
	clk.Add(15*time.Minute + 29*time.Second)
	retrieve(t, r)
	clk.Add(time.Second)
	retrieve(t, r)
	if v.calls() != 2 {
		t.Errorf("%d vends, want a renewal at 15.5 of 31 minutes", v.calls())
	}
}

// A credential that arrives already expired by the local clock (a clock far off from the
// server's) is not renewed for every request, which would make a vend storm: it serves for
// renew.RetryMin, then the next request vends again.
func TestRefresherDoesNotStormOnACredentialExpiredOnArrival(t *testing.T) {
	clk := newClock()
	v := &counter{clock: clk, life: -time.Hour}
	r := newRefresher(v.fetch, awsInfo, clk.Now, nil)
	for range 100 {
		retrieve(t, r)
	}
	if v.calls() != 1 {
		t.Fatalf("%d vends for 100 requests, want 1", v.calls())
	}
	clk.Add(renew.RetryMin)
	if got := retrieve(t, r); got != "key-2" || v.calls() != 2 {
		t.Errorf("after RetryMin: %s after %d vends, want key-2 from a second vend", got, v.calls())
	}
}

func TestRefresherStartsWithTheFirstVend(t *testing.T) {
	clk := newClock()
	v := &counter{clock: clk, life: 10 * time.Minute}
	first := aws.Credentials{AccessKeyID: "first", CanExpire: true, Expires: clk.Now().Add(10 * time.Minute)}
	r := newRefresher(v.fetch, awsInfo, clk.Now, &first)
	if got := retrieve(t, r); got != "first" || v.calls() != 0 {
		t.Errorf("Retrieve = %s after %d vends, want the first credential and no vend", got, v.calls())
	}
	clk.Add(5 * time.Minute)
	if got := retrieve(t, r); got != "key-1" {
		t.Errorf("after half of the first credential's lifetime: %s", got)
	}
}

func TestRefresherNeverRenewsCredentialsThatDoNotExpire(t *testing.T) {
	clk := newClock()
	v := &counter{clock: clk}
	r := newRefresher(v.fetch, awsInfo, clk.Now, nil)
	for range 10 {
		retrieve(t, r)
		clk.Add(24 * time.Hour)
	}
	if v.calls() != 1 {
		t.Errorf("%d vends of a credential without expiry, want 1", v.calls())
	}
}

func TestRefresherKeepsServingWhenRenewalFails(t *testing.T) {
	clk := newClock()
	down := errors.New("tarn server unavailable")
	v := &counter{clock: clk, life: 10 * time.Minute}
	r := newRefresher(v.fetch, awsInfo, clk.Now, nil)
	retrieve(t, r) // key-1, valid until 10m, due at 5m

	v.fail = func(int) error { return down }
	clk.Add(5 * time.Minute)
	if got := retrieve(t, r); got != "key-1" || v.calls() != 2 {
		t.Fatalf("failed renewal: %s after %d vends, want key-1 after 2", got, v.calls())
	}
	// No new vend before the retry delay (a quarter of the 5 minutes left).
	clk.Add(75*time.Second - time.Second)
	if got := retrieve(t, r); got != "key-1" || v.calls() != 2 {
		t.Fatalf("within the retry delay: %s after %d vends, want key-1 after 2", got, v.calls())
	}
	clk.Add(time.Second)
	if got := retrieve(t, r); got != "key-1" || v.calls() != 3 {
		t.Fatalf("after the retry delay: %s after %d vends, want key-1 after 3", got, v.calls())
	}
	// Once the old credential has expired, a failed vend is an error, and errors are not
	// cached: every Retrieve tries again.
	clk.Add(5*time.Minute - 75*time.Second)
	for i := range 2 {
		if _, err := (s3Credentials{r}).Retrieve(context.Background()); !errors.Is(err, down) {
			t.Fatalf("Retrieve after expiry = %v, want %v", err, down)
		}
		if want := 4 + i; v.calls() != want {
			t.Fatalf("%d vends, want %d", v.calls(), want)
		}
	}
	v.fail = nil
	if got := retrieve(t, r); got != "key-6" {
		t.Errorf("after the server came back: %s, want key-6", got)
	}
}

func TestRefresherRetryDelayIsAtMostHalfOfWhatIsLeft(t *testing.T) {
	clk := newClock()
	v := &counter{clock: clk, life: time.Minute}
	r := newRefresher(v.fetch, awsInfo, clk.Now, nil)
	retrieve(t, r) // due at 30s, expires at 60s
	v.fail = func(int) error { return errors.New("down") }
	clk.Add(30 * time.Second)
	retrieve(t, r)
	clk.Add(15 * time.Second) // 30s were left: the next attempt comes after 15s, not 30s
	retrieve(t, r)
	if v.calls() != 3 {
		t.Errorf("%d vends, want 3", v.calls())
	}
}

func TestRefresherConcurrentCallersShareOneVend(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clk := newClock()
		release := make(chan struct{})
		v := &counter{clock: clk, life: 10 * time.Minute, fail: func(int) error { <-release; return nil }}
		r := newRefresher(v.fetch, awsInfo, clk.Now, nil)

		var wg sync.WaitGroup
		keys := make([]string, 16)
		for i := range keys {
			wg.Go(func() {
				c, err := (s3Credentials{r}).Retrieve(context.Background())
				if err != nil {
					t.Error(err)
				}
				keys[i] = c.AccessKeyID
			})
		}
		synctest.Wait() // all 16 wait for the one vend, which waits for release
		if v.calls() != 1 {
			t.Errorf("%d vends in flight for 16 concurrent callers, want 1", v.calls())
		}
		close(release)
		wg.Wait()
		for i, k := range keys {
			if k != "key-1" {
				t.Errorf("caller %d got %q", i, k)
			}
		}
	})
}

func TestRefresherCallerGivesUpButTheVendGoesOn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clk := newClock()
		release := make(chan struct{})
		v := &counter{clock: clk, life: 10 * time.Minute, fail: func(int) error { <-release; return nil }}
		r := newRefresher(v.fetch, awsInfo, clk.Now, nil)

		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() {
			_, err := (s3Credentials{r}).Retrieve(ctx)
			done <- err
		}()
		var got string
		var wg sync.WaitGroup
		wg.Go(func() { got = retrieve(t, r) })
		synctest.Wait()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("canceled caller: %v", err)
		}
		close(release)
		wg.Wait()
		if got != "key-1" || v.calls() != 1 {
			t.Errorf("other caller got %q after %d vends, want key-1 after 1", got, v.calls())
		}
	})
}

func TestRefresherInvalidate(t *testing.T) {
	clk := newClock()
	v := &counter{clock: clk, life: 10 * time.Minute}
	r := newRefresher(v.fetch, awsInfo, clk.Now, nil)
	h1, _ := r.get(context.Background())

	r.invalidate(h1, false)
	h2, _ := r.get(context.Background())
	if h2.creds.AccessKeyID != "key-2" || h2.afterDeny {
		t.Fatalf("after invalidate: %s (afterDeny %v), want key-2", h2.creds.AccessKeyID, h2.afterDeny)
	}
	// Invalidating a credential that is no longer in service changes nothing: concurrent
	// operations refused with the same credential cause one vend.
	r.invalidate(h1, true)
	if got := retrieve(t, r); got != "key-2" || v.calls() != 2 {
		t.Fatalf("after invalidating a replaced credential: %s after %d vends", got, v.calls())
	}
	// A credential vended to replace a denied one remembers it.
	r.invalidate(h2, true)
	h3, _ := r.get(context.Background())
	if h3.creds.AccessKeyID != "key-3" || !h3.afterDeny {
		t.Fatalf("after a denial: %s (afterDeny %v), want key-3 marked", h3.creds.AccessKeyID, h3.afterDeny)
	}
	// An invalidated credential is not served even though it is still valid and the
	// vend fails.
	v.fail = func(int) error { return errors.New("down") }
	r.invalidate(h3, false)
	if _, err := (s3Credentials{r}).Retrieve(context.Background()); err == nil {
		t.Error("Retrieve served an invalidated credential")
	}
}

func TestRefusedCodes(t *testing.T) {
	fresh, replacement := &held[aws.Credentials]{}, &held[aws.Credentials]{afterDeny: true}
	for _, tc := range []struct {
		code          string
		h             *held[aws.Credentials]
		retry, denied bool
	}{
		{"ExpiredToken", fresh, true, false},
		{"ExpiredToken", replacement, true, false},
		{"TokenRefreshRequired", fresh, true, false},
		{"InvalidAccessKeyId", replacement, true, false},
		{"InvalidToken", fresh, true, false},
		{"InvalidTokenId", fresh, true, false},
		{"AccessDenied", fresh, true, true},
		{"AccessDenied", replacement, false, true},
		{"Forbidden", fresh, true, true},
		{"BadRequest", fresh, true, true},
		{"NoSuchKey", fresh, false, false},
		{"SignatureDoesNotMatch", fresh, false, false},
		{"SlowDown", fresh, false, false},
	} {
		err := fmt.Errorf("operation error S3: GetObject: %w", &smithy.GenericAPIError{Code: tc.code})
		retry, denied := refused(err, tc.h)
		if retry != tc.retry || denied != tc.denied {
			t.Errorf("refused(%s, afterDeny=%v) = %v, %v; want %v, %v", tc.code, tc.h.afterDeny, retry, denied, tc.retry, tc.denied)
		}
	}
	if retry, _ := refused(errors.New("connection reset"), fresh); retry {
		t.Error("a network error earned a retry with a fresh credential")
	}
}
