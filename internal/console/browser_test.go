package console_test

import (
	"os"
	"strings"
	"testing"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/azuritetest"
	"github.com/tarnhq/tarn/internal/browsertest"
	"github.com/tarnhq/tarn/internal/miniotest"
)

// TestMain stops the shared Chromium, MinIO and Azurite after the tests.
func TestMain(m *testing.M) {
	os.Exit(miniotest.Run(func() int { return azuritetest.Run(func() int { return browsertest.Run(m.Run) }) }))
}

// TestConsoleInABrowser walks the console's first pages in a real headless Chromium as a
// new admin would: sign in with the admin token (after a refused one), see the orgs, open
// the datasets of org local (empty, then two), a missing org, sign out. It saves a screenshot of each page (go test -artifacts keeps
// them) and fails on any script or CSP error the pages cause.
func TestConsoleInABrowser(t *testing.T) {
	e := newEnv(t)
	p := browsertest.New(t)

	p.Navigate(e.url + "/")
	if !strings.HasSuffix(p.URL(), "/login") {
		t.Fatalf("signed out, / led to %s, want /login", p.URL())
	}
	p.Screenshot("login")
	p.Fill("input[name=token]", "tarn_not-a-token")
	p.Submit("form")
	if got := p.Text("main"); !strings.Contains(got, "token") {
		t.Errorf("a bad token: the page says %q, want an error about the token", got)
	}
	p.Screenshot("login-refused")

	p.Fill("input[name=token]", e.AdminToken)
	p.Submit("form")
	if !strings.HasSuffix(p.URL(), "/") || p.Text("h1") != "Your orgs" || !strings.Contains(p.Text("main"), "local") {
		t.Fatalf("after sign-in: %s with %q, want / with Your orgs", p.URL(), p.Text("h1"))
	}
	p.Screenshot("orgs")

	// The server's own org "local", of which the admin is a member: its datasets.
	p.Navigate(e.url + "/orgs/local")
	if got := p.Text("main"); !strings.Contains(got, "tarn ds create al://local/NAME") {
		t.Fatalf("datasets page of local, empty: %q, want the command that creates one", got)
	}
	p.Screenshot("org-empty")
	ctx := t.Context()
	admin := e.Admin(t)
	root := "file://" + e.DataDir + "/datasets/local"
	if _, err := admin.PutCredsKey(ctx, "local", "disk", api.PutCredsKeyRequest{Provider: api.ProviderFile,
		Config: api.CredsKeyConfig{Roots: []string{root}}}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"coco", "imagenet-1k"} {
		if _, err := admin.CreateDataset(ctx, "local", api.CreateDatasetRequest{Name: name, Location: root + "/" + name, CredsKey: "disk"}); err != nil {
			t.Fatal(err)
		}
	}
	p.Navigate(e.url + "/orgs/local")
	if got := p.Text("main"); !strings.Contains(got, "coco") || !strings.Contains(got, "imagenet-1k") || !strings.Contains(got, "disk") {
		t.Fatalf("datasets page: %q, want both datasets and their creds key", got)
	}
	p.Screenshot("org-datasets")
	p.Navigate(e.url + "/orgs/nosuch")
	p.Screenshot("not-found")

	p.Submit("form[action='/logout']")
	if !strings.HasSuffix(p.URL(), "/login") {
		t.Errorf("after sign-out: %s, want /login", p.URL())
	}
	if p.Navigate(e.url + "/orgs/local"); !strings.HasSuffix(p.URL(), "/login") {
		t.Errorf("after sign-out, an org page led to %s, want /login", p.URL())
	}
}

// signIn signs p in through the sign-in page with token.
func (e *env) signIn(p *browsertest.Page, token string) {
	p.Navigate(e.url + "/login")
	p.Fill("input[name=token]", token)
	p.Submit("form")
}
