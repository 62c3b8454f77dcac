package console_test

import (
	"strings"
	"testing"

	"github.com/tarnhq/tarn/internal/browsertest"
)

// TestAccessInABrowser walks the workload identity and token pages in headless Chromium as
// an admin would: add an Azure identity with Display Name, Client ID and Tenant ID, see its
// snippet, look at the other kinds' forms, remove it; create a token, see it once, revoke
// it. It saves a screenshot of each page.
func TestAccessInABrowser(t *testing.T) {
	e := newIdentityEnv(t)
	p := browsertest.New(t)
	e.signIn(p, e.AdminToken)

	p.Navigate(e.url + "/orgs/local/identities")
	p.Screenshot("identities-empty")
	p.Fill("#name", "trainer")
	p.Fill("#display_name", "ML trainer (prod)")
	p.Fill("#client_id", idClient)
	p.Fill("#tenant_id", idTenant)
	p.Submit("#tenant_id")
	if !strings.HasSuffix(p.URL(), "/orgs/local/identities/trainer") || !strings.Contains(p.Text("#snippet"), "TARN_AUTH_PROVIDER=azure") {
		t.Fatalf("after adding: %s, want the identity's page with its snippet", p.URL())
	}
	p.Screenshot("identity-azure")
	p.Navigate(e.url + "/orgs/local/identities")
	if !strings.Contains(p.Text("table"), "ML trainer (prod)") {
		t.Errorf("the list lacks the display name: %q", p.Text("table"))
	}
	p.Screenshot("identities-list")
	for _, kind := range []string{"github", "kubernetes", "oidc"} {
		p.Fill("#kind", kind)
		p.Submit("#kind")
		if !strings.Contains(p.URL(), "provider="+kind) {
			t.Errorf("choosing %s led to %s", kind, p.URL())
		}
		p.Screenshot("identities-form-" + kind)
	}
	p.Navigate(e.url + "/orgs/local/identities/trainer")
	p.Submit("form button.danger")
	if got := p.Text("main"); !strings.Contains(got, "Identity trainer removed") {
		t.Errorf("after removal: %q", got)
	}

	p.Navigate(e.url + "/tokens")
	p.Screenshot("tokens")
	p.Fill("#name", "training-job")
	p.Fill("#org", "local")
	p.Fill("#role", "reader")
	p.Fill("#ttl_seconds", "86400")
	p.Submit("#ttl_seconds")
	tok := p.Text("#new-token")
	if !strings.HasPrefix(tok, "tarn_") || !strings.Contains(p.Text("main"), "you will not see it again") {
		t.Fatalf("the created token is not shown: %q", p.Text("main"))
	}
	p.Screenshot("token-created")
	p.Navigate(e.url + "/tokens")
	if strings.Contains(p.Text("main"), tok) {
		t.Error("/tokens shows the token again")
	}
	p.Submit("tr:not(:has(.current)) form[action$='/revoke'] button")
	if got := p.Text("main"); !strings.Contains(got, "revoked") {
		t.Errorf("after revoking: %q", got)
	}
	p.Screenshot("tokens-revoked")
}
