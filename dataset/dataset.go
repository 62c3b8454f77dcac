// Package dataset is tarn's dataset format: typed, versioned rows in Parquet files on any
// gocloud.dev bucket (what storage.OpenBucket returns for al://, s3://, file:// and mem://
// paths). A dataset rooted at a bucket is
//
//	tarn.json                 {"format":"tarn-dataset","version":1,"id":"<uuid>"}
//	versions/v%020d.json      one manifest per version: parent, time, message, schema,
//	                          data files (path, rows, bytes) and row count
//	data/<uuid>.parquet       rows, Zstd-compressed, in row groups of about 96 MiB
//
// Create makes tarn.json and then the manifest of version 1, each with create-if-absent. A
// creator that dies between the two leaves a half-created dataset: tarn.json and no
// manifest. Such a dataset opens as version 0, with no columns and no rows, and the next
// Create on it (an import, CreatePath) completes it with its own schema, so that nothing
// ever stays half-created.
//
// A commit writes its data files first and then creates the next manifest if it does not
// exist yet (S3 If-None-Match, hard links on a local disk). When another writer got there
// first, the commit re-reads the newest version, checks that its schema still fits, and
// tries the next version number, so concurrent appenders lose nothing. The latest version is
// the highest manifest that exists, and a manifest is never visible half-written, so
// readers never see a partial version. Data files of a commit that never finished are
// ignored.
//
// Any Parquet reader can read the data files; the tarn type of each column is kept in the
// field metadata under "tarn.type". A data file written before a column was added lacks it,
// and readers of this package fill it with nulls.
package dataset

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/aws/smithy-go"
	"github.com/google/uuid"
	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

// Options configures Create and Open. The zero value suits every bucket except a local
// directory that will be written to.
type Options struct {
	// Dir is the local directory the bucket is rooted at, for buckets opened on a local file
	// system (file:// paths; gocloud.dev/blob/fileblob). gocloud's create-if-absent is not
	// atomic there, so commits create manifests in Dir with a hard link, which is. Committing
	// to a local-directory bucket without Dir fails, and Dir must be the bucket's directory.
	Dir string
	// Now is the clock that stamps new versions; nil means time.Now.
	Now func() time.Time
	// HTTPClient fetches https:// links (ReadLink). nil means a client that connects only
	// to public addresses, never to loopback, private, link-local or other special ones,
	// and uses no proxy; set a client of your own to read links on your own network.
	// Redirects are followed only to https://, whatever the client.
	HTTPClient *http.Client
	// CreateOnCommit makes Create write nothing yet: it checks that the bucket holds no
	// dataset (ErrExists) and returns one at version 0 with the schema, which its first
	// commit (Appender.Commit, AddColumn) creates as version 1, holding that commit's rows.
	// Nothing of the dataset is visible before: closing its Appenders without a commit
	// leaves no dataset, and a process that dies before the commit leaves only data files
	// that no manifest lists. The first commit fails with ErrExists, and leaves no
	// dataset of its own, when another creator made the dataset meanwhile. Open ignores it.
	CreateOnCommit bool
}

// Dataset is a dataset at one version. Reads see that version; Commit and AddColumn move it
// to the version they create. A Dataset is safe for concurrent use; the bucket stays the
// caller's to close.
type Dataset struct {
	b    *blob.Bucket
	opts Options
	id   string

	// Set by OpenPath and CreatePath (path.go).
	path     string     // the path it was opened by, for errors
	owned    bool       // Close closes b
	readOnly bool       // commits and appends are refused
	via      linkVia    // how link columns are read
	links    linkCache  // buckets of link targets, by parent and creds key
	closeMu  sync.Mutex // guards closed
	closed   bool

	mu sync.Mutex
	m  *manifest

	firstMu sync.Mutex // held by the first commit of a staged dataset
	staged  bool       // Options.CreateOnCommit: nothing written yet; guarded by firstMu
}

// Version describes one version of a dataset.
type Version struct {
	Version int64 // 1 for the version Create makes
	Parent  int64 // 0 for the first version
	Time    time.Time
	Message string
	Schema  Schema
	Rows    int64
	Files   []File
	Source  *Source // where the rows of the commit came from; nil when it did not say
}

