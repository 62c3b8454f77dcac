package console

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/location"
)

// credsKeyRoutes registers the pages of an org's creds keys: the list, the add form (one
// per provider, picked by a GET step so that it works without script), a key's page, and
// its actions verify, CORS check, rotate-external-id and delete.
func (c *Console) credsKeyRoutes() {
	c.mux.HandleFunc("GET /orgs/{org}/creds-keys", c.signedIn(c.credsKeys))
	c.mux.HandleFunc("GET /orgs/{org}/creds-keys/new", c.signedIn(c.newCredsKey))
	c.mux.HandleFunc("POST /orgs/{org}/creds-keys", c.signedIn(c.addCredsKey))
	c.mux.HandleFunc("GET /orgs/{org}/creds-keys/{key}", c.signedIn(c.credsKey))
	c.mux.HandleFunc("POST /orgs/{org}/creds-keys/{key}/verify", c.signedIn(c.verifyCredsKey))
	c.mux.HandleFunc("POST /orgs/{org}/creds-keys/{key}/cors", c.signedIn(c.checkCORS))
	c.mux.HandleFunc("POST /orgs/{org}/creds-keys/{key}/rotate", c.signedIn(c.rotateCredsKey))
	c.mux.HandleFunc("POST /orgs/{org}/creds-keys/{key}/delete", c.signedIn(c.deleteCredsKey))
}

// providers are the providers the add form offers, in the order of its select.
var providers = []providerChoice{
	{api.ProviderAWS, "AWS S3 or an S3-compatible store (AssumeRole)"},
	{api.ProviderAzure, "Azure Blob Storage (SAS)"},
	{api.ProviderGCS, "Google Cloud Storage (downscoped token)"},
	{api.ProviderFile, "Local directories of the server"},
}

type providerChoice struct{ Name, Label string }

// credsKeys serves /orgs/{org}/creds-keys: the org's creds keys, to anyone the API lets
// list them.
func (c *Console) credsKeys(w http.ResponseWriter, r *http.Request, s *session) {
	org := r.PathValue("org")
	keys, err := c.api.CredsKeys(apiContext(r, s), org)
	if err != nil {
		c.fail(w, s, err)
		return
	}
	p, err := c.layout(w, r, s, org, "creds-keys", "Creds keys")
	if err != nil {
		c.fail(w, s, err)
		return
	}
	p.Data = struct {
		Keys      []api.CredsKey
		Providers []providerChoice
	}{keys, providers}
	c.render(w, http.StatusOK, "creds-keys", p)
}

// newKeyData is the add form of one provider.
type newKeyData struct {
	Provider  string // "" until one is picked
	Providers []providerChoice
	Form      *form
}

// newCredsKey serves /orgs/{org}/creds-keys/new?provider=P: the add form of provider P, or
// the provider select alone when P is none of those the form knows.
func (c *Console) newCredsKey(w http.ResponseWriter, r *http.Request, s *session) {
	c.showNewKey(w, r, s, r.PathValue("org"), r.URL.Query().Get("provider"), newForm(r, nil))
}

func (c *Console) showNewKey(w http.ResponseWriter, r *http.Request, s *session, org, provider string, f *form) {
	// The org must be one the user may see; the API says so.
	if _, err := c.api.Org(apiContext(r, s), org); err != nil {
		c.fail(w, s, err)
		return
	}
	p, err := c.layout(w, r, s, org, "creds-keys", "Add a creds key")
	if err != nil {
		c.fail(w, s, err)
		return
	}
	d := newKeyData{Providers: providers, Form: f}
	for _, pc := range providers {
		if pc.Name == provider {
			d.Provider = provider
		}
	}
	p.Data = d
	c.render(w, f.status(), "creds-keys-new", p)
}

// addCredsKey creates or replaces a creds key from the add form: the API checks it all.
func (c *Console) addCredsKey(w http.ResponseWriter, r *http.Request, s *session) {
	org := r.PathValue("org")
	name := strings.TrimSpace(r.PostFormValue("name"))
	k, err := c.api.PutCredsKey(apiContext(r, s), org, name, keyRequest(r))
	if err != nil {
		if refill(err) {
			c.showNewKey(w, r, s, org, r.PostFormValue("provider"), newForm(r, err))
			return
		}
		c.fail(w, s, err)
		return
	}
	c.done(w, r, keyPath(org, k.Name), "Creds key "+k.Name+" saved.")
}

