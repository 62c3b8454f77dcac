package main

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	datasetJSON  = `{"org":"acme","name":"coco","path":"al://acme/coco","location":"file:///srv/ds/coco","creds_key":"local","public":false,"linked_creds_keys":["web"],"created_at":"2025-03-01T12:00:00Z","created_by":"alice"}`
	credsKeyJSON = `{"org":"acme","name":"local","provider":"file","config":{"roots":["file:///srv/ds"]},"version":3,"created_at":"2025-03-01T12:00:00Z","updated_at":"2025-03-02T12:00:00Z"}`
)

// TestRequests pins what each command sends: method, escaped path, query and body.
func TestRequests(t *testing.T) {
	cwd, _ := os.Getwd()
	for _, tc := range []struct {
		args   []string
		route  string // METHOD /path
		status int
		answer string
		query  string
		body   string // "" for none
	}{
		{[]string{"user", "create", "bob", "--superuser"}, "POST /api/v1/users", 201,
			`{"user":{"name":"bob","superuser":true,"created_at":"2025-03-01T12:00:00Z"},"token":"tarn_new","token_info":{"id":"t9","user":"bob","created_at":"2025-03-01T12:00:00Z"}}`,
			"", `{"name":"bob","superuser":true}`},
		{[]string{"org", "create", "acme"}, "POST /api/v1/orgs", 201, `{"name":"acme","created_at":"2025-03-01T12:00:00Z"}`,
			"", `{"name":"acme"}`},
		{[]string{"org", "ls"}, "GET /api/v1/orgs", 200, `{"orgs":[{"name":"acme","created_at":"2025-03-01T12:00:00Z"}]}`, "", ""},
		{[]string{"user", "ls"}, "GET /api/v1/users", 200, `{"users":[{"name":"bob","superuser":false,"created_at":"2025-03-01T12:00:00Z"}]}`, "", ""},
		{[]string{"org", "member", "add", "acme", "bob", "--role", "writer"}, "PUT /api/v1/orgs/acme/members/bob", 200,
			`{"org":"acme","user":"bob","role":"writer"}`, "", `{"role":"writer"}`},
		{[]string{"org", "member", "rm", "acme", "bob"}, "DELETE /api/v1/orgs/acme/members/bob", 204, "", "", ""},
		{[]string{"token", "create"}, "POST /api/v1/tokens", 201, `{"token":"tarn_x","token_info":{"id":"t2","user":"alice","created_at":"2025-03-01T12:00:00Z"}}`,
			"", `{}`},
		{[]string{"token", "create", "--ttl", "0", "--name", "ci"}, "POST /api/v1/tokens", 201, `{"token":"tarn_x","token_info":{"id":"t2","user":"alice","created_at":"2025-03-01T12:00:00Z"}}`,
			"", `{"name":"ci","ttl_seconds":-1}`},
		{[]string{"token", "create", "--org", "acme", "--role", "reader", "--ttl", "24h"}, "POST /api/v1/tokens", 201, `{"token":"tarn_x","token_info":{"id":"t2","user":"alice","created_at":"2025-03-01T12:00:00Z"}}`,
			"", `{"org":"acme","role":"reader","ttl_seconds":86400}`},
		{[]string{"token", "revoke", "t2"}, "DELETE /api/v1/tokens/t2", 204, "", "", ""},
		{[]string{"creds", "add", "acme/local", "--provider", "file", "--root", "data", "--root", "file:///srv/ds"},
			"PUT /api/v1/orgs/acme/creds-keys/local", 200, credsKeyJSON,
			"", `{"provider":"file","config":{"roots":["file://` + filepath.ToSlash(filepath.Join(cwd, "data")) + `","file:///srv/ds"]}}`},
		{[]string{"creds", "add", "acme/cloud", "--provider", "azure"}, "PUT /api/v1/orgs/acme/creds-keys/cloud", 200, credsKeyJSON,
			"", `{"provider":"azure","config":{}}`},
		{[]string{"creds", "add", "acme/az", "--provider", "azure", "--account", "acmeml", "--allowed", "azure://acmeml/data/ml",
			"--auth", "client-secret", "--tenant-id", "contoso.com", "--client-id", "00000000-0000-0000-0000-000000000001",
			"--hierarchical-namespace", "--blob-endpoint", "https://acmeml.blob.core.usgovcloudapi.net"},
			"PUT /api/v1/orgs/acme/creds-keys/az", 200, credsKeyJSON, "",
			`{"provider":"azure","config":{"roots":["az://acmeml/data/ml"],"account":"acmeml","endpoint":"https://acmeml.blob.core.usgovcloudapi.net",` +
				`"auth":"client-secret","tenant_id":"contoso.com","client_id":"00000000-0000-0000-0000-000000000001","hierarchical_namespace":true}}`},
		{[]string{"creds", "add", "acme/az", "--provider", "azure", "--account", "acmeml", "--allowed", "az://acmeml/data/ml", "--scope", "container"},
			"PUT /api/v1/orgs/acme/creds-keys/az", 200, credsKeyJSON, "",
			`{"provider":"azure","config":{"roots":["az://acmeml/data/ml"],"account":"acmeml","scope":"container"}}`},
		{[]string{"creds", "rm", "acme/local"}, "DELETE /api/v1/orgs/acme/creds-keys/local", 204, "", "", ""},
		{[]string{"creds", "verify", "acme/local", "--location", "/srv/ds/x"}, "POST /api/v1/orgs/acme/creds-keys/local/verify", 200,
			`{"checks":[{"name":"vend","ok":true}]}`, "", `{"location":"file:///srv/ds/x"}`},
		{[]string{"storage", "set-default", "acme", "/srv/ds/", "--creds-key", "local"}, "PUT /api/v1/orgs/acme/default-storage", 200,
			`{"name":"acme","created_at":"2025-03-01T12:00:00Z"}`, "", `{"location":"file:///srv/ds","creds_key":"local"}`},
		{[]string{"ds", "create", "al://acme/coco", "--public"}, "POST /api/v1/orgs/acme/datasets", 201, datasetJSON,
			"", `{"name":"coco","public":true}`},
		{[]string{"ds", "connect", "/srv/ds/coco", "al://acme/coco", "--creds-key", "local"}, "POST /api/v1/orgs/acme/datasets", 201, datasetJSON,
			"", `{"name":"coco","location":"file:///srv/ds/coco","creds_key":"local"}`},
		{[]string{"ds", "rm", "al://acme/coco"}, "DELETE /api/v1/orgs/acme/datasets/coco", 204, "", "", ""},
		{[]string{"ds", "update", "al://acme/coco", "--public"}, "PATCH /api/v1/orgs/acme/datasets/coco", 200, datasetJSON, "", `{"public":true}`},
		{[]string{"ds", "update", "al://acme/coco", "--public=false"}, "PATCH /api/v1/orgs/acme/datasets/coco", 200, datasetJSON, "", `{"public":false}`},
		{[]string{"ds", "add-creds-key", "al://acme/coco", "web"}, "PUT /api/v1/orgs/acme/datasets/coco/linked-creds-keys/web", 200, datasetJSON, "", ""},
		{[]string{"vend", "al://acme/coco", "--mode", "write"}, "POST /api/v1/orgs/acme/datasets/coco/credentials", 200,
			`{"location":"file:///srv/ds/coco","mode":"write","provider":"file","expires_at":"2025-03-01T13:00:00Z","file":{"path":"/srv/ds/coco"}}`,
			"", `{"mode":"write"}`},
		{[]string{"presign", "al://acme/coco/images/c.jpg"}, "POST /api/v1/orgs/acme/datasets/coco/presign", 200,
			`{"urls":{"images/c.jpg":"https://x.test/a"},"expires_at":"2025-03-01T13:00:00Z"}`, "", `{"paths":["images/c.jpg"],"expires_in":900}`},
		{[]string{"presign", "al://acme/coco", "s3://acme-web/img/1.jpg", "--link-key", "web"}, "POST /api/v1/orgs/acme/datasets/coco/presign", 200,
			`{"urls":{},"links":{"s3://acme-web/img/1.jpg":"https://x.test/a"},"expires_at":"2025-03-01T13:00:00Z"}`, "",
			`{"links":["s3://acme-web/img/1.jpg"],"link_key":"web","expires_in":900}`},
		{[]string{"vend", "/srv/ds/raw", "--org", "acme", "--creds-key", "local"}, "POST /api/v1/orgs/acme/creds-keys/local/credentials", 200,
			`{"location":"file:///srv/ds/raw","mode":"read","provider":"file","expires_at":"2025-03-01T13:00:00Z","file":{"path":"/srv/ds/raw"}}`,
			"", `{"location":"file:///srv/ds/raw","mode":"read"}`},
		{[]string{"audit", "acme", "--since", "1h", "--action", "vend"}, "GET /api/v1/orgs/acme/audit", 200, `{"records":[]}`,
			"action=vend&limit=100&since=" + url.QueryEscape("2025-03-01T11:00:00Z"), ""},
		{[]string{"audit", "acme", "--principal", "alice", "--result", "denied"}, "GET /api/v1/orgs/acme/audit", 200, `{"records":[]}`,
			"limit=100&principal=alice&result=denied", ""},
		{[]string{"audit", "acme", "--since", "2025-02-01T00:00:00+01:00"}, "GET /api/v1/orgs/acme/audit", 200, `{"records":[]}`,
			"limit=100&since=" + url.QueryEscape("2025-01-31T23:00:00Z"), ""},
		{[]string{"audit", "acme", "--until", "30m", "--limit", "5", "--cursor", "42"}, "GET /api/v1/orgs/acme/audit", 200, `{"records":[]}`,
			"cursor=42&limit=5&until=" + url.QueryEscape("2025-03-01T11:30:00Z"), ""},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			srv := newFakeAPI(t, map[string]route{tc.route: {tc.status, tc.answer}})
			res := envFor(t, srv).run(tc.args...)
			if res.code != 0 {
				t.Fatalf("exit %d, stderr %q", res.code, res.stderr)
			}
			r := srv.last(t)
			if got := r.Method + " " + r.Path; got != tc.route {
				t.Errorf("request %s, want %s", got, tc.route)
			}
			if r.Query != tc.query {
				t.Errorf("query %q, want %q", r.Query, tc.query)
			}
			if r.Body != tc.body {
				t.Errorf("body %s, want %s", r.Body, tc.body)
			}
			if r.Auth != "Bearer "+testToken {
				t.Errorf("Authorization %q", r.Auth)
			}
		})
	}
}

