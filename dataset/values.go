package dataset

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// Row is one row: column name to value (see Type for the Go type of each column type). A
// column missing from a Row, or set to nil, is null.
type Row map[string]any

type number interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~float32 | ~float64
}

// kindOps is everything this package knows about the values of one kind, in one place: the
// Arrow type that holds them, which Go values a column of the kind accepts, and how a value
// moves into and out of Arrow. Numeric kinds also have the list forms that embeddings and
// tensors of that element kind use.
type kindOps struct {
	arrow arrow.DataType
	// normalize returns v (not nil) as the kind's canonical Go value, or why it cannot be
	// one. The canonical value of a JSON column is its text as a string.
	normalize func(v any) (any, error)
	// append appends a canonical value to a builder of the kind's Arrow type.
	append func(b array.Builder, v any)
	// value returns non-null row i of an array of the kind's Arrow type; slices are copies.
	value func(a arrow.Array, i int) any

	// The same for a slice of n elements of a numeric kind; nil for other kinds.
	normalizeList func(v any, n int) (any, error)
	appendList    func(b array.Builder, v any)
	list          func(a arrow.Array, start, end int64) any
}

var kinds = map[Kind]kindOps{
	Bool:    scalarKind[bool](arrow.FixedWidthTypes.Boolean, exactly[bool]("bool")),
	Int8:    intKind[int8](arrow.PrimitiveTypes.Int8, math.MinInt8, math.MaxInt8),
	Int16:   intKind[int16](arrow.PrimitiveTypes.Int16, math.MinInt16, math.MaxInt16),
	Int32:   intKind[int32](arrow.PrimitiveTypes.Int32, math.MinInt32, math.MaxInt32),
	Int64:   intKind[int64](arrow.PrimitiveTypes.Int64, math.MinInt64, math.MaxInt64),
	Uint8:   intKind[uint8](arrow.PrimitiveTypes.Uint8, 0, math.MaxUint8),
	Uint16:  intKind[uint16](arrow.PrimitiveTypes.Uint16, 0, math.MaxUint16),
	Uint32:  intKind[uint32](arrow.PrimitiveTypes.Uint32, 0, math.MaxUint32),
	Uint64:  intKind[uint64](arrow.PrimitiveTypes.Uint64, 0, math.MaxUint64),
	Float32: numKind[float32](arrow.PrimitiveTypes.Float32, exactly[float32]("float32")),
	Float64: numKind[float64](arrow.PrimitiveTypes.Float64, exactly[float64]("float64")),
	Text:    scalarKind[string](arrow.BinaryTypes.String, exactly[string]("string")),
	Link:    scalarKind[string](arrow.BinaryTypes.String, exactly[string]("string")),
	JSON: {
		arrow:     arrow.BinaryTypes.String,
		normalize: normalizeJSON,
		append:    appendAs[string],
		value:     func(a arrow.Array, i int) any { return json.RawMessage(a.(*array.String).Value(i)) },
	},
	Bytes: {
		arrow:     arrow.BinaryTypes.Binary,
		normalize: exactly[[]byte]("[]byte"),
		append:    appendAs[[]byte],
		value:     func(a arrow.Array, i int) any { return append([]byte{}, a.(*array.Binary).Value(i)...) },
	},
	Image: {
		arrow: arrow.StructOf(
			arrow.Field{Name: "format", Type: arrow.BinaryTypes.String},
			arrow.Field{Name: "data", Type: arrow.BinaryTypes.Binary},
		),
		normalize: normalizeImage,
		append:    appendImage,
		value:     imageValue,
	},
}

// scalarKind is a kind whose canonical Go value is a T, held by an Arrow array with
// Value(int) T and built by a builder with Append(T).
func scalarKind[T any](dt arrow.DataType, normalize func(any) (any, error)) kindOps {
	return kindOps{arrow: dt, normalize: normalize, append: appendAs[T], value: valueAs[T]}
}

// numKind is a numeric kind, which can also be the element kind of a list.
func numKind[T number](dt arrow.DataType, normalize func(any) (any, error)) kindOps {
	k := scalarKind[T](dt, normalize)
	k.normalizeList, k.appendList, k.list = normalizeSlice[T], appendSlice[T], numSlice[T]
	return k
}

// intKind is an integer kind that accepts a T or an int in [lo, hi].
func intKind[T number](dt arrow.DataType, lo int64, hi uint64) kindOps {
	return numKind[T](dt, func(v any) (any, error) {
		switch x := v.(type) {
		case T:
			return x, nil
		case int:
			if (x < 0 && int64(x) < lo) || (x >= 0 && uint64(x) > hi) {
				var zero T
				return nil, fmt.Errorf("%d does not fit in %T", x, zero)
			}
			return T(x), nil
		}
		var zero T
		return nil, fmt.Errorf("want %T, got %T", zero, v)
	})
}

// exactly accepts only a T, named name in errors.
func exactly[T any](name string) func(any) (any, error) {
	return func(v any) (any, error) {
		if _, ok := v.(T); !ok {
			return nil, fmt.Errorf("want %s, got %T", name, v)
		}
		return v, nil
	}
}

