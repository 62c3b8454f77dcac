package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tarnhq/tarn/internal/azuritetest"
	"github.com/tarnhq/tarn/internal/miniotest"
	"github.com/tarnhq/tarn/internal/testenv"
)

const corsConsole = "http://console.test:7777"

// TestCorsOnMinIO runs tarn cors on datasets of a MinIO that allows another origin and of
// one that allows the console's: check fails with the rule to add, then passes; show reads
// no bucket rules and set says to configure MinIO server-wide instead.
func TestCorsOnMinIO(t *testing.T) {
	for _, tc := range []struct {
		origin string
		ok     bool
	}{{"http://other.test", false}, {corsConsole, true}} {
		minio := miniotest.StartWith(t, miniotest.Options{CORSAllowOrigin: tc.origin})
		_, reader := minioDataset(t, minio, "coco/tarn.json", `{}`)
		bucket := "s3://" + minio.Bucket

		res := reader.run("cors", "check", "al://acme/coco", "--origin", corsConsole)
		if tc.ok && (res.code != 0 || strings.Contains(res.stdout, "FAILED") || !strings.Contains(checkLine(res.stdout, "ETag and Content-Range exposed"), " ok ")) {
			t.Errorf("check with MinIO allowing the console: exit %d\n%s%s", res.code, res.stdout, res.stderr)
		}
		if !tc.ok && (res.code != 1 || !strings.Contains(res.stdout, "GET allows the origin") || !strings.Contains(res.stderr, "AllowedOrigins ["+corsConsole+"]") ||
			!strings.Contains(res.stderr, "tarn cors set") || strings.Contains(res.stdout+res.stderr, "X-Amz-Signature") || strings.Count(res.stderr, "\n") != 1) {
			t.Errorf("check with MinIO allowing another origin: exit %d\n%s%s", res.code, res.stdout, res.stderr)
		}
		res = reader.run("cors", "check", "al://acme/coco", "--origin", corsConsole, "-o", "json")
		var out struct {
			OK     bool `json:"ok"`
			Checks []struct {
				Name string `json:"name"`
				OK   bool   `json:"ok"`
			} `json:"checks"`
		}
		if err := json.Unmarshal([]byte(res.stdout), &out); err != nil || out.OK != tc.ok || len(out.Checks) != 6 {
			t.Errorf("check -o json: %v %q", err, res.stdout)
		}
		if !tc.ok {
			continue
		}
		platform := newTestEnv(t, map[string]string{"AWS_ACCESS_KEY_ID": minio.RootUser, "AWS_SECRET_ACCESS_KEY": minio.RootPassword})
		if res := mustRun(t, platform, "cors", "show", bucket, "--store-endpoint", minio.Endpoint); !strings.Contains(res.stdout, "has no CORS rules") {
			t.Errorf("show: %q", res.stdout)
		}
		res = platform.run("cors", "set", bucket, "--store-endpoint", minio.Endpoint, "--origin", corsConsole)
		if res.code != 1 || !strings.Contains(res.stderr, "mc admin config set ALIAS api cors_allow_origin="+corsConsole) || !strings.Contains(res.stderr, "MINIO_API_CORS_ALLOW_ORIGIN") {
			t.Errorf("set on MinIO: exit %d, stderr %q", res.code, res.stderr)
		}
	}
}

