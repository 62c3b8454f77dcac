package dataset

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"gocloud.dev/blob"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/location"
	"github.com/tarnhq/tarn/storage"
)

// PathOptions configures OpenPath and CreatePath.
type PathOptions struct {
	// Client vends credentials (a *client.Client). It is needed for al:// paths and for
	// storage paths opened through a creds key.
	Client storage.Vendor
	// Mode is how the dataset is opened:
	//   - "" (the default): for writing if the caller may write, else read-only. A path
	//     whose write credentials the control plane refuses (api.Problem with Code
	//     api.CodePermissionDenied) is opened read-only, and Notice is told.
	//   - api.ModeRead: read-only. The control plane is never asked for write credentials.
	//   - api.ModeWrite: for writing; without write rights OpenPath fails with the
	//     control plane's answer.
	// Paths that need no credentials (file://, plain local paths, mem://) are writable
	// unless Mode is api.ModeRead. CreatePath needs write access: Mode "" or api.ModeWrite.
	Mode string
	// Org and CredsKey, set together, open a storage path (s3://, file:///, …) through the
	// org's creds key, as an unregistered location (storage.Options.Org, CredsKey).
	Org, CredsKey string
	// Notice is told, in one line, when an open in Mode "" falls back to read-only:
	// "al://ORG/DS opened read-only: <the control plane's reason>". nil: silent.
	Notice func(msg string)
	// Now is the clock that stamps new versions and renews vended credentials; nil means
	// time.Now.
	Now func() time.Time
	// HTTPClient fetches https:// links, as Options.HTTPClient.
	HTTPClient *http.Client
	// CreateOnCommit makes CreatePath leave the dataset to its first commit to create, as
	// Options.CreateOnCommit. CreatePath still checks that path holds no dataset.
	CreateOnCommit bool
}

// ErrReadOnly is the error (wrapped) of appends and commits to a dataset opened read-only.
var ErrReadOnly = errors.New("dataset is opened read-only")

// OpenPath opens the latest version of the dataset at path: al://ORG/DATASET (a registered
// dataset, through credentials the control plane vends), a storage path such as
// s3://BUCKET/PREFIX (through PathOptions.Org and CredsKey), file:///abs, a plain local path,
// or mem://NAME/PREFIX. Local directories, including those that a creds key of provider file
// vends, are opened so that commits are atomic (Options.Dir). o.Mode chooses between
// read-only and writable opens (see PathOptions). Close the dataset to close the bucket it
// opened and the buckets of its link targets. A path that holds no dataset fails with an
// error matching ErrNoDataset; a half-created one opens at version 0 (see Create).
//
// A dataset opened by its al:// path reads its links only over https or through creds keys
// linked to it, never from this machine's files (see ReadLink).
//
// A read-only open of an al:// path asks the control plane once, for read credentials; an
// open in Mode "" by a reader asks twice (write, refused, then read).
func OpenPath(ctx context.Context, path string, o PathOptions) (*Dataset, error) {
	return openPath(ctx, path, o, nil)
}

// CreatePath creates an empty dataset with the given schema at path, as version 1, and
// returns it open for writing. path is any path OpenPath takes. An al:// dataset must be
// registered first (client.CreateDataset); a storage path in a creds key's roots can be
// created through PathOptions.Org and CredsKey and registered afterwards with its location.
// It fails with ErrExists when path already holds a dataset.
func CreatePath(ctx context.Context, path string, schema Schema, o PathOptions) (*Dataset, error) {
	return openPath(ctx, path, o, &schema)
}

