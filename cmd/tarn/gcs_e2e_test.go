package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2/google"
	"google.golang.org/api/googleapi"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/fakegcstest"
	"github.com/tarnhq/tarn/internal/googletest"
	"github.com/tarnhq/tarn/internal/provider/gcsdownscope"
	"github.com/tarnhq/tarn/internal/testenv"
)

// gcsServerSA is the identity of the tarn server's Application Default Credentials in the
// GCS tests, and gcsKeySA that of the org's JSON key.
const (
	gcsServerSA = "tarn-server@tarn-prod.iam.gserviceaccount.com"
	gcsKeySA    = "tarn-key@acme-ml.iam.gserviceaccount.com"
)

// gcsLive is a whole tarn in-process on the Google stand-ins and a real fake-gcs-server.
type gcsLive struct {
	g      *googletest.Server
	s      *fakegcstest.Server
	env    *testenv.Env
	admin  *testEnv
	bucket string // gs://BUCKET of s
	// storage is the storage endpoint of the creds keys: a proxy in front of s that records
	// the Authorization header of every request (fake-gcs-server checks none).
	storage string

	mu    sync.Mutex
	auths []string
}

// startGCS starts a tarn whose ADC is a googletest key of gcsServerSA, granted Token Creator
// on testSA, that may reach the stand-ins and the proxy of fake-gcs-server
// (--allow-endpoint), with org acme and its creds key acme/gcs (auth default) on
// gs://BUCKET/datasets.
func startGCS(t *testing.T) *gcsLive {
	t.Helper()
	l := &gcsLive{g: googletest.New(t, googletest.Options{}), s: fakegcstest.Start(t)}
	l.bucket = "gs://" + l.s.Bucket
	target, err := url.Parse(l.s.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(target) }}
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.auths = append(l.auths, r.Header.Get("Authorization"))
		l.mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	l.storage = front.URL
	l.g.Grant(gcsServerSA, testSA)
	adc, err := google.CredentialsFromJSON(context.Background(), l.g.ServiceAccountKey(t, gcsServerSA), gcsdownscope.ScopeCloudPlatform)
	if err != nil {
		t.Fatal(err)
	}
	allow := []string{l.g.HostPort(), strings.TrimPrefix(front.URL, "http://")}
	l.env = testenv.New(t, testenv.Options{AllowEndpoints: allow, GCSCredentials: adc})
	l.env.Clock.Advance(time.Since(l.env.Clock.Now())) // the stand-ins issue and expire tokens on their own clock
	l.admin = newTestEnv(t, map[string]string{envEndpoint: l.env.URL, envToken: l.env.AdminToken})
	mustRun(t, l.admin, "org", "create", "acme")
	if res := mustRun(t, l.admin, l.addArgs("gcs")...); res.stdout != "Saved creds key acme/gcs (provider gcs, version 1).\n" {
		t.Errorf("creds add: %q", res.stdout)
	}
	return l
}

// addArgs are the arguments of `tarn creds add acme/NAME` for a key of the test's endpoints.
func (l *gcsLive) addArgs(name string, extra ...string) []string {
	return append([]string{"creds", "add", "acme/" + name, "--provider", "gcs", "--service-account", testSA,
		"--allowed", l.bucket + "/datasets", "--iam-endpoint", l.g.URL, "--sts-endpoint", l.g.URL, "--storage-endpoint", l.storage}, extra...)
}

// bearers returns the bearer tokens of the requests that reached fake-gcs-server since the
// last call, and fails t if one came without a token.
func (l *gcsLive) bearers(t *testing.T) []string {
	t.Helper()
	l.mu.Lock()
	auths := l.auths
	l.auths = nil
	l.mu.Unlock()
	var toks []string
	for _, a := range auths {
		tok, ok := strings.CutPrefix(a, "Bearer ")
		if !ok {
			t.Errorf("a request reached GCS without a bearer token (Authorization %.12q)", a)
		}
		toks = append(toks, tok)
	}
	return toks
}

