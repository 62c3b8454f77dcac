package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"golang.org/x/oauth2/google"

	"github.com/tarnhq/tarn/internal/cloudsetup"
	"github.com/tarnhq/tarn/internal/googletest"
	"github.com/tarnhq/tarn/internal/provider/gcsdownscope"
	"github.com/tarnhq/tarn/internal/testenv"
)

const testKMSKey = "projects/acme-ml/locations/europe-west4/keyRings/data/cryptoKeys/datasets"

func TestProvisionGCPCommand(t *testing.T) {
	srv := newFakeAPI(t, map[string]route{
		"GET /api/v1/orgs/acme/creds-keys/gcs": {200, `{"org":"acme","name":"gcs","provider":"gcs","config":{"roots":["gs://acme-ml-data"],` +
			`"service_account":"` + testSA + `","kms_key":"` + testKMSKey + `"},"version":1,"created_at":"2025-03-01T12:00:00Z","updated_at":"2025-03-01T12:00:00Z"}`},
		"GET /api/v1/orgs/acme/creds-keys/local":          {200, credsKeyJSON},
		"POST /api/v1/orgs/acme/creds-keys/gcs/provision": {200, `{"principal_arn":"","external_id":"","permission_policy":null,"trust_policy":null}`},
	})
	te := envFor(t, srv)
	res := te.run("provision", "gcp", "acme/gcs", "--project", "acme-ml", "--bucket", "acme-ml-data", "--output", "json")
	if res.code != 0 {
		t.Fatalf("exit %d, stderr %q", res.code, res.stderr)
	}
	var got cloudsetup.GCPSetup
	if err := json.Unmarshal([]byte(res.stdout), &got); err != nil {
		t.Fatalf("%v\n%s", err, res.stdout)
	}
	out := strings.Join(got.Commands, "\n")
	// The key's KMS key and, without --console-origin, the tarn server's URL as the origin;
	// the server was asked for the principal, named none, and the placeholder stays.
	if r := srv.last(t); r.Method != "POST" || r.Body != `{"bucket":"acme-ml-data"}` {
		t.Errorf("last request %+v, want the provision call for the bucket", r)
	}
	if got.ServiceAccount != testSA || got.Principal != "PRINCIPAL" || !strings.Contains(out, "--authorize-cmek="+testKMSKey) ||
		!strings.Contains(string(got.CORS), `"`+srv.URL+`"`) {
		t.Errorf("provision gcp --output json:\n%s", res.stdout)
	}
	res = te.run("provision", "gcp", "acme/local", "--project", "acme-ml", "--bucket", "acme-ml-data")
	if want := "tarn: creds key acme/local is of provider file, not gcs\n"; res.code != 1 || res.stderr != want {
		t.Errorf("provision gcp of a file key: exit %d, stderr %q, want %q", res.code, res.stderr, want)
	}
}

