package testpeer_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tarnhq/tarn/internal/testpeer"
)

func TestCacheDirFollowsTheEnvironment(t *testing.T) {
	base := t.TempDir()
	t.Setenv(testpeer.CacheEnv, base)
	got, err := testpeer.CacheDir("peer-1")
	if err != nil || got != filepath.Join(base, "peer-1") {
		t.Errorf("CacheDir = %q, %v; want %s/peer-1", got, err, base)
	}
}

func TestLockExcludesOtherHolders(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	unlock, err := testpeer.Lock(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path) // another open file description, as another process has
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); !errors.Is(err, syscall.EWOULDBLOCK) {
		t.Fatalf("flock while held: %v, want EWOULDBLOCK", err)
	}
	unlock()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatalf("flock after unlock: %v", err)
	}
}

func TestNewDirRemovesOnlyDeadOwnersDirs(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	mk := func(pid int) string {
		t.Helper()
		d, err := os.MkdirTemp("", "tarn-peertest-")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "owner.pid"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
			t.Fatal(err)
		}
		return d
	}
	stale, live := mk(dead.Process.Pid), mk(os.Getpid())
	dir, err := testpeer.NewDir("tarn-peertest-")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("directory of a dead owner kept (%v)", err)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("directory of a live owner removed: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "owner.pid")); err != nil || string(b) != strconv.Itoa(os.Getpid()) {
		t.Errorf("new directory owner = %q, %v", b, err)
	}
}

func TestProcessLifecycle(t *testing.T) {
	dir := t.TempDir()
	p, err := testpeer.Start(exec.Command("sh", "-c", "echo started; exec sleep 60"), filepath.Join(dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	err = p.WaitReady(time.Minute, func(context.Context) error {
		if calls++; !strings.Contains(p.LogTail(), "started") {
			return errors.New("not yet")
		}
		return nil
	}, "in use")
	if err != nil || calls == 0 {
		t.Fatalf("WaitReady = %v after %d probes", err, calls)
	}
	p.Stop()
	select {
	case <-p.Exited:
	default:
		t.Fatal("Stop returned before the process exited")
	}
	if ws := p.Cmd.ProcessState.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
		t.Errorf("process ended by %v, want SIGTERM", p.Cmd.ProcessState)
	}
}

func TestWaitReadyFailsWhenTheProcessExits(t *testing.T) {
	dir := t.TempDir()
	p, err := testpeer.Start(exec.Command("sh", "-c", "echo bind: address already in use; exit 1"), filepath.Join(dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	err = p.WaitReady(time.Minute, func(context.Context) error { return errors.New("connection refused") }, "address already in use")
	if err == nil || !strings.Contains(err.Error(), "exited") {
		t.Fatalf("WaitReady = %v, want an error saying the process exited", err)
	}
	if !errors.Is(err, testpeer.ErrAddrInUse) || !strings.HasSuffix(err.Error(), "log:\nbind: address already in use") {
		t.Errorf("WaitReady = %v, want ErrAddrInUse with the log", err)
	}
	if got := p.LogTail(); got != "bind: address already in use" {
		t.Errorf("LogTail = %q", got)
	}
}

func TestTail(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"  short\n", 100, "short"},
		{"0123456789", 4, "6789"},
		{"", 4, ""},
	}
	for _, tt := range tests {
		if got := testpeer.Tail([]byte(tt.in), tt.n); got != tt.want {
			t.Errorf("Tail(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

func TestLaunchRetriesOnlyOnAddrInUse(t *testing.T) {
	other := errors.New("no binary")
	tests := []struct {
		name      string
		errs      []error // the errors of successive launches; nil succeeds
		wantCalls int
		wantErr   error
	}{
		{"first try", []error{nil}, 1, nil},
		{"port taken once", []error{testpeer.ErrAddrInUse, nil}, 2, nil},
		{"port taken three times", []error{testpeer.ErrAddrInUse, testpeer.ErrAddrInUse, testpeer.ErrAddrInUse, nil}, 3, testpeer.ErrAddrInUse},
		{"other error", []error{other, nil}, 1, other},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			v, err := testpeer.Launch(func() (int, error) {
				err := tt.errs[calls]
				calls++
				return calls, err
			})
			if calls != tt.wantCalls || !errors.Is(err, tt.wantErr) || v != calls {
				t.Errorf("Launch = %d, %v after %d calls; want %d calls, err %v", v, err, calls, tt.wantCalls, tt.wantErr)
			}
		})
	}
}

func TestWithoutEnv(t *testing.T) {
	got := testpeer.WithoutEnv([]string{"PATH=/bin", "MINIO_X=1", "XMINIO_Y=2", "MINIO_=3"}, "MINIO_")
	if strings.Join(got, " ") != "PATH=/bin XMINIO_Y=2" {
		t.Errorf("WithoutEnv = %v", got)
	}
}

type sleeper struct{ *testpeer.Process }

// A Shared peer starts once however many tests get it, and Stop ends the process and
// cleans up after it; the next Get starts a new one.
func TestSharedStartsOnceAndStops(t *testing.T) {
	starts, cleanups := 0, 0
	s := &testpeer.Shared[sleeper]{
		Pkg: "testpeer_test", Name: "sleep",
		Start: func() (sleeper, error) {
			starts++
			p, err := testpeer.Start(exec.Command("sleep", "60"), filepath.Join(t.TempDir(), "log"))
			return sleeper{p}, err
		},
		Cleanup: func(sleeper) { cleanups++ },
	}
	first := s.Get(t)
	if again := s.Get(t); again != first || starts != 1 {
		t.Fatalf("two Gets started %d peers", starts)
	}
	s.Stop()
	select {
	case <-first.Exited:
	default:
		t.Fatal("Stop returned with the process running")
	}
	if cleanups != 1 {
		t.Errorf("%d cleanups after Stop, want 1", cleanups)
	}
	second := s.Get(t)
	defer s.Stop()
	if second == first || starts != 2 {
		t.Errorf("Get after Stop: %d starts, want a new peer", starts)
	}
}
