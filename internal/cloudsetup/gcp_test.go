package cloudsetup_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/cloudsetup"
	"github.com/tarnhq/tarn/internal/errs"
)

const (
	testSA     = "tarn-data@acme-ml.iam.gserviceaccount.com"
	testKMSKey = "projects/acme-ml/locations/europe-west4/keyRings/data/cryptoKeys/datasets"

	testPoolProvider  = "projects/123456789012/locations/global/workloadIdentityPools/tarn-pool/providers/tarn-issuer"
	testIssuer        = "https://tarn.acme.com"
	testSubject       = "org:acme:creds-key:gcs"
	testPoolPrincipal = "principal://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/tarn-pool/subject/" + testSubject
)

var federated = api.CredsKeyConfig{Auth: api.AuthFederated, ServiceAccount: testSA, WorkloadIdentityProvider: testPoolProvider}

// federatedSetup is the setup of a federated key for the shell and gcloud tests.
func federatedSetup(t *testing.T) *cloudsetup.GCPSetup {
	t.Helper()
	setup, err := cloudsetup.GCP(federated, cloudsetup.GCPInput{Project: "acme-ml", Bucket: "acme-ml-data", ConsoleOrigin: "http://127.0.0.1:7777",
		Issuer: testIssuer, Subject: testSubject})
	if err != nil {
		t.Fatal(err)
	}
	return setup
}

