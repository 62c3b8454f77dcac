// Package server builds a tarn control plane from its options: it opens the store, lists the
// built-in credential providers, bootstraps a fresh installation and serves the HTTP API.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/oauth2/google"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/audit"
	"github.com/tarnhq/tarn/internal/authn/oidc"
	"github.com/tarnhq/tarn/internal/console"
	"github.com/tarnhq/tarn/internal/httpapi"
	"github.com/tarnhq/tarn/internal/issuer"
	"github.com/tarnhq/tarn/internal/netguard"
	"github.com/tarnhq/tarn/internal/provider"
	"github.com/tarnhq/tarn/internal/provider/awssts"
	"github.com/tarnhq/tarn/internal/provider/azuresas"
	"github.com/tarnhq/tarn/internal/provider/gcsdownscope"
	"github.com/tarnhq/tarn/internal/provider/localfile"
	"github.com/tarnhq/tarn/internal/secretbox"
	"github.com/tarnhq/tarn/internal/store"
	"github.com/tarnhq/tarn/internal/store/cached"
	"github.com/tarnhq/tarn/internal/store/sqlstore"
	"github.com/tarnhq/tarn/internal/upstream"
)

// Options configure a server. The zero value serves SQLite in ./tarn-data.
type Options struct {
	// DataDir holds the SQLite database, admin.token and the default file storage.
	// Default "tarn-data".
	DataDir string
	// Database is a postgres:// URL; empty means SQLite in DataDir.
	Database string
	// FileRoots are the directories creds keys of provider file may use; default
	// <DataDir>/datasets.
	FileRoots []string
	// Logger receives JSON logs; nil discards them.
	Logger *slog.Logger
	// Out receives the few lines meant for the operator (where the admin token is); nil discards them.
	Out io.Writer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// VendTTL is the lifetime of vended credentials; zero means one hour.
	VendTTL time.Duration
	// WorkloadAudience is the audience workload tokens must carry to be exchanged; empty
	// means oidc.DefaultAudience (api://tarn).
	WorkloadAudience string
	// WorkloadTokenTTL is the lifetime of tarn tokens minted by token exchange; zero means
	// one hour.
	WorkloadTokenTTL time.Duration
	// AllowEndpoints lists the internal hosts (HOST:PORT) and networks (CIDR) that the S3
	// and STS endpoints of creds keys and the workload identity issuers may reach (tarn
	// serve --allow-endpoint); everything else that is not a public address is refused.
	// See netguard.Options.Allow.
	AllowEndpoints []string
	// EndpointResolver and EndpointDial replace the resolver and the dialer of those
	// connections; nil means the system's. Tests only.
	EndpointResolver netguard.Resolver
	EndpointDial     netguard.DialFunc
	// OIDCTransport builds the transport of the fetches of workload token issuers around
	// the guarded dial function; nil means the guard's own. Tests route fetches to oidctest
	// issuers with it (oidctest.Issuer.Transport); the guard still checks every connection.
	OIDCTransport func(dial netguard.DialFunc) http.RoundTripper
	// AzureTransport and AzureEntra are provider azure's azuresas.Options.Transport and
	// Entra: tests trust an emulator's certificate and point Entra ID at a stand-in with
	// them; nil and the zero value mean the guard's own transport and Entra ID itself.
	AzureTransport func(dial netguard.DialFunc) http.RoundTripper
	AzureEntra     azuresas.EntraOptions
	// GCSTransport and GCSCredentials are provider gcs's gcsdownscope.Options.Transport and
	// DefaultCredentials: tests route Google's endpoints to stand-ins and give the server a
	// googletest key as its ADC with them (google.CredentialsFromJSON, whose JSON tells the
	// server's principal); nil means the guard's own transport and the server's
	// Application Default Credentials.
	GCSTransport   func(dial netguard.DialFunc) http.RoundTripper
	GCSCredentials *google.Credentials
	// AuditRetention is how long audit records are kept: older ones are deleted at start
	// and every hour, a few at a time. Zero or less keeps them forever; tarn serve passes
	// --audit-retention, 400 days unless told otherwise.
	AuditRetention time.Duration
	// DBTimeout bounds every database call (tarn serve --db-timeout): a database that does
	// not answer in time makes the request fail with 503 and Retry-After. Zero means
	// sqlstore.DefaultTimeout.
	DBTimeout time.Duration
	// UpstreamTimeout bounds every call to a cloud API such as STS (tarn serve
	// --upstream-timeout). Zero means awssts.DefaultTimeout.
	UpstreamTimeout time.Duration
	// Upstream budgets the upstream calls of every creds key: their rate, how many run at
	// once and the circuit breaker (tarn serve --upstream-rate, --upstream-burst,
	// --upstream-max-in-flight, --upstream-failures, --upstream-cooldown). Zero fields are
	// the defaults of package upstream.
	Upstream upstream.Options
	// PublicURL is the URL people open the console at (tarn serve --public-url), when a
	// proxy stands in front of the server; empty means the request's own host. A https URL
	// makes the console's cookies Secure. It is also tarn's OIDC issuer: with it the server
	// serves discovery and the JWKS under /.well-known/ (package issuer), and it must be
	// https:// unless its host is loopback.
	PublicURL string
	// IssuerKeyRotation is how long an issuer signing key is the newest before a new one is
	// made (tarn serve --issuer-key-rotation); zero means issuer.DefaultRotation.
	IssuerKeyRotation time.Duration
	// HTTP bounds the time a client may take over a request and its connection; zero fields
	// are the defaults of HTTPTimeouts.
	HTTP HTTPTimeouts
}

