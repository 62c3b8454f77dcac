package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"gocloud.dev/blob"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/dataset"
	"github.com/tarnhq/tarn/location"
	"github.com/tarnhq/tarn/storage"
)

// dsDataCmds are the commands on a dataset's rows, under `tarn ds`.
func (a *app) dsDataCmds() []*cobra.Command {
	return []*cobra.Command{a.dsImportCmd(), a.dsHeadCmd(), a.dsSchemaCmd(), a.dsLogCmd(), a.dsGetCmd()}
}

const dsPathHelp = `PATH is a dataset path al://ORG/NAME (credentials are vended for it), a local directory, or a
storage URL; --org and --creds-key open a storage URL through an org's creds key.`

// importBatch is the number of rows handed to the appender at once.
const importBatch = 64

// The columns of an imported dataset.
var (
	imageSchema = dataset.NewSchema(
		dataset.Column{Name: "image", Type: dataset.T(dataset.Image)},
		dataset.Column{Name: "filename", Type: dataset.T(dataset.Text)},
		dataset.Column{Name: "label", Type: dataset.T(dataset.Text), Nullable: true},
	)
	linkSchema = dataset.NewSchema(
		dataset.Column{Name: "url", Type: dataset.LinkTo(dataset.Image)},
		dataset.Column{Name: "filename", Type: dataset.T(dataset.Text)},
	)
)

// imported is the answer of `tarn ds import --output json`.
type imported struct {
	Path    string `json:"path"`
	Rows    int64  `json:"rows"`    // rows this import added
	Total   int64  `json:"total"`   // rows of the dataset after it
	Version int64  `json:"version"` // the version the import made
	Created bool   `json:"created"` // the dataset was created by this import
}

func (a *app) dsImportCmd() *cobra.Command {
	var (
		labels string
		link   string
		v      viaKey
	)
	cmd := &cobra.Command{
		Use:   "import {DIR [--labels labels.csv] | --link LOCATION --creds-key KEY} PATH",
		Short: "Import a folder of images into a dataset, or link to images stored elsewhere",
		Long: `Import the images below the local directory DIR into the dataset at PATH, as rows with the
columns image (the encoded bytes and their format), filename (the path below DIR) and label.
The dataset is created when PATH holds none. All rows become one version, "import DIR".

Labels come from --labels, a CSV file of filename,label lines (an optional header line
"filename,label"; filename is the path below DIR or the file's base name), or else from the
class folders: an image in DIR/cat/ is labelled "cat". Images without a label have none.
Images are recognised by their extension (.jpg .jpeg .png .gif .webp .bmp .tif .tiff) or,
failing that, by their content.

With --link, nothing is copied: the dataset gets the columns url, a link to an image, and
filename, one row per image object below LOCATION (a storage URL or local directory), and
links are read through the creds key KEY. For an al:// dataset the key must be linked to it
first (tarn ds add-creds-key, by an org admin); readers of the dataset then read the images
with credentials vended through that key.

` + dsPathHelp,
		Example: `  tarn ds import ./photos al://acme/pets --labels ./photos/labels.csv
  tarn ds import ./imagenet/train al://acme/imagenet        # class folders are labels
  tarn ds import ./photos ./pets-ds
  tarn ds import --link s3://acme-web/images al://acme/web --creds-key web-images`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if link != "" {
				if len(args) != 1 {
					return usagef("with --link, give one argument, the dataset PATH (got %d)", len(args))
				}
				if labels != "" {
					return usagef("--labels does not go with --link")
				}
				if v.key == "" {
					return usagef("--link needs --creds-key: the creds key the links are read through")
				}
				if err := checkName("creds key", v.key); err != nil {
					return err
				}
				if v.org != "" {
					if err := checkName("org", v.org); err != nil {
						return err
					}
					if err := checkVia(v, args[0]); err != nil {
						return err
					}
				}
				return a.importLinks(ctx, link, args[0], v)
			}
			if len(args) != 2 {
				return usagef("accepts 2 arg(s), DIR and PATH, received %d", len(args))
			}
			if err := v.check(); err != nil {
				return err
			}
			if err := checkVia(v, args[1]); err != nil {
				return err
			}
			return a.importDir(ctx, args[0], args[1], labels, v)
		},
	}
	cmd.Flags().StringVar(&labels, "labels", "", "CSV file of filename,label lines")
	cmd.Flags().StringVar(&link, "link", "", "link to the images below this storage URL or directory instead of copying them")
	cmd.Flags().StringVar(&v.org, "org", "", "open storage URLs through a creds key of this org (with --creds-key)")
	cmd.Flags().StringVar(&v.key, "creds-key", "", "with --link: the creds key links are read through; with --org: open a storage URL through it")
	return cmd
}