// ErrExists is returned by Create when the bucket already holds a dataset.
var ErrExists = errors.New("dataset already exists")

// ErrNoDataset is wrapped by the errors of Open, OpenVersion and OpenPath when the path
// holds no dataset: tarn.json is missing or, for a local directory, the directory is.
var ErrNoDataset = errors.New("not a tarn dataset")

// noDataset is an error that also matches ErrNoDataset, keeping its own message.
type noDataset struct{ error }

func (e noDataset) Is(target error) bool { return target == ErrNoDataset }
func (e noDataset) Unwrap() error        { return e.error }

// errNoVersion is the error of appending to a dataset that has no version.
var errNoVersion = errors.New("the dataset has no version yet: its creation did not finish; Create or CreatePath completes it")

// Create makes an empty dataset with the given schema at the root of b, as version 1. It
// fails with ErrExists when b already holds a dataset, and names the column of an invalid
// schema.
//
// A half-created dataset (tarn.json without any manifest: its creator died, or is still
// creating it) counts as absent: Create completes it, keeping its tarn.json and id. Of
// several Creates racing on one bucket, one makes version 1 and the others fail with
// ErrExists, after which the dataset opens. With Options.CreateOnCommit, Create only checks
// and the first commit creates version 1 (see there).
func Create(ctx context.Context, b *blob.Bucket, schema Schema, opts Options) (*Dataset, error) {
	if err := schema.Validate(); err != nil {
		return nil, fmt.Errorf("create dataset: %w", err)
	}
	if len(schema.Columns) == 0 {
		return nil, errors.New("create dataset: the schema has no columns")
	}
	ds := &Dataset{b: b, opts: opts, id: uuid.NewString()}
	if err := ds.checkDir(); err != nil {
		return nil, err
	}
	if opts.CreateOnCommit {
		return ds.stage(ctx, schema)
	}
	if _, err := ds.claimRoot(ctx); err != nil {
		return nil, fmt.Errorf("create dataset: %w", err)
	}
	m := &manifest{Version: 1, Time: ds.now(), Message: "create", Schema: schema, Files: []File{}}
	created, err := ds.createOnce(ctx, versionKey(1), encodeManifest(m))
	if err != nil {
		return nil, fmt.Errorf("create dataset: %s: %w", versionKey(1), err)
	}
	if !created {
		return nil, fmt.Errorf("create dataset: %w", ErrExists)
	}
	ds.m = m
	return ds, nil
}

// claimRoot creates tarn.json with ds's id, or adopts the id of a half-created dataset's
// tarn.json, and reports whether it created the file. It fails with ErrExists when the
// bucket holds a dataset with a version.
func (ds *Dataset) claimRoot(ctx context.Context) (created bool, err error) {
	root, _ := json.Marshal(rootFile{Format: formatName, Version: formatVersion, ID: ds.id})
	if created, err = ds.createOnce(ctx, rootKey, append(root, '\n')); err != nil || created {
		if err != nil {
			err = fmt.Errorf("%s: %w", rootKey, err)
		}
		return created, err
	}
	if ds.id, err = ds.readRoot(ctx); err != nil {
		return false, err
	}
	versions, err := ds.listVersions(ctx)
	if err != nil {
		return false, err
	}
	if len(versions) > 0 {
		return false, ErrExists
	}
	return false, nil
}

// Open opens the latest version of the dataset at the root of b. It fails when tarn.json is
// missing (an error matching ErrNoDataset) or corrupt, or the latest manifest is corrupt,
// naming the file. A half-created dataset (see Create) opens at version 0.
func Open(ctx context.Context, b *blob.Bucket, opts Options) (*Dataset, error) {
	return open(ctx, b, 0, opts)
}

// OpenVersion opens version v of the dataset at the root of b (time travel). It fails when
// that manifest does not exist or is corrupt.
func OpenVersion(ctx context.Context, b *blob.Bucket, v int64, opts Options) (*Dataset, error) {
	if v <= 0 {
		return nil, fmt.Errorf("open dataset: version %d is not positive", v)
	}
	return open(ctx, b, v, opts)
}

