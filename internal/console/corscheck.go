package console

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/cors"
	"github.com/tarnhq/tarn/internal/errs"
)

// corsObject is the object of a dataset the CORS check reads: the one the viewer reads
// first.
const corsObject = "tarn.json"

// corsView is the CORS check of a key's page: the form's choices and a check just run.
type corsView struct {
	Action   string
	Form     *form
	Datasets []string // the org's datasets on the key, to pick from
	Checks   []checkView
	Problem  string
	Off      bool // the console was started without a client for stores
}

// corsForm returns the CORS check of key's page with the defaults the form lacks: the
// console's own origin and the first of the key's datasets.
func (c *Console) corsForm(ctx context.Context, r *http.Request, k *api.CredsKey, d *corsView) {
	if d.Form == nil {
		d.Form = newForm(r, nil)
	}
	if d.Form.values == nil {
		d.Form.values = map[string][]string{}
	}
	d.Action, d.Off = keyPath(k.Org, k.Name)+"/cors", c.storeClient == nil
	d.Datasets = c.keyDatasets(ctx, k.Org, k.Name)
	if d.Form.Value("origin") == "" {
		d.Form.values.Set("origin", c.endpoint(r))
	}
	if d.Form.Value("dataset") == "" && len(d.Datasets) > 0 {
		d.Form.values.Set("dataset", d.Datasets[0])
	}
}

// keyDatasets returns the names of the org's datasets on the key that the session may
// list; none when it may list none.
func (c *Console) keyDatasets(ctx context.Context, org, key string) []string {
	list, err := c.api.Datasets(ctx, org)
	if err != nil {
		return nil
	}
	var out []string
	for _, ds := range list {
		if ds.CredsKey == key {
			out = append(out, ds.Name)
		}
	}
	return out
}

// checkCORS runs cors.Check for the posted origin against a presigned URL of the posted
// dataset's tarn.json, as the session's user, and shows its checks on the key's page.
func (c *Console) checkCORS(w http.ResponseWriter, r *http.Request, s *session) {
	org, name := r.PathValue("org"), r.PathValue("key")
	ctx := apiContext(r, s)
	view := &corsView{}
	err := func() error {
		if c.storeClient == nil {
			return errs.E(errs.Invalid, "this console sends no requests to stores: run tarn cors check instead")
		}
		origin, err := cors.ParseOrigin(strings.TrimSpace(r.PostFormValue("origin")))
		if err != nil {
			return errs.E(errs.Invalid, "%v", err).In("origin")
		}
		ds := r.PostFormValue("dataset")
		if !slices.Contains(c.keyDatasets(ctx, org, name), ds) {
			return errs.E(errs.Invalid, "choose a dataset of creds key %s", name).In("dataset")
		}
		rep, err := c.datasetCORS(ctx, org, ds, origin)
		if err != nil {
			return err
		}
		for _, ch := range rep.Checks {
			view.Checks = append(view.Checks, checkView{Name: ch.Name, Result: map[bool]string{true: "ok", false: "failed"}[ch.OK], Detail: ch.Detail})
		}
		view.Problem = rep.Problem()
		return nil
	}()
	view.Form = newForm(r, err)
	view.Form.values = r.PostForm
	if err != nil && !refill(err) {
		c.fail(w, s, err)
		return
	}
	c.showKey(w, r, s, view.Form.status(), keyData{VerifyForm: newForm(r, nil), DeleteForm: newForm(r, nil), CORS: view})
}

// datasetCORS runs cors.Check for origin against a presigned URL of the dataset's
// tarn.json, presigned as the session of ctx; c.storeClient must be set.
func (c *Console) datasetCORS(ctx context.Context, org, ds, origin string) (cors.Report, error) {
	out, err := c.api.PresignDataset(ctx, org, ds, []string{corsObject}, time.Minute)
	if err != nil {
		return cors.Report{}, err
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return cors.Check(rctx, c.storeClient, out.URLs[corsObject], origin), nil
}

// viewerCORS serves POST /orgs/{org}/datasets/{name}/cors for the viewer, after the browser
// failed to read from the store: the CORS check for the console's own origin, as JSON
// {problem, missing, failed, rule}: problem is "" when the store's rules allow the console
// (the store was unreachable instead) and null when this console sends no requests to
// stores; missing says whether the store's CORS rules are at fault, failed names the
// failed checks and rule is the rule to add. A refusal is {error}.
func (c *Console) viewerCORS(w http.ResponseWriter, r *http.Request, s *session) {
	if c.storeClient == nil {
		writeJSON(w, http.StatusOK, map[string]any{"problem": nil})
		return
	}
	origin := c.endpoint(r)
	rep, err := c.datasetCORS(apiContext(r, s), r.PathValue("org"), r.PathValue("name"), origin)
	if err != nil {
		c.jsonError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"problem": rep.Problem(), "missing": rep.RuleMissing(),
		"failed": rep.Failed(), "rule": cors.NewRule(origin).String()})
}