// imageFile is one image file found below the import directory.
type imageFile struct {
	path, name string // path on disk; name below the directory, with slashes
	format     string // from the extension, or "" to sniff
	label      *string
}

// imageExts maps the extensions of image files to their formats.
var imageExts = map[string]string{
	".jpg": "jpeg", ".jpeg": "jpeg", ".png": "png", ".gif": "gif", ".webp": "webp",
	".bmp": "bmp", ".tif": "tiff", ".tiff": "tiff",
}

func (a *app) importDir(ctx context.Context, dir, dsPath, labelsFile string, v viaKey) error {
	what := fmt.Sprintf("import %s into %s", dir, dsPath)
	fail := func(err error) error { return fmt.Errorf("%s: %w", what, err) }

	images, err := findImages(dir)
	if err != nil {
		return fail(err)
	}
	var byName map[string]string
	if labelsFile != "" {
		if byName, err = readLabels(labelsFile); err != nil {
			return fail(err)
		}
	}
	for i := range images {
		im := &images[i]
		if labelsFile != "" {
			l, ok := byName[im.name]
			if !ok {
				l, ok = byName[path.Base(im.name)]
			}
			if ok {
				im.label = &l
			}
		} else if d, _, ok := strings.Cut(im.name, "/"); ok {
			im.label = &d
		}
	}

	h, created, err := a.openDataset(ctx, dsOpen{path: dsPath, mode: api.ModeWrite, v: v}, &imageSchema)
	if err != nil {
		return fail(err)
	}
	defer h.Close()
	if h.ReadOnly() {
		return fail(errors.New("the dataset is open read-only: importing needs write access"))
	}
	if err := fitsSchema(h.Schema(), imageSchema); err != nil {
		return fail(err)
	}

	w := h.Appender(dataset.AppenderOptions{})
	defer w.Close()
	pr := a.newProgress(len(images))
	batch := make([]dataset.Row, 0, importBatch)
	for _, im := range images {
		pr.next(im.name)
		data, err := os.ReadFile(im.path)
		if err != nil {
			pr.finish(false)
			return fail(fmt.Errorf("read %s: %w", im.path, unwrapPath(err)))
		}
		format := im.format
		if format == "" {
			format = sniffImage(data)
		}
		row := dataset.Row{"image": dataset.ImageValue{Format: format, Data: data}, "filename": im.name}
		if im.label != nil {
			row["label"] = *im.label
		}
		batch = append(batch, row)
		if len(batch) == importBatch {
			if err := w.Append(ctx, batch...); err != nil {
				pr.finish(false)
				return fail(err)
			}
			batch = batch[:0]
		}
		pr.update(int64(len(data)), int64(len(data)))
	}
	if err := w.Append(ctx, batch...); err != nil {
		pr.finish(false)
		return fail(err)
	}
	ver, err := w.Commit(ctx, "import "+dir)
	pr.finish(false)
	if err != nil {
		return fail(err)
	}
	out := imported{Path: dsPath, Rows: int64(len(images)), Total: ver.Rows, Version: ver.Version, Created: created}
	return a.showf(out, "Imported %d images into %s: version %d, %d rows.\n", out.Rows, dsPath, out.Version, out.Total)
}

// findImages returns the image files below dir, in path order. Hidden files and folders are
// skipped.
func findImages(dir string) ([]imageFile, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, unwrapPath(err))
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", dir)
	}
	var out []imageFile
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("%s: %w", p, unwrapPath(err))
		}
		if p != dir && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 { // a link to an image counts; to a folder, not
			if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
				return nil
			}
		} else if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		format, ok := imageExts[strings.ToLower(filepath.Ext(p))]
		if !ok {
			if format, err = sniffFile(p); err != nil {
				return err
			}
			if format == "" {
				return nil // not an image: labels.csv, README, …
			}
		}
		out = append(out, imageFile{path: p, name: filepath.ToSlash(rel), format: format})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no images", dir)
	}
	return out, nil
}

// sniffFile returns the image format of the file at p from its first bytes, or "".
func sniffFile(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", p, unwrapPath(err))
	}
	defer f.Close()
	buf := make([]byte, 512)
	n, err := io.ReadFull(f, buf)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return "", fmt.Errorf("read %s: %w", p, err)
	}
	return sniffImage(buf[:n]), nil
}

