package localfile

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/provider"
	"github.com/tarnhq/tarn/location"
)

func setup(t *testing.T) (v *provider.Vendor, key provider.Key, allowed string) {
	t.Helper()
	allowed = t.TempDir()
	d, err := New([]string{allowed})
	if err != nil {
		t.Fatal(err)
	}
	v = provider.New(map[string]provider.Driver{Name: d}, nil)
	root := "file://" + filepath.Join(allowed, "acme")
	if _, err := v.CheckConfig(context.Background(), Name, api.CredsKeyConfig{Roots: []string{root}}, provider.ConfigCheck{Org: "acme"}); err != nil {
		t.Fatal(err)
	}
	return v, provider.Key{Org: "acme", Name: "k", Config: api.CredsKeyConfig{Roots: []string{root}}}, allowed
}

func vend(v *provider.Vendor, key provider.Key, loc, mode string) (*api.Credentials, error) {
	l, err := location.Parse(loc)
	if err != nil {
		return nil, err
	}
	return v.Vend(context.Background(), Name, provider.Request{Key: key, Location: l, Mode: mode})
}

func TestVendInsideRootCreatesTheDirectory(t *testing.T) {
	v, key, allowed := setup(t)
	c, err := vend(v, key, "file://"+allowed+"/acme/ds", api.ModeWrite)
	if err != nil {
		t.Fatal(err)
	}
	if c.File.Path != filepath.Join(allowed, "acme", "ds") || c.Provider != Name || c.Mode != api.ModeWrite {
		t.Errorf("vend = %+v", c)
	}
	if st, err := os.Stat(c.File.Path); err != nil || !st.IsDir() {
		t.Errorf("directory not created: %v", err)
	}
}

func TestVendRefusesEscapes(t *testing.T) {
	v, key, allowed := setup(t)
	outside := t.TempDir()
	if err := os.MkdirAll(filepath.Join(allowed, "acme"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(allowed, "acme", "link")); err != nil {
		t.Fatal(err)
	}
	for _, loc := range []string{
		"file://" + allowed + "/acme-sibling",  // a sibling that shares the prefix
		"file://" + allowed,                    // the parent of the root
		"file://" + outside,                    // elsewhere
		"file://" + allowed + "/acme/link",     // a link out of the root
		"file://" + allowed + "/acme/link/sub", // below a link out of the root
	} {
		if _, err := vend(v, key, loc, api.ModeRead); !errs.Is(errs.Permission, err) {
			t.Errorf("vend %s: err %v, want Permission", loc, err)
		}
	}
	if _, err := os.Stat(filepath.Join(outside, "sub")); err == nil {
		t.Error("a refused vend created a directory outside the root")
	}
}

func TestCheckConfigEnforcesTheAllowList(t *testing.T) {
	v, _, allowed := setup(t)
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(allowed, "escape")); err != nil {
		t.Fatal(err)
	}
	for _, root := range []string{"file://" + outside, "file:///", "file://" + allowed + "/escape/x", "s3://bucket/x"} {
		if _, err := v.CheckConfig(context.Background(), Name, api.CredsKeyConfig{Roots: []string{root}}, provider.ConfigCheck{Org: "acme", Superuser: true}); !errs.Is(errs.Invalid, err) {
			t.Errorf("root %s accepted (err %v)", root, err)
		}
	}
}

