package console

import (
	"net/http"
	"strings"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/client"
	"github.com/tarnhq/tarn/internal/errs"
)

// identityKind is a kind of workload identity the add form offers.
type identityKind struct{ Value, Label string }

// identityKinds are the choices of the add form's kind select, in its order.
var identityKinds = []identityKind{
	{api.IdentityAzure, "Azure managed identity"},
	{api.IdentityGitHub, "GitHub Actions"},
	{api.IdentityKubernetes, "Kubernetes service account"},
	{api.IdentityOIDC, "Other OIDC workload"},
}

// identitiesData is the data of the identities page.
type identitiesData struct {
	Identities []api.Identity
	Kinds      []identityKind
	Kind       string // the kind whose fields the add form shows
	Form       *form
	Refused    string // why the API did not list the identities to this member, or ""
}

// identityData is the data of an identity's page.
type identityData struct {
	ID      *api.Identity
	Snippet string // what the workload sets and runs to log in as the identity
}

// identityRoutes registers the pages of this file.
func (c *Console) identityRoutes() {
	c.mux.HandleFunc("GET /orgs/{org}/identities", c.signedIn(func(w http.ResponseWriter, r *http.Request, s *session) {
		c.showIdentities(w, r, s, r.FormValue("provider"), newForm(r, nil))
	}))
	c.mux.HandleFunc("POST /orgs/{org}/identities", c.signedIn(c.addIdentity))
	c.mux.HandleFunc("GET /orgs/{org}/identities/{name}", c.signedIn(c.identity))
	c.mux.HandleFunc("POST /orgs/{org}/identities/{name}/delete", c.signedIn(c.deleteIdentity))
}

// showIdentities renders the identities of the path's org with the add form for kind (the
// first kind when it names none) holding f. A member the API does not list them to (not an
// admin) sees why instead; anyone else gets the API's error page.
func (c *Console) showIdentities(w http.ResponseWriter, r *http.Request, s *session, kind string, f *form) {
	org := r.PathValue("org")
	ids, err := c.api.Identities(apiContext(r, s), org)
	p, lerr := c.layout(w, r, s, org, "identities", "Workload identities")
	if lerr != nil {
		c.fail(w, s, lerr)
		return
	}
	d := identitiesData{Identities: ids, Kinds: identityKinds, Kind: identityKinds[0].Value, Form: f}
	if err != nil {
		if p.Role == "" || !errs.Is(errs.Permission, apiError(err)) {
			c.fail(w, s, err)
			return
		}
		d.Refused = errs.DetailOf(apiError(err))
	}
	for _, k := range identityKinds {
		if k.Value == kind {
			d.Kind = kind
		}
	}
	p.Data = d
	c.render(w, f.status(), "identities", p)
}

// addIdentity registers the posted identity through the API and sends the browser to its
// page, which shows what the workload needs. A refused form is shown again with the API's
// error; a refusal of the user (403, 404) is the error page.
func (c *Console) addIdentity(w http.ResponseWriter, r *http.Request, s *session) {
	org, v := r.PathValue("org"), r.PostFormValue
	id := api.Identity{Name: v("name"), DisplayName: v("display_name"), Provider: v("provider"), Role: v("role"),
		TenantID: v("tenant_id"), ClientID: v("client_id"),
		Repository: v("repository"), RepositoryID: v("repository_id"), OwnerID: v("owner_id"), Ref: v("ref"), Environment: v("environment"),
		Issuer: v("issuer"), Subject: v("subject")}
	if ns, sa := v("namespace"), v("service_account"); ns != "" || sa != "" {
		id.ServiceAccount = ns + "/" + sa
	}
	claims, err := parseClaims(v("claims"))
	if err == nil {
		id.Claims = claims
		_, err = c.api.PutIdentity(apiContext(r, s), org, id)
	}
	if k := errs.KindOf(apiError(err)); err != nil && (k == errs.Permission || k == errs.NotFound) {
		c.fail(w, s, err)
		return
	}
	if err != nil {
		c.showIdentities(w, r, s, id.Provider, newForm(r, err))
		return
	}
	c.done(w, r, "/orgs/"+org+"/identities/"+id.Name, "Identity "+id.Name+" saved. Set up the workload as shown below.")
}

