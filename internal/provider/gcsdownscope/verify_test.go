package gcsdownscope_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/googletest"
)

// TestVerifyNamesTheFailingStep: verify stops at the first step that fails and names its
// cause: an unusable service-account key, then a missing Token Creator grant; no check
// after it runs (nothing reaches the storage endpoint).
func TestVerifyNamesTheFailingStep(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	loc := mustLoc(t, "gs://acme-data/coco")

	bad := f.key(api.AuthServiceAccountKey, []byte(`{"type":"service_account","client_email":"x"}`))
	checks := f.d.Verify(ctx, bad, loc)
	if len(checks) != 1 || checks[0].OK || checks[0].Name != "service account key" || !strings.Contains(checks[0].Detail, "service account key") {
		t.Fatalf("verify with a broken key: %+v", checks)
	}

	checks = f.d.Verify(ctx, f.key(api.AuthDefault, nil), loc)
	if len(checks) != 2 || !checks[0].OK || checks[1].OK || !strings.Contains(checks[1].Detail, "roles/iam.serviceAccountTokenCreator") {
		t.Fatalf("verify without Token Creator: %+v", checks)
	}
	if n := f.g.Calls(googletest.Downscope); n != 0 {
		t.Fatalf("verify downscoped %d times after a refused impersonation", n)
	}
}
