package dataset_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/dataset"
	"github.com/tarnhq/tarn/internal/testenv"
	"github.com/tarnhq/tarn/storage"
)

// The attacker publishes al://local/pub, whose link column (no link key) points at files of
// whoever reads it: a file outside the dataset, the reader's in-process scratch space, an
// https:// server on the reader's machine. A victim who opens the dataset by its al:// path
// never reads the first two, and reaches https:// only through a client that may reach the
// address; the dataset's owner, opening it on its storage path, reads its local links as
// before.
func TestALLinksNeverReadTheReadersFiles(t *testing.T) {
	ctx := context.Background()
	env := testenv.New(t, testenv.Options{})
	attacker := env.Admin(t)
	victim := env.Client(t, env.NewUser(t, "victim", "", ""))

	secret := filepath.Join(t.TempDir(), "id_rsa")
	if err := os.WriteFile(secret, []byte("PRIVATE KEY"), 0o600); err != nil {
		t.Fatal(err)
	}
	mem, err := storage.OpenBucket(ctx, "mem://victim", storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := mem.WriteAll(ctx, "token", []byte("SCRATCH SECRET"), nil); err != nil {
		t.Fatal(err)
	}
	mem.Close()
	web := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/cat.jpg":
			w.Write([]byte("cat bytes"))
		case "/signed.jpg":
			http.Error(w, "expired", http.StatusForbidden)
		case "/plain":
			http.Redirect(w, r, "http://"+r.Host+"/cat.jpg", http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}))
	defer web.Close()

	reg, err := attacker.CreateDataset(ctx, "local", api.CreateDatasetRequest{Name: "pub", Public: true})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := dataset.CreatePath(ctx, "al://local/pub", dataset.NewSchema(
		dataset.Column{Name: "url", Type: dataset.LinkTo(dataset.Bytes)},
	), dataset.PathOptions{Client: attacker})
	if err != nil {
		t.Fatal(err)
	}
	links := []string{
		"file://" + filepath.ToSlash(secret),
		"mem://victim/token",
		"tmp://victim/token",
		web.URL + "/cat.jpg",
		web.URL + "/signed.jpg?X-Amz-Signature=SIGSECRET",
		web.URL + "/missing.jpg",
		web.URL + "/plain",
	}
	w := ds.Appender(dataset.AppenderOptions{})
	for _, l := range links {
		if err := w.Append(ctx, dataset.Row{"url": l}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Commit(ctx, "links"); err != nil {
		t.Fatal(err)
	}
	w.Close()
	ds.Close()

	read := func(o dataset.PathOptions, path string) []string {
		t.Helper()
		ds, err := dataset.OpenPath(ctx, path, o)
		if err != nil {
			t.Fatal(err)
		}
		defer ds.Close()
		rows, err := ds.Rows(ctx, 0, ds.Len())
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range rows {
			data, err := ds.ReadLink(ctx, r, "url")
			if err != nil {
				out = append(out, "error: "+err.Error())
			} else {
				out = append(out, string(data))
			}
		}
		return out
	}
	check := func(who string, got []string, want []string) {
		t.Helper()
		for i := range links {
			if !strings.Contains(got[i], want[i]) {
				t.Errorf("%s, link %s: got %q, want %q", who, links[i], got[i], want[i])
			}
			for _, s := range []string{"PRIVATE KEY", "SCRATCH SECRET", "SIGSECRET"} {
				if strings.Contains(got[i], s) && !strings.Contains(want[i], s) {
					t.Errorf("%s, link %s: %q shows %s", who, links[i], got[i], s)
				}
			}
		}
	}

	// The victim, with the default client, reads nothing from its own machine.
	refusedFile := `error: read link: column "url": ` + links[0] + `: refused: al://local/pub reads links only over https or through a creds key linked to it, and column "url" has no link key: its owner links a key that covers the link (tarn ds add-creds-key al://local/pub KEY)`
	refusedMem := `error: read link: column "url": mem://victim/token: refused: mem:// links are this process's scratch space`
	loopback := "refusing to connect to 127.0.0.1 (a loopback address): https:// links reach only public addresses"
	check("victim, default client", read(dataset.PathOptions{Client: victim, Mode: api.ModeRead}, "al://local/pub"),
		[]string{refusedFile, refusedMem, refusedMem, loopback, loopback, loopback, loopback})

	// With a client that may reach the server (and trusts its certificate), https works.
	check("victim, own client", read(dataset.PathOptions{Client: victim, Mode: api.ModeRead, HTTPClient: web.Client()}, "al://local/pub"),
		[]string{refusedFile, refusedMem, refusedMem, "cat bytes",
			`error: read link: column "url": ` + web.URL + `/signed.jpg?…: the server answered 403 Forbidden`,
			`error: read link: column "url": ` + web.URL + `/missing.jpg: no such object`,
			"refusing a redirect to a URL that is not https://"})

	// The owner, on the dataset's own storage path, reads its local links as before.
	check("owner on the storage path", read(dataset.PathOptions{Mode: api.ModeRead, HTTPClient: web.Client()}, reg.Location),
		[]string{"PRIVATE KEY", "SCRATCH SECRET", "SCRATCH SECRET", "cat bytes", "403 Forbidden", "no such object", "not https://"})
}

// Links with a link key linked to an al:// dataset are read through the control plane
// whatever their scheme, file:// included, and only within the key's roots.
func TestALFileLinksThroughALinkedKey(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	env := testenv.New(t, testenv.Options{FileRoots: []string{root}})
	admin := env.Admin(t)
	images, outside := filepath.Join(root, "images"), filepath.Join(root, "private")
	for dir, body := range map[string]string{images: "image bytes", outside: "private bytes"} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "a.jpg"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := admin.PutCredsKey(ctx, "local", "images", api.PutCredsKeyRequest{
		Provider: "file", Config: api.CredsKeyConfig{Roots: []string{"file://" + filepath.ToSlash(images)}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.PutCredsKey(ctx, "local", "data", api.PutCredsKeyRequest{
		Provider: "file", Config: api.CredsKeyConfig{Roots: []string{"file://" + filepath.ToSlash(filepath.Join(root, "data"))}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateDataset(ctx, "local", api.CreateDatasetRequest{
		Name: "linked", Location: "file://" + filepath.ToSlash(filepath.Join(root, "data", "linked")), CredsKey: "data",
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.AddLinkedCredsKey(ctx, "local", "linked", "images"); err != nil {
		t.Fatal(err)
	}
	ds, err := dataset.CreatePath(ctx, "al://local/linked", dataset.NewSchema(
		dataset.Column{Name: "url", Type: dataset.LinkTo(dataset.Image), LinkKey: "images"},
	), dataset.PathOptions{Client: admin})
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	for _, tc := range []struct{ link, want string }{
		{"file://" + filepath.ToSlash(filepath.Join(images, "a.jpg")), "image bytes"},
		{"file://" + filepath.ToSlash(filepath.Join(outside, "a.jpg")), "error: "},
	} {
		data, err := ds.ReadLink(ctx, dataset.Row{"url": tc.link}, "url")
		got := string(data)
		if err != nil {
			got = fmt.Sprintf("error: %v", err)
		}
		if !strings.HasPrefix(got, tc.want) || strings.Contains(got, "private bytes") {
			t.Errorf("%s: %q, want %q", tc.link, got, tc.want)
		}
	}
}
