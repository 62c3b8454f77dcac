package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
	"google.golang.org/api/googleapi"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/dataset/render"
	"github.com/tarnhq/tarn/location"
	"github.com/tarnhq/tarn/storage"
)

// viaKey holds --org and --creds-key of the object commands: open storage URLs through an
// org's creds key, as an unregistered location.
type viaKey struct{ org, key string }

func (v *viaKey) flags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&v.org, "org", "", "open storage URLs through a creds key of this org (with --creds-key)")
	cmd.Flags().StringVar(&v.key, "creds-key", "", "open storage URLs through this creds key of --org")
}

func (v *viaKey) check() error {
	if (v.org == "") != (v.key == "") {
		return usagef("--org and --creds-key go together")
	}
	if v.org == "" {
		return nil
	}
	if err := checkName("org", v.org); err != nil {
		return err
	}
	return checkName("creds key", v.key)
}

// appliesTo reports whether --org/--creds-key open p: only storage URLs go through a creds
// key, never al:// paths (they use their dataset's), mem:// paths or plain local paths.
func (v *viaKey) appliesTo(p objPath) bool {
	return v.org != "" && p.url && p.loc.Scheme != location.AL && p.loc.Scheme != location.Mem
}

// objPath is a path argument of an object command.
type objPath struct {
	loc location.Location
	// url is set when the argument was written as a URL (with "://") rather than a plain
	// local path: only URLs go through --org/--creds-key.
	url bool
	// slash is set when the argument ended in "/".
	slash bool
}

// parse checks --org and --creds-key and parses the one path argument s of ls or cat, which
// they must apply to if given.
func (v *viaKey) parse(s string) (objPath, error) {
	if err := v.check(); err != nil {
		return objPath{}, err
	}
	p, err := parseObjPath(s)
	if err != nil {
		return objPath{}, err
	}
	if v.org != "" && !v.appliesTo(p) {
		return objPath{}, usagef("--org and --creds-key apply to storage URLs (s3://, gs://, az://, file:///), not to %q", s)
	}
	return p, nil
}

func parseObjPath(s string) (objPath, error) {
	l, err := location.FromLocal(s)
	if err != nil {
		return objPath{}, usagef("%s", err)
	}
	return objPath{loc: l, url: strings.Contains(s, "://"), slash: strings.HasSuffix(s, "/")}, nil
}

// open opens the bucket rooted at loc (a path of p's kind) in mode.
func (a *app) open(ctx context.Context, p objPath, loc location.Location, mode string, v viaKey) (*blob.Bucket, error) {
	opts := storage.Options{Mode: mode}
	throughKey := v.appliesTo(p)
	if throughKey {
		opts.Org, opts.CredsKey = v.org, v.key
	}
	if loc.Scheme == location.AL || throughKey {
		c, err := a.client()
		if err != nil {
			return nil, err
		}
		opts.Client = c
	}
	return storage.OpenBucket(ctx, loc.String(), opts)
}

// objErr describes an error of a blob operation: a refusal by GCS as such (see gcsRefusal),
// else "no such object" for NotFound.
func objErr(err error) error {
	if r := gcsRefusal(err); r != nil {
		return r
	}
	if gcerrors.Code(err) == gcerrors.NotFound {
		return errors.New("no such object")
	}
	return err
}

// refused is err, or its description as a refusal by GCS (see gcsRefusal).
func refused(err error) error {
	if r := gcsRefusal(err); r != nil {
		return r
	}
	return err
}

// gcsRefusal describes err as a refusal when GCS answered it with 403, and returns nil
// otherwise. GCS answers 403 for a permission that a token lacks (its access boundary, or
// the roles of the service account it acts as), and gcsblob reports that as NotFound,
// because a 403 may hide whether an object exists; but for a token vended for the very
// location, "no such object" would send its user looking in the wrong place.
func gcsRefusal(err error) error {
	var ge *googleapi.Error
	if !errors.As(err, &ge) || ge.Code != http.StatusForbidden {
		return nil
	}
	msg := strings.TrimSuffix(strings.Join(strings.Fields(ge.Message), " "), ".")
	if msg == "" {
		msg = http.StatusText(ge.Code)
	}
	return fmt.Errorf("GCS refused the request (403): %s; the token's access boundary or the roles of its service account do not allow it (tarn creds verify checks the creds key; tarn provision gcp prints the roles it needs)", msg)
}

