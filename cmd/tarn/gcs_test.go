package main

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// keyMarker is part of the private key of testKeyFile: no output or error may hold it.
const keyMarker = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7TESTKEY"

// testKeyFile is a service account JSON key as the Google Cloud console saves it: several
// lines, the private key with escaped newlines.
const testKeyFile = `{
  "type": "service_account",
  "project_id": "acme-ml",
  "private_key_id": "0123456789abcdef0123456789abcdef01234567",
  "private_key": "-----BEGIN PRIVATE KEY-----\n` + keyMarker + `\n-----END PRIVATE KEY-----\n",
  "client_email": "tarn-data@acme-ml.iam.gserviceaccount.com",
  "client_id": "123456789012345678901",
  "auth_uri": "https://accounts.google.com/o/oauth2/auth",
  "token_uri": "https://oauth2.googleapis.com/token"
}
`

const (
	gcsKeyRoute = "PUT /api/v1/orgs/acme/creds-keys/gcs"
	gcsKeyJSON  = `{"org":"acme","name":"gcs","provider":"gcs","config":{"roots":["gs://acme-ml/datasets"],"service_account":"tarn-data@acme-ml.iam.gserviceaccount.com"},` +
		`"version":1,"created_at":"2025-03-01T12:00:00Z","updated_at":"2025-03-02T12:00:00Z"}`
	testSA = "tarn-data@acme-ml.iam.gserviceaccount.com"
)

func TestGCSCredsAddSendsTheFlagsAsConfig(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		stdin string
		body  string
	}{
		{"server ADC", []string{"--allowed", "gcs://acme-ml/datasets", "--kms-key", "projects/acme-ml/locations/eu/keyRings/r/cryptoKeys/k"}, "",
			`{"provider":"gcs","config":{"roots":["gs://acme-ml/datasets"],"service_account":"` + testSA + `",` +
				`"kms_key":"projects/acme-ml/locations/eu/keyRings/r/cryptoKeys/k"}}`},
		{"emulator endpoints", []string{"--allowed", "gs://bkt", "--auth", "default", "--iam-endpoint", "http://127.0.0.1:8081",
			"--sts-endpoint", "http://127.0.0.1:8082", "--storage-endpoint", "http://127.0.0.1:4443"}, "",
			`{"provider":"gcs","config":{"roots":["gs://bkt"],"sts_endpoint":"http://127.0.0.1:8082","auth":"default","service_account":"` + testSA + `",` +
				`"iam_endpoint":"http://127.0.0.1:8081","storage_endpoint":"http://127.0.0.1:4443"}}`},
		{"service account key read whole", []string{"--allowed", "gs://acme-ml/datasets", "--auth", "service-account-key", "--secret-stdin"}, testKeyFile,
			""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFakeAPI(t, map[string]route{gcsKeyRoute: {200, gcsKeyJSON}})
			te := envFor(t, srv)
			te.stdin = strings.NewReader(tc.stdin)
			res := te.run(append([]string{"creds", "add", "acme/gcs", "--provider", "gcs", "--service-account", testSA}, tc.args...)...)
			if res.code != 0 || res.stdout != "Saved creds key acme/gcs (provider gcs, version 1).\n" {
				t.Fatalf("exit %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
			}
			body := srv.last(t).Body
			if tc.stdin == "" {
				if body != tc.body {
					t.Errorf("body %s\nwant %s", body, tc.body)
				}
				return
			}
			// The secret is the whole key file, every line of it, and nothing else.
			var req struct {
				Config map[string]any `json:"config"`
				Secret string         `json:"secret"`
			}
			if err := json.Unmarshal([]byte(body), &req); err != nil {
				t.Fatal(err)
			}
			if req.Secret != strings.TrimSpace(testKeyFile) {
				t.Errorf("secret sent:\n%s\nwant the key file:\n%s", req.Secret, testKeyFile)
			}
			if req.Config["auth"] != "service-account-key" || req.Config["service_account"] != testSA {
				t.Errorf("config %v", req.Config)
			}
			if strings.Contains(res.stdout+res.stderr, keyMarker) {
				t.Error("the key was echoed")
			}
		})
	}
}