// sniffImage returns the image format of data ("jpeg", "png", …) or "".
func sniffImage(data []byte) string {
	ct := http.DetectContentType(data)
	if f, ok := strings.CutPrefix(ct, "image/"); ok {
		return strings.TrimPrefix(f, "x-")
	}
	return ""
}

// unwrapPath drops the operation and path of a *fs.PathError, which the caller names.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// readLabels reads a CSV file of filename,label lines.
func readLabels(file string) (map[string]string, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("read labels %s: %w", file, unwrapPath(err))
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = 2
	out := map[string]string{}
	for first := true; ; first = false {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, fmt.Errorf("read labels %s: line %d: %v (want filename,label)", file, pe.Line, pe.Err)
			}
			return nil, fmt.Errorf("read labels %s: %w", file, err)
		}
		if first {
			rec[0] = strings.TrimPrefix(rec[0], "\ufeff") // a byte order mark, as spreadsheets write
		}
		name := strings.TrimPrefix(filepath.ToSlash(strings.TrimSpace(rec[0])), "./")
		if first && strings.EqualFold(name, "filename") && strings.EqualFold(strings.TrimSpace(rec[1]), "label") {
			continue
		}
		if name == "" {
			line, _ := r.FieldPos(0)
			return nil, fmt.Errorf("read labels %s: line %d: the filename is empty", file, line)
		}
		out[name] = strings.TrimSpace(rec[1])
	}
	return out, nil
}

// fitsSchema checks that a dataset's schema has the columns an import writes.
func fitsSchema(have, want dataset.Schema) error {
	for _, c := range want.Columns {
		h, ok := have.Column(c.Name)
		if !ok {
			return fmt.Errorf("the dataset has no column %q (its columns: %s)", c.Name, have)
		}
		if !h.Type.Equal(c.Type) {
			return fmt.Errorf("column %q of the dataset is %s, not %s", c.Name, h.Type, c.Type)
		}
	}
	for _, h := range have.Columns {
		if _, ok := want.Column(h.Name); !ok && !h.Nullable {
			return fmt.Errorf("the dataset's column %q is not nullable and the import has no values for it", h.Name)
		}
	}
	return nil
}

// importLinks adds a row per image object below loc to the dataset at dsPath, linking to it.
func (a *app) importLinks(ctx context.Context, loc, dsPath string, v viaKey) error {
	what := fmt.Sprintf("import links to %s into %s", loc, dsPath)
	fail := func(err error) error { return fmt.Errorf("%s: %w", what, err) }
	src, err := location.FromLocal(loc)
	if err != nil {
		return usagef("--link: %s", err)
	}
	if src.Scheme == location.AL {
		return usagef("--link %s: link to a storage URL or a local directory, not a dataset path", loc)
	}
	dst, err := location.FromLocal(dsPath)
	if err != nil {
		return usagef("%s", err)
	}

	// List the objects: through the key linked to an al:// dataset, through the org's key
	// (--org), or directly for local directories.
	sopts := storage.Options{Mode: api.ModeRead}
	switch {
	case src.Scheme == location.Mem:
	case dst.Scheme == location.AL:
		// As readers will: so a key that is not linked to the dataset fails here.
		sopts.LinkedTo, sopts.CredsKey = dst.Root().String(), v.key
	case v.org != "":
		sopts.Org, sopts.CredsKey = v.org, v.key
	case src.Scheme == location.File:
	default:
		return usagef("--link %s: a storage URL is listed through a creds key: give an al:// dataset PATH, or --org", loc)
	}
	if sopts.CredsKey != "" {
		c, err := a.client()
		if err != nil {
			return fail(err)
		}
		sopts.Client = c
	}
	b, err := storage.OpenBucket(ctx, src.String(), sopts)
	if err != nil {
		return fail(err)
	}
	defer b.Close()
	keys, err := listImageKeys(ctx, b)
	if err != nil {
		return fail(fmt.Errorf("list %s: %w", src, err))
	}
	if len(keys) == 0 {
		return fail(fmt.Errorf("%s holds no images (%s)", src, extList()))
	}

	// The dataset itself opens with its own credentials; --org/--creds-key name the link key.
	open := dsOpen{path: dsPath, mode: api.ModeWrite}
	if dst.Scheme != location.AL && v.org != "" {
		open.v = v
	}
	schema := dataset.NewSchema(append([]dataset.Column(nil), linkSchema.Columns...)...)
	schema.Columns[0].LinkKey = v.key
	h, created, err := a.openDataset(ctx, open, &schema)
	if err != nil {
		return fail(err)
	}
	defer h.Close()
	if h.ReadOnly() {
		return fail(errors.New("the dataset is open read-only: importing needs write access"))
	}
	if err := fitsSchema(h.Schema(), linkSchema); err != nil {
		return fail(err)
	}
	if c, _ := h.Schema().Column("url"); c.LinkKey != v.key {
		if _, err := h.SetLinkKey(ctx, "url", v.key); err != nil {
			return fail(err)
		}
	}
	w := h.Appender(dataset.AppenderOptions{})
	defer w.Close()
	for start := 0; start < len(keys); start += importBatch {
		rows := make([]dataset.Row, 0, importBatch)
		for _, k := range keys[start:min(start+importBatch, len(keys))] {
			rows = append(rows, dataset.Row{"url": joinKey(src, k), "filename": k})
		}
		if err := w.Append(ctx, rows...); err != nil {
			return fail(err)
		}
	}
	ver, err := w.Commit(ctx, "import links to "+src.String())
	if err != nil {
		return fail(err)
	}
	out := imported{Path: dsPath, Rows: int64(len(keys)), Total: ver.Rows, Version: ver.Version, Created: created}
	return a.showf(out, "Linked %d images below %s into %s: version %d, %d rows.\n", out.Rows, src, dsPath, out.Version, out.Total)
}

