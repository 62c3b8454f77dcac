package azuritetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/tarnhq/tarn/internal/testpeer"
)

// Version is the pinned Azurite release, installed from npm.
const Version = "3.37.0"

// Install returns the path of the azurite-blob command of the pinned Azurite, under
// $TARN_TEST_CACHE/azurite (default ~/.cache/tarn-test/azurite; see testpeer.CacheDir).
// When that directory does not hold Version, Install runs `npm install --prefix` into a
// temporary directory next to it (about a minute) and moves the result in place, saying so
// on stderr. Concurrent callers, in this process or in others, wait on a lock file so that
// npm runs once. It needs node and npm on PATH (Node.js 20 or newer).
func Install() (string, error) {
	dir, err := testpeer.CacheDir("azurite")
	if err != nil {
		return "", err
	}
	base := filepath.Dir(dir)
	if installed(dir) {
		return binPath(dir), nil
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		return "", fmt.Errorf("azurite cache: %w", err)
	}
	unlock, err := testpeer.Lock(filepath.Join(base, "azurite.lock"))
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
		return "", fmt.Errorf("npm install azurite@%s: %v\n%s", Version, err, testpeer.Tail(out, 4096))
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
