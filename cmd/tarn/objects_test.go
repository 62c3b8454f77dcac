package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/storage"
)

// tree writes files (relative path -> content) below dir.
func tree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// files returns every file below dir as relative path -> content.
func files(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	return out
}

func equalFiles(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: files %v, want %v", what, got, want)
		return
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: files %v, want %v", what, got, want)
			return
		}
	}
}

// datasetAPI fakes a server that vends file credentials for al://acme/coco at dir.
func datasetAPI(t *testing.T, dir string) *fakeAPI {
	creds := func(mode string) route {
		return route{200, `{"location":"file://` + filepath.ToSlash(dir) + `","mode":"` + mode + `","provider":"file","expires_at":"2025-03-01T13:00:00Z","file":{"path":"` + filepath.ToSlash(dir) + `"}}`}
	}
	return newFakeAPI(t, map[string]route{
		"POST /api/v1/orgs/acme/datasets/coco/credentials": creds("read"),
		"DELETE /api/v1/orgs/acme/datasets/coco":           {204, ""},
	})
}

func TestLsLocal(t *testing.T) {
	dir := t.TempDir()
	tree(t, dir, map[string]string{"a.txt": "hello", "sub/b.txt": "world!", "sub/deep/c": "x"})
	te := newTestEnv(t, nil) // no server, no token: local paths need neither
	res := te.run("ls", dir)
	lines := strings.Split(strings.TrimSuffix(res.stdout, "\n"), "\n")
	if res.code != 0 || len(lines) != 2 || !strings.HasSuffix(lines[0], "          5 a.txt") ||
		lines[1] != "                           PRE sub/" {
		t.Errorf("ls: exit %d, stderr %q, stdout\n%s", res.code, res.stderr, res.stdout)
	}
	res = te.run("ls", "-r", "file://"+filepath.ToSlash(dir)+"/sub", "-o", "json")
	if res.code != 0 || !strings.Contains(res.stdout, `"key": "b.txt"`) || !strings.Contains(res.stdout, `"key": "deep/c"`) ||
		strings.Contains(res.stdout, `"dir"`) {
		t.Errorf("ls -r: exit %d, stderr %q, stdout\n%s", res.code, res.stderr, res.stdout)
	}
	res = te.run("ls", filepath.Join(dir, "missing"))
	if res.code != 1 || strings.Count(res.stderr, "\n") != 1 || !strings.HasPrefix(res.stderr, "tarn: ls: ") {
		t.Errorf("ls missing: exit %d, stderr %q", res.code, res.stderr)
	}
}

