package errs

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/tarnhq/tarn/api"
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

// An API answer turns back into the error it was made from: kind, code, detail and field.
func TestFromProblemInvertsStatus(t *testing.T) {
	for k := Internal; k <= Upstream; k++ {
		e := E(k, "detail %d", k).In("role_arn")
		p := &api.Problem{Status: Status(k), Code: e.Code, Detail: e.Detail, Field: e.Field}
		got := FromProblem(p)
		if got.Kind != k || got.Code != e.Code || got.Detail != e.Detail || FieldOf(got) != "role_arn" {
			t.Errorf("kind %d: FromProblem = %+v", k, got)
		}
		if !errors.Is(got, p) {
			t.Errorf("kind %d: the problem is not the cause", k)
		}
	}
}

func TestInField(t *testing.T) {
	plain := errors.New("disk on fire")
	for _, tc := range []struct {
		name      string
		err       error
		wantField string
		wantKind  Kind
	}{
		{"an *Error", E(Conflict, "user %q already exists", "ann"), "name", Conflict},
		{"a wrapped *Error", fmt.Errorf("create: %w", E(Invalid, "bad name")), "name", Invalid},
		{"no *Error", plain, "", Internal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := InField(tc.err, "name")
			if FieldOf(got) != tc.wantField || KindOf(got) != tc.wantKind {
				t.Errorf("InField: field %q kind %v, want %q %v", FieldOf(got), KindOf(got), tc.wantField, tc.wantKind)
			}
		})
	}
	if err := E(Invalid, "x"); InField(err, "name") == error(err) || FieldOf(err) != "" {
		t.Error("InField changed its argument instead of a copy")
	}
}
