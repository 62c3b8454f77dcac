package dataset

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/ext"
)

// A filter expression (Query.Where, Count) is a CEL expression of type bool over the
// columns of a row. Each column whose name is a CEL identifier is a variable of the CEL type
// of its column type:
//
//	bool                      bool
//	int8 … int64, uint8 … uint32  int
//	uint64                    uint
//	float32, float64          double
//	text, link                string
//	bytes                     bytes
//	json                      dyn: the decoded JSON value ("dog" in tags for ["dog", …])
//	image                     an object with format (string), and width, height and size
//	                          (int: pixels, from the encoded image's header, and bytes)
//	embedding                 list(double)
//	tensor                    list(double) or list(int), flat in row-major order
//
// Numbers of different types compare as numbers (score >= 1 for a double score). A value
// of a nullable column may be null (x == null); a row whose expression fails because a
// column it reads is null does not match, as in SQL, and any other failure of the
// expression fails the query, naming the row. An image's width and height are 0 when its
// header is not one of PNG, JPEG, GIF, WebP or BMP or cannot be read.

// Query selects rows of a dataset (Dataset.Query).
type Query struct {
	// Where is a filter expression (see above); empty matches every row.
	Where string
	// Columns are the columns returned; empty means all.
	Columns []string
	// OrderBy, when set, names the column the matching rows are sorted by: a numeric,
	// text, link or bool column. Nulls come last, ties keep row order; Desc reverses.
	OrderBy string
	Desc    bool
	// Limit, when positive, is the most rows returned; Offset is the number of matching
	// (and, with OrderBy, sorted) rows skipped first.
	Limit, Offset int64
	// Stats, when not nil, is filled in as the query reads.
	Stats *QueryStats
}

// QueryStats says what a query read from the store.
type QueryStats struct {
	RowGroups        int   // row groups of the version
	RowGroupsPruned  int   // skipped without reading their data: statistics rule them out
	RowGroupsMatched int   // row groups with a matching row, whose projected columns were read
	RowsPagePruned   int64 // rows of row groups read that the page index ruled out: their pages were not read
	BytesRead        int64 // bytes fetched from data files, footers included
}

// QueryRow is a row a query returned: its number in the version (0 ≤ Index < Len) and the
// queried columns.
type QueryRow struct {
	Index  int64
	Values Row
}

// imageInfo is what a filter expression sees of an image.
type imageInfo struct {
	Format string `cel:"format"`
	Width  int64  `cel:"width"`
	Height int64  `cel:"height"`
	Size   int64  `cel:"size"`
}

// imageCELType is the CEL name of imageInfo (ext.NativeTypes: package.Type).
const imageCELType = "dataset.imageInfo"

// filter is a compiled filter expression.
type filter struct {
	expr string
	prg  cel.Program
	// reads are the columns the expression reads; for image columns, whole says whether
	// it reads more than the format (width, height, size: the encoded bytes are read).
	reads []filterColumn
	// index is the position of each column of reads, for the activations of evaluations.
	index map[string]int
	// conds are comparisons of a scalar column with a constant that the whole expression
	// implies (top-level conjuncts); row-group statistics are checked against them.
	conds []cond
}

type filterColumn struct {
	col   Column
	whole bool
}

// cond is `column op constant`, op one of == < <= > >=.
type cond struct {
	column string
	kind   Kind
	op     string
	value  ref.Val
}

