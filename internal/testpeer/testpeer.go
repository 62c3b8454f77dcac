// Package testpeer holds what the helpers that run real peers as processes for tests
// (internal/miniotest, internal/azuritetest) share: a cache directory with a lock, so that a
// peer is built or installed once per machine; a temporary directory owned by the test
// binary; starting a process that dies with the test binary, stopping it, waiting until it
// answers, and the tail of its log.
package testpeer

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// CacheEnv names the environment variable that overrides the cache directory
// (default: the user cache directory's tarn-test, e.g. ~/.cache/tarn-test).
const CacheEnv = "TARN_TEST_CACHE"

// CacheDir returns $TARN_TEST_CACHE/name, by default the user cache directory's
// tarn-test/name. It does not create it.
func CacheDir(name string) (string, error) {
	base := os.Getenv(CacheEnv)
	if base == "" {
		c, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("test cache: set %s: %w", CacheEnv, err)
		}
		base = filepath.Join(c, "tarn-test")
	}
	return filepath.Join(base, name), nil
}

// Lock takes an exclusive flock on path, creating the file if needed, and waits for other
// holders, in this process or in others.
func Lock(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("test cache lock: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("test cache lock %s: %w", path, err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

const ownerFile = "owner.pid" // the pid of the test binary that made the directory

// NewDir creates a temporary directory named pattern+random (as os.MkdirTemp does) that
// records the test binary's pid. It first removes the directories of the same pattern whose
// test binary has died without cleaning up (their peer died with it: see Start).
func NewDir(pattern string) (string, error) {
	removeStale(pattern)
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

func removeStale(pattern string) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), pattern+"*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, ownerFile))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(string(b))
		if err == nil && pid > 0 && errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
			os.RemoveAll(d)
		}
	}
}

// Process is a peer process started by Start.
type Process struct {
	// Cmd is the started command.
	Cmd *exec.Cmd
	// LogPath is the file that receives its standard output and error.
	LogPath string
	// Exited is closed when the process has exited.
	Exited chan struct{}
}

// Start starts cmd with its output appended to the file logPath. On Linux the kernel kills
// the process when the test binary dies without stopping it (a panic, a timeout, a kill), so
// no peer outlives its tests.
func Start(cmd *exec.Cmd, logPath string) (*Process, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child holds its own descriptor
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	p := &Process{Cmd: cmd, LogPath: logPath, Exited: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(p.Exited)
	}()
	return p, nil
}

// Stop sends SIGTERM and, if the process has not exited 15 s later, SIGKILL; it returns
// when the process has exited.
func (p *Process) Stop() {
	p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.Exited:
	case <-time.After(15 * time.Second):
		p.Cmd.Process.Kill()
		<-p.Exited
	}
}

// WaitReady calls ready every 50 ms until it returns nil. When the process exits first,
// or timeout passes, WaitReady stops the process and returns ready's last error with the
// tail of the log, marked ErrAddrInUse when the log contains addrInUse (the peer's message
// for a port taken by another process).
func (p *Process) WaitReady(timeout time.Duration, ready func(context.Context) error, addrInUse string) error {
	err := p.poll(timeout, ready)
	if err == nil {
		return nil
	}
	p.Stop()
	log := p.LogTail()
	if strings.Contains(log, addrInUse) {
		err = fmt.Errorf("%w: %v", ErrAddrInUse, err)
	}
	return fmt.Errorf("%w; log:\n%s", err, log)
}

func (p *Process) poll(timeout time.Duration, ready func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if last = ready(ctx); last == nil {
			return nil
		}
		select {
		case <-p.Exited:
			return fmt.Errorf("%s exited: %v", filepath.Base(p.Cmd.Path), p.Cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("not ready after %s: %v", timeout, last)
		case <-tick.C:
		}
	}
}

// LogTail returns the last few KiB of the process's log.
func (p *Process) LogTail() string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return "(empty)"
	}
	return Tail(b, 4096)
}

// Tail returns the last n bytes of b, trimmed of surrounding space.
func Tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}

// FreePort returns a TCP port of 127.0.0.1 that was free a moment ago: another process may
// take it before the peer binds it, so callers retry on "address already in use".
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// RandomHex returns 2n random hexadecimal digits.
func RandomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// ErrAddrInUse marks a launch that failed because another process took the port that
// FreePort returned.
var ErrAddrInUse = errors.New("address already in use")

// Launch calls launch until it succeeds, at most three times, while it fails with
// ErrAddrInUse, and returns its last result.
func Launch[T any](launch func() (T, error)) (T, error) {
	for attempt := 0; ; attempt++ {
		v, err := launch()
		if err == nil || attempt == 2 || !errors.Is(err, ErrAddrInUse) {
			return v, err
		}
	}
}

// WithoutEnv returns env without the variables whose names start with prefix, so that a
// peer runs the same whatever the test binary inherited.
func WithoutEnv(env []string, prefix string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, prefix) {
			out = append(out, kv)
		}
	}
	return out
}

// Probe sends GET url with c and returns the answer with its body read and closed: what a
// readiness check needs (status and headers).
func Probe(ctx context.Context, c *http.Client, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, nil
}
