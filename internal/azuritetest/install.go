package azuritetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Version is the pinned Azurite release, installed from npm.
const Version = "3.37.0"

// CacheEnv names the environment variable that overrides the cache directory
// (default: the user cache directory's tarn-test, e.g. ~/.cache/tarn-test). It is the one
// miniotest reads.
const CacheEnv = "TARN_TEST_CACHE"

// Install returns the path of the azurite-blob command of the pinned Azurite, under
// $TARN_TEST_CACHE/azurite (default ~/.cache/tarn-test/azurite). When that directory does
// not hold Version, Install runs `npm install --prefix` into a temporary directory next to
// it (about a minute) and moves the result in place, saying so on stderr. Concurrent
// callers, in this process or in others, wait on a lock file so that npm runs once. It
// needs node and npm on PATH (Node.js 20 or newer).
func Install() (string, error) {
	base, err := cacheBase()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(base, "azurite")
	if installed(dir) {
		return binPath(dir), nil
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		return "", fmt.Errorf("azurite cache: %w", err)
	}
	unlock, err := lock(filepath.Join(base, "azurite.lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	if installed(dir) { // installed by another process while we waited
		return binPath(dir), nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return "", errors.New("azurite: npm is not on PATH: install Node.js 20 or newer with npm (Debian: apt-get install nodejs npm), or run scripts/test.sh")
	}

	fmt.Fprintf(os.Stderr, "azuritetest: installing azurite@%s with npm into %s (about a minute, done once)\n", Version, dir)
	start := time.Now()
	tmp, err := os.MkdirTemp(base, "azurite-install-")
	if err != nil {
		return "", fmt.Errorf("azurite cache: %w", err)
	}
	defer os.RemoveAll(tmp)
	cmd := exec.Command(npm, "install", "--prefix", tmp, "--no-audit", "--no-fund", "--no-save", "--loglevel=error", "azurite@"+Version)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("npm install azurite@%s: %v\n%s", Version, err, tail(out, 4096))
	}
	if !installed(tmp) {
		return "", fmt.Errorf("npm install azurite@%s: %s missing afterwards", Version, binPath(tmp))
	}
	if err := os.RemoveAll(dir); err != nil { // an older version
		return "", fmt.Errorf("azurite cache: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", fmt.Errorf("azurite cache: %w", err)
	}
	fmt.Fprintf(os.Stderr, "azuritetest: installed Azurite in %s\n", time.Since(start).Round(time.Second))
	return binPath(dir), nil
}

func binPath(dir string) string { return filepath.Join(dir, "node_modules", ".bin", "azurite-blob") }

// installed reports whether dir holds azurite at Version with its azurite-blob command.
func installed(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "node_modules", "azurite", "package.json"))
	if err != nil {
		return false
	}
	var pkg struct{ Version string }
	if json.Unmarshal(b, &pkg) != nil || pkg.Version != Version {
		return false
	}
	_, err = os.Stat(binPath(dir))
	return err == nil
}

func cacheBase() (string, error) {
	if base := os.Getenv(CacheEnv); base != "" {
		return base, nil
	}
	c, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("azurite cache: set %s: %w", CacheEnv, err)
	}
	return filepath.Join(c, "tarn-test"), nil
}

// lock takes an exclusive flock on path, waiting for other holders.
func lock(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("azurite cache lock: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("azurite cache lock %s: %w", path, err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// tail returns the last n bytes of b.
func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}
