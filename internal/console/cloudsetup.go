package console

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/cloudsetup"
	"github.com/tarnhq/tarn/location"
)

// setupView is the cloud-side setup of an azure or gcs key on its page: the form of the
// inputs tarn provision azure|gcp takes (the query's values, else the CLI's defaults) with
// the error of a bad one at its input, and the az or gcloud commands they give.
type setupView struct {
	Form *form
	// Commands are the commands, one a line; empty when an input is wrong or missing.
	Commands string
	// Assignee is who the commands grant the roles (azure) or impersonation (gcs); empty
	// for an azure shared-key key.
	Assignee string
	// NeedProject says the commands wait for the project, which has no default.
	NeedProject bool
}

// setupInputs are the query parameters of the setup form of each provider, named as the
// errors of package cloudsetup name their fields.
var setupInputs = map[string][]string{
	api.ProviderAzure: {"account", "container", "resource_group", "subscription", "principal_id", "console_origin"},
	api.ProviderGCS:   {"project", "bucket", "kms_key", "principal", "console_origin"},
}

// setupQuery returns the setup inputs r's query gives for provider, encoded, or "" when it
// gives none: the Verify form posts with them, so that its answer shows the same commands.
func setupQuery(r *http.Request, provider string) string {
	q, given := r.URL.Query(), url.Values{}
	for _, name := range setupInputs[provider] {
		if v := strings.TrimSpace(q.Get(name)); v != "" {
			given.Set(name, v)
		}
	}
	return given.Encode()
}

// cloudSetup returns the setup of azure or gcs key k for the inputs of r's query. Empty
// inputs get the CLI's defaults: the key's account, the container or bucket of its first
// allowed location, its Cloud KMS key, the console's own origin, and for gcs the principal
// the API's provision endpoint names (the server's identity), asked as the session's user.
func (c *Console) cloudSetup(r *http.Request, s *session, k *api.CredsKey) *setupView {
	q, v := r.URL.Query(), url.Values{}
	for _, name := range setupInputs[k.Provider] {
		v.Set(name, strings.TrimSpace(q.Get(name)))
	}
	def := func(name, value string) {
		if v.Get(name) == "" {
			v.Set(name, value)
		}
	}
	var first location.Location
	if len(k.Config.Roots) > 0 {
		first, _ = location.ParseStorage(k.Config.Roots[0])
	}
	def("console_origin", c.endpoint(r))
	d := &setupView{Form: &form{values: v}}
	if k.Provider == api.ProviderAzure {
		def("account", k.Config.Account)
		def("container", first.Container)
		in := cloudsetup.AzureInput{Account: v.Get("account"), Container: v.Get("container"),
			ResourceGroup: v.Get("resource_group"), Subscription: v.Get("subscription"), PrincipalID: v.Get("principal_id"),
			ConsoleOrigin: v.Get("console_origin")}
		if k.Config.Auth == api.AuthFederated {
			out, err := c.api.Provision(apiContext(r, s), k.Org, k.Name, api.ProvisionRequest{})
			if err != nil {
				d.Form.err = apiError(err)
				return d
			}
			if p := out.OIDCProvider; p != nil {
				in.Issuer, in.Subject = p.URL, p.Subject
			}
		}
		setup, err := cloudsetup.Azure(k.Config, in)
		if err != nil {
			d.Form.err = err
			return d
		}
		d.Commands, d.Assignee = strings.Join(setup.Commands, "\n"), setup.Assignee
		return d
	}
	def("bucket", first.Bucket)
	def("kms_key", k.Config.KMSKey)
	if v.Get("project") == "" {
		d.NeedProject = true
		return d
	}
	principal := v.Get("principal")
	var issuerURL, subject string
	if principal == "" || k.Config.Auth == api.AuthFederated {
		out, err := c.api.Provision(apiContext(r, s), k.Org, k.Name, api.ProvisionRequest{Bucket: v.Get("bucket")})
		if err != nil {
			d.Form.err = apiError(err)
			return d
		}
		if principal == "" {
			principal = out.PrincipalARN
		}
		if p := out.OIDCProvider; p != nil {
			issuerURL, subject = p.URL, p.Subject
		}
	}
	setup, err := cloudsetup.GCP(k.Config, cloudsetup.GCPInput{Project: v.Get("project"), Bucket: v.Get("bucket"),
		KMSKey: v.Get("kms_key"), Principal: principal, ConsoleOrigin: v.Get("console_origin"), Issuer: issuerURL, Subject: subject})
	if err != nil {
		d.Form.err = err
		return d
	}
	d.Commands, d.Assignee = strings.Join(setup.Commands, "\n"), setup.Principal
	return d
}
