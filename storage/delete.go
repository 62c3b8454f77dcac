package storage

import (
	"context"
	"fmt"
	"io"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	"github.com/tarnhq/tarn/api"
)

// Keys returns the key of every object in b, in the order b lists them.
func Keys(ctx context.Context, b *blob.Bucket) ([]string, error) {
	var keys []string
	it := b.List(nil)
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			return keys, nil
		}
		if err != nil {
			return nil, err
		}
		if !obj.IsDir {
			keys = append(keys, obj.Key)
		}
	}
}

// DeleteAll deletes every object under path, opened as OpenBucket does but always with
// write credentials (opts.Mode is ignored), and returns how many objects it deleted. Objects
// that are already gone count as deleted. It stops at the first object it cannot delete
// and returns how many it deleted before, with an error naming that object; the registry
// entry of an al:// path is the caller's to delete once DeleteAll succeeded.
func DeleteAll(ctx context.Context, path string, opts Options) (int, error) {
	opts.Mode = api.ModeWrite
	b, err := OpenBucket(ctx, path, opts)
	if err != nil {
		return 0, err
	}
	defer b.Close()
	keys, err := Keys(ctx, b)
	if err != nil {
		return 0, fmt.Errorf("list %s: %w", path, err)
	}
	for i, k := range keys {
		if err := b.Delete(ctx, k); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
			return i, fmt.Errorf("delete %s: %w", k, err)
		}
	}
	return len(keys), nil
}
