package testpeer

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// GoBinary describes a peer that is a Go command built from a module with `go install`.
type GoBinary struct {
	// Name is what messages call the peer, such as "MinIO".
	Name string
	// Package is the package path of the command, such as "github.com/minio/minio".
	Package string
	// Version is the module version to build (a tag or a pseudo-version).
	Version string
	// Command is the name of the built binary, such as "minio".
	Command string
	// Took says how long a build takes, for the message printed before it, such as
	// "about 5 minutes".
	Took string
	// Env is added to the environment of go install, such as "CGO_ENABLED=0".
	Env []string
}

// Install returns the path of the binary, CacheDir(Command+"-"+Version)/Command. When it
// is missing, Install builds it with `go install Package@Version` outside any module (so
// that the project's go.mod plays no part) and says so on stderr. Concurrent callers, in
// this process or in others (go test ./... runs test binaries in parallel), wait on a lock
// file so that the binary is built once.
func (g GoBinary) Install() (string, error) {
	dir, err := CacheDir(g.Command + "-" + g.Version)
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, g.Command)
	if executable(bin) {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("%s cache: %w", g.Name, err)
	}
	unlock, err := Lock(filepath.Join(dir, "build.lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	if executable(bin) { // built by another process while we waited
		return bin, nil
	}

	fmt.Fprintf(os.Stderr, "testpeer: building %s %s with go install into %s (%s, done once)\n", g.Name, g.Version, dir, g.Took)
	start := time.Now()
	tmp, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		return "", fmt.Errorf("%s cache: %w", g.Name, err)
	}
	defer os.RemoveAll(tmp)
	cmd := exec.Command(goCommand(), "install", g.Package+"@"+g.Version)
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOWORK=off", "GOFLAGS="+goflags())
	cmd.Env = append(cmd.Env, g.Env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go install %s@%s: %v\n%s", g.Package, g.Version, err, Tail(out, 4096))
	}
	if err := os.Rename(filepath.Join(tmp, g.Command), bin); err != nil {
		return "", fmt.Errorf("%s cache: %w", g.Name, err)
	}
	fmt.Fprintf(os.Stderr, "testpeer: built %s in %s\n", g.Name, time.Since(start).Round(time.Second))
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
