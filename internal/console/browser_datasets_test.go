package console_test

import (
	"strings"
	"testing"

	"github.com/tarnhq/tarn/internal/browsertest"
)

// TestDatasetsAndMembersInABrowser walks the datasets and members pages in a real headless
// Chromium as an org admin would: the empty list with its forms, a refused create, a
// created and a connected dataset with rows, its page, a delete with a wrong name, then the
// members page, adding a member and changing his role. It saves a screenshot of each page.
func TestDatasetsAndMembersInABrowser(t *testing.T) {
	d := newDatasetEnv(t)
	d.NewUser(t, "bob", "", "")
	p := browsertest.New(t)
	d.signIn(p, d.AdminToken)

	p.Navigate(d.url + "/orgs/local")
	if got := p.Text("main"); !strings.Contains(got, "Create a dataset") || !strings.Contains(got, "Connect an existing location") {
		t.Fatalf("the empty datasets page: %q, want the create and connect forms", got)
	}
	p.Screenshot("datasets-empty")

	p.Fill("#create-name", "Not Valid")
	p.Submit("form[action='/orgs/local/datasets']")
	if got := p.Text(".field-error"); !strings.Contains(got, "dataset") {
		t.Errorf("a bad name: the error shown is %q", got)
	}
	p.Screenshot("datasets-refused")

	p.Fill("#create-name", "coco")
	p.Submit("form[action='/orgs/local/datasets']")
	if !strings.HasSuffix(p.URL(), "/orgs/local/datasets/coco") {
		t.Fatalf("after create: %s, want the dataset's page", p.URL())
	}
	p.Screenshot("dataset-new")

	d.withRows(t, "imagenet-1k", "import of the first shard", 1200)
	p.Requests()
	p.Navigate(d.url + "/orgs/local/datasets/imagenet-1k")
	if got := p.Text("main"); !strings.Contains(got, "import of the first shard") || !strings.Contains(got, "label") {
		t.Errorf("the dataset page: %q, want its versions and schema", got)
	}
	// Local disk has no URLs of its own: the viewer reads the data files through tarn's
	// signed object URLs.
	p.WaitFor("the viewer", `document.querySelector("#viewer")?.dataset.ready || document.querySelector("#viewer-status.error")`)
	if got := p.Text("#viewer-status"); got != "" {
		t.Errorf("the viewer of a file dataset says %q", got)
	}
	if got := p.Text("#viewer-where"); got != "rows 1–50 of 1200" {
		t.Errorf("the viewer of a file dataset shows %q", got)
	}
	objects := 0
	for _, r := range p.Requests() {
		if strings.HasPrefix(r, d.url+"/api/v1/orgs/local/datasets/imagenet-1k/objects/data/") {
			objects++
		}
	}
	if objects == 0 {
		t.Error("the viewer read no data file through tarn's object URLs")
	}
	p.Screenshot("dataset-rows")
	p.Fill("#confirm", "imagenet")
	p.Submit("form:has(#confirm)")
	if got := p.Text(".field-error"); !strings.Contains(got, "imagenet-1k") {
		t.Errorf("a wrong typed name: the error shown is %q", got)
	}
	p.Screenshot("dataset-delete-refused")

	p.Navigate(d.url + "/orgs/local")
	if got := p.Text("table"); !strings.Contains(got, "1200") || !strings.Contains(got, "coco") {
		t.Errorf("the datasets list: %q, want both datasets and 1200 rows", got)
	}
	p.Screenshot("datasets-list")

	p.Navigate(d.url + "/orgs/local/members")
	p.Fill("#user", "bob")
	p.Submit("form[action='/orgs/local/members']")
	if got := p.Text("main"); !strings.Contains(got, "Added bob") {
		t.Errorf("after adding bob: %q", got)
	}
	p.Screenshot("members")
}
