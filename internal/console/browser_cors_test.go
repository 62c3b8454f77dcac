package console_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/browsertest"
	"github.com/tarnhq/tarn/internal/miniotest"
	"github.com/tarnhq/tarn/internal/testenv"
)

// TestCorsCheckInABrowser runs the creds key page's CORS check in headless Chromium against
// a MinIO that allows only another origin: the console's own origin (the default) fails
// with the rule to add, the allowed one passes; a malformed origin is refused at the field.
func TestCorsCheckInABrowser(t *testing.T) {
	const viewer = "http://viewer.test"
	m := miniotest.StartWith(t, miniotest.Options{CORSAllowOrigin: viewer})
	e := newEnvWith(t, testenv.Options{AllowEndpoints: []string{m.HostPort()}})
	e.Clock.Advance(time.Since(e.Clock.Now())) // MinIO checks signing times on its own clock
	ctx := t.Context()
	admin := e.Admin(t)
	if _, err := admin.CreateOrg(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	bucket := "s3://" + m.Bucket
	if _, err := admin.PutCredsKey(ctx, "acme", "minio", m.CredsKey(bucket)); err != nil {
		t.Fatal(err)
	}
	p := browsertest.New(t)
	e.signIn(p, e.AdminToken)

	p.Navigate(e.url + "/orgs/acme/creds-keys/minio")
	if got := p.Text("main"); !strings.Contains(got, "No dataset of this org that you can see is on this key") {
		t.Errorf("a key without datasets: %q", got)
	}
	if _, err := admin.CreateDataset(ctx, "acme", api.CreateDatasetRequest{Name: "coco", Location: bucket + "/coco", CredsKey: "minio"}); err != nil {
		t.Fatal(err)
	}
	if err := m.Put(ctx, "coco/tarn.json", `{}`); err != nil {
		t.Fatal(err)
	}

	p.Navigate(e.url + "/orgs/acme/creds-keys/minio")
	p.Submit("form.keys-cors") // the origin's default is the console's own
	checks, problem := p.Text(".keys-cors-checks"), p.Text("#cors ~ p.error")
	if !strings.Contains(checks, "failed") || !strings.Contains(problem, "AllowedOrigins ["+e.url+"]") || !strings.Contains(problem, "tarn cors set") ||
		strings.Contains(checks+problem, "X-Amz-Signature") {
		t.Errorf("CORS check for the console's origin on MinIO allowing %s:\n%s\n%s", viewer, checks, problem)
	}
	p.Screenshot("cors-failed")

	p.Fill("#c-origin", viewer)
	p.Submit("form.keys-cors")
	if got := p.Text(".keys-cors-checks"); strings.Contains(got, "failed") || strings.Count(got, "ok") < 6 {
		t.Errorf("CORS check for the allowed origin: %q", got)
	}
	if got := p.Text("main"); !strings.Contains(got, "A browser at "+viewer+" can read this dataset") {
		t.Errorf("after a passing check: %q", got)
	}
	p.Screenshot("cors-ok")

	p.Fill("#c-origin", "viewer.test/console")
	if code := p.Submit("form.keys-cors"); code != 400 {
		t.Errorf("a malformed origin answered %d, want 400", code)
	}
	if got := p.Text("#cors ~ form .field-error"); !strings.Contains(got, "scheme") {
		t.Errorf("a malformed origin: %q, want the field's error", got)
	}
	if errs := p.TakeErrors(); len(errs) != 1 || !strings.Contains(errs[0], "400") {
		t.Errorf("page errors %q, want the 400 only", errs)
	}
}
