package bench

import (
	"context"
	"testing"
	"time"

	"golang.org/x/oauth2/google"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/fakegcstest"
	"github.com/tarnhq/tarn/internal/googletest"
	"github.com/tarnhq/tarn/internal/provider/gcsdownscope"
	"github.com/tarnhq/tarn/internal/testenv"
)

// The identities of the GCS benchmarks: the server's own (its ADC, a googletest key) and
// the service account its creds key impersonates.
const (
	gcsServerSA = "tarn-server@tarn-bench.iam.gserviceaccount.com"
	gcsTargetSA = "datasets@tarn-bench.iam.gserviceaccount.com"
)

// newGCSEnv starts a tarn whose ADC is a fresh key of gcsServerSA made by g, with the creds
// key local/gcs (auth default: impersonate gcsTargetSA, which g lets gcsServerSA do, and
// downscope at g; the data at srv) and the dataset al://local/coco at gs://BUCKET/coco.
func newGCSEnv(b *testing.B, srv *fakegcstest.Server, g *googletest.Server) *benchEnv {
	b.Helper()
	ctx := context.Background()
	g.Grant(gcsServerSA, gcsTargetSA)
	adc, err := google.CredentialsFromJSON(ctx, g.ServiceAccountKey(b, gcsServerSA), gcsdownscope.ScopeCloudPlatform)
	if err != nil {
		b.Fatalf("ADC: %v", err)
	}
	env := testenv.New(b, testenv.Options{AllowEndpoints: []string{g.HostPort(), srv.HostPort()}, GCSCredentials: adc})
	// Tokens expire by the server's clock: on testenv's fixed date they would be long
	// expired to the reading client, which would vend again for every request.
	env.Clock.Advance(time.Since(env.Clock.Now()))
	admin := env.Admin(b)
	cfg := api.CredsKeyConfig{Roots: []string{"gs://" + srv.Bucket}, ServiceAccount: gcsTargetSA,
		IAMEndpoint: g.URL, STSEndpoint: g.URL, StorageEndpoint: srv.Endpoint}
	if _, err := admin.PutCredsKey(ctx, benchOrg, "gcs", api.PutCredsKeyRequest{Provider: api.ProviderGCS, Config: cfg}); err != nil {
		b.Fatalf("creds key: %v", err)
	}
	if _, err := admin.CreateDataset(ctx, benchOrg, api.CreateDatasetRequest{
		Name: benchDataset, Location: "gs://" + srv.Bucket + "/" + benchDataset, CredsKey: "gcs",
	}); err != nil {
		b.Fatalf("connect dataset: %v", err)
	}
	return &benchEnv{Env: env, admin: admin}
}

// BenchmarkCachedVendGCS is BenchmarkCachedVend for a dataset on Google Cloud Storage
// (a downscoped token of the Google stand-ins, data on fake-gcs-server): cached read vends
// at 64 clients vs the bare handler.
func BenchmarkCachedVendGCS(b *testing.B) {
	cachedVends(b, newGCSEnv(b, fakegcstest.Start(b), googletest.New(b, googletest.Options{})))
}

// BenchmarkColdCacheVendsGCS is BenchmarkColdCacheVends for a dataset on GCS: 1,000
// concurrent read vends on a fresh tarn cost one upstream call, one impersonation
// (generateAccessToken) and one downscope (STS token exchange), as the Google stand-ins
// count them, and one ADC token (adc-tokens).
func BenchmarkColdCacheVendsGCS(b *testing.B) {
	srv, g := fakegcstest.Start(b), googletest.New(b, googletest.Options{})
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		env := newGCSEnv(b, srv, g) // a fresh server with fresh ADC: nothing cached
		imp, down, adc := g.Calls(googletest.Impersonate), g.Calls(googletest.Downscope), g.Calls(googletest.OAuth)
		b.StartTimer()
		coldLoad(b, env)
		b.ReportMetric(float64(g.Calls(googletest.Impersonate)-imp), "impersonations")
		b.ReportMetric(float64(g.Calls(googletest.Downscope)-down), "downscopes")
		b.ReportMetric(float64(g.Calls(googletest.OAuth)-adc), "adc-tokens")
	}
}
