package main

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"
)

const (
	vendRoute = "POST /api/v1/orgs/acme/datasets/coco/credentials"
	// s3Vend is a vend of a MinIO-like store: custom endpoint, path style, and values that a
	// shell must not interpret.
	s3Vend = `{"location":"s3://bkt/coco","mode":"read","provider":"s3","expires_at":"2025-03-01T13:00:00Z",` +
		`"s3":{"access_key_id":"AKIA1","secret_access_key":"se'cr$et/+=","session_token":"tok en;x","region":"eu-west-1",` +
		`"endpoint":"http://127.0.0.1:9000","path_style":true}}`
	fileVend = `{"location":"file:///srv/ds/coco","mode":"read","provider":"file","expires_at":"2025-03-01T13:00:00Z","file":{"path":"/srv/ds/coco"}}`
)

func TestVendAWSProcessPrintsCredentialProcessJSON(t *testing.T) {
	for _, tc := range []struct {
		name, answer, want string
	}{
		{"temporary credentials", s3Vend,
			`{"Version":1,"AccessKeyId":"AKIA1","SecretAccessKey":"se'cr$et/+=","SessionToken":"tok en;x","Expiration":"2025-03-01T13:00:00Z"}` + "\n"},
		{"expiry in another zone is printed in UTC",
			`{"location":"s3://bkt/coco","mode":"read","provider":"aws","expires_at":"2025-03-01T14:00:00+01:00","s3":{"access_key_id":"A","secret_access_key":"S","session_token":"T"}}`,
			`{"Version":1,"AccessKeyId":"A","SecretAccessKey":"S","SessionToken":"T","Expiration":"2025-03-01T13:00:00Z"}` + "\n"},
		{"no session token, no expiry",
			`{"location":"s3://bkt/coco","mode":"read","provider":"s3","expires_at":"0001-01-01T00:00:00Z","s3":{"access_key_id":"A","secret_access_key":"S"}}`,
			`{"Version":1,"AccessKeyId":"A","SecretAccessKey":"S"}` + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFakeAPI(t, map[string]route{vendRoute: {200, tc.answer}})
			res := envFor(t, srv).run("vend", "al://acme/coco", "--format", "aws-process")
			if res.code != 0 || res.stdout != tc.want || res.stderr != "" {
				t.Fatalf("exit %d\nstdout: %s\nstderr: %s\nwant stdout: %s", res.code, res.stdout, res.stderr, tc.want)
			}
			if r := srv.last(t); r.Body != `{"mode":"read"}` {
				t.Errorf("body %s", r.Body)
			}
			// What the AWS SDKs require: Version 1, the keys, and an RFC 3339 Expiration.
			var got map[string]any
			if err := json.Unmarshal([]byte(res.stdout), &got); err != nil {
				t.Fatal(err)
			}
			if got["Version"] != 1.0 || got["AccessKeyId"] == "" || got["SecretAccessKey"] == "" {
				t.Errorf("not credential_process output: %v", got)
			}
			if exp, ok := got["Expiration"].(string); ok {
				if _, err := time.Parse(time.RFC3339, exp); err != nil {
					t.Errorf("Expiration %q: %v", exp, err)
				}
			}
		})
	}
}

func TestVendAWSProcessThroughCredsKeyInWriteMode(t *testing.T) {
	srv := newFakeAPI(t, map[string]route{"POST /api/v1/orgs/acme/creds-keys/minio/credentials": {200, s3Vend}})
	res := envFor(t, srv).run("vend", "s3://bkt/raw", "--org", "acme", "--creds-key", "minio", "--mode", "write", "--format", "aws-process")
	if res.code != 0 || !strings.HasPrefix(res.stdout, `{"Version":1,`) {
		t.Fatalf("exit %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
	}
	if r := srv.last(t); r.Body != `{"location":"s3://bkt/raw","mode":"write"}` {
		t.Errorf("body %s", r.Body)
	}
}

func TestVendAWSProcessRefusesOtherProviders(t *testing.T) {
	srv := newFakeAPI(t, map[string]route{vendRoute: {200, fileVend}})
	res := envFor(t, srv).run("vend", "al://acme/coco", "--format", "aws-process")
	want := `tarn: vend read credentials for al://acme/coco: --format aws-process is for S3 credentials; these are of provider "file": use --format json or env` + "\n"
	if res.code != 1 || res.stdout != "" || res.stderr != want {
		t.Errorf("exit %d\nstdout: %q\nstderr: %q\nwant stderr: %q", res.code, res.stdout, res.stderr, want)
	}
}

func TestVendEnvForS3(t *testing.T) {
	srv := newFakeAPI(t, map[string]route{vendRoute: {200, s3Vend}})
	res := envFor(t, srv).run("vend", "al://acme/coco", "--format", "env")
	want := `export AWS_ACCESS_KEY_ID=AKIA1
export AWS_SECRET_ACCESS_KEY='se'\''cr$et/+='
export AWS_SESSION_TOKEN='tok en;x'
export AWS_REGION=eu-west-1
export AWS_DEFAULT_REGION=eu-west-1
export AWS_ENDPOINT_URL_S3=http://127.0.0.1:9000
# path-style addressing (ENDPOINT/BUCKET/KEY): AWS CLI and boto3 use it with AWS_ENDPOINT_URL_S3;
# elsewhere set s3 addressing_style = path (~/.aws/config), URL_STYLE 'path' (DuckDB), force_path_style = true (rclone)
`
	if res.code != 0 || res.stdout != want || res.stderr != "" {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr: %s\nwant:\n%s", res.code, res.stdout, res.stderr, want)
	}

	// A real shell reads back exactly the vended values.
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh to evaluate the output with")
	}
	out, err := exec.Command(sh, "-c", res.stdout+`printf '%s|%s|%s|%s' "$AWS_SECRET_ACCESS_KEY" "$AWS_SESSION_TOKEN" "$AWS_DEFAULT_REGION" "$AWS_ENDPOINT_URL_S3"`).Output()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(out), "se'cr$et/+=|tok en;x|eu-west-1|http://127.0.0.1:9000"; got != want {
		t.Errorf("sh read back %q, want %q", got, want)
	}
}

