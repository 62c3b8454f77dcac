package gcsdownscope_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/client"
	"github.com/tarnhq/tarn/internal/googletest"
	"github.com/tarnhq/tarn/internal/provider/gcsdownscope"
	"github.com/tarnhq/tarn/internal/testenv"
)

// options returns the STS options a boundary recorded by the stand-in was sent as.
func options(t *testing.T, b *googletest.Boundary) string {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(map[string]any{"accessBoundary": b}); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func readGolden(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestThroughTheServer runs provider gcs in a whole tarn against the Google stand-ins: the
// boundary STS receives for a dataset is the golden one; read and write get their roles;
// dataset coco's token is bounded to coco, not to its sibling coco-private; a path with ..
// is refused; the cache answers a second vend; the SA key is write-only; a missing Token
// Creator is named; and no token or key reaches the audit log.
func TestThroughTheServer(t *testing.T) {
	g := googletest.New(t, googletest.Options{})
	g.Grant(serverSA, targetSA)
	env := testenv.New(t, testenv.Options{AllowEndpoints: []string{g.HostPort()}, GCSCredentials: adcOf(t, g.ServiceAccountKey(t, serverSA))})
	ctx := context.Background()
	admin := env.Admin(t)
	if _, err := admin.CreateOrg(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	cfg := api.CredsKeyConfig{Roots: []string{"gs://acme-data"}, ServiceAccount: targetSA, IAMEndpoint: g.URL, STSEndpoint: g.URL}
	if _, err := admin.PutCredsKey(ctx, "acme", "gcs", api.PutCredsKeyRequest{Provider: api.ProviderGCS, Config: cfg}); err != nil {
		t.Fatal(err)
	}
	for _, ds := range []string{"coco", "coco-private"} {
		if _, err := admin.CreateDataset(ctx, "acme", api.CreateDatasetRequest{Name: ds, Location: "gs://acme-data/" + ds, CredsKey: "gcs"}); err != nil {
			t.Fatal(err)
		}
	}

	read, err := admin.DatasetCredentials(ctx, "acme", "coco", api.ModeRead)
	if err != nil {
		t.Fatal(err)
	}
	if read.Provider != api.ProviderGCS || read.GCS == nil || read.GCS.Bucket != "acme-data" || read.GCS.Prefix != "coco" {
		t.Fatalf("vend = %+v", read)
	}
	tok, ok := g.Lookup(read.GCS.AccessToken)
	if !ok || tok.Principal != targetSA {
		t.Fatalf("vended token %+v, %v: want a downscoped token of %s", tok, ok, targetSA)
	}
	if got, want := options(t, tok.Boundary), readGolden(t, "prefix_read.golden"); got != want {
		t.Errorf("STS got\n%s want (testdata/prefix_read.golden)\n%s", got, want)
	}
	checkCondition(t, tok.Boundary.Rules[0].Condition.Expression, "acme-data", "coco")

	write, err := admin.DatasetCredentials(ctx, "acme", "coco", api.ModeWrite)
	if err != nil {
		t.Fatal(err)
	}
	if w, _ := g.Lookup(write.GCS.AccessToken); w.Boundary == nil || w.Boundary.Rules[0].AvailablePermissions[0] != gcsdownscope.RoleWrite {
		t.Errorf("write token bounded to %+v, want %s", w.Boundary, gcsdownscope.RoleWrite)
	}
	private, err := admin.DatasetCredentials(ctx, "acme", "coco-private", api.ModeRead)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := g.Lookup(private.GCS.AccessToken)
	checkCondition(t, p.Boundary.Rules[0].Condition.Expression, "acme-data", "coco-private")
	if strings.HasPrefix("projects/_/buckets/acme-data/objects/coco-private/x", "projects/_/buckets/acme-data/objects/coco/") {
		t.Fatal("unreachable: coco's prefix admits coco-private")
	}

	again, err := admin.DatasetCredentials(ctx, "acme", "coco", api.ModeRead)
	if err != nil || again.GCS.AccessToken != read.GCS.AccessToken {
		t.Errorf("a second vend within half the lifetime was not answered from the cache (%v)", err)
	}
	if n := g.Calls(googletest.Impersonate); n != 1 {
		t.Errorf("three vends of one key impersonated %d times, want 1", n)
	}

	var prob *api.Problem
	if _, err := admin.LocationCredentials(ctx, "acme", "gcs", "gs://acme-data/coco/../coco-private", api.ModeRead); !errors.As(err, &prob) || prob.Status != http.StatusBadRequest {
		t.Fatalf("a location with ..: %v, want 400", err)
	}

	// Auth service-account-key: the key is write-only, and a user credential is refused
	// with one line that does not quote it.
	sa := g.ServiceAccountKey(t, orgSA)
	g.Grant(orgSA, targetSA)
	keyCfg := cfg
	keyCfg.Auth = api.AuthServiceAccountKey
	k, err := admin.PutCredsKey(ctx, "acme", "gcs-key", api.PutCredsKeyRequest{Provider: api.ProviderGCS, Config: keyCfg, Secret: string(sa)})
	if err != nil {
		t.Fatal(err)
	}
	if raw, _ := json.Marshal(k); strings.Contains(string(raw), "PRIVATE KEY") {
		t.Fatalf("creds key answer carries the key: %s", raw)
	}
	kc, err := admin.LocationCredentials(ctx, "acme", "gcs-key", "gs://acme-data/scratch", api.ModeWrite)
	if err != nil {
		t.Fatal(err)
	}
	_, err = admin.PutCredsKey(ctx, "acme", "gcs-user", api.PutCredsKeyRequest{Provider: api.ProviderGCS, Config: keyCfg,
		Secret: `{"type":"authorized_user","client_secret":"hunter2","refresh_token":"r"}`})
	if !errors.As(err, &prob) || prob.Status != http.StatusBadRequest || strings.Contains(prob.Detail, "hunter2") || strings.Contains(prob.Detail, "\n") {
		t.Fatalf("a user credential as the key: %v, want one line of 400 without the secret", err)
	}

	// A service account the server may not impersonate: the cause and the role are named,
	// by the vend and by verify.
	other := cfg
	other.ServiceAccount = "other@acme-ml.iam.gserviceaccount.com"
	if _, err := admin.PutCredsKey(ctx, "acme", "gcs-other", api.PutCredsKeyRequest{Provider: api.ProviderGCS, Config: other}); err != nil {
		t.Fatal(err)
	}
	_, err = admin.LocationCredentials(ctx, "acme", "gcs-other", "gs://acme-data/scratch", api.ModeRead)
	if !errors.As(err, &prob) || prob.Status != http.StatusForbidden || !strings.Contains(prob.Detail, gcsdownscope.RoleTokenCreator) {
		t.Fatalf("vend without Token Creator: %v, want 403 naming %s", err, gcsdownscope.RoleTokenCreator)
	}
	res, err := admin.VerifyCredsKey(ctx, "acme", "gcs-other", "gs://acme-data/scratch")
	if err != nil {
		t.Fatal(err)
	}
	last := res.Checks[len(res.Checks)-1]
	if last.OK || !strings.Contains(last.Name, "impersonate") || !strings.Contains(last.Detail, gcsdownscope.RoleTokenCreator) {
		t.Fatalf("verify without Token Creator: %+v, want the impersonation check failed naming the role", res.Checks)
	}

	list, err := admin.Audit(ctx, "acme", client.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(list)
	if !strings.Contains(string(raw), `"vend"`) {
		t.Fatalf("no vend audited: %s", raw)
	}
	for _, secret := range []string{read.GCS.AccessToken, write.GCS.AccessToken, kc.GCS.AccessToken, tok.Subject, "PRIVATE KEY", "ya29.", "hunter2"} {
		if strings.Contains(string(raw), secret) {
			t.Fatalf("audit records carry a token or key (%.12s…)", secret)
		}
	}
}