func openPath(ctx context.Context, path string, o PathOptions, create *Schema) (*Dataset, error) {
	what := "open dataset"
	if create != nil {
		what = "create dataset"
	}
	loc, err := location.FromLocal(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if loc.Scheme == location.AL && loc.Path != "" {
		return nil, fmt.Errorf("%s: %s: a dataset path is al://ORG/DATASET, without a prefix", what, loc)
	}
	switch o.Mode {
	case "", api.ModeRead, api.ModeWrite:
	default:
		return nil, fmt.Errorf("%s: %s: mode %q is neither %q nor %q", what, loc, o.Mode, api.ModeRead, api.ModeWrite)
	}
	if create != nil && o.Mode == api.ModeRead {
		return nil, fmt.Errorf("%s: %s: creating a dataset needs write access, not mode %q", what, loc, o.Mode)
	}
	// vended: the credentials come from the control plane, which decides the mode.
	vended := loc.Scheme == location.AL || (o.CredsKey != "" && loc.Scheme != location.Mem)

	var dir string
	openBucket := func(mode string) (*blob.Bucket, error) {
		dir = ""
		return storage.OpenBucket(ctx, loc.String(), storage.Options{
			Client: o.Client, Mode: mode, Org: o.Org, CredsKey: o.CredsKey, Now: o.Now,
			LocalDir: func(d string) { dir = d },
		})
	}

	var (
		b        *blob.Bucket
		readOnly bool
	)
	switch {
	case create != nil:
		b, err = openBucket(api.ModeWrite)
	case !vended:
		// Nothing to vend: open without creating a missing directory, and write unless
		// asked not to.
		b, err = openBucket(api.ModeRead)
		readOnly = o.Mode == api.ModeRead
	case o.Mode == api.ModeRead:
		b, err = openBucket(api.ModeRead)
		readOnly = true
	case o.Mode == api.ModeWrite:
		b, err = openBucket(api.ModeWrite)
	default:
		b, err = openBucket(api.ModeWrite)
		var p *api.Problem
		if err != nil && errors.As(err, &p) && p.Code == api.CodePermissionDenied {
			b, err = openBucket(api.ModeRead)
			readOnly = true
			if err == nil && o.Notice != nil {
				o.Notice(fmt.Sprintf("%s opened read-only: %s", loc, p.Error()))
			}
		}
	}
	if errors.Is(err, storage.ErrNoDirectory) {
		err = noDataset{err}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}

	opts := Options{Dir: dir, Now: o.Now, HTTPClient: o.HTTPClient, CreateOnCommit: o.CreateOnCommit}
	var ds *Dataset
	if create != nil {
		ds, err = Create(ctx, b, *create, opts)
	} else {
		ds, err = Open(ctx, b, opts)
	}
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("%s: %w", loc, err)
	}
	ds.path = loc.String()
	ds.owned = true
	ds.readOnly = readOnly
	switch {
	case loc.Scheme == location.AL:
		ds.via = linkVia{client: o.Client, linkedTo: loc.String(), now: o.Now}
	case o.CredsKey != "":
		ds.via = linkVia{client: o.Client, org: o.Org, now: o.Now}
	}
	return ds, nil
}

// ReadOnly reports whether the dataset was opened read-only (PathOptions.Mode, or the
// fallback of Mode ""): then Append, Commit, AddColumn and SetLinkKey fail with ErrReadOnly
// before writing anything. Datasets opened with Open and Create are never read-only; the
// bucket's credentials decide.
func (ds *Dataset) ReadOnly() bool { return ds.readOnly }

func (ds *Dataset) checkReadOnly() error {
	if !ds.readOnly {
		return nil
	}
	return fmt.Errorf("%s: %w (open it with mode %q to write)", ds.path, ErrReadOnly, api.ModeWrite)
}

// Close closes the buckets the dataset opened: the bucket of OpenPath and CreatePath, and
// those of link targets (ReadLink). A Dataset from Open or Create leaves its bucket to the
// caller. Appenders and reads in progress fail after Close. Close is idempotent.
func (ds *Dataset) Close() error {
	ds.closeMu.Lock()
	if ds.closed {
		ds.closeMu.Unlock()
		return nil
	}
	ds.closed = true
	ds.closeMu.Unlock()
	errs := []error{ds.links.close()}
	if ds.owned {
		if err := ds.b.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", ds.path, err))
		}
	}
	return errors.Join(errs...)
}
