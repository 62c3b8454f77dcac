package miniotest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/tarnhq/tarn/internal/testpeer"
)

// Version is the pinned MinIO release: the module version `go install` builds. It is the
// newest version the Go module proxy serves (commit 7aac2a2c5b7c of 2026-02-12).
const Version = "v0.0.0-20260212201848-7aac2a2c5b7c"

const module = "github.com/minio/minio"

// CacheEnv names the environment variable that overrides the cache directory
// (default: the user cache directory's tarn-test, e.g. ~/.cache/tarn-test).
const CacheEnv = testpeer.CacheEnv

// Binary returns the path of the pinned MinIO binary,
// $TARN_TEST_CACHE/minio-<Version>/minio (default ~/.cache/tarn-test/...). When it is
// missing, Binary builds it with `go install` (CGO_ENABLED=0), which takes about five
// minutes on two cores, and says so on stderr. Concurrent callers, in this process or in
// others (go test ./... runs test binaries in parallel), wait on a lock file so that the
// binary is built once.
func Binary() (string, error) {
	dir, err := testpeer.CacheDir("minio-" + Version)
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "minio")
	if executable(bin) {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("minio cache: %w", err)
	}
	unlock, err := testpeer.Lock(filepath.Join(dir, "build.lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	if executable(bin) { // built by another process while we waited
		return bin, nil
	}

	fmt.Fprintf(os.Stderr, "miniotest: building MinIO %s with go install into %s (about 5 minutes, done once)\n", Version, dir)
	start := time.Now()
	tmp, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		return "", fmt.Errorf("minio cache: %w", err)
	}
	defer os.RemoveAll(tmp)
	cmd := exec.Command(goCommand(), "install", module+"@"+Version)
	cmd.Dir = tmp // outside any module, so the project's go.mod plays no part
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS="+goflags())
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go install %s@%s: %v\n%s", module, Version, err, testpeer.Tail(out, 4096))
	}
	if err := os.Rename(filepath.Join(tmp, "minio"), bin); err != nil {
		return "", fmt.Errorf("minio cache: %w", err)
	}
	fmt.Fprintf(os.Stderr, "miniotest: built MinIO in %s\n", time.Since(start).Round(time.Second))
	return bin, nil
}

func executable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// goCommand returns the go command: the one on PATH (go test and go run put their own
// GOROOT/bin first), else the one of the toolchain that built this binary.
func goCommand() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// goflags returns GOFLAGS without the module-mode flags that `go install pkg@version`
// refuses.
func goflags() string {
	var keep []string
	for _, f := range strings.Fields(os.Getenv("GOFLAGS")) {
		if !strings.HasPrefix(f, "-mod=") && !strings.HasPrefix(f, "-modfile=") {
			keep = append(keep, f)
		}
	}
	return strings.Join(keep, " ")
}
