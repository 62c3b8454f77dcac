package bench

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/client"
	"github.com/tarnhq/tarn/internal/miniotest"
	"github.com/tarnhq/tarn/internal/testenv"
)

// The benchmarks' dataset: al://local/coco (local is the org every fresh tarn has), at
// s3://BUCKET/coco on MinIO, through the creds key local/minio.
const (
	benchOrg     = "local"
	benchDataset = "coco"
	benchKey     = "minio"
)

// benchEnv is a fresh tarn (cold vend cache) with the benchmarks' dataset al://local/coco.
type benchEnv struct {
	*testenv.Env
	admin *client.Client
}

// s3Env is a benchEnv whose dataset lives on MinIO.
type s3Env struct {
	benchEnv
	minio *miniotest.Server
}

// newS3Env starts a tarn on database (empty: SQLite in its data directory) with a creds
// key of provider aws configured against srv the way `tarn creds add --provider aws` would
// be for MinIO (source access-key with the MinIO user's keys, STS and S3 at MinIO's
// endpoint, path style, allowed s3://BUCKET), and the dataset al://local/coco connected at
// s3://BUCKET/coco.
func newS3Env(b *testing.B, srv *miniotest.Server, database string) *s3Env {
	b.Helper()
	ctx := context.Background()
	env := testenv.New(b, testenv.Options{Database: database, AllowEndpoints: []string{srv.HostPort()}})
	admin := env.Admin(b)
	_, err := admin.PutCredsKey(ctx, benchOrg, benchKey, srv.CredsKey("s3://"+srv.Bucket))
	if err != nil {
		b.Fatalf("creds key: %v", err)
	}
	if _, err := admin.CreateDataset(ctx, benchOrg, api.CreateDatasetRequest{
		Name: benchDataset, Location: "s3://" + srv.Bucket + "/" + benchDataset, CredsKey: benchKey,
	}); err != nil {
		b.Fatalf("connect dataset: %v", err)
	}
	return &s3Env{benchEnv: benchEnv{Env: env, admin: admin}, minio: srv}
}

// another starts a second tarn on e's PostgreSQL database, which serves the same state.
func (e *s3Env) another(b *testing.B, database string) *s3Env {
	b.Helper()
	// DataDir: where e wrote the admin token, which the second server reads.
	env := testenv.New(b, testenv.Options{Database: database, DataDir: e.DataDir, AllowEndpoints: []string{e.minio.HostPort()}})
	return &s3Env{benchEnv: benchEnv{Env: env, admin: env.Admin(b)}, minio: e.minio}
}

// vendURL is the API address of read vends for the dataset.
func (e *benchEnv) vendURL() string {
	return e.URL + api.Prefix + "/orgs/" + benchOrg + "/datasets/" + benchDataset + "/credentials"
}

// upstreamCalls sums tarn_vend_upstream_calls_total (every provider and result) from the
// server's /metrics: the number of upstream calls the vend service made (STS AssumeRole for
// aws; for azure, a vend that had to fetch a user delegation key).
func (e *benchEnv) upstreamCalls(b *testing.B) float64 {
	b.Helper()
	resp, err := http.Get(e.URL + "/metrics")
	if err != nil {
		b.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("metrics: %s", resp.Status)
	}
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "tarn_vend_upstream_calls_total") {
			continue
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			b.Fatalf("metrics: %q: %v", line, err)
		}
		sum += v
	}
	if err := sc.Err(); err != nil {
		b.Fatalf("metrics: %v", err)
	}
	return sum
}
