// Package testenv starts a whole tarn control plane in-process for tests: SQLite in a
// temporary directory, the real HTTP API on a loopback port, and a settable clock. Its
// connections to creds-key endpoints and workload identity issuers never leave the loopback
// interface: a dial anywhere else fails the test.
package testenv

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2/google"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/client"
	"github.com/tarnhq/tarn/internal/netguard"
	"github.com/tarnhq/tarn/internal/netguard/netguardtest"
	"github.com/tarnhq/tarn/internal/provider/azuresas"
	"github.com/tarnhq/tarn/internal/server"
	"github.com/tarnhq/tarn/internal/upstream"
)

// Clock is a settable clock, safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock reading t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Env is a running tarn.
type Env struct {
	URL        string // base URL of the API server
	DataDir    string
	AdminToken string // the bootstrap superuser's token
	Clock      *Clock
	Server     *server.Server
}

// Options tune New. The zero value is fine.
type Options struct {
	// Database is a postgres:// URL; empty means SQLite in the data dir.
	Database string
	// FileRoots as for tarn serve --file-root; default: the data dir.
	FileRoots []string
	// DataDir; default: a fresh temporary directory.
	DataDir string
	// AllowEndpoints as for tarn serve --allow-endpoint: the servers on 127.0.0.1 that
	// creds keys and issuers point at must be listed (miniotest.Server.HostPort,
	// oidctest.Issuer.HostPort).
	AllowEndpoints []string
	// EndpointResolver resolves the host names of creds-key endpoints and issuers; nil means
	// a table that knows only localhost, so that a test can never send a name to the
	// system's resolver (a DNS server off the machine). Tests of address filters pass a
	// netguardtest.Resolver of their own.
	EndpointResolver netguard.Resolver
	// OIDCTransport routes the fetches of workload token issuers, e.g. an oidctest.Issuer's
	// Transport; nil means the guard's own transport.
	OIDCTransport func(dial netguard.DialFunc) http.RoundTripper
	// Dial, when set, wraps the dialer of tarn's connections to creds-key endpoints and
	// issuers: it gets the loopback-only dialer and returns the one tarn uses, so that a test
	// can route, count, refuse or freeze those connections (fault tests of an upstream).
	Dial func(loopback netguard.DialFunc) netguard.DialFunc
	// WorkloadAudience and WorkloadTokenTTL as for server.Options.
	WorkloadAudience string
	WorkloadTokenTTL time.Duration
	// AzureTransport and AzureEntra as for server.Options: an Azurite's certificate
	// (azuritetest.Server.Transport) and an entratest token endpoint.
	AzureTransport func(dial netguard.DialFunc) http.RoundTripper
	AzureEntra     azuresas.EntraOptions
	// Upstream budgets upstream calls per creds key, as for server.Options.
	Upstream upstream.Options
	// GCSTransport and GCSCredentials as for server.Options: the ADC of a googletest key.
	GCSTransport   func(dial netguard.DialFunc) http.RoundTripper
	GCSCredentials *google.Credentials
	// Issuer makes the env's URL tarn's public URL, so that tarn is an OIDC issuer there and
	// the env serves the server's whole handler (the console and /.well-known/ too), not
	// only the API.
	Issuer bool
}

// New starts a tarn and stops it when t ends.
func New(t testing.TB, o Options) *Env {
	t.Helper()
	dir := o.DataDir
	if dir == "" {
		dir = t.TempDir()
	}
	clock := NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	dial := netguardtest.Dial(t)
	if o.Dial != nil {
		dial = o.Dial(dial)
	}
	if o.EndpointResolver == nil {
		o.EndpointResolver = netguardtest.NewResolver(map[string][]string{"localhost": {"127.0.0.1"}})
	}
	hs := httptest.NewUnstartedServer(nil)
	var publicURL string
	if o.Issuer {
		publicURL = "http://" + hs.Listener.Addr().String()
	}
	srv, err := server.New(context.Background(), server.Options{
		DataDir: dir, Database: o.Database, FileRoots: o.FileRoots, Now: clock.Now,
		AllowEndpoints: o.AllowEndpoints, EndpointResolver: o.EndpointResolver, EndpointDial: dial,
		OIDCTransport: o.OIDCTransport, WorkloadAudience: o.WorkloadAudience, WorkloadTokenTTL: o.WorkloadTokenTTL,
		AzureTransport: o.AzureTransport, AzureEntra: o.AzureEntra, Upstream: o.Upstream,
		GCSTransport: o.GCSTransport, GCSCredentials: o.GCSCredentials, PublicURL: publicURL,
	})
	if err != nil {
		hs.Close()
		t.Fatalf("start tarn: %v", err)
	}
	hs.Config.Handler = srv.API
	if o.Issuer {
		hs.Config.Handler = srv.Handler()
	}
	hs.Start()
	t.Cleanup(func() {
		hs.Close()
		srv.Close()
	})
	tok, err := os.ReadFile(filepath.Join(dir, server.TokenFile))
	if err != nil {
		t.Fatalf("read admin token: %v", err)
	}
	return &Env{URL: hs.URL, DataDir: srv.DataDir, AdminToken: strings.TrimSpace(string(tok)), Clock: clock, Server: srv}
}

// Client returns an API client that authenticates with token ("" for none).
func (e *Env) Client(t testing.TB, token string) *client.Client {
	t.Helper()
	c, err := client.New(client.Options{Endpoint: e.URL, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Admin returns a client of the bootstrap superuser.
func (e *Env) Admin(t testing.TB) *client.Client { return e.Client(t, e.AdminToken) }

// NewUser creates a user and, when org is not empty, makes it a member of org with role.
// It returns the user's first token.
func (e *Env) NewUser(t testing.TB, name, org, role string) string {
	t.Helper()
	ctx := context.Background()
	admin := e.Admin(t)
	u, err := admin.CreateUser(ctx, api.CreateUserRequest{Name: name})
	if err != nil {
		t.Fatalf("create user %s: %v", name, err)
	}
	if org != "" {
		if _, err := admin.PutMember(ctx, org, name, role); err != nil {
			t.Fatalf("add %s to %s as %s: %v", name, org, role, err)
		}
	}
	return u.Token
}
