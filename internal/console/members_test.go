package console_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// roles returns the members of org local as "user:role", sorted.
func (e *env) roles(t *testing.T) []string {
	t.Helper()
	ms, err := e.Admin(t).Members(context.Background(), "local")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		out = append(out, m.User+":"+m.Role)
	}
	slices.Sort(out)
	return out
}

func TestMembersAddChangeRemove(t *testing.T) {
	e := newEnv(t)
	e.NewUser(t, "bob", "", "")
	admin := e.browser(t)
	admin.mustLogin(e.AdminToken)
	const page = "/orgs/local/members"

	wantRedirect(t, "add", admin.submit(page, page, url.Values{"user": {"bob"}, "role": {"writer"}}), page)
	body := admin.wantPage(page).body
	if !strings.Contains(body, "Added bob: writer in local.") || !strings.Contains(body, `<option value="writer" selected>`) {
		t.Errorf("after adding bob the page should say so and show his role:\n%s", body)
	}
	if got := e.roles(t); !slices.Equal(got, []string{"admin:admin", "bob:writer"}) {
		t.Fatalf("members after add: %v", got)
	}

	wantRedirect(t, "change", admin.submit(page, page+"/bob", url.Values{"role": {"admin"}}), page)
	if got := e.roles(t); !slices.Equal(got, []string{"admin:admin", "bob:admin"}) {
		t.Fatalf("members after change: %v", got)
	}

	wantRedirect(t, "remove", admin.submit(page, page+"/bob/remove", url.Values{}), page)
	if got := e.roles(t); !slices.Equal(got, []string{"admin:admin"}) {
		t.Fatalf("members after remove: %v", got)
	}
	if body := admin.wantPage(page).body; !strings.Contains(body, "Removed bob from local.") || strings.Contains(body, "<td>bob") {
		t.Errorf("after removing bob the page should say so and not list him:\n%s", body)
	}
}

func TestMemberFormRefused(t *testing.T) {
	e := newEnv(t)
	e.NewUser(t, "bob", "", "")
	admin := e.browser(t)
	admin.mustLogin(e.AdminToken)
	const page = "/orgs/local/members"
	for _, tc := range []struct {
		name       string
		form       url.Values
		status     int
		field, msg string
	}{
		{"unknown user", url.Values{"user": {"nobody"}, "role": {"reader"}}, http.StatusNotFound, "user", `user &#34;nobody&#34; not found`},
		{"bad role", url.Values{"user": {"bob"}, "role": {"owner"}}, http.StatusBadRequest, "role", `role &#34;owner&#34; is not reader, writer or admin`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := admin.submit(page, page, tc.form)
			if r.StatusCode != tc.status {
				t.Fatalf("%s: %s, want %d", tc.name, r.Status, tc.status)
			}
			if got := fieldError(r.body, tc.field); got != tc.msg {
				t.Errorf("error at the %s input: %q, want %q", tc.field, got, tc.msg)
			}
			if !strings.Contains(r.body, `value="`+tc.form.Get("user")+`"`) {
				t.Errorf("the refused form lost the typed user name")
			}
		})
	}
	if got := e.roles(t); !slices.Equal(got, []string{"admin:admin"}) {
		t.Errorf("refused forms changed the members: %v", got)
	}
}

func TestWriterCannotManageMembers(t *testing.T) {
	e := newEnv(t)
	e.NewUser(t, "bob", "local", "reader")
	writer := e.browser(t)
	writer.mustLogin(e.NewUser(t, "wes", "local", "writer"))
	const page = "/orgs/local/members"
	body := writer.wantPage(page).body
	if !strings.Contains(body, "<td>bob</td>") || strings.Contains(body, "<form method=\"post\" action=\"/orgs/local/members") {
		t.Errorf("a writer should see the members and no forms:\n%s", body)
	}
	before := e.roles(t)
	for _, tc := range []struct {
		name, path string
		form       url.Values
	}{
		{"add", page, url.Values{"user": {"wes"}, "role": {"admin"}}},
		{"change", page + "/bob", url.Values{"role": {"admin"}}},
		{"remove", page + "/bob/remove", url.Values{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := writer.submit(page, tc.path, tc.form)
			if r.StatusCode != http.StatusForbidden || !strings.Contains(r.body, `class="error"`) {
				t.Errorf("a writer's %s: %s, want the API's 403 shown:\n%s", tc.name, r.Status, r.body)
			}
		})
	}
	if after := e.roles(t); !slices.Equal(before, after) {
		t.Errorf("a writer's posts changed the members: %v, then %v", before, after)
	}
}
