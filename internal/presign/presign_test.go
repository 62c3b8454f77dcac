package presign_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/client"
	"github.com/tarnhq/tarn/internal/azuritetest"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/miniotest"
	"github.com/tarnhq/tarn/internal/presign"
	"github.com/tarnhq/tarn/internal/testenv"
)

func TestMain(m *testing.M) {
	os.Exit(miniotest.Run(func() int { return azuritetest.Run(m.Run) }))
}

// get sends a plain GET, as a browser or curl would, and returns the status and body.
func get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET: read body: %v", err)
	}
	return resp.StatusCode, string(body)
}

// wantProblem fails t unless err is a problem of status naming detail.
func wantProblem(t *testing.T, what string, err error, status int, detail string) {
	t.Helper()
	var p *api.Problem
	if !errors.As(err, &p) || p.Status != status || !strings.Contains(p.Detail, detail) {
		t.Errorf("%s: %v; want %d naming %q", what, err, status, detail)
	}
}

// s3Env is a tarn with datasets al://acme/coco and al://acme/coco-private, at sibling
// prefixes of a MinIO bucket, an object in each and one outside both.
type s3Env struct {
	env    *testenv.Env
	minio  *miniotest.Server
	reader *client.Client // a reader of acme
}

func newS3Env(t *testing.T) *s3Env {
	t.Helper()
	minio := miniotest.Start(t)
	env := testenv.New(t, testenv.Options{AllowEndpoints: []string{minio.HostPort()}})
	ctx := t.Context()
	admin := env.Admin(t)
	if _, err := admin.CreateOrg(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	bucket := "s3://" + minio.Bucket
	if _, err := admin.PutCredsKey(ctx, "acme", "s3", minio.CredsKey(bucket)); err != nil {
		t.Fatal(err)
	}
	for _, ds := range []string{"coco", "coco-private"} {
		if _, err := admin.CreateDataset(ctx, "acme", api.CreateDatasetRequest{Name: ds, Location: bucket + "/datasets/" + ds, CredsKey: "s3"}); err != nil {
			t.Fatal(err)
		}
	}
	for key, body := range map[string]string{
		"datasets/coco/images/a b.txt":         "coco a",
		"datasets/coco-private/images/a b.txt": "PRIVATE-BYTES",
		"elsewhere/secret.txt":                 "SECRET-BYTES",
	} {
		if err := minio.Put(ctx, key, body); err != nil {
			t.Fatal(err)
		}
	}
	return &s3Env{env: env, minio: minio, reader: env.Client(t, env.NewUser(t, "rita", "acme", "reader"))}
}

// TestS3URLsStayInsideTheDataset presigns an object of al://acme/coco and attacks the URL
// from the store's side: edited to another dataset's object or an object outside every
// dataset, MinIO refuses it, and so it does a URL properly signed with the same vended
// session for those objects: the session policy, not only the signature, bounds it.
func TestS3URLsStayInsideTheDataset(t *testing.T) {
	e := newS3Env(t)
	ctx := t.Context()
	e.env.Clock.Advance(time.Since(e.env.Clock.Now())) // MinIO checks signing times on its own clock
	out, err := e.reader.PresignDataset(ctx, "acme", "coco", []string{"images/a b.txt"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	u := out.URLs["images/a b.txt"]
	if st, body := get(t, u); st != http.StatusOK || body != "coco a" {
		t.Fatalf("GET of the presigned URL: %d %q", st, body)
	}
	if want := e.env.Clock.Now().Add(presign.DefaultExpires); !out.ExpiresAt.Equal(want.UTC().Truncate(time.Second)) && !out.ExpiresAt.Equal(want.UTC()) {
		t.Errorf("expires_at %v, want %v (the default lifetime)", out.ExpiresAt, want)
	}
	// The URL is signed with the vended read session, not with the creds key's own key.
	creds, err := e.reader.DatasetCredentials(ctx, "acme", "coco", api.ModeRead)
	if err != nil {
		t.Fatal(err)
	}
	q, _ := url.Parse(u)
	if cred := q.Query().Get("X-Amz-Credential"); !strings.HasPrefix(cred, creds.S3.AccessKeyID+"/") {
		t.Errorf("URL signed by %q, want the vended access key %q", cred, creds.S3.AccessKeyID)
	}

	for _, key := range []string{"datasets/coco-private/images/a b.txt", "elsewhere/secret.txt"} {
		edited := strings.Replace(u, "/datasets/coco/images/a%20b.txt", "/"+strings.ReplaceAll(key, " ", "%20"), 1)
		if edited == u {
			t.Fatalf("the URL %q does not name the object's path", q.Path)
		}
		if st, body := get(t, edited); st != http.StatusForbidden || strings.Contains(body, "-BYTES") {
			t.Errorf("URL edited to %s: %d %q, want 403", key, st, body)
		}
	}
	// The same session signing for the other objects: the session policy refuses them.
	pc := s3.NewPresignClient(e.minio.S3(creds.S3.AccessKeyID, creds.S3.SecretAccessKey, creds.S3.SessionToken))
	for key, want := range map[string]int{
		"datasets/coco/images/a b.txt":         http.StatusOK, // the control: this signing works
		"datasets/coco-private/images/a b.txt": http.StatusForbidden,
		"elsewhere/secret.txt":                 http.StatusForbidden,
	} {
		req, err := pc.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(e.minio.Bucket), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		if st, body := get(t, req.URL); st != want || (want == http.StatusForbidden && !strings.Contains(body, "<Code>AccessDenied</Code>")) {
			t.Errorf("URL signed with the vended session for %s: %d %q, want %d", key, st, body, want)
		}
	}
}

// TestS3URLsExpire presigns with tarn's clock two hours back: MinIO refuses the URL as
// expired, with no waiting.
func TestS3URLsExpire(t *testing.T) {
	e := newS3Env(t)
	e.env.Clock.Advance(time.Since(e.env.Clock.Now()) - 2*time.Hour)
	out, err := e.reader.PresignDataset(t.Context(), "acme", "coco", []string{"images/a b.txt"}, 900*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if st, body := get(t, out.URLs["images/a b.txt"]); st != http.StatusForbidden || !strings.Contains(body, "expired") {
		t.Errorf("GET of a URL that expired 105 minutes ago: %d %q, want 403 expired", st, body)
	}
}

// TestPresignIsBoundedAndAudited checks the request's edges from an attacker's side: an
// outsider is refused a private dataset, keys leaving the dataset are refused, lifetimes
// are cut to the credential's, and the audit log holds no URL.
func TestPresignIsBoundedAndAudited(t *testing.T) {
	e := newS3Env(t)
	ctx := t.Context()
	admin := e.env.Admin(t)
	if _, err := admin.CreateOrg(ctx, "evil"); err != nil {
		t.Fatal(err)
	}
	mallory := e.env.Client(t, e.env.NewUser(t, "mallory", "evil", "admin"))
	_, err := mallory.PresignDataset(ctx, "acme", "coco", []string{"images/a b.txt"}, 0)
	wantProblem(t, "an outsider presigning a private dataset", err, http.StatusForbidden, "")

	for _, tc := range []struct {
		name   string
		paths  []string
		detail string
	}{
		{"parent segment", []string{"../coco-private/images/a b.txt"}, `".." segment`},
		{"parent segment inside", []string{"images/../../coco-private/x"}, `".." segment`},
		{"absolute", []string{"/datasets/coco-private/x"}, "absolute"},
		{"backslash", []string{`images\..\..\x`}, "backslash"},
		{"empty", []string{""}, "empty key"},
		{"none", nil, "paths is empty"},
		{"too many", make([]string, api.MaxPresignPaths+1), "at most 1000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.reader.PresignDataset(ctx, "acme", "coco", tc.paths, 0)
			var p *api.Problem
			if !errors.As(err, &p) || p.Status != http.StatusBadRequest || p.Field != "paths" || !strings.Contains(p.Detail, tc.detail) {
				t.Errorf("paths %q: %v; want 400 in field paths naming %q", tc.paths, err, tc.detail)
			}
		})
	}

	creds, err := e.reader.DatasetCredentials(ctx, "acme", "coco", api.ModeRead)
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.reader.PresignDataset(ctx, "acme", "coco", []string{"images/a b.txt", "x"}, 30*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if out.ExpiresAt.After(creds.ExpiresAt) || len(out.URLs) != 2 {
		t.Errorf("asked for 30 days: expires_at %v after the credential's %v, or URLs %d", out.ExpiresAt, creds.ExpiresAt, len(out.URLs))
	}
	_, err = e.reader.PresignDataset(ctx, "acme", "coco", []string{"x"}, -time.Hour)
	wantProblem(t, "a negative lifetime", err, http.StatusBadRequest, "expires_in is negative")

	list, err := admin.Audit(ctx, "acme", client.AuditQuery{Action: "presign"})
	if err != nil {
		t.Fatal(err)
	}
	var ok int
	for _, r := range list.Records {
		all := r.Detail + r.Target + r.KeyID
		if strings.Contains(all, "X-Amz") || strings.Contains(all, "http") || strings.Contains(all, creds.S3.AccessKeyID) {
			t.Errorf("audit record carries a URL or a key: %+v", r)
		}
		if r.Result == "ok" && strings.HasPrefix(r.Detail, "2 paths") && r.Target != "" && r.Mode == api.ModeRead {
			ok++
		}
	}
	if ok != 1 {
		t.Errorf("want one ok presign record of 2 paths with target and mode read; got %+v", list.Records)
	}
}

// TestAzureURLReadsTheBlob presigns a blob of a dataset below an Azurite container and
// reads it with a plain GET; the URL carries the vended SAS and expires with it.
func TestAzureURLReadsTheBlob(t *testing.T) {
	az := azuritetest.Start(t)
	env := testenv.New(t, testenv.Options{AllowEndpoints: []string{az.HostPort()}})
	env.Clock.Advance(time.Since(env.Clock.Now())) // Azurite checks SAS times on its own clock
	ctx := t.Context()
	admin := env.Admin(t)
	if _, err := admin.CreateOrg(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	root := "az://" + az.Account + "/" + az.Container
	if _, err := admin.PutCredsKey(ctx, "acme", "az", api.PutCredsKeyRequest{Provider: api.ProviderAzure, Secret: az.AccountKey,
		Config: api.CredsKeyConfig{Roots: []string{root}, Account: az.Account, Endpoint: az.Endpoint, Auth: api.AuthSharedKey, Scope: api.ScopeContainer}}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateDataset(ctx, "acme", api.CreateDatasetRequest{Name: "pets", Location: root + "/pets", CredsKey: "az"}); err != nil {
		t.Fatal(err)
	}
	if _, err := az.SharedKeyClient(t).UploadBuffer(ctx, az.Container, "pets/cats/tom 1.txt", []byte("meow"), nil); err != nil {
		t.Fatal(err)
	}
	out, err := admin.PresignDataset(ctx, "acme", "pets", []string{"cats/tom 1.txt"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if st, body := get(t, out.URLs["cats/tom 1.txt"]); st != http.StatusOK || body != "meow" {
		t.Errorf("GET of the presigned blob URL: %d %q", st, body)
	}
	creds, err := admin.DatasetCredentials(ctx, "acme", "pets", api.ModeRead)
	if err != nil {
		t.Fatal(err)
	}
	if !out.ExpiresAt.Equal(creds.ExpiresAt) {
		t.Errorf("expires_at %v, want the SAS's expiry %v", out.ExpiresAt, creds.ExpiresAt)
	}
}

// TestURLsRefusesWhatItCannotSign covers the providers whose URLs need a signer, without
// one, and a credential that expired.
func TestURLsRefusesWhatItCannotSign(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		c      api.Credentials
		kind   errs.Kind
		detail string
	}{
		{"gcs", api.Credentials{Provider: "gcs", Location: "gs://bkt/p", ExpiresAt: now.Add(time.Hour), GCS: &api.GCSCredentials{Bucket: "b"}},
			errs.Invalid, "presigned URLs for gcs keys need a signer"},
		{"file", api.Credentials{Provider: "file", Location: "file:///srv/d", ExpiresAt: now.Add(time.Hour), File: &api.FileCredentials{Path: "/srv/d"}},
			errs.Invalid, "presigned URLs for file keys need a signer"},
		{"expired gcs", api.Credentials{Provider: "gcs", Location: "gs://bkt/p", ExpiresAt: now, GCS: &api.GCSCredentials{Bucket: "b"}},
			errs.Unavailable, "has expired"},
		{"expired", api.Credentials{Provider: "aws", Location: "s3://bkt/p", ExpiresAt: now, S3: &api.S3Credentials{AccessKeyID: "AK", SecretAccessKey: "SK"}},
			errs.Unavailable, "has expired"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := presign.URLs(context.Background(), &tc.c, []string{"a"}, presign.Options{Now: now})
			if !errs.Is(tc.kind, err) || !strings.Contains(errs.DetailOf(err), tc.detail) {
				t.Errorf("%v; want %v naming %q", err, tc.kind, tc.detail)
			}
		})
	}
}

// TestS3LifetimeIsCut checks the X-Amz-Expires that URLs carry: the default, what was
// asked, or the credential's remaining lifetime, whichever is least.
func TestS3LifetimeIsCut(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c := &api.Credentials{Provider: "aws", Location: "s3://bkt/p", ExpiresAt: now.Add(time.Hour),
		S3: &api.S3Credentials{AccessKeyID: "AK", SecretAccessKey: "SK", SessionToken: "ST", Endpoint: "http://127.0.0.1:9", PathStyle: true}}
	for _, tc := range []struct {
		asked time.Duration
		want  string
	}{
		{0, "900"}, {time.Minute, "60"}, {2 * time.Hour, "3600"},
	} {
		urls, exp, err := presign.URLs(context.Background(), c, []string{"k/a b"}, presign.Options{Now: now, Expires: tc.asked})
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(urls["k/a b"])
		q := u.Query()
		if q.Get("X-Amz-Expires") != tc.want || q.Get("X-Amz-Date") != "20260102T030405Z" || u.Path != "/bkt/p/k/a b" {
			t.Errorf("asked %v: URL %s; want X-Amz-Expires %s signed at now for /b/p/k/a b", tc.asked, u, tc.want)
		}
		if exp.After(c.ExpiresAt) {
			t.Errorf("asked %v: expires at %v, after the credential", tc.asked, exp)
		}
	}
}

// TestCheckPath lists keys that stay inside a location and keys that could leave it.
func TestCheckPath(t *testing.T) {
	for _, p := range []string{"a", "images/a b.jpg", "x/.y/..z", "ü/✓", "a...b"} {
		if err := presign.CheckPath(p); err != nil {
			t.Errorf("CheckPath(%q): %v", p, err)
		}
	}
	for _, p := range []string{"", "/a", "..", "a/..", "../a", ".", "a/./b", "a//b", "a/", `a\b`, "a\x00b", "a\nb"} {
		if err := presign.CheckPath(p); err == nil {
			t.Errorf("CheckPath(%q) accepted it", p)
		}
	}
}

// FuzzCheckPath checks that an accepted key, joined below a prefix, names an object
// strictly below that prefix.
func FuzzCheckPath(f *testing.F) {
	for _, s := range []string{"a", "a/b", "..", "a/../b", "/a", `a\b`, "a//b", "a/.", "%2e%2e/a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if presign.CheckPath(p) != nil {
			return
		}
		for _, seg := range strings.Split(p, "/") {
			if seg == "" || seg == "." || seg == ".." || strings.ContainsAny(seg, "\\\x00") {
				t.Fatalf("CheckPath accepted %q", p)
			}
		}
	})
}
