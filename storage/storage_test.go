package storage

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gocloud.dev/blob"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/location"
)

// call is one request a fakeVendor received.
type call struct {
	method, org, name, location, mode string
}

// fakeVendor is a Vendor that vends provider file credentials for directories under root
// (one per dataset name or creds key) and records every call. answer, when set, replaces the
// default answer.
type fakeVendor struct {
	root   string
	answer func(call) (*api.Credentials, error)

	mu    sync.Mutex
	calls []call
}

func (v *fakeVendor) DatasetCredentials(ctx context.Context, org, name, mode string) (*api.Credentials, error) {
	return v.serve(call{method: "DatasetCredentials", org: org, name: name, mode: mode})
}

func (v *fakeVendor) LocationCredentials(ctx context.Context, org, key, loc, mode string) (*api.Credentials, error) {
	return v.serve(call{method: "LocationCredentials", org: org, name: key, location: loc, mode: mode})
}

func (v *fakeVendor) LinkedCredentials(ctx context.Context, org, name, key, loc string) (*api.Credentials, error) {
	c := call{method: "LinkedCredentials", org: org, name: name, location: loc, mode: api.ModeRead}
	v.mu.Lock()
	v.calls = append(v.calls, c)
	v.mu.Unlock()
	l, err := location.Parse(loc)
	if err != nil {
		return nil, err
	}
	return &api.Credentials{Location: loc, Mode: api.ModeRead, Provider: "file", ExpiresAt: time.Now().Add(time.Hour),
		File: &api.FileCredentials{Path: l.FilePath()}}, nil
}

func (v *fakeVendor) serve(c call) (*api.Credentials, error) {
	v.mu.Lock()
	v.calls = append(v.calls, c)
	v.mu.Unlock()
	if v.answer != nil {
		return v.answer(c)
	}
	return &api.Credentials{
		Location:  "file://" + filepath.ToSlash(filepath.Join(v.root, c.org, c.name)),
		Mode:      c.mode,
		Provider:  "file",
		ExpiresAt: time.Now().Add(time.Hour),
		File:      &api.FileCredentials{Path: filepath.Join(v.root, c.org, c.name)},
	}, nil
}

func (v *fakeVendor) recorded() []call {
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.Clone(v.calls)
}

func newFakeVendor(t *testing.T) *fakeVendor {
	t.Helper()
	return &fakeVendor{root: t.TempDir()}
}

