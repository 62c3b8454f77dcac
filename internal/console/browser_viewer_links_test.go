package console_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/dataset"
	"github.com/tarnhq/tarn/dataset/ingest"
	"github.com/tarnhq/tarn/internal/browsertest"
	"github.com/tarnhq/tarn/internal/miniotest"
	"github.com/tarnhq/tarn/internal/testenv"
)

// linkImages is the number of images that al://acme/web links to.
const linkImages = 30

// TestViewerShowsLinkedImages: a dataset of link(image) rows, imported by `tarn ds import
// --link` (ingest.Links) from another prefix of the bucket, read through a second creds
// key linked to the dataset, shows every linked image decoded, read straight from MinIO;
// a row whose link lies outside that key's roots shows "—" with tarn's reason, not an
// error page; the row view opens the linked object. In "another origin" the second key
// reaches MinIO as localhost, an origin the page's Content-Security-Policy allows only
// because tarn learnt it from the linked key.
func TestViewerShowsLinkedImages(t *testing.T) {
	for _, host := range []string{"127.0.0.1", "localhost"} {
		t.Run(host, func(t *testing.T) { viewLinkedImages(t, host) })
	}
}

// viewLinkedImages runs TestViewerShowsLinkedImages with the images' creds key reaching
// MinIO at host.
func viewLinkedImages(t *testing.T, host string) {
	m := miniotest.Start(t)
	imgEndpoint := strings.Replace(m.Endpoint, "127.0.0.1", host, 1)
	e := newEnvWith(t, testenv.Options{AllowEndpoints: []string{m.HostPort(), strings.TrimPrefix(imgEndpoint, "http://")}})
	e.Clock.Advance(time.Since(e.Clock.Now())) // the store checks presigned URLs on its own clock
	ctx := t.Context()
	admin := e.Admin(t)
	base, images := "s3://"+m.Bucket, "s3://"+m.Bucket+"/images"
	imgKey := m.CredsKey(images)
	imgKey.Config.S3Endpoint = imgEndpoint
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := admin.CreateOrg(ctx, "acme")
	must(err)
	_, err = admin.PutCredsKey(ctx, "acme", "store", m.CredsKey(base+"/viewer"))
	must(err)
	_, err = admin.PutCredsKey(ctx, "acme", "images", imgKey)
	must(err)
	_, err = admin.SetDefaultStorage(ctx, "acme", api.DefaultStorage{Location: base + "/viewer", CredsKey: "store"})
	must(err)
	_, err = admin.CreateDataset(ctx, "acme", api.CreateDatasetRequest{Name: "web"})
	must(err)
	_, err = admin.AddLinkedCredsKey(ctx, "acme", "web", "images")
	must(err)

	dir := t.TempDir()
	writeImages(t, dir, linkImages)
	must(filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		return m.Put(ctx, "images/"+filepath.ToSlash(rel), string(b))
	}))
	path := dataset.PathOptions{Client: admin}
	_, err = ingest.Links(ctx, images, "al://acme/web", ingest.LinkOptions{Path: path, CredsKey: "images"})
	must(err)
	// One more row links to an object of the dataset's own store, outside the key's roots.
	must(m.Put(ctx, "viewer/secret.png", "not an image"))
	ds, err := dataset.OpenPath(ctx, "al://acme/web", dataset.PathOptions{Client: admin, Mode: api.ModeWrite})
	must(err)
	w := ds.Appender(dataset.AppenderOptions{})
	must(w.Append(ctx, dataset.Row{"url": base + "/viewer/secret.png", "filename": "secret.png"}))
	_, err = w.Commit(ctx, "a link outside the key's roots")
	must(err)
	must(w.Close())
	must(ds.Close())

	p := browsertest.New(t)
	e.signIn(p, e.NewUser(t, "rita", "acme", "reader"))
	p.Requests()
	p.Navigate(e.url + "/orgs/acme/datasets/web")
	if got := waitPage(t, p, 3, 1); got != "rows 1–31 of 31" {
		t.Errorf("pager: %q", got)
	}
	if n := decodedImages(p); n != linkImages {
		t.Errorf("%d linked images decoded, want %d", n, linkImages)
	}
	p.Screenshot("viewer-links-" + host)
	var fromStore []string // requests to tarn and for the dataset's own objects
	linked := 0
	for _, r := range p.Requests() {
		if strings.HasPrefix(r, imgEndpoint+"/"+m.Bucket+"/images/") {
			linked++
		} else {
			fromStore = append(fromStore, r)
		}
	}
	checkRequests(t, fromStore, e.url, m.Endpoint)
	if linked != linkImages {
		t.Errorf("%d requests for linked images went to MinIO at %s, want %d", linked, imgEndpoint, linkImages)
	}
	refused := p.Text("#viewer-grid tbody tr:last-child td:nth-child(2)")
	why := browsertest.Eval[string](p, `document.querySelector("#viewer-grid tbody tr:last-child .link-refused")?.title ?? ""`)
	if refused != "—" || !strings.Contains(why, "outside the locations") {
		t.Errorf("the link outside the key's roots shows %q (title %q), want — with tarn's reason", refused, why)
	}

	p.Click("#viewer-grid tbody tr:first-child button")
	p.WaitFor("the row dialog", `document.querySelector("#viewer-row")?.open`)
	open := browsertest.Eval[string](p, `(() => { const a = document.querySelector("#viewer-row a.open"); return a ? a.target + " " + a.rel + " " + a.href : "" })()`)
	if !strings.HasPrefix(open, "_blank noopener noreferrer "+imgEndpoint+"/"+m.Bucket+"/images/") {
		t.Errorf("the row view's open link: %q", open)
	}
	if !browsertest.Eval[bool](p, `document.querySelector("#viewer-row .viewer-link img")?.naturalWidth === 48`) {
		t.Error("the row view's linked image is not decoded at 48 pixels wide")
	}
	p.Screenshot("viewer-links-row-" + host)
	p.TakeErrors()
}
