package localfile

import (
	"context"
	"os"
	"path/filepath"
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
	root := "file://" + filepath.Join(allowed, "org")
	if _, err := v.CheckConfig(Name, api.CredsKeyConfig{Roots: []string{root}}, nil, false); err != nil {
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
	c, err := vend(v, key, "file://"+allowed+"/org/ds", api.ModeWrite)
	if err != nil {
		t.Fatal(err)
	}
	if c.File.Path != filepath.Join(allowed, "org", "ds") || c.Provider != Name || c.Mode != api.ModeWrite {
		t.Errorf("vend = %+v", c)
	}
	if st, err := os.Stat(c.File.Path); err != nil || !st.IsDir() {
		t.Errorf("directory not created: %v", err)
	}
}

func TestVendRefusesEscapes(t *testing.T) {
	v, key, allowed := setup(t)
	outside := t.TempDir()
	if err := os.MkdirAll(filepath.Join(allowed, "org"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(allowed, "org", "link")); err != nil {
		t.Fatal(err)
	}
	for _, loc := range []string{
		"file://" + allowed + "/org-sibling",  // a sibling that shares the prefix
		"file://" + allowed,                   // the parent of the root
		"file://" + outside,                   // elsewhere
		"file://" + allowed + "/org/link",     // a link out of the root
		"file://" + allowed + "/org/link/sub", // below a link out of the root
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
		if _, err := v.CheckConfig(Name, api.CredsKeyConfig{Roots: []string{root}}, nil, false); !errs.Is(errs.Invalid, err) {
			t.Errorf("root %s accepted (err %v)", root, err)
		}
	}
}

func TestVerifyRoundTripsAProbe(t *testing.T) {
	v, key, allowed := setup(t)
	dir := filepath.Join(allowed, "org") // not there yet: verify creates it, as a vend would
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
	if err := os.WriteFile(filepath.Join(allowed, "org"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	checks, err := v.Verify(context.Background(), Name, key, location.Location{})
	if err != nil {
		t.Fatal(err)
	}
	last := checks[len(checks)-1]
	if last.OK || last.Detail != filepath.Join(allowed, "org")+" is not a directory" {
		t.Errorf("last check = %+v", last)
	}
}