func open(ctx context.Context, b *blob.Bucket, v int64, opts Options) (*Dataset, error) {
	ds := &Dataset{b: b, opts: opts}
	if err := ds.checkDir(); err != nil {
		return nil, err
	}
	id, err := ds.readRoot(ctx)
	if err != nil {
		return nil, fmt.Errorf("open dataset: %w", err)
	}
	ds.id = id
	if v == 0 {
		versions, err := ds.listVersions(ctx)
		if err != nil {
			return nil, fmt.Errorf("open dataset: %w", err)
		}
		if len(versions) == 0 {
			// Half-created (see Create): empty until a Create completes it.
			ds.m = &manifest{Files: []File{}}
			return ds, nil
		}
		v = versions[len(versions)-1]
	}
	m, err := ds.readManifest(ctx, v)
	if err != nil {
		return nil, fmt.Errorf("open dataset: %w", err)
	}
	ds.m = m
	return ds, nil
}

// readRoot reads tarn.json, checks it and returns the dataset's id. A missing tarn.json is
// an error that matches ErrNoDataset.
func (ds *Dataset) readRoot(ctx context.Context) (string, error) {
	raw, err := ds.b.ReadAll(ctx, rootKey)
	if err != nil {
		if gcerrors.Code(err) == gcerrors.NotFound {
			return "", fmt.Errorf("%s is missing: %w", rootKey, ErrNoDataset)
		}
		return "", fmt.Errorf("read %s: %w", rootKey, err)
	}
	var root rootFile
	if err := json.Unmarshal(raw, &root); err != nil || root.Format != formatName {
		return "", fmt.Errorf("%s is corrupt or not a tarn dataset", rootKey)
	}
	if root.Version != formatVersion {
		return "", fmt.Errorf("%s: format version %d is not supported (want %d)", rootKey, root.Version, formatVersion)
	}
	return root.ID, nil
}

// ID returns the dataset's id, from tarn.json.
func (ds *Dataset) ID() string { return ds.id }

func (ds *Dataset) current() *manifest {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	return ds.m
}

// advance moves ds to m if m is newer than its version.
func (ds *Dataset) advance(m *manifest) {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	if m.Version > ds.m.Version {
		ds.m = m
	}
}

// Schema returns the schema of the dataset's version.
func (ds *Dataset) Schema() Schema { return ds.current().Schema }

// Version returns the number of the dataset's version: 0 for a half-created dataset (see
// Create), which has no columns and no rows.
func (ds *Dataset) Version() int64 { return ds.current().Version }

// Len returns the number of rows of the dataset's version.
func (ds *Dataset) Len() int64 { return ds.current().Rows }

// Info returns the description of the dataset's version.
func (ds *Dataset) Info() Version { return ds.current().info() }

func (m *manifest) info() Version {
	return Version{
		Version: m.Version, Parent: m.Parent, Time: m.Time, Message: m.Message,
		Schema: m.Schema, Rows: m.Rows, Files: append([]File(nil), m.Files...), Source: m.Source.clone(),
	}
}

// Versions returns every version of the dataset, oldest first, including versions committed
// after ds was opened. It fails, naming the file, when a manifest is corrupt.
func (ds *Dataset) Versions(ctx context.Context) ([]Version, error) {
	vs, err := ds.listVersions(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Version, 0, len(vs))
	for _, v := range vs {
		m, err := ds.readManifest(ctx, v)
		if err != nil {
			return nil, err
		}
		out = append(out, m.info())
	}
	return out, nil
}

// AddColumn adds a column at the end of the schema and commits that as a new version on
// top of the latest one. Rows already in the dataset read as null in the new column, so the
// column must be nullable unless the dataset is empty. It fails, naming the column, when a
// column of that name exists.
func (ds *Dataset) AddColumn(ctx context.Context, col Column) (Version, error) {
	if err := NewSchema(col).Validate(); err != nil {
		return Version{}, fmt.Errorf("add column: %w", err)
	}
	m, err := ds.commit(ctx, func(latest *manifest) (*manifest, error) {
		if _, ok := latest.Schema.Column(col.Name); ok {
			return nil, fmt.Errorf("add column: column %q already exists", col.Name)
		}
		if latest.Rows > 0 && !col.Nullable {
			return nil, fmt.Errorf("add column: column %q must be nullable: the dataset has rows", col.Name)
		}
		next := *latest
		next.Schema = Schema{Columns: append(append([]Column(nil), latest.Schema.Columns...), col)}
		next.Message = "add column " + col.Name
		return &next, nil
	})
	if err != nil {
		return Version{}, err
	}
	return m.info(), nil
}

