package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tarnhq/tarn/api"
)

// exchangeRaw posts a token exchange and returns its status, Retry-After and problem.
func (f *workloadFixture) exchangeRaw(t *testing.T, jwt string) (int, string, api.Problem) {
	t.Helper()
	req, _ := http.NewRequest("POST", f.env.URL+api.Prefix+"/oauth/token", strings.NewReader(exchangeForm(jwt, "").Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p api.Problem
	json.NewDecoder(resp.Body).Decode(&p)
	return resp.StatusCode, resp.Header.Get("Retry-After"), p
}

// TestTokenExchangeDuringIssuerOutageIs503 stops a workload identity's issuer: once tarn
// must fetch its keys again (the cached JWKS expired, or the token names a key tarn has not
// seen), the exchange answers 503 with Retry-After saying the issuer cannot be reached, not
// 401, which would tell the workload that its token is bad. Until then the cached keys serve.
func TestTokenExchangeDuringIssuerOutageIs503(t *testing.T) {
	for _, tc := range []struct {
		name   string
		before func(f *workloadFixture)
	}{
		{"cached keys expired", func(f *workloadFixture) { f.env.Clock.Advance(2 * time.Hour) }},
		{"unknown key", func(f *workloadFixture) { f.gh.Rotate(); f.env.Clock.Advance(time.Minute) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newWorkloadFixture(t)
			if st, _, p := f.exchangeRaw(t, f.ghToken(nil)); st != http.StatusOK {
				t.Fatalf("before the outage: %d %s", st, p.Detail)
			}
			f.gh.Close()
			if st, _, p := f.exchangeRaw(t, f.ghToken(nil)); st != http.StatusOK {
				t.Fatalf("stopped issuer, cached keys: %d %s", st, p.Detail)
			}
			tc.before(f)
			for i := range 2 { // the second within RefetchInterval of the failed fetch
				st, retryAfter, p := f.exchangeRaw(t, f.ghToken(nil))
				if st != http.StatusServiceUnavailable || retryAfter == "" || !strings.Contains(p.Detail, "cannot be fetched") {
					t.Errorf("exchange %d with the issuer stopped: %d, Retry-After %q, %q (%s); want 503 with Retry-After", i+1, st, retryAfter, p.Detail, p.Code)
				}
			}
		})
	}
}