// bounded checks, from what the stand-in knows of a vended token, that it is a downscoped
// token of testSA whose one rule grants role on the objects below PREFIX/ of the test's
// bucket.
func (l *gcsLive) bounded(t *testing.T, token, role, prefix string) {
	t.Helper()
	tok, ok := l.g.Lookup(token)
	if !ok || tok.Kind != googletest.Downscope || tok.Principal != testSA || tok.Boundary == nil || len(tok.Boundary.Rules) != 1 {
		t.Fatalf("vended token %+v (known %v): want a token of %s downscoped by one rule", tok, ok, testSA)
	}
	r := tok.Boundary.Rules[0]
	if !slices.Equal(r.AvailablePermissions, []string{role}) || r.AvailableResource != "//storage.googleapis.com/projects/_/buckets/"+l.s.Bucket ||
		r.Condition == nil || !strings.Contains(r.Condition.Expression, "'projects/_/buckets/"+l.s.Bucket+"/objects/"+prefix+"/'") {
		t.Errorf("vended token bounded to %+v, want %s on objects below %s/", r, role, prefix)
	}
}

// TestGCSLive runs what a user runs on GCS: a whole tarn whose ADC impersonate the org's
// service account through the Google stand-ins, on a real fake-gcs-server; creds add in both
// auth modes, verify (the boundary checks skipped, never passed), a dataset at the default
// storage, ds import/head/get, ls/cp/cat through al:// and gs:// with either key, vends
// whose boundaries are what the stand-in's STS was sent, a reader who gets no write token,
// and ds rm --delete-data.
func TestGCSLive(t *testing.T) {
	l := startGCS(t)
	admin := l.admin
	datasets := l.bucket + "/datasets"

	res := mustRun(t, admin, "creds", "verify", "acme/gcs", "--location", datasets+"/verify")
	for name, want := range map[string]string{
		"list with a read token": " ok ", "probe round trip with a write token": " ok ",
		"read token refused for a write": " skipped ", "read token refused outside the location": " skipped ",
	} {
		i := strings.Index(res.stdout, name)
		if line, _, _ := strings.Cut(res.stdout[max(i, 0):], "\n"); i < 0 || !strings.Contains(line+" ", want) {
			t.Errorf("verify: the line of %q lacks %q:\n%s", name, strings.TrimSpace(want), res.stdout)
		}
	}
	if strings.Contains(res.stdout, "FAILED") {
		t.Errorf("verify:\n%s", res.stdout)
	}

	mustRun(t, admin, "storage", "set-default", "acme", datasets, "--creds-key", "gcs")
	writer := newTestEnv(t, map[string]string{envEndpoint: l.env.URL, envToken: l.env.NewUser(t, "wendy", "acme", "writer")})
	reader := newTestEnv(t, map[string]string{envEndpoint: l.env.URL, envToken: l.env.NewUser(t, "rita", "acme", "reader")})
	mustRun(t, writer, "ds", "create", "al://acme/pets")
	local := importPets(t, writer, reader) // objects up through al://, read and listed back through al:// and gs://
	if !slices.Contains(l.s.Objects(t), "datasets/pets/tarn.json") {
		t.Errorf("the dataset is not at the default storage: %q", l.s.Objects(t))
	}
	if res = mustRun(t, reader, "ls", "al://acme/pets/notes"); !strings.Contains(res.stdout, "a.txt") || !strings.Contains(res.stdout, "PRE b/") {
		t.Errorf("ls:\n%s", res.stdout)
	}
	res = mustRun(t, admin, "ls", datasets, "-r", "--org", "acme", "--creds-key", "gcs")
	if !strings.Contains(res.stdout, "pets/tarn.json") || !strings.Contains(res.stdout, "pets/notes/b/c.txt") {
		t.Errorf("ls -r of the key's root:\n%s", res.stdout)
	}
	down := t.TempDir()
	mustRun(t, reader, "cp", "al://acme/pets/notes", down, "-r")
	equalFiles(t, "cp down", files(t, down), map[string]string{"notes/a.txt": "alpha", "notes/b/c.txt": "gamma"})
	if res = reader.run("cat", "al://acme/pets/notes/nope.txt"); res.code != 1 || res.stderr != "tarn: cat al://acme/pets/notes/nope.txt: no such object\n" {
		t.Errorf("cat of a missing object: exit %d, stderr %q", res.code, res.stderr)
	}

	// The org's JSON key impersonates as well: its own service account needs Token Creator.
	l.g.Grant(gcsKeySA, testSA)
	admin.stdin = strings.NewReader(string(l.g.ServiceAccountKey(t, gcsKeySA)))
	mustRun(t, admin, l.addArgs("gcs-key", "--auth", "service-account-key", "--secret-stdin")...)
	if res = mustRun(t, admin, "creds", "show", "acme/gcs-key"); !strings.Contains(res.stdout, "service-account-key (the weakest option") || strings.Contains(res.stdout, "PRIVATE KEY") {
		t.Errorf("creds show of the JSON key:\n%s", res.stdout)
	}
	if res = mustRun(t, admin, "creds", "verify", "acme/gcs-key", "--location", datasets+"/verify"); strings.Contains(res.stdout, "FAILED") {
		t.Errorf("verify of the JSON key:\n%s", res.stdout)
	}
	if res = mustRun(t, admin, "cat", datasets+"/pets/notes/a.txt", "--org", "acme", "--creds-key", "gcs-key"); res.stdout != "alpha" {
		t.Errorf("cat through the JSON key: %q", res.stdout)
	}
	mustRun(t, admin, "cp", filepath.Join(local, "notes", "a.txt"), datasets+"/scratch/up.txt", "--org", "acme", "--creds-key", "gcs-key")
	if res = mustRun(t, admin, "cat", "gcs://"+l.s.Bucket+"/datasets/scratch/up.txt", "--org", "acme", "--creds-key", "gcs"); res.stdout != "alpha" {
		t.Errorf("cat of what the JSON key wrote: %q", res.stdout)
	}
	token := strings.TrimSpace(mustRun(t, admin, "vend", datasets+"/scratch", "--org", "acme", "--creds-key", "gcs-key", "--mode", "write", "--format", "token").stdout)
	l.bounded(t, token, gcsdownscope.RoleWrite, "datasets/scratch")

	// Vends: bounded to the dataset and the mode, printed for other tools.
	token = strings.TrimSpace(mustRun(t, reader, "vend", "al://acme/pets", "--format", "token").stdout)
	l.bounded(t, token, gcsdownscope.RoleRead, "datasets/pets")
	token = strings.TrimSpace(mustRun(t, writer, "vend", "al://acme/pets", "--mode", "write", "--format", "token").stdout)
	l.bounded(t, token, gcsdownscope.RoleWrite, "datasets/pets")
	res = mustRun(t, reader, "vend", "al://acme/pets", "--format", "env")
	for _, want := range []string{"export CLOUDSDK_AUTH_ACCESS_TOKEN=ya29.", "export GOOGLE_OAUTH_ACCESS_TOKEN=ya29.",
		"export STORAGE_EMULATOR_HOST=" + l.storage + "\n", "export CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE=" + l.storage + "/storage/v1/\n"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("vend --format env lacks %q:\n%s", want, res.stdout)
		}
	}

	// A reader gets no write token: one line, holding none.
	res = reader.run("cp", filepath.Join(local, "notes", "a.txt"), "al://acme/pets/notes/evil.txt")
	if res.code != 1 || strings.Count(res.stderr, "\n") != 1 || !strings.Contains(res.stderr, "writer") || strings.Contains(res.stderr, "ya29.") {
		t.Errorf("reader cp up: exit %d, stderr %q", res.code, res.stderr)
	}
	if slices.Contains(l.s.Objects(t), "datasets/pets/notes/evil.txt") {
		t.Error("the reader's write landed")
	}

	// Every request that reached GCS carried a token downscoped by STS for the service account.
	toks := l.bearers(t)
	for _, tok := range toks {
		if got, ok := l.g.Lookup(tok); !ok || got.Kind != googletest.Downscope || got.Principal != testSA {
			t.Fatalf("a request reached GCS with a token that is no downscoped token of %s: %+v", testSA, got)
		}
	}
	if len(toks) < 10 {
		t.Errorf("only %d requests reached GCS", len(toks))
	}

	// ds rm --delete-data deletes with a write token, and only the dataset's objects.
	mustRun(t, admin, "ds", "rm", "al://acme/pets", "--delete-data")
	for _, o := range l.s.Objects(t) {
		if strings.HasPrefix(o, "datasets/pets/") {
			t.Errorf("ds rm --delete-data kept %s", o)
		}
	}
	if !slices.Contains(l.s.Objects(t), "datasets/scratch/up.txt") {
		t.Errorf("ds rm --delete-data deleted outside the dataset: %q", l.s.Objects(t))
	}
}

