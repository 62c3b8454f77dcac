package bench

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/azuritetest"
	"github.com/tarnhq/tarn/internal/entratest"
	"github.com/tarnhq/tarn/internal/provider/azuresas"
	"github.com/tarnhq/tarn/internal/testenv"
)

// newAzureEnv starts a tarn whose dataset al://local/coco is the container of srv, through
// the creds key local/azurite: auth shared-key when entra is nil, else client-secret with
// entra's app registration (srv from StartOAuth). udk, when not nil, counts the user
// delegation key requests tarn sends.
func newAzureEnv(b *testing.B, srv *azuritetest.Server, entra *entratest.Server, udk *atomic.Int64) *benchEnv {
	b.Helper()
	ctx := context.Background()
	o := testenv.Options{AllowEndpoints: []string{srv.HostPort()}, AzureTransport: srv.Transport(udk)}
	cfg := api.CredsKeyConfig{Roots: []string{"az://" + srv.Account + "/" + srv.Container}, Account: srv.Account,
		Endpoint: srv.Endpoint, Auth: api.AuthSharedKey}
	secret := srv.AccountKey
	if entra != nil {
		o.AzureEntra = azuresas.EntraOptions{ClientOptions: entra.CredentialOptions().ClientOptions, DisableInstanceDiscovery: true}
		cfg.Auth, cfg.TenantID, cfg.ClientID, secret = api.AuthClientSecret, entra.TenantID, entra.ClientID, entra.ClientSecret()
	}
	env := testenv.New(b, o)
	env.Clock.Advance(time.Since(env.Clock.Now())) // Azurite checks times against its own clock
	admin := env.Admin(b)
	if _, err := admin.PutCredsKey(ctx, benchOrg, "azurite", api.PutCredsKeyRequest{Provider: api.ProviderAzure, Secret: secret, Config: cfg}); err != nil {
		b.Fatalf("creds key: %v", err)
	}
	if _, err := admin.CreateDataset(ctx, benchOrg, api.CreateDatasetRequest{Name: benchDataset, Location: cfg.Roots[0], CredsKey: "azurite"}); err != nil {
		b.Fatalf("connect dataset: %v", err)
	}
	return &benchEnv{Env: env, admin: admin}
}

// BenchmarkCachedVendAzure is BenchmarkCachedVend for a dataset on Azure Blob Storage
// (Azurite, a container SAS signed with the account key): cached read vends at 64 clients
// vs the bare handler.
func BenchmarkCachedVendAzure(b *testing.B) {
	cachedVends(b, newAzureEnv(b, azuritetest.Start(b), nil, nil))
}

// BenchmarkColdCacheVendsAzure is BenchmarkColdCacheVends for a dataset on Azure with auth
// client-secret (Azurite with --oauth, Entra ID played by entratest): 1,000 concurrent
// read vends on a fresh tarn cost one upstream call, one user delegation key (udk-fetches)
// and one Entra ID token (tokens).
func BenchmarkColdCacheVendsAzure(b *testing.B) {
	srv, entra := azuritetest.StartOAuth(b), entratest.New(b, entratest.Options{})
	var udk atomic.Int64
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		env := newAzureEnv(b, srv, entra, &udk) // a fresh server: nothing cached
		udkBefore, tokensBefore := udk.Load(), entra.Issued()
		b.StartTimer()
		coldLoad(b, env)
		b.ReportMetric(float64(udk.Load()-udkBefore), "udk-fetches")
		b.ReportMetric(float64(entra.Issued()-tokensBefore), "tokens")
	}
}
