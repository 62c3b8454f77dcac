package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tarnhq/tarn/api"
)

// fakeExchange is a stand-in for tarn's token endpoint and /whoami. It answers every
// exchange with a new token "tarn_N" valid for expiresIn seconds and records what it saw.
type fakeExchange struct {
	*httptest.Server
	expiresIn int64
	n         atomic.Int64
	mu        sync.Mutex
	forms     []url.Values
	auths     []string // Authorization of each exchange
	bearers   []string // Authorization of each other request
	refuse    atomic.Bool
}

func newFakeExchange(t *testing.T, expiresIn int64) *fakeExchange {
	t.Helper()
	f := &fakeExchange{expiresIn: expiresIn}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/oauth/token" {
			f.mu.Lock()
			f.bearers = append(f.bearers, r.Header.Get("Authorization"))
			f.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"user":"workload:acme/trainer","superuser":false,"token_id":"t1","orgs":[]}`)
			return
		}
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			http.Error(w, "bad request", 400)
			return
		}
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", 400)
			return
		}
		f.mu.Lock()
		f.forms = append(f.forms, r.PostForm)
		f.auths = append(f.auths, r.Header.Get("Authorization"))
		f.mu.Unlock()
		if f.refuse.Load() {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(401)
			io.WriteString(w, `{"title":"Unauthorized","status":401,"code":"unauthenticated","detail":"token refused"}`)
			return
		}
		n := f.n.Add(1)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(api.TokenExchangeResponse{
			AccessToken: fmt.Sprintf("tarn_%d", n), IssuedTokenType: api.TokenTypeAccess, TokenType: "Bearer", ExpiresIn: f.expiresIn,
		})
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeExchange) lastForm(t *testing.T) (url.Values, string) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.forms) == 0 {
		t.Fatal("no exchange")
	}
	return f.forms[len(f.forms)-1], f.auths[len(f.auths)-1]
}

func TestExchangeTokenWireFormat(t *testing.T) {
	f := newFakeExchange(t, 3600)
	// A client with its own token must not send it to the token endpoint.
	c, err := New(Options{Endpoint: f.URL, Token: "tarn_mine"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ scope, want string }{{"", ""}, {"org:acme", "org:acme"}, {"acme", "org:acme"}} {
		res, err := c.ExchangeToken(context.Background(), "eyJ.platform.jwt", tc.scope)
		if err != nil {
			t.Fatal(err)
		}
		if res.AccessToken == "" || res.ExpiresIn != 3600 || res.TokenType != "Bearer" || res.IssuedTokenType != api.TokenTypeAccess {
			t.Errorf("answer %+v", res)
		}
		form, auth := f.lastForm(t)
		want := url.Values{
			"grant_type":         {api.GrantTokenExchange},
			"subject_token":      {"eyJ.platform.jwt"},
			"subject_token_type": {api.TokenTypeJWT},
		}
		if tc.want != "" {
			want.Set("scope", tc.want)
		}
		if form.Encode() != want.Encode() {
			t.Errorf("form %s, want %s", form.Encode(), want.Encode())
		}
		if auth != "" {
			t.Errorf("Authorization %q sent to the token endpoint", auth)
		}
	}
}

func TestExchangeTokenErrors(t *testing.T) {
	for _, tc := range []struct {
		status int
		code   string
	}{{401, api.CodeUnauthenticated}, {503, api.CodeUnavailable}} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(tc.status)
			fmt.Fprintf(w, `{"title":"x","status":%d,"code":%q,"detail":"d"}`, tc.status, tc.code)
		}))
		c, _ := New(Options{Endpoint: srv.URL})
		_, err := c.ExchangeToken(context.Background(), "jwt", "")
		var p *api.Problem
		if !errors.As(err, &p) || p.Status != tc.status || p.Code != tc.code {
			t.Errorf("status %d: error %v", tc.status, err)
		}
		srv.Close()
	}
}

func TestIdentityMethods(t *testing.T) {
	type seen struct{ method, path, body string }
	var got []seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = append(got, seen{r.Method, r.URL.EscapedPath(), string(b)})
		w.Header().Set("Content-Type", "application/json")
		switch r.Method {
		case http.MethodDelete:
			w.WriteHeader(204)
		case http.MethodGet:
			if r.URL.Path == "/api/v1/orgs/acme/identities" {
				io.WriteString(w, `{"identities":[{"org":"acme","name":"trainer","provider":"azure","role":"reader","tenant_id":"T","client_id":"C","created_at":"2025-03-01T12:00:00Z"}]}`)
				return
			}
			fallthrough
		default:
			io.WriteString(w, `{"org":"acme","name":"trainer","provider":"azure","role":"reader","tenant_id":"T","client_id":"C","created_at":"2025-03-01T12:00:00Z"}`)
		}
	}))
	defer srv.Close()
	c, _ := New(Options{Endpoint: srv.URL, Token: "tarn_x"})
	ctx := context.Background()
	id, err := c.PutIdentity(ctx, "acme", api.Identity{Name: "trainer", Provider: api.IdentityAzure, Role: api.RoleReader, TenantID: "T", ClientID: "C"})
	if err != nil || id.ClientID != "C" {
		t.Fatalf("PutIdentity: %v %+v", err, id)
	}
	if id, err := c.Identity(ctx, "acme", "trainer"); err != nil || id.Name != "trainer" {
		t.Fatalf("Identity: %v", err)
	}
	if ids, err := c.Identities(ctx, "acme"); err != nil || len(ids) != 1 {
		t.Fatalf("Identities: %v %v", err, ids)
	}
	if err := c.DeleteIdentity(ctx, "acme", "trainer"); err != nil {
		t.Fatal(err)
	}
	want := []seen{
		{"PUT", "/api/v1/orgs/acme/identities/trainer", `{"org":"acme","name":"trainer","provider":"azure","role":"reader","tenant_id":"T","client_id":"C","created_at":"0001-01-01T00:00:00Z"}`},
		{"GET", "/api/v1/orgs/acme/identities/trainer", ""},
		{"GET", "/api/v1/orgs/acme/identities", ""},
		{"DELETE", "/api/v1/orgs/acme/identities/trainer", ""},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("requests\n%v\nwant\n%v", got, want)
	}
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// exchanges returns the number of exchanges the fake saw, refused ones included.
func (f *fakeExchange) exchanges() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.forms)
}

// TestWorkloadTokenSourceRenewsBeforeExpiry follows the renewal rule of storage's
// credentials (renew.After, renew.RetryDelay): a 1-hour token is renewed 30 minutes before
// it expires (not at 80 %, which would leave 12 minutes for an outage), a failed renewal
// falls back on the still valid token and is tried again after a quarter of what is left
// (not on every request), and an expired token whose renewal fails is an error.
func TestWorkloadTokenSourceRenewsBeforeExpiry(t *testing.T) {
	f := newFakeExchange(t, 3600)
	var platformCalls atomic.Int64
	platform := TokenSourceFunc(func(context.Context) (string, error) {
		return fmt.Sprintf("platform_%d", platformCalls.Add(1)), nil
	})
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	clk := &clock{t: start}
	exchanger, _ := New(Options{Endpoint: f.URL})
	ts := NewWorkloadTokenSource(exchanger, platform, WorkloadOptions{Scope: "acme", Now: clk.now})
	c, _ := New(Options{Endpoint: f.URL, TokenSource: ts})
	ctx := context.Background()
	at := func(d time.Duration) { clk.set(start.Add(d)) }

	whoami := func() string {
		t.Helper()
		if _, err := c.Whoami(ctx); err != nil {
			t.Fatal(err)
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.bearers[len(f.bearers)-1]
	}
	if got := whoami(); got != "Bearer tarn_1" {
		t.Fatalf("first request sent %q", got)
	}
	if form, _ := f.lastForm(t); form.Get("subject_token") != "platform_1" || form.Get("scope") != "org:acme" {
		t.Errorf("exchange form %v", form)
	}
	at(30*time.Minute - time.Second) // more than 30 minutes left: cached
	if got := whoami(); got != "Bearer tarn_1" || f.exchanges() != 1 {
		t.Fatalf("with 30m01s left sent %q after %d exchanges", got, f.exchanges())
	}
	at(30 * time.Minute) // 30 minutes before expiry: renewed, with a fresh platform token
	if got := whoami(); got != "Bearer tarn_2" || platformCalls.Load() != 2 {
		t.Fatalf("with 30m left sent %q, %d platform tokens; want the renewed tarn_2", got, platformCalls.Load())
	}
	if form, _ := f.lastForm(t); form.Get("subject_token") != "platform_2" {
		t.Errorf("renewal exchanged %q", form.Get("subject_token"))
	}

	// Many callers at the renewal point share one exchange.
	at(60 * time.Minute)
	var wg sync.WaitGroup
	toks := make([]string, 50)
	for i := range toks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			toks[i], _ = ts.Token(ctx)
		}()
	}
	wg.Wait()
	if n := f.exchanges(); n != 3 {
		t.Errorf("%d exchanges, want 3", n)
	}
	for _, tok := range toks {
		if tok != "tarn_3" {
			t.Fatalf("caller got %q", tok)
		}
	}

	// tarn_3 lives from 60 to 120 minutes and is due at 90. Its renewal fails: the still
	// valid token serves, and the next exchange waits a quarter of the 30 minutes left,
	// at most 5 minutes.
	f.refuse.Store(true)
	at(90 * time.Minute)
	if tok, err := ts.Token(ctx); err != nil || tok != "tarn_3" || f.exchanges() != 4 {
		t.Fatalf("failed renewal: %q, %v after %d exchanges; want tarn_3 after 4", tok, err, f.exchanges())
	}
	at(95*time.Minute - time.Second)
	for range 10 {
		if tok, err := ts.Token(ctx); err != nil || tok != "tarn_3" {
			t.Fatalf("while waiting to retry: %q, %v", tok, err)
		}
	}
	if n := f.exchanges(); n != 4 {
		t.Errorf("%d exchanges within 5 minutes of a failed renewal, want none after it", n-4)
	}
	at(95 * time.Minute)
	if tok, err := ts.Token(ctx); err != nil || tok != "tarn_3" || f.exchanges() != 5 {
		t.Errorf("5 minutes after the failed renewal: %q, %v after %d exchanges; want a new attempt (5)", tok, err, f.exchanges())
	}
	at(120 * time.Minute)
	_, err := ts.Token(ctx)
	var p *api.Problem
	if !errors.As(err, &p) || p.Status != 401 {
		t.Errorf("expired and refused: %v", err)
	}
	// The error says what failed and never holds a token.
	if err != nil && (strings.Contains(err.Error(), "tarn_3") || strings.Contains(err.Error(), "platform_")) {
		t.Errorf("error leaks a token: %v", err)
	}
}

// A short-lived token is renewed at half its lifetime, never sooner, as 30 minutes before
// its expiry would be before it arrived.
func TestWorkloadTokenSourceRenewsShortTokensAtHalfLife(t *testing.T) {
	f := newFakeExchange(t, 1000)
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	clk := &clock{t: start}
	exchanger, _ := New(Options{Endpoint: f.URL})
	ts := NewWorkloadTokenSource(exchanger, TokenSourceFunc(func(context.Context) (string, error) { return "platform", nil }),
		WorkloadOptions{Scope: "acme", Now: clk.now})
	for _, step := range []struct {
		at   time.Duration
		want string
	}{{0, "tarn_1"}, {499 * time.Second, "tarn_1"}, {500 * time.Second, "tarn_2"}} {
		clk.set(start.Add(step.at))
		if tok, err := ts.Token(context.Background()); err != nil || tok != step.want {
			t.Fatalf("at %v: %q, %v; want %s", step.at, tok, err, step.want)
		}
	}
}

func TestGitHubActionsTokenSource(t *testing.T) {
	var gotQuery url.Values
	var gotAuth string
	gh := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotQuery, gotAuth = r.URL.Query(), r.Header.Get("Authorization")
		if gotAuth != "Bearer gh-request-token" {
			w.WriteHeader(403)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"count":1,"value":"eyJ.github.oidc"}`)
	}))
	defer gh.Close()
	env := map[string]string{
		EnvGitHubRequestURL:   gh.URL + "/_apis/token?api-version=2.0",
		EnvGitHubRequestToken: "gh-request-token",
	}
	src, err := PlatformTokenSource(api.IdentityGitHub, func(k string) string { return env[k] }, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := src.Token(context.Background())
	if err != nil || tok != "eyJ.github.oidc" {
		t.Fatalf("token %q, %v", tok, err)
	}
	if gotQuery.Get("audience") != DefaultAudience || gotQuery.Get("api-version") != "2.0" {
		t.Errorf("query %v", gotQuery)
	}
	env[EnvAudience] = "api://tarn-prod"
	src, _ = PlatformTokenSource(api.IdentityGitHub, func(k string) string { return env[k] }, nil)
	if _, err := src.Token(context.Background()); err != nil || gotQuery.Get("audience") != "api://tarn-prod" {
		t.Errorf("TARN_AUDIENCE: %v %v", err, gotQuery)
	}
	env[EnvGitHubRequestToken] = "wrong"
	src, _ = PlatformTokenSource(api.IdentityGitHub, func(k string) string { return env[k] }, nil)
	if _, err := src.Token(context.Background()); err == nil || !strings.Contains(err.Error(), "id-token: write") {
		t.Errorf("refused request: %v", err)
	}
	delete(env, EnvGitHubRequestURL)
	if _, err := PlatformTokenSource(api.IdentityGitHub, func(k string) string { return env[k] }, nil); err == nil {
		t.Error("no error without ACTIONS_ID_TOKEN_REQUEST_URL")
	}
}

