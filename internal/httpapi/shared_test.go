package httpapi_test

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/client"
	"github.com/tarnhq/tarn/internal/pgtest"
	"github.com/tarnhq/tarn/internal/testenv"
	"github.com/tarnhq/tarn/location"
)

// TestChangesThroughOneServerTakeEffectOnTheOther: two servers share one PostgreSQL
// database; what an admin changes through A (the creds key, the membership, the dataset,
// the token) decides the very next vend through B, which keeps none of it in memory.
func TestChangesThroughOneServerTakeEffectOnTheOther(t *testing.T) {
	t.Setenv("TARN_MASTER_KEY", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")
	ctx := context.Background()
	opts := testenv.Options{Database: pgtest.URL(t)}
	a := testenv.New(t, opts)
	opts.DataDir = a.DataDir // where A wrote the admin token; the state is in the database
	b := testenv.New(t, opts)
	admin := a.Admin(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := admin.CreateOrg(ctx, "acme")
	must(err)
	root, err := location.FromLocal(filepath.Join(a.DataDir, "datasets", "acme"))
	must(err)
	key := func(roots ...string) {
		t.Helper()
		_, err := admin.PutCredsKey(ctx, "acme", "k", api.PutCredsKeyRequest{Provider: "file", Config: api.CredsKeyConfig{Roots: roots}})
		must(err)
	}
	key(root.String())
	dataset := func() {
		t.Helper()
		_, err := admin.CreateDataset(ctx, "acme", api.CreateDatasetRequest{Name: "d", Location: root.String() + "/d", CredsKey: "k"})
		must(err)
	}
	dataset()
	reader := b.Client(t, a.NewUser(t, "rita", "acme", "reader"))
	superuser := b.Admin(t)
	// vend checks the status of a vend through B, for the reader and for the superuser;
	// reader alone says that the change concerned the reader, and the superuser still vends.
	vend := func(want int, readerAlone bool, what string) {
		t.Helper()
		for who, cl := range map[string]*client.Client{"reader": reader, "superuser": superuser} {
			w := want
			if readerAlone && who == "superuser" {
				w = http.StatusOK
			}
			got := http.StatusOK
			var p *api.Problem
			if _, err := cl.DatasetCredentials(ctx, "acme", "d", api.ModeRead); errors.As(err, &p) {
				got = p.Status
			} else if err != nil {
				t.Fatalf("%s: vend through B as %s: %v", what, who, err)
			}
			if got != w {
				t.Errorf("%s: vend through B as %s: status %d, want %d", what, who, got, w)
			}
		}
	}
	vend(http.StatusOK, false, "at first")

	key(root.String() + "/elsewhere")
	vend(http.StatusForbidden, false, "key moved off the dataset's location") // the cached credentials are of the old version
	key(root.String())
	vend(http.StatusOK, false, "key moved back")

	must(admin.DeleteMember(ctx, "acme", "rita"))
	vend(http.StatusForbidden, true, "member removed")
	_, err = admin.PutMember(ctx, "acme", "rita", "reader")
	must(err)
	vend(http.StatusOK, false, "member added again")

	must(admin.DeleteDataset(ctx, "acme", "d"))
	vend(http.StatusNotFound, false, "dataset deleted")
	dataset()
	vend(http.StatusOK, false, "dataset created again")

	who, err := reader.Whoami(ctx)
	must(err)
	must(admin.RevokeToken(ctx, who.TokenID))
	vend(http.StatusUnauthorized, true, "token revoked")
}
