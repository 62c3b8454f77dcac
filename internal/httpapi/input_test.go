package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tarnhq/tarn/api"
)

// rawBody is sent as is, not JSON-encoded.
type rawBody string

func TestBadInputIsRefusedAndChangesNothing(t *testing.T) {
	f := newFixture(t)
	before := snapshot(t, f)
	big := `{"name":"` + strings.Repeat("a", 1<<20) + `"}`
	for _, tc := range []struct {
		name, method, path string
		body               any
		status             int
		code, detail       string
	}{
		{"org name with capitals", "POST", "/orgs", api.CreateOrgRequest{Name: "Acme"}, 400, api.CodeInvalidName, "must match"},
		{"org name with a slash", "POST", "/orgs", api.CreateOrgRequest{Name: "a/b"}, 400, api.CodeInvalidName, "must match"},
		{"empty org name", "POST", "/orgs", api.CreateOrgRequest{}, 400, api.CodeInvalidName, "empty"},
		{"user name with a dot-dot", "POST", "/users", api.CreateUserRequest{Name: ".."}, 400, api.CodeInvalidName, "must match"},
		{"dataset name too long", "POST", "/orgs/acme/datasets", api.CreateDatasetRequest{Name: strings.Repeat("d", 64)}, 400, api.CodeInvalidName, "longer than 63"},
		{"dot-dot in a location", "POST", "/orgs/acme/datasets", api.CreateDatasetRequest{Name: "x", Location: f.root + "/../../etc", CredsKey: "k"}, 400, api.CodeInvalidLocation, `".." path segments`},
		{"empty segment in a location", "POST", "/orgs/acme/datasets", api.CreateDatasetRequest{Name: "x", Location: f.root + "//x", CredsKey: "k"}, 400, api.CodeInvalidLocation, "empty path segment"},
		{"http location", "POST", "/orgs/acme/datasets", api.CreateDatasetRequest{Name: "x", Location: "http://169.254.169.254/latest/meta-data", CredsKey: "k"}, 400, api.CodeInvalidLocation, "unsupported scheme"},
		{"ftp location", "PUT", "/orgs/acme/default-storage", api.DefaultStorage{Location: "ftp://host/x", CredsKey: "k"}, 400, api.CodeInvalidLocation, "unsupported scheme"},
		{"al path as storage", "PUT", "/orgs/acme/default-storage", api.DefaultStorage{Location: "al://acme/x", CredsKey: "k"}, 400, api.CodeInvalidLocation, "storage location"},
		{"location outside the key", "POST", "/orgs/acme/datasets", api.CreateDatasetRequest{Name: "x", Location: "file:///etc", CredsKey: "k"}, 403, api.CodeInvalidLocation, "outside the locations"},
		{"file root outside the allow-list", "PUT", "/orgs/acme/creds-keys/etc", api.PutCredsKeyRequest{Provider: "file", Config: api.CredsKeyConfig{Roots: []string{"file:///etc"}}}, 400, api.CodeInvalidLocation, "--file-root"},
		{"file root at the data dir (master.key, tarn.db)", "PUT", "/orgs/acme/creds-keys/dd", api.PutCredsKeyRequest{Provider: "file", Config: api.CredsKeyConfig{Roots: []string{"file://" + f.env.DataDir}}}, 400, api.CodeInvalidLocation, "--file-root"},
		{"unknown provider", "PUT", "/orgs/acme/creds-keys/x", api.PutCredsKeyRequest{Provider: "ftp", Config: api.CredsKeyConfig{Roots: []string{f.root}}}, 400, api.CodeInvalid, `unknown provider "ftp"`},
		{"unknown JSON field", "POST", "/orgs", rawBody(`{"name":"x","owner":"me"}`), 400, api.CodeInvalid, `unknown field "owner"`},
		{"wrong JSON type", "POST", "/orgs", rawBody(`{"name":7}`), 400, api.CodeInvalid, `field "name" must be string`},
		{"broken JSON", "POST", "/orgs", rawBody(`{"name":`), 400, api.CodeInvalid, "JSON"},
		{"two JSON values", "POST", "/orgs", rawBody(`{"name":"x"}{"name":"y"}`), 400, api.CodeInvalid, "more than one"},
		{"null body", "PUT", "/orgs/acme/members/outsider", rawBody(`null`), 400, api.CodeInvalid, "null"},
		{"field names in another case", "POST", "/users", rawBody(`{"NAME":"mallory","Superuser":true}`), 400, api.CodeInvalid, `unknown field "NAME"`},
		{"duplicate field", "POST", "/users", rawBody(`{"name":"mallory","superuser":false,"superuser":true}`), 400, api.CodeInvalid, `field "superuser" appears more than once`},
		{"duplicate field in a nested object", "PUT", "/orgs/acme/creds-keys/dup", rawBody(`{"provider":"file","config":{"roots":["` + f.root + `/a"],"roots":["file:///etc"]}}`), 400, api.CodeInvalid, `field "config/roots" appears more than once`},
		{"wrong JSON type in a nested object", "PUT", "/orgs/acme/creds-keys/dup", rawBody(`{"provider":"file","config":{"roots":"` + f.root + `"}}`), 400, api.CodeInvalid, `field "config/roots" must be a list`},
		{"body over 1 MiB", "POST", "/orgs", rawBody(big), 413, api.CodeTooLarge, "larger than"},
		{"duplicate org", "POST", "/orgs", api.CreateOrgRequest{Name: "acme"}, 409, api.CodeConflict, "acme"},
		{"duplicate dataset", "POST", "/orgs/acme/datasets", api.CreateDatasetRequest{Name: "priv", Location: f.root + "/other", CredsKey: "k"}, 409, api.CodeConflict, "priv"},
		{"dataset over the key's whole root", "POST", "/orgs/acme/datasets", api.CreateDatasetRequest{Name: "all", Location: f.root, CredsKey: "k"}, 409, api.CodeLocationOverlap, "al://acme/"},
		{"dataset inside another", "POST", "/orgs/acme/datasets", api.CreateDatasetRequest{Name: "inner", Location: f.root + "/priv/inner", CredsKey: "k"}, 409, api.CodeLocationOverlap, "al://acme/priv"},
		{"dataset at another's location", "POST", "/orgs/acme/datasets", api.CreateDatasetRequest{Name: "twin", Location: f.root + "/pub", CredsKey: "k"}, 409, api.CodeLocationOverlap, "al://acme/pub"},
		{"update without a change", "PATCH", "/orgs/acme/datasets/pub", rawBody(`{}`), 400, api.CodeInvalid, "nothing to change"},
		{"update of a missing dataset", "PATCH", "/orgs/acme/datasets/nope", rawBody(`{"public":true}`), 404, api.CodeNotFound, `"nope"`},
		{"missing org", "GET", "/orgs/nope/datasets", nil, 404, api.CodeNotFound, `"nope"`},
		{"missing creds key", "POST", "/orgs/acme/datasets", api.CreateDatasetRequest{Name: "x", Location: f.root + "/x", CredsKey: "nope"}, 404, api.CodeNotFound, `"nope"`},
		{"bad role", "PUT", "/orgs/acme/members/outsider", api.PutMemberRequest{Role: "owner"}, 400, api.CodeInvalid, "reader, writer or admin"},
		{"bad mode", "POST", "/orgs/acme/datasets/priv/credentials", api.DatasetCredentialsRequest{Mode: "admin"}, 400, api.CodeInvalid, "read or write"},
		{"role without org", "POST", "/tokens", api.CreateTokenRequest{Role: "reader"}, 400, api.CodeInvalid, "--org"},
		{"creds key in use", "DELETE", "/orgs/acme/creds-keys/k", nil, 409, api.CodeInUse, "priv"},
		{"unknown endpoint", "GET", "/nothing", nil, 404, api.CodeNotFound, "no such endpoint"},
		{"external ID chosen by the caller", "PUT", "/orgs/acme/creds-keys/s3", api.PutCredsKeyRequest{Provider: "aws",
			Config: api.CredsKeyConfig{Roots: []string{"s3://bucket/datasets"}, RoleARN: "arn:aws:iam::123456789012:role/tarn", ExternalID: "guessable"}}, 400, api.CodeInvalid, "generated by the server"},
		{"aws root outside s3", "PUT", "/orgs/acme/creds-keys/s3x", api.PutCredsKeyRequest{Provider: "aws",
			Config: api.CredsKeyConfig{Roots: []string{f.root}, RoleARN: "arn:aws:iam::123456789012:role/tarn"}}, 400, api.CodeInvalidLocation, "takes s3:// roots"},
		{"provision for a file key", "POST", "/orgs/acme/creds-keys/k/provision", api.ProvisionRequest{Bucket: "b"}, 400, api.CodeInvalid, "needs no cloud-side setup"},
		{"rotate a file key", "POST", "/orgs/acme/creds-keys/k/rotate-external-id", nil, 400, api.CodeInvalid, "has no external ID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, out := f.do(t, "superuser", tc.method, tc.path, tc.body)
			detail, _ := out["detail"].(string)
			if status != tc.status || out["code"] != tc.code || !strings.Contains(detail, tc.detail) {
				t.Fatalf("got %d %v %q; want %d %s containing %q", status, out["code"], detail, tc.status, tc.code, tc.detail)
			}
			if strings.Contains(detail, "\n") || strings.Contains(detail, "goroutine") || len(detail) > 400 {
				t.Errorf("detail is not one short line: %q", detail)
			}
		})
	}
	if after := snapshot(t, f); after != before {
		t.Errorf("bad input changed state:\nbefore %s\nafter  %s", before, after)
	}
	if _, err := os.Stat(filepath.Join(f.env.DataDir, "etc")); err == nil {
		t.Error("a refused location was created on disk")
	}
}

// snapshot summarises what bad input must not change.
func snapshot(t *testing.T, f *fixture) string {
	t.Helper()
	ctx := context.Background()
	admin := f.env.Admin(t)
	var b strings.Builder
	ds, err := admin.Datasets(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		b.WriteString(d.Name + "=" + d.Location + " ")
	}
	ks, err := admin.CredsKeys(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range ks {
		fmt.Fprintf(&b, "%s@%d ", k.Name, k.Version)
	}
	ms, err := admin.Members(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		b.WriteString(m.User + ":" + m.Role + " ")
	}
	o, err := admin.Org(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if o.DefaultStorage != nil {
		b.WriteString("default=" + o.DefaultStorage.Location)
	}
	return b.String()
}

func TestProblemJSON(t *testing.T) {
	f := newFixture(t)
	req, _ := http.NewRequest("GET", f.env.URL+api.Prefix+"/orgs/acme", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q", ct)
	}
	if resp.Header.Get("X-Request-Id") == "" {
		t.Error("no X-Request-Id")
	}
}
