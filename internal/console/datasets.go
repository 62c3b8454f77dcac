package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/dataset"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/storage"
)

// How the pages read datasets: at most openParallel at once, each within openTimeout, so a
// slow or unreachable store costs a page a few seconds, never its answer.
const (
	openParallel = 4
	openTimeout  = 5 * time.Second
)

// datasetRoutes registers the pages of this file; GET /orgs/{org}, the list, is console.go's.
func (c *Console) datasetRoutes() {
	c.mux.HandleFunc("POST /orgs/{org}/datasets", c.signedIn(c.createDataset))
	c.mux.HandleFunc("GET /orgs/{org}/datasets/{name}", c.signedIn(c.dataset))
	c.mux.HandleFunc("POST /orgs/{org}/datasets/{name}/visibility", c.signedIn(c.setVisibility))
	c.mux.HandleFunc("POST /orgs/{org}/datasets/{name}/delete", c.signedIn(c.deleteDataset))
}

// datasetRow is a dataset of the list with what its latest version holds.
type datasetRow struct {
	api.Dataset
	Head *dataset.Version // nil when the dataset could not be read
	Why  string           // why not, one line
}

// orgData is what /orgs/{org} shows: the datasets and the forms that add one.
type orgData struct {
	Datasets []datasetRow
	Keys     []api.CredsKey
	Default  *api.DefaultStorage // nil: the org has none
	Create   *form               // the create form, kind "create"
	Connect  *form               // the connect form, kind "connect"
}

// org serves /orgs/{org}: its datasets, to anyone the API lets list them.
func (c *Console) org(w http.ResponseWriter, r *http.Request, s *session) {
	c.showOrg(w, r, s, nil)
}

// showOrg renders /orgs/{org}; a non-nil err is the refusal of the posted create or
// connect form, shown again in that form.
func (c *Console) showOrg(w http.ResponseWriter, r *http.Request, s *session, err error) {
	org := r.PathValue("org")
	ctx := apiContext(r, s)
	ds, lerr := c.api.Datasets(ctx, org)
	if lerr != nil {
		c.fail(w, s, lerr)
		return
	}
	p, lerr := c.layout(w, r, s, org, "datasets", org)
	if lerr != nil {
		c.fail(w, s, lerr)
		return
	}
	d := orgData{Create: newForm(r, nil), Connect: newForm(r, nil)}
	posted := newForm(r, err)
	if r.PostFormValue("kind") == "connect" {
		d.Connect = posted
	} else {
		d.Create = posted
	}
	if p.CanWrite() {
		// Both only fill the forms: without them the API's answer to the post still tells.
		d.Keys, _ = c.api.CredsKeys(ctx, org)
		if o, err := c.api.Org(ctx, org); err == nil {
			d.Default = o.DefaultStorage
		}
	}
	d.Datasets = c.heads(ctx, ds)
	p.Data = d
	c.render(w, posted.status(), "org", p)
}

// heads reads the latest version of each dataset, openParallel at a time.
func (c *Console) heads(ctx context.Context, ds []api.Dataset) []datasetRow {
	rows := make([]datasetRow, len(ds))
	sem := make(chan struct{}, openParallel)
	var wg sync.WaitGroup
	for i := range ds {
		rows[i].Dataset = ds[i]
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			var err error
			if rows[i].Head, _, err = c.readDataset(ctx, &ds[i], false); err != nil {
				rows[i].Why = err.Error()
			}
		})
	}
	wg.Wait()
	return rows
}

// readDataset reads the latest version of d, and with versions every version newest first,
// opening d read-only as `tarn ds info` does, with credentials the API vends to the
// session, within openTimeout. A dataset without data yet is version 0. Its error is one
// line to show: why d could not be read.
func (c *Console) readDataset(ctx context.Context, d *api.Dataset, versions bool) (*dataset.Version, []dataset.Version, error) {
	ctx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	ds, err := dataset.OpenPath(ctx, "al://"+d.Org+"/"+d.Name, dataset.PathOptions{Client: c.api, Mode: api.ModeRead})
	if errors.Is(err, dataset.ErrNoDataset) {
		return &dataset.Version{}, nil, nil
	}
	if err != nil {
		return nil, nil, unreadable(err)
	}
	defer ds.Close()
	head := ds.Info()
	if !versions {
		return &head, nil, nil
	}
	vs, err := ds.Versions(ctx)
	if err != nil {
		return &head, nil, unreadable(err)
	}
	slices.Reverse(vs)
	return &head, vs, nil
}

// unreadable returns why a dataset could not be read, in one line: the API's refusal, a
// timeout, or the storage's error.
func unreadable(err error) error {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("its storage did not answer within %s", openTimeout)
	case errs.KindOf(apiError(err)) != errs.Internal:
		return errors.New(errs.DetailOf(apiError(err)))
	}
	return err
}

