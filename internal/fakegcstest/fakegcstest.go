// Package fakegcstest runs a real fake-gcs-server (a Google Cloud Storage emulator that
// speaks the JSON API and its media upload and download URLs) on 127.0.0.1 for tests. It
// checks no tokens and enforces no access boundaries: it is the data path's peer, for
// objects, preconditions and concurrency.
//
// One server serves a whole test binary. It starts lazily, on the first Start, on a free
// loopback port with its in-memory backend, and Main stops it when the tests are done:
//
//	func TestMain(m *testing.M) { fakegcstest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		s := fakegcstest.Start(t) // a fresh bucket for this test
//		...
//	}
//
// The binary is built from source with `go install` once per machine and cached (see
// Binary); scripts/test.sh builds it before the tests with
// `go run ./internal/fakegcstest/cmd/install-fake-gcs-server`.
package fakegcstest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"github.com/tarnhq/tarn/internal/testpeer"
)

// Version is the pinned fake-gcs-server release, the newest the Go module proxy serves.
const Version = "v1.56.1"

// Binary returns the path of the pinned fake-gcs-server binary,
// $TARN_TEST_CACHE/fake-gcs-server-<Version>/fake-gcs-server (default
// ~/.cache/tarn-test/...), building it with `go install` (about two minutes) when it is
// missing; concurrent callers share one build (see testpeer.GoBinary.Install).
func Binary() (string, error) {
	return testpeer.GoBinary{
		Name:    "fake-gcs-server",
		Package: "github.com/fsouza/fake-gcs-server",
		Version: Version,
		Command: "fake-gcs-server",
		Took:    "about 2 minutes",
		Env:     []string{"CGO_ENABLED=0"},
	}.Install()
}

// Server is the process-wide fake-gcs-server as one test sees it.
type Server struct {
	// Endpoint is "http://127.0.0.1:PORT", the base URL of the JSON API (under
	// /storage/v1/) and of its upload and download URLs: what api.CredsKeyConfig's
	// StorageEndpoint and api.GCSCredentials' Endpoint hold for this server.
	Endpoint string
	// Bucket is a bucket created for this test; its name is unique in the process.
	Bucket string
}

// HostPort returns "127.0.0.1:PORT", the address of Endpoint: the entry that lets a tarn
// server reach this fake-gcs-server (tarn serve --allow-endpoint,
// server.Options.AllowEndpoints).
func (s *Server) HostPort() string { return strings.TrimPrefix(s.Endpoint, "http://") }

