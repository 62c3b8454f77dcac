package console_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// userNames returns the names of every user, read through the API as the admin.
func userNames(t *testing.T, e *env) []string {
	t.Helper()
	users, err := e.Admin(t).Users(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, u := range users {
		names = append(names, u.Name)
	}
	return names
}

func TestAdminCreatesAUserWhoseTokenSignsIn(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	b.mustLogin(e.AdminToken)
	list := b.wantPage("/admin/users")
	if !strings.Contains(list.body, "<td>admin</td>") || !strings.Contains(list.body, `action="/admin/users"`) {
		t.Fatalf("/admin/users lacks the admin user or the create form:\n%s", list.body)
	}
	r := b.post("/admin/users", url.Values{"csrf": {b.csrf(list)}, "name": {"carol"}, "superuser": {"on"}}, e.url)
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("create user: %s, want 201:\n%s", r.Status, r.body)
	}
	m := newTokenBlock.FindStringSubmatch(r.body)
	if m == nil || !strings.Contains(r.body, "You will not see it again") {
		t.Fatalf("the created user's token is not shown once in a copy block:\n%s", r.body)
	}
	token := html.UnescapeString(m[1])
	if !strings.Contains(r.body, "<td>carol</td>") {
		t.Error("the page after creating carol does not list her")
	}
	if r.Header.Get("Cache-Control") != "no-store" || strings.Contains(r.Header.Get("Location"), token) {
		t.Error("the page with the token may be cached, or the token is in a URL")
	}
	if again := b.wantPage("/admin/users"); strings.Contains(again.body, token) {
		t.Error("the token is shown again on a later visit of /admin/users")
	}

	carol := e.browser(t)
	carol.mustLogin(token)
	if page := carol.wantPage("/"); !strings.Contains(page.body, "carol") || !strings.Contains(page.body, "superuser") {
		t.Errorf("signed in with carol's first token, / does not show carol as superuser:\n%s", page.body)
	}
}

func TestAdminPagesAreSuperusersOnly(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	b.mustLogin(e.NewUser(t, "olga", "local", "admin")) // an org admin, no superuser
	page := b.wantPage("/")
	if strings.Contains(page.body, `href="/admin/users"`) {
		t.Error("the nav of a non-superuser links the admin pages")
	}
	for _, path := range []string{"/admin/users", "/admin/orgs"} {
		if r := b.get(path); r.StatusCode != http.StatusForbidden || strings.Contains(r.body, "<td>admin</td>") {
			t.Errorf("GET %s as an org admin: %s, want 403 naming no one:\n%s", path, r.Status, r.body)
		}
	}
	csrf := b.csrf(page)
	for _, tc := range []struct{ path, name string }{{"/admin/users", "mallory"}, {"/admin/orgs", "evil"}} {
		if r := b.post(tc.path, url.Values{"csrf": {csrf}, "name": {tc.name}, "superuser": {"on"}}, e.url); r.StatusCode != http.StatusForbidden {
			t.Errorf("POST %s as an org admin: %s, want the API's 403", tc.path, r.Status)
		}
	}
	if names := userNames(t, e); slices.Contains(names, "mallory") {
		t.Errorf("a refused create-user made mallory: %q", names)
	}
	if _, err := e.Admin(t).Org(context.Background(), "evil"); err == nil {
		t.Error("a refused create-org made org evil")
	}
}

func TestAdminRefusedUserFormKeepsWhatWasTyped(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	b.mustLogin(e.AdminToken)
	csrf := b.csrf(b.wantPage("/admin/users"))
	for _, tc := range []struct {
		name, typed string
		status      int
		want        string
	}{
		{"invalid name", `<script>alert(1)</script>`, http.StatusBadRequest, `user name &#34;&lt;script&gt;alert(1)&lt;/script&gt;&#34; must match`},
		{"taken name", "admin", http.StatusConflict, `user &#34;admin&#34; already exists`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := b.post("/admin/users", url.Values{"csrf": {csrf}, "name": {tc.typed}, "superuser": {"on"}}, e.url)
			if r.StatusCode != tc.status {
				t.Fatalf("create user %q: %s, want %d", tc.typed, r.Status, tc.status)
			}
			if strings.Contains(r.body, "<script>alert") {
				t.Fatalf("the typed name is not escaped:\n%s", r.body)
			}
			input, at, box := strings.Index(r.body, `id="name"`), strings.Index(r.body, `<p class="field-error" role="alert">`+tc.want), strings.Index(r.body, `id="superuser"`)
			if input < 0 || at < input || box < at {
				t.Errorf("the API's error is not shown between the name input and the next field:\n%s", r.body)
			}
			if !strings.Contains(r.body, `value="`+html.EscapeString(tc.typed)+`"`) || !strings.Contains(r.body, `name="superuser" type="checkbox" checked`) {
				t.Errorf("the refused form lost what was typed:\n%s", r.body)
			}
		})
	}
}

func TestAdminCreatesAnOrgAndLinksIt(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	b.mustLogin(e.AdminToken)
	page := b.wantPage("/admin/orgs")
	if !strings.Contains(page.body, `<a href="/orgs/local">local</a>`) {
		t.Fatalf("/admin/orgs does not link org local:\n%s", page.body)
	}
	r := b.post("/admin/orgs", url.Values{"csrf": {b.csrf(page)}, "name": {"acme"}}, e.url)
	wantRedirect(t, "create org", r, "/admin/orgs")
	page = b.wantPage("/admin/orgs")
	if !strings.Contains(page.body, `<a href="/orgs/acme">acme</a>`) || !strings.Contains(page.body, "Org acme created") {
		t.Errorf("after creating acme, /admin/orgs lacks its link or the flash:\n%s", page.body)
	}
	b.wantPage("/orgs/acme")
	r = b.post("/admin/orgs", url.Values{"csrf": {b.csrf(page)}, "name": {"acme"}}, e.url)
	if r.StatusCode != http.StatusConflict || !strings.Contains(r.body, `<p class="field-error" role="alert">org &#34;acme&#34; already exists`) {
		t.Errorf("creating acme again: %s, want 409 with the error at the name field:\n%s", r.Status, r.body)
	}
}
