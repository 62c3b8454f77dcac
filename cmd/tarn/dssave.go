package main

import (
	"context"
	"fmt"
	"iter"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/client"
	"github.com/tarnhq/tarn/dataset"
	"github.com/tarnhq/tarn/location"
)

// saved is the answer of `tarn ds query --save --output json`.
type saved struct {
	Path    string         `json:"path"`
	Rows    int64          `json:"rows"`
	Version int64          `json:"version"`
	Source  dataset.Source `json:"source"`
}

// saveQuery writes the rows of query f on h as a new dataset at f.save, whose version 1
// holds them and records their source. The query starts before anything is created, so a
// bad expression, column or order creates nothing. The dataset exists only once its one
// commit succeeded (dataset.PathOptions.CreateOnCommit); a save that fails before removes
// its data files and the al:// registry entry it created.
func (a *app) saveQuery(ctx context.Context, h *dataset.Dataset, f queryFlags) (err error) {
	cols, err := queryColumns(h.Schema(), f.q.Columns)
	if err != nil {
		return err
	}
	next, stop := iter.Pull2(h.Query(ctx, f.q))
	defer stop()
	r, err, more := next()
	if err != nil {
		return err
	}
	po, c, err := a.pathOptions(dsOpen{path: f.save, mode: api.ModeWrite})
	if err != nil {
		return err
	}
	if c != nil {
		var created bool
		if created, err = a.registerMissing(ctx, c, f.save); err != nil {
			return err
		}
		if created {
			defer func() {
				if err != nil {
					err = a.unregister(ctx, c, f.save, err)
				}
			}()
		}
	}
	po.CreateOnCommit = true
	out, err := dataset.CreatePath(ctx, f.save, dataset.NewSchema(cols...), po)
	if err != nil {
		return fmt.Errorf("save: %w", err)
	}
	defer out.Close()
	w := out.Appender(dataset.AppenderOptions{})
	defer w.Close()
	var n int64
	for ; more; r, err, more = next() {
		if err != nil {
			return err
		}
		if err = w.Append(ctx, r.Values); err != nil {
			return fmt.Errorf("save: %w", err)
		}
		n++
	}
	src := h.QuerySource(f.q)
	v, err := w.Commit(ctx, src.String(), dataset.CommitOptions{Source: &src})
	if err != nil {
		return fmt.Errorf("save: %w", err)
	}
	res := saved{Path: f.save, Rows: n, Version: v.Version, Source: src}
	return a.showf(res, "Saved %d rows to %s as version %d.\nSource: %s\n", n, f.save, v.Version, src)
}

// unregister deletes the registry entry of the al:// path that a failed save created, and
// returns cause, saying what to do when the entry stays.
func (a *app) unregister(ctx context.Context, c *client.Client, path string, cause error) error {
	loc, err := location.Parse(path)
	if err == nil {
		err = c.DeleteDataset(context.WithoutCancel(ctx), loc.Org, loc.Dataset)
	}
	if err != nil {
		return fmt.Errorf("%w; %s, registered for the save, is left without data: remove it with \"tarn ds rm %s\"", cause, path, path)
	}
	if !a.jsonOut() {
		fmt.Fprintf(a.stderr, "Removed %s again: the save failed.\n", path)
	}
	return cause
}
