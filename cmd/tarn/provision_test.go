package main

import (
	"encoding/json"
	"testing"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/golden"
	"github.com/tarnhq/tarn/internal/issuer"
	"github.com/tarnhq/tarn/internal/provider/awssts"
)

const created = `"version":1,"created_at":"2025-03-01T12:00:00Z","updated_at":"2025-03-01T12:00:00Z"}`

// fedKey is creds key acme/fed of auth federated, as the API answers it.
const fedKey = `{"org":"acme","name":"fed","provider":"azure","config":{"roots":["az://acmeml/datasets"],` +
	`"account":"acmeml","auth":"federated","tenant_id":"t","client_id":"00000000-0000-0000-0000-000000000002"},` + created

const (
	testPoolProvider  = "projects/123456789012/locations/global/workloadIdentityPools/tarn-pool/providers/tarn-issuer"
	testPoolPrincipal = "principal://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/tarn-pool/subject/org:acme:creds-key:gcs-fed"
)

// TestProvisionOutputGolden runs provision azure and provision gcp for keys of each auth and
// compares what they print, commands and JSON, byte for byte with golden files; an input
// the commands refuse fails with exit 1 and its one line.
func TestProvisionOutputGolden(t *testing.T) {
	srv := newFakeAPI(t, map[string]route{
		"GET /api/v1/orgs/acme/creds-keys/app": {200, `{"org":"acme","name":"app","provider":"azure","config":{"roots":["az://acmeml/datasets"],` +
			`"account":"acmeml","auth":"client-secret","tenant_id":"t","client_id":"00000000-0000-0000-0000-000000000001"},"has_secret":true,` + created},
		"GET /api/v1/orgs/acme/creds-keys/fed": {200, fedKey},
		"POST /api/v1/orgs/acme/creds-keys/fed/provision": {200, `{"principal_arn":"","external_id":"","permission_policy":null,"trust_policy":null,` +
			`"oidc_provider":{"url":"https://tarn.acme.com","host":"tarn.acme.com","audience":"api://AzureADTokenExchange","subject":"org:acme:creds-key:fed"}}`},
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
			`"trust_policy":null,"oidc_provider":{"url":"https://tarn.acme.com","host":"tarn.acme.com","audience":"https://iam.googleapis.com/` + testPoolProvider + `","subject":"org:acme:creds-key:gcs-fed"}}`},
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
		{"provision_azure_federated.txt", []string{"azure", "acme/fed", "--container", "datasets"}, ""},
		{"provision_azure_federated.json", []string{"azure", "acme/fed", "--container", "datasets", "--output", "json"}, ""},
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

// TestProvisionAWSWebIdentityGolden runs provision aws for web-identity keys on AWS and on
// MinIO, answered with what the driver provisions for them, and compares the output byte for
// byte with golden files: the IAM OIDC provider to create and a trust policy pinned to the
// key's subject, or MinIO's OpenID settings and a role policy pinned to it.
func TestProvisionAWSWebIdentityGolden(t *testing.T) {
	const iss = "https://tarn.acme.com"
	subject := issuer.Subject("acme", "s3")
	respond := func(cfg api.CredsKeyConfig) route {
		perm, trust, p, err := awssts.ProvisionWebIdentity(cfg, "acme-ml", "datasets", "", iss, subject)
		if err != nil {
			t.Fatal(err)
		}
		out := api.ProvisionResponse{PrincipalARN: p.ARN, PermissionPolicy: json.RawMessage(perm), OIDCProvider: &p}
		if trust != "" {
			out.TrustPolicy = json.RawMessage(trust)
		}
		b, _ := json.Marshal(out)
		return route{200, string(b)}
	}
	onAWS := api.CredsKeyConfig{Roots: []string{"s3://acme-ml/datasets"}, RoleARN: "arn:aws:iam::123456789012:role/tarn-acme", Source: api.SourceWebIdentity}
	onMinIO := api.CredsKeyConfig{Roots: []string{"s3://acme-ml/datasets"}, RoleARN: "arn:minio:iam:::role/x", Source: api.SourceWebIdentity,
		STSEndpoint: "https://minio.acme.com", S3Endpoint: "https://minio.acme.com"}
	srv := newFakeAPI(t, map[string]route{
		"POST /api/v1/orgs/acme/creds-keys/s3/provision":    respond(onAWS),
		"POST /api/v1/orgs/acme/creds-keys/minio/provision": respond(onMinIO),
	})
	te := envFor(t, srv)
	for _, tc := range []struct{ file, key string }{
		{"provision_aws_web_identity.txt", "acme/s3"},
		{"provision_aws_web_identity_minio.txt", "acme/minio"},
	} {
		res := te.run("provision", "aws", tc.key, "--bucket", "acme-ml", "--prefix", "datasets")
		if res.code != 0 {
			t.Errorf("provision aws %s: exit %d, stderr %q", tc.key, res.code, res.stderr)
			continue
		}
		golden.Check(t, tc.file, res.stdout)
	}
}

// TestProvisionAzureFederatedNeedsAnIssuer: provision azure of a federated key on a server
// that is no OIDC issuer (restarted without --public-url) fails with the server's one line
// saying how to make it one.
func TestProvisionAzureFederatedNeedsAnIssuer(t *testing.T) {
	const detail = "auth federated needs tarn's own OIDC issuer: start tarn serve with --public-url https://... (the URL the cloud fetches discovery from)"
	srv := newFakeAPI(t, map[string]route{"GET /api/v1/orgs/acme/creds-keys/fed": {200, fedKey},
		"POST /api/v1/orgs/acme/creds-keys/fed/provision": {400, `{"title":"Bad Request","status":400,"code":"invalid","detail":"` + detail + `"}`}})
	res := envFor(t, srv).run("provision", "azure", "acme/fed", "--container", "datasets", "--console-origin", "https://tarn.acme.com")
	want := "tarn: provision acme/fed: " + detail + "\n"
	if res.code != 1 || res.stderr != want || res.stdout != "" {
		t.Errorf("exit %d, stdout %q, stderr %q; want 1 and %q", res.code, res.stdout, res.stderr, want)
	}
}
