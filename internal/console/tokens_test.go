package console_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/tarnhq/tarn/api"
)

var newTokenBlock = regexp.MustCompile(`<pre id="new-token">(tarn_[^<]+)</pre>`)

func TestTokenCreatedIsShownOnce(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	b.mustLogin(e.NewUser(t, "alice", "local", "writer"))
	r := b.submit("/tokens", "/tokens", url.Values{"name": {"training-job"}, "org": {"local"}, "role": {"reader"}, "ttl_seconds": {"86400"}})
	if r.StatusCode != http.StatusOK || r.Header.Get("Location") != "" {
		t.Fatalf("create token: %s to %q, want 200 showing the token", r.Status, r.Header.Get("Location"))
	}
	m := newTokenBlock.FindStringSubmatch(r.body)
	if m == nil || !strings.Contains(r.body, "you will not see it again") {
		t.Fatalf("the answer does not show the new token once with its warning:\n%s", r.body)
	}
	tok := m[1]
	who, err := e.Client(t, tok).Whoami(context.Background())
	if err != nil || who.User != "alice" || who.TokenOrg != "local" || who.TokenRole != "reader" {
		t.Fatalf("the shown token is %+v (%v), want alice's reader token of local", who, err)
	}
	list := b.wantPage("/tokens")
	if strings.Contains(list.body, tok) {
		t.Fatal("a reload of /tokens shows the token")
	}
	row := regexp.MustCompile(`(?s)<tr>\s*<td>training-job<br><code class="id">` + who.TokenID + `</code></td>\s*<td>local</td>\s*<td><span class="badge">reader</span></td>.*?</tr>`).FindString(list.body)
	if row == "" || !strings.Contains(row, "2026-01-03 03:04 UTC") || !strings.Contains(row, ">active<") {
		t.Errorf("the list lacks the row of the token (org local, role reader, expiring in a day):\n%s", list.body)
	}
	if strings.Count(list.body, "this session") != 1 {
		t.Errorf("want exactly the session's own token marked:\n%s", list.body)
	}
}

func TestTokenFormRefused(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	b.mustLogin(e.NewUser(t, "rita", "local", "reader"))
	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
		field  string // the input the error is shown after
		want   string
	}{
		{"role without org", url.Values{"name": {"job-1"}, "role": {"reader"}, "ttl_seconds": {"0"}}, 400, "org", "a token role needs an org"},
		{"role above mine", url.Values{"name": {"job-2"}, "org": {"local"}, "role": {"admin"}, "ttl_seconds": {"0"}}, 403, "role", "your role there is reader"},
		{"lifetime not in the list", url.Values{"name": {"job-3"}, "ttl_seconds": {"soon"}}, 400, "ttl_seconds", "choose the token&#39;s lifetime"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := b.submit("/tokens", "/tokens", tc.form)
			if r.StatusCode != tc.status {
				t.Fatalf("%s, want %d:\n%s", r.Status, tc.status, r.body)
			}
			in := strings.Index(r.body, `id="`+tc.field+`"`)
			msg := strings.Index(r.body, `<p class="field-error" role="alert">`)
			next := strings.Index(r.body[in+1:], "<label")
			if in < 0 || msg < in || next >= 0 && msg > in+1+next || !strings.Contains(r.body[msg:], tc.want) {
				t.Errorf("want %q right after input %s:\n%s", tc.want, tc.field, r.body)
			}
			if !strings.Contains(r.body, `value="`+tc.form.Get("name")+`"`) || newTokenBlock.MatchString(r.body) {
				t.Errorf("the refused form lost the name, or shows a token:\n%s", r.body)
			}
		})
	}
}

func TestRevokeTokens(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tok := e.NewUser(t, "alice", "local", "writer")
	alice := e.Client(t, tok)
	other, err := alice.CreateToken(ctx, api.CreateTokenRequest{Name: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	b := e.browser(t)
	b.mustLogin(tok)
	wantRedirect(t, "revoke ci", b.submit("/tokens", "/tokens/"+other.TokenInfo.ID+"/revoke", nil), "/tokens")
	if page := b.wantPage("/tokens"); !strings.Contains(page.body, "Token "+other.TokenInfo.ID+" revoked") || !strings.Contains(page.body, ">revoked<") {
		t.Errorf("after revoking ci, /tokens does not say so:\n%s", page.body)
	}
	if _, err := e.Client(t, other.Token).Whoami(ctx); err == nil {
		t.Error("the revoked token still works")
	}

	// Another user's token: the API answers 404, and the token keeps working.
	bobTok := e.NewUser(t, "bob", "local", "reader")
	bob, err := e.Client(t, bobTok).Whoami(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r := b.submit("/tokens", "/tokens/"+bob.TokenID+"/revoke", nil); r.StatusCode != http.StatusNotFound {
		t.Errorf("revoke bob's token as alice: %s, want 404", r.Status)
	}
	if _, err := e.Client(t, bobTok).Whoami(ctx); err != nil {
		t.Errorf("bob's token after alice's attempt: %v", err)
	}

	// The session's own token: revoking it signs the session out.
	me, err := alice.Whoami(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantRedirect(t, "revoke own token", b.submit("/tokens", "/tokens/"+me.TokenID+"/revoke", nil), "/login")
	b.wantLogin("/tokens")
	if _, err := alice.Whoami(ctx); err == nil {
		t.Error("the session's token still works after its revocation")
	}
}
