package dataset

import (
	"fmt"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
)

// RowExpr is a compiled expression of a dataset's columns that is evaluated on rows
// already read (Row), for callers that read rows themselves: Nearest's filter, sampling
// weights. It is safe for concurrent use.
type RowExpr struct {
	f *filter
}

// CompileRowFilter type-checks expr, a filter expression as Query.Where takes it, against
// schema s; its errors are *ExprError, as Query's.
func CompileRowFilter(s Schema, expr string) (*RowExpr, error) {
	f, err := compileFilter(s, expr)
	if err != nil {
		return nil, err
	}
	return &RowExpr{f}, nil
}

// CompileRowWeight type-checks expr, a number expression of a row's columns such as
// `label == "rare" ? 10.0 : 1.0`, against schema s, for IterOptions.Weight.
func CompileRowWeight(s Schema, expr string) (*RowExpr, error) {
	f, err := compileExpr(s, expr, cel.DoubleType)
	if err != nil {
		return nil, err
	}
	return &RowExpr{f}, nil
}

// Columns returns the columns the expression reads: the rows it is evaluated on need
// these.
func (e *RowExpr) Columns() []string {
	names := make([]string, len(e.f.reads))
	for i, r := range e.f.reads {
		names[i] = r.col.Name
	}
	return names
}

// Match evaluates a filter on r. A row whose expression meets a null column, or gives
// null, does not match, as in Query.
func (e *RowExpr) Match(r Row) (bool, error) {
	b, err := matches(e.eval(r))
	if err != nil {
		return false, fmt.Errorf("where: %w", err)
	}
	return b, nil
}

// Weight evaluates a weight on r: a null column or a null result gives 0 (the row is never
// drawn).
func (e *RowExpr) Weight(r Row) (float64, error) {
	out, hasNull, err := e.eval(r)
	switch {
	case err != nil && hasNull, err == nil && out == types.NullValue:
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("sample-by: %w", err)
	}
	switch x := out.Value().(type) {
	case float64:
		return x, nil
	case int64:
		return float64(x), nil
	case uint64:
		return float64(x), nil
	}
	return 0, fmt.Errorf("sample-by: the expression gave %v, not a number", out.Value())
}

// eval evaluates the expression on r; hasNull tells whether a column it read was null.
func (e *RowExpr) eval(r Row) (out ref.Val, hasNull bool, err error) {
	act := &rowActivation{names: e.f.index, vals: make([]any, len(e.f.reads))}
	for i, fr := range e.f.reads {
		v := rowCEL(fr, r[fr.col.Name])
		hasNull = hasNull || v == types.NullValue
		act.vals[i] = v
	}
	out, _, err = e.f.prg.Eval(act)
	return out, hasNull, err
}

// rowCEL returns v, a Row value of column fr, as expressions see it.
func rowCEL(fr filterColumn, v any) any {
	if img, ok := v.(ImageValue); ok {
		info := &imageInfo{Format: img.Format}
		if fr.whole {
			info.Size = int64(len(img.Data))
			info.Width, info.Height = imageSize(img.Data)
		}
		return info
	}
	return celValue(fr.col, v)
}