// TestTextOutput pins the text output that scripts and people read.
func TestTextOutput(t *testing.T) {
	for _, tc := range []struct {
		args           []string
		route          string
		answer         string
		stdout, stderr string
	}{
		{[]string{"whoami"}, "GET /api/v1/whoami",
			`{"user":"alice","superuser":false,"token_id":"t1","token_org":"acme","token_role":"reader","orgs":[{"org":"acme","user":"alice","role":"admin"},{"org":"lab","user":"alice","role":"reader"}]}`,
			"endpoint:  ENDPOINT\nuser:      alice\nsuperuser: no\ntoken:     t1 (org acme, role reader)\norgs:      acme (admin), lab (reader)\n", ""},
		{[]string{"user", "create", "bob"}, "POST /api/v1/users",
			`{"user":{"name":"bob","superuser":false,"created_at":"2025-03-01T12:00:00Z"},"token":"tarn_new","token_info":{"id":"t9","user":"bob","created_at":"2025-03-01T12:00:00Z"}}`,
			"tarn_new\n", "Created user bob (token t9). The token above is shown only once: store it now.\n"},
		{[]string{"token", "create", "--org", "acme", "--role", "reader"}, "POST /api/v1/tokens",
			`{"token":"tarn_x","token_info":{"id":"t2","user":"alice","org":"acme","role":"reader","created_at":"2025-03-01T12:00:00Z","expires_at":"2025-03-31T12:00:00Z"}}`,
			"tarn_x\n", "Created token t2 (org acme, role reader), expires 2025-03-31T12:00:00Z. The token above is shown only once: store it now.\n"},
		{[]string{"token", "ls"}, "GET /api/v1/tokens",
			`{"tokens":[{"id":"t1","user":"alice","name":"laptop","created_at":"2025-03-01T12:00:00Z"},{"id":"t2","user":"alice","org":"acme","role":"reader","created_at":"2025-02-01T12:00:00Z","expires_at":"2025-02-02T12:00:00Z"},{"id":"t3","user":"alice","created_at":"2025-02-01T12:00:00Z","revoked_at":"2025-02-01T13:00:00Z","last_used_at":"2025-02-01T12:30:00Z"}]}`,
			"ID  NAME    ORG   ROLE    STATUS   CREATED               EXPIRES               LAST_USED\n" +
				"t1  laptop  -     -       active   2025-03-01T12:00:00Z  -                     -\n" +
				"t2  -       acme  reader  expired  2025-02-01T12:00:00Z  2025-02-02T12:00:00Z  -\n" +
				"t3  -       -     -       revoked  2025-02-01T12:00:00Z  -                     2025-02-01T12:30:00Z\n", ""},
		{[]string{"org", "member", "ls", "acme"}, "GET /api/v1/orgs/acme/members",
			`{"members":[{"org":"acme","user":"alice","role":"admin"},{"org":"acme","user":"bob","role":"reader"}]}`,
			"USER   ROLE\nalice  admin\nbob    reader\n", ""},
		{[]string{"org", "member", "add", "acme", "alice", "--role", "admin"}, "PUT /api/v1/orgs/acme/members/alice",
			`{"org":"acme","user":"alice","role":"admin"}`, "alice is an admin of org acme.\n", ""},
		{[]string{"ds", "ls", "acme"}, "GET /api/v1/orgs/acme/datasets",
			`{"datasets":[` + datasetJSON + `,{"org":"acme","name":"mnist","path":"al://acme/mnist","location":"s3://b/mnist","creds_key":"aws","public":true,"linked_creds_keys":[],"created_at":"2025-03-01T12:00:00Z","created_by":"bob"}]}`,
			"PATH             LOCATION             CREDS_KEY  VISIBILITY  CREATED\n" +
				"al://acme/coco   file:///srv/ds/coco  local      private     2025-03-01T12:00:00Z\n" +
				"al://acme/mnist  s3://b/mnist         aws        public      2025-03-01T12:00:00Z\n", ""},
		{[]string{"ds", "ls", "acme"}, "GET /api/v1/orgs/acme/datasets", `{"datasets":[]}`,
			"PATH  LOCATION  CREDS_KEY  VISIBILITY  CREATED\n", ""},
		{[]string{"ds", "create", "al://acme/coco"}, "POST /api/v1/orgs/acme/datasets", datasetJSON,
			"Created al://acme/coco at file:///srv/ds/coco (creds key local, private).\n", ""},
		{[]string{"ds", "rm", "al://acme/coco"}, "DELETE /api/v1/orgs/acme/datasets/coco", "",
			"Deleted al://acme/coco; its data was left in place.\n", ""},
		{[]string{"creds", "ls", "acme"}, "GET /api/v1/orgs/acme/creds-keys", `{"creds_keys":[` + credsKeyJSON + `]}`,
			"NAME   PROVIDER  VERSION  UPDATED               ROOTS\nlocal  file      3        2025-03-02T12:00:00Z  file:///srv/ds\n", ""},
		{[]string{"creds", "show", "acme/local"}, "GET /api/v1/orgs/acme/creds-keys/local", credsKeyJSON,
			"org:      acme\nname:     local\nprovider: file\nversion:  3\nroots:    file:///srv/ds\ncreated:  2025-03-01T12:00:00Z\nupdated:  2025-03-02T12:00:00Z\n", ""},
		{[]string{"creds", "show", "acme/az"}, "GET /api/v1/orgs/acme/creds-keys/az",
			`{"org":"acme","name":"az","provider":"azure","config":{"roots":["az://devstoreaccount1/data/ml"],"account":"devstoreaccount1",` +
				`"endpoint":"http://127.0.0.1:10000/devstoreaccount1","auth":"shared-key","scope":"container"},"version":1,"created_at":"2025-03-01T12:00:00Z","updated_at":"2025-03-02T12:00:00Z"}`,
			"org:           acme\nname:          az\nprovider:      azure\nversion:       1\nroots:         az://devstoreaccount1/data/ml\n" +
				"account:       devstoreaccount1\nblob endpoint: http://127.0.0.1:10000/devstoreaccount1\n" +
				"auth:          shared-key (the weakest option: the account key reaches the whole account and only rotating it revokes it; prefer default or client-secret)\n" +
				"scope:         container (a prefix gets a container SAS: wider than the dataset, it reaches the whole container)\n" +
				"created:       2025-03-01T12:00:00Z\nupdated:       2025-03-02T12:00:00Z\n", ""},
		{[]string{"creds", "add", "acme/local", "--provider", "file", "--root", "/srv/ds"}, "PUT /api/v1/orgs/acme/creds-keys/local", credsKeyJSON,
			"Saved creds key acme/local (provider file, version 3).\n", ""},
		{[]string{"storage", "set-default", "acme", "/srv/ds", "--creds-key", "local"}, "PUT /api/v1/orgs/acme/default-storage",
			`{"name":"acme","created_at":"2025-03-01T12:00:00Z","default_storage":{"location":"file:///srv/ds","creds_key":"local"}}`,
			"New datasets of org acme go to file:///srv/ds (creds key local).\n", ""},
		{[]string{"audit", "acme"}, "GET /api/v1/orgs/acme/audit",
			`{"records":[{"id":1,"time":"2025-03-01T11:59:00Z","request_id":"r1","principal":"alice","org":"acme","action":"vend","target":"file:///srv/ds/coco","mode":"read","result":"ok"}]}`,
			"TIME                  PRINCIPAL  ACTION  TARGET               MODE  RESULT  REQUEST_ID  DETAIL\n" +
				"2025-03-01T11:59:00Z  alice      vend    file:///srv/ds/coco  read  ok      r1          -\n", ""},
		{[]string{"audit", "acme", "--limit", "1"}, "GET /api/v1/orgs/acme/audit",
			`{"records":[{"id":9,"time":"2025-03-01T11:59:00Z","request_id":"r9","principal":"alice","org":"acme","action":"vend","result":"ok"}],"next_cursor":"9"}`,
			"TIME                  PRINCIPAL  ACTION  TARGET  MODE  RESULT  REQUEST_ID  DETAIL\n" +
				"2025-03-01T11:59:00Z  alice      vend    -       -     ok      r9          -\n", "Older records: run again with --cursor 9 (or --all).\n"},
		{[]string{"vend", "al://acme/coco", "--format", "env"}, "POST /api/v1/orgs/acme/datasets/coco/credentials",
			`{"location":"file:///srv/ds/my coco","mode":"read","provider":"file","expires_at":"2025-03-01T13:00:00Z","file":{"path":"/srv/ds/it's"}}`,
			"export TARN_FILE_PATH='/srv/ds/it'\\''s'\n", ""},
		{[]string{"vend", "al://acme/coco", "--format", "env"}, "POST /api/v1/orgs/acme/datasets/coco/credentials",
			`{"location":"s3://b/coco","mode":"read","provider":"s3","expires_at":"2025-03-01T13:00:00Z","s3":{"access_key_id":"AK","secret_access_key":"S/K+","session_token":"ST","region":"us-east-1"}}`,
			"export AWS_ACCESS_KEY_ID=AK\nexport AWS_SECRET_ACCESS_KEY=S/K+\nexport AWS_SESSION_TOKEN=ST\nexport AWS_REGION=us-east-1\nexport AWS_DEFAULT_REGION=us-east-1\n", ""},
		{[]string{"vend", "al://acme/coco"}, "POST /api/v1/orgs/acme/datasets/coco/credentials",
			`{"location":"file:///srv/ds/coco","mode":"read","provider":"file","expires_at":"2025-03-01T13:00:00Z","file":{"path":"/srv/ds/coco"}}`,
			"{\n  \"location\": \"file:///srv/ds/coco\",\n  \"mode\": \"read\",\n  \"provider\": \"file\",\n  \"expires_at\": \"2025-03-01T13:00:00Z\",\n  \"file\": {\n    \"path\": \"/srv/ds/coco\"\n  }\n}\n", ""},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			srv := newFakeAPI(t, map[string]route{tc.route: {200, tc.answer}})
			res := envFor(t, srv).run(tc.args...)
			want := strings.ReplaceAll(tc.stdout, "ENDPOINT", srv.URL)
			if res.code != 0 || res.stdout != want || res.stderr != tc.stderr {
				t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s\nwant stdout:\n%s\nwant stderr:\n%s", res.code, res.stdout, res.stderr, want, tc.stderr)
			}
		})
	}
}

