package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/spf13/cobra"

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
	// --nearest COLUMN --to VECTOR -k K --metric M
	nearest, to, metric string
	k                   int
	// --sample N [--sample-by EXPR] [--replace] --seed S
	sample   int
	sampleBy string
	replace  bool
	seed     int64
}

// queryRow is one row of `tarn ds query --output json`.
type queryRow struct {
	Row      *int64     `json:"row,omitempty"`      // the row's number; none for --sample
	Distance *float64   `json:"distance,omitempty"` // --nearest: from --to
	Values   render.Row `json:"values"`
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
as in ds head.

--nearest COLUMN --to '[0.1, ...]' -k K finds the K rows whose embedding COLUMN is nearest
to the vector (--metric cosine, l2 or dot; an exact search that reads only that column and
the columns --where needs), nearest first, each with its distance; with --where only
matching rows count. --sample N draws N rows at random in one pass (without replacement, or
with --replace), reproducibly for --seed; --sample-by EXPR weighs each row by a number
expression such as 'label == "rare" ? 10.0 : 1.0', and --where draws from matching rows
only. --save PATH writes the rows instead as a new dataset at PATH (created: it must
not exist) whose version 1 holds them and records their source: the dataset's path, its
version, --where, --columns, --order-by, --desc, --offset and --limit (see ds log). A save
that fails, or is interrupted, leaves no dataset at PATH, nor the al:// registry entry it
created for it.

` + dsPathHelp,
		Example: `  tarn ds query al://acme/pets --where 'label == "cat" && image.width > 256' --limit 10
  tarn ds query al://acme/pets --where 'score >= 0.9' --order-by score --desc --columns filename,score
  tarn ds query al://acme/pets --where '"dog" in tags' --count
  tarn ds query al://acme/pets --where 'label == "cat"' --save al://acme/cats
  tarn ds query al://acme/pets --nearest embedding --to '[0.1, 0.7, 0.2]' -k 10 --where 'label != "cat"'
  tarn ds query al://acme/pets --sample 1000 --sample-by 'label == "rare" ? 10.0 : 1.0' --seed 7`,
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
			if err := f.checkSelection(); err != nil {
				return err
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
	fl.StringVar(&f.nearest, "nearest", "", "find the rows whose embedding column is nearest to --to")
	fl.StringVar(&f.to, "to", "", "with --nearest: the query vector, a JSON list of numbers")
	fl.IntVarP(&f.k, "k", "k", 10, "with --nearest: how many rows")
	fl.StringVar(&f.metric, "metric", string(dataset.Cosine), "with --nearest: cosine, l2 or dot")
	fl.IntVar(&f.sample, "sample", 0, "draw this many rows at random")
	fl.StringVar(&f.sampleBy, "sample-by", "", "with --sample: a number expression that weighs each row")
	fl.BoolVar(&f.replace, "replace", false, "with --sample: draw with replacement")
	fl.Int64Var(&f.seed, "seed", 0, "with --sample: the seed, for a reproducible sample")
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
		return a.saveQuery(ctx, h, f)
	}
	cols, err := queryColumns(h.Schema(), f.q.Columns)
	if err != nil {
		return err
	}
	var rows []queryRow
	switch {
	case f.nearest != "":
		rows, err = nearestRows(ctx, h, f, cols)
	case f.sample > 0:
		rows, err = sampleRows(ctx, h, f, cols)
	default:
		for r, qerr := range h.Query(ctx, f.q) {
			if qerr != nil {
				return qerr
			}
			rows = append(rows, queryRow{Row: &r.Index, Values: render.Row{Columns: cols, Values: r.Values}})
		}
	}
	if err != nil {
		return err
	}
	return a.show(nonNil(rows), func() error {
		headers := []string{"#"}
		if f.nearest != "" {
			headers = append(headers, "distance")
		}
		for _, c := range cols {
			headers = append(headers, c.Name)
		}
		t := a.table(headers...)
		for _, r := range rows {
			cells := []string{"-"}
			if r.Row != nil {
				cells[0] = strconv.FormatInt(*r.Row, 10)
			}
			if r.Distance != nil {
				cells = append(cells, strconv.FormatFloat(*r.Distance, 'g', 6, 64))
			}
			for _, c := range cols {
				cells = append(cells, render.Short(c, r.Values.Values[c.Name]))
			}
			t.row(cells...)
		}
		return t.flush()
	})
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

// checkSelection refuses flags of --nearest and --sample that do not go together.
func (f *queryFlags) checkSelection() error {
	switch {
	case f.nearest != "" && f.sample > 0:
		return usagef("--nearest and --sample do not go together")
	case (f.nearest != "" || f.sample > 0) && (f.count || f.save != "" || f.q.OrderBy != "" || f.q.Offset > 0 || f.q.Limit > 0):
		return usagef("--nearest and --sample go with --where, --columns and --version only")
	case f.nearest == "" && f.to != "":
		return usagef("--to goes with --nearest")
	case f.nearest != "" && f.to == "":
		return usagef("--nearest needs --to, the query vector as a JSON list such as '[0.1, 0.7]'")
	case f.sample == 0 && (f.sampleBy != "" || f.replace || f.seed != 0):
		return usagef("--sample-by, --replace and --seed go with --sample")
	case f.sample < 0 || f.k < 1:
		return usagef("--sample and -k must be positive")
	}
	return nil
}

// nearestRows returns the --nearest rows of h, nearest first, with columns cols.
func nearestRows(ctx context.Context, h *dataset.Dataset, f queryFlags, cols []dataset.Column) ([]queryRow, error) {
	var vector []float32
	if err := json.Unmarshal([]byte(f.to), &vector); err != nil {
		return nil, usagef("--to %q is not a JSON list of numbers such as '[0.1, 0.7]'", f.to)
	}
	var opts []dataset.NearestOptions
	var failed atomic.Pointer[error] // the first error of the filter, which Nearest cannot return
	if f.q.Where != "" {
		e, err := dataset.CompileRowFilter(h.Schema(), f.q.Where)
		if err != nil {
			return nil, err
		}
		opts = append(opts, dataset.NearestOptions{Columns: e.Columns(), Filter: func(r dataset.Row) bool {
			ok, err := e.Match(r)
			if err != nil {
				failed.CompareAndSwap(nil, &err)
			}
			return ok
		}})
	}
	nn, err := h.Nearest(ctx, f.nearest, vector, f.k, dataset.Metric(f.metric), opts...)
	if p := failed.Load(); p != nil {
		err = *p
	}
	if err != nil {
		return nil, err
	}
	rows := make([]queryRow, len(nn))
	for i, n := range nn {
		r, err := h.Row(ctx, n.Row, names(cols)...)
		if err != nil {
			return nil, err
		}
		rows[i] = queryRow{Row: &nn[i].Row, Distance: &nn[i].Distance, Values: render.Row{Columns: cols, Values: r}}
	}
	return rows, nil
}

// sampleRows returns the --sample rows of h with columns cols: a row that --where refuses
// weighs 0, so it is never drawn.
func sampleRows(ctx context.Context, h *dataset.Dataset, f queryFlags, cols []dataset.Column) ([]queryRow, error) {
	var where, by *dataset.RowExpr
	var err error
	read := names(cols)
	if f.q.Where != "" {
		if where, err = dataset.CompileRowFilter(h.Schema(), f.q.Where); err != nil {
			return nil, err
		}
		read = append(read, where.Columns()...)
	}
	if f.sampleBy != "" {
		if by, err = dataset.CompileRowWeight(h.Schema(), f.sampleBy); err != nil {
			return nil, err
		}
		read = append(read, by.Columns()...)
	}
	opts := dataset.IterOptions{Columns: slices.Compact(slices.Sorted(slices.Values(read))), Sample: f.sample, Replace: f.replace, Seed: f.seed}
	var failed error // the first error of an expression; the sample then stops on its NaN
	if where != nil || by != nil {
		opts.Weight = func(r dataset.Row) float64 {
			w, err := weigh(where, by, r)
			if err != nil {
				failed = cmp.Or(failed, err)
				return math.NaN()
			}
			return w
		}
	}
	var rows []queryRow
	for r, err := range h.Iter(ctx, opts) {
		if err != nil {
			return nil, cmp.Or(failed, err)
		}
		rows = append(rows, queryRow{Values: render.Row{Columns: cols, Values: r}})
	}
	return rows, nil
}

// weigh returns the weight of r: 0 when where refuses it, else by's value, or 1 without by.
func weigh(where, by *dataset.RowExpr, r dataset.Row) (float64, error) {
	if where != nil {
		if ok, err := where.Match(r); err != nil || !ok {
			return 0, err
		}
	}
	if by == nil {
		return 1, nil
	}
	return by.Weight(r)
}

// names returns the names of cols.
func names(cols []dataset.Column) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.Name
	}
	return out
}
