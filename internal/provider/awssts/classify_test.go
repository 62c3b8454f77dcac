package awssts

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/provider"
)

// Refusals that retrying will not fix are Upstream (502); throttling and the endpoint's
// own failures are Unavailable (503 with Retry-After).
func TestVendClassifiesFailures(t *testing.T) {
	for _, tc := range []struct {
		code   string
		status int
		want   errs.Kind
		detail string
	}{
		{"AccessDenied", 403, errs.Upstream, "trust policy"},
		{"InvalidClientTokenId", 403, errs.Upstream, "access key AKIASOURCE or its secret was refused"},
		{"MalformedPolicyDocument", 400, errs.Upstream, "session policy"},
		{"ValidationError", 400, errs.Upstream, "role_arn"},
		{"RegionDisabledException", 403, errs.Upstream, "activate STS"},
		{"NotImplemented", 501, errs.Upstream, "does not implement"},
		{"SomethingNew", 400, errs.Upstream, "SomethingNew"},
		{"Throttling", 400, errs.Unavailable, "busy"},
		{"RequestLimitExceeded", 400, errs.Unavailable, "busy"},
		{"ServiceUnavailable", 503, errs.Unavailable, "busy"},
		{"InternalFailure", 500, errs.Unavailable, "busy"},
		{"SomethingBroken", 502, errs.Unavailable, "SomethingBroken"},
	} {
		t.Run(tc.code, func(t *testing.T) {
			f := &fakeSTS{fail: tc.code, status: tc.status}
			d := fakeAWS(t, f, Options{})
			d.backoff = noWait
			req := provider.Request{Key: fakeAWSKey(), Location: mustLoc(t, "s3://data-bucket/teams"), Mode: api.ModeRead, TTL: time.Hour}
			_, err := d.Vend(context.Background(), req)
			if k := errs.KindOf(err); k != tc.want {
				t.Fatalf("kind %v, want %v: %v", k, tc.want, err)
			}
			if !strings.Contains(errs.DetailOf(err), tc.detail) || !strings.Contains(errs.DetailOf(err), tc.code) {
				t.Errorf("detail %q lacks %q and the code", errs.DetailOf(err), tc.detail)
			}
			if got := errs.RetryAfter(err) > 0; got != (tc.want == errs.Unavailable) {
				t.Errorf("Retry-After set = %v for kind %v", got, tc.want)
			}
		})
	}
}

// A frozen STS (it accepts the request and never answers) fails the vend with Unavailable
// once the driver's timeout is spent; the vend does not wait for the endpoint.
func TestFrozenSTSIsUnavailable(t *testing.T) {
	frozen := make(chan struct{})
	defer close(frozen)
	d := fakeAWS(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-frozen }), Options{Timeout: 100 * time.Millisecond})
	req := provider.Request{Key: fakeAWSKey(), Location: mustLoc(t, "s3://data-bucket/teams"), Mode: api.ModeRead, TTL: time.Hour}
	done := make(chan error, 1)
	go func() {
		_, err := d.Vend(context.Background(), req)
		done <- err
	}()
	select {
	case err := <-done:
		if !errs.Is(errs.Unavailable, err) || errs.RetryAfter(err) <= 0 || !strings.Contains(errs.DetailOf(err), "cannot reach the endpoint") {
			t.Fatalf("err = %v (Retry-After %v), want Unavailable with Retry-After", err, errs.RetryAfter(err))
		}
	case <-time.After(time.Minute):
		t.Fatal("Vend still waits on a frozen STS after a minute, with a timeout of 100ms")
	}
}

// noWait is a backoff of zero: retries follow at once (tests count attempts, not time).
var noWait = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })

// An answer that retrying may fix (throttling, 5xx) is retried, MaxAttempts times in all;
// a refusal is not retried; a retry whose backoff would leave too little of the timeout is
// not made, and the vend fails with the upstream's answer rather than a timeout.
func TestVendRetriesWithinTheTimeout(t *testing.T) {
	for _, tc := range []struct {
		name      string
		code      string
		status    int
		failFirst int           // 0: every attempt fails
		backoff   time.Duration // before each retry
		attempts  int
		want      errs.Kind // 0: the vend succeeds
	}{
		{"throttled twice, then answered", "Throttling", 400, 2, 0, 3, 0},
		{"503 once, then answered", "ServiceUnavailable", 503, 1, 0, 2, 0},
		{"always throttled", "Throttling", 400, 0, 0, MaxAttempts, errs.Unavailable},
		{"always failing on its side", "InternalFailure", 500, 0, 0, MaxAttempts, errs.Unavailable},
		{"refused", "AccessDenied", 403, 0, 0, 1, errs.Upstream},
		{"backoff past the deadline", "Throttling", 400, 0, time.Hour, 1, errs.Unavailable},
		{"backoff leaving less than a quarter", "Throttling", 400, 0, 8 * time.Second, 1, errs.Unavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeSTS{fail: tc.code, status: tc.status, failFirst: tc.failFirst}
			d := fakeAWS(t, f, Options{Timeout: 10 * time.Second})
			d.backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return tc.backoff, nil })
			req := provider.Request{Key: fakeAWSKey(), Location: mustLoc(t, "s3://data-bucket/teams"), Mode: api.ModeRead, TTL: time.Hour}
			_, err := d.Vend(context.Background(), req)
			if n := f.requests(); n != tc.attempts {
				t.Errorf("%d attempts reached STS, want %d", n, tc.attempts)
			}
			if tc.want == 0 {
				if err != nil {
					t.Fatalf("vend: %v", err)
				}
				return
			}
			if k := errs.KindOf(err); k != tc.want || !strings.Contains(errs.DetailOf(err), tc.code) {
				t.Fatalf("err = %v (kind %v), want kind %v naming %s", err, k, tc.want, tc.code)
			}
			if got := errs.RetryAfter(err) > 0; got != (tc.want == errs.Unavailable) {
				t.Errorf("Retry-After set = %v for kind %v", got, tc.want)
			}
		})
	}
}