// TestJSONOutput checks that --output json prints the API objects, lists as arrays (never
// null).
func TestJSONOutput(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		route  string
		answer string
		want   string
	}{
		{[]string{"ds", "ls", "acme", "-o", "json"}, "GET /api/v1/orgs/acme/datasets", `{"datasets":[]}`, "[]\n"},
		{[]string{"ds", "ls", "acme", "-o", "json"}, "GET /api/v1/orgs/acme/datasets", `{}`, "[]\n"},
		{[]string{"org", "member", "ls", "acme", "--output", "json"}, "GET /api/v1/orgs/acme/members",
			`{"members":[{"org":"acme","user":"bob","role":"reader"}]}`,
			"[\n  {\n    \"org\": \"acme\",\n    \"user\": \"bob\",\n    \"role\": \"reader\"\n  }\n]\n"},
		{[]string{"ds", "rm", "al://acme/coco", "-o", "json"}, "DELETE /api/v1/orgs/acme/datasets/coco", "", ""},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			srv := newFakeAPI(t, map[string]route{tc.route: {200, tc.answer}})
			res := envFor(t, srv).run(tc.args...)
			if res.code != 0 || res.stdout != tc.want {
				t.Errorf("exit %d, stderr %q, stdout\n%s\nwant\n%s", res.code, res.stderr, res.stdout, tc.want)
			}
		})
	}
}