func TestGCP(t *testing.T) {
	adc := api.CredsKeyConfig{Auth: api.AuthDefault, ServiceAccount: testSA}
	const server = "serviceAccount:tarn-server@tarn-prod.iam.gserviceaccount.com"
	for _, tc := range []struct {
		name                                  string
		cfg                                   api.CredsKeyConfig
		project, bucket, kms, principal, orig string
		issuer, subject                       string
		want, not                             []string // substrings of the output
		err, field                            string   // the error and the input it is in
	}{
		{name: "ADC with a principal", cfg: adc, project: "acme-ml", bucket: "acme-ml-data", principal: server, orig: "https://tarn.acme.com:8443/x",
			want: []string{
				"gcloud iam service-accounts create tarn-data --project=acme-ml --display-name='tarn datasets'",
				"gcloud storage buckets add-iam-policy-binding gs://acme-ml-data --member=serviceAccount:" + testSA + " --role=roles/storage.objectAdmin",
				"gcloud iam service-accounts add-iam-policy-binding " + testSA + " --member=" + server + " --role=roles/iam.serviceAccountTokenCreator",
				`"origin": [` + "\n" + `      "https://tarn.acme.com:8443"`, `"responseHeader": [` + "\n" + `      "*"`,
				"gcloud storage buckets update gs://acme-ml-data --cors-file=cors.json",
			},
			not: []string{"kms", "PRINCIPAL"}},
		{name: "a bare email is a service account", cfg: adc, project: "acme-ml", bucket: "acme-ml-data", principal: "tarn-server@tarn-prod.iam.gserviceaccount.com", orig: "http://127.0.0.1:7777",
			want: []string{"--member=" + server + " --role=roles/iam.serviceAccountTokenCreator"}},
		{name: "KMS key", cfg: adc, project: "acme-ml", bucket: "acme-ml-data", kms: testKMSKey, principal: "user:ops@acme.com", orig: "http://127.0.0.1:7777",
			want: []string{
				"gcloud kms keys add-iam-policy-binding " + testKMSKey + " --member=serviceAccount:" + testSA + " --role=roles/cloudkms.cryptoKeyEncrypterDecrypter",
				"gcloud storage service-agent --project=acme-ml --authorize-cmek=" + testKMSKey,
			}},
		{name: "service account of another project", cfg: adc, project: "other-proj", bucket: "b-1", principal: server, orig: "http://127.0.0.1:7777",
			want: []string{"is not in project other-proj"}, not: []string{"service-accounts create"}},
		{name: "ADC without a principal", cfg: adc, project: "acme-ml", bucket: "acme-ml-data", orig: "http://127.0.0.1:7777",
			want: []string{"# PRINCIPAL: the tarn server's Google identity", "--member=PRINCIPAL --role=roles/iam.serviceAccountTokenCreator"}},
		{name: "service account key has no server principal", cfg: api.CredsKeyConfig{Auth: api.AuthServiceAccountKey, ServiceAccount: testSA},
			project: "acme-ml", bucket: "acme-ml-data", orig: "http://127.0.0.1:7777",
			want: []string{"there is no server", "principal to grant", "client_email", "--member=PRINCIPAL"}},
		{name: "no service account", cfg: api.CredsKeyConfig{}, project: "acme-ml", bucket: "b-1", orig: "http://127.0.0.1:7777", err: "names no service account", field: ""},
		{name: "bucket that would run in a shell", cfg: adc, project: "acme-ml", bucket: "b$(rm -rf ~)", orig: "http://127.0.0.1:7777", err: "is not a valid bucket name", field: "bucket"},
		{name: "project that would run in a shell", cfg: adc, project: "acme;reboot", bucket: "b-1", orig: "http://127.0.0.1:7777", err: "is not a valid Google Cloud project ID", field: "project"},
		{name: "principal that would run in a shell", cfg: adc, project: "acme-ml", bucket: "b-1", principal: "user:a@b.com'`id`", orig: "http://127.0.0.1:7777", err: "is not a valid IAM member", field: "principal"},
		{name: "KMS key that would run in a shell", cfg: adc, project: "acme-ml", bucket: "b-1", kms: testKMSKey + " && id", orig: "http://127.0.0.1:7777", err: "is not a valid Cloud KMS key name", field: "kms_key"},
		{name: "service account that would run in a shell", cfg: api.CredsKeyConfig{ServiceAccount: "a$(id)@p.iam.gserviceaccount.com"}, project: "acme-ml", bucket: "b-1",
			orig: "http://127.0.0.1:7777", err: "is not a valid service account email", field: ""},
		{name: "origin that is no URL", cfg: adc, project: "acme-ml", bucket: "b-1", orig: "tarn", err: "is no URL", field: "console_origin"},
		{name: "federated", cfg: federated, project: "acme-ml", bucket: "acme-ml-data", orig: "http://127.0.0.1:7777", issuer: testIssuer, subject: testSubject,
			want: []string{
				"gcloud iam workload-identity-pools create tarn-pool --project=123456789012 --location=global",
				"gcloud iam workload-identity-pools providers create-oidc tarn-issuer --project=123456789012 --workload-identity-pool=tarn-pool --location=global --issuer-uri=" + testIssuer +
					` --attribute-mapping=google.subject=assertion.sub --attribute-condition="assertion.sub=='` + testSubject + `'"`,
				"gcloud iam service-accounts add-iam-policy-binding " + testSA + " --member=" + testPoolPrincipal + " --role=roles/iam.workloadIdentityUser",
				"gcloud storage buckets add-iam-policy-binding gs://acme-ml-data --member=serviceAccount:" + testSA + " --role=roles/storage.objectAdmin",
			},
			not: []string{"--role=roles/iam.serviceAccountTokenCreator", "PRINCIPAL"}},
		{name: "federated with the pool principal given", cfg: federated, project: "acme-ml", bucket: "b-1", orig: "http://127.0.0.1:7777", issuer: testIssuer, subject: testSubject,
			principal: testPoolPrincipal, want: []string{"--member=" + testPoolPrincipal + " --role=roles/iam.workloadIdentityUser"}},
		{name: "federated with another principal", cfg: federated, project: "acme-ml", bucket: "b-1", orig: "http://127.0.0.1:7777", issuer: testIssuer, subject: testSubject,
			principal: "user:ops@acme.com", err: "is impersonated by its pool principal", field: "principal"},
		{name: "federated without an issuer", cfg: federated, project: "acme-ml", bucket: "b-1", orig: "http://127.0.0.1:7777", subject: testSubject,
			err: "--public-url", field: ""},
		{name: "subject that would run in a shell", cfg: federated, project: "acme-ml", bucket: "b-1", orig: "http://127.0.0.1:7777", issuer: testIssuer,
			subject: testSubject + `'"$(id)"`, err: "--public-url", field: ""},
		{name: "issuer that would run in a shell", cfg: federated, project: "acme-ml", bucket: "b-1", orig: "http://127.0.0.1:7777", issuer: testIssuer + "/$(id)",
			subject: testSubject, err: "--public-url", field: ""},
		{name: "federated without a pool provider", cfg: api.CredsKeyConfig{Auth: api.AuthFederated, ServiceAccount: testSA}, project: "acme-ml", bucket: "b-1",
			orig: "http://127.0.0.1:7777", issuer: testIssuer, subject: testSubject, err: "--workload-identity-provider", field: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := cloudsetup.GCP(tc.cfg, cloudsetup.GCPInput{Project: tc.project, Bucket: tc.bucket, KMSKey: tc.kms, Principal: tc.principal, ConsoleOrigin: tc.orig,
				Issuer: tc.issuer, Subject: tc.subject})
			var commands []string
			if got != nil {
				commands = got.Commands
			}
			checkSetup(t, commands, err, tc.err, tc.field, tc.want, tc.not)
		})
	}
}

