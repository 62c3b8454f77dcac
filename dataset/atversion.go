package dataset

import (
	"context"
	"fmt"
)

// AtVersion returns a read-only view of version v of the dataset (time travel), on ds's
// bucket: its reads and queries see v. Close the view to close the buckets of link
// targets it opened; ds's bucket stays open until ds is closed. It fails when v does not
// exist or its manifest is corrupt.
func (ds *Dataset) AtVersion(ctx context.Context, v int64) (*Dataset, error) {
	if v <= 0 {
		return nil, fmt.Errorf("version %d is not positive", v)
	}
	m, err := ds.readManifest(ctx, v)
	if err != nil {
		return nil, fmt.Errorf("version %d: %w", v, err)
	}
	return &Dataset{b: ds.b, opts: ds.opts, id: ds.id, path: ds.path, readOnly: true, via: ds.via, m: m}, nil
}
