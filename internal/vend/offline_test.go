package vend_test

import (
	"fmt"
	"testing"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/testenv"
	"github.com/tarnhq/tarn/internal/upstream"
)

// Provider file calls no upstream: with a budget of one upstream call per key and hardly
// any refill, every vend of a file key still succeeds, for as many new locations as asked.
func TestFileVendsSpendNoUpstreamBudget(t *testing.T) {
	env := testenv.New(t, testenv.Options{Upstream: upstream.Options{Rate: 1e-9, Burst: 1}})
	ctx := t.Context()
	admin := env.Admin(t)
	if _, err := admin.CreateOrg(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	root := "file://" + env.DataDir + "/datasets/acme"
	if _, err := admin.PutCredsKey(ctx, "acme", "disk", api.PutCredsKeyRequest{Provider: api.ProviderFile,
		Config: api.CredsKeyConfig{Roots: []string{root}}}); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := admin.LocationCredentials(ctx, "acme", "disk", fmt.Sprintf("%s/ds%d", root, i), api.ModeWrite); err != nil {
			t.Fatalf("vend %d: %v", i, err)
		}
	}
}