// parseClaims reads the claims textarea: one KEY=VALUE a line, blank lines skipped; nil for
// none.
func parseClaims(text string) (map[string]string, error) {
	var claims map[string]string
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		k, val, ok := strings.Cut(line, "=")
		if !ok {
			return nil, errs.E(errs.Invalid, "claim %q is not KEY=VALUE: write one claim a line, such as team=ml", line).In("claims")
		}
		if claims == nil {
			claims = map[string]string{}
		}
		claims[strings.TrimSpace(k)] = strings.TrimSpace(val)
	}
	return claims, nil
}

// identity serves an identity's page: what it matches, and the snippet its workload needs.
func (c *Console) identity(w http.ResponseWriter, r *http.Request, s *session) {
	org := r.PathValue("org")
	id, err := c.api.Identity(apiContext(r, s), org, r.PathValue("name"))
	if err != nil {
		c.fail(w, s, err)
		return
	}
	p, err := c.layout(w, r, s, org, "identities", "Workload identity "+id.Name)
	if err != nil {
		c.fail(w, s, err)
		return
	}
	p.Data = identityData{ID: id, Snippet: workloadSnippet(c.endpoint(r), c.audience, id)}
	c.render(w, http.StatusOK, "identity", p)
}

func (c *Console) deleteIdentity(w http.ResponseWriter, r *http.Request, s *session) {
	org, name := r.PathValue("org"), r.PathValue("name")
	if err := c.api.DeleteIdentity(apiContext(r, s), org, name); err != nil {
		c.fail(w, s, err)
		return
	}
	c.done(w, r, "/orgs/"+org+"/identities", "Identity "+name+" removed: its workloads can no longer log in, and the tokens they got are refused.")
}

// endpoint returns the URL the workloads of r's user reach tarn at: the public URL when
// one is set, else the console's own, https when sessions are Secure or r came over TLS.
func (c *Console) endpoint(r *http.Request) string {
	if c.public != "" {
		return c.public
	}
	if c.secure || r.TLS != nil {
		return "https://" + r.Host
	}
	return "http://" + r.Host
}

// workloadSnippet returns what a workload of id sets (and for Kubernetes, mounts) to log in
// to tarn at endpoint, as the README's workload identity section shows, and a command that
// uses it.
func workloadSnippet(endpoint, audience string, id *api.Identity) string {
	use := "tarn ds ls " + id.Org
	// A server with its own --workload-audience: the client must ask for that one.
	setAudience, ghAudience := "", ""
	if audience != client.DefaultAudience {
		setAudience, ghAudience = " "+client.EnvAudience+"="+audience, ", "+client.EnvAudience+": "+audience
	}
	switch id.Provider {
	case api.IdentityAzure:
		return "# in the workload (its managed identity gets a token for audience " + audience + "):\n" +
			"export TARN_ENDPOINT=" + endpoint + " " + client.EnvAuthProvider + "=azure" + setAudience + "\n" +
			"export " + client.EnvAzureClientID + "=" + id.ClientID + "   # only for a user-assigned identity\n" +
			use + "\n"
	case api.IdentityGitHub:
		return "# in the workflow:\n" +
			"permissions: { id-token: write, contents: read }\n" +
			"env: { TARN_ENDPOINT: " + endpoint + ", " + client.EnvAuthProvider + ": github" + ghAudience + " }\n" +
			"steps:\n" +
			"  - run: " + use + "\n"
	case api.IdentityKubernetes:
		ns, sa, _ := strings.Cut(id.ServiceAccount, "/")
		return "# in the pod spec (namespace " + ns + "):\n" +
			"serviceAccountName: " + sa + "\n" +
			"volumes:\n" +
			"  - name: tarn-token\n" +
			"    projected: { sources: [ { serviceAccountToken: { audience: " + audience + ", expirationSeconds: 3600, path: tarn } } ] }\n" +
			"containers:\n" +
			"  - env:\n" +
			"      - { name: TARN_ENDPOINT, value: " + endpoint + " }\n" +
			"      - { name: " + client.EnvAuthProvider + ", value: kubernetes }\n" +
			"    volumeMounts: [ { name: tarn-token, mountPath: /var/run/secrets/tokens } ]\n"
	default:
		return "# in the workload (the token file holds a JWT of " + id.Issuer + " for audience " + audience + "):\n" +
			"export TARN_ENDPOINT=" + endpoint + " " + client.EnvAuthProvider + "=oidc " + client.EnvTokenFile + "=/path/to/jwt\n" +
			use + "\n"
	}
}