func open(t *testing.T, path string, opts Options) *blob.Bucket {
	t.Helper()
	b, err := OpenBucket(context.Background(), path, opts)
	if err != nil {
		t.Fatalf("OpenBucket(%q): %v", path, err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func write(t *testing.T, b *blob.Bucket, key, data string) {
	t.Helper()
	if err := b.WriteAll(context.Background(), key, []byte(data), nil); err != nil {
		t.Fatalf("write %q: %v", key, err)
	}
}

func read(t *testing.T, b *blob.Bucket, key string) string {
	t.Helper()
	data, err := b.ReadAll(context.Background(), key)
	if err != nil {
		t.Fatalf("read %q: %v", key, err)
	}
	return string(data)
}

// keys lists every key of b.
func keys(t *testing.T, b *blob.Bucket) []string {
	t.Helper()
	var out []string
	it := b.List(nil)
	for {
		obj, err := it.Next(context.Background())
		if err != nil {
			if err == io.EOF {
				break
			}
			t.Fatalf("list: %v", err)
		}
		out = append(out, obj.Key)
	}
	slices.Sort(out)
	return out
}

// files lists every regular file under dir, relative to it.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func TestOpenFileWritesPlainFilesAndReadsBack(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "ds")
	path := "file://" + filepath.ToSlash(dir)

	w := open(t, path, Options{Mode: api.ModeWrite})
	write(t, w, "tarn.json", `{"format":"tarn-dataset"}`)
	write(t, w, "data/part-0.parquet", "rows")

	r := open(t, path, Options{}) // read is the default
	if got := read(t, r, "data/part-0.parquet"); got != "rows" {
		t.Errorf("read back %q, want %q", got, "rows")
	}
	if got, want := keys(t, r), []string{"data/part-0.parquet", "tarn.json"}; !slices.Equal(got, want) {
		t.Errorf("List = %q, want %q", got, want)
	}
	// No .attrs sidecar files, no leftovers: the directory holds exactly the blobs.
	if got, want := files(t, dir), []string{"data/part-0.parquet", "tarn.json"}; !slices.Equal(got, want) {
		t.Errorf("files on disk = %q, want %q", got, want)
	}
}

func TestOpenPlainLocalPath(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	w := open(t, "sub/ds", Options{Mode: api.ModeWrite})
	write(t, w, "k", "v")
	if data, err := os.ReadFile(filepath.Join(dir, "sub", "ds", "k")); err != nil || string(data) != "v" {
		t.Fatalf("file written through a relative path: %q, %v", data, err)
	}
	abs := open(t, filepath.Join(dir, "sub", "ds"), Options{})
	if got := read(t, abs, "k"); got != "v" {
		t.Errorf("read through an absolute plain path = %q", got)
	}
}

func TestOpenFileErrors(t *testing.T) {
	tmp := t.TempDir()
	afile := filepath.Join(tmp, "afile")
	if err := os.WriteFile(afile, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(tmp, "missing")
	tests := []struct {
		name, path, mode, want string
	}{
		{"missing directory on read", "file://" + missing, "", "file://" + missing + ": no such directory"},
		{"not a directory", "file://" + afile, api.ModeRead, "file://" + afile + ": not a directory"},
		{"not a directory on write", "file://" + afile, api.ModeWrite, "file://" + afile + ": not a directory"},
		{"bad mode", "file://" + tmp, "admin", `mode "admin" is neither "read" nor "write"`},
		{"dotdot", "file://" + tmp + "/../x", api.ModeWrite, `".." path segments are not allowed`},
		{"file host", "file://host/x", "", "empty host"},
		{"http", "http://169.254.169.254/latest/meta-data", "", `unsupported scheme "http"`},
		{"https", "https://example.com/x", "", `unsupported scheme "https"`},
		{"ftp", "ftp://example.com/x", "", `unsupported scheme "ftp"`},
		{"control character", "file://" + tmp + "/a\nb", api.ModeWrite, "control character"},
		{"empty", "", "", "empty path"},
		{"s3", "s3://bkt/x", "", "s3://bkt/x: opening s3:// paths is not supported yet"},
		{"gs", "gcs://bkt/x", "", "gs://bkt/x: opening gs:// paths is not supported yet"},
		{"az", "azure://acct1/cont/x", "", "az://acct1/cont/x: opening az:// paths is not supported yet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := OpenBucket(context.Background(), tt.path, Options{Mode: tt.mode})
			if err == nil {
				b.Close()
				t.Fatalf("OpenBucket(%q) succeeded", tt.path)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("OpenBucket(%q) = %q, want it to contain %q", tt.path, err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q is more than one line", err)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(tmp, "x")); err == nil {
		t.Error("a refused path created a directory")
	}
}

func TestOpenMemSharesDataByName(t *testing.T) {
	ctx := context.Background()
	a := open(t, "mem://storage-test-shared", Options{Mode: api.ModeWrite})
	write(t, a, "x/1", "one")
	write(t, a, "y/2", "two")
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}

	// Closing a bucket keeps the data; tmp:// is the same space as mem://.
	b := open(t, "tmp://storage-test-shared", Options{})
	if got := read(t, b, "x/1"); got != "one" {
		t.Errorf("after Close, read %q, want %q", got, "one")
	}
	// A prefix scopes the view.
	px := open(t, "mem://storage-test-shared/x", Options{})
	if got, want := keys(t, px), []string{"1"}; !slices.Equal(got, want) {
		t.Errorf("List under prefix x = %q, want %q", got, want)
	}
	if _, err := px.ReadAll(ctx, "../y/2"); err == nil {
		t.Error("read of ../y/2 through a prefixed bucket succeeded")
	}
	// Other names are other spaces.
	other := open(t, "mem://storage-test-other", Options{})
	if got := keys(t, other); len(got) != 0 {
		t.Errorf("another name sees %q", got)
	}
}

func TestOpenMemConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			b, err := OpenBucket(context.Background(), "mem://storage-test-concurrent", Options{Mode: api.ModeWrite})
			if err != nil {
				t.Error(err)
				return
			}
			defer b.Close()
			if err := b.WriteAll(context.Background(), string(rune('a'+i)), []byte("v"), nil); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := keys(t, open(t, "mem://storage-test-concurrent", Options{})); len(got) != 8 {
		t.Errorf("keys = %q, want 8", got)
	}
}

func TestOpenALReadAsksOnlyForRead(t *testing.T) {
	v := newFakeVendor(t)
	if err := os.MkdirAll(filepath.Join(v.root, "acme", "coco"), 0o755); err != nil {
		t.Fatal(err)
	}
	open(t, "al://acme/coco", Options{Client: v})
	open(t, "al://acme/coco/train", Options{Client: v, Mode: api.ModeRead})
	want := []call{
		{method: "DatasetCredentials", org: "acme", name: "coco", mode: "read"},
		{method: "DatasetCredentials", org: "acme", name: "coco", mode: "read"},
	}
	if got := v.recorded(); !slices.Equal(got, want) {
		t.Errorf("calls = %+v, want %+v", got, want)
	}
}

func TestOpenALWriteThenRead(t *testing.T) {
	v := newFakeVendor(t)
	w := open(t, "al://acme/coco", Options{Client: v, Mode: api.ModeWrite})
	write(t, w, "tarn.json", "{}")
	write(t, w, "versions/v1.json", "manifest")

	r := open(t, "al://acme/coco", Options{Client: v})
	if got := read(t, r, "versions/v1.json"); got != "manifest" {
		t.Errorf("read back %q", got)
	}
	want := []call{
		{method: "DatasetCredentials", org: "acme", name: "coco", mode: "write"},
		{method: "DatasetCredentials", org: "acme", name: "coco", mode: "read"},
	}
	if got := v.recorded(); !slices.Equal(got, want) {
		t.Errorf("calls = %+v, want %+v", got, want)
	}
	if got, want := files(t, filepath.Join(v.root, "acme", "coco")), []string{"tarn.json", "versions/v1.json"}; !slices.Equal(got, want) {
		t.Errorf("files on disk = %q, want %q (no .attrs sidecars)", got, want)
	}
}

func TestOpenALPrefixScopesKeys(t *testing.T) {
	v := newFakeVendor(t)
	root := open(t, "al://acme/coco", Options{Client: v, Mode: api.ModeWrite})
	write(t, root, "train/0", "t0")
	write(t, root, "train/1", "t1")
	write(t, root, "trainer/x", "sibling") // shares a string prefix with train
	write(t, root, "test/0", "e0")
	write(t, root, "secret", "s")

	train := open(t, "al://acme/coco/train", Options{Client: v})
	if got, want := keys(t, train), []string{"0", "1"}; !slices.Equal(got, want) {
		t.Errorf("List of al://acme/coco/train = %q, want %q", got, want)
	}
	if got := read(t, train, "1"); got != "t1" {
		t.Errorf("read 1 = %q", got)
	}

	w := open(t, "al://acme/coco/test/", Options{Client: v, Mode: api.ModeWrite})
	write(t, w, "1", "e1")
	if got := read(t, root, "test/1"); got != "e1" {
		t.Errorf("write through the prefix landed elsewhere: root test/1 = %q", got)
	}
	for _, key := range []string{"../secret", "../trainer/x", "/secret"} {
		if data, err := train.ReadAll(context.Background(), key); err == nil {
			t.Errorf("read %q through al://acme/coco/train = %q, want an error", key, data)
		}
	}
}

func TestOpenALRefusesBadPathsBeforeVending(t *testing.T) {
	for _, path := range []string{
		"al://acme/coco/../other",
		"al://acme/../other",
		"al://acme/coco/./x",
		"al://acme/coco//x",
		"al://Acme/coco",
		"al://acme",
		"al://acme/coco/a\x00b",
		"al://acme/coco/a\u0085b",
		`al://acme/coco/..\x`,
		"al://acme/coco?x",
		"al://u:pw@acme/coco",
		"http://169.254.169.254/latest",
		"169.254.169.254", // a plain local path: missing, so refused on read, and no vend
	} {
		v := newFakeVendor(t)
		for _, mode := range []string{api.ModeRead, api.ModeWrite} {
			if mode == api.ModeWrite && path == "169.254.169.254" {
				continue // would create a directory in the working directory
			}
			b, err := OpenBucket(context.Background(), path, Options{Client: v, Mode: mode})
			if err == nil {
				b.Close()
				t.Errorf("OpenBucket(%q, %s) succeeded", path, mode)
			}
		}
		if calls := v.recorded(); len(calls) != 0 {
			t.Errorf("OpenBucket(%q) vended before refusing: %+v", path, calls)
		}
	}
}

func TestOpenALErrors(t *testing.T) {
	const secret = "SECRETACCESSKEY"
	azSAS := func(account, container, endpoint string) *api.AzureCredentials {
		return &api.AzureCredentials{Account: account, Container: container, Endpoint: endpoint, SASToken: "sv=2025&sig=" + secret}
	}
	tmp := t.TempDir()
	answer := func(c *api.Credentials, err error) func(call) (*api.Credentials, error) {
		return func(call) (*api.Credentials, error) { return c, err }
	}
	tests := []struct {
		name   string
		client Vendor
		mode   string
		want   string
	}{
		{"no client", nil, "", "al://acme/coco: opening al:// paths needs a tarn client: set Options.Client"},
		{"vend error", &fakeVendor{answer: answer(nil, &api.Problem{Status: 403, Code: api.CodePermissionDenied, Detail: "you may not read al://acme/coco"})},
			"", "al://acme/coco: vend read credentials: you may not read al://acme/coco"},
		{"nil answer", &fakeVendor{answer: answer(nil, nil)}, "", "answered none"},
		{"unknown provider", &fakeVendor{answer: answer(&api.Credentials{Provider: "ceph"}, nil)}, "", `al://acme/coco: credentials of provider "ceph" cannot be opened`},
		{"s3 provider, secret not echoed", &fakeVendor{answer: answer(&api.Credentials{Provider: "s3", S3: &api.S3Credentials{AccessKeyID: "AKIA", SecretAccessKey: secret, SessionToken: secret}}, nil)},
			"", "al://acme/coco: the server vended S3 credentials without a location"},
		{"s3 provider without s3 field", &fakeVendor{answer: answer(&api.Credentials{Provider: "s3", Location: "s3://bkt/coco"}, nil)},
			"", `al://acme/coco: the server vended credentials of provider "s3" without S3 credentials`},
		{"s3 credentials for a non-s3 location", &fakeVendor{answer: answer(&api.Credentials{Provider: "s3", Location: "gs://bkt/coco", S3: &api.S3Credentials{AccessKeyID: "AKIA", SecretAccessKey: secret}}, nil)},
			"", "which is not an s3:// location"},
		{"azure without a SAS", &fakeVendor{answer: answer(&api.Credentials{Provider: "azure", Location: "az://acct/data", Azure: &api.AzureCredentials{Account: "acct", Container: "data"}}, nil)},
			"", `al://acme/coco: the server vended credentials of provider "azure" without a SAS`},
		{"azure SAS for another container", &fakeVendor{answer: answer(&api.Credentials{Provider: "azure", Location: "az://acct/data", Azure: azSAS("acct", "other", "http://127.0.0.1:1/acct")}, nil)},
			"", "the server vended a SAS for az://acct/other/, not for az://acct/data"},
		{"azure SAS for a non-az location", &fakeVendor{answer: answer(&api.Credentials{Provider: "azure", Location: "s3://acct/data", Azure: azSAS("acct", "data", "http://127.0.0.1:1/acct")}, nil)},
			"", "which is not an az:// location"},
		{"azure endpoint with a secret, not echoed", &fakeVendor{answer: answer(&api.Credentials{Provider: "azure", Location: "az://acct/data", Azure: azSAS("acct", "data", "https://127.0.0.1:1/acct?sig="+secret)}, nil)},
			"", "unusable endpoint"},
		{"no provider", &fakeVendor{answer: answer(&api.Credentials{File: &api.FileCredentials{Path: tmp}}, nil)}, "", "without a provider"},
		{"file without path", &fakeVendor{answer: answer(&api.Credentials{Provider: "file"}, nil)}, "", "without a directory"},
		{"relative directory", &fakeVendor{answer: answer(&api.Credentials{Provider: "file", File: &api.FileCredentials{Path: "rel/dir"}}, nil)}, api.ModeWrite, "not absolute"},
		{"dotdot directory", &fakeVendor{answer: answer(&api.Credentials{Provider: "file", File: &api.FileCredentials{Path: tmp + "/x/../y"}}, nil)}, api.ModeWrite, `".." path segments`},
		{"mode downgraded", &fakeVendor{answer: answer(&api.Credentials{Provider: "file", Mode: api.ModeRead, File: &api.FileCredentials{Path: tmp}}, nil)}, api.ModeWrite, "asked for write credentials, the server vended read"},
		{"missing directory on read", &fakeVendor{answer: answer(&api.Credentials{Provider: "file", File: &api.FileCredentials{Path: tmp + "/nothing"}}, nil)}, "",
			"al://acme/coco: directory " + tmp + "/nothing: no such directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := OpenBucket(context.Background(), "al://acme/coco", Options{Client: tt.client, Mode: tt.mode})
			if err == nil {
				b.Close()
				t.Fatal("OpenBucket succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q leaks a secret or spans lines", err)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(tmp, "y")); err == nil {
		t.Error("a refused vended directory was created")
	}
}

func TestOpenThroughCredsKey(t *testing.T) {
	v := newFakeVendor(t)
	opts := Options{Client: v, Mode: api.ModeWrite, Org: "acme", CredsKey: "local"}
	w := open(t, "s3://bkt/raw/images", opts)
	write(t, w, "0.jpg", "jpeg")

	opts.Mode = ""
	r := open(t, "gs://bkt/raw/images", opts)
	if got := read(t, r, "0.jpg"); got != "jpeg" {
		t.Errorf("read back %q", got)
	}
	want := []call{
		{method: "LocationCredentials", org: "acme", name: "local", location: "s3://bkt/raw/images", mode: "write"},
		{method: "LocationCredentials", org: "acme", name: "local", location: "gs://bkt/raw/images", mode: "read"},
	}
	if got := v.recorded(); !slices.Equal(got, want) {
		t.Errorf("calls = %+v, want %+v", got, want)
	}
	// mem:// needs no credentials: the creds key is ignored.
	open(t, "mem://storage-test-creds-key", opts)
	if n := len(v.recorded()); n != 2 {
		t.Errorf("mem:// vended: %d calls", n)
	}
}

func TestOpenThroughCredsKeyErrors(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"org without key", Options{Org: "acme"}, "Options.Org and Options.CredsKey must be set together"},
		{"key without org", Options{CredsKey: "local"}, "Options.Org and Options.CredsKey must be set together"},
		{"bad org", Options{Org: "Acme", CredsKey: "local"}, "org name"},
		{"bad key", Options{Org: "acme", CredsKey: "../x"}, "creds key name"},
		{"no client", Options{Org: "acme", CredsKey: "local"}, "needs a tarn client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newFakeVendor(t)
			if tt.name != "no client" {
				tt.opts.Client = v
			}
			b, err := OpenBucket(context.Background(), "s3://bkt/x", tt.opts)
			if err == nil {
				b.Close()
				t.Fatal("OpenBucket succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, want it to contain %q", err, tt.want)
			}
			if calls := v.recorded(); len(calls) != 0 {
				t.Errorf("vended despite the error: %+v", calls)
			}
		})
	}
}

func TestInvalidPathIsLocationError(t *testing.T) {
	_, err := OpenBucket(context.Background(), "s3://bkt/../x", Options{})
	var lerr *location.Error
	if !errors.As(err, &lerr) {
		t.Fatalf("error %v (%T) is not a *location.Error", err, err)
	}
}

func TestOpenLinkedLocationVendsThroughTheDataset(t *testing.T) {
	v := newFakeVendor(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "cat.jpg"), []byte("jpeg"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	b, err := OpenBucket(ctx, "file://"+dir, Options{Client: v, LinkedTo: "al://acme/coco", CredsKey: "images"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got, err := b.ReadAll(ctx, "cat.jpg"); err != nil || string(got) != "jpeg" {
		t.Fatalf("ReadAll = %q, %v", got, err)
	}
	calls := v.recorded()
	if len(calls) != 1 || calls[0].method != "LinkedCredentials" || calls[0].org != "acme" || calls[0].name != "coco" || calls[0].location != "file://"+dir {
		t.Errorf("calls = %+v", calls)
	}
	for _, o := range []Options{
		{Client: v, LinkedTo: "al://acme/coco", CredsKey: "images", Mode: api.ModeWrite},
		{Client: v, LinkedTo: "s3://bucket/x", CredsKey: "images"},
		{Client: v, LinkedTo: "al://acme/coco/sub", CredsKey: "images"},
		{LinkedTo: "al://acme/coco", CredsKey: "images"},
	} {
		if _, err := OpenBucket(ctx, "file://"+dir, o); err == nil {
			t.Errorf("OpenBucket with %+v succeeded", o)
		}
	}
	if n := len(v.recorded()); n != 1 {
		t.Errorf("refused opens vended: %d calls", n)
	}
}