// listImageKeys returns the keys of b that have an image extension, sorted.
func listImageKeys(ctx context.Context, b *blob.Bucket) ([]string, error) {
	var keys []string
	it := b.List(nil)
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if _, ok := imageExts[strings.ToLower(path.Ext(obj.Key))]; ok && !obj.IsDir {
			keys = append(keys, obj.Key)
		}
	}
	sort.Strings(keys)
	return keys, nil
}

func extList() string {
	var exts []string
	for e := range imageExts {
		exts = append(exts, e)
	}
	sort.Strings(exts)
	return strings.Join(exts, " ")
}

// checkVia returns a usage error when --org is given but the dataset path p is not a
// storage URL it applies to.
func checkVia(v viaKey, p string) error {
	if v.org == "" {
		return nil
	}
	op, err := parseObjPath(p)
	if err != nil {
		return err
	}
	if !v.appliesTo(op) {
		return usagef("--org applies to storage URLs (s3://, gs://, az://, file:///), not to %q", p)
	}
	return nil
}

// openRead opens the dataset at the PATH argument for reading.
func (a *app) openRead(ctx context.Context, p string, v viaKey) (*dataset.Dataset, error) {
	if err := v.check(); err != nil {
		return nil, err
	}
	if err := checkVia(v, p); err != nil {
		return nil, err
	}
	h, _, err := a.openDataset(ctx, dsOpen{path: p, mode: api.ModeRead, v: v}, nil)
	return h, err
}

