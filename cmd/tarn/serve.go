package main

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tarnhq/tarn/internal/audit"
	"github.com/tarnhq/tarn/internal/authn/oidc"
	"github.com/tarnhq/tarn/internal/issuer"
	"github.com/tarnhq/tarn/internal/provider/awssts"
	"github.com/tarnhq/tarn/internal/server"
	"github.com/tarnhq/tarn/internal/store/sqlstore"
	"github.com/tarnhq/tarn/internal/upstream"
)

// newServeCmd returns `tarn serve`, the control plane.
func newServeCmd() *cobra.Command {
	var (
		listen, dataDir, database, logLevel, publicURL string
		workloadAudience                               string
		fileRoots, allowEndpoints                      []string
		workloadTTL, dbTimeout, upTimeout              time.Duration
		keyRotation                                    = daysFlag(issuer.DefaultRotation)
		auditRetention                                 = retentionFlag(audit.DefaultRetention)
		budget                                         upstream.Options
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the tarn control plane",
		Long: `Run the tarn control plane: the HTTP API under /api/v1, /healthz, /readyz and /metrics.

With no flags it keeps its state in SQLite under ./tarn-data and stores datasets of the
org "local" in ./tarn-data/datasets/local. On first start it creates the superuser "admin" and
writes its token to <data-dir>/admin.token (mode 0600).

For several servers behind a load balancer, point them all at one PostgreSQL database
with --database postgres://...; they keep no other state.

Creds keys of auth default use the server's own cloud identity: the AWS default credential
chain, Azure's DefaultAzureCredential (managed identity, workload identity, environment),
and Google's Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, the metadata
server, gcloud's application-default login).

The endpoints of creds keys (S3, STS, Azure Blob, Google IAM Credentials, STS and storage)
and the issuers of workload identities are chosen by org admins, so tarn refuses those that resolve to loopback, private, CGNAT, link-local,
multicast or cloud metadata addresses, when they are configured and on every connection.
--allow-endpoint lists the internal ones you trust: HOST:PORT, or a CIDR for a whole
network. A cloud metadata address (e.g. 169.254.169.254) is allowed only by an entry that
names exactly that address.

Every database call ends after --db-timeout and every call to a cloud API (STS) after
--upstream-timeout: a database or STS that is down or frozen makes requests fail with
503 and Retry-After instead of hanging. The upstream calls of each creds key are budgeted:
at most --upstream-rate per second (bursts of --upstream-burst), --upstream-max-in-flight at
once, and a circuit breaker that opens after --upstream-failures failures in a row for
--upstream-cooldown. While the budget refuses, cached credentials keep serving and cold
vends answer 503 with Retry-After. A client has 10 s to send its request headers,
30 s for its whole request and 2 min to read the answer; idle connections close after 2 min.

The web console is served at / on the same listener (the API stays under /api/v1); sign in
with an API token. Behind a proxy, --public-url names the URL people open.

With --public-url (https://, or http:// for a loopback host only) tarn is also an OpenID
Connect issuer: it serves /.well-known/openid-configuration and /.well-known/jwks.json, with
ES256 and RS256 keys kept sealed in the database and rotated every --issuer-key-rotation (or by
tarn issuer rotate).`,
		Example: `  tarn serve
  tarn serve --listen 0.0.0.0:7777 --data-dir /var/lib/tarn
  tarn serve --database postgres://tarn@db:5432/tarn --file-root /srv/datasets
  tarn serve --allow-endpoint 127.0.0.1:9000 --allow-endpoint 10.20.0.0/16`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, d := range []struct {
				flag string
				v    time.Duration
			}{{"--db-timeout", dbTimeout}, {"--upstream-timeout", upTimeout}, {"--workload-token-ttl", workloadTTL}, {"--upstream-cooldown", budget.Cooldown}} {
				if d.v <= 0 {
					return usagef("%s %s: give a positive duration such as 5s", d.flag, d.v)
				}
			}
			if !(budget.Rate > 0) || math.IsInf(budget.Rate, 0) {
				return usagef("--upstream-rate %v: give a positive number of calls per second such as 20", budget.Rate)
			}
			for _, n := range []struct {
				flag string
				v    int
			}{{"--upstream-burst", budget.Burst}, {"--upstream-max-in-flight", budget.MaxInFlight}, {"--upstream-failures", budget.Failures}} {
				if n.v < 1 {
					return usagef("%s %d: give a whole number of at least 1", n.flag, n.v)
				}
			}
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level %q: use debug, info, warn or error", logLevel)
			}
			logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			srv, err := server.New(ctx, server.Options{
				DataDir: dataDir, Database: database, FileRoots: fileRoots, AllowEndpoints: allowEndpoints,
				Logger: logger, Out: cmd.OutOrStdout(), WorkloadAudience: workloadAudience, WorkloadTokenTTL: workloadTTL,
				AuditRetention: time.Duration(auditRetention),
				DBTimeout:      dbTimeout, UpstreamTimeout: upTimeout, Upstream: budget, PublicURL: publicURL,
				IssuerKeyRotation: time.Duration(keyRotation),
			})
			if err != nil {
				return fmt.Errorf("start server: %w", err)
			}
			defer srv.Close()
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("listen on %s: %w", listen, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "tarn is serving on http://%s (data in %s)\n", ln.Addr(), srv.DataDir)
			fmt.Fprintf(cmd.OutOrStdout(), "The console is at http://%s/login: sign in with an API token.\n", ln.Addr())
			logger.Info("serving", "addr", ln.Addr().String(), "data_dir", srv.DataDir, "database", databaseKind(database))
			return srv.Serve(ctx, ln)
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:7777", "address to listen on")
	f.StringVar(&dataDir, "data-dir", "tarn-data", "directory for the SQLite database, admin.token and local datasets")
	f.StringVar(&database, "database", "", "PostgreSQL URL (postgres://...); default: SQLite in --data-dir")
	f.StringSliceVar(&fileRoots, "file-root", nil, "directory that creds keys of provider file may use; org admins get <dir>/<org> (repeatable; default: <data-dir>/datasets)")
	f.StringArrayVar(&allowEndpoints, "allow-endpoint", nil, "internal HOST:PORT or CIDR that creds-key endpoints and identity issuers may reach (repeatable)")
	f.StringVar(&publicURL, "public-url", "", "URL people open the console at behind a proxy (https://... makes its cookies Secure); default: the request's own host")
	f.Var(&keyRotation, "issuer-key-rotation", "how long an OIDC issuer signing key signs before a new one is made: days (30d) or a duration (720h)")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.StringVar(&workloadAudience, "workload-audience", oidc.DefaultAudience, "audience workload identity tokens must carry to be exchanged for tarn tokens")
	f.DurationVar(&workloadTTL, "workload-token-ttl", time.Hour, "lifetime of tarn tokens minted for workload identities")
	f.Var(&auditRetention, "audit-retention", "how long audit records are kept: days (400d) or a duration (720h); 0 or forever keeps them forever")
	f.DurationVar(&dbTimeout, "db-timeout", sqlstore.DefaultTimeout, "longest a database call may take (waiting for a connection included) before the request fails with 503")
	f.DurationVar(&upTimeout, "upstream-timeout", awssts.DefaultTimeout, "longest a call to a cloud API such as STS may take before the vend fails with 503")
	f.Float64Var(&budget.Rate, "upstream-rate", upstream.DefaultRate, "upstream calls (STS) per second allowed per creds key; more get 503 with Retry-After")
	f.IntVar(&budget.Burst, "upstream-burst", upstream.DefaultBurst, "upstream calls per creds key allowed at once after a quiet spell, above --upstream-rate")
	f.IntVar(&budget.MaxInFlight, "upstream-max-in-flight", upstream.DefaultMaxInFlight, "upstream calls per creds key that may run at the same time")
	f.IntVar(&budget.Failures, "upstream-failures", upstream.DefaultFailures, "consecutive upstream failures of a creds key that open its circuit breaker")
	f.DurationVar(&budget.Cooldown, "upstream-cooldown", upstream.DefaultCooldown, "how long an open breaker refuses calls before a probe; doubles on each failed probe, up to 5m or the cooldown if longer")
	return cmd
}