// commit creates the version that mutate derives from the latest version. mutate returns
// the next manifest's schema, files, rows and message; commit numbers and stamps it. When
// another writer creates that version first, commit reads the newer versions and calls
// mutate again on the newest.
func (ds *Dataset) commit(ctx context.Context, mutate func(latest *manifest) (*manifest, error)) (*manifest, error) {
	if err := ds.checkWritable(); err != nil {
		return nil, err
	}
	if m, done, err := ds.commitFirst(ctx, mutate); done {
		return m, err
	}
	latest, err := ds.catchUp(ctx, ds.current())
	if err != nil {
		return nil, err
	}
	for {
		base := *latest
		base.Source = nil // a source describes the commit that recorded it only
		next, err := mutate(&base)
		if err != nil {
			return nil, err
		}
		next.Version, next.Parent, next.Time = latest.Version+1, latest.Version, ds.now()
		if next.Files == nil {
			next.Files = []File{}
		}
		created, err := ds.createIfAbsent(ctx, versionKey(next.Version), encodeManifest(next))
		if err != nil {
			return nil, fmt.Errorf("commit: create %s: %w", versionKey(next.Version), err)
		}
		if created {
			ds.advance(next)
			return next, nil
		}
		if latest, err = ds.catchUp(ctx, latest); err != nil {
			return nil, err
		}
	}
}

// catchUp returns the newest version from m on, by reading the manifests after it until
// one is missing. Manifests are created in order, so no version is skipped.
func (ds *Dataset) catchUp(ctx context.Context, m *manifest) (*manifest, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		next, err := ds.readManifest(ctx, m.Version+1)
		if errors.Is(err, errNoManifest) {
			return m, nil
		}
		if err != nil {
			return nil, err
		}
		m = next
	}
}

var errNoManifest = errors.New("manifest is missing")

// readManifest reads and checks version v. The error names the file.
func (ds *Dataset) readManifest(ctx context.Context, v int64) (*manifest, error) {
	key := versionKey(v)
	r, err := ds.b.NewReader(ctx, key, nil)
	if err != nil {
		if gcerrors.Code(err) == gcerrors.NotFound {
			return nil, fmt.Errorf("%s: %w", key, errNoManifest)
		}
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	defer r.Close()
	raw, err := io.ReadAll(io.LimitReader(r, maxManifestBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	m, err := decodeManifest(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	if m.Version != v {
		return nil, fmt.Errorf("%s: corrupt manifest: it says version %d", key, m.Version)
	}
	return m, nil
}

// listVersions returns the versions whose manifests exist, in order. Keys under versions/
// that are not manifest names (temporary files) are ignored.
func (ds *Dataset) listVersions(ctx context.Context) ([]int64, error) {
	var vs []int64
	it := ds.b.List(&blob.ListOptions{Prefix: versionsDir})
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", versionsDir, err)
		}
		if v, ok := parseVersionKey(obj.Key); ok {
			vs = append(vs, v)
		}
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i] < vs[j] })
	return vs, nil
}

func (ds *Dataset) now() time.Time {
	if ds.opts.Now != nil {
		return ds.opts.Now().UTC()
	}
	return time.Now().UTC()
}

// isLocalDir reports whether b is a local-directory bucket (fileblob), and its directory's
// FileInfo.
func isLocalDir(b *blob.Bucket) (os.FileInfo, bool) {
	var fi os.FileInfo
	if b.As(&fi) && fi != nil {
		return fi, true
	}
	return nil, false
}

