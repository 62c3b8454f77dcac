// Package storage opens any tarn path as a gocloud.dev *blob.Bucket: a registered dataset
// (al://ORG/DATASET[/PREFIX]) or a storage location through credentials the tarn server
// vends, a local directory (file:///abs or a plain path), or in-process scratch space
// (mem://NAME, alias tmp://). Vended credentials that expire are renewed by the bucket
// itself, so a bucket can be used for as long as the caller may still vend.
//
// Every path goes through the one parser, package location, before anything else happens, so
// a path with ".." segments, control characters or a foreign scheme never reaches a vend call
// or the file system.
package storage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	"gocloud.dev/blob/memblob"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/location"
)

// Vendor vends credentials. *client.Client satisfies it.
type Vendor interface {
	// DatasetCredentials vends credentials for the dataset al://org/name in mode.
	DatasetCredentials(ctx context.Context, org, name, mode string) (*api.Credentials, error)
	// LocationCredentials vends credentials for a storage location that is not a registered
	// dataset, through the org's creds key.
	LocationCredentials(ctx context.Context, org, key, location, mode string) (*api.Credentials, error)
	// LinkedCredentials vends read credentials for a location through a creds key linked to
	// the dataset al://org/name.
	LinkedCredentials(ctx context.Context, org, name, key, location string) (*api.Credentials, error)
}

// Options configures OpenBucket. The zero value opens file:// and mem:// paths for reading.
type Options struct {
	// Client vends credentials. It is needed for al:// paths and for storage paths opened
	// through a creds key.
	Client Vendor
	// Mode is api.ModeRead (the default when empty) or api.ModeWrite. For al:// paths and creds
	// keys it is the mode of the vended credentials. A write-mode open of a directory creates
	// it; a read-mode open of a missing directory fails. Read mode does not make a file:// or
	// mem:// bucket read-only: there is no credential to limit.
	Mode string
	// Org and CredsKey, set together, open a storage path (s3://, gs://, az://, file:///)
	// through the org's creds key: its credentials are vended for the path as an unregistered
	// location. They are ignored for al:// paths, which use their dataset's creds key, and for
	// mem:// paths, which need none.
	Org, CredsKey string
	// LinkedTo, an al://ORG/DATASET path, with CredsKey opens a storage path through a creds
	// key linked to that dataset: read-only credentials for what the dataset's link columns
	// point at, granted to the dataset's readers. Org is not needed then.
	LinkedTo string
	// LocalDir, when set, is called before OpenBucket returns with the absolute directory of
	// a bucket that is a local directory: a file:// or plain path, or a path whose vended
	// credentials are of provider file (then the vended directory, joined with the al://
	// path's PREFIX). Callers that need the directory itself, such as dataset commits that
	// create files atomically with hard links, take it from here rather than vending a
	// second time. It is not called for other buckets. It receives only the directory, never
	// credentials.
	LocalDir func(dir string)
	// HTTPClient, if set, sends the requests to the store (S3, Azure and GCS): for a store
	// whose certificate a private authority signed, or a proxy. Nil means the SDK's own.
	HTTPClient *http.Client
	// Now is the clock that decides when vended credentials are renewed; nil means
	// time.Now. It is for tests, which move time forward without waiting.
	Now func() time.Time
}