// TestGCPRunsInAShell runs the setup in sh with a gcloud on PATH that only
// records its arguments: the heredoc writes the CORS JSON that --output json returns, and
// every command reaches gcloud with exactly the words it was meant to have.
func TestGCPRunsInAShell(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	setup, err := cloudsetup.GCP(api.CredsKeyConfig{ServiceAccount: testSA}, cloudsetup.GCPInput{Project: "acme-ml", Bucket: "acme-ml-data", KMSKey: testKMSKey,
		Principal: "principal://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/subject/~tarn", ConsoleOrigin: "http://127.0.0.1:7777"})
	if err != nil {
		t.Fatal(err)
	}
	calls, dir := gcloudCalls(t, sh, setup.Commands)
	member := "serviceAccount:" + testSA
	want := [][]string{
		{"iam", "service-accounts", "create", "tarn-data", "--project=acme-ml", "--display-name=tarn datasets"},
		{"storage", "buckets", "add-iam-policy-binding", "gs://acme-ml-data", "--member=" + member, "--role=roles/storage.objectAdmin"},
		{"kms", "keys", "add-iam-policy-binding", testKMSKey, "--member=" + member, "--role=roles/cloudkms.cryptoKeyEncrypterDecrypter"},
		{"storage", "service-agent", "--project=acme-ml", "--authorize-cmek=" + testKMSKey},
		{"iam", "service-accounts", "add-iam-policy-binding", testSA, "--member=" + setup.Principal, "--role=roles/iam.serviceAccountTokenCreator"},
		{"storage", "buckets", "update", "gs://acme-ml-data", "--cors-file=cors.json"},
	}
	if !slices.EqualFunc(calls, want, slices.Equal) {
		t.Errorf("gcloud calls:\n%q\nwant:\n%q", calls, want)
	}
	written, err := os.ReadFile(filepath.Join(dir, "cors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cors []struct {
		Origin, Method, ResponseHeader []string
		MaxAgeSeconds                  int
	}
	if err := json.Unmarshal(written, &cors); err != nil {
		t.Fatalf("cors.json: %v\n%s", err, written)
	}
	if len(cors) != 1 || !slices.Equal(cors[0].Origin, []string{"http://127.0.0.1:7777"}) || !slices.Equal(cors[0].Method, []string{"GET", "HEAD"}) ||
		!slices.Equal(cors[0].ResponseHeader, []string{"*"}) || cors[0].MaxAgeSeconds != 3600 {
		t.Errorf("cors.json: %s", written)
	}
	if !json.Valid(setup.CORS) || string(setup.CORS) != strings.TrimSuffix(string(written), "\n") {
		t.Errorf("--output json cors %s, the file %s", setup.CORS, written)
	}
}

// gcloudCalls runs commands in sh in a fresh directory, with a gcloud on PATH that only
// records its arguments, and returns the argument lists gcloud got and the directory.
func gcloudCalls(t *testing.T, sh string, commands []string) ([][]string, string) {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	os.Mkdir(bin, 0o755)
	record := "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\t' \"$a\"; done >> \"$GCLOUD_LOG\"; echo >> \"$GCLOUD_LOG\"\n"
	if err := os.WriteFile(filepath.Join(bin, "gcloud"), []byte(record), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sh, "-e", "-c", strings.Join(commands, "\n"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "GCLOUD_LOG="+filepath.Join(dir, "log"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sh: %v\n%s", err, out)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "log"))
	var calls [][]string
	for _, line := range strings.Split(strings.TrimSuffix(string(log), "\n"), "\n") {
		calls = append(calls, strings.Split(strings.TrimSuffix(line, "\t"), "\t"))
	}
	return calls, dir
}

// TestGCPFederatedRunsInAShell: the federation commands reach gcloud with the words meant,
// the attribute condition as one word that names the key's subject only.
func TestGCPFederatedRunsInAShell(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	calls, _ := gcloudCalls(t, sh, federatedSetup(t).Commands)
	member := "serviceAccount:" + testSA
	want := [][]string{
		{"iam", "service-accounts", "create", "tarn-data", "--project=acme-ml", "--display-name=tarn datasets"},
		{"storage", "buckets", "add-iam-policy-binding", "gs://acme-ml-data", "--member=" + member, "--role=roles/storage.objectAdmin"},
		{"iam", "workload-identity-pools", "create", "tarn-pool", "--project=123456789012", "--location=global"},
		{"iam", "workload-identity-pools", "providers", "create-oidc", "tarn-issuer", "--project=123456789012", "--workload-identity-pool=tarn-pool",
			"--location=global", "--issuer-uri=" + testIssuer, "--attribute-mapping=google.subject=assertion.sub",
			"--attribute-condition=assertion.sub=='" + testSubject + "'"},
		{"iam", "service-accounts", "add-iam-policy-binding", testSA, "--member=" + testPoolPrincipal, "--role=roles/iam.workloadIdentityUser"},
		{"storage", "buckets", "update", "gs://acme-ml-data", "--cors-file=cors.json"},
	}
	if !slices.EqualFunc(calls, want, slices.Equal) {
		t.Errorf("gcloud calls:\n%q\nwant:\n%q", calls, want)
	}
}

// TestGCPFlagsExist checks the commands GCP returns against the
// installed gcloud: every option they use is one its help lists. Nothing is sent
// anywhere: gcloud only prints help, with a fresh configuration and any traffic sent to a
// proxy on a closed loopback port.
func TestGCPFlagsExist(t *testing.T) {
	if _, err := exec.LookPath("gcloud"); err != nil {
		t.Skip("gcloud is not installed (the Google Cloud CLI; Debian does not package it)")
	}
	setup, err := cloudsetup.GCP(api.CredsKeyConfig{ServiceAccount: testSA}, cloudsetup.GCPInput{Project: "acme-ml", Bucket: "acme-ml-data", KMSKey: testKMSKey,
		Principal: "serviceAccount:tarn-server@tarn-prod.iam.gserviceaccount.com", ConsoleOrigin: "http://127.0.0.1:7777"})
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	option := regexp.MustCompile(`\s(--[a-z-]+)`)
	for _, c := range append(setup.Commands, federatedSetup(t).Commands...) {
		if !strings.HasPrefix(c, "gcloud ") {
			continue
		}
		// The command: the words before the first flag, less the one positional argument
		// that every command of more than two words ends with.
		var group []string
		for _, w := range strings.Fields(c)[1:] {
			if strings.HasPrefix(w, "-") {
				break
			}
			group = append(group, w)
		}
		if len(group) > 2 {
			group = group[:len(group)-1]
		}
		cmd := exec.CommandContext(t.Context(), "gcloud", append(group, "--help")...)
		cmd.Env = append(os.Environ(), "HOME="+home, "CLOUDSDK_CONFIG="+filepath.Join(home, "gcloud"),
			"CLOUDSDK_CORE_DISABLE_PROMPTS=1", "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING=true",
			"CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK=true", "PAGER=cat", "TERM=dumb",
			"HTTP_PROXY=http://127.0.0.1:9", "HTTPS_PROXY=http://127.0.0.1:9", "http_proxy=http://127.0.0.1:9", "https_proxy=http://127.0.0.1:9")
		help, err := cmd.Output()
		if err != nil {
			t.Fatalf("gcloud %s --help: %v", strings.Join(group, " "), err)
		}
		for _, m := range option.FindAllStringSubmatch(c, -1) {
			if !strings.Contains(string(help), m[1]) {
				t.Errorf("gcloud %s has no option %s (printed: %s)", strings.Join(group, " "), m[1], c)
			}
		}
	}
}

// checkSetup checks what Azure or GCP returned: an Invalid error of one line holding
// wantErr in field when wantErr is set, else commands that hold every string of want and
// none of not.
func checkSetup(t *testing.T, commands []string, err error, wantErr, field string, want, not []string) {
	t.Helper()
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) || strings.Contains(err.Error(), "\n") {
			t.Fatalf("error %v; want one line with %q", err, wantErr)
		}
		if errs.KindOf(err) != errs.Invalid || errs.FieldOf(err) != field {
			t.Errorf("error %v of kind %v in field %q; want Invalid in %q", err, errs.KindOf(err), errs.FieldOf(err), field)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	out := strings.Join(commands, "\n")
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	for _, n := range not {
		if strings.Contains(out, n) {
			t.Errorf("output holds %q:\n%s", n, out)
		}
	}
}