// createDataset serves POST /orgs/{org}/datasets: create (no location: the default
// storage) or connect (an existing location), as `tarn ds create` and `tarn ds connect`.
func (c *Console) createDataset(w http.ResponseWriter, r *http.Request, s *session) {
	org := r.PathValue("org")
	req := api.CreateDatasetRequest{Name: r.PostFormValue("name"), CredsKey: r.PostFormValue("creds_key"),
		Public: r.PostFormValue("public") == "on"}
	verb := "Created"
	if r.PostFormValue("kind") == "connect" {
		req.Location, verb = r.PostFormValue("location"), "Connected"
	}
	d, err := c.api.CreateDataset(apiContext(r, s), org, req)
	if err != nil {
		c.showOrg(w, r, s, err)
		return
	}
	c.done(w, r, "/orgs/"+org+"/datasets/"+d.Name, fmt.Sprintf("%s %s at %s.", verb, d.Path, d.Location))
}

// datasetData is what /orgs/{org}/datasets/{name} shows.
type datasetData struct {
	api.Dataset
	Head     *dataset.Version  // the latest version; nil when it could not be read
	Versions []dataset.Version // newest first
	Why      string            // why the data could not be read
	Form     *form             // a refused action: delete or visibility
	Viewer   *viewerData       // the row viewer, for a dataset with data
}

// VersionList is the versions newest first, for the viewer: "3,2,1".
func (d datasetData) VersionList() string {
	s := make([]string, len(d.Versions))
	for i, v := range d.Versions {
		s[i] = strconv.FormatInt(v.Version, 10)
	}
	return strings.Join(s, ",")
}

// dataset serves /orgs/{org}/datasets/{name}: the registry entry, and, read from the
// dataset with the session's read credentials, its schema and versions.
func (c *Console) dataset(w http.ResponseWriter, r *http.Request, s *session) {
	c.showDataset(w, r, s, nil)
}

// showDataset renders a dataset's page; a non-nil err is the refusal of the posted delete
// or visibility form.
func (c *Console) showDataset(w http.ResponseWriter, r *http.Request, s *session, err error) {
	org, name := r.PathValue("org"), r.PathValue("name")
	ctx := apiContext(r, s)
	d, lerr := c.api.Dataset(ctx, org, name)
	if lerr != nil {
		c.fail(w, s, lerr)
		return
	}
	p, lerr := c.layout(w, r, s, org, "datasets", d.Path)
	if lerr != nil {
		c.fail(w, s, lerr)
		return
	}
	data := datasetData{Dataset: *d, Form: newForm(r, err)}
	if data.Head, data.Versions, lerr = c.readDataset(ctx, d, true); lerr != nil {
		data.Why = lerr.Error()
	}
	if data.Head != nil && data.Head.Version > 0 && len(data.Versions) > 0 {
		v := c.viewer(w, r, s, d)
		data.Viewer = &v
	}
	p.Data = data
	c.render(w, data.Form.status(), "dataset", p)
}

// setVisibility serves POST .../visibility: public "true" or "false", as `tarn ds update`.
func (c *Console) setVisibility(w http.ResponseWriter, r *http.Request, s *session) {
	org, name := r.PathValue("org"), r.PathValue("name")
	public := r.PostFormValue("public") == "true"
	d, err := c.api.UpdateDataset(apiContext(r, s), org, name, api.UpdateDatasetRequest{Public: &public})
	if err != nil {
		c.showDataset(w, r, s, err)
		return
	}
	c.done(w, r, "/orgs/"+org+"/datasets/"+name, fmt.Sprintf("%s is now %s.", d.Path, visibility(d.Public)))
}

func visibility(public bool) string {
	if public {
		return "public"
	}
	return "private"
}

// deleteDataset serves POST .../delete as `tarn ds rm`: the registry entry only, or with
// delete_data, after the name was typed into confirm, every object of the dataset first
// and the entry once all are gone.
func (c *Console) deleteDataset(w http.ResponseWriter, r *http.Request, s *session) {
	org, name := r.PathValue("org"), r.PathValue("name")
	ctx := apiContext(r, s)
	msg := fmt.Sprintf("Deleted al://%s/%s; its data was left in place.", org, name)
	if r.PostFormValue("delete_data") == "on" {
		if r.PostFormValue("confirm") != name {
			c.showDataset(w, r, s, errs.E(errs.Invalid, "type the dataset's name %q to delete it with its data", name).In("confirm"))
			return
		}
		n, err := storage.DeleteAll(ctx, "al://"+org+"/"+name, storage.Options{Client: c.api})
		if err != nil {
			c.showDataset(w, r, s, errs.Wrap(errs.KindOf(apiError(err)), err,
				fmt.Sprintf("%s; %d objects were deleted before, and the entry is kept", unreadable(err), n)))
			return
		}
		msg = fmt.Sprintf("Deleted al://%s/%s and its %d objects.", org, name, n)
	}
	if err := c.api.DeleteDataset(ctx, org, name); err != nil {
		c.showDataset(w, r, s, err)
		return
	}
	c.done(w, r, "/orgs/"+org, msg)
}
