package console_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/miniotest"
	"github.com/tarnhq/tarn/internal/testenv"
)

// minioKeyForm is the add form of an aws key for m, as a person fills it in.
func minioKeyForm(m *miniotest.Server, csrf, name string) url.Values {
	k := m.CredsKey("s3://" + m.Bucket + "/datasets")
	return url.Values{"csrf": {csrf}, "provider": {api.ProviderAWS}, "name": {name},
		"roots": {strings.Join(k.Config.Roots, "\n")}, "role_arn": {k.Config.RoleARN}, "region": {k.Config.Region},
		"sts_endpoint": {k.Config.STSEndpoint}, "s3_endpoint": {k.Config.S3Endpoint}, "path_style": {"on"},
		"source": {k.Config.Source}, "access_key_id": {k.Config.AccessKeyID}, "secret": {k.Secret}}
}

// wantNo fails the test if page holds secret.
func wantNo(t *testing.T, what string, r response, secret string) {
	t.Helper()
	if strings.Contains(r.body, secret) {
		t.Errorf("%s shows the secret", what)
	}
}

// TestCredsKeyOnMinIO walks an aws key for a real MinIO through the pages as an admin:
// add it with its secret, see its configuration and external ID, verify it (every check
// passes or is skipped, none fails), rotate the external ID, make it the default storage,
// and delete it after typing its name; the secret is in no page on the way.
func TestCredsKeyOnMinIO(t *testing.T) {
	m := miniotest.Start(t)
	e := newEnvWith(t, testenv.Options{AllowEndpoints: []string{m.HostPort()}})
	ctx := context.Background()
	if _, err := e.Admin(t).CreateOrg(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	b := e.browser(t)
	b.mustLogin(e.AdminToken)
	list := b.wantPage("/orgs/acme/creds-keys")
	if !strings.Contains(list.body, "No creds keys in acme yet") || !strings.Contains(list.body, `action="/orgs/acme/creds-keys/new"`) {
		t.Fatalf("empty list: want the empty state and the add form:\n%s", list.body)
	}
	form := b.wantPage("/orgs/acme/creds-keys/new?provider=aws")
	for _, want := range []string{`name="role_arn"`, `name="secret" type="password"`, `name="sts_endpoint"`, `value="aws"`} {
		if !strings.Contains(form.body, want) {
			t.Errorf("aws add form lacks %s", want)
		}
	}
	if strings.Contains(form.body, `name="service_account"`) || strings.Contains(form.body, `name="account"`) {
		t.Error("the aws add form shows fields of other providers")
	}
	secret := m.UserSecretKey
	r := b.post("/orgs/acme/creds-keys", minioKeyForm(m, b.csrf(form), "s3"), e.url)
	wantRedirect(t, "add key", r, "/orgs/acme/creds-keys/s3")

	key, err := e.Admin(t).CredsKey(ctx, "acme", "s3")
	if err != nil {
		t.Fatal(err)
	}
	page := b.wantPage("/orgs/acme/creds-keys/s3?principal_arn=arn:aws:iam::123456789012:user/tarn")
	for _, want := range []string{"Creds key s3 saved.", key.Config.ExternalID, "secret stored", m.UserAccessKey,
		`id="permission-policy"`, `id="trust-policy"`, "s3:GetObject", "sts:ExternalId"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("key page lacks %q", want)
		}
	}
	wantNo(t, "the key page", page, secret)
	wantNo(t, "the key list", b.wantPage("/orgs/acme/creds-keys"), secret)

	r = b.post("/orgs/acme/creds-keys/s3/verify", url.Values{"csrf": {b.csrf(page)}, "location": {"s3://" + m.Bucket + "/datasets/verify"}}, e.url)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("verify: %s:\n%s", r.Status, r.body)
	}
	checks := regexp.MustCompile(`<span class="badge (ok|warning|failed|skipped)">`).FindAllStringSubmatch(r.body, -1)
	if len(checks) < 3 {
		t.Fatalf("verify shows %d checks, want the API's checks:\n%s", len(checks), r.body)
	}
	for _, c := range checks {
		if c[1] == "failed" {
			t.Errorf("a verify check failed on MinIO:\n%s", r.body)
			break
		}
	}
	if !strings.Contains(r.body, `<span class="badge warning">warning</span></td>
    <td>this store ignores external IDs`) {
		t.Error("verify does not show MinIO's ignored external ID as a warning")
	}
	if !strings.Contains(r.body, `value="s3://`+m.Bucket+`/datasets/verify"`) {
		t.Error("the verify form does not keep the location it checked")
	}
	wantNo(t, "the verify page", r, secret)

	wantRedirect(t, "rotate", b.post("/orgs/acme/creds-keys/s3/rotate", url.Values{"csrf": {b.csrf(page)}}, e.url), "/orgs/acme/creds-keys/s3")
	rotated, err := e.Admin(t).CredsKey(ctx, "acme", "s3")
	if err != nil {
		t.Fatal(err)
	}
	if rotated.Config.ExternalID == key.Config.ExternalID {
		t.Error("rotate kept the external ID")
	}
	if page := b.wantPage("/orgs/acme/creds-keys/s3"); !strings.Contains(page.body, rotated.Config.ExternalID) {
		t.Error("the key page does not show the new external ID")
	}

	// Default storage on the key.
	storage := b.wantPage("/orgs/acme/storage")
	if !strings.Contains(storage.body, "acme has no default storage yet") || !strings.Contains(storage.body, `<option value="s3"`) {
		t.Fatalf("storage page before: want the empty state and the key in the select:\n%s", storage.body)
	}
	base := "s3://" + m.Bucket + "/datasets/team"
	wantRedirect(t, "set storage", b.post("/orgs/acme/storage", url.Values{"csrf": {b.csrf(storage)}, "location": {base}, "creds_key": {"s3"}}, e.url), "/orgs/acme/storage")
	storage = b.wantPage("/orgs/acme/storage")
	if !strings.Contains(storage.body, "goes to <code>"+base+"/NAME</code>") {
		t.Errorf("storage page does not say where the next dataset goes:\n%s", storage.body)
	}
	wantNo(t, "the storage page", storage, secret)
	if ds, err := e.Admin(t).CreateDataset(ctx, "acme", api.CreateDatasetRequest{Name: "coco"}); err != nil || ds.Location != base+"/coco" {
		t.Errorf("a dataset created without location went to %v (%v), the page said %s/NAME", ds, err, base)
	}

	// Delete needs the typed name.
	r = b.post("/orgs/acme/creds-keys/s3/delete", url.Values{"csrf": {b.csrf(page)}, "confirm": {"s4"}}, e.url)
	if r.StatusCode != http.StatusBadRequest || !strings.Contains(fieldError(r.body, "d-confirm"), "type the key&#39;s name, s3") || !strings.Contains(r.body, `value="s4"`) {
		t.Errorf("delete with the wrong name: %s, want 400 with the error at confirm:\n%s", r.Status, r.body)
	}
	if _, err := e.Admin(t).CredsKey(ctx, "acme", "s3"); err != nil {
		t.Fatalf("a wrongly confirmed delete deleted the key: %v", err)
	}
	// A key in use stays, and the page says why.
	r = b.post("/orgs/acme/creds-keys/s3/delete", url.Values{"csrf": {b.csrf(page)}, "confirm": {"s3"}}, e.url)
	if r.StatusCode != http.StatusConflict || !strings.Contains(r.body, "is the default storage key of org &#34;acme&#34; and is used by dataset coco") {
		t.Errorf("delete of a key in use: %s, want the API's 409 and its reason:\n%s", r.Status, r.body)
	}
	if _, err := e.Admin(t).CredsKey(ctx, "acme", "s3"); err != nil {
		t.Fatalf("a key in use was deleted: %v", err)
	}
	if _, err := e.Admin(t).PutCredsKey(ctx, "acme", "old", m.CredsKey("s3://"+m.Bucket+"/old")); err != nil {
		t.Fatal(err)
	}
	wantRedirect(t, "delete", b.post("/orgs/acme/creds-keys/old/delete", url.Values{"csrf": {b.csrf(page)}, "confirm": {"old"}}, e.url), "/orgs/acme/creds-keys")
	if _, err := e.Admin(t).CredsKey(ctx, "acme", "old"); err == nil {
		t.Fatal("delete left the key")
	}
	if list := b.wantPage("/orgs/acme/creds-keys"); !strings.Contains(list.body, "Creds key old deleted.") || strings.Contains(list.body, `creds-keys/old"`) {
		t.Errorf("the list after delete: want the flash and no key old:\n%s", list.body)
	}
}

