package console

import "net/http"

// layout returns the page frame of s: who is signed in, the CSRF token of its forms and
// the orgs the nav lists.
func (c *Console) layout(r *http.Request, s *session, title string) (page, error) {
	orgs, err := c.authz.Orgs(r.Context(), s.principal)
	return page{Title: title, User: s.principal.Name(), CSRF: s.csrf, Nav: true, Orgs: orgs}, err
}

// orgs serves /: the orgs the signed-in user has a role in.
func (c *Console) orgs(w http.ResponseWriter, r *http.Request, s *session) {
	p, err := c.layout(r, s, "Your orgs")
	if err != nil {
		c.fail(w, s, err)
		return
	}
	p.Data = p.Orgs
	c.render(w, http.StatusOK, "orgs", p)
}

// org serves /orgs/{org}: its datasets, to anyone the API admits to the org (authz.Admit:
// a reader or more, or a superuser).
func (c *Console) org(w http.ResponseWriter, r *http.Request, s *session) {
	org := r.PathValue("org")
	ctx := r.Context()
	if err := c.authz.Admit(ctx, s.principal, org); err != nil {
		c.fail(w, s, err)
		return
	}
	ds, err := c.store.Datasets(ctx, org)
	if err != nil {
		c.fail(w, s, err)
		return
	}
	p, err := c.layout(r, s, org)
	if err != nil {
		c.fail(w, s, err)
		return
	}
	p.Org, p.Data = org, ds
	c.render(w, http.StatusOK, "org", p)
}