// checkDir checks that Options.Dir, when set, is the directory of a local-directory bucket.
func (ds *Dataset) checkDir() error {
	if ds.opts.Dir == "" {
		return nil
	}
	fi, ok := isLocalDir(ds.b)
	if !ok {
		return fmt.Errorf("dataset: Options.Dir is set but the bucket is not a local directory")
	}
	st, err := os.Stat(ds.opts.Dir)
	if err != nil {
		return fmt.Errorf("dataset: Options.Dir: %w", err)
	}
	if !os.SameFile(fi, st) {
		return fmt.Errorf("dataset: Options.Dir %s is not the bucket's directory", ds.opts.Dir)
	}
	return nil
}

// checkWritable refuses commits to a read-only dataset and commits that could not create
// manifests atomically.
func (ds *Dataset) checkWritable() error {
	if err := ds.checkReadOnly(); err != nil {
		return err
	}
	if _, local := isLocalDir(ds.b); local && ds.opts.Dir == "" {
		return errors.New("dataset: the bucket is a local directory, whose create-if-absent is not atomic: set Options.Dir to commit")
	}
	return nil
}

// createIfAbsent creates key with data unless it exists, atomically, and reports whether it
// did. On a local directory (Options.Dir) it writes a temporary file and hard-links it to
// the final name, which fails if the name exists; elsewhere it uses the bucket's
// create-if-absent (If-None-Match: * on S3, preconditions on GCS and Azure).
func (ds *Dataset) createIfAbsent(ctx context.Context, key string, data []byte) (created bool, err error) {
	hook("create " + key)
	defer func() {
		if created {
			hook("created " + key)
		}
	}()
	if ds.opts.Dir != "" {
		return linkIfAbsent(ds.opts.Dir, filepath.Join(ds.opts.Dir, filepath.FromSlash(key)), data)
	}
	if _, local := isLocalDir(ds.b); local {
		return false, errors.New("the bucket is a local directory, whose create-if-absent is not atomic: set Options.Dir")
	}
	w, err := ds.b.NewWriter(ctx, key, &blob.WriterOptions{IfNotExist: true, ContentType: "application/json"})
	if err != nil {
		return false, err
	}
	if _, err := io.Copy(w, bytes.NewReader(data)); err != nil {
		w.Close()
		return false, err
	}
	if err := w.Close(); err != nil {
		if gcerrors.Code(err) == gcerrors.FailedPrecondition {
			return false, nil
		}
		// S3 answers 409 ConditionalRequestConflict to a conditional write that races
		// another one; nothing was written, and the caller reads and tries again.
		var ae smithy.APIError
		if ds.b.ErrorAs(err, &ae) && ae.ErrorCode() == "ConditionalRequestConflict" {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// testHook, set only by tests (export_test.go), is called at each step of creating a
// dataset and committing, so that a test can kill a process at a known point.
var testHook func(event string)

func hook(event string) {
	if testHook != nil {
		testHook(event)
	}
}

// createOnce is createIfAbsent whose false answer means that key exists. S3 refuses a
// conditional write that races another one in progress (409 ConditionalRequestConflict)
// without writing; createOnce then checks whether the other one made key and, if not yet,
// tries again, a few times, shortly after.
func (ds *Dataset) createOnce(ctx context.Context, key string, data []byte) (bool, error) {
	wait := 10 * time.Millisecond
	for attempt := 1; ; attempt++ {
		created, err := ds.createIfAbsent(ctx, key, data)
		if err != nil || created {
			return created, err
		}
		exists, err := ds.b.Exists(ctx, key)
		if err != nil || exists {
			return false, err
		}
		if attempt == 5 {
			return false, errors.New("it was neither created nor found: concurrent writers kept conflicting; try again")
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return false, ctx.Err()
		}
		wait *= 2
	}
}

// linkIfAbsent writes data to a temporary file in tmpDir, syncs it, and links it to path;
// it reports false when path exists. tmpDir is the dataset's root: temporary files never
// appear in versions/, where a listing racing their removal would fail.
func linkIfAbsent(tmpDir, path string, data []byte) (bool, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, err
	}
	f, err := os.CreateTemp(tmpDir, ".tmp-*")
	if err != nil {
		return false, err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, err
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, os.ErrExist) || errors.Is(err, syscall.EEXIST) {
			return false, nil
		}
		return false, err
	}
	if d, err := os.Open(dir); err == nil { // make the new name durable
		d.Sync()
		d.Close()
	}
	return true, nil
}
