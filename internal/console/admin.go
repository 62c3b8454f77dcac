package console

import (
	"net/http"

	"github.com/tarnhq/tarn/api"
)

// adminRoutes registers the pages of this file: the superusers' lists of every user and
// every org. The API refuses them to everyone else, so they get its 403.
func (c *Console) adminRoutes() {
	c.mux.HandleFunc("GET /admin/users", c.signedIn(c.adminUsers))
	c.mux.HandleFunc("POST /admin/users", c.signedIn(c.adminCreateUser))
	c.mux.HandleFunc("GET /admin/orgs", c.signedIn(c.adminOrgs))
	c.mux.HandleFunc("POST /admin/orgs", c.signedIn(c.adminCreateOrg))
}

// adminUsersData is what /admin/users shows.
type adminUsersData struct {
	Users   []api.User
	Form    *form
	Created *api.CreateUserResponse // the user just created, with its first token, shown once
}

// adminUsers serves /admin/users: every user, and the form that creates one.
func (c *Console) adminUsers(w http.ResponseWriter, r *http.Request, s *session) {
	c.showUsers(w, r, s, adminUsersData{Form: newForm(r, nil)})
}

// adminCreateUser creates the posted user and shows its first token on the page it
// renders (never in a redirect or flash), the only time anyone sees it.
func (c *Console) adminCreateUser(w http.ResponseWriter, r *http.Request, s *session) {
	res, err := c.api.CreateUser(apiContext(r, s), api.CreateUserRequest{Name: r.PostFormValue("name"),
		Superuser: r.PostFormValue("superuser") == "on"})
	if err != nil {
		c.showUsers(w, r, s, adminUsersData{Form: newForm(r, err)})
		return
	}
	c.showUsers(w, r, s, adminUsersData{Form: newForm(r, nil), Created: res})
}

// showUsers renders /admin/users with d and the list of users, or the API's error page
// when the list is refused.
func (c *Console) showUsers(w http.ResponseWriter, r *http.Request, s *session, d adminUsersData) {
	users, err := c.api.Users(apiContext(r, s))
	if err != nil {
		c.fail(w, s, err)
		return
	}
	p, err := c.layout(w, r, s, "", "admin-users", "Users")
	if err != nil {
		c.fail(w, s, err)
		return
	}
	d.Users = users
	p.Data = d
	status := d.Form.status()
	if d.Created != nil {
		status = http.StatusCreated
	}
	c.render(w, status, "admin-users", p)
}

// adminOrgsData is what /admin/orgs shows.
type adminOrgsData struct {
	Orgs []api.Org
	Form *form
}

// adminOrgs serves /admin/orgs: every org, and the form that creates one.
func (c *Console) adminOrgs(w http.ResponseWriter, r *http.Request, s *session) {
	c.showOrgs(w, r, s, newForm(r, nil))
}

// adminCreateOrg creates the posted org and sends the browser to its page.
func (c *Console) adminCreateOrg(w http.ResponseWriter, r *http.Request, s *session) {
	org, err := c.api.CreateOrg(apiContext(r, s), r.PostFormValue("name"))
	if err != nil {
		c.showOrgs(w, r, s, newForm(r, err))
		return
	}
	c.done(w, r, "/admin/orgs", "Org "+org.Name+" created. Add its first admin on its Members page.")
}

// showOrgs renders /admin/orgs with f, or the API's error page when the list is refused.
func (c *Console) showOrgs(w http.ResponseWriter, r *http.Request, s *session, f *form) {
	orgs, err := c.api.Orgs(apiContext(r, s))
	if err != nil {
		c.fail(w, s, err)
		return
	}
	p, err := c.layout(w, r, s, "", "admin-orgs", "All orgs")
	if err != nil {
		c.fail(w, s, err)
		return
	}
	p.Data = adminOrgsData{Orgs: orgs, Form: f}
	c.render(w, f.status(), "admin-orgs", p)
}
