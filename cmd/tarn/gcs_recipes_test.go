package main

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestGCSToolRecipes runs the README's rclone and gcloud storage recipes against
// fake-gcs-server with what `tarn vend` prints for a GCS dataset, through a real vend (the
// Google stand-ins): rclone (Debian's 1.60) with the token as OAuth token JSON and the
// emulator's endpoint with /storage/v1/, and gcloud storage ls and cat with --format env
// (CLOUDSDK_AUTH_ACCESS_TOKEN and the endpoint override) and with --access-token-file. gcloud
// is no Debian package: its subtests are skipped where it is not installed. The tools'
// traffic stays on 127.0.0.1, and gcloud reports no usage.
func TestGCSToolRecipes(t *testing.T) {
	l := startGCS(t)
	mustRun(t, l.admin, "ds", "connect", l.bucket+"/datasets/data", "al://acme/data", "--creds-key", "gcs")
	objects := map[string]string{"images/cat.jpg": "meow", "labels.csv": "filename,label\ncat.jpg,cat\n"}
	for name, body := range objects {
		w := l.s.Client(t).Bucket(l.s.Bucket).Object("datasets/data/" + name).NewWriter(t.Context())
		w.Write([]byte(body))
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	home := t.TempDir()
	toolEnv := recipeEnv(home,
		"RCLONE_CONFIG="+filepath.Join(home, "rclone.conf"),
		"CLOUDSDK_CONFIG="+filepath.Join(home, "gcloud"),
		"CLOUDSDK_CORE_DISABLE_USAGE_REPORTING=true",
		"CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK=true",
		"CLOUDSDK_CORE_DISABLE_PROMPTS=1",
	)
	shell := func(t *testing.T, tool, hint, script string) []string {
		t.Helper()
		return runRecipe(t, toolEnv, tool, hint, script)
	}
	const debian, google = "scripts/test.sh installs it from Debian's packages", "Google's google-cloud-cli package; Debian does not package it"
	token := strings.TrimSpace(mustRun(t, l.admin, "vend", "al://acme/data", "--format", "token").stdout)
	env := mustRun(t, l.admin, "vend", "al://acme/data", "--format", "env").stdout
	prefix := "gs://" + l.s.Bucket + "/datasets/data/"

	t.Run("rclone lsf with the token JSON", func(t *testing.T) {
		// As in the README, with endpoint= for the emulator.
		got := shell(t, "rclone", debian, `rclone lsf -R --files-only ":gcs,token='{\"access_token\":\"`+token+`\"}',endpoint='`+
			l.storage+`/storage/v1/':`+l.s.Bucket+`/datasets/data"`)
		if want := []string{"images/cat.jpg", "labels.csv"}; !slices.Equal(got, want) {
			t.Errorf("rclone lsf = %q, want %q", got, want)
		}
		l.sent(t, "rclone", token)
	})
	t.Run("gcloud storage ls and cat with --format env", func(t *testing.T) {
		got := shell(t, "gcloud", google, env+"gcloud storage ls "+prefix+"**")
		if want := []string{prefix + "images/cat.jpg", prefix + "labels.csv"}; !slices.Equal(got, want) {
			t.Errorf("gcloud storage ls = %q, want %q", got, want)
		}
		got = shell(t, "gcloud", google, env+"gcloud storage cat "+prefix+"labels.csv")
		if want := slices.Sorted(slices.Values(strings.Fields(objects["labels.csv"]))); !slices.Equal(got, want) {
			t.Errorf("gcloud storage cat = %q, want %q", got, want)
		}
		l.sent(t, "gcloud", token)
	})
	t.Run("gcloud storage ls with --access-token-file", func(t *testing.T) {
		file := filepath.Join(home, ".data.token")
		override := "CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE=" + l.storage + "/storage/v1/ "
		got := shell(t, "gcloud", google, "umask 077; printf '%s\\n' '"+token+"' > "+file+"; "+
			override+"gcloud storage ls "+prefix+" --access-token-file "+file)
		if want := []string{prefix + "images/", prefix + "labels.csv"}; !slices.Equal(got, want) {
			t.Errorf("gcloud storage ls = %q, want %q", got, want)
		}
		l.sent(t, "gcloud", token)
	})
}

// sent checks that the requests to GCS since the last check (see bearers) were some, and
// all carried token: the tool used the vended token.
func (l *gcsLive) sent(t *testing.T, tool, token string) {
	t.Helper()
	toks := l.bearers(t)
	if len(toks) == 0 {
		t.Errorf("%s sent no request to GCS", tool)
	}
	if slices.ContainsFunc(toks, func(tok string) bool { return tok != token }) {
		t.Errorf("%s sent a request to GCS with another token than the vended one", tool)
	}
}