// retentionFlag is the value of --audit-retention (see audit.ParseRetention).
type retentionFlag time.Duration

func (r *retentionFlag) Set(s string) error {
	d, err := audit.ParseRetention(s)
	*r = retentionFlag(d)
	return err
}

func (r *retentionFlag) String() string {
	d := time.Duration(*r)
	switch {
	case d <= 0:
		return "forever"
	case d%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return d.String()
}

func (*retentionFlag) Type() string { return "retention" }

// daysFlag is a positive duration given in days (30d) or as a Go duration (720h), such as
// the value of --issuer-key-rotation.
type daysFlag time.Duration

func (f *daysFlag) Set(s string) error {
	d, err := time.ParseDuration(s)
	if n, ok := strings.CutSuffix(s, "d"); ok {
		var days int64
		days, err = strconv.ParseInt(n, 10, 64)
		d = time.Duration(days) * 24 * time.Hour
		if days > math.MaxInt64/int64(24*time.Hour) {
			err = errors.New("too long")
		}
	}
	if err != nil || d <= 0 {
		return errors.New("give a positive number of days (30d) or a duration (720h)")
	}
	*f = daysFlag(d)
	return nil
}

func (f *daysFlag) String() string {
	if d := time.Duration(*f); d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return time.Duration(*f).String()
}

func (*daysFlag) Type() string { return "days" }

func databaseKind(url string) string {
	if url == "" {
		return "sqlite"
	}
	return "postgres"
}
