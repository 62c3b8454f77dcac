package client_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/client"
	"github.com/tarnhq/tarn/internal/authn/oidc"
	"github.com/tarnhq/tarn/internal/authn/oidctest"
	"github.com/tarnhq/tarn/internal/testenv"
	"github.com/tarnhq/tarn/storage"
)

// A GitHub Actions job with no tarn secret: the SDK gets an ID token for tarn's audience
// from the Actions token endpoint, exchanges it, and reads a dataset with what it vends.
func TestGitHubActionsWorkloadReadsADataset(t *testing.T) {
	var env *testenv.Env
	gh := oidctest.NewWithOptions(t, oidctest.Options{Issuer: oidc.GitHubIssuer, Now: func() time.Time { return env.Clock.Now() }})
	env = testenv.New(t, testenv.Options{AllowEndpoints: []string{gh.HostPort()}, OIDCTransport: gh.Transport})
	ctx := context.Background()
	admin := env.Admin(t)
	if _, err := admin.CreateOrg(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(env.DataDir, "datasets", "acme")
	if err := os.MkdirAll(filepath.Join(root, "coco"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "coco", "labels.csv"), []byte("id,label\n1,cat\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.PutCredsKey(ctx, "acme", "disk", api.PutCredsKeyRequest{Provider: "file", Config: api.CredsKeyConfig{Roots: []string{"file://" + root}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateDataset(ctx, "acme", api.CreateDatasetRequest{Name: "coco", Location: "file://" + root + "/coco", CredsKey: "disk"}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.PutIdentity(ctx, "acme", api.Identity{Name: "ci", Provider: api.IdentityGitHub, Role: "reader", Repository: "acme/train"}); err != nil {
		t.Fatal(err)
	}

	// The Actions ID-token endpoint: it mints for the audience the client asks for.
	var asked string
	actions := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer job-request-token" {
			http.Error(w, "bad request token", http.StatusUnauthorized)
			return
		}
		asked = r.URL.Query().Get("audience")
		jwt := gh.Mint(map[string]any{"aud": asked, "sub": "repo:acme/train:ref:refs/heads/main", "repository": "acme/train", "ref": "refs/heads/main"})
		json.NewEncoder(w).Encode(map[string]string{"value": jwt})
	}))
	defer actions.Close()

	env_ := map[string]string{
		"TARN_ENDPOINT":                  env.URL,
		"TARN_AUTH_PROVIDER":             "github",
		"ACTIONS_ID_TOKEN_REQUEST_URL":   actions.URL + "/token?api-version=2.0",
		"ACTIONS_ID_TOKEN_REQUEST_TOKEN": "job-request-token",
	}
	c, err := client.FromEnv(func(k string) string { return env_[k] }, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	who, err := c.Whoami(ctx)
	if err != nil {
		t.Fatalf("whoami through the exchanged token: %v", err)
	}
	if asked != "api://tarn" || who.TokenOrg != "acme" || who.TokenRole != "reader" {
		t.Errorf("audience %q, whoami %+v", asked, who)
	}
	b, err := storage.OpenBucket(ctx, "al://acme/coco", storage.Options{Client: c})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got, err := b.ReadAll(ctx, "labels.csv"); err != nil || string(got) != "id,label\n1,cat\n" {
		t.Fatalf("read = %q, %v", got, err)
	}
	if _, err := storage.OpenBucket(ctx, "al://acme/coco", storage.Options{Client: c, Mode: api.ModeWrite}); err == nil {
		t.Error("a reader identity opened the dataset for writing")
	}

	// An admin of another org registers the same workload. The job, which names no scope,
	// still reads acme's dataset: its exchanges are scoped to the org of the path it uses.
	if _, err := admin.CreateOrg(ctx, "beta"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.PutIdentity(ctx, "beta", api.Identity{Name: "grab", Provider: api.IdentityGitHub, Role: "writer", Repository: "acme/train"}); err != nil {
		t.Fatal(err)
	}
	job, err := client.FromEnv(func(k string) string { return env_[k] }, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b2, err := storage.OpenBucket(ctx, "al://acme/coco", storage.Options{Client: job})
	if err != nil {
		t.Fatalf("open after another org registered the workload: %v", err)
	}
	defer b2.Close()
	if got, err := b2.ReadAll(ctx, "labels.csv"); err != nil || string(got) != "id,label\n1,cat\n" {
		t.Fatalf("read = %q, %v", got, err)
	}
}
