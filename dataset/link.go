package dataset

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/location"
	"github.com/tarnhq/tarn/storage"
)

// linkVia is how a dataset reads its link targets.
type linkVia struct {
	client   storage.Vendor
	linkedTo string // al://ORG/DS: through creds keys linked to that dataset
	org      string // else, with client: through the org's creds keys, as unregistered locations
	now      func() time.Time
}

// ReadLink returns the bytes that the link column of row points at.
//
// An https:// link is fetched with Options.HTTPClient (PathOptions.HTTPClient), by default
// a client that connects only to public addresses (see HTTPClient). Storage URLs have their
// parent opened read-only and kept open, per parent and creds key, until Close:
//
//   - for a dataset opened by an al:// path, only through the column's LinkKey linked to the
//     dataset (storage.Options.LinkedTo): the control plane vends read credentials for the
//     target to anyone who may read the dataset, only if the key is linked to the dataset and
//     the URL lies within the key's roots, and answers 403 otherwise. A link without a key,
//     and any mem:// link, is refused without being read: a dataset that others wrote, such
//     as a public one, never makes the reader's process read the reader's own files;
//   - for a dataset opened through an org's creds key (PathOptions.Org), through the org's
//     creds key LinkKey, as an unregistered location;
//   - otherwise (a dataset its owner opened on a local or storage path, or with Open)
//     file:// and mem:// URLs are opened directly, and other URLs fail: there is no control
//     plane to vend for them.
//
// ReadLink fails, naming the column, for an unknown column, a column that is not a link, a
// null value, a URL that is neither https:// nor a storage URL, or a refused link; errors
// never show the query of an https:// link, where presigned URLs keep their signatures.
func (ds *Dataset) ReadLink(ctx context.Context, row Row, column string) ([]byte, error) {
	r, err := ds.OpenLink(ctx, row, column)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read link %s: %w", r.shown, err)
	}
	return data, nil
}

// OpenLink is ReadLink as a stream: it returns a reader of the linked object, which the
// caller closes.
func (ds *Dataset) OpenLink(ctx context.Context, row Row, column string) (*LinkReader, error) {
	col, ok := ds.Schema().Column(column)
	if !ok {
		return nil, fmt.Errorf("read link: unknown column %q", column)
	}
	if col.Type.Kind != Link {
		return nil, fmt.Errorf("read link: column %q is %s, not a link", column, col.Type)
	}
	var url string
	switch v := row[column].(type) {
	case nil:
		return nil, fmt.Errorf("read link: column %q is null in this row", column)
	case string:
		url = v
	default:
		return nil, fmt.Errorf("read link: column %q holds a %T, not a URL", column, v)
	}
	if scheme, _, ok := strings.Cut(url, "://"); ok && (strings.EqualFold(scheme, "https") || strings.EqualFold(scheme, "http")) {
		u, err := parseHTTPSLink(url)
		if err != nil {
			return nil, fmt.Errorf("read link: column %q: %w", column, err)
		}
		if err := ds.links.check(); err != nil {
			return nil, fmt.Errorf("read link: column %q: %w", column, err)
		}
		body, err := getHTTPS(ctx, ds.httpClient(), u)
		if err != nil {
			return nil, fmt.Errorf("read link: column %q: %w", column, err)
		}
		return &LinkReader{r: body, url: url, shown: redact(u)}, nil
	}
	l, err := location.Parse(url)
	if err != nil {
		return nil, fmt.Errorf("read link: column %q: %w", column, err)
	}
	if l.Scheme == location.AL {
		return nil, fmt.Errorf("read link: column %q: %s: links must be https:// or storage URLs (s3://, file://, …), not al:// paths", column, l)
	}
	parent, name := l.Split()
	if name == "" {
		return nil, fmt.Errorf("read link: column %q: %s names no object", column, l)
	}
	b, err := ds.linkBucket(ctx, l, parent, col)
	if err != nil {
		return nil, fmt.Errorf("read link: column %q: %w", column, err)
	}
	r, err := b.NewReader(ctx, name, nil)
	if err != nil {
		if gcerrors.Code(err) == gcerrors.NotFound {
			return nil, fmt.Errorf("read link: column %q: %s: no such object", column, l)
		}
		return nil, fmt.Errorf("read link: column %q: %s: %w", column, l, err)
	}
	return &LinkReader{r: r, url: l.String(), shown: l.String()}, nil
}

// LinkReader reads one linked object. Close it.
type LinkReader struct {
	r     io.ReadCloser
	url   string
	shown string // url as errors show it
}

// Read reads the linked bytes.
func (r *LinkReader) Read(p []byte) (int, error) { return r.r.Read(p) }

// Close ends the read.
func (r *LinkReader) Close() error { return r.r.Close() }

// URL returns the link the reader reads.
func (r *LinkReader) URL() string { return r.url }

