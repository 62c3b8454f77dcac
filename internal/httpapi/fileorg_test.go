package httpapi_test

import (
	"context"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/testenv"
)

// tree lists every path below dir with its size, to tell whether anything changed.
func tree(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, _ := d.Info()
		b.WriteString(p + " " + info.Mode().String() + "\n")
		return nil
	})
	return b.String()
}

// The admin of org beta tries every route that takes a file location to read or write the
// files of org acme, on one server whose file root holds both orgs' directories.
func TestOrgAdminCannotReachAnotherOrgsFiles(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	ctx := context.Background()
	admin := env.Admin(t)
	files := filepath.Join(env.DataDir, "datasets") // the server's file root
	acmeDir, betaDir := filepath.Join(files, "acme"), filepath.Join(files, "beta")
	for _, org := range []string{"acme", "beta"} {
		if _, err := admin.CreateOrg(ctx, org); err != nil {
			t.Fatal(err)
		}
		if _, err := admin.PutCredsKey(ctx, org, "k", api.PutCredsKeyRequest{Provider: "file", Config: api.CredsKeyConfig{Roots: []string{"file://" + filepath.Join(files, org)}}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, dir := range []string{filepath.Join(acmeDir, "private"), betaDir} {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(acmeDir, "private", "secret.csv"), []byte("acme's secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateDataset(ctx, "acme", api.CreateDatasetRequest{Name: "priv", Location: "file://" + filepath.Join(acmeDir, "private"), CredsKey: "k"}); err != nil {
		t.Fatal(err)
	}
	// A link in beta's directory into acme's, as anyone who can write beta's files on the
	// server's disk could make.
	if err := os.Symlink(acmeDir, filepath.Join(betaDir, "link")); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateDataset(ctx, "beta", api.CreateDatasetRequest{Name: "own", Location: "file://" + filepath.Join(betaDir, "own"), CredsKey: "k"}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.AddLinkedCredsKey(ctx, "beta", "own", "k"); err != nil {
		t.Fatal(err)
	}
	f := &fixture{env: env, tokens: map[string]string{"bea": env.NewUser(t, "bea", "beta", "admin"), "superuser": env.AdminToken}}
	before := tree(t, acmeDir)

	// Outside beta's directory, and inside it only through the link: every route that takes
	// a location refuses them.
	stolen := []string{
		"file://" + filepath.Join(acmeDir, "private"),
		"file://" + acmeDir,
		"file://" + files,
		"file://" + filepath.Join(betaDir, "link"),
		"file://" + filepath.Join(betaDir, "link", "private"),
	}
	for i, loc := range stolen {
		for _, r := range []struct {
			method, path string
			body         any
		}{
			{"PUT", "/orgs/beta/creds-keys/stolen", api.PutCredsKeyRequest{Provider: "file", Config: api.CredsKeyConfig{Roots: []string{loc}}}},
			{"PUT", "/orgs/beta/creds-keys/k", api.PutCredsKeyRequest{Provider: "file", Config: api.CredsKeyConfig{Roots: []string{loc}}}},
			{"POST", "/orgs/beta/creds-keys/k/credentials", api.CredentialsRequest{Location: loc, Mode: "write"}},
			{"POST", "/orgs/beta/creds-keys/k/credentials", api.CredentialsRequest{Location: loc, Mode: "read"}},
			{"POST", "/orgs/beta/datasets/own/linked-credentials", api.LinkedCredentialsRequest{CredsKey: "k", Location: loc}},
		} {
			if st, out := f.do(t, "bea", r.method, r.path, r.body); st != http.StatusForbidden {
				t.Errorf("%s %s with %s: %d %v", r.method, r.path, loc, st, out)
			}
		}
		// Registering a dataset or the default storage there is refused too: the key's
		// roots are checked with symbolic links resolved.
		name := "stolen-" + string(rune('a'+i))
		if st, out := f.do(t, "bea", "POST", "/orgs/beta/datasets", api.CreateDatasetRequest{Name: name, Location: loc, CredsKey: "k"}); st != http.StatusForbidden {
			t.Errorf("create a dataset at %s: %d %v", loc, st, out)
		}
		if st, out := f.do(t, "bea", "PUT", "/orgs/beta/default-storage", api.DefaultStorage{Location: loc, CredsKey: "k"}); st != http.StatusForbidden {
			t.Errorf("default storage at %s: %d %v", loc, st, out)
		}
		// verify answers its checks, and creates nothing.
		st, out := f.do(t, "bea", "POST", "/orgs/beta/creds-keys/k/verify", api.VerifyRequest{Location: loc + "/made-by-verify"})
		if checks, _ := out["checks"].([]any); st != http.StatusOK || len(checks) == 0 || checks[len(checks)-1].(map[string]any)["ok"] != false {
			t.Errorf("verify %s: %d %v", loc, st, out)
		}
	}
	_, out := f.do(t, "bea", "PUT", "/orgs/beta/creds-keys/stolen", api.PutCredsKeyRequest{Provider: "file", Config: api.CredsKeyConfig{Roots: []string{stolen[0]}}})
	if d, _ := out["detail"].(string); !strings.Contains(d, betaDir) || !strings.Contains(d, "a superuser can create") {
		t.Errorf("refusal does not name beta's directory and the superuser: %q", d)
	}

	// Nothing of acme's answers beta's admin either.
	for _, pattern := range env.Server.API.Routes() {
		method, path, _ := strings.Cut(pattern, " ")
		if !strings.Contains(path, "{org}") {
			continue
		}
		path = strings.NewReplacer(api.Prefix, "", "{org}", "acme", "{name}", "priv", "{key}", "k", "{user}", "bea").Replace(path)
		if st, out := f.do(t, "bea", method, path, struct{}{}); st != http.StatusForbidden {
			t.Errorf("%s %s as beta's admin: %d %v", method, path, st, out)
		}
	}

	if after := tree(t, acmeDir); after != before {
		t.Errorf("acme's files changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	// Beta's own directory still works, and a superuser may go elsewhere on purpose.
	if st, out := f.do(t, "bea", "PUT", "/orgs/beta/creds-keys/sub", api.PutCredsKeyRequest{Provider: "file", Config: api.CredsKeyConfig{Roots: []string{"file://" + filepath.Join(betaDir, "sub")}}}); st != http.StatusOK {
		t.Errorf("beta's admin cannot use beta's directory: %d %v", st, out)
	}
	if st, out := f.do(t, "superuser", "PUT", "/orgs/beta/creds-keys/shared", api.PutCredsKeyRequest{Provider: "file", Config: api.CredsKeyConfig{Roots: []string{"file://" + filepath.Join(files, "shared")}}}); st != http.StatusOK {
		t.Errorf("superuser: %d %v", st, out)
	}
}
