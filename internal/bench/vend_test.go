package bench

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/testenv"
	"github.com/tarnhq/tarn/location"
)

const (
	clients = 64
	total   = 20000
)

// BenchmarkCachedVend compares cached vends over loopback with a bare Go handler that
// answers a fixed JSON body of the same size, both at 64 concurrent clients.
func BenchmarkCachedVend(b *testing.B) {
	env := testenv.New(b, testenv.Options{})
	ctx := context.Background()
	admin := env.Admin(b)
	root, _ := location.FromLocal(filepath.Join(env.DataDir, "bench"))
	if _, err := admin.PutCredsKey(ctx, "local", "bench", api.PutCredsKeyRequest{Provider: "file", Config: api.CredsKeyConfig{Roots: []string{root.String()}}}); err != nil {
		b.Fatal(err)
	}
	if _, err := admin.CreateDataset(ctx, "local", api.CreateDatasetRequest{Name: "coco", Location: root.String() + "/coco", CredsKey: "bench"}); err != nil {
		b.Fatal(err)
	}
	body, _ := json.Marshal(api.DatasetCredentialsRequest{Mode: "read"})
	vendURL := env.URL + api.Prefix + "/orgs/local/datasets/coco/credentials"
	creds, err := admin.DatasetCredentials(ctx, "local", "coco", "read")
	if err != nil {
		b.Fatal(err)
	}
	fixed, _ := json.Marshal(creds)
	bare := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(fixed)
	}))
	defer bare.Close()

	b.ResetTimer()
	for range b.N {
		tarn := load(clients, total, postJSON(vendURL, env.AdminToken, body))
		base := load(clients, total, postJSON(bare.URL, "x", body))
		if tarn.errors > 0 {
			b.Fatalf("%d vends failed", tarn.errors)
		}
		b.ReportMetric(tarn.perSecond(), "vend-req/s")
		b.ReportMetric(float64(tarn.p50.Microseconds()), "vend-p50-µs")
		b.ReportMetric(float64(tarn.p99.Microseconds()), "vend-p99-µs")
		b.ReportMetric(base.perSecond(), "bare-req/s")
		b.ReportMetric(float64(base.p50.Microseconds()), "bare-p50-µs")
		b.ReportMetric(float64(base.p99.Microseconds()), "bare-p99-µs")
		b.ReportMetric(tarn.perSecond()/base.perSecond(), "ratio")
	}
}