// keyRequest returns the API request of a posted add form. Roots are one a line; empty
// inputs are left out, so that the API fills in its defaults.
func keyRequest(r *http.Request) api.PutCredsKeyRequest {
	v := func(name string) string { return strings.TrimSpace(r.PostFormValue(name)) }
	cfg := api.CredsKeyConfig{
		RoleARN: v("role_arn"), Region: v("region"), KMSKeyARN: v("kms_key_arn"),
		STSEndpoint: v("sts_endpoint"), S3Endpoint: v("s3_endpoint"), PathStyle: v("path_style") != "",
		Source: v("source"), AccessKeyID: v("access_key_id"),
		Account: v("account"), Endpoint: v("endpoint"), Auth: v("auth"), TenantID: v("tenant_id"), ClientID: v("client_id"),
		HierarchicalNamespace: v("hierarchical_namespace") != "", Scope: v("scope"),
		ServiceAccount: v("service_account"), KMSKey: v("kms_key"), IAMEndpoint: v("iam_endpoint"), StorageEndpoint: v("storage_endpoint"),
		WorkloadIdentityProvider: v("workload_identity_provider"),
	}
	for _, line := range strings.Split(r.PostFormValue("roots"), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			cfg.Roots = append(cfg.Roots, line)
		}
	}
	if d := v("max_duration_seconds"); d != "" {
		// A number the API then checks; text that is none is sent as -1, which it refuses.
		n, err := strconv.ParseInt(d, 10, 64)
		if err != nil {
			n = -1
		}
		cfg.MaxDurationSeconds = n
	}
	return api.PutCredsKeyRequest{Provider: v("provider"), Config: cfg, Secret: strings.TrimSpace(r.PostFormValue("secret"))}
}

// refill reports whether a form refused with err, a failed API call's error, is shown again
// with the error: one about a field, about the input (Invalid), in conflict with what
// exists (Conflict: a key still in use), or a server that cannot do it now (Unavailable).
// Others (no access, no such key) get the error page.
func refill(err error) bool {
	err = apiError(err)
	k := errs.KindOf(err)
	return errs.FieldOf(err) != "" || k == errs.Invalid || k == errs.Conflict || k == errs.Unavailable
}

func keyPath(org, key string) string {
	return "/orgs/" + url.PathEscape(org) + "/creds-keys/" + url.PathEscape(key)
}

// keyData is what a key's page shows.
type keyData struct {
	Key *api.CredsKey
	// Provision is the cloud-side setup of an aws key for Bucket/Prefix, or ProvisionError
	// why the API could not say it; both empty for other providers and non-admins.
	Provision      *provisionView
	ProvisionError string
	Bucket, Prefix string
	PrincipalARN   string
	// Setup is the az or gcloud setup of an azure or gcs key, for admins; nil otherwise.
	Setup *setupView
	// VerifyAction is where the Verify form posts: with the setup inputs the page was
	// opened with, so that the page it answers shows the same policies.
	VerifyAction string
	Verify       []checkView // the checks of a verify just run
	VerifyForm   *form
	// CORS is the CORS check of the key's datasets; showKey fills in its defaults.
	CORS       *corsView
	DeleteForm *form
}

// checkView is a verify check with its result: ok, warning (passed, with a detail that
// says "warning:"), failed or skipped.
type checkView struct{ Name, Result, Detail string }

func checkViews(res *api.VerifyResponse) []checkView {
	if res == nil {
		return nil
	}
	out := make([]checkView, len(res.Checks))
	for i, ch := range res.Checks {
		result := "ok"
		switch {
		case ch.Skipped:
			result = "skipped"
		case !ch.OK:
			result = "failed"
		case strings.HasPrefix(ch.Detail, "warning:"):
			result = "warning"
		}
		out[i] = checkView{Name: ch.Name, Result: result, Detail: strings.TrimSpace(strings.TrimPrefix(ch.Detail, "warning:"))}
	}
	return out
}

// provisionView is an aws key's provision answer, its policies indented for reading.
type provisionView struct {
	PrincipalARN, ExternalID string
	PermissionPolicy         string
	TrustPolicy              string
}

// credsKey serves /orgs/{org}/creds-keys/{key}.
func (c *Console) credsKey(w http.ResponseWriter, r *http.Request, s *session) {
	c.showKey(w, r, s, http.StatusOK, keyData{VerifyForm: newForm(r, nil), DeleteForm: newForm(r, nil)})
}