func TestCatAndCpLocal(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	tree(t, src, map[string]string{"a.txt": "hello", "sub/b.txt": "world"})
	te := newTestEnv(t, nil)

	if res := te.run("cat", filepath.Join(src, "sub", "b.txt")); res.code != 0 || res.stdout != "world" {
		t.Errorf("cat: exit %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
	}
	if res := te.run("cat", filepath.Join(src, "nope")); res.code != 1 ||
		res.stderr != "tarn: cat file://"+filepath.ToSlash(filepath.Join(src, "nope"))+": no such object\n" {
		t.Errorf("cat missing: exit %d, stderr %q", res.code, res.stderr)
	}

	out := filepath.Join(dir, "out")
	for _, tc := range []struct {
		args []string
		want map[string]string // files below out after the command
	}{
		{[]string{"cp", filepath.Join(src, "a.txt"), out + "/"}, map[string]string{"a.txt": "hello"}},
		{[]string{"cp", filepath.Join(src, "a.txt"), filepath.Join(out, "renamed.txt")}, map[string]string{"a.txt": "hello", "renamed.txt": "hello"}},
		// out exists now: "into".
		{[]string{"cp", filepath.Join(src, "sub", "b.txt"), out}, map[string]string{"a.txt": "hello", "renamed.txt": "hello", "b.txt": "world"}},
		{[]string{"cp", "-r", src, out}, map[string]string{"a.txt": "hello", "renamed.txt": "hello", "b.txt": "world",
			"src/a.txt": "hello", "src/sub/b.txt": "world"}},
		{[]string{"cp", "-r", src, filepath.Join(out, "copy")}, map[string]string{"a.txt": "hello", "renamed.txt": "hello", "b.txt": "world",
			"src/a.txt": "hello", "src/sub/b.txt": "world", "copy/a.txt": "hello", "copy/sub/b.txt": "world"}},
	} {
		res := te.run(tc.args...)
		if res.code != 0 || res.stdout != "" || res.stderr != "" {
			t.Errorf("tarn %s: exit %d, stdout %q, stderr %q", strings.Join(tc.args, " "), res.code, res.stdout, res.stderr)
		}
		equalFiles(t, strings.Join(tc.args, " "), files(t, out), tc.want)
	}

	res := te.run("cp", src, out)
	if res.code != 1 || !strings.HasSuffix(res.stderr, ": it is a directory; use -r to copy it\n") {
		t.Errorf("cp of a directory: exit %d, stderr %q", res.code, res.stderr)
	}
	res = te.run("cp", "-r", src, filepath.Join(src, "sub"))
	if res.code != 1 || !strings.HasSuffix(res.stderr, ": the destination lies inside the source\n") {
		t.Errorf("cp into itself: exit %d, stderr %q", res.code, res.stderr)
	}
	res = te.run("cp", "-r", src, filepath.Join(dir, "json"), "-o", "json")
	if res.code != 0 || !strings.Contains(res.stdout, `"destination": "file://`+filepath.ToSlash(dir)+`/json/sub/b.txt"`) {
		t.Errorf("cp -o json: exit %d, stdout %s", res.code, res.stdout)
	}
}

func TestObjectCommandsOnADataset(t *testing.T) {
	data := t.TempDir()
	tree(t, data, map[string]string{"tarn.json": `{"format":"tarn-dataset"}`, "data/x.parquet": "PAR1"})
	srv := datasetAPI(t, data)
	te := envFor(t, srv)

	if res := te.run("cat", "al://acme/coco/tarn.json"); res.code != 0 || res.stdout != `{"format":"tarn-dataset"}` {
		t.Errorf("cat: exit %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
	}
	if r := srv.last(t); r.Body != `{"mode":"read"}` || r.Auth != "Bearer "+testToken {
		t.Errorf("cat vended with body %s, auth %q", r.Body, r.Auth)
	}
	res := te.run("ls", "al://acme/coco")
	if res.code != 0 || !strings.Contains(res.stdout, "PRE data/") || !strings.Contains(res.stdout, " tarn.json") {
		t.Errorf("ls: exit %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
	}

	// Upload: the fake vends the same directory for write.
	srv.routes["POST /api/v1/orgs/acme/datasets/coco/credentials"] = route{200, `{"location":"file://` + filepath.ToSlash(data) +
		`","mode":"write","provider":"file","expires_at":"2025-03-01T13:00:00Z","file":{"path":"` + filepath.ToSlash(data) + `"}}`}
	local := t.TempDir()
	tree(t, local, map[string]string{"labels.csv": "id,label\n1,cat\n"})
	if res := te.run("cp", filepath.Join(local, "labels.csv"), "al://acme/coco"); res.code != 0 {
		t.Fatalf("cp up: exit %d, stderr %q", res.code, res.stderr)
	}
	if r := srv.last(t); r.Body != `{"mode":"write"}` {
		t.Errorf("cp up vended with body %s", r.Body)
	}
	if b, _ := os.ReadFile(filepath.Join(data, "labels.csv")); string(b) != "id,label\n1,cat\n" {
		t.Errorf("uploaded %q", b)
	}
	if res := te.run("cp", "-r", local, "al://acme/coco/imports/"); res.code != 0 {
		t.Fatalf("cp -r up: exit %d, stderr %q", res.code, res.stderr)
	}
	if _, err := os.Stat(filepath.Join(data, "imports", filepath.Base(local), "labels.csv")); err != nil {
		t.Errorf("cp -r up: %v", err)
	}

	// ds rm --delete-data deletes every object, then the entry.
	res = te.run("ds", "rm", "al://acme/coco", "--delete-data")
	if res.code != 0 || res.stdout != "Deleted al://acme/coco and its 4 objects.\n" {
		t.Errorf("ds rm --delete-data: exit %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
	}
	if left := files(t, data); len(left) != 0 {
		t.Errorf("objects left: %v", left)
	}
	reqs := srv.requests()
	if last := reqs[len(reqs)-1]; last.Method != "DELETE" || last.Path != "/api/v1/orgs/acme/datasets/coco" {
		t.Errorf("last request %s %s, want the entry's DELETE", last.Method, last.Path)
	}
}

func TestDeleteDataKeepsEntryWhenVendFails(t *testing.T) {
	srv := newFakeAPI(t, map[string]route{
		"POST /api/v1/orgs/acme/datasets/coco/credentials": {403, `{"title":"Forbidden","status":403,"code":"permission_denied","detail":"writer role needed in org \"acme\""}`},
		"DELETE /api/v1/orgs/acme/datasets/coco":           {204, ""},
	})
	res := envFor(t, srv).run("ds", "rm", "al://acme/coco", "--delete-data")
	if res.code != 1 || strings.Count(res.stderr, "\n") != 1 || !strings.Contains(res.stderr, `writer role needed in org "acme"`) ||
		!strings.Contains(res.stderr, "the entry is kept") {
		t.Errorf("exit %d, stderr %q", res.code, res.stderr)
	}
	for _, r := range srv.requests() {
		if r.Method == "DELETE" {
			t.Errorf("entry deleted although its data could not be")
		}
	}
}

// failingReader yields some bytes, then fails.
type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n >= 3 {
		return 0, errors.New("disk on fire")
	}
	f.n++
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

func TestFailedCopyLeavesNoPartialObject(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	b, err := storage.OpenBucket(ctx, dir, storage.Options{Mode: api.ModeWrite})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	_, err = writeBlob(ctx, b, "big.bin", "", &failingReader{})
	if err == nil || !strings.Contains(err.Error(), "read: disk on fire") {
		t.Fatalf("writeBlob error %v, want the read error", err)
	}
	var names []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	if len(names) != 0 {
		t.Errorf("files left after a failed copy: %v", names)
	}
	// An existing object keeps its content.
	os.WriteFile(filepath.Join(dir, "big.bin"), []byte("old"), 0o644)
	if _, err := writeBlob(ctx, b, "big.bin", "", &failingReader{}); err == nil {
		t.Fatal("no error")
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "big.bin")); string(got) != "old" {
		t.Errorf("existing object now holds %d bytes, want its old content", len(got))
	}
	// And a write that succeeds replaces it.
	if n, err := writeBlob(ctx, b, "big.bin", "", strings.NewReader("new")); err != nil || n != 3 {
		t.Fatalf("writeBlob = %d, %v", n, err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "big.bin")); string(got) != "new" {
		t.Errorf("object holds %q", got)
	}
}

func TestProgressOnlyOnATerminal(t *testing.T) {
	dir := t.TempDir()
	tree(t, dir, map[string]string{"src/a": strings.Repeat("a", 100), "src/b": "b"})
	te := newTestEnv(t, nil)
	if res := te.run("cp", "-r", filepath.Join(dir, "src"), filepath.Join(dir, "plain")); res.stderr != "" {
		t.Errorf("progress written to a non-terminal: %q", res.stderr)
	}
	te.stderrTerminal = true
	res := te.run("cp", "-r", filepath.Join(dir, "src"), filepath.Join(dir, "tty"))
	if res.code != 0 || !strings.Contains(res.stderr, "[1/2] a 100 B / 100 B") || !strings.HasSuffix(res.stderr, "Copied 2 objects (101 B).\n") {
		t.Errorf("progress %q", res.stderr)
	}
	if res.stdout != "" {
		t.Errorf("stdout %q", res.stdout)
	}
}

func TestLsThroughACredsKey(t *testing.T) {
	dir := t.TempDir()
	tree(t, dir, map[string]string{"raw/a.bin": "abc"})
	loc := "file://" + filepath.ToSlash(dir) + "/raw"
	srv := newFakeAPI(t, map[string]route{
		"POST /api/v1/orgs/acme/creds-keys/local/credentials": {200, `{"location":"` + loc + `","mode":"read","provider":"file","expires_at":"2025-03-01T13:00:00Z","file":{"path":"` + filepath.ToSlash(dir) + `/raw"}}`},
	})
	res := envFor(t, srv).run("ls", loc, "--org", "acme", "--creds-key", "local")
	if res.code != 0 || !strings.HasSuffix(res.stdout, "          3 a.bin\n") {
		t.Errorf("exit %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
	}
	if r := srv.last(t); r.Body != `{"location":"`+loc+`","mode":"read"}` {
		t.Errorf("vend body %s", r.Body)
	}
}
