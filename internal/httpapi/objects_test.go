package httpapi_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/cors"
	"github.com/tarnhq/tarn/internal/store"
)

// datasetDir returns the directory of dataset name of the fixture's org, created.
func (f *fixture) datasetDir(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join(f.env.DataDir, "datasets", "acme", name)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	return dir
}

// objectURL writes object (if missing) in the fixture's dataset name and returns the URL
// that principal who's presign answers for it, path-absolute as the server gives it.
func (f *fixture) objectURL(t *testing.T, who, name, object string) string {
	t.Helper()
	path := filepath.Join(f.datasetDir(t, name), filepath.FromSlash(object))
	if _, err := os.Lstat(path); os.IsNotExist(err) {
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("0123456789 bytes of "+object), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	st, out := f.do(t, who, "POST", "/orgs/acme/datasets/"+name+"/presign", api.PresignRequest{Paths: []string{object}})
	if st != http.StatusOK {
		t.Fatalf("presign %s as %s: %d %v", object, who, st, out)
	}
	u, _ := out["urls"].(map[string]any)[object].(string)
	if !strings.HasPrefix(u, api.Prefix+"/orgs/acme/datasets/"+name+"/objects/") {
		t.Fatalf("presign %s answered URL %q, want one of the server's object route", object, u)
	}
	return u
}

// get sends a GET of the server-relative URL u without Authorization, with the given
// headers (name, value pairs), and returns the response and its body.
func (f *fixture) get(t *testing.T, u string, header ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.env.URL+u, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// editQuery returns u with query parameter param set to value.
func editQuery(t *testing.T, u, param, value string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	q := p.Query()
	q.Set(param, value)
	p.RawQuery = q.Encode()
	return p.String()
}

func TestObjectURLsOfFileDatasets(t *testing.T) {
	f := newFixture(t)
	u := f.objectURL(t, "reader", "priv", "img/a.png")
	if strings.Contains(u, f.tokens["reader"]) {
		t.Fatalf("the URL carries the caller's token: %s", u)
	}

	resp, body := f.get(t, u)
	if resp.StatusCode != http.StatusOK || body != "0123456789 bytes of img/a.png" {
		t.Fatalf("GET %s: %d %q", u, resp.StatusCode, body)
	}
	for h, want := range map[string]string{"Content-Type": "image/png", "Cache-Control": "private", "X-Content-Type-Options": "nosniff",
		"Accept-Ranges": "bytes", "Access-Control-Allow-Origin": "*"} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Security-Policy"), "sandbox") {
		t.Errorf("Content-Security-Policy %q does not sandbox what it serves", resp.Header.Get("Content-Security-Policy"))
	}

	t.Run("range", func(t *testing.T) {
		resp, body := f.get(t, u, "Range", "bytes=2-5")
		if resp.StatusCode != http.StatusPartialContent || body != "2345" || resp.Header.Get("Content-Range") != "bytes 2-5/29" {
			t.Fatalf("ranged GET: %d %q %q", resp.StatusCode, body, resp.Header.Get("Content-Range"))
		}
	})

	t.Run("a browser on another origin may read it with ranges", func(t *testing.T) {
		// What a browser at another origin does before and for a ranged read: the check
		// tarn cors check runs, against the object route itself.
		rep := cors.Check(context.Background(), http.DefaultClient, f.env.URL+u, "http://127.0.0.9:9")
		if !rep.OK() {
			t.Fatalf("CORS check of an object URL: %s", rep.Problem())
		}
		resp, _ := f.get(t, u)
		etag := resp.Header.Get("ETag")
		if etag == "" {
			t.Fatal("no ETag")
		}
		if resp, body := f.get(t, u, "Range", "bytes=0-1", "If-Range", etag); resp.StatusCode != http.StatusPartialContent || body != "01" {
			t.Errorf("ranged GET with If-Range of the same ETag: %d %q", resp.StatusCode, body)
		}
		if resp, _ := f.get(t, u, "Range", "bytes=0-1", "If-Range", `"other"`); resp.StatusCode != http.StatusOK {
			t.Errorf("ranged GET with If-Range of another ETag: %d, want the whole object", resp.StatusCode)
		}
	})

	t.Run("the client resolves it against the server", func(t *testing.T) {
		out, err := f.env.Client(t, f.tokens["reader"]).PresignDataset(context.Background(), "acme", "priv", []string{"img/a.png"}, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if got := out.URLs["img/a.png"]; !strings.HasPrefix(got, f.env.URL+api.Prefix+"/") {
			t.Fatalf("client URL %q is not absolute on %s", got, f.env.URL)
		}
		if want := f.env.Clock.Now().Add(time.Minute).Unix(); out.ExpiresAt.Unix() != want {
			t.Errorf("expires_at %s, want now + 1m", out.ExpiresAt)
		}
	})

	// The attacker holds a valid URL for priv/img/a.png and edits it.
	other := f.objectURL(t, "reader", "priv", "b.txt") // exists, so a refusal is not "missing"
	f.objectURL(t, "reader", "pub", "img/a.png")
	later := strconv.FormatInt(f.env.Clock.Now().Add(24*time.Hour).Unix(), 10)
	for name, edited := range map[string]string{
		"another object":     strings.Replace(u, "/objects/img/a.png", "/objects/b.txt", 1),
		"another dataset":    strings.Replace(u, "/datasets/priv/", "/datasets/pub/", 1),
		"a later expiry":     editQuery(t, u, "expires", later),
		"another signature":  editQuery(t, u, "sig", strings.SplitN(other, "sig=", 2)[1]),
		"no signature":       editQuery(t, u, "sig", ""),
		"a dotted path":      strings.Replace(u, "/objects/img/a.png", "/objects/img/%2e%2e/b.txt", 1),
		"a made-up dataset":  strings.Replace(u, "/datasets/priv/", "/datasets/nope/", 1),
		"an uppercased path": strings.Replace(u, "/objects/img/a.png", "/objects/IMG/a.png", 1),
	} {
		t.Run("edited to "+name, func(t *testing.T) {
			resp, body := f.get(t, edited)
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "this URL is not valid") || strings.Contains(body, "bytes of") {
				t.Fatalf("GET %s: %d %s", edited, resp.StatusCode, body)
			}
		})
	}

	t.Run("expired", func(t *testing.T) {
		short := f.objectURL(t, "reader", "priv", "c.txt")
		exp, _ := strconv.ParseInt(strings.SplitN(strings.SplitN(short, "expires=", 2)[1], "&", 2)[0], 10, 64)
		f.env.Clock.Advance(time.Unix(exp, 0).Sub(f.env.Clock.Now())) // exactly at expiry
		resp, body := f.get(t, short)
		want := "URL expired at " + time.Unix(exp, 0).UTC().Format(time.RFC3339) + "; ask for a new one"
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, want) {
			t.Fatalf("GET of an expired URL: %d %s, want 403 %q", resp.StatusCode, body, want)
		}
	})

	t.Run("reads are counted, not audited", func(t *testing.T) {
		recs, err := f.env.Server.Store.Audit(context.Background(), store.AuditQuery{Org: "acme"})
		if err != nil {
			t.Fatal(err)
		}
		presigns := 0
		for _, r := range recs {
			if strings.Contains(r.Action, "object") || strings.Contains(r.Detail, "bytes of") {
				t.Errorf("an object read is audited: %+v", r)
			}
			if r.Action == "presign" {
				presigns++
			}
		}
		if presigns < 5 {
			t.Errorf("%d presigns audited, want each of at least 5", presigns)
		}
		// The GET and the ranged GET above, and the four GETs of the CORS subtest.
		if n := f.metric(t, `tarn_object_reads_total{result="ok"}`); n != 6 {
			t.Errorf("ok reads counted %v, want 6", n)
		}
		if n := f.metric(t, `tarn_object_reads_total{result="denied"}`); n < 8 {
			t.Errorf("denied reads counted %v, want at least 8", n)
		}
	})
}

