package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/client"
	"github.com/tarnhq/tarn/dataset"
	"github.com/tarnhq/tarn/location"
)

// dsOpen says how a dataset command opens PATH.
type dsOpen struct {
	path string
	mode string // api.ModeRead or api.ModeWrite
	v    viaKey // --org and --creds-key: open a storage URL through an org's creds key
}

// pathOptions returns the options with which dataset.OpenPath opens o.path: a client when
// the path needs the control plane (also returned; nil otherwise), notices on stderr, the
// command's clock.
func (a *app) pathOptions(o dsOpen) (dataset.PathOptions, *client.Client, error) {
	loc, err := location.FromLocal(o.path)
	if err != nil {
		return dataset.PathOptions{}, nil, err
	}
	po := dataset.PathOptions{
		Mode: o.mode,
		Now:  a.now,
		Notice: func(msg string) {
			fmt.Fprintf(a.stderr, "note: %s\n", msg)
		},
	}
	if loc.Scheme != location.AL && (o.v.org == "" || loc.Scheme == location.Mem) {
		return po, nil, nil
	}
	c, err := a.client()
	if err != nil {
		return dataset.PathOptions{}, nil, err
	}
	po.Client = c
	if loc.Scheme != location.AL {
		po.Org, po.CredsKey = o.v.org, o.v.key
	}
	return po, c, nil
}

// registerMissing creates the dataset at path, when it is an al:// path that the registry
// does not know, in its org's default storage as `tarn ds create` does, and says so on
// stderr in text mode. It reports whether it created the entry. A dataset registered
// meanwhile by someone else is fine.
func (a *app) registerMissing(ctx context.Context, c *client.Client, path string) (created bool, err error) {
	ds, err := location.FromLocal(path)
	if err != nil || ds.Scheme != location.AL {
		return false, err
	}
	_, err = c.Dataset(ctx, ds.Org, ds.Dataset)
	var p *api.Problem
	if err == nil || !errors.As(err, &p) || p.Code != api.CodeNotFound {
		return false, err
	}
	d, err := c.CreateDataset(ctx, ds.Org, api.CreateDatasetRequest{Name: ds.Dataset})
	switch {
	case errors.As(err, &p) && p.Code == api.CodeConflict:
		return false, nil
	case errors.As(err, &p) && p.Code == api.CodeInvalid && strings.Contains(p.Detail, "default storage"):
		return false, fmt.Errorf("%s is not registered, and org %s has no default storage to create it in: run \"tarn storage set-default %s LOCATION --creds-key KEY\" first, or register the dataset with \"tarn ds create\" or \"tarn ds connect\"", ds, ds.Org, ds.Org)
	case err != nil:
		return false, fmt.Errorf("create %s: %w", ds, err)
	}
	if !a.jsonOut() {
		fmt.Fprintf(a.stderr, "Created %s at %s (creds key %s, %s).\n", datasetPath(d), d.Location, d.CredsKey, visibility(d.Public))
	}
	return true, nil
}

// openRead opens the dataset at the PATH argument for reading.
func (a *app) openRead(ctx context.Context, p string, v viaKey) (*dataset.Dataset, error) {
	if err := v.check(); err != nil {
		return nil, err
	}
	if err := checkVia(v, p); err != nil {
		return nil, err
	}
	po, _, err := a.pathOptions(dsOpen{path: p, mode: api.ModeRead, v: v})
	if err != nil {
		return nil, err
	}
	return dataset.OpenPath(ctx, p, po)
}
