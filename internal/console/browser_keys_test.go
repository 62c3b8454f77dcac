package console_test

import (
	"strings"
	"testing"

	"github.com/tarnhq/tarn/internal/browsertest"
	"github.com/tarnhq/tarn/internal/miniotest"
	"github.com/tarnhq/tarn/internal/testenv"
)

// TestCredsKeysInABrowser walks the creds key and default storage pages in headless
// Chromium as an org admin would: the empty list, each provider's add form, a refused
// form, a file key added through the form, an aws key for MinIO with its policies and a
// Verify whose checks all pass, and the default storage set on it. It saves a screenshot
// of each page.
func TestCredsKeysInABrowser(t *testing.T) {
	m := miniotest.Start(t)
	e := newEnvWith(t, testenv.Options{AllowEndpoints: []string{m.HostPort()}})
	ctx := t.Context()
	admin := e.Admin(t)
	if _, err := admin.CreateOrg(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	p := browsertest.New(t)
	e.signIn(p, e.AdminToken)

	p.Navigate(e.url + "/orgs/acme/creds-keys")
	if got := p.Text("main"); !strings.Contains(got, "No creds keys in acme yet") {
		t.Fatalf("empty creds keys page: %q", got)
	}
	p.Screenshot("keys-empty")
	p.Submit("form[action='/orgs/acme/creds-keys/new']")
	if !strings.HasSuffix(p.URL(), "/orgs/acme/creds-keys/new?provider=aws") {
		t.Fatalf("the provider step led to %s", p.URL())
	}
	p.Screenshot("keys-new-aws")
	p.Fill("#k-name", "s3")
	p.Fill("#k-roots", "s3://acme-ml/datasets")
	p.Fill("#k-role_arn", "not-an-arn")
	p.Fill("#k-secret", "typed-secret")
	p.Submit("form.keys-form")
	if got := p.Text("main"); !strings.Contains(got, "is not an IAM role ARN") {
		t.Errorf("refused aws form: %q, want the role ARN error", got)
	}
	p.Screenshot("keys-new-refused")
	for _, provider := range []string{"azure", "gcs"} {
		p.Navigate(e.url + "/orgs/acme/creds-keys/new?provider=" + provider)
		p.Screenshot("keys-new-" + provider)
	}

	p.Navigate(e.url + "/orgs/acme/creds-keys/new?provider=file")
	p.Screenshot("keys-new-file")
	root := "file://" + e.DataDir + "/datasets/acme"
	p.Fill("#k-name", "disk")
	p.Fill("#k-roots", root)
	p.Submit("form.keys-form")
	if !strings.HasSuffix(p.URL(), "/orgs/acme/creds-keys/disk") || !strings.Contains(p.Text("main"), "Creds key disk saved.") {
		t.Fatalf("after adding a file key: %s %q", p.URL(), p.Text("main"))
	}
	p.Screenshot("keys-file")

	if _, err := admin.PutCredsKey(ctx, "acme", "minio", m.CredsKey("s3://"+m.Bucket+"/datasets")); err != nil {
		t.Fatal(err)
	}
	p.Navigate(e.url + "/orgs/acme/creds-keys")
	p.Screenshot("keys-list")
	p.Navigate(e.url + "/orgs/acme/creds-keys/minio?principal_arn=arn:aws:iam::123456789012:user/tarn")
	if got := p.Text("#trust-policy"); !strings.Contains(got, "sts:ExternalId") {
		t.Errorf("trust policy: %q", got)
	}
	p.Screenshot("keys-aws")
	p.Fill("#v-location", "s3://"+m.Bucket+"/datasets/verify")
	p.Submit("form.keys-verify")
	if got := p.Text(".keys-checks"); !strings.Contains(got, "ok") || strings.Contains(got, "failed") {
		t.Errorf("verify on MinIO: %q, want every check ok or skipped", got)
	}
	p.Screenshot("keys-verified")

	p.Navigate(e.url + "/orgs/acme/storage")
	p.Screenshot("storage-empty")
	p.Fill("#s-location", "s3://"+m.Bucket+"/datasets/team")
	p.Fill("#s-key", "minio")
	p.Submit("form[action='/orgs/acme/storage']")
	if got := p.Text("main"); !strings.Contains(got, "goes to s3://"+m.Bucket+"/datasets/team/NAME") {
		t.Errorf("storage page after set: %q", got)
	}
	p.Screenshot("storage-set")
}

// TestCloudSetupInABrowser opens the pages of an azure and a gcs key in headless Chromium as
// an org admin: the az commands of a client-secret key with their copy button, a bad
// container refused at its input, and the gcloud commands once the project is given
// through the form, and the federated credential and workload identity pool commands of
// federated keys. It saves a screenshot of each page.
func TestCloudSetupInABrowser(t *testing.T) {
	e := newSetupEnv(t)
	p := browsertest.New(t)
	e.signIn(p, e.AdminToken)

	p.Navigate(e.url + "/orgs/acme/creds-keys/app")
	if got := p.Text("#setup-commands"); !strings.Contains(got, "az role assignment create --role 'Storage Blob Data Contributor' --assignee "+setupClientID) {
		t.Errorf("azure commands: %q", got)
	}
	p.Screenshot("keys-azure")
	p.Fill("#p-container", "bad container")
	p.Submit("form.keys-setup")
	if got := p.Text("main"); !strings.Contains(got, `container "bad container" is not a valid Azure name`) {
		t.Errorf("a bad container: %q", got)
	}
	p.Screenshot("keys-azure-refused")
	p.Navigate(e.url + "/orgs/acme/creds-keys/shared")
	p.Screenshot("keys-azure-shared")

	p.Navigate(e.url + "/orgs/acme/creds-keys/gcs")
	p.Screenshot("keys-gcs-no-project")
	p.Fill("#p-project", "acme-ml")
	p.Submit("form.keys-setup")
	if got := p.Text("#setup-commands"); !strings.Contains(got, "--member=serviceAccount:"+setupServerSA+" --role=roles/iam.serviceAccountTokenCreator") {
		t.Errorf("gcs commands: %q", got)
	}
	p.Screenshot("keys-gcs")

	// Federated keys: no secret, the cloud trusts tarn's issuer for this key's subject.
	p.Navigate(e.url + "/orgs/acme/creds-keys/fed")
	if got := p.Text("#setup-commands"); !strings.Contains(got, "az ad app federated-credential create --id "+setupClientID) ||
		!strings.Contains(got, `"subject":"org:acme:creds-key:fed"`) {
		t.Errorf("federated azure commands: %q", got)
	}
	p.Screenshot("keys-azure-federated")
	p.Navigate(e.url + "/orgs/acme/creds-keys/gcs-fed?project=acme-ml")
	if got := p.Text("#setup-commands"); !strings.Contains(got, "--role=roles/iam.workloadIdentityUser") {
		t.Errorf("federated gcs commands: %q", got)
	}
	p.Screenshot("keys-gcs-federated")
}
