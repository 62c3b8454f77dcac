package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/dataset"
	"github.com/tarnhq/tarn/dataset/ingest"
	"github.com/tarnhq/tarn/dataset/render"
	"github.com/tarnhq/tarn/location"
)

// dsDataCmds are the commands on a dataset's rows, under `tarn ds`.
func (a *app) dsDataCmds() []*cobra.Command {
	return []*cobra.Command{a.dsImportCmd(), a.dsHeadCmd(), a.dsSchemaCmd(), a.dsLogCmd(), a.dsGetCmd(), a.dsQueryCmd()}
}

const dsPathHelp = `PATH is a dataset path al://ORG/NAME (credentials are vended for it), a local directory, or a
storage URL; --org and --creds-key open a storage URL through an org's creds key.`

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
The dataset is created when PATH holds none; an al:// dataset that is not registered yet is
first created in the org's default storage, as tarn ds create does. All rows become one
version, "import DIR".

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

// importDir imports the images below dir into the dataset at dsPath (ingest.Dir), creating
// an al:// dataset that is not registered yet.
func (a *app) importDir(ctx context.Context, dir, dsPath, labels string, v viaKey) error {
	fail := func(err error) error { return fmt.Errorf("import %s into %s: %w", dir, dsPath, err) }
	po, c, err := a.pathOptions(dsOpen{path: dsPath, mode: api.ModeWrite, v: v})
	if err != nil {
		return fail(err)
	}
	var pr *progress
	res, err := ingest.Dir(ctx, dir, dsPath, ingest.DirOptions{
		Path:   po,
		Labels: labels,
		Prepare: func(ctx context.Context) error {
			if c == nil {
				return nil
			}
			_, err := a.registerMissing(ctx, c, dsPath)
			return err
		},
		Progress: func(p ingest.Progress) {
			if pr == nil {
				pr = a.newProgress(p.Total)
			}
			pr.next(p.Name)
			pr.update(p.Bytes, p.Bytes)
		},
	})
	if pr != nil {
		pr.finish(false)
	}
	if err != nil {
		return fail(err)
	}
	out := imported{Path: dsPath, Rows: res.Rows, Total: res.Version.Rows, Version: res.Version.Version, Created: res.Created}
	return a.showf(out, "Imported %d images into %s: version %d, %d rows.\n", out.Rows, dsPath, out.Version, out.Total)
}

// importLinks adds a row per image object below loc to the dataset at dsPath, linking to
// it (ingest.Links), creating an al:// dataset that is not registered yet.
func (a *app) importLinks(ctx context.Context, loc, dsPath string, v viaKey) error {
	fail := func(err error) error { return fmt.Errorf("import links to %s into %s: %w", loc, dsPath, err) }
	src, err := location.FromLocal(loc)
	if err != nil {
		return usagef("--link: %s", err)
	}
	dst, err := location.FromLocal(dsPath)
	if err != nil {
		return usagef("%s", err)
	}
	switch {
	case src.Scheme == location.AL:
		return usagef("--link %s: link to a storage URL or a local directory, not a dataset path", loc)
	case src.Scheme != location.Mem && src.Scheme != location.File && dst.Scheme != location.AL && v.org == "":
		return usagef("--link %s: a storage URL is listed through a creds key: give an al:// dataset PATH, or --org", loc)
	}
	// The dataset opens with its own credentials; --org/--creds-key name the link key.
	open := dsOpen{path: dsPath, mode: api.ModeWrite}
	if dst.Scheme != location.AL && v.org != "" {
		open.v = v
	}
	po, c, err := a.pathOptions(open)
	if err != nil {
		return fail(err)
	}
	// Registered first: its creds key can be linked (tarn ds add-creds-key) only then.
	if c != nil {
		if _, err := a.registerMissing(ctx, c, dsPath); err != nil {
			return fail(err)
		}
	}
	res, err := ingest.Links(ctx, loc, dsPath, ingest.LinkOptions{Path: po, CredsKey: v.key})
	if err != nil {
		return fail(err)
	}
	out := imported{Path: dsPath, Rows: res.Rows, Total: res.Version.Rows, Version: res.Version.Version, Created: res.Created}
	return a.showf(out, "Linked %d images below %s into %s: version %d, %d rows.\n", out.Rows, src, dsPath, out.Version, out.Total)
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
				out := make([]render.Row, len(rows))
				for i, r := range rows {
					out[i] = render.Row{Columns: cols, Values: r}
				}
				return a.printJSON(out)
			}
			headers := append([]string{"#"}, h.Schema().Names()...)
			t := a.table(headers...)
			for i, r := range rows {
				cells := []string{strconv.Itoa(i)}
				for _, c := range cols {
					cells = append(cells, render.Short(c, r[c.Name]))
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
	// Source is where the version's rows came from (ds query --save); omitted when unknown.
	Source *dataset.Source `json:"source,omitempty"`
}

// message is the MESSAGE cell of e in ds log: its message, and its source when the message
// does not say it.
func (e logEntry) message() string {
	if e.Source == nil || e.Source.String() == e.Message {
		return e.Message
	}
	return e.Message + " (" + e.Source.String() + ")"
}

func (a *app) dsLogCmd() *cobra.Command {
	var v viaKey
	cmd := &cobra.Command{
		Use:   "log PATH",
		Short: "List a dataset's versions, newest first",
		Long: `List the versions of the dataset at PATH, newest first: number, time (UTC), message and
the number of rows the version holds. A version written by ds query --save records its
source (dataset, version and query), which the message shows; --output json has it as
"source": {"dataset", "version", "where", "columns", "order_by", "desc", "offset", "limit"}.

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
				e := logEntry{Version: x.Version, Parent: x.Parent, Time: fmtTime(x.Time), Message: x.Message, Rows: x.Rows, Files: len(x.Files), Source: x.Source}
				for _, f := range x.Files {
					e.Bytes += f.Bytes
				}
				out = append(out, e)
			}
			return a.show(out, func() error {
				t := a.table("VERSION", "TIME", "ROWS", "MESSAGE")
				for _, e := range out {
					t.row(strconv.FormatInt(e.Version, 10), e.Time, strconv.FormatInt(e.Rows, 10), e.message())
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
			out := render.Raw(col, val)
			if col.Type.Kind == dataset.Link {
				if out, err = h.ReadLink(ctx, r, column); err != nil {
					return fail(err)
				}
			}
			_, err = a.stdout.Write(out)
			return err
		},
	}
	v.flags(cmd)
	return cmd
}
