// Package localfile is the provider "file": it vends directories on the server's own disk.
// It suits one machine (the embedded default of `tarn serve`) and tests. A creds key's roots
// must lie inside the operator's allow-list (`tarn serve --file-root`), and a location is
// vended only if, with symbolic links resolved, it still lies inside its root.
package localfile

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/provider"
	"github.com/tarnhq/tarn/location"
)

// Name is the provider name of this driver.
const Name = api.ProviderFile

// Driver vends local directories.
type Driver struct {
	allowed []string // absolute, cleaned directories
}

// New returns a driver that accepts creds-key roots inside the given directories.
func New(allowedRoots []string) (*Driver, error) {
	d := &Driver{}
	for _, r := range allowedRoots {
		abs, err := filepath.Abs(r)
		if err != nil {
			return nil, fmt.Errorf("file root %q: %w", r, err)
		}
		d.allowed = append(d.allowed, abs)
	}
	return d, nil
}

// CheckConfig accepts roots that are file:// directories inside the allow-list.
func (d *Driver) CheckConfig(cfg api.CredsKeyConfig, hasSecret bool) (api.CredsKeyConfig, error) {
	if hasSecret || !reflect.DeepEqual(cfg, api.CredsKeyConfig{Roots: cfg.Roots}) {
		return cfg, errs.E(errs.Invalid, "provider file takes only roots (--root)")
	}
	for _, r := range cfg.Roots {
		l, _ := location.ParseStorage(r) // already parsed by the Vendor
		if l.Scheme != location.File {
			return cfg, errs.E(errs.Invalid, "provider file takes file:// roots, not %s", r).WithCode(api.CodeInvalidLocation)
		}
		if !d.permitted(l.FilePath()) {
			return cfg, errs.E(errs.Invalid, "%s is outside the directories this server allows (%s); the operator can add one with tarn serve --file-root",
				r, strings.Join(d.allowed, ", ")).WithCode(api.CodeInvalidLocation)
		}
	}
	return cfg, nil
}

// permitted reports whether dir, with symbolic links resolved, lies within an allowed root.
func (d *Driver) permitted(dir string) bool {
	for _, a := range d.allowed {
		if within(resolve(dir), resolve(a)) {
			return true
		}
	}
	return false
}

// Vend answers the directory of req.Location, creating it if needed. It
// returns an error of kind Permission when symbolic links lead the location out of its root.
func (d *Driver) Vend(ctx context.Context, req provider.Request) (*api.Credentials, error) {
	if req.Location.Scheme != location.File {
		return nil, errs.E(errs.Invalid, "provider file cannot vend for %s", req.Location)
	}
	dir := req.Location.FilePath()
	if err := d.contained(req.Key, req.Location); err != nil {
		return nil, err
	}
	// Create the directory so that a new dataset lists as empty rather than missing.
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, errs.Wrap(errs.Unavailable, err, fmt.Sprintf("cannot create %s: %v", req.Location, errors.Unwrap(err)))
	}
	if err := d.contained(req.Key, req.Location); err != nil { // a link may have raced in
		return nil, err
	}
	return &api.Credentials{File: &api.FileCredentials{Path: dir}}, nil
}

// contained checks that loc, symbolic links resolved, stays inside the root that holds it
// and inside the allow-list.
func (d *Driver) contained(key provider.Key, loc location.Location) error {
	real := resolve(loc.FilePath())
	for _, r := range key.Config.Roots {
		root, err := location.ParseStorage(r)
		if err != nil || !loc.Within(root) {
			continue
		}
		if within(real, resolve(root.FilePath())) && d.permitted(real) {
			return nil
		}
	}
	return errs.E(errs.Permission, "%s leads outside its creds key's roots through a symbolic link", loc)
}

// Verify checks that the directory exists (creating it, as a vend would) and that a probe
// file round-trips in it.
func (d *Driver) Verify(ctx context.Context, key provider.Key, loc location.Location) []api.Check {
	dir := loc.FilePath()
	checks := []api.Check{}
	add := func(name string, err error) bool {
		c := api.Check{Name: name, OK: err == nil}
		if err != nil {
			c.Detail = err.Error()
		}
		checks = append(checks, c)
		return err == nil
	}
	if !add("inside allowed file roots", d.contained(key, loc)) {
		return checks
	}
	err := os.MkdirAll(dir, 0o750)
	if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, fs.ErrExist) {
		err = fmt.Errorf("%s is not a directory", dir)
	} else if err != nil {
		err = fmt.Errorf("cannot create %s: check the server's file permissions", dir)
	}
	if !add("directory exists or can be created", err) {
		return checks
	}
	add("probe object round trip", probe(dir))
	return checks
}

func probe(dir string) error {
	b := make([]byte, 8)
	rand.Read(b)
	name := filepath.Join(dir, ".tarn-verify-"+hex.EncodeToString(b))
	want := []byte("tarn verify probe")
	if err := os.WriteFile(name, want, 0o600); err != nil {
		return fmt.Errorf("cannot write in %s: check the server's file permissions", dir)
	}
	defer os.Remove(name)
	got, err := os.ReadFile(name)
	if err != nil || string(got) != string(want) {
		return fmt.Errorf("cannot read back a probe file in %s", dir)
	}
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("cannot delete a probe file in %s", dir)
	}
	return nil
}

// resolve returns p with symbolic links resolved in its longest existing ancestor.
func resolve(p string) string {
	p = filepath.Clean(p)
	rest := ""
	for {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Join(real, rest)
		}
		parent := filepath.Dir(p)
		if parent == p {
			return filepath.Join(p, rest)
		}
		rest = filepath.Join(filepath.Base(p), rest)
		p = parent
	}
}

// within reports whether path p is dir or lies below it.
func within(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../") && !filepath.IsAbs(rel)
}
