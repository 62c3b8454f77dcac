package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// jsonOut reports whether --output json was asked for.
func (a *app) jsonOut() bool { return a.output == "json" }

// printJSON writes v to stdout as indented JSON.
func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// show prints v as JSON with --output json, and otherwise runs text.
func (a *app) show(v any, text func() error) error {
	if a.jsonOut() {
		return a.printJSON(v)
	}
	return text()
}

// showf prints v as JSON with --output json, and otherwise the line format.
func (a *app) showf(v any, format string, args ...any) error {
	return a.show(v, func() error {
		fmt.Fprintf(a.stdout, format, args...)
		return nil
	})
}

// say prints the line format on stdout unless --output json was asked for: a command that
// has nothing to answer with prints no JSON.
func (a *app) say(format string, args ...any) {
	if !a.jsonOut() {
		fmt.Fprintf(a.stdout, format, args...)
	}
}

// nonNil returns s, or an empty slice for nil, so that JSON output is [] and not null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// table is an aligned text table on stdout. Empty cells print as "-".
type table struct{ tw *tabwriter.Writer }

func (a *app) table(headers ...string) *table {
	t := &table{tw: tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)}
	t.row(headers...)
	return t
}

func (t *table) row(cells ...string) {
	for i, c := range cells {
		if c == "" {
			c = "-"
		}
		cells[i] = strings.ReplaceAll(strings.ReplaceAll(c, "\t", " "), "\n", " ")
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

func (t *table) flush() error { return t.tw.Flush() }

// kv writes "key: value" lines with aligned values. Empty values print as "-".
func kv(w io.Writer, pairs ...string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	for i := 0; i+1 < len(pairs); i += 2 {
		v := pairs[i+1]
		if v == "" {
			v = "-"
		}
		fmt.Fprintf(tw, "%s:\t%s\n", pairs[i], v)
	}
	return tw.Flush()
}

// fmtTime prints a time in UTC, RFC 3339, to the second; the zero time prints as "".
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// fmtTimePtr is fmtTime for optional times.
func fmtTimePtr(t *time.Time) string {
	if t == nil {
		return ""
	}
	return fmtTime(*t)
}

// yesNo prints a boolean for people.
func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// visibility prints a dataset's visibility.
func visibility(public bool) string {
	if public {
		return "public"
	}
	return "private"
}
