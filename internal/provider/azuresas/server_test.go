package azuresas_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/client"
	"github.com/tarnhq/tarn/internal/testenv"
)

// Azurite's well-known account key (public, documented for the emulator).
const emuKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

// TestThroughTheServer runs provider azure in a whole tarn: the key's secret is write-only,
// a dataset vends a container SAS that the cache answers again, a flat prefix cannot be
// registered, and the SAS appears in no audit record.
func TestThroughTheServer(t *testing.T) {
	env := testenv.New(t, testenv.Options{AllowEndpoints: []string{"127.0.0.1:10000"}})
	ctx := context.Background()
	admin := env.Admin(t)
	if _, err := admin.CreateOrg(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	k, err := admin.PutCredsKey(ctx, "acme", "azurite", api.PutCredsKeyRequest{
		Provider: api.ProviderAzure, Secret: emuKey,
		Config: api.CredsKeyConfig{Roots: []string{"az://devstoreaccount1/data"}, Account: "devstoreaccount1",
			Endpoint: "http://127.0.0.1:10000/devstoreaccount1", Auth: api.AuthSharedKey},
	})
	if err != nil {
		t.Fatal(err)
	}
	if raw, _ := json.Marshal(k); strings.Contains(string(raw), "Eby8vdM02") || k.Config.Scope != api.ScopeDirectory {
		t.Fatalf("creds key answer %s: want no secret and scope directory", raw)
	}

	_, err = admin.CreateDataset(ctx, "acme", api.CreateDatasetRequest{Name: "coco", Location: "az://devstoreaccount1/data/coco", CredsKey: "azurite"})
	var p *api.Problem
	if !errors.As(err, &p) || p.Status != http.StatusBadRequest || !strings.Contains(p.Detail, "--scope container") {
		t.Fatalf("connecting a flat prefix: %v, want 400 naming the options", err)
	}

	if _, err := admin.CreateDataset(ctx, "acme", api.CreateDatasetRequest{Name: "data", Location: "az://devstoreaccount1/data", CredsKey: "azurite"}); err != nil {
		t.Fatal(err)
	}
	first, err := admin.DatasetCredentials(ctx, "acme", "data", api.ModeWrite)
	if err != nil {
		t.Fatal(err)
	}
	az := first.Azure
	if first.Provider != api.ProviderAzure || az == nil || az.Container != "data" || az.Endpoint != "http://127.0.0.1:10000/devstoreaccount1" {
		t.Fatalf("vend = %+v", first)
	}
	q, err := url.ParseQuery(az.SASToken)
	if err != nil || q.Get("sr") != "c" || q.Get("sp") != "racwdl" || q.Get("sig") == "" {
		t.Fatalf("SAS %v (%v): want a signed container SAS for write", q, err)
	}
	second, err := admin.DatasetCredentials(ctx, "acme", "data", api.ModeWrite)
	if err != nil {
		t.Fatal(err)
	}
	if second.Azure.SASToken != az.SASToken {
		t.Error("a second vend within half the lifetime was not answered from the cache")
	}

	list, err := admin.Audit(ctx, "acme", client.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(list)
	if !strings.Contains(string(raw), `"vend"`) {
		t.Fatalf("no vend audited: %s", raw)
	}
	if sig := q.Get("sig"); strings.Contains(string(raw), sig) || strings.Contains(string(raw), url.QueryEscape(sig)) || strings.Contains(string(raw), "Eby8vdM02") {
		t.Fatalf("audit records carry the SAS or the account key: %s", raw)
	}
}