func TestCredsVerifyFailsWhenACheckFails(t *testing.T) {
	srv := newFakeAPI(t, map[string]route{
		"POST /api/v1/orgs/acme/creds-keys/local/verify": {200, `{"checks":[{"name":"vend","ok":true},{"name":"write refused","ok":false,"detail":"a read credential could write"}]}`},
	})
	res := envFor(t, srv).run("creds", "verify", "acme/local")
	wantOut := "CHECK          RESULT  DETAIL\nvend           ok      -\nwrite refused  FAILED  a read credential could write\n"
	wantErr := "tarn: verify creds key acme/local: 1 of 2 checks failed\n"
	if res.code != 1 || res.stdout != wantOut || res.stderr != wantErr {
		t.Errorf("exit %d\nstdout:\n%s\nstderr: %q", res.code, res.stdout, res.stderr)
	}
	if r := srv.last(t); r.Body != `{}` {
		t.Errorf("body %s, want {} without --location", r.Body)
	}
}

// A skipped check prints as skipped and fails nothing: it is neither passed nor failed.
func TestCredsVerifySkippedCheckIsNotAFailure(t *testing.T) {
	srv := newFakeAPI(t, map[string]route{
		"POST /api/v1/orgs/acme/creds-keys/gcs/verify": {200, `{"checks":[{"name":"vend","ok":true},{"name":"boundary","ok":false,"skipped":true,"detail":"skipped: emulator"}]}`},
	})
	res := envFor(t, srv).run("creds", "verify", "acme/gcs")
	wantOut := "CHECK     RESULT   DETAIL\nvend      ok       -\nboundary  skipped  skipped: emulator\n"
	if res.code != 0 || res.stdout != wantOut || res.stderr != "" {
		t.Errorf("exit %d\nstdout:\n%s\nstderr: %q", res.code, res.stdout, res.stderr)
	}
}