// joinKey returns the location string of key below loc.
func joinKey(loc location.Location, key string) string {
	if key == "" {
		return loc.String()
	}
	return strings.TrimSuffix(loc.String(), "/") + "/" + key
}

// objectEntry is one line of `tarn ls --output json`.
type objectEntry struct {
	Key     string     `json:"key"`
	Dir     bool       `json:"dir,omitempty"`
	Size    int64      `json:"size"`
	ModTime *time.Time `json:"mod_time,omitempty"`
}

func (a *app) lsCmd() *cobra.Command {
	var (
		recursive bool
		v         viaKey
	)
	cmd := &cobra.Command{
		Use:   "ls PATH [-r]",
		Short: "List the objects below a dataset or storage path",
		Long: `List the objects below PATH, like "aws s3 ls": one level at a time, with sub-prefixes shown
as "PRE name/", or every object below PATH with -r. Keys are relative to PATH; times are
UTC.

PATH is al://ORG/NAME[/PREFIX] (read credentials are vended for the dataset), a local
directory, or a storage URL; --org and --creds-key open a storage URL through an org's creds
key.`,
		Example: `  tarn ls al://acme/coco
  tarn ls -r al://acme/coco/images
  tarn ls file:///srv/datasets/raw --org acme --creds-key local`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := v.parse(args[0])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			b, err := a.open(ctx, p, p.loc, api.ModeRead, v)
			if err != nil {
				return fmt.Errorf("ls: %w", err)
			}
			defer b.Close()
			opts := &blob.ListOptions{}
			if !recursive {
				opts.Delimiter = "/"
			}
			it := b.List(opts)
			var entries []objectEntry
			for {
				obj, err := it.Next(ctx)
				if err == io.EOF {
					break
				}
				if err != nil {
					return fmt.Errorf("ls %s: %w", p.loc, err)
				}
				if recursive && obj.IsDir {
					continue
				}
				e := objectEntry{Key: obj.Key, Dir: obj.IsDir, Size: obj.Size}
				if !obj.IsDir && !obj.ModTime.IsZero() {
					t := obj.ModTime.UTC()
					e.ModTime = &t
				}
				if a.jsonOut() {
					entries = append(entries, e)
					continue
				}
				// The layout of `aws s3 ls`.
				if e.Dir {
					fmt.Fprintf(a.stdout, "%19s %10s %s\n", "", "PRE", e.Key)
				} else {
					ts := ""
					if e.ModTime != nil {
						ts = e.ModTime.Format(time.DateTime)
					}
					fmt.Fprintf(a.stdout, "%19s %10d %s\n", ts, e.Size, e.Key)
				}
			}
			if a.jsonOut() {
				return a.printJSON(nonNil(entries))
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&recursive, "recursive", "r", false, "list every object below PATH")
	v.flags(cmd)
	return cmd
}

func (a *app) catCmd() *cobra.Command {
	var v viaKey
	cmd := &cobra.Command{
		Use:   "cat PATH",
		Short: "Write an object to standard output",
		Long: `Write the object at PATH to standard output, streamed. PATH is al://ORG/NAME/KEY, a local
file, or a storage URL (see "tarn ls" for --org and --creds-key).`,
		Example: `  tarn cat al://acme/coco/tarn.json
  tarn cat al://acme/coco/labels.csv | head`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := v.parse(args[0])
			if err != nil {
				return err
			}
			dir, name := p.loc.Split()
			if name == "" {
				return usagef("%q names no object: give the path of an object, e.g. al://ORG/NAME/KEY", args[0])
			}
			ctx := cmd.Context()
			b, err := a.open(ctx, p, dir, api.ModeRead, v)
			if err != nil {
				return fmt.Errorf("cat: %w", err)
			}
			defer b.Close()
			r, err := b.NewReader(ctx, name, nil)
			if err != nil {
				return fmt.Errorf("cat %s: %w", p.loc, objErr(err))
			}
			defer r.Close()
			if _, err := io.Copy(a.stdout, r); err != nil {
				return fmt.Errorf("cat %s: %w", p.loc, err)
			}
			return nil
		},
	}
	v.flags(cmd)
	return cmd
}

// copied is one line of `tarn cp --output json`.
type copied struct {
	Source      string `json:"source"`
	Destination string `json:"destination"`
	Size        int64  `json:"size"`
}

