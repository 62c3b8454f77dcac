package bench

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"image"
	"image/jpeg"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"

	"github.com/tarnhq/tarn/dataset"
	"github.com/tarnhq/tarn/internal/browsertest"
	"github.com/tarnhq/tarn/internal/miniotest"
)

const (
	viewerRows     = 20_000
	viewerDistinct = 64 // distinct JPEGs, cycled: neighbours in a page always differ
	viewerPage     = 50
)

// viewerJPEGs returns n distinct JPEGs of about 100 KiB: 336×336 pixels of noise at
// quality 90, which compress about as badly as photos of that size.
func viewerJPEGs(b *testing.B, n int) [][]byte {
	b.Helper()
	out := make([][]byte, n)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range out {
		img := image.NewRGBA(image.Rect(0, 0, 336, 336))
		for p := range img.Pix {
			img.Pix[p] = byte(rng.Uint32())
		}
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
			b.Fatal(err)
		}
		out[i] = buf.Bytes()
	}
	return out
}

// BenchmarkViewerPage measures the console's dataset viewer in headless Chromium on a
// 20,000-row dataset of ~100 KiB JPEGs on MinIO (imported through dataset.CreatePath and an
// Appender): the time from navigation until the first page's 50 images are decoded, the time
// of the next page from the click until its images are decoded, and for each the bytes the
// browser read from the store ÷ the bytes of the images shown (target ≤ 2; ≤ 1.5 s for the
// first page). The baseline is the same 50 JPEGs stored as 50 objects and shown by a plain
// page of 50 <img> tags with presigned URLs, timed from navigation until decoded in the same
// browser; ratio = viewer first page ÷ baseline.
func BenchmarkViewerPage(b *testing.B) {
	ctx := context.Background()
	env := newS3Env(b, miniotest.Start(b), "")
	env.Clock.Advance(time.Since(env.Clock.Now())) // MinIO checks presigned URLs on its own clock
	jpegs := viewerJPEGs(b, viewerDistinct)
	path := "al://" + benchOrg + "/" + benchDataset

	schema := dataset.NewSchema(
		dataset.Column{Name: "image", Type: dataset.T(dataset.Image)},
		dataset.Column{Name: "filename", Type: dataset.T(dataset.Text)},
		dataset.Column{Name: "label", Type: dataset.T(dataset.Int64)},
	)
	ds, err := dataset.CreatePath(ctx, path, schema, dataset.PathOptions{Client: env.admin})
	if err != nil {
		b.Fatal(err)
	}
	w := ds.Appender(dataset.AppenderOptions{RowGroupBytes: 64 << 20, FileBytes: 64 << 20})
	for i := range viewerRows {
		row := dataset.Row{"image": dataset.ImageValue{Format: "jpeg", Data: jpegs[i%viewerDistinct]},
			"filename": fmt.Sprintf("img-%05d.jpg", i), "label": int64(i % 1000)}
		if err := w.Append(ctx, row); err != nil {
			b.Fatal(err)
		}
	}
	v, err := w.Commit(ctx, "import")
	if err != nil {
		b.Fatal(err)
	}
	var stored int64
	for _, f := range v.Files {
		stored += f.Bytes
	}
	w.Close()
	ds.Close()

	// The baseline's objects: the first page's images, one object each, and a page of
	// <img> tags that presign with MinIO's root keys.
	srv := env.minio
	root := srv.S3(srv.RootUser, srv.RootPassword, "")
	presigner := s3.NewPresignClient(root)
	var imgs strings.Builder
	var g errgroup.Group
	for i := range viewerPage {
		key := fmt.Sprintf("viewer-baseline/img-%05d.jpg", i)
		g.Go(func() error {
			_, err := root.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(srv.Bucket), Key: aws.String(key), Body: bytes.NewReader(jpegs[i%viewerDistinct])})
			return err
		})
		req, err := presigner.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(srv.Bucket), Key: aws.String(key)})
		if err != nil {
			b.Fatal(err)
		}
		fmt.Fprintf(&imgs, `<img src="%s" width="112">`, html.EscapeString(req.URL))
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	baseline := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "<!doctype html><title>baseline</title><body>%s</body>", imgs.String())
	}))
	b.Cleanup(baseline.Close)
	console := httptest.NewServer(env.Server.Handler())
	b.Cleanup(console.Close)

	decodedJS := `Promise.all([...document.images].map(i => i.decode())).then(() => performance.now())`
	var first, next, base []float64
	var firstRatio, nextRatio float64
	var firstRequests int
	for range 3 {
		p := browsertest.New(b)
		p.Navigate(baseline.URL)
		base = append(base, browsertest.Eval[float64](p, decodedJS))

		p = browsertest.New(b)
		p.Navigate(console.URL + "/login")
		p.Fill("input[name=token]", env.AdminToken)
		p.Submit("form")
		p.Navigate(console.URL + "/orgs/" + benchOrg + "/datasets/" + benchDataset)
		p.WaitFor("the first page", `document.querySelector("#viewer")?.dataset.ready === "2:1" || document.querySelector("#viewer-status.error")`)
		if msg := p.Text("#viewer-status"); msg != "" {
			b.Fatalf("the viewer says %q", msg)
		}
		st := browsertest.Eval[viewerStats](p, `tarnViewer.stats.pages[0]`)
		first = append(first, st.SinceLoadMs)
		firstRatio, firstRequests = float64(st.Bytes)/float64(st.ImageBytes), st.Requests
		p.Click("#viewer-next")
		p.WaitFor("the next page", `document.querySelector("#viewer")?.dataset.ready === "2:2"`)
		st = browsertest.Eval[viewerStats](p, `tarnViewer.stats.pages[1]`)
		next = append(next, st.Ms)
		nextRatio = float64(st.Bytes) / float64(st.ImageBytes)
	}
	var jpegBytes int
	for _, j := range jpegs {
		jpegBytes += len(j)
	}
	b.ReportMetric(float64(jpegBytes)/viewerDistinct/1024, "image-KiB")
	b.ReportMetric(float64(stored)/(1<<20), "dataset-MiB")
	b.ReportMetric(best(first), "first-page-ms")
	b.ReportMetric(firstRatio, "first-page-bytes/shown")
	b.ReportMetric(float64(firstRequests), "first-page-store-requests")
	b.ReportMetric(best(next), "next-page-ms")
	b.ReportMetric(nextRatio, "next-page-bytes/shown")
	b.ReportMetric(best(base), "baseline-ms")
	b.ReportMetric(best(first)/best(base), "ratio")
}

// viewerStats is one page of tarnViewer.stats.pages (static/viewer.js).
type viewerStats struct {
	Ms          float64 `json:"ms"`
	SinceLoadMs float64 `json:"sinceLoadMs"`
	Bytes       int64   `json:"bytes"`
	Requests    int     `json:"requests"`
	ImageBytes  int64   `json:"imageBytes"`
}

// best is the smallest of xs.
func best(xs []float64) float64 {
	m := xs[0]
	for _, x := range xs[1:] {
		m = min(m, x)
	}
	return m
}