func TestUsageChecksBeforeAnyRequest(t *testing.T) {
	srv := newFakeAPI(t, nil)
	for _, args := range [][]string{
		{"token", "create", "--role", "reader"},
		{"token", "create", "--ttl", "-1h"},
		{"token", "create", "--ttl", "10ms"},
		{"vend", "/srv/ds"},
		{"vend", "/srv/ds", "--org", "acme"},
		{"vend", "al://acme/coco", "--org", "acme", "--creds-key", "k"},
		{"vend", "al://acme/coco/sub"},
		{"vend", "al://acme/coco", "--format", "yaml"},
		{"vend", "http://169.254.169.254/latest", "--org", "acme", "--creds-key", "k"},
		{"ds", "connect", "al://acme/x", "al://acme/coco", "--creds-key", "k"},
		{"ds", "connect", "/srv/x", "al://acme/coco"},
		{"storage", "set-default", "acme", "al://acme/x", "--creds-key", "k"},
		{"creds", "add", "acme/k", "--provider", "file", "--root", "file://relative"},
		{"creds", "add", "acme/k/x", "--provider", "file"},
		{"creds", "add", "acme/k"},
		{"audit", "acme", "--since", "yesterday"},
		{"audit", "acme", "--since", "-1h"},
		{"audit", "acme", "--limit", "0"},
		{"ds", "update", "al://acme/coco"},
		{"audit", "acme", "--all", "--cursor", "5"},
		{"ls", "s3://x"},
		{"cat", "al://acme/coco"},
		{"ls", "/tmp", "--org", "acme"},
		{"ls", "/tmp", "--org", "acme", "--creds-key", "k"},
		{"cat", "al://acme/coco/x", "--org", "acme", "--creds-key", "k"},
		{"cp", "/tmp/a", "al://acme/coco/", "--org", "acme", "--creds-key", "k"},
		{"whoami", "extra"},
	} {
		res := envFor(t, srv).run(args...)
		if res.code != 2 || !strings.HasSuffix(res.stderr, "--help' for usage.\n") || strings.Count(res.stderr, "\n") != 2 {
			t.Errorf("tarn %s: exit %d, stderr %q; want a usage error", strings.Join(args, " "), res.code, res.stderr)
		}
	}
	if n := len(srv.requests()); n != 0 {
		t.Errorf("usage errors sent %d requests", n)
	}
}

