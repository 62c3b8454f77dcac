package console

import (
	"fmt"
	"net/http"

	"github.com/tarnhq/tarn/api"
)

// memberRoutes registers the pages of this file.
func (c *Console) memberRoutes() {
	c.mux.HandleFunc("GET /orgs/{org}/members", c.signedIn(c.members))
	c.mux.HandleFunc("POST /orgs/{org}/members", c.signedIn(c.putMember))
	c.mux.HandleFunc("POST /orgs/{org}/members/{user}", c.signedIn(c.putMember))
	c.mux.HandleFunc("POST /orgs/{org}/members/{user}/remove", c.signedIn(c.removeMember))
}

// membersData is what /orgs/{org}/members shows.
type membersData struct {
	Members []api.Membership
	Add     *form  // the add form
	Change  *form  // a refused role change or removal
	User    string // whose role change or removal was refused
}

// members serves /orgs/{org}/members: the org's members with their roles, and for admins
// the forms that add, change and remove them.
func (c *Console) members(w http.ResponseWriter, r *http.Request, s *session) {
	c.showMembers(w, r, s, nil)
}

// showMembers renders the members page; a non-nil err is the refusal of the posted form:
// the add form's without a {user} in the path, a row's with one.
func (c *Console) showMembers(w http.ResponseWriter, r *http.Request, s *session, err error) {
	org := r.PathValue("org")
	ms, lerr := c.api.Members(apiContext(r, s), org)
	if lerr != nil {
		c.fail(w, s, lerr)
		return
	}
	p, lerr := c.layout(w, r, s, org, "members", "Members of "+org)
	if lerr != nil {
		c.fail(w, s, lerr)
		return
	}
	d := membersData{Members: ms, Add: newForm(r, nil), Change: newForm(r, nil), User: r.PathValue("user")}
	posted := newForm(r, err)
	if d.User == "" {
		d.Add = posted
	} else {
		d.Change = posted
	}
	p.Data = d
	c.render(w, posted.status(), "members", p)
}

// putMember serves POST /orgs/{org}/members (add the form's user) and
// POST /orgs/{org}/members/{user} (change the user's role), as `tarn org member add`.
func (c *Console) putMember(w http.ResponseWriter, r *http.Request, s *session) {
	org, user, verb := r.PathValue("org"), r.PathValue("user"), "Changed the role of"
	if user == "" {
		user, verb = r.PostFormValue("user"), "Added"
	}
	m, err := c.api.PutMember(apiContext(r, s), org, user, r.PostFormValue("role"))
	if err != nil {
		c.showMembers(w, r, s, err)
		return
	}
	c.done(w, r, "/orgs/"+org+"/members", fmt.Sprintf("%s %s: %s in %s.", verb, m.User, m.Role, org))
}

// removeMember serves POST /orgs/{org}/members/{user}/remove.
func (c *Console) removeMember(w http.ResponseWriter, r *http.Request, s *session) {
	org, user := r.PathValue("org"), r.PathValue("user")
	if err := c.api.DeleteMember(apiContext(r, s), org, user); err != nil {
		c.showMembers(w, r, s, err)
		return
	}
	c.done(w, r, "/orgs/"+org+"/members", fmt.Sprintf("Removed %s from %s.", user, org))
}
