package httpapi_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tarnhq/tarn/api"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestHealthAndReadiness(t *testing.T) {
	f := newFixture(t)
	if st, body := get(t, f.env.URL+"/healthz"); st != 200 || !strings.Contains(body, "ok") {
		t.Errorf("/healthz: %d %s", st, body)
	}
	if st, body := get(t, f.env.URL+"/readyz"); st != 200 {
		t.Errorf("/readyz with a live database: %d %s", st, body)
	}
	f.env.Server.Store.Close()
	resp, err := http.Get(f.env.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "database") {
		t.Errorf("/readyz with a closed database: %d %s", resp.StatusCode, body)
	}
	if got := resp.Header.Get("Retry-After"); got != "1" {
		t.Errorf("/readyz 503 has Retry-After %q, want 1 (second)", got)
	}
}

func TestMetricsCountRequestsAndVends(t *testing.T) {
	f := newFixture(t)
	f.do(t, "reader", "POST", "/orgs/acme/datasets/priv/credentials", api.DatasetCredentialsRequest{Mode: "read"})
	f.do(t, "reader", "POST", "/orgs/acme/datasets/priv/credentials", api.DatasetCredentialsRequest{Mode: "read"})
	f.do(t, "reader", "POST", "/orgs/acme/datasets/priv/credentials", api.DatasetCredentialsRequest{Mode: "write"})
	// Denied after creds key acme/k resolved: counted under its provider.
	f.do(t, "writer", "POST", "/orgs/acme/creds-keys/k/credentials", api.CredentialsRequest{Location: "file:///elsewhere", Mode: "read"})
	_, body := get(t, f.env.URL+"/metrics")
	for _, want := range []string{
		`tarn_http_requests_total{code="200",route="POST /api/v1/orgs/{org}/datasets/{name}/credentials"} 2`,
		`tarn_http_requests_total{code="403",route="POST /api/v1/orgs/{org}/datasets/{name}/credentials"} 1`,
		`tarn_vends_total{provider="file",result="ok"} 2`,
		`tarn_vends_total{provider="none",result="denied"} 1`,
		`tarn_vends_total{provider="file",result="denied"} 1`,
		`tarn_http_request_duration_seconds_count{route="POST /api/v1/orgs/{org}/datasets/{name}/credentials"} 3`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(body, f.tokens["reader"]) {
		t.Error("/metrics holds a token")
	}
}