// OpenBucket opens the bucket rooted at path: keys of the returned bucket are relative to
// path. path is al://ORG/DATASET[/PREFIX], file:///abs, mem://NAME[/PREFIX] (alias tmp://),
// or a plain local path, which is resolved against the working directory.
//
// An al:// path asks opts.Client for the dataset's credentials in opts.Mode and opens what
// they grant, scoped to PREFIX. A file:// path opens the directory; blobs carry no metadata
// sidecar files. A mem:// path opens scratch space shared by every bucket of the same NAME in
// the process; closing a bucket keeps the data. Storage paths (s3://, gs://, az://) are
// opened through a creds key (opts.Org, opts.CredsKey). This version opens what providers
// file, s3, aws, azure and gcs vend; S3 buckets are opened with gocloud.dev/blob/s3blob, Azure
// containers (a SAS) with gocloud.dev/blob/azureblob, GCS buckets (an OAuth 2.0 access
// token) with gocloud.dev/blob/gcsblob over the JSON API at the vended endpoint.
//
// Vended S3 credentials, Azure SAS and GCS tokens are renewed by the bucket ahead of
// expiry: when 80 % of each credential's lifetime has passed or 30 minutes before it
// expires, whichever is earlier, but not before half of it has passed (concurrent
// operations share one vend; a failed renewal keeps the old credential in service while it
// is valid and is tried again later, so an outage of the server or its STS shorter than
// min(30 minutes, half a lifetime) goes unnoticed), and once more for an operation that the
// store refuses because its credential is expired, unknown or otherwise stale (see
// renewOnRefusal for S3, sasPolicy for Azure, gcsAuth for GCS). A credential that arrives
// already expired by the local clock (one far off from the server's) serves for 30 seconds
// before the next vend, rather than making every operation vend. The first vend happens in
// OpenBucket, so that a path the caller may not open fails here.
//
// Errors are one line that names path; they never hold credentials. An invalid path is a
// *location.Error. The caller closes the bucket.
func OpenBucket(ctx context.Context, path string, opts Options) (*blob.Bucket, error) {
	loc, err := location.FromLocal(path)
	if err != nil {
		return nil, err
	}
	mode := opts.Mode
	switch mode {
	case "":
		mode = api.ModeRead
	case api.ModeRead, api.ModeWrite:
	default:
		return nil, fmt.Errorf("%s: mode %q is neither %q nor %q", loc, mode, api.ModeRead, api.ModeWrite)
	}
	if opts.LinkedTo == "" && (opts.Org == "") != (opts.CredsKey == "") {
		return nil, fmt.Errorf("%s: Options.Org and Options.CredsKey must be set together", loc)
	}

	switch {
	case loc.Scheme == location.Mem:
		return openMem(loc), nil

	case opts.LinkedTo != "" && loc.Scheme != location.AL:
		ds, err := location.Parse(opts.LinkedTo)
		switch {
		case err != nil:
			return nil, fmt.Errorf("%s: Options.LinkedTo: %w", loc, err)
		case ds.Scheme != location.AL || ds.Path != "":
			return nil, fmt.Errorf("%s: Options.LinkedTo must be a dataset path al://ORG/DATASET", loc)
		case mode != api.ModeRead:
			return nil, fmt.Errorf("%s: linked locations open for reading only", loc)
		case opts.Client == nil:
			return nil, fmt.Errorf("%s: opening a linked location needs a tarn client: set Options.Client", loc)
		}
		if err := location.CheckName("creds key", opts.CredsKey); err != nil {
			return nil, fmt.Errorf("%s: %w", loc, err)
		}
		v := &vend{path: loc, mode: mode, fetch: func(ctx context.Context) (*api.Credentials, error) {
			return opts.Client.LinkedCredentials(ctx, ds.Org, ds.Dataset, opts.CredsKey, loc.String())
		}}
		return openVended(ctx, v, "", opts)

	case loc.Scheme == location.AL:
		if opts.Client == nil {
			return nil, fmt.Errorf("%s: opening al:// paths needs a tarn client: set Options.Client", loc)
		}
		v := &vend{path: loc, mode: mode, fetch: func(ctx context.Context) (*api.Credentials, error) {
			return opts.Client.DatasetCredentials(ctx, loc.Org, loc.Dataset, mode)
		}}
		return openVended(ctx, v, loc.Path, opts)

	case opts.CredsKey != "":
		if err := location.CheckName("org", opts.Org); err != nil {
			return nil, fmt.Errorf("%s: %w", loc, err)
		}
		if err := location.CheckName("creds key", opts.CredsKey); err != nil {
			return nil, fmt.Errorf("%s: %w", loc, err)
		}
		if opts.Client == nil {
			return nil, fmt.Errorf("%s: opening a path through a creds key needs a tarn client: set Options.Client", loc)
		}
		v := &vend{path: loc, mode: mode, fetch: func(ctx context.Context) (*api.Credentials, error) {
			return opts.Client.LocationCredentials(ctx, opts.Org, opts.CredsKey, loc.String(), mode)
		}}
		return openVended(ctx, v, "", opts) // the vend is for the whole path, prefix included

	case loc.Scheme == location.File:
		b, err := openDir(loc.FilePath(), mode)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", loc, err)
		}
		if opts.LocalDir != nil {
			opts.LocalDir(loc.FilePath())
		}
		return b, nil

	default:
		return nil, fmt.Errorf("%s: opening %s:// paths is not supported yet", loc, loc.Scheme)
	}
}

// vend fetches the credentials of one path in one mode. Every vended credential goes
// through it, so that credentials which expire (api.Credentials.ExpiresAt) can be renewed in
// one place: the refresher of an S3, Azure or GCS bucket calls get again ahead of expiry
// (renew.After) and once more on an expired or denied answer. Credentials of
// provider file do not expire in any way that matters: they name a directory.
type vend struct {
	path  location.Location // the path being opened, for errors
	mode  string
	fetch func(ctx context.Context) (*api.Credentials, error)
}

// get vends and checks the answer. Its errors never include the credentials.
func (v *vend) get(ctx context.Context) (*api.Credentials, error) {
	c, err := v.fetch(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: vend %s credentials: %w", v.path, v.mode, err)
	}
	if c == nil {
		return nil, fmt.Errorf("%s: vend %s credentials: the server answered none", v.path, v.mode)
	}
	if c.Mode != "" && c.Mode != v.mode {
		return nil, fmt.Errorf("%s: asked for %s credentials, the server vended %s", v.path, v.mode, c.Mode)
	}
	return c, nil
}