func TestVendEnvForAWSOmitsEndpointAndPathStyle(t *testing.T) {
	srv := newFakeAPI(t, map[string]route{vendRoute: {200,
		`{"location":"s3://bkt/coco","mode":"read","provider":"aws","expires_at":"2025-03-01T13:00:00Z","s3":{"access_key_id":"A","secret_access_key":"S","session_token":"T","region":"us-east-2"}}`}})
	res := envFor(t, srv).run("vend", "al://acme/coco", "--format", "env")
	want := "export AWS_ACCESS_KEY_ID=A\nexport AWS_SECRET_ACCESS_KEY=S\nexport AWS_SESSION_TOKEN=T\nexport AWS_REGION=us-east-2\nexport AWS_DEFAULT_REGION=us-east-2\n"
	if res.code != 0 || res.stdout != want {
		t.Errorf("exit %d, stderr %q\nstdout:\n%s\nwant:\n%s", res.code, res.stderr, res.stdout, want)
	}
}

// azureVend is a directory SAS of an emulator: the token holds & and %, which a shell must
// not interpret.
const azureVend = `{"location":"az://devstoreaccount1/data/ml/coco","mode":"read","provider":"azure","expires_at":"2025-03-01T13:00:00Z",` +
	`"azure":{"account":"devstoreaccount1","endpoint":"http://127.0.0.1:10000/devstoreaccount1","container":"data","prefix":"ml/co co",` +
	`"sas_token":"sdd=2&se=2025-03-01T13%3A00%3A00Z&sig=a%2Bb%3D&sp=rl&spr=https%2Chttp&sr=d&st=2025-03-01T11%3A59%3A00Z&sv=2025-01-05"}}`

func TestVendEnvForAzure(t *testing.T) {
	srv := newFakeAPI(t, map[string]route{vendRoute: {200, azureVend}})
	res := envFor(t, srv).run("vend", "al://acme/coco", "--format", "env")
	token := "sdd=2&se=2025-03-01T13%3A00%3A00Z&sig=a%2Bb%3D&sp=rl&spr=https%2Chttp&sr=d&st=2025-03-01T11%3A59%3A00Z&sv=2025-01-05"
	want := "export AZURE_STORAGE_ACCOUNT=devstoreaccount1\n" +
		"export AZURE_STORAGE_SAS_TOKEN='" + token + "'\n" +
		"export AZURE_STORAGE_BLOB_ENDPOINT=http://127.0.0.1:10000/devstoreaccount1\n"
	if res.code != 0 || res.stdout != want || res.stderr != "" {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr: %s\nwant:\n%s", res.code, res.stdout, res.stderr, want)
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh to evaluate the output with")
	}
	out, err := exec.Command(sh, "-c", res.stdout+`printf '%s' "$AZURE_STORAGE_SAS_TOKEN"`).Output()
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != token {
		t.Errorf("sh read back %q, want %q", out, token)
	}
}

func TestVendSASURL(t *testing.T) {
	srv := newFakeAPI(t, map[string]route{vendRoute: {200, azureVend}})
	res := envFor(t, srv).run("vend", "al://acme/coco", "--format", "sas-url")
	want := "http://127.0.0.1:10000/devstoreaccount1/data/ml/co%20co?sdd=2&se=2025-03-01T13%3A00%3A00Z&sig=a%2Bb%3D&sp=rl&spr=https%2Chttp&sr=d&st=2025-03-01T11%3A59%3A00Z&sv=2025-01-05\n"
	if res.code != 0 || res.stdout != want {
		t.Fatalf("exit %d, stderr %q\nstdout: %s\nwant:   %s", res.code, res.stderr, res.stdout, want)
	}
	srv = newFakeAPI(t, map[string]route{vendRoute: {200, s3Vend}})
	res = envFor(t, srv).run("vend", "al://acme/coco", "--format", "sas-url")
	wantErr := `tarn: vend read credentials for al://acme/coco: --format sas-url is for Azure credentials; these are of provider "s3": use --format json or env` + "\n"
	if res.code != 1 || res.stdout != "" || res.stderr != wantErr {
		t.Errorf("sas-url of S3 credentials: exit %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
	}
}
