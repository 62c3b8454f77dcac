package console

import (
	"net/http"
	"strconv"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/httpapi"
)

// ttlChoice is a lifetime the create form offers, in the API's ttl_seconds.
type ttlChoice struct {
	Seconds int64
	Label   string
}

// ttlChoices are the lifetimes of the create form, the API's default first.
var ttlChoices = []ttlChoice{
	{0, "the default (" + strconv.Itoa(int(httpapi.DefaultTokenTTL.Hours()/24)) + " days)"},
	{3600, "1 hour"}, {86400, "1 day"}, {7 * 86400, "7 days"}, {90 * 86400, "90 days"}, {365 * 86400, "1 year"},
	{-1, "never expires"},
}

// tokensData is the data of the tokens page.
type tokensData struct {
	Tokens  []tokenRow
	Orgs    []api.Membership // the orgs a token may be narrowed to: the user's, every org for a superuser
	TTLs    []ttlChoice
	Roles   []string
	Form    *form
	Created *api.CreateTokenResponse // the token just created, shown this once; nil otherwise
}

// tokenRow is a token of the list.
type tokenRow struct {
	api.Token
	Status  string // active, expired or revoked
	Current bool   // the session's own token
}

// tokenRoutes registers the pages of this file.
func (c *Console) tokenRoutes() {
	c.mux.HandleFunc("GET /tokens", c.signedIn(func(w http.ResponseWriter, r *http.Request, s *session) {
		c.showTokens(w, r, s, newForm(r, nil), nil)
	}))
	c.mux.HandleFunc("POST /tokens", c.signedIn(c.createToken))
	c.mux.HandleFunc("POST /tokens/{id}/revoke", c.signedIn(c.revokeToken))
}

// showTokens renders the user's tokens with the create form holding f, and created, a token
// just made, whose secret the page shows once.
func (c *Console) showTokens(w http.ResponseWriter, r *http.Request, s *session, f *form, created *api.CreateTokenResponse) {
	toks, err := c.api.Tokens(apiContext(r, s))
	if err != nil {
		c.fail(w, s, err)
		return
	}
	p, err := c.layout(w, r, s, "", "tokens", "API tokens")
	if err != nil {
		c.fail(w, s, err)
		return
	}
	d := tokensData{Orgs: p.Orgs, TTLs: ttlChoices, Roles: []string{api.RoleReader, api.RoleWriter, api.RoleAdmin}, Form: f, Created: created}
	if p.Superuser {
		all, err := c.api.Orgs(apiContext(r, s))
		if err != nil {
			c.fail(w, s, err)
			return
		}
		d.Orgs = nil
		for _, o := range all {
			role := "superuser"
			for _, m := range p.Orgs {
				if m.Org == o.Name {
					role = m.Role
				}
			}
			d.Orgs = append(d.Orgs, api.Membership{Org: o.Name, Role: role})
		}
	}
	now := c.now()
	for _, t := range toks {
		d.Tokens = append(d.Tokens, tokenRow{Token: t, Status: t.Status(now), Current: t.ID == s.principal.TokenID})
	}
	p.Data = d
	c.render(w, f.status(), "tokens", p)
}

// createToken mints the posted token through the API and shows it on the answer itself,
// the only page that ever holds it: no redirect, no flash message, no log.
func (c *Console) createToken(w http.ResponseWriter, r *http.Request, s *session) {
	req := api.CreateTokenRequest{Name: r.PostFormValue("name"), Org: r.PostFormValue("org"), Role: r.PostFormValue("role")}
	ttl, err := strconv.ParseInt(r.PostFormValue("ttl_seconds"), 10, 64)
	if err != nil {
		err = errs.E(errs.Invalid, "choose the token's lifetime from the list").In("ttl_seconds")
	}
	var res *api.CreateTokenResponse
	if err == nil {
		req.TTLSeconds = ttl
		res, err = c.api.CreateToken(apiContext(r, s), req)
	}
	if err != nil {
		c.showTokens(w, r, s, newForm(r, err), nil)
		return
	}
	c.showTokens(w, r, s, newForm(r, nil), res)
}

// revokeToken revokes a token of the user through the API. Revoking the session's own token
// ends the session, so the browser goes to the sign-in page.
func (c *Console) revokeToken(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	if err := c.api.RevokeToken(apiContext(r, s), id); err != nil {
		c.fail(w, s, err)
		return
	}
	if id == s.principal.TokenID {
		c.logout(w, r, s)
		return
	}
	c.done(w, r, "/tokens", "Token "+id+" revoked: it stops working on its next request.")
}
