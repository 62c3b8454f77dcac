package server_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/testenv"
)

func TestRestartKeepsWhatAdminsChanged(t *testing.T) {
	dir := t.TempDir()
	first := testenv.New(t, testenv.Options{DataDir: dir})
	ctx := context.Background()
	admin := first.Admin(t)
	if _, err := admin.SetDefaultStorage(ctx, "local", api.DefaultStorage{Location: "file://" + filepath.Join(dir, "datasets", "local", "elsewhere"), CredsKey: "local"}); err != nil {
		t.Fatal(err)
	}
	first.Server.Close()

	second := testenv.New(t, testenv.Options{DataDir: dir})
	if second.AdminToken != first.AdminToken {
		t.Error("a restart minted a new admin token although the old one works")
	}
	org, err := second.Admin(t).Org(ctx, "local")
	if err != nil {
		t.Fatal(err)
	}
	if org.DefaultStorage == nil || org.DefaultStorage.Location != "file://"+filepath.Join(dir, "datasets", "local", "elsewhere") {
		t.Errorf("a restart reset the default storage: %+v", org.DefaultStorage)
	}
}

func TestRestartRecoversALostAdminToken(t *testing.T) {
	dir := t.TempDir()
	first := testenv.New(t, testenv.Options{DataDir: dir})
	ctx := context.Background()
	admin := first.Admin(t)
	who, err := admin.Whoami(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.RevokeToken(ctx, who.TokenID); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "admin.token"))
	first.Server.Close()

	second := testenv.New(t, testenv.Options{DataDir: dir})
	if second.AdminToken == first.AdminToken {
		t.Fatal("no new admin token")
	}
	if me, err := second.Admin(t).Whoami(ctx); err != nil || !me.Superuser {
		t.Fatalf("the new admin token does not work: %v %+v", err, me)
	}
}

// A new installation gives org local its own directory, <file root>/local, so that its
// admins reach no other org's files.
func TestNewInstallationKeepsOrgLocalInItsDirectory(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	ctx := context.Background()
	want := "file://" + filepath.Join(env.DataDir, "datasets", "local")
	key, err := env.Admin(t).CredsKey(ctx, "local", "local")
	if err != nil {
		t.Fatal(err)
	}
	org, err := env.Admin(t).Org(ctx, "local")
	if err != nil {
		t.Fatal(err)
	}
	if len(key.Config.Roots) != 1 || key.Config.Roots[0] != want || org.DefaultStorage == nil || org.DefaultStorage.Location != want {
		t.Errorf("org local: key roots %v, default storage %+v; want %s", key.Config.Roots, org.DefaultStorage, want)
	}
	admin := env.Client(t, env.NewUser(t, "lou", "local", "admin"))
	other := api.PutCredsKeyRequest{Provider: "file", Config: api.CredsKeyConfig{Roots: []string{"file://" + filepath.Join(env.DataDir, "datasets", "acme")}}}
	if _, err := admin.PutCredsKey(ctx, "local", "other", other); err == nil {
		t.Error("an admin of org local made a key on another org's directory")
	}
}