// TestProvisionGCPFindsTheServerPrincipal runs provision gcp against a whole tarn: without
// --principal the Token Creator grant names the service account of the server's ADC (a
// googletest key of gcsServerSA), or of an org's JSON key for auth service-account-key;
// --principal wins; ADC that name no service account (a gcloud user login) leave the
// placeholder and its explanation.
func TestProvisionGCPFindsTheServerPrincipal(t *testing.T) {
	g := googletest.New(t, googletest.Options{})
	userLogin := []byte(`{"type":"authorized_user","client_id":"c.apps.googleusercontent.com","client_secret":"s","refresh_token":"r"}`)
	for _, tc := range []struct {
		name      string
		adc       []byte
		key       []byte // the org's JSON key, for auth service-account-key
		principal string
		want      string
		comment   string // in the commands
	}{
		{name: "ADC of a service account", adc: g.ServiceAccountKey(t, gcsServerSA), want: "serviceAccount:" + gcsServerSA},
		{name: "--principal wins", adc: g.ServiceAccountKey(t, gcsServerSA), principal: "user:ops@acme.com", want: "user:ops@acme.com"},
		{name: "ADC of a user login", adc: userLogin, want: "PRINCIPAL", comment: "# PRINCIPAL: the tarn server's Google identity"},
		{name: "the org's JSON key", adc: userLogin, key: g.ServiceAccountKey(t, gcsKeySA), want: "serviceAccount:" + gcsKeySA, comment: "there is no server"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			adc, err := google.CredentialsFromJSON(context.Background(), tc.adc, gcsdownscope.ScopeCloudPlatform)
			if err != nil {
				t.Fatal(err)
			}
			env := testenv.New(t, testenv.Options{AllowEndpoints: []string{g.HostPort()}, GCSCredentials: adc})
			admin := newTestEnv(t, map[string]string{envEndpoint: env.URL, envToken: env.AdminToken})
			mustRun(t, admin, "org", "create", "acme")
			add := []string{"creds", "add", "acme/gcs", "--provider", "gcs", "--service-account", testSA,
				"--allowed", "gs://acme-ml-data/datasets", "--iam-endpoint", g.URL, "--sts-endpoint", g.URL}
			if tc.key != nil {
				admin.stdin = strings.NewReader(string(tc.key))
				add = append(add, "--auth", "service-account-key", "--secret-stdin")
			}
			mustRun(t, admin, add...)
			args := []string{"provision", "gcp", "acme/gcs", "--project", "acme-ml", "--bucket", "acme-ml-data", "--output", "json"}
			if tc.principal != "" {
				args = append(args, "--principal", tc.principal)
			}
			var got cloudsetup.GCPSetup
			if res := mustRun(t, admin, args...); json.Unmarshal([]byte(res.stdout), &got) != nil {
				t.Fatalf("provision gcp --output json:\n%s", res.stdout)
			}
			out := strings.Join(got.Commands, "\n")
			grant := "gcloud iam service-accounts add-iam-policy-binding " + testSA + " --member=" + tc.want + " --role=roles/iam.serviceAccountTokenCreator"
			if got.Principal != tc.want || !strings.Contains(out, grant) || !strings.Contains(out, tc.comment) {
				t.Errorf("principal %q, want %q; commands:\n%s", got.Principal, tc.want, out)
			}
		})
	}
}

// TestProvisionGCPFederated runs provision gcp for a key of auth federated against a whole
// tarn that is an OIDC issuer: the provider trusts the server's own public URL, the
// condition and the binding name exactly this key's subject, and no Token Creator grant is
// printed.
func TestProvisionGCPFederated(t *testing.T) {
	env := testenv.New(t, testenv.Options{Issuer: true})
	admin := newTestEnv(t, map[string]string{envEndpoint: env.URL, envToken: env.AdminToken})
	mustRun(t, admin, "org", "create", "acme")
	mustRun(t, admin, "creds", "add", "acme/fed", "--provider", "gcs", "--service-account", testSA, "--allowed", "gs://acme-ml-data/datasets",
		"--auth", "federated", "--workload-identity-provider", testPoolProvider)
	var got cloudsetup.GCPSetup
	if res := mustRun(t, admin, "provision", "gcp", "acme/fed", "--project", "acme-ml", "--bucket", "acme-ml-data", "--output", "json"); json.Unmarshal([]byte(res.stdout), &got) != nil {
		t.Fatalf("provision gcp --output json:\n%s", res.stdout)
	}
	out := strings.Join(got.Commands, "\n")
	principal := "principal://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/tarn-pool/subject/org:acme:creds-key:fed"
	for _, want := range []string{"--issuer-uri=" + env.URL + " ", `--attribute-condition="assertion.sub=='org:acme:creds-key:fed'"`,
		"add-iam-policy-binding " + testSA + " --member=" + principal + " --role=roles/iam.workloadIdentityUser"} {
		if !strings.Contains(out, want) {
			t.Errorf("commands lack %q:\n%s", want, out)
		}
	}
	if got.Principal != principal || strings.Contains(out, "--role=roles/iam.serviceAccountTokenCreator") {
		t.Errorf("principal %q, commands:\n%s", got.Principal, out)
	}
}
