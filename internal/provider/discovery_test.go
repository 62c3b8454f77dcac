package provider_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tarnhq/tarn/internal/provider"
)

// TestDiscoveryCheck: the check passes only for a discovery document at the issuer's URL
// that names that URL as its issuer.
func TestDiscoveryCheck(t *testing.T) {
	var named string // the issuer the discovery names; "" answers 404
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if named == "" || r.URL.Path != "/.well-known/openid-configuration" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, `{"issuer":%q}`, named)
	}))
	defer srv.Close()
	tests := []struct {
		name, named, iss string
		ok               bool
		detail           string
	}{
		{"its own", srv.URL, srv.URL, true, "names issuer " + srv.URL},
		{"another issuer", "https://other.example.com", srv.URL, false, `names issuer "https://other.example.com"`},
		{"no discovery", "", srv.URL, false, "answered 404"},
		{"unreachable", srv.URL, "http://127.0.0.1:1", false, "cannot fetch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			named = tt.named
			c := provider.DiscoveryCheck(t.Context(), srv.Client().Do, tt.iss)
			if c.OK != tt.ok || !strings.Contains(c.Detail, tt.detail) {
				t.Errorf("check %+v; want ok %v and a detail with %q", c, tt.ok, tt.detail)
			}
		})
	}
}