func (a *app) cpCmd() *cobra.Command {
	var (
		recursive bool
		v         viaKey
	)
	cmd := &cobra.Command{
		Use:   "cp SRC DST [-r]",
		Short: "Copy objects between datasets, storage and local files",
		Long: `Copy the object SRC to DST, or with -r every object below SRC. Either side is
al://ORG/NAME/KEY (credentials are vended: read for SRC, write for DST), a local path, or a
storage URL (--org and --creds-key open storage URLs through an org's creds key).

DST ending in "/", a dataset or bucket root, or an existing local directory means "into":
the copy keeps SRC's last name. With -r the tree goes into DST the same way (as DST/NAME),
and otherwise becomes DST itself.

Bytes are streamed, never held in memory; a copy that fails leaves no partial object
behind. A progress line goes to stderr when it is a terminal.`,
		Example: `  tarn cp ./labels.csv al://acme/coco/
  tarn cp al://acme/coco/labels.csv ./labels-copy.csv
  tarn cp -r ./images al://acme/coco/
  tarn cp -r al://acme/coco ./backup`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := v.check(); err != nil {
				return err
			}
			src, err := parseObjPath(args[0])
			if err != nil {
				return err
			}
			dst, err := parseObjPath(args[1])
			if err != nil {
				return err
			}
			if v.org != "" && !v.appliesTo(src) && !v.appliesTo(dst) {
				return usagef("--org and --creds-key apply to storage URLs (s3://, gs://, az://, file:///), and neither SRC nor DST is one")
			}
			var done []copied
			if recursive && !isLocalFile(src.loc) {
				done, err = a.copyTree(cmd.Context(), src, dst, v)
			} else {
				done, err = a.copyObject(cmd.Context(), src, dst, v)
			}
			if err != nil {
				return err
			}
			if a.jsonOut() {
				return a.printJSON(nonNil(done))
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&recursive, "recursive", "r", false, "copy every object below SRC")
	v.flags(cmd)
	return cmd
}

// isLocalFile reports whether l is a local file that exists and is not a directory.
func isLocalFile(l location.Location) bool {
	if l.Scheme != location.File {
		return false
	}
	st, err := os.Stat(l.FilePath())
	return err == nil && !st.IsDir()
}

// isLocalDir reports whether l is an existing local directory.
func isLocalDir(l location.Location) bool {
	if l.Scheme != location.File {
		return false
	}
	st, err := os.Stat(l.FilePath())
	return err == nil && st.IsDir()
}

// into reports whether DST means "into": it ends in "/", is a root, or is a local directory.
func into(dst objPath) bool {
	return dst.slash || dst.loc.Path == "" || isLocalDir(dst.loc)
}

// copyObject copies one object.
func (a *app) copyObject(ctx context.Context, src, dst objPath, v viaKey) ([]copied, error) {
	srcDir, srcName := src.loc.Split()
	if srcName == "" {
		return nil, usagef("%q names no object: give an object's path, or use -r to copy everything below it", src.loc)
	}
	if isLocalDir(src.loc) {
		return nil, fmt.Errorf("cp %s: it is a directory; use -r to copy it", src.loc)
	}
	dstDir, dstName := dst.loc, srcName
	if !into(dst) {
		dstDir, dstName = dst.loc.Split()
	}
	what := fmt.Sprintf("cp %s %s", src.loc, joinKey(dstDir, dstName))
	sb, err := a.open(ctx, src, srcDir, api.ModeRead, v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer sb.Close()
	db, err := a.open(ctx, dst, dstDir, api.ModeWrite, v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer db.Close()
	pr := a.newProgress(1)
	n, err := copyBlob(ctx, sb, srcName, db, dstName, pr)
	pr.finish(err == nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return []copied{{Source: src.loc.String(), Destination: joinKey(dstDir, dstName), Size: n}}, nil
}

// copyTree copies every object below src.
func (a *app) copyTree(ctx context.Context, src, dst objPath, v viaKey) ([]copied, error) {
	dstTree := dst.loc
	if into(dst) {
		if name := treeName(src.loc); name != "" {
			var err error
			if dstTree, err = dst.loc.Join(name); err != nil {
				return nil, usagef("%s", err)
			}
		}
	}
	what := fmt.Sprintf("cp -r %s %s", src.loc, dstTree)
	if dstTree.Within(src.loc) {
		return nil, fmt.Errorf("%s: the destination lies inside the source", what)
	}
	sb, err := a.open(ctx, src, src.loc, api.ModeRead, v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer sb.Close()
	keys, err := storage.Keys(ctx, sb)
	if err != nil {
		return nil, fmt.Errorf("%s: list %s: %w", what, src.loc, err)
	}
	db, err := a.open(ctx, dst, dstTree, api.ModeWrite, v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer db.Close()
	pr := a.newProgress(len(keys))
	done := make([]copied, 0, len(keys))
	for _, k := range keys {
		pr.next(k)
		n, err := copyBlob(ctx, sb, k, db, k, pr)
		if err != nil {
			pr.finish(false)
			return done, fmt.Errorf("%s: %s: %w (%d of %d objects copied)", what, k, err, len(done), len(keys))
		}
		done = append(done, copied{Source: joinKey(src.loc, k), Destination: joinKey(dstTree, k), Size: n})
	}
	pr.finish(true)
	return done, nil
}

// treeName is the name a tree keeps when copied into a directory: the last path segment,
// or the dataset, bucket or container name of a root.
func treeName(l location.Location) string {
	if _, name := l.Split(); name != "" {
		return name
	}
	switch l.Scheme {
	case location.AL:
		return l.Dataset
	case location.AZ:
		return l.Container
	}
	return l.Bucket
}

// copyBlob streams src/srcKey to dst/dstKey and returns the bytes copied. On any error the
// destination write is aborted, so no partial object is left behind.
func copyBlob(ctx context.Context, src *blob.Bucket, srcKey string, dst *blob.Bucket, dstKey string, pr *progress) (int64, error) {
	r, err := src.NewReader(ctx, srcKey, nil)
	if err != nil {
		return 0, fmt.Errorf("read: %w", objErr(err))
	}
	defer r.Close()
	return writeBlob(ctx, dst, dstKey, r.ContentType(), &countingReader{r: r, pr: pr, total: r.Size()})
}

// writeBlob streams r into dst/key. If reading or writing fails, it cancels the write, so
// that the object is not created (or keeps its old content).
func writeBlob(ctx context.Context, dst *blob.Bucket, key, contentType string, r io.Reader) (int64, error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := dst.NewWriter(wctx, key, &blob.WriterOptions{ContentType: contentType})
	if err != nil {
		return 0, fmt.Errorf("write: %w", refused(err))
	}
	er := &errReader{r: r}
	n, err := io.Copy(w, er)
	if err != nil {
		cancel() // aborts the write
		w.Close()
		if er.err != nil {
			return n, fmt.Errorf("read: %w", er.err)
		}
		return n, fmt.Errorf("write: %w", refused(err))
	}
	if err := w.Close(); err != nil {
		return n, fmt.Errorf("write: %w", refused(err))
	}
	return n, nil
}

// errReader remembers the read error of r, so that a failed copy can tell a read failure
// from a write failure.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

// countingReader reports the bytes read to the progress line.
type countingReader struct {
	r     io.Reader
	pr    *progress
	total int64
	n     int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	c.pr.update(c.n, c.total)
	return n, err
}

// progress draws a one-line progress report on stderr when it is a terminal.
type progress struct {
	a       *app
	on      bool
	objects int // number of objects to copy
	index   int // 1-based index of the current object
	key     string
	bytes   int64 // bytes of finished objects
	cur     int64 // bytes of the current object
	last    time.Time
	drawn   bool
}

func (a *app) newProgress(objects int) *progress {
	return &progress{a: a, on: a.stderrTerminal, objects: objects}
}

// next starts the next object.
func (p *progress) next(key string) {
	p.bytes += p.cur
	p.cur = 0
	p.index++
	p.key = key
}

// update records that n of total bytes of the current object are copied.
func (p *progress) update(n, total int64) {
	p.cur = n
	if !p.on {
		return
	}
	now := p.a.now()
	if p.drawn && now.Sub(p.last) < 200*time.Millisecond && n != total {
		return
	}
	p.last, p.drawn = now, true
	line := render.Size(n)
	if total > 0 {
		line += " / " + render.Size(total)
	}
	if p.objects > 1 {
		line = fmt.Sprintf("[%d/%d] %s %s", p.index, p.objects, path.Base(p.key), line)
	}
	fmt.Fprintf(p.a.stderr, "\r\x1b[K%s", line)
}

// finish clears the progress line and, after a tree copy, prints a summary.
func (p *progress) finish(ok bool) {
	if !p.on {
		return
	}
	if p.drawn {
		fmt.Fprint(p.a.stderr, "\r\x1b[K")
	}
	if ok && p.objects != 1 {
		fmt.Fprintf(p.a.stderr, "Copied %d objects (%s).\n", p.objects, render.Size(p.bytes+p.cur))
	}
}
