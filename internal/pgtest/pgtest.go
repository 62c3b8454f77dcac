// Package pgtest gives tests a fresh, empty database on a real PostgreSQL server.
//
// If the environment variable TARN_TEST_POSTGRES is set, it is the URL of a server (for
// example postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable) on which URL creates
// one database per call. Otherwise the first call to URL starts a throwaway cluster for the
// whole test binary from the PostgreSQL binaries found on PATH or in
// /usr/lib/postgresql/*/bin; the package's TestMain must then be pgtest.Main, which stops the
// cluster when the tests are done:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
package pgtest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvServer names the environment variable that points the tests at an existing server.
const EnvServer = "TARN_TEST_POSTGRES"

const hint = "PostgreSQL is not installed: run scripts/test.sh, which installs it"

var (
	mainRunning atomic.Bool // Main is running the tests, so it will stop the cluster

	startOnce sync.Once
	cl        *cluster // the throwaway cluster, once started
	startErr  error    // why it did not start
	missing   bool     // no PostgreSQL binaries were found
)

// Main runs the tests of m and then stops the throwaway cluster, if URL started one. Use it
// as the TestMain of every package that calls URL.
func Main(m *testing.M) { os.Exit(Run(m.Run)) }

// Run calls run (a testing.M's Run), then stops the throwaway cluster, and returns run's
// exit code. It lets a TestMain combine several test peers.
func Run(run func() int) int {
	mainRunning.Store(true)
	code := run()
	if cl != nil {
		cl.stop()
	}
	return code
}

// URL returns the URL of a new, empty database, which is dropped when t ends. Without
// PostgreSQL binaries it skips t, or fails it when the environment variable CI is set.
func URL(t testing.TB) string {
	t.Helper()
	server := os.Getenv(EnvServer)
	if server == "" {
		if !mainRunning.Load() {
			t.Fatal("pgtest: the package's TestMain must call pgtest.Main(m), which stops the PostgreSQL cluster after the tests")
		}
		startOnce.Do(func() { cl, startErr = start() })
		switch {
		case missing && os.Getenv("CI") != "":
			t.Fatal(hint)
		case missing:
			t.Skip(hint)
		case startErr != nil:
			t.Fatalf("pgtest: %v", startErr)
		}
		server = cl.url
	}
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("pgtest: %s must be a postgres:// URL", EnvServer)
	}
	name := "tarn_test_" + strings.ToLower(rand.Text()[:12])
	admin := func(sql string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, server)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := admin("CREATE DATABASE " + name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		if err := admin("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

// cluster is a running throwaway PostgreSQL cluster.
type cluster struct {
	dir   string   // temporary directory: data/, the socket and server.log
	bin   string   // directory of initdb and pg_ctl
	runAs []string // command prefix that runs as the postgres user, if we are root
	url   string
}

// start finds the PostgreSQL binaries, creates a cluster in a temporary directory and starts
// it on a free port of 127.0.0.1.
func start() (*cluster, error) {
	bin := findBin()
	if bin == "" {
		missing = true
		return nil, errors.New(hint)
	}
	dir, err := os.MkdirTemp("", "tarn-pgtest-")
	if err != nil {
		return nil, err
	}
	c := &cluster{dir: dir, bin: bin}
	if os.Geteuid() == 0 {
		// PostgreSQL refuses to run as root; the Debian package creates a postgres user.
		pg, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("running as root and there is no postgres user to run PostgreSQL as: %v", err)
		}
		uid, _ := strconv.Atoi(pg.Uid)
		gid, _ := strconv.Atoi(pg.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		c.runAs = []string{"runuser", "-u", "postgres", "--"}
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	data := filepath.Join(dir, "data")
	logFile := filepath.Join(dir, "server.log")
	if out, err := c.run("initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	opts := strings.Join([]string{
		"-c listen_addresses=127.0.0.1", "-p " + strconv.Itoa(port), "-k '" + dir + "'",
		"-c max_connections=300", "-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off",
	}, " ")
	if out, err := c.run("pg_ctl", "start", "-D", data, "-l", logFile, "-w", "-t", "60", "-o", opts); err != nil {
		tail := logTail(logFile)
		c.run("pg_ctl", "stop", "-D", data, "-m", "immediate")
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pg_ctl start: %v\n%s\nserver log:\n%s", err, out, tail)
	}
	c.url = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	return c, nil
}

// stop stops the cluster and removes its directory.
func (c *cluster) stop() {
	if out, err := c.run("pg_ctl", "stop", "-D", filepath.Join(c.dir, "data"), "-m", "immediate", "-w"); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: pg_ctl stop: %v\n%s", err, out)
	}
	os.RemoveAll(c.dir)
}

// run runs a PostgreSQL program, as the postgres user if we are root.
func (c *cluster) run(prog string, args ...string) ([]byte, error) {
	argv := append(slices.Clone(c.runAs), filepath.Join(c.bin, prog))
	argv = append(argv, args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = c.dir
	return cmd.CombinedOutput()
}

// findBin returns the directory holding initdb and pg_ctl: PATH first, then the newest
// /usr/lib/postgresql/*/bin. It returns "" if there is none.
func findBin() string {
	if p, err := exec.LookPath("initdb"); err == nil {
		dir := filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(dir, "pg_ctl")); err == nil {
			return dir
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { // numerically: 9.6 < 15 < 17
		va, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(a)), 64)
		vb, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(b)), 64)
		switch {
		case va < vb:
			return -1
		case va > vb:
			return 1
		}
		return 0
	})
	for _, dir := range slices.Backward(dirs) {
		_, err1 := os.Stat(filepath.Join(dir, "initdb"))
		_, err2 := os.Stat(filepath.Join(dir, "pg_ctl"))
		if err1 == nil && err2 == nil {
			return dir
		}
	}
	return ""
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// logTail returns the last lines of the server log.
func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no server log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return strings.Join(lines, "\n")
}
