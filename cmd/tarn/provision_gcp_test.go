package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2/google"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/googletest"
	"github.com/tarnhq/tarn/internal/provider/gcsdownscope"
	"github.com/tarnhq/tarn/internal/testenv"
)

const testKMSKey = "projects/acme-ml/locations/europe-west4/keyRings/data/cryptoKeys/datasets"

func TestGCPProvision(t *testing.T) {
	adc := api.CredsKeyConfig{Auth: api.AuthDefault, ServiceAccount: testSA}
	const server = "serviceAccount:tarn-server@tarn-prod.iam.gserviceaccount.com"
	for _, tc := range []struct {
		name                                  string
		cfg                                   api.CredsKeyConfig
		project, bucket, kms, principal, orig string
		want, not                             []string // substrings of the output
		err                                   string
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
		{name: "no service account", cfg: api.CredsKeyConfig{}, project: "acme-ml", bucket: "b-1", orig: "http://127.0.0.1:7777", err: "names no service account"},
		{name: "bucket that would run in a shell", cfg: adc, project: "acme-ml", bucket: "b$(rm -rf ~)", orig: "http://127.0.0.1:7777", err: "is not a valid bucket name"},
		{name: "project that would run in a shell", cfg: adc, project: "acme;reboot", bucket: "b-1", orig: "http://127.0.0.1:7777", err: "is not a valid Google Cloud project ID"},
		{name: "principal that would run in a shell", cfg: adc, project: "acme-ml", bucket: "b-1", principal: "user:a@b.com'`id`", orig: "http://127.0.0.1:7777", err: "is not a valid IAM member"},
		{name: "KMS key that would run in a shell", cfg: adc, project: "acme-ml", bucket: "b-1", kms: testKMSKey + " && id", orig: "http://127.0.0.1:7777", err: "is not a valid Cloud KMS key name"},
		{name: "service account that would run in a shell", cfg: api.CredsKeyConfig{ServiceAccount: "a$(id)@p.iam.gserviceaccount.com"}, project: "acme-ml", bucket: "b-1",
			orig: "http://127.0.0.1:7777", err: "is not a valid service account email"},
		{name: "origin that is no URL", cfg: adc, project: "acme-ml", bucket: "b-1", orig: "tarn", err: "is no URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := gcpProvision(tc.cfg, tc.project, tc.bucket, tc.kms, tc.principal, tc.orig)
			var commands []string
			if got != nil {
				commands = got.Commands
			}
			checkSetup(t, commands, err, tc.err, tc.want, tc.not)
		})
	}
}

// TestGCPProvisionRunsInAShell runs the printed setup in sh with a gcloud on PATH that only
// records its arguments: the heredoc writes the CORS JSON that --output json returns, and
// every command reaches gcloud with exactly the words it was meant to have.
func TestGCPProvisionRunsInAShell(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	setup, err := gcpProvision(api.CredsKeyConfig{ServiceAccount: testSA}, "acme-ml", "acme-ml-data", testKMSKey,
		"principal://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/subject/~tarn", "http://127.0.0.1:7777")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	os.Mkdir(bin, 0o755)
	record := "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\t' \"$a\"; done >> \"$GCLOUD_LOG\"; echo >> \"$GCLOUD_LOG\"\n"
	if err := os.WriteFile(filepath.Join(bin, "gcloud"), []byte(record), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sh, "-e", "-c", strings.Join(setup.Commands, "\n"))
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

// TestGCPProvisionFlagsExist checks the commands provision gcp prints against the
// installed gcloud: every option they use is one its help lists. Nothing is sent
// anywhere: gcloud only prints help, with a fresh configuration and any traffic sent to a
// proxy on a closed loopback port.
func TestGCPProvisionFlagsExist(t *testing.T) {
	if _, err := exec.LookPath("gcloud"); err != nil {
		t.Skip("gcloud is not installed (the Google Cloud CLI; Debian does not package it)")
	}
	setup, err := gcpProvision(api.CredsKeyConfig{ServiceAccount: testSA}, "acme-ml", "acme-ml-data", testKMSKey,
		"serviceAccount:tarn-server@tarn-prod.iam.gserviceaccount.com", "http://127.0.0.1:7777")
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	option := regexp.MustCompile(`\s(--[a-z-]+)`)
	for _, c := range setup.Commands {
		if !strings.HasPrefix(c, "gcloud ") {
			continue
		}
		// The command group: up to three words, before the first flag.
		var group []string
		for _, w := range strings.Fields(c)[1:] {
			if strings.HasPrefix(w, "-") || len(group) == 3 {
				break
			}
			group = append(group, w)
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
	var got gcpSetup
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

// checkSetup checks what a provision function returned: an error of one line holding
// wantErr when wantErr is set, else commands that hold every string of want and none of
// not.
func checkSetup(t *testing.T, commands []string, err error, wantErr string, want, not []string) {
	t.Helper()
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) || strings.Contains(err.Error(), "\n") {
			t.Fatalf("error %v; want one line with %q", err, wantErr)
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
			var got gcpSetup
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
