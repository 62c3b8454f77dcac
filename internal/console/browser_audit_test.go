package console_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/browsertest"
	"github.com/tarnhq/tarn/internal/store"
)

// TestAuditAndAdminInABrowser walks the superuser's pages and the audit log in headless
// Chromium: create an org and a user, see the user's token once, then read and filter the
// org's audit log, with a screenshot of each page.
func TestAuditAndAdminInABrowser(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	p := browsertest.New(t)
	e.signIn(p, e.AdminToken)

	p.Navigate(e.url + "/admin/orgs")
	p.Screenshot("admin-orgs")
	p.Fill("form[action='/admin/orgs'] input[name=name]", "acme")
	p.Submit("form[action='/admin/orgs']")
	if got := p.Text("main"); !strings.Contains(got, "Org acme created") {
		t.Fatalf("after creating acme: %q", got)
	}
	p.Screenshot("admin-orgs-created")

	p.Navigate(e.url + "/admin/users")
	p.Fill("form[action='/admin/users'] input[name=name]", "Carol")
	p.Submit("form[action='/admin/users']")
	if got := p.Text("main"); !strings.Contains(got, "must match") {
		t.Fatalf("a bad user name: %q, want the API's error", got)
	}
	p.Screenshot("admin-users-refused")
	p.Fill("form[action='/admin/users'] input[name=name]", "carol")
	p.Submit("form[action='/admin/users']")
	if got := p.Text("#new-token"); !strings.HasPrefix(got, "tarn_") {
		t.Fatalf("the new user's token block shows %q", got)
	}
	p.Screenshot("admin-users-created")

	// Some history in acme: real calls of the API, and a denial.
	admin := e.Admin(t)
	if _, err := admin.PutMember(ctx, "acme", "admin", api.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.PutMember(ctx, "acme", "carol", api.RoleReader); err != nil {
		t.Fatal(err)
	}
	root := "file://" + e.DataDir + "/datasets/acme"
	if _, err := admin.PutCredsKey(ctx, "acme", "disk", api.PutCredsKeyRequest{Provider: api.ProviderFile,
		Config: api.CredsKeyConfig{Roots: []string{root}}}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"coco", "imagenet-1k"} {
		if _, err := admin.CreateDataset(ctx, "acme", api.CreateDatasetRequest{Name: name, Location: root + "/" + name, CredsKey: "disk"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.Server.Store.AppendAudit(ctx, store.AuditRecord{Time: e.Clock.Now(), RequestID: "req-denied", Principal: "carol (tok_x)",
		Org: "acme", Action: "dataset.delete", Target: "al://acme/coco", Result: "denied",
		Detail: "deleting a dataset needs role writer in org \"acme\"; you are reader"}); err != nil {
		t.Fatal(err)
	}

	p.Navigate(e.url + "/orgs/acme/audit")
	if got := p.Text("table.audit"); !strings.Contains(got, "dataset.create") || !strings.Contains(got, "al://acme/imagenet-1k") {
		t.Fatalf("the audit log: %q, want the dataset creations", got)
	}
	p.Screenshot("audit")
	p.Fill("select[name=result]", "denied")
	p.Submit("form.filters")
	if got := p.Text("table.audit"); !strings.Contains(got, "dataset.delete") || strings.Contains(got, "dataset.create") {
		t.Fatalf("filtered by result denied: %q", got)
	}
	p.Screenshot("audit-denied")
	p.Fill("input[name=principal]", "nobody")
	p.Submit("form.filters")
	if got := p.Text("main"); !strings.Contains(got, "No audit records match these filters") {
		t.Fatalf("filtered to nothing: %q", got)
	}
	p.Screenshot("audit-none")
	p.Navigate(e.url + "/orgs/local/audit")
	p.Screenshot("audit-empty-org")
}
