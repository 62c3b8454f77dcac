package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tarnhq/tarn/api"
)

const testToken = "tarn_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"

// request is what a fake server saw.
type request struct {
	Method, URI, Auth, ContentType, Body string
}

// fakeAPI starts a server that records the request and answers with status and body
// (Content-Type ctype).
func fakeAPI(t *testing.T, status int, ctype, body string) (*Client, *request) {
	t.Helper()
	seen := &request{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		*seen = request{Method: r.Method, URI: r.RequestURI, Auth: r.Header.Get("Authorization"),
			ContentType: r.Header.Get("Content-Type"), Body: string(b)}
		if ctype != "" {
			w.Header().Set("Content-Type", ctype)
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	c, err := New(Options{Endpoint: srv.URL, Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	return c, seen
}

func TestNewValidatesEndpoint(t *testing.T) {
	for _, tc := range []struct {
		endpoint string
		want     string // endpoint after New, or "" when New must fail
	}{
		{"", DefaultEndpoint},
		{"http://127.0.0.1:7777", "http://127.0.0.1:7777"},
		{"https://tarn.example.com/", "https://tarn.example.com"},
		{"https://example.com/tarn/", "https://example.com/tarn"},
		{"  http://localhost:1 ", "http://localhost:1"},
		{"ftp://example.com", ""},
		{"127.0.0.1:7777", ""},
		{"http://", ""},
		{"http://user:pw@example.com", ""},
		{"http://example.com?x=1", ""},
		{"http://example.com?", ""},
		{"http://example.com#frag", ""},
		{"file:///etc/passwd", ""},
	} {
		c, err := New(Options{Endpoint: tc.endpoint})
		if tc.want == "" {
			if err == nil {
				t.Errorf("New(%q) = %q, want an error", tc.endpoint, c.Endpoint())
			}
			continue
		}
		if err != nil {
			t.Errorf("New(%q): %v", tc.endpoint, err)
			continue
		}
		if got := c.Endpoint(); got != tc.want {
			t.Errorf("New(%q).Endpoint() = %q, want %q", tc.endpoint, got, tc.want)
		}
	}
}

func TestNewRejectsBadTokenWithoutEchoingIt(t *testing.T) {
	for _, tok := range []string{"tarn_abc\r\nX-Evil: 1", "tarn abc", "tarn_é"} {
		_, err := New(Options{Token: tok})
		if err == nil {
			t.Fatalf("New accepted token %q", tok)
		}
		if strings.Contains(err.Error(), "tarn_abc") || strings.Contains(err.Error(), tok) {
			t.Errorf("error %q holds the token", err)
		}
	}
}

// TestWireProtocol pins every endpoint: method, escaped path, body, bearer header and the
// decoding of the answer.
func TestWireProtocol(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		call   func(c *Client) (any, error)
		method string
		uri    string
		body   string // expected JSON body; "" for none
		status int
		answer string
		want   any
	}{
		{
			name:   "Whoami",
			call:   func(c *Client) (any, error) { return c.Whoami(ctx) },
			method: "GET", uri: "/api/v1/whoami", status: 200,
			answer: `{"user":"alice","superuser":true,"token_id":"t1","orgs":[{"org":"acme","user":"alice","role":"admin"}]}`,
			want:   &api.Whoami{User: "alice", Superuser: true, TokenID: "t1", Orgs: []api.Membership{{Org: "acme", User: "alice", Role: "admin"}}},
		},
		{
			name: "CreateUser",
			call: func(c *Client) (any, error) {
				return c.CreateUser(ctx, api.CreateUserRequest{Name: "bob", Superuser: true})
			},
			method: "POST", uri: "/api/v1/users", body: `{"name":"bob","superuser":true}`, status: 201,
			answer: `{"user":{"name":"bob","superuser":true,"created_at":"2025-03-01T12:00:00Z"},"token":"tarn_x","token_info":{"id":"t2","user":"bob","created_at":"2025-03-01T12:00:00Z"}}`,
			want: &api.CreateUserResponse{User: api.User{Name: "bob", Superuser: true, CreatedAt: t0}, Token: "tarn_x",
				TokenInfo: api.Token{ID: "t2", User: "bob", CreatedAt: t0}},
		},
		{
			name:   "CreateOrg",
			call:   func(c *Client) (any, error) { return c.CreateOrg(ctx, "acme") },
			method: "POST", uri: "/api/v1/orgs", body: `{"name":"acme"}`, status: 201,
			answer: `{"name":"acme","created_at":"2025-03-01T12:00:00Z"}`,
			want:   &api.Org{Name: "acme", CreatedAt: t0},
		},
		{
			name:   "Org escapes",
			call:   func(c *Client) (any, error) { return c.Org(ctx, "a/b c") },
			method: "GET", uri: "/api/v1/orgs/a%2Fb%20c", status: 200,
			answer: `{"name":"acme","created_at":"2025-03-01T12:00:00Z","default_storage":{"location":"file:///d","creds_key":"k"}}`,
			want:   &api.Org{Name: "acme", CreatedAt: t0, DefaultStorage: &api.DefaultStorage{Location: "file:///d", CredsKey: "k"}},
		},
		{
			name:   "Members",
			call:   func(c *Client) (any, error) { return c.Members(ctx, "acme") },
			method: "GET", uri: "/api/v1/orgs/acme/members", status: 200,
			answer: `{"members":[{"org":"acme","user":"bob","role":"reader"}]}`,
			want:   []api.Membership{{Org: "acme", User: "bob", Role: "reader"}},
		},
		{
			name:   "PutMember",
			call:   func(c *Client) (any, error) { return c.PutMember(ctx, "acme", "bob", "writer") },
			method: "PUT", uri: "/api/v1/orgs/acme/members/bob", body: `{"role":"writer"}`, status: 200,
			answer: `{"org":"acme","user":"bob","role":"writer"}`,
			want:   &api.Membership{Org: "acme", User: "bob", Role: "writer"},
		},
		{
			name:   "DeleteMember",
			call:   func(c *Client) (any, error) { return nil, c.DeleteMember(ctx, "acme", "../bob") },
			method: "DELETE", uri: "/api/v1/orgs/acme/members/..%2Fbob", status: 204,
		},
		{
			name: "CreateToken",
			call: func(c *Client) (any, error) {
				return c.CreateToken(ctx, api.CreateTokenRequest{Name: "ci", Org: "acme", Role: "reader", TTLSeconds: -1})
			},
			method: "POST", uri: "/api/v1/tokens", body: `{"name":"ci","org":"acme","role":"reader","ttl_seconds":-1}`, status: 201,
			answer: `{"token":"tarn_y","token_info":{"id":"t3","user":"alice","org":"acme","role":"reader","created_at":"2025-03-01T12:00:00Z"}}`,
			want:   &api.CreateTokenResponse{Token: "tarn_y", TokenInfo: api.Token{ID: "t3", User: "alice", Org: "acme", Role: "reader", CreatedAt: t0}},
		},
		{
			name:   "Tokens",
			call:   func(c *Client) (any, error) { return c.Tokens(ctx) },
			method: "GET", uri: "/api/v1/tokens", status: 200,
			answer: `{"tokens":[{"id":"t1","user":"alice","created_at":"2025-03-01T12:00:00Z","expires_at":"2025-03-01T12:00:00Z"}]}`,
			want:   []api.Token{{ID: "t1", User: "alice", CreatedAt: t0, ExpiresAt: &t0}},
		},
		{
			name:   "RevokeToken",
			call:   func(c *Client) (any, error) { return nil, c.RevokeToken(ctx, "t 1") },
			method: "DELETE", uri: "/api/v1/tokens/t%201", status: 204,
		},
		{
			name: "PutCredsKey",
			call: func(c *Client) (any, error) {
				return c.PutCredsKey(ctx, "acme", "local", api.PutCredsKeyRequest{Provider: "file", Config: api.CredsKeyConfig{Roots: []string{"file:///data"}}})
			},
			method: "PUT", uri: "/api/v1/orgs/acme/creds-keys/local", body: `{"provider":"file","config":{"roots":["file:///data"]}}`, status: 200,
			answer: `{"org":"acme","name":"local","provider":"file","config":{"roots":["file:///data"]},"version":1,"created_at":"2025-03-01T12:00:00Z","updated_at":"2025-03-01T12:00:00Z"}`,
			want:   &api.CredsKey{Org: "acme", Name: "local", Provider: "file", Config: api.CredsKeyConfig{Roots: []string{"file:///data"}}, Version: 1, CreatedAt: t0, UpdatedAt: t0},
		},
		{
			name:   "CredsKey",
			call:   func(c *Client) (any, error) { return c.CredsKey(ctx, "acme", "local") },
			method: "GET", uri: "/api/v1/orgs/acme/creds-keys/local", status: 200,
			answer: `{"org":"acme","name":"local","provider":"file","config":{},"version":2,"created_at":"2025-03-01T12:00:00Z","updated_at":"2025-03-01T12:00:00Z"}`,
			want:   &api.CredsKey{Org: "acme", Name: "local", Provider: "file", Version: 2, CreatedAt: t0, UpdatedAt: t0},
		},
		{
			name:   "CredsKeys",
			call:   func(c *Client) (any, error) { return c.CredsKeys(ctx, "acme") },
			method: "GET", uri: "/api/v1/orgs/acme/creds-keys", status: 200,
			answer: `{"creds_keys":[{"org":"acme","name":"local","provider":"file","config":{},"version":1,"created_at":"2025-03-01T12:00:00Z","updated_at":"2025-03-01T12:00:00Z"}]}`,
			want:   []api.CredsKey{{Org: "acme", Name: "local", Provider: "file", Version: 1, CreatedAt: t0, UpdatedAt: t0}},
		},
		{
			name:   "DeleteCredsKey",
			call:   func(c *Client) (any, error) { return nil, c.DeleteCredsKey(ctx, "acme", "local") },
			method: "DELETE", uri: "/api/v1/orgs/acme/creds-keys/local", status: 204,
		},
		{
			name:   "VerifyCredsKey",
			call:   func(c *Client) (any, error) { return c.VerifyCredsKey(ctx, "acme", "local", "file:///data/x") },
			method: "POST", uri: "/api/v1/orgs/acme/creds-keys/local/verify", body: `{"location":"file:///data/x"}`, status: 200,
			answer: `{"checks":[{"name":"list","ok":true},{"name":"write","ok":false,"detail":"denied"}]}`,
			want:   &api.VerifyResponse{Checks: []api.Check{{Name: "list", OK: true}, {Name: "write", Detail: "denied"}}},
		},
		{
			name:   "VerifyCredsKey without location",
			call:   func(c *Client) (any, error) { return c.VerifyCredsKey(ctx, "acme", "local", "") },
			method: "POST", uri: "/api/v1/orgs/acme/creds-keys/local/verify", body: `{}`, status: 200,
			answer: `{"checks":[]}`,
			want:   &api.VerifyResponse{Checks: []api.Check{}},
		},
		{
			name: "LocationCredentials",
			call: func(c *Client) (any, error) {
				return c.LocationCredentials(ctx, "acme", "local", "file:///data/x", "write")
			},
			method: "POST", uri: "/api/v1/orgs/acme/creds-keys/local/credentials", body: `{"location":"file:///data/x","mode":"write"}`, status: 200,
			answer: `{"location":"file:///data/x","mode":"write","provider":"file","expires_at":"2025-03-01T12:00:00Z","file":{"path":"/data/x"}}`,
			want:   &api.Credentials{Location: "file:///data/x", Mode: "write", Provider: "file", ExpiresAt: t0, File: &api.FileCredentials{Path: "/data/x"}},
		},
		{
			name: "SetDefaultStorage",
			call: func(c *Client) (any, error) {
				return c.SetDefaultStorage(ctx, "acme", api.DefaultStorage{Location: "file:///d", CredsKey: "local"})
			},
			method: "PUT", uri: "/api/v1/orgs/acme/default-storage", body: `{"location":"file:///d","creds_key":"local"}`, status: 200,
			answer: `{"name":"acme","created_at":"2025-03-01T12:00:00Z","default_storage":{"location":"file:///d","creds_key":"local"}}`,
			want:   &api.Org{Name: "acme", CreatedAt: t0, DefaultStorage: &api.DefaultStorage{Location: "file:///d", CredsKey: "local"}},
		},
		{
			name: "CreateDataset",
			call: func(c *Client) (any, error) {
				return c.CreateDataset(ctx, "acme", api.CreateDatasetRequest{Name: "coco", Location: "file:///d/coco", CredsKey: "local", Public: true})
			},
			method: "POST", uri: "/api/v1/orgs/acme/datasets", body: `{"name":"coco","location":"file:///d/coco","creds_key":"local","public":true}`, status: 201,
			answer: `{"org":"acme","name":"coco","path":"al://acme/coco","location":"file:///d/coco","creds_key":"local","public":true,"linked_creds_keys":[],"created_at":"2025-03-01T12:00:00Z","created_by":"alice"}`,
			want: &api.Dataset{Org: "acme", Name: "coco", Path: "al://acme/coco", Location: "file:///d/coco", CredsKey: "local", Public: true,
				LinkedCredsKeys: []string{}, CreatedAt: t0, CreatedBy: "alice"},
		},
		{
			name:   "Dataset",
			call:   func(c *Client) (any, error) { return c.Dataset(ctx, "acme", "coco") },
			method: "GET", uri: "/api/v1/orgs/acme/datasets/coco", status: 200,
			answer: `{"org":"acme","name":"coco","path":"al://acme/coco","location":"file:///d/coco","creds_key":"local","public":false,"linked_creds_keys":["web"],"created_at":"2025-03-01T12:00:00Z","created_by":"alice"}`,
			want: &api.Dataset{Org: "acme", Name: "coco", Path: "al://acme/coco", Location: "file:///d/coco", CredsKey: "local",
				LinkedCredsKeys: []string{"web"}, CreatedAt: t0, CreatedBy: "alice"},
		},
		{
			name:   "Datasets",
			call:   func(c *Client) (any, error) { return c.Datasets(ctx, "acme") },
			method: "GET", uri: "/api/v1/orgs/acme/datasets", status: 200,
			answer: `{"datasets":[{"org":"acme","name":"coco","path":"al://acme/coco","location":"file:///d/coco","creds_key":"local","public":false,"linked_creds_keys":[],"created_at":"2025-03-01T12:00:00Z","created_by":"alice"}]}`,
			want: []api.Dataset{{Org: "acme", Name: "coco", Path: "al://acme/coco", Location: "file:///d/coco", CredsKey: "local",
				LinkedCredsKeys: []string{}, CreatedAt: t0, CreatedBy: "alice"}},
		},
		{
			name:   "DeleteDataset",
			call:   func(c *Client) (any, error) { return nil, c.DeleteDataset(ctx, "acme", "coco") },
			method: "DELETE", uri: "/api/v1/orgs/acme/datasets/coco", status: 204,
		},
		{
			name:   "AddLinkedCredsKey",
			call:   func(c *Client) (any, error) { return c.AddLinkedCredsKey(ctx, "acme", "coco", "web") },
			method: "PUT", uri: "/api/v1/orgs/acme/datasets/coco/linked-creds-keys/web", status: 200,
			answer: `{"org":"acme","name":"coco","path":"al://acme/coco","location":"file:///d/coco","creds_key":"local","public":false,"linked_creds_keys":["web"],"created_at":"2025-03-01T12:00:00Z","created_by":"alice"}`,
			want: &api.Dataset{Org: "acme", Name: "coco", Path: "al://acme/coco", Location: "file:///d/coco", CredsKey: "local",
				LinkedCredsKeys: []string{"web"}, CreatedAt: t0, CreatedBy: "alice"},
		},
		{
			name:   "DatasetCredentials",
			call:   func(c *Client) (any, error) { return c.DatasetCredentials(ctx, "acme", "coco", "read") },
			method: "POST", uri: "/api/v1/orgs/acme/datasets/coco/credentials", body: `{"mode":"read"}`, status: 200,
			answer: `{"location":"file:///d/coco","mode":"read","provider":"file","expires_at":"2025-03-01T12:00:00Z","file":{"path":"/d/coco"}}`,
			want:   &api.Credentials{Location: "file:///d/coco", Mode: "read", Provider: "file", ExpiresAt: t0, File: &api.FileCredentials{Path: "/d/coco"}},
		},
		{
			name:   "LinkedCredentials",
			call:   func(c *Client) (any, error) { return c.LinkedCredentials(ctx, "acme", "coco", "web", "s3://imgs/a") },
			method: "POST", uri: "/api/v1/orgs/acme/datasets/coco/linked-credentials", body: `{"creds_key":"web","location":"s3://imgs/a"}`, status: 200,
			answer: `{"location":"s3://imgs/a","mode":"read","provider":"s3","expires_at":"2025-03-01T12:00:00Z","s3":{"access_key_id":"AK","secret_access_key":"SK","session_token":"ST","path_style":true}}`,
			want: &api.Credentials{Location: "s3://imgs/a", Mode: "read", Provider: "s3", ExpiresAt: t0,
				S3: &api.S3Credentials{AccessKeyID: "AK", SecretAccessKey: "SK", SessionToken: "ST", PathStyle: true}},
		},
		{
			name: "Audit",
			call: func(c *Client) (any, error) {
				return c.Audit(ctx, "acme", AuditQuery{Since: t0.In(time.FixedZone("X", 3600)), Until: t0.Add(time.Hour), Action: "vend", Limit: 5, Cursor: "90"})
			},
			method: "GET", uri: "/api/v1/orgs/acme/audit?action=vend&cursor=90&limit=5&since=2025-03-01T12%3A00%3A00Z&until=2025-03-01T13%3A00%3A00Z", status: 200,
			answer: `{"records":[{"id":7,"time":"2025-03-01T12:00:00Z","request_id":"r1","principal":"alice","org":"acme","action":"vend","result":"ok"}],"next_cursor":"7"}`,
			want: &api.AuditList{Records: []api.AuditRecord{{ID: 7, Time: t0, RequestID: "r1", Principal: "alice", Org: "acme", Action: "vend", Result: "ok"}},
				NextCursor: "7"},
		},
		{
			name:   "Audit without filters",
			call:   func(c *Client) (any, error) { return c.Audit(ctx, "acme", AuditQuery{}) },
			method: "GET", uri: "/api/v1/orgs/acme/audit", status: 200,
			answer: `{"records":[]}`,
			want:   &api.AuditList{Records: []api.AuditRecord{}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctype := "application/json"
			if tc.answer == "" {
				ctype = ""
			}
			c, seen := fakeAPI(t, tc.status, ctype, tc.answer)
			got, err := tc.call(c)
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			if seen.Method != tc.method || seen.URI != tc.uri {
				t.Errorf("request %s %s, want %s %s", seen.Method, seen.URI, tc.method, tc.uri)
			}
			if seen.Auth != "Bearer "+testToken {
				t.Errorf("Authorization header %q, want the bearer token", seen.Auth)
			}
			if tc.body == "" {
				if seen.Body != "" {
					t.Errorf("body %s, want none", seen.Body)
				}
			} else {
				if seen.ContentType != "application/json" {
					t.Errorf("Content-Type %q, want application/json", seen.ContentType)
				}
				if seen.Body != tc.body {
					t.Errorf("body %s, want %s", seen.Body, tc.body)
				}
			}
			if tc.want == nil {
				return
			}
			if !reflect.DeepEqual(got, tc.want) {
				g, _ := json.Marshal(got)
				w, _ := json.Marshal(tc.want)
				t.Errorf("answer decoded to %s, want %s", g, w)
			}
		})
	}
}

func TestErrorAnswersAreProblems(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		ctype  string
		body   string
		want   api.Problem
	}{
		{
			name: "problem+json", status: 409, ctype: "application/problem+json",
			body: `{"type":"about:blank","title":"Conflict","status":409,"detail":"dataset \"coco\" already exists in org \"acme\"","code":"already_exists","request_id":"r9"}`,
			want: api.Problem{Type: "about:blank", Title: "Conflict", Status: 409, Detail: `dataset "coco" already exists in org "acme"`, Code: "already_exists", RequestID: "r9"},
		},
		{
			name: "html from a proxy", status: 502, ctype: "text/html", body: "<html>bad gateway</html>",
			want: api.Problem{Title: "Bad Gateway", Status: 502, Detail: "the server answered 502 Bad Gateway", Code: api.CodeUnavailable},
		},
		{
			name: "empty 401", status: 401,
			want: api.Problem{Title: "Unauthorized", Status: 401, Detail: "the server answered 401 Unauthorized", Code: api.CodeUnauthenticated},
		},
		{
			name: "json that is not a problem", status: 404, ctype: "application/json", body: `{"hello":1}`,
			want: api.Problem{Title: "Not Found", Status: 404, Detail: "the server answered 404 Not Found", Code: api.CodeNotFound},
		},
		{
			name: "broken problem", status: 500, ctype: "application/problem+json", body: `{"title":`,
			want: api.Problem{Title: "Internal Server Error", Status: 500, Detail: "the server answered 500 Internal Server Error", Code: api.CodeInternal},
		},
		{
			name: "problem without status", status: 403, ctype: "application/problem+json", body: `{"title":"Forbidden","detail":"no","code":"permission_denied"}`,
			want: api.Problem{Title: "Forbidden", Status: 403, Detail: "no", Code: api.CodePermissionDenied},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := fakeAPI(t, tc.status, tc.ctype, tc.body)
			_, err := c.Dataset(context.Background(), "acme", "coco")
			var p *api.Problem
			if !errors.As(err, &p) {
				t.Fatalf("error %v (%T) is not an *api.Problem", err, err)
			}
			if *p != tc.want {
				t.Errorf("problem %+v, want %+v", *p, tc.want)
			}
			if err.Error() != tc.want.Detail {
				t.Errorf("Error() = %q, want the detail %q", err.Error(), tc.want.Detail)
			}
		})
	}
}

func TestUnreachableServerErrorNamesEndpointAndHint(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there any more
	c, err := New(Options{Endpoint: "http://" + addr, Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Whoami(context.Background())
	var ue *UnreachableError
	if !errors.As(err, &ue) {
		t.Fatalf("error %v (%T) is not an *UnreachableError", err, err)
	}
	want := `cannot reach tarn at http://` + addr + `: connection refused (is "tarn serve" running? set TARN_ENDPOINT or run "tarn login --endpoint URL")`
	if err.Error() != want {
		t.Errorf("error\n%s\nwant\n%s", err, want)
	}
}

func TestCanceledContextIsReturned(t *testing.T) {
	c, _ := fakeAPI(t, 200, "application/json", `{}`)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Whoami(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
}

func TestErrorsNeverHoldTheToken(t *testing.T) {
	// The server echoes what it got, as a hostile or buggy server might.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(500)
		io.WriteString(w, "you sent "+r.Header.Get("Authorization"))
	}))
	defer srv.Close()
	c, err := New(Options{Endpoint: srv.URL, Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Whoami(context.Background())
	if err == nil || strings.Contains(err.Error(), testToken) {
		t.Fatalf("error %v holds the token", err)
	}
	srv.Close()
	_, err = c.Whoami(context.Background())
	if err == nil || strings.Contains(err.Error(), testToken) {
		t.Fatalf("error %v holds the token", err)
	}
}

func TestAnswerLargerThanLimitIsAnError(t *testing.T) {
	big := `{"user":"` + strings.Repeat("a", MaxResponseBytes) + `"}`
	c, _ := fakeAPI(t, 200, "application/json", big)
	if _, err := c.Whoami(context.Background()); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("error %v, want an answer-too-large error", err)
	}
}

func TestNoTokenSendsNoAuthorizationHeader(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Values("Authorization")
		io.WriteString(w, `{}`)
	}))
	defer srv.Close()
	c, err := New(Options{Endpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Whoami(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf("Authorization %q sent without a token", got)
	}
}

func TestEndpointPathIsAPrefix(t *testing.T) {
	var uri, ua string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		uri, ua = r.RequestURI, r.UserAgent()
		io.WriteString(w, `{}`)
	}))
	defer srv.Close()
	c, err := New(Options{Endpoint: srv.URL + "/tarn/", UserAgent: "tarn-cli/1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Dataset(context.Background(), "acme", "co co"); err != nil {
		t.Fatal(err)
	}
	if uri != "/tarn/api/v1/orgs/acme/datasets/co%20co" || ua != "tarn-cli/1" {
		t.Errorf("request %s with User-Agent %q", uri, ua)
	}
}

func TestRetryAfterHeader(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		header string
		want   time.Duration
	}{
		{"", 0},
		{"7", 7 * time.Second},
		{" 2 ", 2 * time.Second},
		{"-3", 0},
		{"soon", 0},
		{"99999999999", 0}, // out of range: ignored
		{"86400", time.Hour},
		{"Tue, 01 Dec 2026 12:00:30 GMT", 30 * time.Second},
		{"Tue, 01 Dec 2026 11:00:00 GMT", 0},
	} {
		if got := retryAfter(tc.header, now); got != tc.want {
			t.Errorf("retryAfter(%q) = %v, want %v", tc.header, got, tc.want)
		}
	}
}