// showKey renders a key's page with d's forms and results, reading the key and, for admins
// of an aws key, its provision output: for the bucket and prefix of the query, or of its
// first root; for admins of an azure or gcs key, its az or gcloud setup (cloudSetup).
func (c *Console) showKey(w http.ResponseWriter, r *http.Request, s *session, status int, d keyData) {
	org, name := r.PathValue("org"), r.PathValue("key")
	ctx := apiContext(r, s)
	k, err := c.api.CredsKey(ctx, org, name)
	if err != nil {
		c.fail(w, s, err)
		return
	}
	p, err := c.layout(w, r, s, org, "creds-keys", "Creds key "+k.Name)
	if err != nil {
		c.fail(w, s, err)
		return
	}
	d.Key, d.VerifyAction = k, keyPath(org, name)+"/verify"
	if k.Provider == api.ProviderAWS && p.IsAdmin() {
		q := r.URL.Query()
		d.Bucket, d.Prefix, d.PrincipalARN = q.Get("bucket"), q.Get("prefix"), q.Get("principal_arn")
		if d.Bucket != "" || d.PrincipalARN != "" {
			d.VerifyAction += "?" + url.Values{"bucket": {d.Bucket}, "prefix": {d.Prefix}, "principal_arn": {d.PrincipalARN}}.Encode()
		}
		if d.Bucket == "" && len(k.Config.Roots) > 0 {
			if l, err := location.ParseStorage(k.Config.Roots[0]); err == nil {
				d.Bucket, d.Prefix = l.Bucket, l.Path
			}
		}
		out, err := c.api.Provision(ctx, org, name, api.ProvisionRequest{Bucket: d.Bucket, Prefix: d.Prefix, PrincipalARN: d.PrincipalARN})
		if err != nil {
			d.ProvisionError = errs.DetailOf(apiError(err))
		} else {
			d.Provision = &provisionView{PrincipalARN: out.PrincipalARN, ExternalID: out.ExternalID,
				PermissionPolicy: indent(out.PermissionPolicy), TrustPolicy: indent(out.TrustPolicy)}
		}
	}
	if _, ok := setupInputs[k.Provider]; ok && p.IsAdmin() {
		d.Setup = c.cloudSetup(r, s, k)
		if q := setupQuery(r, k.Provider); q != "" {
			d.VerifyAction += "?" + q
		}
	}
	if d.CORS == nil {
		d.CORS = &corsView{}
	}
	c.corsForm(ctx, r, k, d.CORS)
	p.Data = d
	c.render(w, status, "creds-keys-show", p)
}

// indent returns JSON indented by two spaces, or as it is if it is not JSON.
func indent(raw json.RawMessage) string {
	var b bytes.Buffer
	if json.Indent(&b, raw, "", "  ") != nil {
		return string(raw)
	}
	return b.String()
}

// verifyCredsKey runs the API's verify of the key, for the posted location or the key's
// own configuration, and shows its checks on the key's page.
func (c *Console) verifyCredsKey(w http.ResponseWriter, r *http.Request, s *session) {
	org, name := r.PathValue("org"), r.PathValue("key")
	res, err := c.api.VerifyCredsKey(apiContext(r, s), org, name, strings.TrimSpace(r.PostFormValue("location")))
	d := keyData{VerifyForm: newForm(r, err), DeleteForm: newForm(r, nil), Verify: checkViews(res)}
	if err != nil && !refill(err) {
		c.fail(w, s, err)
		return
	}
	if err == nil {
		// Keep the location typed for the next run.
		d.VerifyForm.values = r.PostForm
	}
	c.showKey(w, r, s, d.VerifyForm.status(), d)
}

// rotateCredsKey gives the key a new external ID.
func (c *Console) rotateCredsKey(w http.ResponseWriter, r *http.Request, s *session) {
	org, name := r.PathValue("org"), r.PathValue("key")
	if _, err := c.api.RotateExternalID(apiContext(r, s), org, name); err != nil {
		c.fail(w, s, err)
		return
	}
	c.done(w, r, keyPath(org, name), "New external ID for "+name+": update the role's trust policy now (below).")
}

// deleteCredsKey deletes the key once its name was typed to confirm.
func (c *Console) deleteCredsKey(w http.ResponseWriter, r *http.Request, s *session) {
	org, name := r.PathValue("org"), r.PathValue("key")
	if r.PostFormValue("confirm") != name {
		err := errs.E(errs.Invalid, "type the key's name, %s, to delete it", name).In("confirm")
		d := keyData{VerifyForm: newForm(r, nil), DeleteForm: newForm(r, err)}
		c.showKey(w, r, s, d.DeleteForm.status(), d)
		return
	}
	if err := c.api.DeleteCredsKey(apiContext(r, s), org, name); err != nil {
		if refill(err) {
			d := keyData{VerifyForm: newForm(r, nil), DeleteForm: newForm(r, err)}
			c.showKey(w, r, s, d.DeleteForm.status(), d)
			return
		}
		c.fail(w, s, err)
		return
	}
	c.done(w, r, "/orgs/"+url.PathEscape(org)+"/creds-keys", "Creds key "+name+" deleted.")
}
