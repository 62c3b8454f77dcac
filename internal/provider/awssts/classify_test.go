package awssts

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

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
			req := provider.Request{Key: fakeAWSKey(), Location: mustLoc(t, "s3://data-bucket/teams"), Mode: api.ModeRead, TTL: time.Hour}
			_, err := d.Vend(context.Background(), req)
			if k := errs.KindOf(err); k != tc.want {
				t.Fatalf("kind %v, want %v: %v", k, tc.want, err)
			}
			if !strings.Contains(detailOf(err), tc.detail) || !strings.Contains(detailOf(err), tc.code) {
				t.Errorf("detail %q lacks %q and the code", detailOf(err), tc.detail)
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
		if !errs.Is(errs.Unavailable, err) || errs.RetryAfter(err) <= 0 || !strings.Contains(detailOf(err), "cannot reach the endpoint") {
			t.Fatalf("err = %v (Retry-After %v), want Unavailable with Retry-After", err, errs.RetryAfter(err))
		}
	case <-time.After(time.Minute):
		t.Fatal("Vend still waits on a frozen STS after a minute, with a timeout of 100ms")
	}
}