// TestCredsKeyFormErrors posts refused forms: each comes back with the API's error at its
// field, the values typed kept, the secret typed never echoed, and markup typed escaped.
func TestCredsKeyFormErrors(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	b.mustLogin(e.AdminToken)
	csrf := b.csrf(b.wantPage("/orgs/local/creds-keys/new?provider=aws"))
	const secret = "wJalrXUtnFEMI-typed-secret"
	for _, tc := range []struct {
		name, field, msg string
		form             url.Values
		kept             []string
	}{
		{name: "bad role ARN", field: "role_arn", msg: "role_arn &#34;not-an-arn&#34; is not an IAM role ARN",
			form: url.Values{"name": {"s3"}, "roots": {"s3://acme-ml/datasets"}, "role_arn": {"not-an-arn"}, "region": {"eu-west-1"},
				"source": {"access-key"}, "access_key_id": {"AKIAEXAMPLE"}, "secret": {secret}},
			kept: []string{`value="not-an-arn"`, ">s3://acme-ml/datasets</textarea>", `value="eu-west-1"`, `value="AKIAEXAMPLE"`,
				`<option value="access-key" selected>`, `value="s3"`}},
		{name: "no roots", field: "roots", msg: "a creds key needs at least one root location",
			form: url.Values{"name": {"s3"}, "role_arn": {"arn:aws:iam::123456789012:role/tarn"}}},
		{name: "markup in the name", field: "name", msg: "creds key",
			form: url.Values{"name": {`<script>alert(1)</script>`}, "roots": {"s3://acme-ml/datasets"}},
			kept: []string{`value="&lt;script&gt;alert(1)&lt;/script&gt;"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.form.Set("csrf", csrf)
			tc.form.Set("provider", api.ProviderAWS)
			r := b.post("/orgs/local/creds-keys", tc.form, e.url)
			if r.StatusCode != http.StatusBadRequest {
				t.Fatalf("%s, want 400:\n%s", r.Status, r.body)
			}
			if !strings.Contains(fieldError(r.body, "k-"+tc.field), tc.msg) {
				t.Errorf("no error %q at the %s input:\n%s", tc.msg, tc.field, r.body)
			}
			for _, want := range tc.kept {
				if !strings.Contains(r.body, want) {
					t.Errorf("the form lost %s", want)
				}
			}
			if strings.Contains(r.body, secret) || strings.Contains(r.body, "<script>alert") {
				t.Errorf("the page echoes the secret or unescaped markup:\n%s", r.body)
			}
		})
	}
	if _, err := e.Admin(t).CredsKey(context.Background(), "local", "s3"); err == nil {
		t.Error("a refused form saved key s3")
	}
	t.Run("bad default storage", func(t *testing.T) {
		root := "file://" + e.DataDir + "/datasets/local"
		if _, err := e.Admin(t).PutCredsKey(context.Background(), "local", "disk", api.PutCredsKeyRequest{Provider: api.ProviderFile,
			Config: api.CredsKeyConfig{Roots: []string{root}}}); err != nil {
			t.Fatal(err)
		}
		page := b.wantPage("/orgs/local/storage")
		r := b.post("/orgs/local/storage", url.Values{"csrf": {b.csrf(page)}, "location": {"s3://elsewhere/x"}, "creds_key": {"disk"}}, e.url)
		if r.StatusCode != http.StatusForbidden || !strings.Contains(fieldError(r.body, "s-location"), "s3://elsewhere/x is outside the locations creds key &#34;disk&#34; may vend for") ||
			!strings.Contains(r.body, `value="s3://elsewhere/x"`) {
			t.Errorf("a location outside the key: %s, want the API's 403 with the error at location and the value kept:\n%s", r.Status, r.body)
		}
	})
}

// TestCredsKeysForReaders checks the pages from a reader's and an outsider's side: a reader
// sees the keys but no forms, and its posted add, verify, rotate, delete and storage forms
// are refused by the API with nothing changed; an outsider gets 403 naming nothing.
func TestCredsKeysForReaders(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	root := "file://" + e.DataDir + "/datasets/local"
	before, err := e.Admin(t).PutCredsKey(ctx, "local", "disk", api.PutCredsKeyRequest{Provider: api.ProviderFile,
		Config: api.CredsKeyConfig{Roots: []string{root}}})
	if err != nil {
		t.Fatal(err)
	}
	org, err := e.Admin(t).Org(ctx, "local")
	if err != nil {
		t.Fatal(err)
	}
	reader := e.browser(t)
	reader.mustLogin(e.NewUser(t, "rita", "local", "reader"))
	list := reader.wantPage("/orgs/local/creds-keys")
	if !strings.Contains(list.body, `href="/orgs/local/creds-keys/disk"`) || strings.Contains(list.body, "Add a creds key") {
		t.Errorf("a reader's list: want the key and no add form:\n%s", list.body)
	}
	page := reader.wantPage("/orgs/local/creds-keys/disk")
	for _, form := range []string{"/verify", "/rotate", "/delete"} {
		if strings.Contains(page.body, `action="/orgs/local/creds-keys/disk`+form+`"`) {
			t.Errorf("a reader's key page has the %s form", form)
		}
	}
	if s := reader.wantPage("/orgs/local/storage"); strings.Contains(s.body, `action="/orgs/local/storage"`) {
		t.Error("a reader's storage page has the set form")
	}
	csrf := reader.csrf(page)
	for path, form := range map[string]url.Values{
		"/orgs/local/creds-keys":             {"provider": {"file"}, "name": {"disk"}, "roots": {root + "/other"}},
		"/orgs/local/creds-keys/disk/verify": {},
		"/orgs/local/creds-keys/disk/rotate": {},
		"/orgs/local/creds-keys/disk/delete": {"confirm": {"disk"}},
		"/orgs/local/storage":                {"location": {root}, "creds_key": {"disk"}},
	} {
		form.Set("csrf", csrf)
		if r := reader.post(path, form, e.url); r.StatusCode != http.StatusForbidden {
			t.Errorf("a reader's POST %s: %s, want the API's 403", path, r.Status)
		}
	}
	after, err := e.Admin(t).CredsKey(ctx, "local", "disk")
	if err != nil || after.Version != before.Version {
		t.Errorf("the key after a reader's posts: %+v %v, want version %d unchanged", after, err, before.Version)
	}
	if o, err := e.Admin(t).Org(ctx, "local"); err != nil || *o.DefaultStorage != *org.DefaultStorage {
		t.Errorf("a reader changed the default storage: %+v %v", o.DefaultStorage, err)
	}

	outsider := e.browser(t)
	outsider.mustLogin(e.NewUser(t, "otto", "", ""))
	for _, path := range []string{"/orgs/local/creds-keys", "/orgs/local/creds-keys/disk", "/orgs/local/creds-keys/new?provider=aws", "/orgs/local/storage"} {
		r := outsider.get(path)
		if r.StatusCode != http.StatusForbidden || strings.Contains(r.body, "disk") || strings.Contains(r.body, root) {
			t.Errorf("outsider GET %s: %s, want 403 naming nothing:\n%s", path, r.Status, r.body)
		}
	}
}
