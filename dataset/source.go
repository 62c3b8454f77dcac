package dataset

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/tarnhq/tarn/location"
)

// Source records where the rows of a version came from: the query of another dataset whose
// result the version holds (tarn ds query --save). Querying Dataset at Version with Query
// selects the same rows again. A version that records no source has a nil Source.
type Source struct {
	// Dataset is the path of the queried dataset, as OpenPath takes it (al://ORG/DS, a
	// storage URL, file:///abs, mem://NAME).
	Dataset string `json:"dataset"`
	// Version is the version of Dataset that was queried.
	Version int64 `json:"version"`
	// The selection, as in Query; empty fields select everything.
	Where   string   `json:"where,omitempty"`
	Columns []string `json:"columns,omitempty"`
	OrderBy string   `json:"order_by,omitempty"`
	Desc    bool     `json:"desc,omitempty"`
	Limit   int64    `json:"limit,omitempty"`
	Offset  int64    `json:"offset,omitempty"`
}

// QuerySource returns the source of the rows that q selects on ds: ds's path (set by OpenPath
// and CreatePath; empty for a dataset from Open, whose caller must fill Dataset in), its
// version and q's selection.
func (ds *Dataset) QuerySource(q Query) Source {
	return Source{
		Dataset: ds.path, Version: ds.Version(), Where: q.Where, Columns: append([]string(nil), q.Columns...),
		OrderBy: q.OrderBy, Desc: q.Desc, Limit: q.Limit, Offset: q.Offset,
	}
}

// Query returns the query that selects the source's rows of Dataset at Version.
func (s Source) Query() Query {
	return Query{Where: s.Where, Columns: append([]string(nil), s.Columns...), OrderBy: s.OrderBy, Desc: s.Desc, Limit: s.Limit, Offset: s.Offset}
}

// String describes s on one line: "query of al://acme/pets version 7 where label == "cat"
// columns image,label order by score desc offset 10 limit 100", leaving out what is empty.
func (s Source) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "query of %s version %d", s.Dataset, s.Version)
	if s.Where != "" {
		b.WriteString(" where " + strings.Join(strings.Fields(s.Where), " "))
	}
	if len(s.Columns) > 0 {
		b.WriteString(" columns " + strings.Join(s.Columns, ","))
	}
	if s.OrderBy != "" {
		b.WriteString(" order by " + s.OrderBy)
		if s.Desc {
			b.WriteString(" desc")
		}
	}
	if s.Offset > 0 {
		b.WriteString(" offset " + strconv.FormatInt(s.Offset, 10))
	}
	if s.Limit > 0 {
		b.WriteString(" limit " + strconv.FormatInt(s.Limit, 10))
	}
	return b.String()
}

func (s *Source) clone() *Source {
	if s == nil {
		return nil
	}
	c := *s
	c.Columns = append([]string(nil), s.Columns...)
	return &c
}

// check says what is wrong with s as the source of a version whose schema is schema: its
// columns are the version's columns, and no field holds a control character that a terminal
// showing it would obey (the expression may span lines).
func (s *Source) check(schema Schema) error {
	if _, err := location.Parse(s.Dataset); err != nil {
		return fmt.Errorf("dataset: %w", err)
	}
	if s.Version <= 0 {
		return fmt.Errorf("version %d is not positive", s.Version)
	}
	if !printable(s.Where, "\n\t") {
		return errors.New("where: not valid UTF-8 or holds a control character")
	}
	seen := map[string]bool{}
	for _, c := range s.Columns {
		if _, ok := schema.Column(c); !ok || seen[c] {
			return fmt.Errorf("columns: %q is not a column of the version, or is listed twice", c)
		}
		seen[c] = true
	}
	switch {
	case s.OrderBy != "" && (checkColumnName(s.OrderBy) != nil || !printable(s.OrderBy, "")):
		return fmt.Errorf("order_by %q is not a column name", s.OrderBy)
	case s.Desc && s.OrderBy == "":
		return errors.New("desc without order_by")
	case s.Limit < 0 || s.Offset < 0:
		return fmt.Errorf("limit %d, offset %d: negative", s.Limit, s.Offset)
	}
	return nil
}

// printable reports whether s is valid UTF-8 without control characters other than those in
// allowed.
func printable(s, allowed string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) && !strings.ContainsRune(allowed, r) {
			return false
		}
	}
	return true
}
