package console_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2/google"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/googletest"
	"github.com/tarnhq/tarn/internal/provider/gcsdownscope"
	"github.com/tarnhq/tarn/internal/testenv"
)

const (
	setupSA       = "tarn-data@acme-ml.iam.gserviceaccount.com"
	setupServerSA = "tarn-server@tarn-prod.iam.gserviceaccount.com"
	setupClientID = "00000000-0000-0000-0000-000000000001"
	// setupPoolProvider is the workload identity pool provider of the gcs key gcs-fed.
	setupPoolProvider = "projects/123456789012/locations/global/workloadIdentityPools/tarn/providers/tarn"
)

// newSetupEnv starts a tarn whose Google ADC is a googletest key of setupServerSA, with an
// org acme holding the creds keys the setup pages show: azure keys app (client-secret),
// shared (shared-key), server (default) and fed (federated), and gcs keys gcs and gcs-fed
// (federated). The env is tarn's own OIDC issuer, for the federated keys. The azure keys' blob
// endpoint and the gcs key's IAM and STS endpoints are on 127.0.0.1; nothing is sent there.
func newSetupEnv(t *testing.T) *env {
	t.Helper()
	g := googletest.New(t, googletest.Options{})
	adc, err := google.CredentialsFromJSON(context.Background(), g.ServiceAccountKey(t, setupServerSA), gcsdownscope.ScopeCloudPlatform)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvWith(t, testenv.Options{AllowEndpoints: []string{g.HostPort(), "127.0.0.1:10000"}, GCSCredentials: adc, Issuer: true})
	ctx, admin := context.Background(), e.Admin(t)
	if _, err := admin.CreateOrg(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	azure := func(auth, clientID, secret string) api.PutCredsKeyRequest {
		return api.PutCredsKeyRequest{Provider: api.ProviderAzure, Secret: secret, Config: api.CredsKeyConfig{
			Roots: []string{"az://acmeml/datasets/team"}, Account: "acmeml", HierarchicalNamespace: true, Endpoint: "http://127.0.0.1:10000/acmeml",
			Auth: auth, TenantID: map[bool]string{true: "acme.onmicrosoft.com"}[clientID != ""], ClientID: clientID}}
	}
	for name, req := range map[string]api.PutCredsKeyRequest{
		"app":    azure(api.AuthClientSecret, setupClientID, "client-secret-value"),
		"shared": azure(api.AuthSharedKey, "", "YWNjb3VudC1rZXk="),
		"server": azure(api.AuthDefault, "", ""),
		"fed":    azure(api.AuthFederated, setupClientID, ""),
		"gcs-fed": {Provider: api.ProviderGCS, Config: api.CredsKeyConfig{Roots: []string{"gs://acme-ml-data/datasets"}, ServiceAccount: setupSA,
			IAMEndpoint: g.URL, STSEndpoint: g.URL, Auth: api.AuthFederated, WorkloadIdentityProvider: setupPoolProvider}},
		"gcs": {Provider: api.ProviderGCS, Config: api.CredsKeyConfig{Roots: []string{"gs://acme-ml-data/datasets"}, ServiceAccount: setupSA,
			IAMEndpoint: g.URL, STSEndpoint: g.URL}},
	} {
		if _, err := admin.PutCredsKey(ctx, "acme", name, req); err != nil {
			t.Fatalf("creds key %s: %v", name, err)
		}
	}
	return e
}

// setupCommands returns the commands of a key page's setup copy block, unescaped, or "".
func setupCommands(body string) string {
	_, rest, ok := strings.Cut(body, `<pre id="setup-commands">`)
	if !ok {
		return ""
	}
	cmds, _, _ := strings.Cut(rest, "</pre>")
	return html.UnescapeString(cmds)
}

// TestCloudSetupCommands opens the setup of azure and gcs keys as an admin: the page shows
// the commands of tarn provision for the inputs of the query, else the CLI's defaults (the
// key's account, the container or bucket of its first location, the console's own origin,
// the server's principal for gcs), with the inputs refilled; a bad input shows its error
// at that input and no commands.
func TestCloudSetupCommands(t *testing.T) {
	e := newSetupEnv(t)
	b := e.browser(t)
	b.mustLogin(e.AdminToken)
	scope := `"$(az storage account show --name acmeml --query id --output tsv)`
	for _, tc := range []struct {
		name, path   string
		want, not    []string // in the commands
		inputs       []string // in the form
		field, error string   // an input's error, and then no commands
	}{
		{name: "client-secret app", path: "/orgs/acme/creds-keys/app",
			want: []string{
				"az role assignment create --role 'Storage Blob Data Contributor' --assignee " + setupClientID + " --scope " + scope + `/blobServices/default/containers/datasets"`,
				"az role assignment create --role 'Storage Blob Delegator' --assignee " + setupClientID + " --scope " + scope + `"`,
				"az storage cors add --services b --methods GET HEAD --origins " + e.url + " --allowed-headers '*'",
			},
			inputs: []string{`name="account" type="text" value="acmeml"`, `name="container" type="text" value="datasets"`, `name="console_origin" type="text" value="` + e.url + `"`}},
		{name: "client-secret app with literal scopes", path: "/orgs/acme/creds-keys/app?container=other&resource_group=ml&subscription=sub-1&console_origin=https://tarn.acme.com/x",
			want: []string{`--scope "/subscriptions/sub-1/resourceGroups/ml/providers/Microsoft.Storage/storageAccounts/acmeml/blobServices/default/containers/other"`,
				"--origins https://tarn.acme.com "},
			inputs: []string{`value="other"`, `value="ml"`, `value="sub-1"`, `value="https://tarn.acme.com/x"`}},
		{name: "federated app", path: "/orgs/acme/creds-keys/fed",
			want: []string{
				"az ad app federated-credential create --id " + setupClientID + ` --parameters '{"name":"tarn-acme-creds-key-fed","issuer":"` + e.URL +
					`","subject":"org:acme:creds-key:fed","audiences":["api://AzureADTokenExchange"]`,
				"az role assignment create --role 'Storage Blob Delegator' --assignee " + setupClientID,
			}},
		{name: "federated gcs", path: "/orgs/acme/creds-keys/gcs-fed?project=acme-ml",
			want: []string{
				"gcloud iam workload-identity-pools providers create-oidc tarn --project=123456789012 --workload-identity-pool=tarn --location=global --issuer-uri=" + e.URL + " ",
				"--member=principal://iam.googleapis.com/" + strings.TrimSuffix(setupPoolProvider, "/providers/tarn") + "/subject/org:acme:creds-key:gcs-fed --role=roles/iam.workloadIdentityUser",
			},
			not: []string{"--role=roles/iam.serviceAccountTokenCreator"}},
		{name: "shared key", path: "/orgs/acme/creds-keys/shared",
			want: []string{"needs no role", "az storage cors add"}, not: []string{"az role assignment"}},
		{name: "server identity by its object ID", path: "/orgs/acme/creds-keys/server?principal_id=11111111-2222-3333-4444-555555555555",
			want: []string{"--role 'Storage Blob Delegator' --assignee-object-id 11111111-2222-3333-4444-555555555555 --assignee-principal-type ServicePrincipal"}},
		{name: "server identity without its object ID", path: "/orgs/acme/creds-keys/server",
			field: "p-principal_id", error: "give its object ID with --principal-id"},
		{name: "container that would run in a shell", path: "/orgs/acme/creds-keys/app?container=" + url.QueryEscape("d$(rm -rf ~)"),
			field: "p-container", error: "container &#34;d$(rm -rf ~)&#34; is not a valid Azure name", inputs: []string{`value="d$(rm -rf ~)"`}},
		{name: "subscription without its group", path: "/orgs/acme/creds-keys/app?subscription=sub-1",
			field: "p-resource_group", error: "give --resource-group and --subscription together"},
		{name: "gcs with the server's principal", path: "/orgs/acme/creds-keys/gcs?project=acme-ml",
			want: []string{
				"gcloud iam service-accounts create tarn-data --project=acme-ml --display-name='tarn datasets'",
				"gcloud storage buckets add-iam-policy-binding gs://acme-ml-data --member=serviceAccount:" + setupSA + " --role=roles/storage.objectAdmin",
				"gcloud iam service-accounts add-iam-policy-binding " + setupSA + " --member=serviceAccount:" + setupServerSA + " --role=roles/iam.serviceAccountTokenCreator",
				`"` + e.url + `"`, "gcloud storage buckets update gs://acme-ml-data --cors-file=cors.json",
			},
			not:    []string{"kms", "PRINCIPAL"},
			inputs: []string{`name="bucket" type="text" value="acme-ml-data"`}},
		{name: "gcs with a principal and a KMS key", path: "/orgs/acme/creds-keys/gcs?project=acme-ml&principal=user:ops@acme.com&kms_key=" +
			url.QueryEscape("projects/acme-ml/locations/eu/keyRings/r/cryptoKeys/k"),
			want: []string{"--member=user:ops@acme.com --role=roles/iam.serviceAccountTokenCreator",
				"gcloud storage service-agent --project=acme-ml --authorize-cmek=projects/acme-ml/locations/eu/keyRings/r/cryptoKeys/k"}},
		{name: "gcs without a project", path: "/orgs/acme/creds-keys/gcs",
			inputs: []string{"Give the project ID of the bucket to see the commands."}},
		{name: "gcs bucket that would run in a shell", path: "/orgs/acme/creds-keys/gcs?project=acme-ml&bucket=" + url.QueryEscape("b;id"),
			field: "p-bucket", error: "bucket &#34;b;id&#34; is not a valid bucket name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := b.wantPage(tc.path)
			cmds := setupCommands(r.body)
			if tc.error != "" {
				if got := fieldError(r.body, tc.field); !strings.Contains(got, tc.error) {
					t.Errorf("error at %s: %q, want %q", tc.field, got, tc.error)
				}
				if cmds != "" {
					t.Errorf("commands shown despite the error:\n%s", cmds)
				}
			} else if len(tc.want) == 0 && cmds != "" {
				t.Errorf("commands shown without the inputs they need:\n%s", cmds)
			}
			for _, w := range tc.want {
				if !strings.Contains(cmds, w) {
					t.Errorf("commands lack %q:\n%s", w, cmds)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(cmds, n) {
					t.Errorf("commands hold %q:\n%s", n, cmds)
				}
			}
			for _, in := range tc.inputs {
				if !strings.Contains(r.body, in) {
					t.Errorf("the page lacks %s", in)
				}
			}
			if strings.Contains(r.body, "client-secret-value") || strings.Contains(r.body, "YWNjb3VudC1rZXk=") {
				t.Error("the page shows a key's secret")
			}
		})
	}
	// The Verify form posts with the setup inputs given, so that its answer keeps them.
	if r := b.wantPage("/orgs/acme/creds-keys/app?container=other"); !strings.Contains(r.body, `action="/orgs/acme/creds-keys/app/verify?container=other#verify"`) {
		t.Error("the Verify form drops the setup inputs")
	}
}

// TestCloudSetupForReaders checks that a writer or reader of the org sees no setup of an
// azure or gcs key, however the query asks for it, and that an outsider gets 403.
func TestCloudSetupForReaders(t *testing.T) {
	e := newSetupEnv(t)
	for _, role := range []string{"reader", "writer"} {
		b := e.browser(t)
		b.mustLogin(e.NewUser(t, "u-"+role, "acme", role))
		for _, path := range []string{"/orgs/acme/creds-keys/app?container=datasets", "/orgs/acme/creds-keys/gcs?project=acme-ml"} {
			r := b.wantPage(path)
			if strings.Contains(r.body, "Cloud-side setup") || strings.Contains(r.body, `class="keys-setup"`) || setupCommands(r.body) != "" ||
				strings.Contains(r.body, "az role") || strings.Contains(r.body, "gcloud ") {
				t.Errorf("a %s sees the setup of %s:\n%s", role, path, r.body)
			}
		}
	}
	outsider := e.browser(t)
	outsider.mustLogin(e.NewUser(t, "otto", "", ""))
	if r := outsider.get("/orgs/acme/creds-keys/app?container=datasets"); r.StatusCode != http.StatusForbidden || strings.Contains(r.body, "acmeml") {
		t.Errorf("an outsider: %s, want 403 naming nothing:\n%s", r.Status, r.body)
	}
}
