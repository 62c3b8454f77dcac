// Package azuritetest runs a real Azurite (Azure Blob Storage emulator) on 127.0.0.1 for
// tests, in one of two modes:
//
//   - Start: shared key over HTTP, as a storage account without Entra ID is used.
//   - StartOAuth: `--oauth basic` over HTTPS with a self-signed certificate generated here,
//     so that bearer tokens (from internal/entratest) and user delegation keys work as
//     against Azure. Shared key works there too.
//
// One Azurite per mode serves a whole test binary. It starts lazily, on the first call, on a
// free loopback port with a temporary workspace directory, and Main stops it when the tests
// are done:
//
//	func TestMain(m *testing.M) { azuritetest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		s := azuritetest.Start(t) // a fresh container for this test
//		...
//	}
//
// Azurite is installed from npm once per machine and cached (see Install); scripts/test.sh
// installs it before the tests with `go run ./internal/azuritetest/cmd/install-azurite`.
package azuritetest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"

	"github.com/tarnhq/tarn/internal/testpeer"
)

// Account and AccountKey are Azurite's built-in storage account and its well-known key
// (the same on every Azurite: not a secret), the account of Start.
const (
	Account    = "devstoreaccount1"
	AccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// OAuthAccount is the account of StartOAuth (whose Azurite serves Account too), with key
// AccountKey. It is named "127" because azblob (v1.8.3) names the account of a user
// delegation credential after the first dot-separated label of the service URL's host
// (service.Client.GetUserDelegationCredential; Azure/azure-sdk-for-go#27390). That is
// right for ACCOUNT.blob.core.windows.net but gives "127" for https://127.0.0.1:PORT/ACCOUNT,
// so a user delegation SAS that the SDK signs verifies on Azurite only for an account of
// that name.
const OAuthAccount = "127"

// Server is a process-wide Azurite as one test sees it.
type Server struct {
	// Endpoint is the blob service URL of the account, path-style:
	// "http://127.0.0.1:PORT/devstoreaccount1", or "https://127.0.0.1:PORT/127" from
	// StartOAuth.
	Endpoint string
	// Account and AccountKey are the storage account (Account, or OAuthAccount from
	// StartOAuth) and its shared key.
	Account, AccountKey string
	// Container is a container created for this test; its name is unique in the process.
	Container string
	// OAuth reports whether the server accepts Entra ID bearer tokens (StartOAuth).
	OAuth bool
	// CertPool holds the server's self-signed certificate (StartOAuth); nil over HTTP.
	CertPool *x509.CertPool
	// HTTPClient sends requests to the server; from StartOAuth it trusts CertPool only.
	HTTPClient *http.Client
}

// HostPort returns "127.0.0.1:PORT", the address of Endpoint: the entry that lets a tarn
// server reach this Azurite (tarn serve --allow-endpoint, server.Options.AllowEndpoints).
func (s *Server) HostPort() string {
	u, _ := url.Parse(s.Endpoint)
	return u.Host
}

// Transport returns what tarn takes to reach s (server.Options.AzureTransport,
// azuresas.Options.Transport): a builder of a transport around tarn's guarded dial function
// that trusts CertPool (over HTTPS) and, when udk is not nil, adds to it every user
// delegation key request it sends.
func (s *Server) Transport(udk *atomic.Int64) func(dial func(ctx context.Context, network, address string) (net.Conn, error)) http.RoundTripper {
	return func(dial func(ctx context.Context, network, address string) (net.Conn, error)) http.RoundTripper {
		tr := &http.Transport{DialContext: dial, TLSClientConfig: &tls.Config{RootCAs: s.CertPool, MinVersion: tls.VersionTLS12}}
		if udk == nil {
			return tr
		}
		return countingTransport{next: tr, udk: udk}
	}
}

// countingTransport counts the user delegation key requests that pass through it.
type countingTransport struct {
	next http.RoundTripper
	udk  *atomic.Int64
}

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Query().Get("comp") == "userdelegationkey" {
		c.udk.Add(1)
	}
	return c.next.RoundTrip(r)
}

// ClientOptions returns azblob client options whose transport is HTTPClient.
func (s *Server) ClientOptions() *azblob.ClientOptions {
	return &azblob.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: s.HTTPClient}}
}

// SharedKeyCredential returns the shared key credential of s.Account.
func (s *Server) SharedKeyCredential() *azblob.SharedKeyCredential {
	cred, err := azblob.NewSharedKeyCredential(s.Account, s.AccountKey)
	if err != nil {
		panic(err) // AccountKey is a constant that decodes
	}
	return cred
}

// SharedKeyClient returns an azblob client of the account that signs with its shared key:
// full power over every container.
func (s *Server) SharedKeyClient(t testing.TB) *azblob.Client {
	t.Helper()
	c, err := azblob.NewClientWithSharedKeyCredential(s.Endpoint+"/", s.SharedKeyCredential(), s.ClientOptions())
	if err != nil {
		t.Fatalf("azuritetest: shared key client: %v", err)
	}
	return c
}

// Main runs the tests, stops the Azurites started by Start and StartOAuth (SIGTERM, then
// SIGKILL after 15 s), removes their data, and exits with the tests' status.
func Main(m *testing.M) { os.Exit(Run(m.Run)) }

// Run calls run (a testing.M's Run), then stops every Azurite started by Start and
// StartOAuth, and returns run's exit code. It lets a TestMain combine several test peers.
func Run(run func() int) int {
	code := run()
	for _, sh := range shared {
		sh.Stop()
	}
	return code
}