// TestAzureManagedIdentity runs the real azidentity ManagedIdentityCredential against a
// stand-in of the App Service / Functions / Container Apps managed identity endpoint
// (IDENTITY_ENDPOINT + IDENTITY_HEADER, api-version 2019-08-01), then exchanges its token.
func TestAzureManagedIdentity(t *testing.T) {
	const header = "secret-identity-header"
	const clientID = "11111111-2222-3333-4444-555555555555"
	var calls atomic.Int64
	var mu sync.Mutex
	var gotQuery url.Values
	mi := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		mu.Lock()
		gotQuery = r.URL.Query()
		mu.Unlock()
		if r.Method != http.MethodGet || r.Header.Get("X-IDENTITY-HEADER") != header {
			w.WriteHeader(401)
			io.WriteString(w, `{"error":"unauthorized"}`)
			return
		}
		q := r.URL.Query()
		if q.Get("api-version") != "2019-08-01" || q.Get("resource") == "" {
			w.WriteHeader(400)
			io.WriteString(w, `{"statusCode":400,"message":"bad request"}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{
			"access_token": "eyJ.azure.mi." + q.Get("client_id"),
			"expires_on":   strconv.FormatInt(time.Now().Add(24*time.Hour).Unix(), 10),
			"resource":     q.Get("resource"),
			"token_type":   "Bearer",
			"client_id":    q.Get("client_id"),
		})
	}))
	defer mi.Close()
	// azidentity (MSAL) reads these from the process environment.
	t.Setenv("IDENTITY_ENDPOINT", mi.URL+"/msi/token")
	t.Setenv("IDENTITY_HEADER", header)
	t.Setenv("IDENTITY_SERVER_THUMBPRINT", "")
	t.Setenv("MSI_ENDPOINT", "")
	t.Setenv("IMDS_ENDPOINT", "")

	f := newFakeExchange(t, 3600)
	env := map[string]string{
		"TARN_ENDPOINT":      f.URL,
		EnvAuthProviderAlias: "azure", // the Deep Lake spelling works too
		EnvAzureClientID:     clientID,
		EnvAudience:          "api://tarn-azure-test",
		EnvScope:             "org:acme",
	}
	c, err := FromEnv(func(k string) string { return env[k] }, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Whoami(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	q := gotQuery
	mu.Unlock()
	if q.Get("resource") != "api://tarn-azure-test" || q.Get("client_id") != clientID {
		t.Errorf("managed identity request %v", q)
	}
	form, auth := f.lastForm(t)
	if form.Get("subject_token") != "eyJ.azure.mi."+clientID || form.Get("scope") != "org:acme" || auth != "" {
		t.Errorf("exchange form %v, Authorization %q", form, auth)
	}
	f.mu.Lock()
	bearer := f.bearers[len(f.bearers)-1]
	f.mu.Unlock()
	if bearer != "Bearer tarn_1" {
		t.Errorf("whoami sent %q", bearer)
	}
}

func TestTokenFileIsReadAtEachRenewal(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "tarn")
	os.WriteFile(p, []byte("k8s_1\n"), 0o600)
	f := newFakeExchange(t, 100)
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	clk := &clock{t: start}
	env := map[string]string{EnvTokenFile: p}
	src, err := PlatformTokenSource(api.IdentityKubernetes, func(k string) string { return env[k] }, nil)
	if err != nil {
		t.Fatal(err)
	}
	exchanger, _ := New(Options{Endpoint: f.URL})
	ts := NewWorkloadTokenSource(exchanger, src, WorkloadOptions{Now: clk.now})
	if _, err := ts.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	if form, _ := f.lastForm(t); form.Get("subject_token") != "k8s_1" || form.Has("scope") {
		t.Errorf("form %v", form)
	}
	os.WriteFile(p, []byte("k8s_2"), 0o600) // the kubelet rotated the projected token
	clk.set(start.Add(81 * time.Second))
	if tok, err := ts.Token(context.Background()); err != nil || tok != "tarn_2" {
		t.Fatalf("renewal %q, %v", tok, err)
	}
	if form, _ := f.lastForm(t); form.Get("subject_token") != "k8s_2" {
		t.Errorf("renewal exchanged %q", form.Get("subject_token"))
	}
	// The default file of the kubernetes provider, and oidc needs TARN_TOKEN_FILE.
	if _, err := PlatformTokenSource(api.IdentityOIDC, func(string) string { return "" }, nil); err == nil {
		t.Error("oidc without TARN_TOKEN_FILE")
	}
	if _, err := PlatformTokenSource("gcp", func(string) string { return "" }, nil); err == nil {
		t.Error("unknown provider accepted")
	}
}

func TestFromEnvPrecedence(t *testing.T) {
	env := map[string]string{"TARN_ENDPOINT": "http://tarn.example", "TARN_TOKEN": "tarn_env", EnvAuthProvider: "kubernetes"}
	c, err := FromEnv(func(k string) string { return env[k] }, Options{})
	if err != nil || c.token != "tarn_env" || c.ts != nil {
		t.Fatalf("TARN_TOKEN must win: %v", err)
	}
	delete(env, "TARN_TOKEN")
	c, err = FromEnv(func(k string) string { return env[k] }, Options{})
	if err != nil || c.ts == nil {
		t.Fatalf("TARN_AUTH_PROVIDER: %v", err)
	}
	env[EnvAuthProvider] = "nope"
	if _, err := FromEnv(func(k string) string { return env[k] }, Options{}); err == nil {
		t.Fatal("unknown provider accepted")
	}
	if AuthProvider(func(k string) string { return map[string]string{EnvAuthProviderAlias: "GitHub"}[k] }) != "github" {
		t.Error("alias")
	}
}

// TestWorkloadTokensAreScopedToTheRequestsOrg: with no fixed scope, a request in org acme
// is made with a token exchanged for scope org:acme, one in beta with one for org:beta,
// and a request outside any org with an unscoped one; each is cached on its own. A fixed
// scope (TARN_SCOPE) wins.
func TestWorkloadTokensAreScopedToTheRequestsOrg(t *testing.T) {
	f := newFakeExchange(t, 1000)
	platform := TokenSourceFunc(func(context.Context) (string, error) { return "platform", nil })
	exchanger, _ := New(Options{Endpoint: f.URL})
	c, _ := New(Options{Endpoint: f.URL, TokenSource: NewWorkloadTokenSource(exchanger, platform, WorkloadOptions{})})
	ctx := context.Background()
	scopes := func() []string {
		f.mu.Lock()
		defer f.mu.Unlock()
		var s []string
		for _, form := range f.forms {
			s = append(s, form.Get("scope"))
		}
		return s
	}
	c.Datasets(ctx, "acme")
	c.Datasets(ctx, "beta")
	c.Dataset(ctx, "acme", "coco")
	c.Whoami(ctx)
	if got, want := strings.Join(scopes(), ","), "org:acme,org:beta,"; got != want {
		t.Fatalf("exchange scopes %q, want %q (one per org, cached)", got, want)
	}
	f.mu.Lock()
	bearers := strings.Join(f.bearers, ",")
	f.mu.Unlock()
	if bearers != "Bearer tarn_1,Bearer tarn_2,Bearer tarn_1,Bearer tarn_3" {
		t.Errorf("requests sent %s", bearers)
	}

	fixed, _ := New(Options{Endpoint: f.URL, TokenSource: NewWorkloadTokenSource(exchanger, platform, WorkloadOptions{Scope: "acme"})})
	fixed.Datasets(ctx, "beta")
	if s := scopes(); s[len(s)-1] != "org:acme" {
		t.Errorf("a fixed scope was replaced by the request's org: %q", s[len(s)-1])
	}
}