// TestObjectURLsStayInsideTheDataset: a symbolic link inside the dataset that leads out of
// it, a directory, and a dataset deleted and created again elsewhere serve nothing, even
// through URLs that presign signed.
func TestObjectURLsStayInsideTheDataset(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	dir := f.datasetDir(t, "priv")
	secret := filepath.Join(f.env.DataDir, "secret.txt")
	if err := os.WriteFile(secret, []byte("server secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(dir, "link.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(f.env.DataDir, filepath.Join(dir, "up")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o750); err != nil {
		t.Fatal(err)
	}
	for _, object := range []string{"link.txt", "up/secret.txt", "sub"} {
		u := f.objectURL(t, "reader", "priv", object)
		resp, body := f.get(t, u)
		if resp.StatusCode < 400 || strings.Contains(body, "server secret") {
			t.Errorf("GET %s: %d %q", object, resp.StatusCode, body)
		}
	}
	for _, object := range []string{"../secret.txt", "a/../../secret.txt", "/etc/passwd"} {
		if st, out := f.do(t, "reader", "POST", "/orgs/acme/datasets/priv/presign", api.PresignRequest{Paths: []string{object}}); st != http.StatusBadRequest {
			t.Errorf("presign %q: %d %v, want 400", object, st, out)
		}
	}

	// A link inside the dataset that stays inside is served.
	f.objectURL(t, "reader", "priv", "real.txt")
	if err := os.Symlink("real.txt", filepath.Join(dir, "alias.txt")); err != nil {
		t.Fatal(err)
	}
	if resp, body := f.get(t, f.objectURL(t, "reader", "priv", "alias.txt")); resp.StatusCode != http.StatusOK || !strings.Contains(body, "real.txt") {
		t.Errorf("GET of a link inside the dataset: %d %q", resp.StatusCode, body)
	}

	// The dataset is deleted and created again under the same name at another location,
	// which holds an object of the same key: the old URL does not read it.
	u := f.objectURL(t, "writer", "priv", "real.txt")
	admin := f.env.Admin(t)
	if err := admin.DeleteDataset(ctx, "acme", "priv"); err != nil {
		t.Fatal(err)
	}
	if resp, _ := f.get(t, u); resp.StatusCode != http.StatusForbidden {
		t.Errorf("GET after the dataset was deleted: %d, want 403", resp.StatusCode)
	}
	if _, err := admin.CreateDataset(ctx, "acme", api.CreateDatasetRequest{Name: "priv", Location: f.root + "/priv2", CredsKey: "k"}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.datasetDir(t, "priv2"), "real.txt"), []byte("new data"), 0o600); err != nil {
		t.Fatal(err)
	}
	if resp, body := f.get(t, u); resp.StatusCode != http.StatusForbidden || strings.Contains(body, "new data") {
		t.Errorf("GET of an old URL after the dataset was created elsewhere: %d %q, want 403", resp.StatusCode, body)
	}
}
