package console

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/location"
)

// storageRoutes registers the page of an org's default storage and its set form.
func (c *Console) storageRoutes() {
	c.mux.HandleFunc("GET /orgs/{org}/storage", c.signedIn(c.storage))
	c.mux.HandleFunc("POST /orgs/{org}/storage", c.signedIn(c.setStorage))
}

// storageData is what the default storage page shows.
type storageData struct {
	Default *api.DefaultStorage // nil until set
	Next    string              // where a new dataset NAME goes: the base location joined with NAME
	Keys    []api.CredsKey      // the creds keys the set form offers
	Form    *form
}

// storage serves /orgs/{org}/storage.
func (c *Console) storage(w http.ResponseWriter, r *http.Request, s *session) {
	c.showStorage(w, r, s, newForm(r, nil))
}

func (c *Console) showStorage(w http.ResponseWriter, r *http.Request, s *session, f *form) {
	org := r.PathValue("org")
	ctx := apiContext(r, s)
	o, err := c.api.Org(ctx, org)
	if err != nil {
		c.fail(w, s, err)
		return
	}
	keys, err := c.api.CredsKeys(ctx, org)
	if err != nil {
		c.fail(w, s, err)
		return
	}
	p, err := c.layout(w, r, s, org, "storage", "Default storage")
	if err != nil {
		c.fail(w, s, err)
		return
	}
	d := storageData{Default: o.DefaultStorage, Keys: keys, Form: f}
	if o.DefaultStorage != nil {
		if base, err := location.ParseStorage(o.DefaultStorage.Location); err == nil {
			if next, err := base.Join("NAME"); err == nil {
				d.Next = next.String()
			}
		}
	}
	p.Data = d
	c.render(w, f.status(), "storage", p)
}

// setStorage sets the org's default storage from the form; the API checks that the creds
// key may vend for the location.
func (c *Console) setStorage(w http.ResponseWriter, r *http.Request, s *session) {
	org := r.PathValue("org")
	ds := api.DefaultStorage{Location: strings.TrimSpace(r.PostFormValue("location")), CredsKey: r.PostFormValue("creds_key")}
	if _, err := c.api.SetDefaultStorage(apiContext(r, s), org, ds); err != nil {
		if refill(err) {
			c.showStorage(w, r, s, newForm(r, err))
			return
		}
		c.fail(w, s, err)
		return
	}
	c.done(w, r, "/orgs/"+url.PathEscape(org)+"/storage", "Default storage set to "+ds.Location+".")
}
