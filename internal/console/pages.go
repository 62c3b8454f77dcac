package console

import (
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
	"time"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/errs"
)

// funcs are the template functions every page may use.
var funcs = template.FuncMap{
	// when shows a time the way tables do: UTC to the minute, or "never" for the zero time.
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	// navItem is an entry of the nav, current when it is the page's section.
	"navItem": func(p page, section, href, label string) navItem {
		return navItem{Href: href, Label: label, Current: p.Section == section}
	},
	// copyBlock is the text of a "copy" part, in the element with the given ID.
	"copyBlock": func(id, text string) copyBlock { return copyBlock{ID: id, Text: text} },
	// roleSelect is the role select of a member form (templates/members.html).
	"roleSelect": func(id, selected string) roleSelect { return roleSelect{ID: id, Selected: selected} },
	// keySelect is the creds key select of a dataset form (templates/org.html).
	"keySelect": func(id string, keys []api.CredsKey, selected, dflt string) keySelect {
		return keySelect{ID: id, Keys: keys, Selected: selected, Default: dflt}
	},
	// keyField is an input of form f named name (its API JSON name) for the "keyfield" part
	// of the creds key pages: its label, hint, value typed and the error about it.
	"keyField": func(f *form, name, label, hint string) keyField {
		return keyField{Name: name, Label: label, Hint: hint, Value: f.Value(name), Error: f.ErrorFor(name)}
	},
}

type roleSelect struct{ ID, Selected string }

// Roles returns the roles of an org, weakest first.
func (roleSelect) Roles() []string { return []string{"reader", "writer", "admin"} }

type keySelect struct {
	ID       string
	Keys     []api.CredsKey
	Selected string
	Default  string // the label of the empty choice; "" makes a choice required
}

type keyField struct{ Name, Label, Hint, Value, Error string }

type navItem struct {
	Href, Label string
	Current     bool
}

type copyBlock struct{ ID, Text string }

// layout returns the page frame of s in org ("" outside any org): who is signed in, the
// CSRF token of its forms, the orgs the nav lists with the user's role in org, and the
// flash message the last action left, which it clears.
func (c *Console) layout(w http.ResponseWriter, r *http.Request, s *session, org, section, title string) (page, error) {
	me, err := c.api.Whoami(apiContext(r, s))
	if err != nil {
		return page{}, err
	}
	p := page{Title: title, User: s.principal.Name(), Superuser: me.Superuser, CSRF: s.csrf, Org: org, Section: section,
		Nav: true, Orgs: me.Orgs}
	member := false
	for _, m := range me.Orgs {
		if m.Org == org {
			p.Role, member = m.Role, true
		}
	}
	if org != "" && !member {
		// A superuser on the pages of an org it has no role in: the nav lists it all the same.
		p.Orgs = append(p.Orgs, api.Membership{Org: org})
	}
	if ck, _ := r.Cookie(flashCookie); ck != nil {
		if msg, err := base64.RawURLEncoding.DecodeString(ck.Value); err == nil {
			p.Flash = string(msg)
		}
		c.clearCookie(w, r, flashCookie)
	}
	return p, nil
}

// flashCookie carries the message of an action to the page the browser is sent to next.
const flashCookie = "tarn_flash"

// done ends a successful form post: it leaves msg for the next page and sends the browser
// to to (post, redirect, get), so reloading that page does not post the form again.
func (c *Console) done(w http.ResponseWriter, r *http.Request, to, msg string) {
	c.setCookie(w, r, flashCookie, base64.RawURLEncoding.EncodeToString([]byte(msg)), time.Minute)
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// form is a posted form shown again after the API refused it: the values sent, so nothing
// typed is lost (never a secret: pages do not echo password inputs), and the API's error
// at the field it names.
type form struct {
	values url.Values
	err    error
	shown  bool
}

// newForm returns the form of r refused with err; nil err makes an empty form.
func newForm(r *http.Request, err error) *form {
	f := &form{err: apiError(err)}
	if err != nil {
		f.values = r.PostForm
	}
	return f
}

// Value returns the value posted for name, or "" for a fresh form.
func (f *form) Value(name string) string { return f.values.Get(name) }

// ErrorFor returns the error when it is about the field name (its API JSON name, which is
// also the input's name), and marks it shown.
func (f *form) ErrorFor(name string) string {
	if f.err == nil || errs.FieldOf(f.err) != name {
		return ""
	}
	f.shown = true
	return errs.DetailOf(f.err)
}

// Error returns the error unless ErrorFor has shown it at its field: templates call it
// after the form's fields.
func (f *form) Error() string {
	if f.err == nil || f.shown {
		return ""
	}
	return errs.DetailOf(f.err)
}

// status is the status of a page showing f again: the API's, 200 for a fresh form.
func (f *form) status() int {
	if f.err == nil {
		return http.StatusOK
	}
	return errs.Status(errs.KindOf(f.err))
}

// orgs serves /: the orgs the signed-in user has a role in.
func (c *Console) orgs(w http.ResponseWriter, r *http.Request, s *session) {
	p, err := c.layout(w, r, s, "", "orgs", "Your orgs")
	if err != nil {
		c.fail(w, s, err)
		return
	}
	p.Data = p.Orgs
	c.render(w, http.StatusOK, "orgs", p)
}