// TestCredsAddOfAFederatedKeyNamesItsSubject: adding a key that stores no secret (aws
// web-identity, gcs federated) says which subject the cloud must trust and how to provision
// it, and names no external ID, which such a key never sends.
func TestCredsAddOfAFederatedKeyNamesItsSubject(t *testing.T) {
	for _, tc := range []struct{ provider, config, cloud string }{
		{"aws", `{"roots":["s3://b/ds"],"role_arn":"arn:aws:iam::123456789012:role/r","source":"web-identity","external_id":"tarn-x"}`, "aws"},
		{"gcs", `{"roots":["gs://b/ds"],"service_account":"sa@p.iam.gserviceaccount.com","auth":"federated"}`, "gcp"},
	} {
		answer := `{"org":"acme","name":"fed","provider":"` + tc.provider + `","config":` + tc.config + `,"version":1,"created_at":"2025-03-01T12:00:00Z","updated_at":"2025-03-01T12:00:00Z"}`
		srv := newFakeAPI(t, map[string]route{"PUT /api/v1/orgs/acme/creds-keys/fed": {200, answer}})
		res := envFor(t, srv).run("creds", "add", "acme/fed", "--provider", tc.provider)
		want := "No secret stored: the cloud must trust tarn's own tokens for org:acme:creds-key:fed (tarn provision " + tc.cloud + " acme/fed prints what to create).\n"
		if res.code != 0 || !strings.HasSuffix(res.stdout, want) || strings.Contains(res.stdout, "External ID") {
			t.Errorf("%s: exit %d, stdout %q; want it to end with %q and name no external ID", tc.provider, res.code, res.stdout, want)
		}
	}
}