// HTTPTimeouts bound how long one client may hold a connection of the server.
type HTTPTimeouts struct {
	// ReadHeader is the time to read a request's headers; default 10 s.
	ReadHeader time.Duration
	// Read is the time to read a whole request, its body (at most 1 MiB) included; default
	// 30 s. A client that stalls its body loses its connection after it.
	Read time.Duration
	// Write is the time from the end of reading a request's headers to the end of writing
	// its answer; default 2 min, above every database and upstream deadline.
	Write time.Duration
	// Idle is how long a kept-alive connection may wait for its next request; default 2 min.
	Idle time.Duration
}

// withDefaults returns t with zero fields set to their defaults.
func (t HTTPTimeouts) withDefaults() HTTPTimeouts {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&t.ReadHeader, 10*time.Second)
	def(&t.Read, 30*time.Second)
	def(&t.Write, 2*time.Minute)
	def(&t.Idle, 2*time.Minute)
	return t
}

// Server is a running control plane's state.
type Server struct {
	Store   store.Store
	API     *httpapi.API
	Console *console.Console
	Issuer  *issuer.Issuer // nil without a public URL
	DataDir string
	log     *slog.Logger
	handler http.Handler

	stopRetention context.CancelFunc
	retentionDone chan struct{}
	http          HTTPTimeouts
}

