package dataset

import (
	"context"
	"errors"
	"fmt"
)

// stage is Create with Options.CreateOnCommit: it checks that the bucket holds no dataset
// and returns ds at version 0 with schema, for its first commit to create.
func (ds *Dataset) stage(ctx context.Context, schema Schema) (*Dataset, error) {
	if _, err := ds.readRoot(ctx); err == nil {
		versions, err := ds.listVersions(ctx)
		if err != nil {
			return nil, fmt.Errorf("create dataset: %w", err)
		}
		if len(versions) > 0 {
			return nil, fmt.Errorf("create dataset: %w", ErrExists)
		}
	} else if !errors.Is(err, ErrNoDataset) {
		return nil, fmt.Errorf("create dataset: %w", err)
	}
	ds.m = &manifest{Schema: schema, Files: []File{}}
	ds.staged = true
	return ds, nil
}

// commitFirst creates a staged dataset (Options.CreateOnCommit) with the version mutate
// derives from its empty version 0, and reports done; for a dataset that is not staged it
// does nothing and reports not done. It writes tarn.json (or completes a half-created
// dataset, see Create) and then version 1. When version 1 cannot be created, because another
// creator made it (ErrExists) or the write failed, it removes the tarn.json it wrote, so
// the commit leaves no dataset behind.
func (ds *Dataset) commitFirst(ctx context.Context, mutate func(latest *manifest) (*manifest, error)) (m *manifest, done bool, err error) {
	ds.firstMu.Lock()
	defer ds.firstMu.Unlock()
	if !ds.staged {
		return nil, false, nil
	}
	next, err := mutate(ds.current())
	if err != nil {
		return nil, true, err
	}
	next.Version, next.Parent, next.Time = 1, 0, ds.now()
	if next.Files == nil {
		next.Files = []File{}
	}
	claimed, err := ds.claimRoot(ctx)
	if err != nil {
		return nil, true, fmt.Errorf("commit: create dataset: %w", err)
	}
	created, err := ds.createOnce(ctx, versionKey(1), encodeManifest(next))
	if err == nil && !created {
		err = ErrExists
	}
	if err != nil {
		err = fmt.Errorf("commit: create dataset: %s: %w", versionKey(1), err)
		if claimed {
			err = errors.Join(err, ds.unclaimRoot(ctx))
		}
		return nil, true, err
	}
	ds.staged = false
	ds.advance(next)
	return next, true, nil
}

// unclaimRoot deletes the tarn.json that claimRoot created, unless a version exists after
// all (a write that failed in its answer only). It runs even when ctx is cancelled.
func (ds *Dataset) unclaimRoot(ctx context.Context) error {
	ctx = context.WithoutCancel(ctx)
	versions, err := ds.listVersions(ctx)
	if err == nil && len(versions) == 0 {
		err = ds.b.Delete(ctx, rootKey)
	}
	if err != nil {
		return fmt.Errorf("remove %s of the dataset that was not created: %w", rootKey, err)
	}
	return nil
}
