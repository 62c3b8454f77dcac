package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tarnhq/tarn/internal/azuritetest"
	"github.com/tarnhq/tarn/internal/testenv"
)

// TestAzureLive runs every path command on Azure: a whole tarn in-process with a creds key
// of provider azure (shared key) on a real Azurite, a dataset at a container root, ds
// import/head/get through al://, and ls/cp/cat through al:// and through az:// with creds
// keys of scope directory (the whole container only) and container; a reader cannot write.
func TestAzureLive(t *testing.T) {
	az := azuritetest.Start(t)
	env := testenv.New(t, testenv.Options{AllowEndpoints: []string{az.HostPort()}})
	env.Clock.Advance(time.Since(env.Clock.Now())) // tarn signs the SAS, Azurite checks it on its own clock
	admin := newTestEnv(t, map[string]string{envEndpoint: env.URL, envToken: env.AdminToken})
	container := "az://" + az.Account + "/" + az.Container
	mustRun(t, admin, "org", "create", "acme")
	admin.stdin = strings.NewReader(az.AccountKey + "\n")
	mustRun(t, admin, "creds", "add", "acme/az", "--provider", "azure", "--account", az.Account,
		"--allowed", container, "--blob-endpoint", az.Endpoint, "--auth", "shared-key", "--secret-stdin")
	mustRun(t, admin, "ds", "connect", container, "al://acme/pets", "--creds-key", "az")
	if res := mustRun(t, admin, "provision", "azure", "acme/az", "--container", az.Container); !strings.Contains(res.stdout, "needs no role") ||
		!strings.Contains(res.stdout, "--account-name "+az.Account) {
		t.Errorf("provision azure of a shared-key key:\n%s", res.stdout)
	}
	writer := newTestEnv(t, map[string]string{envEndpoint: env.URL, envToken: env.NewUser(t, "wendy", "acme", "writer")})
	reader := newTestEnv(t, map[string]string{envEndpoint: env.URL, envToken: env.NewUser(t, "rita", "acme", "reader")})

	// The dataset, and objects up through al://, then listed and read back through az://.
	local := importPets(t, writer, reader)
	res := mustRun(t, admin, "ls", container, "-r", "--org", "acme", "--creds-key", "az")
	if !strings.Contains(res.stdout, "tarn.json") || !strings.Contains(res.stdout, "notes/b/c.txt") {
		t.Errorf("ls -r of the container through the creds key:\n%s", res.stdout)
	}
	// A flat account scopes no SAS below a container: a prefix needs a key of scope container.
	if res = admin.run("cat", container+"/notes/a.txt", "--org", "acme", "--creds-key", "az"); res.code != 1 || !strings.Contains(res.stderr, "--scope container") {
		t.Errorf("cat of a prefix through a key of scope directory: exit %d, stderr %q", res.code, res.stderr)
	}
	admin.stdin = strings.NewReader(az.AccountKey + "\n")
	mustRun(t, admin, "creds", "add", "acme/wide", "--provider", "azure", "--account", az.Account, "--scope", "container",
		"--allowed", container, "--blob-endpoint", az.Endpoint, "--auth", "shared-key", "--secret-stdin")
	if res = mustRun(t, admin, "cat", container+"/notes/a.txt", "--org", "acme", "--creds-key", "wide"); res.stdout != "alpha" {
		t.Errorf("cat through the creds key: %q", res.stdout)
	}
	res = mustRun(t, admin, "ls", container+"/notes", "--org", "acme", "--creds-key", "wide")
	if !strings.Contains(res.stdout, "a.txt") || strings.Contains(res.stdout, "tarn.json") {
		t.Errorf("ls of a prefix through the creds key:\n%s", res.stdout)
	}
	down := t.TempDir()
	mustRun(t, reader, "cp", "al://acme/pets/notes", down, "-r")
	equalFiles(t, "cp down", files(t, down), map[string]string{"notes/a.txt": "alpha", "notes/b/c.txt": "gamma"})

	// A reader gets no write SAS: one line, holding no SAS. (A read SAS refused for a write
	// by Azurite itself: storage.TestAzureRefusedSASIsReplacedOnce.)
	res = reader.run("cp", filepath.Join(local, "notes", "a.txt"), "al://acme/pets/notes/evil.txt")
	if res.code != 1 || strings.Count(res.stderr, "\n") != 1 || strings.Contains(res.stderr, "sig=") {
		t.Errorf("reader cp up: exit %d, stderr %q", res.code, res.stderr)
	}
	t.Log(res.stderr)
	if res = admin.run("cat", container+"/notes/evil.txt", "--org", "acme", "--creds-key", "wide"); res.code != 1 {
		t.Errorf("the reader's write landed: exit %d", res.code)
	}
}
