package errs

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	down := E(Unavailable, "the database is busy")
	for _, tc := range []struct {
		name string
		err  error
		want time.Duration
	}{
		{"unavailable without a wait", down, DefaultRetryAfter},
		{"unavailable with a wait", down.After(30 * time.Second), 30 * time.Second},
		{"wrapped by fmt", fmt.Errorf("vend: %w", down.After(5*time.Second)), 5 * time.Second},
		{"outer wait wins", Wrap(Unavailable, down.After(5*time.Second), "x").After(time.Minute), time.Minute},
		{"upstream refusal", E(Upstream, "STS refused"), 0},
		{"invalid input", E(Invalid, "bad"), 0},
		{"internal", errors.New("boom"), 0},
		{"nil", nil, 0},
	} {
		if got := RetryAfter(tc.err); got != tc.want {
			t.Errorf("%s: RetryAfter = %v, want %v", tc.name, got, tc.want)
		}
	}
	if s := Status(Upstream); s != http.StatusBadGateway {
		t.Errorf("Status(Upstream) = %d, want 502", s)
	}
	if s := Status(Unavailable); s != http.StatusServiceUnavailable {
		t.Errorf("Status(Unavailable) = %d, want 503", s)
	}
}