func (a *app) dsHeadCmd() *cobra.Command {
	var (
		n int64
		v viaKey
	)
	cmd := &cobra.Command{
		Use:   "head PATH [-n 10]",
		Short: "Show the first rows of a dataset",
		Long: `Show the first N rows of the dataset at PATH. In text, images and bytes are summarised
(<image jpeg 12.3 KiB>) and long values shortened; with --output json every value is given
whole, bytes in base64 and images as {"format":…,"data":base64}.

` + dsPathHelp,
		Example: `  tarn ds head al://acme/pets
  tarn ds head al://acme/pets -n 3 --output json | jq -r '.[].filename'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if n < 0 {
				return usagef("invalid value %d for -n: it must not be negative", n)
			}
			ctx := cmd.Context()
			fail := func(err error) error { return fmt.Errorf("head %s: %w", args[0], err) }
			h, err := a.openRead(ctx, args[0], v)
			if err != nil {
				return fail(err)
			}
			defer h.Close()
			rows, err := h.Rows(ctx, 0, min(n, h.Len()))
			if err != nil {
				return fail(err)
			}
			cols := h.Schema().Columns
			if a.jsonOut() {
				out := make([]orderedRow, len(rows))
				for i, r := range rows {
					out[i] = orderedRow{cols: cols, row: r}
				}
				return a.printJSON(out)
			}
			headers := append([]string{"#"}, h.Schema().Names()...)
			t := a.table(headers...)
			for i, r := range rows {
				cells := []string{strconv.Itoa(i)}
				for _, c := range cols {
					cells = append(cells, showValue(plain(c, r[c.Name])))
				}
				t.row(cells...)
			}
			return t.flush()
		},
	}
	cmd.Flags().Int64VarP(&n, "n", "n", 10, "number of rows")
	v.flags(cmd)
	return cmd
}

// plain returns v, a value of column c, with a tensor of uint8 as []int: as []byte it would
// print as bytes.
func plain(c dataset.Column, v any) any {
	if b, ok := v.([]byte); ok && c.Type.Kind == dataset.Tensor {
		out := make([]int, len(b))
		for i, x := range b {
			out[i] = int(x)
		}
		return out
	}
	return v
}

// showValue prints a value in a table cell.
func showValue(v any) string {
	const maxText = 60
	switch x := v.(type) {
	case nil:
		return "null"
	case dataset.ImageValue:
		return fmt.Sprintf("<image %s %s>", x.Format, fmtBytes(int64(len(x.Data))))
	case []byte:
		return fmt.Sprintf("<bytes %s>", fmtBytes(int64(len(x))))
	case string:
		return shorten(x, maxText)
	case json.RawMessage:
		return shorten(string(x), maxText)
	case float32, float64, bool, int8, int16, int32, int64, uint8, uint16, uint32, uint64:
		return fmt.Sprint(x)
	}
	b, err := json.Marshal(jsonValue(v))
	if err != nil {
		return fmt.Sprint(v)
	}
	return shorten(string(b), maxText)
}

// shorten cuts s to n runes, ending it with "…" when cut.
func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// jsonValue returns a value as it goes into JSON: images as {"format","data"}, and
// non-finite floats (which JSON cannot hold) as the strings "NaN", "+Inf", "-Inf".
func jsonValue(v any) any {
	switch x := v.(type) {
	case dataset.ImageValue:
		return struct {
			Format string `json:"format"`
			Data   []byte `json:"data"`
		}{x.Format, x.Data}
	case float32:
		return finite(float64(x), v)
	case float64:
		return finite(x, v)
	case []float32:
		out := make([]any, len(x))
		for i, f := range x {
			out[i] = finite(float64(f), f)
		}
		return out
	case []float64:
		out := make([]any, len(x))
		for i, f := range x {
			out[i] = finite(f, f)
		}
		return out
	}
	return v
}

func finite(f float64, v any) any {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	return v
}

// orderedRow is a row as a JSON object with the keys in schema order.
type orderedRow struct {
	cols []dataset.Column
	row  dataset.Row
}

func (o orderedRow) MarshalJSON() ([]byte, error) {
	var b strings.Builder
	b.WriteByte('{')
	for i, c := range o.cols {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(c.Name)
		v, err := json.Marshal(jsonValue(plain(c, o.row[c.Name])))
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", c.Name, err)
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return []byte(b.String()), nil
}

// schemaColumn is one column of `tarn ds schema --output json`.
type schemaColumn struct {
	Name     string       `json:"name"`
	Type     string       `json:"type"` // as users write it: "link(image)"
	Nullable bool         `json:"nullable"`
	Detail   dataset.Type `json:"detail"` // the type's parameters
}

func (a *app) dsSchemaCmd() *cobra.Command {
	var v viaKey
	cmd := &cobra.Command{
		Use:   "schema PATH",
		Short: "Show a dataset's columns and their types",
		Long: `Show the columns of the dataset at PATH (its latest version): name, type and whether the
column may hold nulls.

` + dsPathHelp,
		Example: `  tarn ds schema al://acme/pets
  tarn ds schema ./pets-ds --output json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			h, err := a.openRead(ctx, args[0], v)
			if err != nil {
				return fmt.Errorf("schema of %s: %w", args[0], err)
			}
			defer h.Close()
			s := h.Schema()
			cols := make([]schemaColumn, len(s.Columns))
			for i, c := range s.Columns {
				cols[i] = schemaColumn{Name: c.Name, Type: c.Type.String(), Nullable: c.Nullable, Detail: c.Type}
			}
			return a.show(cols, func() error {
				t := a.table("COLUMN", "TYPE", "NULLABLE")
				for _, c := range cols {
					t.row(c.Name, c.Type, yesNo(c.Nullable))
				}
				return t.flush()
			})
		},
	}
	v.flags(cmd)
	return cmd
}

// logEntry is one version in `tarn ds log --output json`.
type logEntry struct {
	Version int64  `json:"version"`
	Parent  int64  `json:"parent"`
	Time    string `json:"time"`
	Message string `json:"message"`
	Rows    int64  `json:"rows"`
	Files   int    `json:"files"`
	Bytes   int64  `json:"bytes"`
}

