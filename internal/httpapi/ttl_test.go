package httpapi_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/testenv"
)

// A token cannot mint a token that outlives it, nor one whose lifetime overflows: a leaked
// short-lived token must not become a long-lived one. Each refusal is a 400 that says what
// to ask for instead.
func TestTokenTTLBounds(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	ctx := t.Context()
	user := env.Client(t, env.NewUser(t, "mallory", "", ""))
	short, err := user.CreateToken(ctx, api.CreateTokenRequest{Name: "short", TTLSeconds: 3600})
	if err != nil {
		t.Fatal(err)
	}
	attacker := env.Client(t, short.Token)
	for _, tc := range []struct {
		name     string
		expiring bool // sent with the short-lived token, else with one that never expires
		ttl      int64
		detail   string
	}{
		{"overflowing ttl", false, 9223372036854775807, "out of range"},
		{"ttl one past the duration limit", false, 9223372037, "out of range"},
		{"ttl below -1", false, -2, "out of range"},
		{"longer than the creating token", true, 7200, "would outlive the token you use"},
		{"one second longer than the creating token", true, 3601, "give at most 3600"},
		{"no expiry from an expiring token", true, -1, "cannot create a token that never expires"},
		{"overflowing ttl from an expiring token", true, 9223372036854775807, "out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := user
			if tc.expiring {
				c = attacker
			}
			out, err := c.CreateToken(ctx, api.CreateTokenRequest{Name: "long", TTLSeconds: tc.ttl})
			var p *api.Problem
			if !errors.As(err, &p) || p.Status != http.StatusBadRequest || p.Code != api.CodeInvalid || !strings.Contains(p.Detail, tc.detail) {
				t.Fatalf("ttl_seconds %d: %+v, %v; want 400 invalid with %q", tc.ttl, out, err, tc.detail)
			}
		})
	}

	// What the creating token allows is granted: up to its expiry, and the default cut to it.
	exact, err := attacker.CreateToken(ctx, api.CreateTokenRequest{Name: "exact", TTLSeconds: 3600})
	if err != nil {
		t.Fatal(err)
	}
	def, err := attacker.CreateToken(ctx, api.CreateTokenRequest{Name: "default"})
	if err != nil {
		t.Fatal(err)
	}
	for _, got := range []*api.CreateTokenResponse{exact, def} {
		if got.TokenInfo.ExpiresAt == nil || got.TokenInfo.ExpiresAt.After(*short.TokenInfo.ExpiresAt) {
			t.Errorf("token %s expires at %v, after its creator (%v)", got.TokenInfo.Name, got.TokenInfo.ExpiresAt, short.TokenInfo.ExpiresAt)
		}
	}
	// A token without expiry may create one that lives long, and one that never expires.
	long, err := user.CreateToken(ctx, api.CreateTokenRequest{Name: "decade", TTLSeconds: 10 * 365 * 24 * 3600})
	if err != nil || long.TokenInfo.ExpiresAt == nil || !long.TokenInfo.ExpiresAt.After(env.Clock.Now().Add(9*365*24*time.Hour)) {
		t.Errorf("ten-year token: %+v, %v", long, err)
	}
}
