package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tarnhq/tarn/internal/azuritetest"
	"github.com/tarnhq/tarn/internal/testenv"
)

// TestAzureToolRecipes runs the README's Azure CLI and rclone recipes against Azurite with
// what `tarn vend` prints: --format env for `az storage blob list`, --format sas-url for
// rclone. Both tools are Debian packages that scripts/test.sh installs; the test is skipped
// where one is missing. Their traffic stays on 127.0.0.1: any other address goes to a proxy
// on a closed loopback port, and the Azure CLI's telemetry is off.
func TestAzureToolRecipes(t *testing.T) {
	srv := azuritetest.Start(t)
	env := testenv.New(t, testenv.Options{AllowEndpoints: []string{srv.HostPort()}})
	env.Clock.Advance(time.Since(env.Clock.Now())) // Azurite checks SAS times against its own clock
	admin := newTestEnv(t, map[string]string{envEndpoint: env.URL, envToken: env.AdminToken})
	mustRun(t, admin, "org", "create", "acme")
	admin.env.stdin = strings.NewReader(srv.AccountKey + "\n")
	loc := "az://" + srv.Account + "/" + srv.Container
	mustRun(t, admin, "creds", "add", "acme/azurite", "--provider", "azure", "--account", srv.Account, "--allowed", loc,
		"--blob-endpoint", srv.Endpoint, "--auth", "shared-key", "--secret-stdin")
	mustRun(t, admin, "ds", "connect", loc, "al://acme/data", "--creds-key", "azurite")
	want := []string{"images/cat.jpg", "labels.csv"}
	for _, name := range want {
		if _, err := srv.SharedKeyClient(t).UploadBuffer(t.Context(), srv.Container, name, []byte(name), nil); err != nil {
			t.Fatal(err)
		}
	}
	home := t.TempDir()
	toolEnv := recipeEnv(home,
		"AZURE_CONFIG_DIR="+filepath.Join(home, ".azure"),
		"AZURE_CORE_COLLECT_TELEMETRY=no",
		"AZURE_CORE_NO_COLOR=true",
		"AZURE_CORE_ONLY_SHOW_ERRORS=true",
		"RCLONE_CONFIG="+filepath.Join(home, "rclone.conf"),
	)
	shell := func(t *testing.T, tool, script string) []string {
		t.Helper()
		return runRecipe(t, toolEnv, tool, "scripts/test.sh installs it from Debian's packages", script)
	}

	t.Run("az storage blob list with --format env", func(t *testing.T) {
		vars := mustRun(t, admin, "vend", "al://acme/data", "--format", "env").stdout
		got := shell(t, "az", vars+`az storage blob list --account-name "$AZURE_STORAGE_ACCOUNT" --container-name `+srv.Container+
			` --sas-token "$AZURE_STORAGE_SAS_TOKEN" --blob-endpoint "$AZURE_STORAGE_BLOB_ENDPOINT" --query '[].name' --output tsv`)
		if !slices.Equal(got, want) {
			t.Errorf("az storage blob list = %q, want %q", got, want)
		}
	})
	t.Run("rclone lsf with --format sas-url", func(t *testing.T) {
		sasURL := strings.TrimSpace(mustRun(t, admin, "vend", "al://acme/data", "--format", "sas-url").stdout)
		// As in the README: rclone's own quotes around the URL, which holds ':' and ','.
		got := shell(t, "rclone", `rclone lsf -R --files-only ":azureblob,sas_url='`+sasURL+`':`+srv.Container+`"`)
		if !slices.Equal(got, want) {
			t.Errorf("rclone lsf = %q, want %q", got, want)
		}
	})
}

// recipeEnv is the environment of a recipe's tools: ours with HOME set to home, and extra.
// Their traffic stays on 127.0.0.1: any other address goes to a proxy on a closed loopback
// port.
func recipeEnv(home string, extra ...string) []string {
	return append(append(os.Environ(),
		"HOME="+home,
		"HTTP_PROXY=http://127.0.0.1:9", "HTTPS_PROXY=http://127.0.0.1:9",
		"http_proxy=http://127.0.0.1:9", "https_proxy=http://127.0.0.1:9",
		"NO_PROXY=127.0.0.1", "no_proxy=127.0.0.1",
	), extra...)
}

// runRecipe runs script with sh in env and returns the words it prints, sorted. It skips t,
// saying where to get it (hint), when tool is not installed, and fails t with the script's
// standard error when the script fails.
func runRecipe(t *testing.T, env []string, tool, hint, script string) []string {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		t.Skipf("%s is not installed (%s)", tool, hint)
	}
	cmd := exec.CommandContext(t.Context(), "sh", "-c", script)
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("%s recipe: %v\n%s", tool, err, stderr)
	}
	lines := strings.Fields(string(out))
	slices.Sort(lines)
	return lines
}