// TestGCSRefusalReadsAsARefusal checks that an object operation GCS answers with 403 says
// that GCS refused it, in one line without the token, rather than "no such object" (what
// gcsblob's NotFound for a 403 read as before). The tarn server is a stand-in that answers
// every vend with a read token of a fakegcstest.Vendor, labelled with the mode asked for, so
// that the Vendor's Front refuses each write as GCS refuses a token whose boundary or
// service account lacks the permission.
func TestGCSRefusalReadsAsARefusal(t *testing.T) {
	v := fakegcstest.NewVendor(t, fakegcstest.Start(t))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method+" "+r.URL.Path != vendRoute {
			http.Error(w, "no route", http.StatusNotFound)
			return
		}
		var req api.DatasetCredentialsRequest
		json.NewDecoder(r.Body).Decode(&req)
		c, err := v.DatasetCredentials(r.Context(), "acme", "coco", api.ModeRead)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		c.Mode = req.Mode
		json.NewEncoder(w).Encode(c)
	}))
	t.Cleanup(srv.Close)
	te := newTestEnv(t, map[string]string{envEndpoint: srv.URL, envToken: testToken})
	local := filepath.Join(t.TempDir(), "a.txt")
	if err := os.WriteFile(local, []byte("alpha"), 0o644); err != nil {
		t.Fatal(err)
	}
	res := te.run("cp", local, "al://acme/coco/a.txt")
	want := "tarn: cp file://" + local + " al://acme/coco/a.txt: write: GCS refused the request (403): "
	if res.code != 1 || !strings.HasPrefix(res.stderr, want) || strings.Count(res.stderr, "\n") != 1 ||
		strings.Contains(res.stderr, "no such object") || !strings.Contains(res.stderr, "storage.objects.create") {
		t.Errorf("cp up with a token GCS refuses: exit %d, stderr %q; want one line starting %q", res.code, res.stderr, want)
	}
	for _, tok := range v.Tokens() {
		if strings.Contains(res.stderr, tok) {
			t.Errorf("the error holds a token: %q", res.stderr)
		}
	}
	// A 404 is still an object that is not there.
	if res = te.run("cat", "al://acme/coco/a.txt"); res.code != 1 || res.stderr != "tarn: cat al://acme/coco/a.txt: no such object\n" {
		t.Errorf("cat of a missing object: exit %d, stderr %q", res.code, res.stderr)
	}
}

// TestObjErrTellsARefusalOnARead covers the read side of the same (the Front refuses only
// writes): GCS's 403 on a read, what a token whose boundary excludes the object earns, is a
// refusal in one line, not a missing object (a 404 on a real read: TestGCSLive).
func TestObjErrTellsARefusalOnARead(t *testing.T) {
	err := fmt.Errorf("blob (code=NotFound): %w", &googleapi.Error{Code: http.StatusForbidden, Message: "x does not have storage.objects.get access to\nthe Google Cloud Storage object."})
	want := "GCS refused the request (403): x does not have storage.objects.get access to the Google Cloud Storage object; the token's"
	if got := objErr(err).Error(); !strings.HasPrefix(got, want) || strings.Contains(got, "\n") {
		t.Errorf("objErr of a 403: %q, want one line starting %q", got, want)
	}
}