// Start returns the process-wide shared-key Azurite over HTTP, starting it on first use,
// with a new container for t. Start fails t (with the tail of Azurite's log) when Azurite
// cannot be installed or started. It is safe for parallel tests. Without Main, Azurite runs
// until the test binary exits, and the kernel then kills it (Linux); its workspace is
// removed by the next test binary that starts an Azurite.
func Start(t testing.TB) *Server {
	t.Helper()
	return start(t, modeSharedKey)
}

// StartOAuth is Start for the Azurite that runs with `--oauth basic` over HTTPS, for the
// account OAuthAccount: it accepts bearer tokens for the audience https://storage.azure.com
// whose issuer is https://sts.windows.net/TENANT/ (it checks claims, not signatures), hands
// out user delegation keys to their bearers, and still accepts the shared key.
func StartOAuth(t testing.TB) *Server {
	t.Helper()
	return start(t, modeOAuth)
}

type mode int

const (
	modeSharedKey mode = iota
	modeOAuth
	modes
)

func start(t testing.TB, m mode) *Server {
	t.Helper()
	in := shared[m].Get(t)
	s := &Server{
		Endpoint:   in.endpoint,
		Account:    in.account,
		AccountKey: AccountKey,
		Container:  fmt.Sprintf("tarn-%04d-%s", seq.Add(1), testpeer.RandomHex(4)),
		OAuth:      m == modeOAuth,
		CertPool:   in.pool,
		HTTPClient: in.client,
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := s.SharedKeyClient(t).CreateContainer(ctx, s.Container, nil); err != nil {
		t.Fatalf("azuritetest: create container %s: %v", s.Container, err)
	}
	return s
}

// instance is a running Azurite process.
type instance struct {
	*testpeer.Process
	dir      string
	account  string
	endpoint string
	pool     *x509.CertPool // nil over HTTP
	client   *http.Client
}

var (
	shared = [modes]*testpeer.Shared[*instance]{newShared(modeSharedKey), newShared(modeOAuth)}
	seq    atomic.Int64
)

// newShared returns the process-wide Azurite of mode m, not started yet.
func newShared(m mode) *testpeer.Shared[*instance] {
	return &testpeer.Shared[*instance]{
		Pkg: "azuritetest", Name: "Azurite",
		Start: func() (*instance, error) { return startInstance(m) }, Cleanup: func(in *instance) { os.RemoveAll(in.dir) },
	}
}

const startTimeout = time.Minute

func startInstance(m mode) (*instance, error) {
	bin, err := Install()
	if err != nil {
		return nil, err
	}
	// The free port is found by binding and releasing it, so another process may take it in
	// between; Azurite then exits at once and we try another port.
	return testpeer.Launch(func() (*instance, error) { return launch(bin, m) })
}

func launch(bin string, m mode) (*instance, error) {
	dir, err := testpeer.NewDir("tarn-azurite-")
	if err != nil {
		return nil, err
	}
	in, err := launchIn(dir, bin, m)
	if err != nil {
		os.RemoveAll(dir)
	}
	return in, err
}

func launchIn(dir, bin string, m mode) (*instance, error) {
	port, err := testpeer.FreePort()
	if err != nil {
		return nil, err
	}
	workspace := filepath.Join(dir, "data")
	if err := os.Mkdir(workspace, 0o755); err != nil {
		return nil, err
	}
	args := []string{
		"--blobHost", "127.0.0.1",
		"--blobPort", strconv.Itoa(port),
		"--location", workspace,
		"--disableTelemetry",       // sends nothing anywhere
		"--disableProductStyleUrl", // the account is the first path segment, whatever the host
		"--skipApiVersionCheck",    // the SDK may be newer than the emulator
		"--silent",
	}
	in := &instance{
		dir:      dir,
		account:  Account,
		endpoint: fmt.Sprintf("http://127.0.0.1:%d/%s", port, Account),
		client:   &http.Client{},
	}
	if m == modeOAuth {
		certFile, keyFile, pool, err := writeCert(dir)
		if err != nil {
			return nil, err
		}
		args = append(args, "--oauth", "basic", "--cert", certFile, "--key", keyFile)
		in.account = OAuthAccount
		in.endpoint = fmt.Sprintf("https://127.0.0.1:%d/%s", port, OAuthAccount)
		in.pool = pool
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		in.client.Transport = tr
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	// Inherited AZURITE_* variables are dropped (AZURITE_ACCOUNTS, for one, names the
	// accounts) so the emulator runs the same everywhere.
	cmd.Env = testpeer.WithoutEnv(os.Environ(), "AZURITE_")
	if in.account != Account {
		cmd.Env = append(cmd.Env, "AZURITE_ACCOUNTS="+in.account+":"+AccountKey+";"+Account+":"+AccountKey)
	}
	if in.Process, err = testpeer.Start(cmd, filepath.Join(dir, "azurite.log")); err != nil {
		return nil, err
	}
	if err := in.WaitReady(startTimeout, in.ready, "EADDRINUSE"); err != nil {
		return nil, fmt.Errorf("Azurite %s on %s did not start: %w", Version, in.endpoint, err)
	}
	return in, nil
}

// ready reports whether the blob service answers HTTP (any status: the probe carries no
// credentials).
func (in *instance) ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := testpeer.Probe(ctx, in.client, in.endpoint+"?restype=service&comp=properties")
	return err
}
