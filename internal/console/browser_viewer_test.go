package console_test

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/client"
	"github.com/tarnhq/tarn/dataset"
	"github.com/tarnhq/tarn/dataset/ingest"
	"github.com/tarnhq/tarn/internal/browsertest"
	"github.com/tarnhq/tarn/internal/miniotest"
	"github.com/tarnhq/tarn/internal/testenv"
)

// viewerEnv is tarn with an org acme whose dataset al://acme/pets holds images imported by
// `tarn ds import` (its library, ingest.Dir) in version 2 (version 1 is the empty dataset
// the import creates) and more rows in version 3.
type viewerEnv struct {
	*env
	admin *client.Client
}

// The rows of al://acme/pets: version 2 has the import, version 3 adds 20.
const viewerImages, viewerAdded = 300, 20

// newMinIOViewerEnv is newViewerEnv on MinIO.
func newMinIOViewerEnv(t *testing.T, m *miniotest.Server) *viewerEnv {
	t.Helper()
	base := "s3://" + m.Bucket + "/viewer"
	return newViewerEnv(t, m.HostPort(), m.CredsKey(base), base)
}

// newViewerEnv starts tarn allowing the store at allow, adds key as creds key acme/store
// and makes base (one of its roots) acme's default storage, so that al://acme/pets is at
// base/pets.
func newViewerEnv(t *testing.T, allow string, key api.PutCredsKeyRequest, base string) *viewerEnv {
	t.Helper()
	e := newEnvWith(t, testenv.Options{AllowEndpoints: []string{allow}})
	e.Clock.Advance(time.Since(e.Clock.Now())) // the store checks presigned URLs on its own clock
	ctx := t.Context()
	admin := e.Admin(t)
	if _, err := admin.CreateOrg(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.PutCredsKey(ctx, "acme", "store", key); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.SetDefaultStorage(ctx, "acme", api.DefaultStorage{Location: base, CredsKey: "store"}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeImages(t, dir, viewerImages)
	path := dataset.PathOptions{Client: admin}
	if _, err := admin.CreateDataset(ctx, "acme", api.CreateDatasetRequest{Name: "pets"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ingest.Dir(ctx, dir, "al://acme/pets", ingest.DirOptions{Path: path, Message: "import"}); err != nil {
		t.Fatal(err)
	}
	more := t.TempDir()
	writeImages(t, more, viewerAdded)
	if _, err := ingest.Dir(ctx, more, "al://acme/pets", ingest.DirOptions{Path: path, Message: "more"}); err != nil {
		t.Fatal(err)
	}
	return &viewerEnv{env: e, admin: admin}
}

// writeImages writes n PNG images of 48×48 random pixels into class folders cat and dog.
func writeImages(t *testing.T, dir string, n int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(n), 7))
	for i := range n {
		class := []string{"cat", "dog"}[i%2]
		img := image.NewRGBA(image.Rect(0, 0, 48, 48))
		for p := range img.Pix {
			img.Pix[p] = byte(rng.Uint32())
		}
		img.Set(0, 0, color.RGBA{A: 255})
		if err := os.MkdirAll(filepath.Join(dir, class), 0o755); err != nil {
			t.Fatal(err)
		}
		f, err := os.Create(filepath.Join(dir, class, fmt.Sprintf("%04d.png", i)))
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, img); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
}

// waitPage waits until the viewer shows page of version, and returns the text of its
// pager.
func waitPage(t *testing.T, p *browsertest.Page, version, page int) string {
	t.Helper()
	p.WaitFor(fmt.Sprintf("version %d page %d", version, page),
		fmt.Sprintf(`document.querySelector("#viewer")?.dataset.ready === "%d:%d" || document.querySelector("#viewer-status.error")`, version, page))
	if got := p.Text("#viewer-status"); got != "" {
		t.Fatalf("the viewer says %q instead of showing version %d page %d", got, version, page)
	}
	return p.Text("#viewer-where")
}

// decodedImages is the number of images in the grid that the browser decoded.
func decodedImages(p *browsertest.Page) int {
	return browsertest.Eval[int](p, `[...document.querySelectorAll("#viewer-grid img")].filter(i => i.complete && i.naturalWidth > 0).length`)
}

// TestViewerReadsRowsFromTheStore walks the dataset viewer in a real Chromium against tarn
// and MinIO: the first page of 50 rows with every image decoded, the next page, the other
// version, a row in full, and the column picker. Every manifest and data file request goes
// to MinIO, and tarn sees only its own pages, scripts and the presign calls.
func TestViewerReadsRowsFromTheStore(t *testing.T) {
	m := miniotest.Start(t)
	v := newMinIOViewerEnv(t, m)
	p := browsertest.New(t)
	v.signIn(p, v.AdminToken)
	p.Requests()

	p.Navigate(v.url + "/orgs/acme/datasets/pets")
	if got := waitPage(t, p, 3, 1); got != fmt.Sprintf("rows 1–50 of %d", viewerImages+viewerAdded) {
		t.Errorf("pager of the first page: %q", got)
	}
	if n := decodedImages(p); n != 50 {
		t.Errorf("%d images decoded on the first page, want 50", n)
	}
	p.Screenshot("viewer-first-page")
	checkRequests(t, p.Requests(), v.url, m.Endpoint)

	p.Click("#viewer-next")
	if got := waitPage(t, p, 3, 2); !strings.HasPrefix(got, "rows 51–100 of") {
		t.Errorf("pager of the next page: %q", got)
	}
	if got := p.Text("#viewer-grid tbody tr:first-child td:first-child"); got != "50" {
		t.Errorf("the next page starts at row %q, want 50", got)
	}
	if n := decodedImages(p); n != 50 {
		t.Errorf("%d images decoded on the next page, want 50", n)
	}
	checkRequests(t, p.Requests(), v.url, m.Endpoint)

	browsertest.Eval[bool](p, `(() => { const s = document.querySelector("#viewer-version"); s.value = "2"; s.dispatchEvent(new Event("change")); return true })()`)
	if got := waitPage(t, p, 2, 1); got != fmt.Sprintf("rows 1–50 of %d", viewerImages) {
		t.Errorf("pager of version 2: %q", got)
	}
	if got := p.URL(); !strings.Contains(got, "version=2") {
		t.Errorf("the address %s does not keep the version", got)
	}

	p.Click("#viewer-grid tbody tr:nth-child(3) button")
	p.WaitFor("the row dialog", `document.querySelector("#viewer-row")?.open`)
	row := p.Text("#viewer-row")
	for _, want := range []string{"Row 2", "filename", "label", "Download image", "png image"} {
		if !strings.Contains(row, want) {
			t.Errorf("the row view lacks %q: %q", want, row)
		}
	}
	if !browsertest.Eval[bool](p, `document.querySelector("#viewer-row img").naturalWidth === 48`) {
		t.Error("the row view's image is not decoded at 48 pixels wide")
	}
	p.Screenshot("viewer-row")
	p.Click("#viewer-row .viewer-close")

	before := browsertest.Eval[int](p, `tarnViewer.stats.pages.at(-1).bytes`)
	p.Click(".viewer-columns summary")
	p.Click(".viewer-columns input[value=image]")
	p.WaitFor("the grid without images", `document.querySelector("#viewer")?.dataset.ready && !document.querySelector("#viewer-grid img") && document.querySelectorAll("#viewer-grid th").length === 3`)
	p.Screenshot("viewer-columns")
	if after := browsertest.Eval[int](p, `tarnViewer.stats.pages.at(-1).bytes`); after*10 > before {
		t.Errorf("without the image column the page read %d bytes from the store, with it %d: want a tenth or less", after, before)
	}
	checkRequests(t, p.Requests(), v.url, m.Endpoint)
}

// checkRequests fails unless every request of the page went to tarn's console (pages,
// static files, the presign call) or to the store, every manifest and data file request
// went to the store, and there was at least one store request.
func checkRequests(t *testing.T, reqs []string, tarn, store string) {
	t.Helper()
	stored := 0
	for _, r := range reqs {
		u, err := url.Parse(r)
		if err != nil {
			t.Errorf("request %q: %v", r, err)
			continue
		}
		switch {
		case u.Scheme == "blob" || u.Scheme == "data":
		case strings.HasPrefix(r, store+"/"):
			stored++
		case strings.HasPrefix(r, tarn+"/"):
			if strings.Contains(u.Path, "/versions/") || strings.Contains(u.Path, "/data/") || strings.HasPrefix(u.Path, "/api/") {
				t.Errorf("the browser read %s from tarn, want the store", u.Path)
			}
		default:
			t.Errorf("the browser sent a request to %s, neither tarn nor the store", u.Host)
		}
	}
	if stored == 0 {
		t.Errorf("no request went to the store %s: %q", store, reqs)
	}
}

// TestViewerRenewsURLs checks both ways the viewer renews presigned URLs: ahead of their
// expiry by its own clock, and once when the store refuses one it thought fresh.
func TestViewerRenewsURLs(t *testing.T) {
	m := miniotest.Start(t)
	v := newMinIOViewerEnv(t, m)
	p := browsertest.New(t)
	v.signIn(p, v.AdminToken)
	p.Navigate(v.url + "/orgs/acme/datasets/pets")
	waitPage(t, p, 3, 1)
	presigns := func() int {
		n := 0
		for _, r := range p.Requests() {
			if strings.HasSuffix(r, "/orgs/acme/datasets/pets/urls") {
				n++
			}
		}
		return n
	}
	presigns()

	// The browser's clock 15 minutes on: every cached URL is due, so the next page asks
	// for new ones before it reads.
	browsertest.Eval[bool](p, `(tarnViewer.clock.now = () => Date.now() + 15 * 60e3, true)`)
	p.Click("#viewer-next")
	waitPage(t, p, 3, 2)
	if n := presigns(); n == 0 {
		t.Error("URLs due for renewal were used without asking for new ones")
	}

	// tarn's clock 20 minutes back: the URLs it signs now have expired in MinIO's eyes.
	// The browser's clock still makes every URL due, so the viewer asks for new ones, the
	// store refuses them, the viewer asks once more, and says so when that fails too.
	v.Clock.Advance(-20 * time.Minute)
	p.Click("#viewer-next")
	p.WaitFor("the refusal", `document.querySelector("#viewer-status.error")`)
	if got := p.Text("#viewer-status"); !strings.Contains(got, "refused") || !strings.Contains(got, "fresh URL") {
		t.Errorf("after the store refused a renewed URL the viewer says %q", got)
	}
	p.TakeErrors() // the browser logs the store's 403s

	// tarn's clock right again, and the browser's 30 minutes back: the refused URLs in the
	// viewer's cache look fresh to it, the store refuses them, and the viewer renews them
	// once and reads the page.
	v.Clock.Advance(20 * time.Minute)
	presigns()
	browsertest.Eval[bool](p, `(tarnViewer.clock.now = () => Date.now() - 30 * 60e3, true)`)
	p.Click("#viewer-next")
	waitPage(t, p, 3, 3)
	if n := decodedImages(p); n != 50 {
		t.Errorf("%d images decoded after the renewal, want 50", n)
	}
	if n := presigns(); n == 0 {
		t.Error("the store refused cached URLs and the viewer read the page without new ones")
	}
	p.TakeErrors()
}

// TestViewerOutsider checks that a signed-in user of another org gets no rows of a
// private dataset and that its page makes no request to the store.
func TestViewerOutsider(t *testing.T) {
	m := miniotest.Start(t)
	v := newMinIOViewerEnv(t, m)
	ctx := context.Background()
	if _, err := v.admin.CreateOrg(ctx, "rival"); err != nil {
		t.Fatal(err)
	}
	token := v.NewUser(t, "eve", "rival", "admin")
	p := browsertest.New(t)
	v.signIn(p, token)
	p.Requests()
	if status := p.Navigate(v.url + "/orgs/acme/datasets/pets"); status != 403 {
		t.Errorf("an outsider opening the dataset got %d, want 403", status)
	}
	if browsertest.Eval[bool](p, `!!document.querySelector("#viewer")`) {
		t.Error("the outsider's page has a viewer")
	}
	for _, r := range p.Requests() {
		if strings.HasPrefix(r, m.Endpoint) {
			t.Errorf("the outsider's page requested %s from the store", r)
		}
	}
}

// TestViewerExplainsCORS runs the viewer against a MinIO whose CORS setting allows another
// origin than the console's: the browser refuses the reads, and the page says which rule
// is missing and the command that adds it, instead of showing broken images.
func TestViewerExplainsCORS(t *testing.T) {
	m := miniotest.StartWith(t, miniotest.Options{CORSAllowOrigin: "http://127.0.0.9:9"})
	v := newMinIOViewerEnv(t, m)
	p := browsertest.New(t)
	v.signIn(p, v.AdminToken)
	p.Navigate(v.url + "/orgs/acme/datasets/pets")
	p.WaitFor("the viewer's error", `document.querySelector("#viewer-status.error")`)
	got := p.Text("#viewer-status")
	for _, want := range []string{"CORS", v.url, "Range", "tarn cors set s3://" + m.Bucket + "/viewer/pets --origin " + v.url} {
		if !strings.Contains(got, want) {
			t.Errorf("the viewer's explanation lacks %q: %q", want, got)
		}
	}
	if n := browsertest.Eval[int](p, `document.querySelectorAll("#viewer-grid img").length`); n != 0 {
		t.Errorf("the grid shows %d images", n)
	}
	p.Screenshot("viewer-cors")
	if errs := p.TakeErrors(); len(errs) == 0 {
		t.Error("the browser reported no blocked request: was CORS in the way at all?")
	}
}

// TestViewerShowsEveryType shows one row of every column type in the grid and the row
// view: integers beyond JavaScript's 2^53 exactly, floats, booleans, text and JSON cut
// short, bytes as their size, embeddings and tensors as their shape and first values, and
// nulls; and every value but a null has a download.
func TestViewerShowsEveryType(t *testing.T) {
	d := newDatasetEnv(t)
	ctx := t.Context()
	admin := d.Admin(t)
	if _, err := admin.CreateDataset(ctx, "local", api.CreateDatasetRequest{Name: "types", Location: d.root + "/types", CredsKey: "disk"}); err != nil {
		t.Fatal(err)
	}
	schema := dataset.NewSchema(
		dataset.Column{Name: "big", Type: dataset.T(dataset.Int64)},
		dataset.Column{Name: "u", Type: dataset.T(dataset.Uint64)},
		dataset.Column{Name: "f", Type: dataset.T(dataset.Float32)},
		dataset.Column{Name: "ok", Type: dataset.T(dataset.Bool)},
		dataset.Column{Name: "text", Type: dataset.T(dataset.Text)},
		dataset.Column{Name: "meta", Type: dataset.T(dataset.JSON)},
		dataset.Column{Name: "blob", Type: dataset.T(dataset.Bytes)},
		dataset.Column{Name: "emb", Type: dataset.EmbeddingOf(6)},
		dataset.Column{Name: "mask", Type: dataset.TensorOf(dataset.Uint8, 2, 3)},
		dataset.Column{Name: "note", Type: dataset.T(dataset.Text), Nullable: true},
	)
	ds, err := dataset.CreatePath(ctx, "al://local/types", schema, dataset.PathOptions{Client: admin})
	if err != nil {
		t.Fatal(err)
	}
	w := ds.Appender(dataset.AppenderOptions{})
	long := strings.Repeat("long text ", 20)
	if err := w.Append(ctx, dataset.Row{"big": int64(9007199254740993), "u": uint64(18446744073709551615), "f": float32(0.1),
		"ok": true, "text": long, "meta": `{"b": [1, 2], "a": "x"}`, "blob": []byte{1, 2, 3},
		"emb": []float32{0.5, -1, 2, 3, 4, 5}, "mask": []uint8{1, 0, 1, 0, 1, 0}, "note": nil}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(ctx, "one row"); err != nil {
		t.Fatal(err)
	}
	w.Close()
	ds.Close()

	p := browsertest.New(t)
	d.signIn(p, d.AdminToken)
	p.Navigate(d.url + "/orgs/local/datasets/types")
	waitPage(t, p, 2, 1)
	cells := browsertest.Eval[[]string](p, `[...document.querySelectorAll("#viewer-grid tbody td")].map(td => td.textContent)`)
	want := []string{"0", "9007199254740993", "18446744073709551615", "0.1", "true", strings.Repeat("long text ", 6) + "…",
		`{"b": [1, 2], "a": "x"}`, "<bytes 3 B>", "[6] 0.5, -1, 2, 3, …", "[2×3] 1, 0, 1, 0, …", "null"}
	if strings.Join(cells, "|") != strings.Join(want, "|") {
		t.Errorf("the grid shows\n%q\nwant\n%q", cells, want)
	}
	p.Screenshot("viewer-types")
	p.Click("#viewer-grid tbody tr:first-child button")
	p.WaitFor("the row dialog", `document.querySelector("#viewer-row")?.open`)
	row := p.Text("#viewer-row")
	for _, s := range []string{long, `"a": "x"`, "[0.5, -1, 2, 3, 4, 5]", "[1, 0, 1, 0, 1, 0]", "Download blob (3 B)"} {
		if !strings.Contains(row, s) {
			t.Errorf("the row view lacks %q: %q", s, row)
		}
	}
	// The page's CSP keeps a script from fetching the blob: URLs; the names say what each is.
	names := browsertest.Eval[[]string](p, `[...document.querySelectorAll("#viewer-row a[download]")].filter(a => a.href.startsWith("blob:")).map(a => a.download)`)
	if got := strings.Join(names, " "); got != "row-0-big.txt row-0-u.txt row-0-f.txt row-0-ok.txt row-0-text.txt row-0-meta.json row-0-blob.bin row-0-emb.txt row-0-mask.txt" {
		t.Errorf("the row view's downloads: %s", got)
	}
	p.Screenshot("viewer-types-row")
}
