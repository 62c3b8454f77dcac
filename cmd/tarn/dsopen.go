package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/tarnhq/tarn/dataset"
	"github.com/tarnhq/tarn/location"
)

// dsOpen says how a dataset command opens PATH.
type dsOpen struct {
	path string
	mode string // api.ModeRead or api.ModeWrite
	v    viaKey // --org and --creds-key: open a storage URL through an org's creds key
}

// openDataset opens the dataset at o.path with dataset.OpenPath. With create set, a
// dataset of that schema is created when the path holds none; the bool reports whether it
// was. The caller closes the dataset.
func (a *app) openDataset(ctx context.Context, o dsOpen, create *dataset.Schema) (*dataset.Dataset, bool, error) {
	loc, err := location.FromLocal(o.path)
	if err != nil {
		return nil, false, err
	}
	po := dataset.PathOptions{
		Mode: o.mode,
		Now:  a.now,
		Notice: func(msg string) {
			fmt.Fprintf(a.stderr, "note: %s\n", msg)
		},
	}
	if loc.Scheme == location.AL || (o.v.org != "" && loc.Scheme != location.Mem) {
		c, err := a.client()
		if err != nil {
			return nil, false, err
		}
		po.Client = c
		if loc.Scheme != location.AL {
			po.Org, po.CredsKey = o.v.org, o.v.key
		}
	}
	if create != nil {
		d, err := dataset.CreatePath(ctx, o.path, *create, po)
		if err == nil {
			return d, true, nil
		}
		if !errors.Is(err, dataset.ErrExists) {
			return nil, false, err
		}
	}
	d, err := dataset.OpenPath(ctx, o.path, po)
	return d, false, err
}