func (a *app) dsLogCmd() *cobra.Command {
	var v viaKey
	cmd := &cobra.Command{
		Use:   "log PATH",
		Short: "List a dataset's versions, newest first",
		Long: `List the versions of the dataset at PATH, newest first: number, time (UTC), message and
the number of rows the version holds.

` + dsPathHelp,
		Example: `  tarn ds log al://acme/pets
  tarn ds log al://acme/pets --output json | jq '.[0].version'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			fail := func(err error) error { return fmt.Errorf("log of %s: %w", args[0], err) }
			h, err := a.openRead(ctx, args[0], v)
			if err != nil {
				return fail(err)
			}
			defer h.Close()
			vs, err := h.Versions(ctx)
			if err != nil {
				return fail(err)
			}
			out := make([]logEntry, 0, len(vs))
			for i := len(vs) - 1; i >= 0; i-- {
				x := vs[i]
				e := logEntry{Version: x.Version, Parent: x.Parent, Time: fmtTime(x.Time), Message: x.Message, Rows: x.Rows, Files: len(x.Files)}
				for _, f := range x.Files {
					e.Bytes += f.Bytes
				}
				out = append(out, e)
			}
			return a.show(out, func() error {
				t := a.table("VERSION", "TIME", "ROWS", "MESSAGE")
				for _, e := range out {
					t.row(strconv.FormatInt(e.Version, 10), e.Time, strconv.FormatInt(e.Rows, 10), e.Message)
				}
				return t.flush()
			})
		},
	}
	v.flags(cmd)
	return cmd
}

func (a *app) dsGetCmd() *cobra.Command {
	var v viaKey
	cmd := &cobra.Command{
		Use:   "get PATH ROW COLUMN",
		Short: "Write one value of a dataset to standard output",
		Long: `Write the value in row ROW (counted from 0) and column COLUMN of the dataset at PATH to
standard output, as raw bytes: an image's encoded bytes, bytes as they are, text and JSON
without a trailing newline, the bytes a link points at (read through the dataset's link creds
key), and other values as text with a newline. A null value is an error.

` + dsPathHelp,
		Example: `  tarn ds get al://acme/pets 0 image > first.jpg
  tarn ds get al://acme/pets 12 label
  tarn ds get al://acme/web 3 url | file -`,
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			row, err := strconv.ParseInt(args[1], 10, 64)
			if err != nil || row < 0 {
				return usagef("invalid ROW %q: give a row number from 0", args[1])
			}
			column := args[2]
			ctx := cmd.Context()
			fail := func(err error) error {
				return fmt.Errorf("get row %d column %s of %s: %w", row, column, args[0], err)
			}
			h, err := a.openRead(ctx, args[0], v)
			if err != nil {
				return fail(err)
			}
			defer h.Close()
			col, ok := h.Schema().Column(column)
			if !ok {
				return fail(fmt.Errorf("no column %q (columns: %s)", column, strings.Join(h.Schema().Names(), ", ")))
			}
			if n := h.Len(); row >= n {
				if n == 0 {
					return fail(errors.New("the dataset has no rows"))
				}
				return fail(fmt.Errorf("row %d is out of range: the dataset has %d rows (0 to %d)", row, n, n-1))
			}
			r, err := h.Row(ctx, row, column)
			if err != nil {
				return fail(err)
			}
			val := r[column]
			if val == nil {
				return fail(errors.New("the value is null"))
			}
			var out []byte
			switch x := val.(type) {
			case []byte:
				if col.Type.Kind == dataset.Tensor {
					out = []byte(showFull(plain(col, val)) + "\n")
				} else {
					out = x
				}
			case dataset.ImageValue:
				out = x.Data
			case json.RawMessage:
				out = x
			case string:
				if col.Type.Kind == dataset.Link {
					if out, err = h.ReadLink(ctx, r, column); err != nil {
						return fail(err)
					}
				} else {
					out = []byte(x)
				}
			default:
				out = []byte(showFull(plain(col, val)) + "\n")
			}
			_, err = a.stdout.Write(out)
			return err
		},
	}
	v.flags(cmd)
	return cmd
}

// showFull prints a value other than bytes and text in full: numbers and booleans as Go
// prints them, lists as JSON.
func showFull(v any) string {
	switch v.(type) {
	case float32, float64, bool, int8, int16, int32, int64, uint8, uint16, uint32, uint64:
		return fmt.Sprint(v)
	}
	b, err := json.Marshal(jsonValue(v))
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
