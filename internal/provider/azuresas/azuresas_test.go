package azuresas

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/netguard"
	"github.com/tarnhq/tarn/internal/provider"
	"github.com/tarnhq/tarn/internal/store"
	"github.com/tarnhq/tarn/location"
)

// Azurite's well-known account and key (public, documented by Microsoft for the emulator).
const (
	emuAccount = "devstoreaccount1"
	emuKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
	emuURL     = "http://127.0.0.1:10000/devstoreaccount1"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func newDriver(t *testing.T, allow ...string) *Driver {
	t.Helper()
	g, err := netguard.New(netguard.Options{Allow: allow})
	if err != nil {
		t.Fatal(err)
	}
	return New(Options{Guard: g, Now: func() time.Time { return t0 }})
}

func TestCheckConfigCanonical(t *testing.T) {
	d := newDriver(t, "127.0.0.1:10000")
	tests := []struct {
		name      string
		in        api.CredsKeyConfig
		hasSecret bool
		want      api.CredsKeyConfig
	}{
		{"defaults", api.CredsKeyConfig{Roots: []string{"az://acme1/data"}, Account: "acme1"}, false,
			api.CredsKeyConfig{Roots: []string{"az://acme1/data"}, Account: "acme1", Auth: api.AuthDefault, Scope: api.ScopeDirectory,
				Endpoint: "https://acme1.blob.core.windows.net"}},
		{"emulator with trailing slash", api.CredsKeyConfig{Roots: []string{"az://devstoreaccount1/data"}, Account: emuAccount,
			Endpoint: emuURL + "/", Auth: api.AuthSharedKey}, true,
			api.CredsKeyConfig{Roots: []string{"az://devstoreaccount1/data"}, Account: emuAccount, Auth: api.AuthSharedKey,
				Scope: api.ScopeDirectory, Endpoint: emuURL}},
		{"client secret, hierarchical prefix", api.CredsKeyConfig{Roots: []string{"az://acme1/data/ml"}, Account: "acme1",
			Auth: api.AuthClientSecret, TenantID: "contoso.onmicrosoft.com", ClientID: "00000000-0000-0000-0000-000000000001",
			HierarchicalNamespace: true}, true,
			api.CredsKeyConfig{Roots: []string{"az://acme1/data/ml"}, Account: "acme1", Auth: api.AuthClientSecret,
				TenantID: "contoso.onmicrosoft.com", ClientID: "00000000-0000-0000-0000-000000000001", HierarchicalNamespace: true,
				Scope: api.ScopeDirectory, Endpoint: "https://acme1.blob.core.windows.net"}},
		{"flat prefix with scope container", api.CredsKeyConfig{Roots: []string{"az://acme1/data/ml"}, Account: "acme1", Scope: api.ScopeContainer}, false,
			api.CredsKeyConfig{Roots: []string{"az://acme1/data/ml"}, Account: "acme1", Auth: api.AuthDefault, Scope: api.ScopeContainer,
				Endpoint: "https://acme1.blob.core.windows.net"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := d.CheckConfig(context.Background(), tt.in, provider.ConfigCheck{Org: "acme", HasSecret: tt.hasSecret})
			if err != nil {
				t.Fatal(err)
			}
			if got.Endpoint != tt.want.Endpoint || got.Auth != tt.want.Auth || got.Scope != tt.want.Scope ||
				provider.ForeignField(got, tt.want) != "" {
				t.Errorf("CheckConfig = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestCheckConfigErrors(t *testing.T) {
	d := newDriver(t) // allows public addresses only
	base := func(f func(*api.CredsKeyConfig)) api.CredsKeyConfig {
		c := api.CredsKeyConfig{Roots: []string{"az://acme1/data"}, Account: "acme1"}
		f(&c)
		return c
	}
	tests := []struct {
		name      string
		cfg       api.CredsKeyConfig
		hasSecret bool
		want      string
	}{
		{"aws field", base(func(c *api.CredsKeyConfig) { c.RoleARN = "arn:aws:iam::123456789012:role/x" }), false, "does not take role_arn"},
		{"no account", base(func(c *api.CredsKeyConfig) { c.Account = "" }), false, "not a storage account name"},
		{"s3 root", base(func(c *api.CredsKeyConfig) { c.Roots = []string{"s3://bucket/x"} }), false, "az://acme1/CONTAINER"},
		{"other account's root", base(func(c *api.CredsKeyConfig) { c.Roots = []string{"az://other1/data"} }), false, "not az://other1/data"},
		{"flat prefix", base(func(c *api.CredsKeyConfig) { c.Roots = []string{"az://acme1/data/ml"} }), false,
			"a container per dataset, an account with hierarchical namespace (--hierarchical-namespace), or --scope container"},
		{"scope container with hns", base(func(c *api.CredsKeyConfig) { c.Scope = api.ScopeContainer; c.HierarchicalNamespace = true }), false, "leave --scope out"},
		{"bad scope", base(func(c *api.CredsKeyConfig) { c.Scope = "blob" }), false, `scope "blob"`},
		{"bad auth", base(func(c *api.CredsKeyConfig) { c.Auth = "password" }), false, `auth "password"`},
		{"default with secret", base(func(*api.CredsKeyConfig) {}), true, "leave out tenant_id, client_id and the secret"},
		{"client secret without tenant", base(func(c *api.CredsKeyConfig) {
			c.Auth, c.ClientID = api.AuthClientSecret, "00000000-0000-0000-0000-000000000001"
		}), true, "needs tenant_id"},
		{"client secret bad client", base(func(c *api.CredsKeyConfig) {
			c.Auth, c.TenantID, c.ClientID = api.AuthClientSecret, "contoso.com", "app"
		}), true, "needs client_id"},
		{"client secret without secret", base(func(c *api.CredsKeyConfig) {
			c.Auth, c.TenantID, c.ClientID = api.AuthClientSecret, "contoso.com", "00000000-0000-0000-0000-000000000001"
		}), false, "client secret as the creds key's secret"},
		{"shared key without secret", base(func(c *api.CredsKeyConfig) { c.Auth = api.AuthSharedKey }), false, "account key as the creds key's secret"},
		{"shared key with tenant", base(func(c *api.CredsKeyConfig) { c.Auth, c.TenantID = api.AuthSharedKey, "contoso.com" }), true, "leave out tenant_id"},
		{"endpoint not http", base(func(c *api.CredsKeyConfig) { c.Endpoint = "ftp://acme1.example.com" }), false, "not an http:// or https:// URL"},
		{"endpoint plain http on a name", base(func(c *api.CredsKeyConfig) { c.Endpoint = "http://acme1.example.com" }), false, "plain http is only for an emulator"},
		{"endpoint other path", base(func(c *api.CredsKeyConfig) { c.Endpoint = "https://blob.example.com/other1" }), false, "has a path other than the account's (/acme1)"},
		{"endpoint query", base(func(c *api.CredsKeyConfig) { c.Endpoint = "https://blob.example.com/?sig=x" }), false, "has a query"},
		{"endpoint user", base(func(c *api.CredsKeyConfig) { c.Endpoint = "https://u:p@blob.example.com" }), false, "user information"},
		{"endpoint internal, not allowed", base(func(c *api.CredsKeyConfig) { c.Endpoint = "http://127.0.0.1:10000/acme1" }), false,
			"tarn serve --allow-endpoint 127.0.0.1:10000"},
		{"endpoint metadata", base(func(c *api.CredsKeyConfig) { c.Endpoint = "https://169.254.169.254" }), false, "metadata"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := d.CheckConfig(context.Background(), tt.cfg, provider.ConfigCheck{Org: "acme", HasSecret: tt.hasSecret})
			if !errs.Is(errs.Invalid, err) {
				t.Fatalf("CheckConfig = %v, want an error of kind Invalid", err)
			}
			msg := errs.DetailOf(err)
			if !strings.Contains(msg, tt.want) || strings.Contains(msg, "\n") {
				t.Errorf("error %q: want one line containing %q", msg, tt.want)
			}
		})
	}
}

// sharedKeyVend vends through a Vendor for a shared-key creds key of the emulator account.
func sharedKeyVend(t *testing.T, cfg api.CredsKeyConfig, loc, mode string, ttl time.Duration) (*api.Credentials, error) {
	t.Helper()
	d := newDriver(t, "127.0.0.1:10000")
	v := provider.New(map[string]provider.Driver{Name: d}, func() time.Time { return t0 })
	cfg.Account, cfg.Auth = emuAccount, api.AuthSharedKey
	raw, err := v.CheckConfig(context.Background(), Name, cfg, provider.ConfigCheck{Org: "acme", HasSecret: true})
	if err != nil {
		t.Fatal(err)
	}
	key, err := provider.Decode(store.CredsKey{Org: "acme", Name: "az", Version: 1, Config: raw})
	if err != nil {
		t.Fatal(err)
	}
	key.Secret = []byte(emuKey)
	l, err := location.ParseStorage(loc)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.CheckLocation(Name, key, l); err != nil {
		return nil, err
	}
	return v.Vend(context.Background(), Name, provider.Request{Key: key, Location: l, Mode: mode, TTL: ttl})
}

// expectedSignature is the shared-key signature of a service SAS over resource (the
// canonical "/blob/account/container[/directory]") with the fields of q, computed here
// from Azure's documented string-to-sign rather than by the SDK.
func expectedSignature(t *testing.T, resource string, q url.Values) string {
	t.Helper()
	fields := []string{q.Get("sp"), q.Get("st"), q.Get("se"), resource, "", "", q.Get("spr"), q.Get("sv"), q.Get("sr"),
		"", "", "", "", "", "", ""}
	k, err := base64.StdEncoding.DecodeString(emuKey)
	if err != nil {
		t.Fatal(err)
	}
	h := hmac.New(sha256.New, k)
	h.Write([]byte(strings.Join(fields, "\n")))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

func TestVendSignedFields(t *testing.T) {
	emu := api.CredsKeyConfig{Endpoint: emuURL}
	tests := []struct {
		name     string
		cfg      api.CredsKeyConfig
		loc      string
		mode     string
		ttl      time.Duration
		sp, sr   string
		sdd      string
		resource string
		prefix   string
	}{
		{"container read", api.CredsKeyConfig{Roots: []string{"az://devstoreaccount1/data"}}, "az://devstoreaccount1/data", api.ModeRead, time.Hour,
			"rl", "c", "", "/blob/devstoreaccount1/data", ""},
		{"container write", api.CredsKeyConfig{Roots: []string{"az://devstoreaccount1/data"}}, "az://devstoreaccount1/data", api.ModeWrite, 15 * time.Minute,
			"racwdl", "c", "", "/blob/devstoreaccount1/data", ""},
		{"directory read", api.CredsKeyConfig{Roots: []string{"az://devstoreaccount1/data/ml"}, HierarchicalNamespace: true},
			"az://devstoreaccount1/data/ml/coco/2024", api.ModeRead, time.Hour, "rl", "d", "3", "/blob/devstoreaccount1/data/ml/coco/2024", "ml/coco/2024"},
		{"directory write", api.CredsKeyConfig{Roots: []string{"az://devstoreaccount1/data"}, HierarchicalNamespace: true},
			"az://devstoreaccount1/data/coco", api.ModeWrite, time.Hour, "racwdl", "d", "1", "/blob/devstoreaccount1/data/coco", "coco"},
		{"flat prefix, scope container", api.CredsKeyConfig{Roots: []string{"az://devstoreaccount1/data"}, Scope: api.ScopeContainer},
			"az://devstoreaccount1/data/coco", api.ModeRead, time.Hour, "rl", "c", "", "/blob/devstoreaccount1/data", "coco"},
	}
	for _, tt := range tests {
		for _, endpoint := range []string{"", emu.Endpoint} {
			name := tt.name + " on Azure"
			if endpoint != "" {
				name = tt.name + " on the emulator"
			}
			t.Run(name, func(t *testing.T) {
				cfg := tt.cfg
				cfg.Endpoint = endpoint
				c, err := sharedKeyVend(t, cfg, tt.loc, tt.mode, tt.ttl)
				if err != nil {
					t.Fatal(err)
				}
				q, err := url.ParseQuery(c.Azure.SASToken)
				if err != nil {
					t.Fatal(err)
				}
				wantSpr, wantEndpoint := "https", "https://devstoreaccount1.blob.core.windows.net"
				if endpoint != "" {
					wantSpr, wantEndpoint = "https,http", emuURL
				}
				checks := [][3]string{
					{"sp", q.Get("sp"), tt.sp}, {"sr", q.Get("sr"), tt.sr}, {"sdd", q.Get("sdd"), tt.sdd}, {"spr", q.Get("spr"), wantSpr},
					{"st", q.Get("st"), t0.Add(-Backdate).Format(time.RFC3339)}, {"se", q.Get("se"), t0.Add(tt.ttl).Format(time.RFC3339)},
					{"sig", q.Get("sig"), expectedSignature(t, tt.resource, q)},
					{"endpoint", c.Azure.Endpoint, wantEndpoint}, {"container", c.Azure.Container, "data"}, {"prefix", c.Azure.Prefix, tt.prefix},
					{"account", c.Azure.Account, emuAccount}, {"expires_at", c.ExpiresAt.Format(time.RFC3339), t0.Add(tt.ttl).Format(time.RFC3339)},
				}
				for _, ch := range checks {
					if ch[1] != ch[2] {
						t.Errorf("%s = %q, want %q", ch[0], ch[1], ch[2])
					}
				}
				if c.Provider != Name || c.Mode != tt.mode || c.Location != tt.loc {
					t.Errorf("answer %s %s %s, want %s %s %s", c.Provider, c.Mode, c.Location, Name, tt.mode, tt.loc)
				}
			})
		}
	}
}

// TestFlatPrefixRefused: a prefix on a flat account never gets a container SAS silently,
// neither at registration (CheckLocation) nor at a vend.
func TestFlatPrefixRefused(t *testing.T) {
	_, err := sharedKeyVend(t, api.CredsKeyConfig{Roots: []string{"az://devstoreaccount1/data"}}, "az://devstoreaccount1/data/coco", api.ModeRead, time.Hour)
	if !errs.Is(errs.Invalid, err) || !strings.Contains(errs.DetailOf(err), "--scope container") {
		t.Fatalf("registering a flat prefix: %v, want the error naming the options", err)
	}
	d := newDriver(t)
	key := provider.Key{Org: "acme", Name: "az", Secret: []byte(emuKey), Config: api.CredsKeyConfig{
		Roots: []string{"az://devstoreaccount1/data"}, Account: emuAccount, Auth: api.AuthSharedKey, Scope: api.ScopeDirectory,
		Endpoint: publicEndpoint(emuAccount)}}
	c, err := d.Vend(context.Background(), provider.Request{Key: key, Location: location.Location{Scheme: location.AZ, Account: emuAccount, Container: "data", Path: "coco"}, Mode: api.ModeRead})
	if c != nil || !errs.Is(errs.Invalid, err) {
		t.Fatalf("vend for a flat prefix = %+v, %v; want a refusal", c, err)
	}
}

func TestVendRefusesBadAccountKey(t *testing.T) {
	d := newDriver(t)
	key := provider.Key{Org: "acme", Name: "az", Secret: []byte("not base64!"), Config: api.CredsKeyConfig{
		Roots: []string{"az://devstoreaccount1/data"}, Account: emuAccount, Auth: api.AuthSharedKey, Endpoint: publicEndpoint(emuAccount)}}
	_, err := d.Vend(context.Background(), provider.Request{Key: key, Location: location.Location{Scheme: location.AZ, Account: emuAccount, Container: "data"}, Mode: api.ModeRead})
	if !errs.Is(errs.Invalid, err) || strings.Contains(err.Error(), "not base64!") {
		t.Fatalf("vend with a bad account key: %v; want Invalid without the secret", err)
	}
}