// TestGCSCredsAddRefusesWhatIsNoServiceAccountKey checks, from the side of someone who
// pipes the wrong file, that the CLI refuses it before sending anything, in one line that
// holds nothing of the file.
func TestGCSCredsAddRefusesWhatIsNoServiceAccountKey(t *testing.T) {
	user := `{"type": "authorized_user", "client_id": "x.apps.googleusercontent.com", "client_secret": "` + keyMarker + `", "refresh_token": "1//0g"}`
	for _, tc := range []struct {
		name, stdin, auth string
		terminal          bool
		want              string
	}{
		{"empty", "", "service-account-key", false, "no service account key on standard input"},
		{"not JSON", "-----BEGIN PRIVATE KEY-----\n" + keyMarker + "\n-----END PRIVATE KEY-----\n", "service-account-key", false, "is not a JSON key file"},
		{"JSON cut short", testKeyFile[:200], "service-account-key", false, "is not a JSON key file"},
		{"user credentials", user, "service-account-key", false, `its "type" is not "service_account"`},
		{"no private key", `{"type":"service_account","client_email":"` + testSA + `","private_key_id":"` + keyMarker + `"}`, "service-account-key", false, "lacks client_email or private_key"},
		{"too large", `{"type":"service_account","private_key":"` + strings.Repeat(keyMarker, 2000) + `"}`, "service-account-key", false, "more than 64 KiB"},
		{"secret without the key mode", testKeyFile, "default", false, "only with --auth service-account-key"},
		{"secret without any mode", testKeyFile, "", false, "only with --auth service-account-key"},
		{"typed at a terminal", "", "service-account-key", true, "redirect the service account's JSON key file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFakeAPI(t, map[string]route{gcsKeyRoute: {200, gcsKeyJSON}})
			te := envFor(t, srv)
			te.stdin = strings.NewReader(tc.stdin)
			te.stdinTerminal = tc.terminal
			te.readSecret = func() (string, error) { return keyMarker, nil }
			args := []string{"creds", "add", "acme/gcs", "--provider", "gcs", "--service-account", testSA, "--allowed", "gs://bkt", "--secret-stdin"}
			if tc.auth != "" {
				args = append(args, "--auth", tc.auth)
			}
			res := te.run(args...)
			line, hint, _ := strings.Cut(res.stderr, "\n")
			if res.code != 2 || !strings.Contains(line, tc.want) || hint != "Run 'tarn creds add --help' for usage.\n" {
				t.Errorf("exit %d, stderr %q; want exit 2 and one line with %q, then the usage hint", res.code, res.stderr, tc.want)
			}
			if strings.Contains(res.stdout+res.stderr, keyMarker) {
				t.Errorf("the input was echoed: %q", res.stderr)
			}
			if n := len(srv.requests()); n != 0 {
				t.Errorf("%d requests sent", n)
			}
		})
	}
}

func TestGCSCredsShowMarksTheServiceAccountKeyWeakest(t *testing.T) {
	srv := newFakeAPI(t, map[string]route{"GET /api/v1/orgs/acme/creds-keys/gcs": {200,
		`{"org":"acme","name":"gcs","provider":"gcs","config":{"roots":["gs://acme-ml/datasets"],"auth":"service-account-key","service_account":"` + testSA + `",` +
			`"storage_endpoint":"http://127.0.0.1:4443","kms_key":"projects/p/locations/l/keyRings/r/cryptoKeys/k"},"version":2,"created_at":"2025-03-01T12:00:00Z","updated_at":"2025-03-02T12:00:00Z"}`}})
	res := envFor(t, srv).run("creds", "show", "acme/gcs")
	want := "org:              acme\nname:             gcs\nprovider:         gcs\nversion:          2\nroots:            gs://acme-ml/datasets\n" +
		"auth:             service-account-key (the weakest option: a long-lived JSON key that only deleting it revokes; prefer default)\n" +
		"service account:  " + testSA + "\nstorage endpoint: http://127.0.0.1:4443\nkms key:          projects/p/locations/l/keyRings/r/cryptoKeys/k\n" +
		"created:          2025-03-01T12:00:00Z\nupdated:          2025-03-02T12:00:00Z\n"
	if res.code != 0 || res.stdout != want {
		t.Errorf("exit %d, stderr %q\nstdout:\n%s\nwant:\n%s", res.code, res.stderr, res.stdout, want)
	}
}