func appendAs[T any](b array.Builder, v any) { b.(interface{ Append(T) }).Append(v.(T)) }

func valueAs[T any](a arrow.Array, i int) any { return a.(interface{ Value(int) T }).Value(i) }

func normalizeSlice[T number](v any, n int) (any, error) {
	s, ok := v.([]T)
	if !ok {
		var zero T
		return nil, fmt.Errorf("want []%T of length %d, got %T", zero, n, v)
	}
	if len(s) != n {
		return nil, fmt.Errorf("want %d values, got %d", n, len(s))
	}
	return s, nil
}

func appendSlice[T number](b array.Builder, v any) {
	b.(interface{ AppendValues([]T, []bool) }).AppendValues(v.([]T), nil)
}

func numSlice[T number](a arrow.Array, start, end int64) any {
	vals := a.(interface{ Values() []T }).Values()
	return append([]T(nil), vals[start:end]...)
}

// normalizeJSON accepts JSON text as a json.RawMessage, []byte or string.
func normalizeJSON(v any) (any, error) {
	var raw []byte
	switch x := v.(type) {
	case json.RawMessage:
		raw = x
	case []byte:
		raw = x
	case string:
		raw = []byte(x)
	default:
		return nil, fmt.Errorf("want json.RawMessage, got %T", v)
	}
	if !json.Valid(raw) {
		return nil, fmt.Errorf("invalid JSON")
	}
	return string(raw), nil
}

// normalizeImage accepts an ImageValue or a non-nil *ImageValue.
func normalizeImage(v any) (any, error) {
	switch x := v.(type) {
	case ImageValue:
		return x, nil
	case *ImageValue:
		if x == nil {
			return nil, fmt.Errorf("want ImageValue, got a nil *ImageValue")
		}
		return *x, nil
	}
	return nil, fmt.Errorf("want ImageValue, got %T", v)
}

func appendImage(b array.Builder, v any) {
	img := v.(ImageValue)
	sb := b.(*array.StructBuilder)
	sb.Append(true)
	sb.FieldBuilder(0).(*array.StringBuilder).Append(img.Format)
	sb.FieldBuilder(1).(*array.BinaryBuilder).Append(img.Data)
}

func imageValue(a arrow.Array, i int) any {
	s := a.(*array.Struct)
	return ImageValue{
		Format: s.Field(0).(*array.String).Value(i),
		Data:   append([]byte{}, s.Field(1).(*array.Binary).Value(i)...),
	}
}

// listElem returns the element kind and length of an embedding or tensor value.
func listElem(t Type) (Kind, int) {
	if t.Kind == Tensor {
		return t.DType, t.elems()
	}
	return Float32, t.Dim
}

// isList reports whether values of t are lists (embeddings and tensors).
func isList(t Type) bool { return t.Kind == Embedding || t.Kind == Tensor }

// normalize returns v, a non-nil value for a column of type t, as the canonical Go value of
// t, or why v does not fit t. This is the one place that decides which Go values a column
// type accepts; see kinds.
func normalize(t Type, v any) (any, error) {
	if isList(t) {
		elem, n := listElem(t)
		k, ok := kinds[elem]
		if !ok || k.normalizeList == nil {
			return nil, fmt.Errorf("unsupported element kind %s", elem)
		}
		return k.normalizeList(v, n)
	}
	k, ok := kinds[t.Kind]
	if !ok {
		return nil, fmt.Errorf("unsupported kind %s", t.Kind)
	}
	return k.normalize(v)
}

// canonical is normalize for a value of column c, where nil (null) is kept if c is
// nullable.
func canonical(c Column, v any) (any, error) {
	if v == nil {
		if !c.Nullable {
			return nil, fmt.Errorf("null in a column that is not nullable")
		}
		return nil, nil
	}
	return normalize(c.Type, v)
}

// appendCanonical appends v, a canonical non-null value of type t (see normalize), to b, a
// builder of t's Arrow type. It does not check v again.
func appendCanonical(t Type, b array.Builder, v any) {
	if isList(t) {
		lb := b.(interface {
			Append(bool)
			ValueBuilder() array.Builder
		})
		elem, _ := listElem(t)
		lb.Append(true)
		kinds[elem].appendList(lb.ValueBuilder(), v)
		return
	}
	kinds[t.Kind].append(b, v)
}

// value returns row i of a, an array of c's Arrow type, as the Go value of c's type (nil
// for null). Returned slices are copies: they outlive a.
func value(c Column, a arrow.Array, i int) (any, error) {
	if a.IsNull(i) {
		return nil, nil
	}
	if isList(c.Type) {
		l := a.(array.ListLike)
		start, end := l.ValueOffsets(i)
		elem, n := listElem(c.Type)
		if end-start != int64(n) {
			return nil, fmt.Errorf("row %d holds %d values, want %d", i, end-start, n)
		}
		if k, ok := kinds[elem]; ok && k.list != nil {
			return k.list(l.ListValues(), start, end), nil
		}
	} else if k, ok := kinds[c.Type.Kind]; ok {
		return k.value(a, i), nil
	}
	return nil, fmt.Errorf("unsupported type %s", c.Type)
}