// Client returns a storage client of the server that sends no credentials: full power over
// every bucket, for setting up and inspecting what a test's code under test did. It is
// closed when t ends.
func (s *Server) Client(t testing.TB) *storage.Client {
	t.Helper()
	c, err := NewClient(context.Background(), s.Endpoint, nil)
	if err != nil {
		t.Fatalf("fakegcstest: storage client: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Objects returns the names of every object in Bucket, in order, read with Client.
func (s *Server) Objects(t testing.TB) []string {
	t.Helper()
	var names []string
	it := s.Client(t).Bucket(s.Bucket).Objects(context.Background(), nil)
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return names
		}
		if err != nil {
			t.Fatalf("fakegcstest: list %s: %v", s.Bucket, err)
		}
		names = append(names, a.Name)
	}
}

// NewClient returns a storage client of the JSON API at endpoint that sends no credentials
// and sends its requests with hc (nil: a client of its own). Every option is explicit, so
// that STORAGE_EMULATOR_HOST and Application Default Credentials play no part.
func NewClient(ctx context.Context, endpoint string, hc *http.Client) (*storage.Client, error) {
	if hc == nil {
		hc = &http.Client{}
	}
	return storage.NewClient(ctx,
		option.WithEndpoint(endpoint+"/storage/v1/"),
		option.WithHTTPClient(hc),
		option.WithoutAuthentication(),
		storage.WithJSONReads(),
		storage.WithDisabledClientMetrics(),
	)
}

// Main runs the tests, stops the fake-gcs-server started by Start (SIGTERM, then SIGKILL
// after 15 s), and exits with the tests' status.
func Main(m *testing.M) { os.Exit(Run(m.Run)) }

// Run calls run (a testing.M's Run), then stops the fake-gcs-server started by Start, and
// returns run's exit code. It lets a TestMain combine several test peers.
func Run(run func() int) int {
	code := run()
	shared.Stop()
	return code
}

// Start returns the process-wide fake-gcs-server, starting it on first use, with a new
// bucket for t. Start fails t (with the tail of the server's log) when the server cannot
// be built or started. It is safe for parallel tests. Without Main, the server runs until
// the test binary exits, and the kernel then kills it (Linux). Buckets stay until the server
// stops; their data lives in its memory only.
func Start(t testing.TB) *Server {
	t.Helper()
	in := shared.Get(t)
	s := &Server{Endpoint: in.endpoint, Bucket: fmt.Sprintf("tarn-%04d-%s", seq.Add(1), testpeer.RandomHex(4))}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.Client(t).Bucket(s.Bucket).Create(ctx, "tarn-test", nil); err != nil {
		t.Fatalf("fakegcstest: create bucket %s: %v", s.Bucket, err)
	}
	return s
}

// instance is a running fake-gcs-server process.
type instance struct {
	*testpeer.Process
	dir      string
	endpoint string
}

var (
	shared = &testpeer.Shared[*instance]{
		Pkg: "fakegcstest", Name: "fake-gcs-server",
		Start: startInstance, Cleanup: func(in *instance) { os.RemoveAll(in.dir) },
	}
	seq atomic.Int64
)

const startTimeout = time.Minute

func startInstance() (*instance, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	// The free port is found by binding and releasing it, so another process may take it in
	// between; the server then exits at once and we try another port.
	return testpeer.Launch(func() (*instance, error) { return launch(bin) })
}

func launch(bin string) (*instance, error) {
	dir, err := testpeer.NewDir("tarn-fakegcs-")
	if err != nil {
		return nil, err
	}
	in, err := launchIn(dir, bin)
	if err != nil {
		os.RemoveAll(dir)
	}
	return in, err
}

func launchIn(dir, bin string) (*instance, error) {
	port, err := testpeer.FreePort()
	if err != nil {
		return nil, err
	}
	hostPort := "127.0.0.1:" + strconv.Itoa(port)
	in := &instance{dir: dir, endpoint: "http://" + hostPort}
	cmd := exec.Command(bin,
		"-scheme", "http",
		"-host", "127.0.0.1",
		"-port", strconv.Itoa(port),
		"-backend", "memory",
		// Media and resumable upload URLs, and the XML API's host, point back at this server
		// rather than at storage.googleapis.com.
		"-public-host", hostPort,
		"-external-url", in.endpoint,
		"-log-level", "warn",
	)
	cmd.Dir = dir
	// Inherited FAKE_GCS_* variables would change the flags' defaults (and the event
	// variables send notifications elsewhere): dropped, so the server runs the same everywhere.
	cmd.Env = testpeer.WithoutEnv(os.Environ(), "FAKE_GCS_")
	if in.Process, err = testpeer.Start(cmd, filepath.Join(dir, "fake-gcs-server.log")); err != nil {
		return nil, err
	}
	if err := in.WaitReady(startTimeout, in.ready, "address already in use"); err != nil {
		return nil, fmt.Errorf("fake-gcs-server %s on %s did not start: %w", Version, in.endpoint, err)
	}
	return in, nil
}

// ready reports whether the server answers its health check with 200.
func (in *instance) ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := testpeer.Probe(ctx, http.DefaultClient, in.endpoint+"/_internal/healthcheck")
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health: %s", resp.Status)
	}
	return nil
}
