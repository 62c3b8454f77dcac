package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/miniotest"
	"github.com/tarnhq/tarn/internal/testenv"
)

// minioDataset starts a tarn whose org acme has the dataset coco at s3://BUCKET/coco of
// minio, on creds key s3, with the object key (below the bucket) holding body. It returns
// the tarn and the CLI of a reader of acme.
func minioDataset(t *testing.T, minio *miniotest.Server, key, body string) (*testenv.Env, *testEnv) {
	t.Helper()
	env := testenv.New(t, testenv.Options{AllowEndpoints: []string{minio.HostPort()}})
	env.Clock.Advance(time.Since(env.Clock.Now())) // MinIO checks signing times on its own clock
	ctx := t.Context()
	admin := env.Admin(t)
	if _, err := admin.CreateOrg(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	bucket := "s3://" + minio.Bucket
	if _, err := admin.PutCredsKey(ctx, "acme", "s3", minio.CredsKey(bucket)); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateDataset(ctx, "acme", api.CreateDatasetRequest{Name: "coco", Location: bucket + "/coco", CredsKey: "s3"}); err != nil {
		t.Fatal(err)
	}
	if err := minio.Put(ctx, key, body); err != nil {
		t.Fatal(err)
	}
	return env, newTestEnv(t, map[string]string{envEndpoint: env.URL, envToken: env.NewUser(t, "rita", "acme", "reader")})
}

// TestPresignPrintsAURLThatReadsTheObject runs tarn presign against a whole tarn on a real
// MinIO: the printed URL reads the object with a plain GET, --expires reaches the URL,
// --output json answers the API's shape, and paths that name no object are usage errors.
func TestPresignPrintsAURLThatReadsTheObject(t *testing.T) {
	minio := miniotest.Start(t)
	env, reader := minioDataset(t, minio, "coco/images/0001.jpg", "jpeg bytes")

	res := mustRun(t, reader, "presign", "al://acme/coco/images/0001.jpg", "--expires", "5m")
	u := strings.TrimSuffix(res.stdout, "\n")
	if strings.Count(res.stdout, "\n") != 1 || !strings.Contains(u, "X-Amz-Expires=300&") {
		t.Fatalf("stdout %q: want one URL line valid for 300 s", res.stdout)
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "jpeg bytes" {
		t.Errorf("GET of the printed URL: %d %q", resp.StatusCode, body)
	}

	res = mustRun(t, reader, "presign", "al://acme/coco/images/0001.jpg", "--output", "json")
	var out api.PresignResponse
	if err := json.Unmarshal([]byte(res.stdout), &out); err != nil || out.URLs["images/0001.jpg"] == "" || out.ExpiresAt.IsZero() {
		t.Errorf("--output json: %q, %v", res.stdout, err)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"presign", "al://acme/coco"}, "names no object of a dataset"},
		{[]string{"presign", "s3://" + minio.Bucket + "/coco/images/0001.jpg"}, "give al://ORG/NAME/KEY"},
		{[]string{"presign", "al://acme/coco/images/0001.jpg", "--expires", "-1m"}, "is negative"},
	} {
		if res := reader.run(tc.args...); res.code != 2 || !strings.Contains(res.stderr, tc.want) {
			t.Errorf("tarn %s: exit %d, stderr %q; want a usage error naming %q", strings.Join(tc.args, " "), res.code, res.stderr, tc.want)
		}
	}
	outsider := newTestEnv(t, map[string]string{envEndpoint: env.URL, envToken: env.NewUser(t, "mallory", "", "")})
	if res := outsider.run("presign", "al://acme/coco/images/0001.jpg"); res.code != 1 || strings.Contains(res.stderr, "X-Amz") {
		t.Errorf("an outsider's presign: exit %d, stderr %q", res.code, res.stderr)
	}
}
