package main

import (
	"testing"

	"github.com/tarnhq/tarn/internal/golden"
)

const (
	testPoolProvider  = "projects/123456789012/locations/global/workloadIdentityPools/tarn-pool/providers/tarn-issuer"
	testPoolPrincipal = "principal://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/tarn-pool/subject/org:acme:creds-key:gcs-fed"
)

// TestProvisionOutputGolden runs provision azure and provision gcp for keys of each auth and
// compares what they print, commands and JSON, byte for byte with golden files; an input
// the commands refuse fails with exit 1 and its one line.
func TestProvisionOutputGolden(t *testing.T) {
	const created = `"version":1,"created_at":"2025-03-01T12:00:00Z","updated_at":"2025-03-01T12:00:00Z"}`
	srv := newFakeAPI(t, map[string]route{
		"GET /api/v1/orgs/acme/creds-keys/app": {200, `{"org":"acme","name":"app","provider":"azure","config":{"roots":["az://acmeml/datasets"],` +
			`"account":"acmeml","auth":"client-secret","tenant_id":"t","client_id":"00000000-0000-0000-0000-000000000001"},"has_secret":true,` + created},
		"GET /api/v1/orgs/acme/creds-keys/shared": {200, `{"org":"acme","name":"shared","provider":"azure","config":{"roots":["az://acmeml/datasets"],` +
			`"account":"acmeml","auth":"shared-key"},"has_secret":true,` + created},
		"GET /api/v1/orgs/acme/creds-keys/server": {200, `{"org":"acme","name":"server","provider":"azure","config":{"roots":["az://acmeml/datasets"],` +
			`"account":"acmeml","auth":"default"},` + created},
		"GET /api/v1/orgs/acme/creds-keys/gcs": {200, `{"org":"acme","name":"gcs","provider":"gcs","config":{"roots":["gs://acme-ml-data"],` +
			`"service_account":"` + testSA + `","kms_key":"` + testKMSKey + `"},` + created},
		"POST /api/v1/orgs/acme/creds-keys/gcs/provision": {200, `{"principal_arn":"","external_id":"","permission_policy":null,"trust_policy":null}`},
		"GET /api/v1/orgs/acme/creds-keys/gcs-fed": {200, `{"org":"acme","name":"gcs-fed","provider":"gcs","config":{"roots":["gs://acme-ml-data"],` +
			`"service_account":"` + testSA + `","auth":"federated","workload_identity_provider":"` + testPoolProvider + `"},` + created},
		"POST /api/v1/orgs/acme/creds-keys/gcs-fed/provision": {200, `{"principal_arn":"` + testPoolPrincipal + `","external_id":"","permission_policy":null,` +
			`"trust_policy":null,"issuer":"https://tarn.acme.com","subject":"org:acme:creds-key:gcs-fed"}`},
	})
	te := envFor(t, srv)
	const origin = "https://tarn.acme.com:8443/console"
	for _, tc := range []struct {
		file   string
		args   []string
		stderr string // exact, for exit 1
	}{
		{"provision_azure_app.txt", []string{"azure", "acme/app", "--container", "datasets"}, ""},
		{"provision_azure_app_scopes.json", []string{"azure", "acme/app", "--container", "datasets", "--resource-group", "ml", "--subscription", "sub-1", "--output", "json"}, ""},
		{"provision_azure_shared.txt", []string{"azure", "acme/shared", "--container", "datasets"}, ""},
		{"provision_azure_server.txt", []string{"azure", "acme/server", "--container", "datasets", "--account", "other", "--principal-id", "11111111-2222-3333-4444-555555555555"}, ""},
		{"", []string{"azure", "acme/server", "--container", "datasets"},
			"tarn: the key signs with the tarn server's own identity (--auth default): give its object ID with --principal-id (az identity show --name NAME --resource-group RG --query principalId)\n"},
		{"", []string{"azure", "acme/app", "--container", "d$(id)"},
			`tarn: container "d$(id)" is not a valid Azure name (letters, digits, '-', '_', '.', '(' and ')')` + "\n"},
		{"provision_gcp_placeholder.txt", []string{"gcp", "acme/gcs", "--project", "acme-ml", "--bucket", "acme-ml-data"}, ""},
		{"provision_gcp_principal.json", []string{"gcp", "acme/gcs", "--project", "acme-ml", "--bucket", "acme-ml-data", "--kms-key", testKMSKey,
			"--principal", "tarn-server@tarn-prod.iam.gserviceaccount.com", "--output", "json"}, ""},
		{"provision_gcp_federated.txt", []string{"gcp", "acme/gcs-fed", "--project", "acme-ml", "--bucket", "acme-ml-data"}, ""},
		{"", []string{"gcp", "acme/gcs-fed", "--project", "acme-ml", "--bucket", "acme-ml-data", "--principal", "user:ops@acme.com"},
			"tarn: a key of auth federated is impersonated by its pool principal " + testPoolPrincipal + ": leave out the principal\n"},
		{"", []string{"gcp", "acme/gcs", "--project", "acme-ml", "--bucket", "b$(id)"},
			`tarn: bucket "b$(id)" is not a valid bucket name (3 to 222 lowercase letters, digits, '-', '_' and '.')` + "\n"},
	} {
		res := te.run(append([]string{"provision"}, append(tc.args, "--console-origin", origin)...)...)
		if tc.file == "" {
			if res.code != 1 || res.stderr != tc.stderr || res.stdout != "" {
				t.Errorf("provision %v: exit %d, stdout %q, stderr %q; want 1 and %q", tc.args, res.code, res.stdout, res.stderr, tc.stderr)
			}
			continue
		}
		if res.code != 0 {
			t.Errorf("provision %v: exit %d, stderr %q", tc.args, res.code, res.stderr)
			continue
		}
		golden.Check(t, tc.file, res.stdout)
	}
}
