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
	"bytes"
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
	"syscall"
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
		startOnce.Do(func() { cl, startErr = start(false) })
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

// Cluster is a PostgreSQL cluster of one test, which the test may freeze, thaw and restart
// without disturbing the other tests.
type Cluster struct {
	// URL is the URL of the cluster's database postgres.
	URL string
	c   *cluster
}

// Private starts a PostgreSQL cluster for t alone, on its own port of 127.0.0.1, and stops
// it when t ends. It ignores TARN_TEST_POSTGRES: a shared server is not the test's to freeze.
// Without PostgreSQL binaries it skips t, or fails it when the environment variable CI is
// set. Freeze and Thaw work on Linux only.
func Private(t testing.TB) *Cluster {
	t.Helper()
	if findBin() == "" {
		if os.Getenv("CI") != "" {
			t.Fatal(hint)
		}
		t.Skip(hint)
	}
	c, err := start(true)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		c.signal(syscall.SIGCONT) // a frozen postmaster cannot stop
		c.stop()
	})
	return &Cluster{URL: c.url, c: c}
}

// Freeze stops every process of the cluster (SIGSTOP to the postmaster and its children):
// connections stay open and new ones are accepted by the kernel, but nothing answers, as
// with a database host that hangs.
func (c *Cluster) Freeze(t testing.TB) {
	t.Helper()
	if err := c.c.signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("pgtest: freeze: %v", err)
	}
}

// Thaw lets the processes that Freeze stopped run again (SIGCONT).
func (c *Cluster) Thaw(t testing.TB) {
	t.Helper()
	if err := c.c.signal(syscall.SIGCONT); err != nil {
		t.Fatalf("pgtest: thaw: %v", err)
	}
}

// Restart stops the cluster the way a crash does (pg_ctl stop -m immediate: every
// connection is cut, nothing is shut down cleanly) and starts it again on the same port;
// it returns when the cluster accepts connections. Every commit acknowledged before is kept.
func (c *Cluster) Restart(t testing.TB) {
	t.Helper()
	data := filepath.Join(c.c.dir, "data")
	if out, err := c.c.run("pg_ctl", "stop", "-D", data, "-m", "immediate", "-w"); err != nil {
		t.Fatalf("pgtest: pg_ctl stop: %v\n%s", err, out)
	}
	if err := c.c.start(); err != nil {
		t.Fatalf("pgtest: restart: %v", err)
	}
}

// cluster is a running throwaway PostgreSQL cluster.
type cluster struct {
	dir   string   // temporary directory: data/, the socket and server.log
	bin   string   // directory of initdb and pg_ctl
	runAs []string // command prefix that runs as the postgres user, if we are root
	opts  string   // the server options of pg_ctl start
	url   string
}

// start finds the PostgreSQL binaries, creates a cluster in a temporary directory and starts
// it on a free port of 127.0.0.1. Unless crashSafe is set, the cluster trades durability for
// speed (no fsync, asynchronous commit): fine for tests that never crash it, while a cluster
// that Restart crashes must keep every commit it acknowledged.
func start(crashSafe bool) (*cluster, error) {
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
	if out, err := c.run("initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	opts := []string{"-c listen_addresses=127.0.0.1", "-p " + strconv.Itoa(port), "-k '" + dir + "'", "-c max_connections=300"}
	if !crashSafe {
		opts = append(opts, "-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off")
	}
	c.opts = strings.Join(opts, " ")
	if err := c.start(); err != nil {
		c.run("pg_ctl", "stop", "-D", data, "-m", "immediate")
		os.RemoveAll(dir)
		return nil, err
	}
	c.url = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	return c, nil
}

// start starts the cluster's server and waits until it accepts connections.
func (c *cluster) start() error {
	logFile := filepath.Join(c.dir, "server.log")
	if out, err := c.run("pg_ctl", "start", "-D", filepath.Join(c.dir, "data"), "-l", logFile, "-w", "-t", "60", "-o", c.opts); err != nil {
		return fmt.Errorf("pg_ctl start: %v\n%s\nserver log:\n%s", err, out, logTail(logFile))
	}
	return nil
}

// signal sends sig to the postmaster and to each of its child processes. For SIGSTOP it
// returns once all of them are stopped: kill returns before its signal is delivered, and a
// postmaster not yet stopped could still fork a backend that would go on answering.
func (c *cluster) signal(sig syscall.Signal) error {
	b, err := os.ReadFile(filepath.Join(c.dir, "data", "postmaster.pid"))
	if err != nil {
		return err
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		return fmt.Errorf("postmaster.pid: %v", err)
	}
	if err := syscall.Kill(pid, sig); err != nil {
		return fmt.Errorf("signal the postmaster %d: %v", pid, err)
	}
	if sig == syscall.SIGSTOP {
		if err := waitStopped(pid); err != nil {
			return err
		}
	}
	children := childrenOf(pid)
	for _, child := range children {
		syscall.Kill(child, sig)
	}
	if sig == syscall.SIGSTOP {
		for _, child := range children {
			if err := waitStopped(child); err != nil {
				return err
			}
		}
	}
	return nil
}

// procStat returns the state and the parent of process pid, from /proc/PID/stat.
func procStat(pid int) (state string, ppid int, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", 0, false
	}
	// pid (comm) state ppid ...; comm may hold spaces and parentheses.
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(fields) < 2 {
		return "", 0, false
	}
	ppid, _ = strconv.Atoi(fields[1])
	return fields[0], ppid, true
}

// childrenOf returns the processes whose parent is pid.
func childrenOf(pid int) []int {
	var out []int
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		child, _ := strconv.Atoi(filepath.Base(p))
		if _, ppid, ok := procStat(child); ok && ppid == pid {
			out = append(out, child)
		}
	}
	return out
}

// waitStopped waits until process pid is stopped, a zombie or gone.
func waitStopped(pid int) error {
	for range 1000 {
		state, _, ok := procStat(pid)
		if !ok || state == "T" || state == "t" || state == "Z" || state == "X" {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("process %d did not stop", pid)
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
