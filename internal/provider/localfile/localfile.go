// Package localfile is the provider "file": it vends directories on the server's own disk.
// It suits one machine (the embedded default of `tarn serve`) and tests. A creds key's roots
// must lie inside the operator's allow-list (`tarn serve --file-root`), and a location is
// vended only if, with symbolic links resolved, it still lies inside its root.
package localfile

import (
	"context"
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

// CheckConfig accepts roots that are file:// directories inside the allow-list. Org
// admins may use only roots inside <allowed directory>/<check.Org> (symbolic links
// resolved), so that an org never reaches another org's files; a superuser may use any
// directory of the allow-list. Roots outside the allow-list are of kind Invalid, roots
// outside the org's directories of kind Permission.
func (d *Driver) CheckConfig(_ context.Context, cfg api.CredsKeyConfig, check provider.ConfigCheck) (api.CredsKeyConfig, error) {
	if check.HasSecret || !reflect.DeepEqual(cfg, api.CredsKeyConfig{Roots: cfg.Roots}) {
		return cfg, errs.E(errs.Invalid, "provider file takes only roots (--root)")
	}
	for _, r := range cfg.Roots {
		l, _ := location.ParseStorage(r) // already parsed by the Vendor
		if l.Scheme != location.File {
			return cfg, errs.E(errs.Invalid, "provider file takes file:// roots, not %s", r).WithCode(api.CodeInvalidLocation).In("roots")
		}
		if !d.permitted(l.FilePath()) {
			return cfg, errs.E(errs.Invalid, "%s is outside the directories this server allows (%s); the operator can add one with tarn serve --file-root",
				r, strings.Join(d.allowed, ", ")).WithCode(api.CodeInvalidLocation).In("roots")
		}
		if !check.Superuser && !d.inOrgDir(check.Org, l.FilePath()) {
			return cfg, errs.E(errs.Permission, "%s is outside org %s's directory (%s): org admins may use only roots inside it; a superuser can create a creds key elsewhere under the server's file roots",
				r, check.Org, strings.Join(d.orgDirs(check.Org), ", ")).WithCode(api.CodeInvalidLocation).In("roots")
		}
	}
	return cfg, nil
}

// orgDirs returns the directories of org: <allowed>/<org> for each allowed directory.
func (d *Driver) orgDirs(org string) []string {
	if org == "" || org != filepath.Base(org) || org == "." || org == ".." {
		return nil // never an allowed directory itself, nor outside one
	}
	dirs := make([]string, len(d.allowed))
	for i, a := range d.allowed {
		dirs[i] = filepath.Join(a, org)
	}
	return dirs
}

// inOrgDir reports whether dir, with symbolic links resolved, lies within one of org's
// directories.
func (d *Driver) inOrgDir(org, dir string) bool {
	for _, o := range d.orgDirs(org) {
		if within(resolve(dir), resolve(o)) {
			return true
		}
	}
	return false
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

// Vend answers the directory of req.Location, creating it for a write vend or a registered
// dataset (other read vends write nothing: a directory that does not exist reads as
// missing). It returns an error of kind Permission when symbolic links lead the location
// out of its root.
func (d *Driver) Vend(ctx context.Context, req provider.Request) (*api.Credentials, error) {
	if req.Location.Scheme != location.File {
		return nil, errs.E(errs.Invalid, "provider file cannot vend for %s", req.Location)
	}
	dir := req.Location.FilePath()
	if err := d.contained(req.Key, req.Location); err != nil {
		return nil, err
	}
	if req.Mode == api.ModeWrite || req.Registered {
		// Create the directory for a writer, or for a dataset so that a new one lists as
		// empty; other read vends (linked locations) write nothing.
		r, err := d.openDir(req.Key, req.Location)
		if err != nil {
			return nil, errs.Wrap(errs.Unavailable, err, fmt.Sprintf("cannot create %s: check the server's file permissions", req.Location))
		}
		r.Close()
		if err := d.contained(req.Key, req.Location); err != nil { // a link may have raced in
			return nil, err
		}
	}
	return &api.Credentials{File: &api.FileCredentials{Path: dir}}, nil
}

// VendsOffline reports true: a vend names a local directory and calls no upstream, so it
// spends none of the key's upstream budget.
func (d *Driver) VendsOffline(provider.Key) bool { return true }

// openDir creates the directory of loc, if missing, and opens it. It never creates a
// directory outside the key's root that holds loc, nor the root outside the allowed
// directory that holds it, whatever symbolic links lie on the way: both steps run in an
// os.Root, which refuses paths that leave it.
func (d *Driver) openDir(key provider.Key, loc location.Location) (*os.Root, error) {
	root, ok := rootOf(key, loc)
	if !ok {
		return nil, fmt.Errorf("%s is outside the key's roots", loc)
	}
	rootDir := resolve(root.FilePath())
	var allowed string
	for _, a := range d.allowed {
		if a = resolve(a); within(rootDir, a) {
			allowed = a
			break
		}
	}
	if allowed == "" {
		return nil, fmt.Errorf("%s is outside the allowed file roots", root)
	}
	ar, err := os.OpenRoot(allowed)
	if err != nil {
		return nil, err
	}
	defer ar.Close()
	rel, _ := filepath.Rel(allowed, rootDir)
	if err := ar.MkdirAll(rel, 0o750); err != nil {
		return nil, err
	}
	kr, err := ar.OpenRoot(rel)
	if err != nil {
		return nil, err
	}
	defer kr.Close()
	sub, ok := loc.Rel(root)
	if !ok {
		return nil, fmt.Errorf("%s is outside %s", loc, root)
	}
	sub = filepath.FromSlash(sub)
	if sub == "" {
		sub = "."
	}
	if err := kr.MkdirAll(sub, 0o750); err != nil {
		return nil, err
	}
	return kr.OpenRoot(sub)
}

// rootOf returns the root of key that holds loc.
func rootOf(key provider.Key, loc location.Location) (location.Location, bool) {
	for _, r := range key.Config.Roots {
		if root, err := location.ParseStorage(r); err == nil && loc.Within(root) {
			return root, true
		}
	}
	return location.Location{}, false
}

// Confine returns an error of kind Permission when loc, symbolic links resolved, leaves the
// root of key that holds it or the server's file roots.
func (d *Driver) Confine(key provider.Key, loc location.Location) error { return d.contained(key, loc) }

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

// Verify checks that the directory exists (creating it, as a vend would, never outside the
// key's root) and that a probe file round-trips in it.
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
	r, err := d.openDir(key, loc)
	if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, fs.ErrExist) {
		err = fmt.Errorf("%s is not a directory", dir)
	} else if err != nil {
		err = fmt.Errorf("cannot create %s: check the server's file permissions", dir)
	}
	if !add("directory exists or can be created", err) {
		return checks
	}
	defer r.Close()
	add("probe object round trip", probe(r, dir))
	return checks
}

func probe(r *os.Root, dir string) error {
	name := "." + provider.ProbeName()
	want := []byte("tarn verify probe")
	if err := r.WriteFile(name, want, 0o600); err != nil {
		return fmt.Errorf("cannot write in %s: check the server's file permissions", dir)
	}
	defer r.Remove(name)
	got, err := r.ReadFile(name)
	if err != nil || string(got) != string(want) {
		return fmt.Errorf("cannot read back a probe file in %s", dir)
	}
	if err := r.Remove(name); err != nil {
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