// linkBucket returns the open bucket of parent, the parent of link, for column col, opening
// it on first use.
func (ds *Dataset) linkBucket(ctx context.Context, link, parent location.Location, col Column) (*blob.Bucket, error) {
	v := ds.via
	var opts storage.Options
	switch {
	case v.linkedTo != "":
		// Opened by al://: the dataset may be anyone's, so nothing is read on the reader's
		// own terms, only through what the control plane vends for keys linked to it.
		if parent.Scheme == location.Mem {
			return nil, fmt.Errorf("%s: refused: mem:// links are this process's scratch space, never read for a dataset opened by its al:// path (%s)", link, v.linkedTo)
		}
		if col.LinkKey == "" {
			return nil, fmt.Errorf("%s: refused: %s reads links only over https or through a creds key linked to it, and column %q has no link key: its owner links a key that covers the link (tarn ds add-creds-key %s KEY) and sets it as the column's link key", link, v.linkedTo, col.Name, v.linkedTo)
		}
		opts = storage.Options{Client: v.client, LinkedTo: v.linkedTo, CredsKey: col.LinkKey, Now: v.now}
	case col.LinkKey == "" || parent.Scheme == location.Mem:
		if parent.Scheme != location.File && parent.Scheme != location.Mem {
			if v.client != nil {
				return nil, fmt.Errorf("%s: the column has no creds key for links: set one (Column.LinkKey, Dataset.SetLinkKey) and link it to the dataset", parent)
			}
			return nil, fmt.Errorf("%s: %s:// links are read through a creds key, which needs the control plane: set the column's link key and open the dataset by its al:// path", parent, parent.Scheme)
		}
	case v.client != nil && v.org != "":
		opts = storage.Options{Client: v.client, Org: v.org, CredsKey: col.LinkKey, Mode: api.ModeRead, Now: v.now}
	case parent.Scheme == location.File:
		// No control plane: the link key cannot be used, but a local file needs none.
	default:
		return nil, fmt.Errorf("%s: reading links through creds key %q needs the control plane: open the dataset by its al:// path", parent, col.LinkKey)
	}
	key := parent.String() + "\x00" + opts.CredsKey
	return ds.links.get(ctx, key, func() (*blob.Bucket, error) {
		return storage.OpenBucket(ctx, parent.String(), opts)
	})
}

// linkCache holds the open buckets of link targets. Concurrent first uses of one key share
// one open; a failed open is not kept, so the next use tries again.
type linkCache struct {
	mu     sync.Mutex
	m      map[string]*linkEntry
	closed bool
}

type linkEntry struct {
	ready chan struct{}
	b     *blob.Bucket
	err   error
}

var errClosed = errors.New("dataset is closed")

// check fails after close.
func (c *linkCache) check() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return errClosed
	}
	return nil
}

func (c *linkCache) get(ctx context.Context, key string, open func() (*blob.Bucket, error)) (*blob.Bucket, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, errClosed
	}
	if e, ok := c.m[key]; ok {
		c.mu.Unlock()
		select {
		case <-e.ready:
			return e.b, e.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	e := &linkEntry{ready: make(chan struct{})}
	if c.m == nil {
		c.m = map[string]*linkEntry{}
	}
	c.m[key] = e
	c.mu.Unlock()

	b, err := open()
	c.mu.Lock()
	switch {
	case err != nil:
		delete(c.m, key)
	case c.closed: // Close ran meanwhile and did not see b
		b.Close()
		b, err = nil, errClosed
	}
	e.b, e.err = b, err
	c.mu.Unlock()
	close(e.ready)
	return b, err
}

// close closes every open bucket; later gets fail.
func (c *linkCache) close() error {
	c.mu.Lock()
	c.closed = true
	var open []*blob.Bucket
	for _, e := range c.m {
		select {
		case <-e.ready:
			if e.b != nil {
				open = append(open, e.b)
			}
		default: // still opening: get closes it
		}
	}
	c.m = nil
	c.mu.Unlock()
	var errs []error
	for _, b := range open {
		errs = append(errs, b.Close())
	}
	return errors.Join(errs...)
}

// SetLinkKey sets the creds key through which the link column's URLs are read (empty: none)
// and commits that as a new version. The key must also be linked to the dataset on the
// control plane (client.AddLinkedCredsKey) for readers to use it. It fails, naming the
// column, for an unknown column or one that is not a link.
func (ds *Dataset) SetLinkKey(ctx context.Context, column, key string) (Version, error) {
	if key != "" {
		if err := location.CheckName("creds key", key); err != nil {
			return Version{}, fmt.Errorf("set link key: %w", err)
		}
	}
	m, err := ds.commit(ctx, func(latest *manifest) (*manifest, error) {
		cols := append([]Column(nil), latest.Schema.Columns...)
		i := -1
		for j, c := range cols {
			if c.Name == column {
				i = j
			}
		}
		switch {
		case i < 0:
			return nil, fmt.Errorf("set link key: unknown column %q", column)
		case cols[i].Type.Kind != Link:
			return nil, fmt.Errorf("set link key: column %q is %s, not a link", column, cols[i].Type)
		}
		cols[i].LinkKey = key
		next := *latest
		next.Schema = Schema{Columns: cols}
		next.Message = fmt.Sprintf("set link key of %s to %q", column, key)
		return &next, nil
	})
	if err != nil {
		return Version{}, err
	}
	return m.info(), nil
}