// gcsToken is a downscoped token as Google STS issues them, with characters a shell must
// not interpret added.
const gcsToken = "ya29.d.c0ASRXIJ$(id)'x;y"

func gcsVend(endpoint string) string {
	v := map[string]any{"location": "gs://acme-ml/datasets/coco", "mode": "read", "provider": "gcs", "expires_at": "2025-03-01T13:00:00Z",
		"gcs": map[string]string{"bucket": "acme-ml", "prefix": "datasets/coco", "access_token": gcsToken, "endpoint": endpoint}}
	b, _ := json.Marshal(v)
	return string(b)
}

func TestVendEnvForGCS(t *testing.T) {
	quoted := `'ya29.d.c0ASRXIJ$(id)'\''x;y'`
	for _, tc := range []struct {
		name, endpoint, want string
	}{
		{"Google", "", "export CLOUDSDK_AUTH_ACCESS_TOKEN=" + quoted + "\nexport GOOGLE_OAUTH_ACCESS_TOKEN=" + quoted + "\n"},
		{"emulator", "http://127.0.0.1:4443/", "export CLOUDSDK_AUTH_ACCESS_TOKEN=" + quoted + "\nexport GOOGLE_OAUTH_ACCESS_TOKEN=" + quoted + "\n" +
			"export STORAGE_EMULATOR_HOST=http://127.0.0.1:4443\nexport CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE=http://127.0.0.1:4443/storage/v1/\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFakeAPI(t, map[string]route{vendRoute: {200, gcsVend(tc.endpoint)}})
			res := envFor(t, srv).run("vend", "al://acme/coco", "--format", "env")
			if res.code != 0 || res.stdout != tc.want || res.stderr != "" {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr: %s\nwant:\n%s", res.code, res.stdout, res.stderr, tc.want)
			}
			sh, err := exec.LookPath("sh")
			if err != nil {
				t.Skip("no sh to evaluate the output with")
			}
			out, err := exec.Command(sh, "-c", res.stdout+`printf '%s|%s' "$CLOUDSDK_AUTH_ACCESS_TOKEN" "$GOOGLE_OAUTH_ACCESS_TOKEN"`).Output()
			if err != nil {
				t.Fatal(err)
			}
			if want := gcsToken + "|" + gcsToken; string(out) != want {
				t.Errorf("sh read back %q, want %q", out, want)
			}
		})
	}
}

func TestVendTokenPrintsOnlyTheGCSToken(t *testing.T) {
	srv := newFakeAPI(t, map[string]route{vendRoute: {200, gcsVend("")}})
	res := envFor(t, srv).run("vend", "al://acme/coco", "--format", "token")
	if res.code != 0 || res.stdout != gcsToken+"\n" || res.stderr != "" {
		t.Errorf("exit %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
	}
	for _, answer := range []string{s3Vend, azureVend} {
		srv := newFakeAPI(t, map[string]route{vendRoute: {200, answer}})
		res := envFor(t, srv).run("vend", "al://acme/coco", "--format", "token")
		if res.code != 1 || res.stdout != "" || !strings.Contains(res.stderr, "--format token is for GCS credentials") ||
			strings.Contains(res.stderr, "sig=") || strings.Contains(res.stderr, "se'cr") {
			t.Errorf("token of other credentials: exit %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
		}
	}
}