// celIdent reports whether name can be a CEL variable.
func celIdent(name string) bool {
	for i, r := range name {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	switch name {
	case "", "true", "false", "null", "in", "as", "break", "const", "continue", "else", "for",
		"function", "if", "import", "let", "loop", "package", "namespace", "return", "var", "void", "while":
		return false
	}
	return true
}

// celType is the CEL type of column c's values in filter expressions.
func celType(c Column) *cel.Type {
	var t *cel.Type
	switch k := c.Type.Kind; k {
	case Bool:
		t = cel.BoolType
	case Uint64:
		t = cel.UintType
	case Float32, Float64:
		t = cel.DoubleType
	case Text, Link:
		t = cel.StringType
	case Bytes:
		t = cel.BytesType
	case JSON:
		return cel.DynType
	case Image:
		return cel.ObjectType(imageCELType)
	case Embedding:
		return cel.ListType(cel.DoubleType)
	case Tensor:
		if c.Type.DType == Float32 || c.Type.DType == Float64 {
			return cel.ListType(cel.DoubleType)
		}
		return cel.ListType(cel.IntType)
	default:
		if !isNumeric(k) {
			return cel.DynType
		}
		t = cel.IntType
	}
	if c.Nullable {
		return cel.NullableType(t)
	}
	return t
}

// compileFilter type-checks expr, a bool expression, against schema s. Its errors say
// where in expr the problem is, with the line and column and a caret under it.
func compileFilter(s Schema, expr string) (*filter, error) {
	return compileExpr(s, expr, cel.BoolType)
}

// compileExpr type-checks expr against schema s as compileFilter does, for a result of
// type want (or dyn, checked when evaluated).
func compileExpr(s Schema, expr string, want *cel.Type) (*filter, error) {
	opts := []cel.EnvOption{
		ext.NativeTypes(reflect.TypeFor[imageInfo](), ext.ParseStructTags(true)),
		cel.CrossTypeNumericComparisons(true),
		ext.Strings(),
	}
	var names []string
	for _, c := range s.Columns {
		if celIdent(c.Name) {
			opts = append(opts, cel.Variable(c.Name, celType(c)))
			names = append(names, c.Name)
		}
	}
	env, err := cel.NewEnv(opts...)
	if err != nil {
		return nil, fmt.Errorf("where: %w", err)
	}
	checked, iss := env.Compile(expr)
	if iss.Err() != nil {
		return nil, whereError(expr, iss.Errors(), names)
	}
	if t := checked.OutputType(); !t.IsExactType(want) && !t.IsExactType(cel.DynType) {
		msg := fmt.Sprintf("the expression is of type %s, not bool: compare it with something", t)
		if want != cel.BoolType {
			msg = fmt.Sprintf("the expression is of type %s, not %s", t, want)
		}
		return nil, &ExprError{Expr: expr, Msg: msg}
	}
	prg, err := env.Program(checked, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, fmt.Errorf("where: %w", err)
	}
	f := &filter{expr: expr, prg: prg}
	f.reads = referenced(s, checked.NativeRep())
	f.index = make(map[string]int, len(f.reads))
	for i, r := range f.reads {
		f.index[r.col.Name] = i
	}
	f.conds = conjuncts(s, checked.NativeRep().Expr(), nil)
	return f, nil
}

// ExprError is the error of a filter expression that does not compile: where in the
// expression the problem is, and what it is.
type ExprError struct {
	Expr         string
	Line, Column int // from 1; 0 when the error is about the whole expression
	Msg          string
}

// Error returns "where LINE:COLUMN: MSG" and, on two more lines, the expression's line with
// a caret under the column.
func (e *ExprError) Error() string {
	if e.Line == 0 {
		return "where: " + e.Msg
	}
	out := fmt.Sprintf("where %d:%d: %s", e.Line, e.Column, e.Msg)
	lines := strings.Split(e.Expr, "\n")
	if e.Line <= len(lines) && len(lines[e.Line-1]) <= 200 {
		src := strings.ReplaceAll(lines[e.Line-1], "\t", " ")
		pad := utf8.RuneCountInString(src[:byteOffset(src, e.Column-1)])
		out += "\n  | " + src + "\n  | " + strings.Repeat(" ", pad) + "^"
	}
	return out
}

// whereError describes the first of errs.
func whereError(expr string, errs []*common.Error, columns []string) error {
	if len(errs) == 0 {
		return &ExprError{Expr: expr, Msg: "invalid expression"}
	}
	e := errs[0]
	msg := strings.TrimSuffix(e.Message, " (in container '')")
	if strings.HasPrefix(msg, "undeclared reference") {
		msg += fmt.Sprintf(" (columns: %s)", strings.Join(columns, ", "))
	}
	if more := len(errs) - 1; more > 0 {
		msg += fmt.Sprintf(" (and %d more errors)", more)
	}
	return &ExprError{Expr: expr, Line: max(e.Location.Line(), 1), Column: max(e.Location.Column(), 0) + 1, Msg: msg}
}

// byteOffset returns the byte offset of the rune at index col of s.
func byteOffset(s string, col int) int {
	for i := range s {
		if col == 0 {
			return i
		}
		col--
	}
	return len(s)
}

// referenced returns the columns a checked expression reads.
func referenced(s Schema, a *celast.AST) []filterColumn {
	refs := a.ReferenceMap()
	var out []filterColumn
	index := map[string]int{}
	for _, id := range celast.MatchDescendants(celast.NavigateAST(a), celast.KindMatcher(celast.IdentKind)) {
		r, ok := refs[id.ID()]
		if !ok || r.Value != nil {
			continue // a comprehension's variable, or a constant
		}
		c, ok := s.Column(r.Name)
		if !ok {
			continue
		}
		whole := true
		if p, ok := id.Parent(); ok && c.Type.Kind == Image && p.Kind() == celast.SelectKind && p.AsSelect().FieldName() == "format" {
			whole = false
		}
		if i, ok := index[c.Name]; ok {
			out[i].whole = out[i].whole || whole
			continue
		}
		index[c.Name] = len(out)
		out = append(out, filterColumn{col: c, whole: whole})
	}
	return out
}

// flipped is the comparison that holds for (b, a) when op holds for (a, b).
var flipped = map[string]string{
	operators.Equals: operators.Equals, operators.Less: operators.Greater,
	operators.LessEquals: operators.GreaterEquals, operators.Greater: operators.Less,
	operators.GreaterEquals: operators.LessEquals,
}

// conjuncts appends to out the comparisons of a scalar column with a constant that e, a
// conjunction, implies.
func conjuncts(s Schema, e celast.Expr, out []cond) []cond {
	if e.Kind() != celast.CallKind {
		return out
	}
	call := e.AsCall()
	args := call.Args()
	if call.FunctionName() == operators.LogicalAnd && len(args) == 2 {
		return conjuncts(s, args[1], conjuncts(s, args[0], out))
	}
	op, ok := flipped[call.FunctionName()]
	if !ok || len(args) != 2 {
		return out
	}
	ident, lit := args[0], args[1]
	if ident.Kind() == celast.LiteralKind {
		ident, lit = lit, ident
	} else {
		op = call.FunctionName()
	}
	if ident.Kind() != celast.IdentKind || lit.Kind() != celast.LiteralKind {
		return out
	}
	c, ok := s.Column(ident.AsIdent())
	if !ok || !prunable(c.Type.Kind) {
		return out
	}
	v := lit.AsLiteral()
	switch x := v.(type) {
	case types.Double:
		if math.IsNaN(float64(x)) {
			return out
		}
	case types.Int, types.Uint, types.String, types.Bool:
	default:
		return out
	}
	return append(out, cond{column: c.Name, kind: c.Type.Kind, op: op, value: v})
}

// prunable reports whether row groups can be skipped by the statistics of a column of kind
// k: scalars whose Parquet order is CEL's.
func prunable(k Kind) bool { return isNumeric(k) || k == Text || k == Link || k == Bool }

// celValue returns v, a Go value of column c (see Type), as filter expressions see it.
func celValue(c Column, v any) any {
	switch x := v.(type) {
	case nil:
		return types.NullValue
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case uint8:
		return int64(x)
	case uint16:
		return int64(x)
	case uint32:
		return int64(x)
	case float32:
		return float64(x)
	case json.RawMessage:
		var d any
		if json.Unmarshal(x, &d) != nil {
			return types.NullValue
		}
		return d
	case []float32:
		return floats(x)
	case []float64, []int64:
		return x
	}
	if isList(c.Type) {
		return reflectList(v)
	}
	return v
}

func floats(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, f := range x {
		out[i] = float64(f)
	}
	return out
}

// reflectList converts a slice of an integer kind to []int64.
func reflectList(v any) any {
	rv := reflect.ValueOf(v)
	out := make([]int64, rv.Len())
	for i := range out {
		e := rv.Index(i)
		if e.CanInt() {
			out[i] = e.Int()
		} else {
			out[i] = int64(e.Uint())
		}
	}
	return out
}
