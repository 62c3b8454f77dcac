package console_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/dataset"
	"github.com/tarnhq/tarn/internal/browsertest"
	"github.com/tarnhq/tarn/internal/miniotest"
)

// TestNewTeamWalkthroughInABrowser walks what a platform engineer does on a fresh tarn, in
// headless Chromium and only through the console's pages: sign in with the admin token,
// create an org and a user and make the user a member, add an aws creds key for a real
// MinIO through its form, read the trust policy, press Verify and see every check pass,
// set the default storage, create a dataset and connect an existing one, add an Azure
// workload identity with Display Name, Client ID and Tenant ID, create and revoke a token,
// and filter the audit log. It saves a screenshot of every page on the way (walk-*).
func TestNewTeamWalkthroughInABrowser(t *testing.T) {
	m := miniotest.Start(t)
	e := newIdentityEnv(t, m.HostPort())       // the Azure identity's issuer is a stand-in too
	e.Clock.Advance(time.Since(e.Clock.Now())) // MinIO checks the viewer's presigned URLs on its own clock
	p := browsertest.New(t)
	wantText := func(what, selector string, wants ...string) {
		t.Helper()
		got := p.Text(selector)
		for _, want := range wants {
			if !strings.Contains(got, want) {
				t.Fatalf("%s: %s reads %q, want %q", what, selector, got, want)
			}
		}
	}

	e.signIn(p, e.AdminToken)

	p.Navigate(e.url + "/admin/orgs")
	p.Fill("#name", "acme")
	p.Submit("form[action='/admin/orgs']")
	wantText("org created", "main", "acme")
	p.Screenshot("walk-01-org-created")

	p.Navigate(e.url + "/admin/users")
	p.Fill("#name", "ann")
	p.Submit("form[action='/admin/users']")
	annToken := p.Text("#new-token")
	if !strings.HasPrefix(annToken, "tarn_") {
		t.Fatalf("new user: token block reads %q", annToken)
	}
	p.Screenshot("walk-02-user-created")

	p.Navigate(e.url + "/orgs/acme/members")
	p.Fill("#user", "ann")
	p.Fill("#role", "writer")
	p.Submit("form[action='/orgs/acme/members']")
	wantText("member added", "table", "ann", "writer")
	p.Screenshot("walk-03-member-added")

	// The aws creds key for MinIO, typed into its form as a person would.
	k := m.CredsKey("s3://" + m.Bucket + "/datasets")
	p.Navigate(e.url + "/orgs/acme/creds-keys/new?provider=aws")
	for id, v := range map[string]string{"#k-name": "minio", "#k-roots": k.Config.Roots[0], "#k-role_arn": k.Config.RoleARN,
		"#k-region": k.Config.Region, "#k-source": k.Config.Source, "#k-access_key_id": k.Config.AccessKeyID, "#k-secret": k.Secret,
		"#k-sts_endpoint": k.Config.STSEndpoint, "#k-s3_endpoint": k.Config.S3Endpoint} {
		p.Fill(id, v)
	}
	p.Click("input[name=path_style]")
	p.Screenshot("walk-04-key-form")
	p.Submit("form.keys-form")
	if !strings.HasSuffix(p.URL(), "/orgs/acme/creds-keys/minio") {
		t.Fatalf("after adding the key: %s, %q", p.URL(), p.Text("main"))
	}
	wantText("key saved", "main", "Creds key minio saved.", "secret stored")
	if strings.Contains(p.Text("body"), k.Secret) {
		t.Fatal("the key's page shows its secret")
	}

	// MinIO cannot say who calls it: the principal is given, as the page asks.
	p.Fill("input[name=principal_arn]", "arn:aws:iam::123456789012:user/tarn")
	p.Submit("input[name=principal_arn]")
	wantText("trust policy", "#trust-policy", "sts:AssumeRole", "sts:ExternalId")
	p.Screenshot("walk-05-key-policies")
	p.Fill("#v-location", k.Config.Roots[0]+"/verify")
	p.Submit("form.keys-verify")
	checks := p.Text(".keys-checks")
	if !strings.Contains(checks, "ok") || strings.Contains(checks, "failed") {
		t.Fatalf("verify on MinIO: %q, want every check to pass", checks)
	}
	wantText("trust policy after verify", "#trust-policy", "sts:ExternalId")
	p.Screenshot("walk-06-key-verified")

	p.Navigate(e.url + "/orgs/acme/storage")
	p.Fill("#s-location", k.Config.Roots[0]+"/team")
	p.Fill("#s-key", "minio")
	p.Submit("form[action='/orgs/acme/storage']")
	wantText("default storage", "main", "goes to "+k.Config.Roots[0]+"/team/NAME")
	p.Screenshot("walk-07-storage")

	// A dataset written before tarn knew it, to connect: three rows under the key's roots.
	ctx := t.Context()
	admin := e.Admin(t)
	old := k.Config.Roots[0] + "/archive/imagenet"
	if _, err := admin.CreateDataset(ctx, "acme", api.CreateDatasetRequest{Name: "scratch", Location: old, CredsKey: "minio"}); err != nil {
		t.Fatal(err)
	}
	ds, err := dataset.CreatePath(ctx, "al://acme/scratch", dataset.NewSchema(dataset.Column{Name: "label", Type: dataset.T(dataset.Text)}),
		dataset.PathOptions{Client: admin})
	if err != nil {
		t.Fatal(err)
	}
	w := ds.Appender(dataset.AppenderOptions{})
	for _, label := range []string{"cat", "dog", "owl"} {
		if err := w.Append(ctx, dataset.Row{"label": label}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Commit(ctx, "first images"); err != nil {
		t.Fatal(err)
	}
	w.Close()
	ds.Close()
	if err := admin.DeleteDataset(ctx, "acme", "scratch"); err != nil {
		t.Fatal(err)
	}

	p.Navigate(e.url + "/orgs/acme")
	p.Fill("#create-name", "coco")
	p.Submit("#create-name")
	p.Navigate(e.url + "/orgs/acme")
	p.Fill("#connect-location", old)
	p.Fill("#connect-name", "imagenet")
	p.Fill("#connect-key", "minio")
	p.Submit("#connect-name")
	p.Navigate(e.url + "/orgs/acme")
	wantText("datasets", "main", "al://acme/coco", k.Config.Roots[0]+"/team/coco", "al://acme/imagenet", "first images")
	p.Screenshot("walk-08-datasets")
	p.Navigate(e.url + "/orgs/acme/datasets/imagenet")
	wantText("connected dataset", "main", "label", "first images")
	p.WaitFor("the viewer", `document.querySelector("#viewer")?.dataset.ready || document.querySelector("#viewer-status.error")`)
	wantText("the viewer of the connected dataset", "#viewer", "rows 1–3 of 3", "cat", "dog", "owl")
	p.Screenshot("walk-09-dataset")

	p.Navigate(e.url + "/orgs/acme/identities?provider=azure")
	for id, v := range map[string]string{"#name": "trainer", "#display_name": "ml-trainer-identity",
		"#client_id": idClient, "#tenant_id": idTenant, "#role": "reader"} {
		p.Fill(id, v)
	}
	p.Submit("#tenant_id")
	wantText("identity added", "main", "ml-trainer-identity", "TARN_AUTH_PROVIDER=azure", idClient)
	p.Screenshot("walk-10-identity")

	p.Navigate(e.url + "/tokens")
	p.Fill("#name", "ci")
	p.Fill("#org", "acme")
	p.Fill("#role", "reader")
	p.Submit("form[action='/tokens']")
	if tok := p.Text("#new-token"); !strings.HasPrefix(tok, "tarn_") {
		t.Fatalf("new token: block reads %q", tok)
	}
	p.Screenshot("walk-11-token-created")
	toks, err := admin.Tokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range toks {
		if tok.Name == "ci" {
			p.Submit("form[action='/tokens/" + tok.ID + "/revoke']")
		}
	}
	wantText("token revoked", "main", "revoked")
	p.Screenshot("walk-12-token-revoked")

	p.Navigate(e.url + "/orgs/acme/audit")
	p.Fill("#action", "creds_key.verify")
	p.Submit("form.filters")
	records := p.Text("table")
	if !strings.Contains(records, "creds_key.verify") || strings.Contains(records, "dataset.create") {
		t.Errorf("audit filtered by creds_key.verify: %q", records)
	}
	p.Screenshot("walk-13-audit-filtered")

	// The user created on the way signs in with the token the console showed once.
	p.Submit("form[action='/logout']")
	p.Fill("input[name=token]", annToken)
	p.Submit("form")
	wantText("ann signed in", "header", "ann")
	p.Navigate(e.url + "/orgs/acme")
	p.Screenshot("walk-14-writer-datasets")
}