// openVended vends credentials with v and opens what they grant, scoped to prefix.
// opts.Now is the clock of credential renewal (nil: time.Now); opts.LocalDir is told the
// directory that credentials of provider file grant.
func openVended(ctx context.Context, v *vend, prefix string, opts Options) (*blob.Bucket, error) {
	c, err := v.get(ctx)
	if err != nil {
		return nil, err
	}
	var (
		b   *blob.Bucket
		dir string
	)
	switch c.Provider {
	case "file":
		dir, err = vendedDir(c)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", v.path, err)
		}
		if b, err = openDir(dir, v.mode); err != nil {
			return nil, fmt.Errorf("%s: directory %s: %w", v.path, dir, err)
		}
	case providerS3, api.ProviderAWS:
		return openS3(v, c, prefix, opts.Now, opts.HTTPClient)
	case api.ProviderAzure:
		return openAzure(v, c, prefix, opts.Now, opts.HTTPClient)
	case api.ProviderGCS:
		return openGCS(v, c, prefix, opts.Now, opts.HTTPClient)
	case "":
		return nil, fmt.Errorf("%s: the server vended credentials without a provider", v.path)
	default:
		return nil, fmt.Errorf("%s: credentials of provider %q cannot be opened by this version of tarn", v.path, c.Provider)
	}
	if opts.LocalDir != nil {
		opts.LocalDir(filepath.Join(dir, filepath.FromSlash(prefix)))
	}
	return scoped(b, prefix), nil
}

// vendedDir returns the directory that credentials of provider file grant. It holds the
// server's answer to the same rules as a path: absolute, no "..", no control characters.
func vendedDir(c *api.Credentials) (string, error) {
	if c.File == nil || c.File.Path == "" {
		return "", errors.New("the server vended file credentials without a directory")
	}
	if !filepath.IsAbs(c.File.Path) {
		return "", fmt.Errorf("the server vended a directory that is not absolute: %q", c.File.Path)
	}
	l, err := location.Parse("file://" + filepath.ToSlash(c.File.Path))
	if err != nil {
		return "", fmt.Errorf("the server vended an unusable directory: %w", err)
	}
	return l.FilePath(), nil
}

// vendedEndpoint parses the endpoint of a vend of what (such as "a SAS"): an http(s) URL
// with a host, without query, fragment or user info. Its error does not quote the
// endpoint, which might carry a secret there.
func vendedEndpoint(endpoint, what string) (*url.URL, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("the server vended %s with an unusable endpoint: want http(s)://HOST[/PATH]", what)
	}
	return u, nil
}

// ErrNoDirectory is wrapped by the error of a read-mode OpenBucket of a local directory
// that does not exist (a file:// or plain path, or a directory vended by provider file).
var ErrNoDirectory = errors.New("no such directory")

// openDir opens the local directory dir, creating it in write mode. Blobs are stored as plain
// files, without .attrs sidecar files.
func openDir(dir, mode string) (*blob.Bucket, error) {
	st, err := os.Stat(dir)
	switch {
	case err == nil && !st.IsDir():
		return nil, errors.New("not a directory")
	case errors.Is(err, fs.ErrNotExist) && mode != api.ModeWrite:
		return nil, ErrNoDirectory
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	return fileblob.OpenBucket(dir, &fileblob.Options{
		CreateDir: mode == api.ModeWrite,
		Metadata:  fileblob.MetadataDontWrite,
		// Temporary files go next to their object, so the final rename never crosses
		// file systems (os.TempDir is often a different mount).
		NoTempDir: true,
	})
}

// mem holds the scratch buckets of the process by name. A bucket's data lives as long as the
// process: closing a bucket opened on it does not drop it.
var mem struct {
	sync.Mutex
	roots map[string]*blob.Bucket
}

// openMem opens a view of the scratch bucket l.Bucket, scoped to l.Path.
func openMem(l location.Location) *blob.Bucket {
	mem.Lock()
	defer mem.Unlock()
	root, ok := mem.roots[l.Bucket]
	if !ok {
		if mem.roots == nil {
			mem.roots = map[string]*blob.Bucket{}
		}
		root = memblob.OpenBucket(nil)
		mem.roots[l.Bucket] = root
	}
	prefix := ""
	if l.Path != "" {
		prefix = l.Path + "/"
	}
	// PrefixedBucket marks root closed and returns a new bucket over root's driver, which is
	// what every view shares; root itself is never used for I/O, and closing a view closes
	// only the view (the memblob driver's Close keeps the data).
	return blob.PrefixedBucket(root, prefix)
}