// TestCorsOnAzurite: check of an Azure dataset fails before tarn cors set and passes
// after; show reads back the rule that set wrote, as text and JSON.
func TestCorsOnAzurite(t *testing.T) {
	az := azuritetest.Start(t)
	env := testenv.New(t, testenv.Options{AllowEndpoints: []string{az.HostPort()}})
	env.Clock.Advance(time.Since(env.Clock.Now()))
	admin := newTestEnv(t, map[string]string{envEndpoint: env.URL, envToken: env.AdminToken})
	container := "az://" + az.Account + "/" + az.Container
	mustRun(t, admin, "org", "create", "acme")
	admin.stdin = strings.NewReader(az.AccountKey + "\n")
	mustRun(t, admin, "creds", "add", "acme/az", "--provider", "azure", "--account", az.Account, "--scope", "container",
		"--allowed", container, "--blob-endpoint", az.Endpoint, "--auth", "shared-key", "--secret-stdin")
	mustRun(t, admin, "storage", "set-default", "acme", container, "--creds-key", "az")
	mustRun(t, admin, "ds", "create", "al://acme/pets")
	reader := newTestEnv(t, map[string]string{envEndpoint: env.URL, envToken: env.NewUser(t, "rita", "acme", "reader")})
	platform := newTestEnv(t, map[string]string{"AZURE_STORAGE_CONNECTION_STRING": "DefaultEndpointsProtocol=http;AccountName=" + az.Account +
		";AccountKey=" + az.AccountKey + ";BlobEndpoint=" + az.Endpoint + ";"})
	t.Cleanup(func() { platform.run("cors", "set", container, "--origin", "http://cleanup.test") })

	blob := az.SharedKeyClient(t).ServiceClient().NewContainerClient(az.Container).NewBlockBlobClient("pets/tarn.json")
	if _, err := blob.UploadBuffer(t.Context(), []byte(`{}`), nil); err != nil {
		t.Fatal(err)
	}
	if res := reader.run("cors", "check", "al://acme/pets", "--origin", corsConsole); res.code != 1 || !strings.Contains(checkLine(res.stdout, "preflight allowed"), "FAILED") {
		t.Errorf("check before set: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	res := mustRun(t, platform, "cors", "set", container, "--origin", corsConsole)
	if !strings.Contains(res.stdout, "account "+az.Account+" (all its containers)") {
		t.Errorf("set: %q", res.stdout)
	}
	res = mustRun(t, platform, "cors", "show", container)
	if !strings.Contains(res.stdout, "AllowedOrigins ["+corsConsole+"], AllowedMethods [GET HEAD], AllowedHeaders [Range], ExposeHeaders [ETag Content-Range Content-Length Accept-Ranges], MaxAgeSeconds 3600") {
		t.Errorf("show after set: %q", res.stdout)
	}
	res = mustRun(t, platform, "cors", "show", container, "-o", "json")
	var rules []struct {
		Origins []string `json:"allowed_origins"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &rules); err != nil || len(rules) == 0 || rules[0].Origins[0] != corsConsole {
		t.Errorf("show -o json: %v %q", err, res.stdout)
	}
	if res := reader.run("cors", "check", "al://acme/pets", "--origin", corsConsole); res.code != 0 || strings.Contains(res.stdout, "FAILED") {
		t.Errorf("check after set: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"cors", "set", container, "--origin", "https://x.test/console"}, "no path"},
		{[]string{"cors", "set", container}, "origin"},
		{[]string{"cors", "show", "al://acme/pets"}, "storage location"},
		{[]string{"cors", "check", container, "--origin", corsConsole}, "give al://ORG/NAME"},
		{[]string{"cors", "check", "al://acme/pets/tarn.json", "--origin", corsConsole}, "give al://ORG/NAME"},
	} {
		if res := platform.run(tc.args...); res.code != 2 || !strings.Contains(res.stderr, tc.want) {
			t.Errorf("tarn %s: exit %d, stderr %q; want a usage error naming %q", strings.Join(tc.args, " "), res.code, res.stderr, tc.want)
		}
	}
	other := newTestEnv(t, map[string]string{"AZURE_STORAGE_CONNECTION_STRING": "DefaultEndpointsProtocol=http;AccountName=other;AccountKey=" + az.AccountKey + ";BlobEndpoint=http://127.0.0.1:1/other;"})
	if res := other.run("cors", "show", container); res.code != 1 || !strings.Contains(res.stderr, "not of account "+az.Account) {
		t.Errorf("a connection string of another account: exit %d, stderr %q", res.code, res.stderr)
	}
}

// checkLine returns the line of tarn cors check's table about the check named name.
func checkLine(stdout, name string) string {
	for _, l := range strings.Split(stdout, "\n") {
		if strings.HasPrefix(l, name+" ") {
			return l
		}
	}
	return ""
}
