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
	"github.com/tarnhq/tarn/dataset/render"
)

// queryFlags are the flags of `tarn ds query`.
type queryFlags struct {
	q       dataset.Query
	columns string
	count   bool
	version int64
	save    string
	v       viaKey
}

// queryRow is one row of `tarn ds query --output json`.
type queryRow struct {
	Row    int64      `json:"row"`
	Values render.Row `json:"values"`
}

// saved is the answer of `tarn ds query --save --output json`.
type saved struct {
	Path    string `json:"path"`
	Rows    int64  `json:"rows"`
	Version int64  `json:"version"`
	Source  string `json:"source"`
}

func (a *app) dsQueryCmd() *cobra.Command {
	var f queryFlags
	cmd := &cobra.Command{
		Use:   "query PATH [--where EXPR] [--columns a,b] [--order-by COL [--desc]] [--limit N] [--offset N] [--count] [--version V] [--save PATH]",
		Short: "Select rows of a dataset with a filter expression",
		Long: `Show the rows of the dataset at PATH that match --where, a CEL expression over the row's
columns, such as label == "cat" && score >= 0.5, "dog" in tags (a JSON list), or
image.width > 256 (width and height come from the image's header). The expression is checked
against the schema before anything is read. Only the columns it and --columns need are
read, and row groups whose statistics rule it out are skipped.

--order-by sorts the matching rows by a number, text or bool column (nulls last), --offset
skips rows and --limit caps them; --count prints only the number of matching rows. The rows
are those of the latest version, or of --version V.

In text each row is a line: its row number and its values, summarised as ds head does; with
--output json the answer is an array of {"row": N, "values": {column: value}}, values whole
as in ds head. --save PATH writes the rows instead as a new dataset at PATH (created: it must
not exist), whose version holding them records the source in its message: "query of PATH
version V where EXPR".

` + dsPathHelp,
		Example: `  tarn ds query al://acme/pets --where 'label == "cat" && image.width > 256' --limit 10
  tarn ds query al://acme/pets --where 'score >= 0.9' --order-by score --desc --columns filename,score
  tarn ds query al://acme/pets --where '"dog" in tags' --count
  tarn ds query al://acme/pets --where 'label == "cat"' --save al://acme/cats`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.q.Limit < 0 || f.q.Offset < 0 {
				return usagef("--limit and --offset must not be negative")
			}
			if f.q.Desc && f.q.OrderBy == "" {
				return usagef("--desc goes with --order-by")
			}
			if f.count && (f.save != "" || f.q.OrderBy != "" || f.q.Limit > 0 || f.q.Offset > 0 || f.columns != "") {
				return usagef("--count goes with --where and --version only")
			}
			if f.columns != "" {
				f.q.Columns = strings.Split(f.columns, ",")
			}
			err := a.runQuery(cmd.Context(), args[0], f)
			var ee *dataset.ExprError
			if errors.As(err, &ee) { // a bad --where: the caret under it stays on its line
				return usagef("query %s: %s", args[0], ee)
			}
			if err != nil {
				return fmt.Errorf("query %s: %w", args[0], err)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.q.Where, "where", "", "CEL filter expression over the columns; empty matches every row")
	fl.StringVar(&f.columns, "columns", "", "comma-separated columns to show (default: all)")
	fl.StringVar(&f.q.OrderBy, "order-by", "", "sort the rows by this column")
	fl.BoolVar(&f.q.Desc, "desc", false, "with --order-by: largest first")
	fl.Int64Var(&f.q.Limit, "limit", 0, "at most this many rows (0: all)")
	fl.Int64Var(&f.q.Offset, "offset", 0, "skip this many matching rows first")
	fl.BoolVar(&f.count, "count", false, "print the number of matching rows only")
	fl.Int64Var(&f.version, "version", 0, "query this version (default: the latest)")
	fl.StringVar(&f.save, "save", "", "write the rows as a new dataset at this path")
	f.v.flags(cmd)
	return cmd
}

// runQuery runs the query f on the dataset at path.
func (a *app) runQuery(ctx context.Context, path string, f queryFlags) error {
	h, err := a.openRead(ctx, path, f.v)
	if err != nil {
		return err
	}
	defer h.Close()
	if f.version > 0 {
		v, err := h.AtVersion(ctx, f.version)
		if err != nil {
			return err
		}
		defer v.Close()
		h = v
	}
	if f.count {
		n, err := h.Count(ctx, f.q.Where)
		if err != nil {
			return err
		}
		return a.showf(map[string]int64{"count": n}, "%d\n", n)
	}
	if f.save != "" {
		return a.saveQuery(ctx, h, path, f)
	}
	cols, err := queryColumns(h.Schema(), f.q.Columns)
	if err != nil {
		return err
	}
	var rows []queryRow
	for r, err := range h.Query(ctx, f.q) {
		if err != nil {
			return err
		}
		rows = append(rows, queryRow{Row: r.Index, Values: render.Row{Columns: cols, Values: r.Values}})
	}
	return a.show(nonNil(rows), func() error {
		headers := []string{"#"}
		for _, c := range cols {
			headers = append(headers, c.Name)
		}
		t := a.table(headers...)
		for _, r := range rows {
			cells := []string{strconv.FormatInt(r.Row, 10)}
			for _, c := range cols {
				cells = append(cells, render.Short(c, r.Values.Values[c.Name]))
			}
			t.row(cells...)
		}
		return t.flush()
	})
}

// saveQuery writes the rows of query f on h, opened from src, as a new dataset at f.save.
func (a *app) saveQuery(ctx context.Context, h *dataset.Dataset, src string, f queryFlags) error {
	po, c, err := a.pathOptions(dsOpen{path: f.save, mode: api.ModeWrite})
	if err != nil {
		return err
	}
	if c != nil {
		if err := a.registerMissing(ctx, c, f.save); err != nil {
			return err
		}
	}
	cols, err := queryColumns(h.Schema(), f.q.Columns)
	if err != nil {
		return err
	}
	out, err := dataset.CreatePath(ctx, f.save, dataset.NewSchema(cols...), po)
	if err != nil {
		return fmt.Errorf("save: %w", err)
	}
	defer out.Close()
	app := out.Appender(dataset.AppenderOptions{})
	defer app.Close()
	var n int64
	for r, err := range h.Query(ctx, f.q) {
		if err != nil {
			return err
		}
		if err := app.Append(ctx, r.Values); err != nil {
			return fmt.Errorf("save: %w", err)
		}
		n++
	}
	source := fmt.Sprintf("query of %s version %d", src, h.Version())
	if f.q.Where != "" {
		source += " where " + f.q.Where
	}
	v, err := app.Commit(ctx, source)
	if err != nil {
		return fmt.Errorf("save: %w", err)
	}
	res := saved{Path: f.save, Rows: n, Version: v.Version, Source: source}
	return a.showf(res, "Saved %d rows to %s: version %d, %q.\n", n, f.save, v.Version, source)
}

// queryColumns returns the columns of s named by names, or all of them.
func queryColumns(s dataset.Schema, names []string) ([]dataset.Column, error) {
	if len(names) == 0 {
		return s.Columns, nil
	}
	cols := make([]dataset.Column, len(names))
	for i, n := range names {
		c, ok := s.Column(n)
		if !ok {
			return nil, fmt.Errorf("no column %q (columns: %s)", n, strings.Join(s.Names(), ", "))
		}
		cols[i] = c
	}
	return cols, nil
}