// New opens the store (creating and migrating it as needed), bootstraps a fresh
// installation and builds the API. Close releases the store.
func New(ctx context.Context, o Options) (*Server, error) {
	if o.DataDir == "" {
		o.DataDir = "tarn-data"
	}
	dataDir, err := filepath.Abs(o.DataDir)
	if err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	if err := restrictDir(dataDir); err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if len(o.FileRoots) == 0 {
		// Not the data dir itself: it holds the database, master.key and admin.token.
		o.FileRoots = []string{filepath.Join(dataDir, datasetDir)}
		if err := os.MkdirAll(o.FileRoots[0], 0o750); err != nil {
			return nil, fmt.Errorf("create %s: %w", o.FileRoots[0], err)
		}
	}
	st, err := openStore(ctx, o.Database, dataDir, sqlstore.Options{Timeout: o.DBTimeout})
	if err != nil {
		return nil, err
	}
	files, err := localfile.New(o.FileRoots)
	if err != nil {
		st.Close()
		return nil, err
	}
	// Every connection to a host an org admin chose passes this guard.
	guard, err := netguard.New(netguard.Options{Allow: o.AllowEndpoints, Resolver: o.EndpointResolver, Dial: o.EndpointDial})
	if err != nil {
		st.Close()
		return nil, err
	}
	// The built-in providers, listed explicitly.
	vendor := provider.New(map[string]provider.Driver{
		localfile.Name: files,
		awssts.Name:    awssts.New(awssts.Options{Guard: guard, Now: o.Now, Timeout: o.UpstreamTimeout}),
		azuresas.Name:  azuresas.New(azuresas.Options{Guard: guard, Now: o.Now, Timeout: o.UpstreamTimeout, Transport: o.AzureTransport, Entra: o.AzureEntra}),
		gcsdownscope.Name: gcsdownscope.New(gcsdownscope.Options{Guard: guard, Now: o.Now, Timeout: o.UpstreamTimeout,
			Transport: o.GCSTransport, DefaultCredentials: o.GCSCredentials}),
	}, o.Now)
	var publicURL *url.URL
	if o.PublicURL != "" {
		if err := issuer.CheckPublicURL(o.PublicURL); err != nil {
			st.Close()
			return nil, err
		}
		publicURL, _ = url.Parse(o.PublicURL) // CheckPublicURL parsed it
	}
	// The API and the console read access (tokens, memberships, datasets, creds keys) from
	// one memory, kept while the database's access version stands.
	access := cached.New(st, 0)
	if o.Database != "" && os.Getenv(secretbox.EnvMasterKey) == "" {
		st.Close()
		return nil, fmt.Errorf("with --database every server must share one master key: set %s (64 hex characters, e.g. from: openssl rand -hex 32) on all of them", secretbox.EnvMasterKey)
	}
	secrets, err := secretbox.Load(dataDir)
	if err != nil {
		st.Close()
		return nil, err
	}
	b := bootstrapper{store: st, vendor: vendor, dataDir: dataDir, fileRoots: o.FileRoots, now: o.Now, out: o.Out}
	if err := b.run(ctx); err != nil {
		st.Close()
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	// tarn's own OIDC issuer, at the public URL only: clouds fetch its discovery from there.
	var iss *issuer.Issuer
	if o.PublicURL != "" {
		if iss, err = issuer.New(issuer.Options{Store: st, Secrets: secrets, PublicURL: o.PublicURL, Now: o.Now,
			Rotation: o.IssuerKeyRotation}); err != nil {
			st.Close()
			return nil, err
		}
	}
	// Issuers come from the store: one registered through another server is trusted here
	// on its first token.
	verifier := oidc.NewVerifier(oidc.Options{Audience: o.WorkloadAudience, Guard: guard, Transport: o.OIDCTransport, Now: o.Now,
		Issuers: st.Issuers})
	a := httpapi.New(httpapi.Options{Store: access, Vendor: vendor, Secrets: secrets, Logger: o.Logger, Now: o.Now, VendTTL: o.VendTTL,
		Verifier: verifier, WorkloadTokenTTL: o.WorkloadTokenTTL, Upstream: o.Upstream, Issuer: iss})
	web, err := console.New(console.Options{Store: access, API: a, Now: o.Now, PublicURL: publicURL, WorkloadAudience: o.WorkloadAudience,
		Logger: o.Logger, StoreClient: guard.Client(netguard.ClientOptions{Timeout: o.UpstreamTimeout, Transport: o.AzureTransport})})
	if err != nil {
		a.Close()
		st.Close()
		return nil, err
	}
	retain, stop := context.WithCancel(context.Background())
	s := &Server{Store: st, API: a, Console: web, Issuer: iss, DataDir: dataDir, log: o.Logger, http: o.HTTP, stopRetention: stop, retentionDone: make(chan struct{})}
	// One listener: the API and the endpoints of operators under their paths, the issuer's
	// under /.well-known/ (404 without a public URL), the console everywhere else.
	mux := http.NewServeMux()
	for _, path := range []string{api.Prefix + "/", "/healthz", "/readyz", "/metrics"} {
		mux.Handle(path, a)
	}
	var wellKnown http.Handler = http.NotFoundHandler()
	if iss != nil {
		wellKnown = iss
	}
	mux.Handle("/.well-known/", wellKnown)
	mux.Handle("/", web)
	s.handler = mux
	go func() {
		defer close(s.retentionDone)
		audit.Retain(retain, audit.RetentionOptions{Store: st, Keep: o.AuditRetention, Now: o.Now, Logger: o.Logger})
	}()
	return s, nil
}

// restrictDir takes group and other access away from dir: an existing data dir may have
// been created readable by others, and it holds the database and the keys.
func restrictDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		if err := os.Chmod(dir, perm&^0o077); err != nil {
			return fmt.Errorf("restrict data dir %s to its owner (chmod 700 it): %w", dir, err)
		}
	}
	return nil
}

func openStore(ctx context.Context, database, dataDir string, o sqlstore.Options) (store.Store, error) {
	switch {
	case database == "":
		return sqlstore.OpenSQLiteWith(ctx, filepath.Join(dataDir, "tarn.db"), o)
	case strings.HasPrefix(database, "postgres://"), strings.HasPrefix(database, "postgresql://"):
		return sqlstore.OpenPostgresWith(ctx, database, o)
	}
	return nil, errors.New("--database must be a postgres:// URL (leave it out for the embedded SQLite)")
}

// Serve answers HTTP on ln until ctx is done, then shuts down gracefully. A client that
// takes longer than Options.HTTP allows to send its request, or to read the answer, loses
// its connection.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	t := s.http.withDefaults()
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: t.ReadHeader,
		ReadTimeout:       t.Read,
		WriteTimeout:      t.Write,
		IdleTimeout:       t.Idle,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Handler returns what Serve serves: the API under /api/v1 (and /healthz, /readyz,
// /metrics), the console everywhere else.
func (s *Server) Handler() http.Handler { return s.handler }

// Close stops the audit retention, commits the audit records still queued and releases
// the store.
func (s *Server) Close() error {
	s.stopRetention()
	<-s.retentionDone
	return errors.Join(s.API.Close(), s.Store.Close())
}