func TestVerifyRoundTripsAProbe(t *testing.T) {
	v, key, allowed := setup(t)
	dir := filepath.Join(allowed, "acme") // not there yet: verify creates it, as a vend would
	checks, err := v.Verify(context.Background(), Name, key, location.Location{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range checks {
		if !c.OK {
			t.Errorf("check %s failed: %s", c.Name, c.Detail)
		}
	}
	if len(checks) < 3 {
		t.Errorf("only %d checks", len(checks))
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("verify left %d files behind", len(entries))
	}
}

func TestVerifyNamesAFileWhereTheDirectoryShouldBe(t *testing.T) {
	v, key, allowed := setup(t)
	if err := os.WriteFile(filepath.Join(allowed, "acme"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	checks, err := v.Verify(context.Background(), Name, key, location.Location{})
	if err != nil {
		t.Fatal(err)
	}
	last := checks[len(checks)-1]
	if last.OK || last.Detail != filepath.Join(allowed, "acme")+" is not a directory" {
		t.Errorf("last check = %+v", last)
	}
}

// An org admin may use only roots inside <allowed>/<org>; a superuser may use any directory
// of the allow-list.
func TestCheckConfigKeepsOrgAdminsInTheirOrgsDirectory(t *testing.T) {
	v, _, allowed := setup(t)
	if err := os.MkdirAll(filepath.Join(allowed, "acme", "private"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(allowed, "beta"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(allowed, "acme"), filepath.Join(allowed, "beta", "link")); err != nil {
		t.Fatal(err)
	}
	check := func(root string, c provider.ConfigCheck) error {
		_, err := v.CheckConfig(context.Background(), Name, api.CredsKeyConfig{Roots: []string{"file://" + root}}, c)
		return err
	}
	admin := provider.ConfigCheck{Org: "beta"}
	for _, root := range []string{
		filepath.Join(allowed, "acme", "private"), // another org's tree
		allowed,                                // every org's tree
		filepath.Join(allowed, "beta-x"),       // shares beta's name, not its directory
		filepath.Join(allowed, "beta", "link"), // a link into acme's tree
		filepath.Join(allowed, "beta", "link", "private"),
	} {
		err := check(root, admin)
		if !errs.Is(errs.Permission, err) {
			t.Errorf("org admin of beta got root %s: err %v, want Permission", root, err)
			continue
		}
		if d := err.Error(); !strings.Contains(d, filepath.Join(allowed, "beta")) || !strings.Contains(d, "a superuser can create") {
			t.Errorf("refusal %q does not name beta's directory and the superuser", d)
		}
	}
	for _, root := range []string{filepath.Join(allowed, "beta"), filepath.Join(allowed, "beta", "ds")} {
		if err := check(root, admin); err != nil {
			t.Errorf("org admin of beta refused %s: %v", root, err)
		}
	}
	for _, root := range []string{allowed, filepath.Join(allowed, "acme", "private"), filepath.Join(allowed, "shared")} {
		if err := check(root, provider.ConfigCheck{Org: "beta", Superuser: true}); err != nil {
			t.Errorf("superuser refused %s: %v", root, err)
		}
	}
	if err := check(allowed, provider.ConfigCheck{}); !errs.Is(errs.Permission, err) {
		t.Errorf("a check without an org allowed the whole file root: %v", err)
	}
}

// linkOut makes <allowed>/acme/name a symbolic link to a fresh directory outside the
// allow-list, and returns that directory.
func linkOut(t *testing.T, allowed, name string) string {
	t.Helper()
	outside := t.TempDir()
	if err := os.MkdirAll(filepath.Join(allowed, "acme"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(allowed, "acme", name)); err != nil {
		t.Fatal(err)
	}
	return outside
}

// Creating a vended or verified directory never leaves the key's root, even when a
// symbolic link appears on the way after the location was checked.
func TestOpenDirStaysInsideTheRoot(t *testing.T) {
	_, key, allowed := setup(t)
	d, err := New([]string{allowed})
	if err != nil {
		t.Fatal(err)
	}
	outside := linkOut(t, allowed, "raced")
	loc, err := location.Parse("file://" + filepath.Join(allowed, "acme", "raced", "new"))
	if err != nil {
		t.Fatal(err)
	}
	if r, err := d.openDir(key, loc); err == nil {
		r.Close()
		t.Error("openDir followed a link out of the key's root")
	}
	if _, err := os.Stat(filepath.Join(outside, "new")); err == nil {
		t.Error("a directory was created outside the key's root")
	}
}

// Verify of a location reached through a link out of the root creates nothing.
func TestVerifyCreatesNothingOutsideTheRoot(t *testing.T) {
	v, key, allowed := setup(t)
	outside := linkOut(t, allowed, "link")
	loc, _ := location.Parse("file://" + filepath.Join(allowed, "acme", "link", "made"))
	checks, err := v.Verify(context.Background(), Name, key, loc)
	if err != nil {
		t.Fatal(err)
	}
	if last := checks[len(checks)-1]; last.OK {
		t.Errorf("verify through a link out of the root passed: %+v", checks)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("verify created %d entries outside the root", len(entries))
	}
}
