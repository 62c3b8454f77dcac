package bench

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/miniotest"
	"github.com/tarnhq/tarn/internal/pgtest"
)

const (
	clients = 64
	total   = 20000

	coldVends = 1000 // concurrent vends on a cold cache
)

// BenchmarkCachedVend compares cached read vends of a dataset on S3 (a creds key of
// provider aws against MinIO, the vend users hit) by one tarn on SQLite over loopback with a
// bare Go handler that answers a fixed JSON body of the same size, both at 64 concurrent
// clients.
func BenchmarkCachedVend(b *testing.B) {
	cachedVends(b, &newS3Env(b, miniotest.Start(b), "").benchEnv)
}

// BenchmarkCachedVendPostgres is BenchmarkCachedVend with two tarn servers that share one
// PostgreSQL database; half of the clients send to each.
func BenchmarkCachedVendPostgres(b *testing.B) {
	b.Setenv("TARN_MASTER_KEY", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")
	db := pgtest.URL(b)
	env := newS3Env(b, miniotest.Start(b), db)
	cachedVends(b, &env.benchEnv, &env.another(b, db).benchEnv)
}

// cachedVends fills the vend cache of every server in envs, then measures 64 clients
// spread over them, and the bare handler, and reports both and their ratio.
func cachedVends(b *testing.B, envs ...*benchEnv) {
	ctx := context.Background()
	body, _ := json.Marshal(api.DatasetCredentialsRequest{Mode: api.ModeRead})
	var fixed []byte
	var urls []string
	for _, env := range envs {
		creds, err := env.admin.DatasetCredentials(ctx, benchOrg, benchDataset, api.ModeRead) // fills the cache
		if err != nil {
			b.Fatal(err)
		}
		if creds.S3 == nil && creds.Azure == nil && creds.GCS == nil {
			b.Fatalf("vend of provider %q without S3, Azure or GCS credentials", creds.Provider)
		}
		fixed, _ = json.Marshal(creds)
		urls = append(urls, env.vendURL())
	}
	bare := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(fixed)
	}))
	defer bare.Close()
	upstream := func() float64 {
		n := 0.0
		for _, env := range envs {
			n += env.upstreamCalls(b)
		}
		return n
	}

	b.ResetTimer()
	for range b.N {
		before := upstream()
		tarn := load(clients, total, postJSON(urls, envs[0].AdminToken, body))
		base := load(clients, total, postJSON([]string{bare.URL}, "x", body))
		if tarn.errors > 0 {
			b.Fatalf("%d vends failed", tarn.errors)
		}
		if n := upstream() - before; n != 0 {
			b.Errorf("%v upstream calls during cached vends, want 0", n)
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

// BenchmarkColdCacheVends sends 1,000 concurrent read vends for one S3 dataset to a fresh
// tarn (empty vend cache) and counts the STS AssumeRole calls they cost, as the server's
// tarn_vend_upstream_calls_total reports them. Concurrent misses share one upstream call,
// so the expected count is 1.
func BenchmarkColdCacheVends(b *testing.B) {
	srv := miniotest.Start(b)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		env := newS3Env(b, srv, "") // a fresh server: nothing cached
		b.StartTimer()
		coldLoad(b, &env.benchEnv)
	}
}

// coldLoad sends 1,000 concurrent read vends of the dataset to env, with the benchmark's
// timer running, and reports the provider calls they cost, their number and their times.
func coldLoad(b *testing.B, env *benchEnv) {
	b.Helper()
	body, _ := json.Marshal(api.DatasetCredentialsRequest{Mode: api.ModeRead})
	b.StopTimer()
	before := env.upstreamCalls(b)
	b.StartTimer()
	r := load(coldVends, coldVends, postJSON([]string{env.vendURL()}, env.AdminToken, body))
	b.StopTimer()
	defer b.StartTimer()
	if r.errors > 0 {
		b.Fatalf("%d of %d vends failed", r.errors, r.requests)
	}
	b.ReportMetric(env.upstreamCalls(b)-before, "upstream-calls")
	b.ReportMetric(float64(r.requests), "vends")
	b.ReportMetric(float64(r.elapsed.Microseconds())/1000, "wall-ms")
	b.ReportMetric(float64(r.p50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(r.p99.Microseconds())/1000, "p99-ms")
}
