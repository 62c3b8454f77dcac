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

type numBuilder[T number] interface {
	Append(T)
	AppendValues([]T, []bool)
}

type numArray[T number] interface {
	Value(int) T
	Values() []T
}

// appendNum appends v, which must be a T or, for integer kinds, an int that fits.
func appendNum[T number](b array.Builder, v any) error {
	nb := b.(numBuilder[T])
	switch x := v.(type) {
	case T:
		nb.Append(x)
		return nil
	case int: // checkValue has checked that it fits
		nb.Append(T(x))
		return nil
	}
	var zero T
	return fmt.Errorf("want %T, got %T", zero, v)
}

func appendNumSlice[T number](b array.Builder, v any, n int) error {
	s, ok := v.([]T)
	if !ok {
		var zero T
		return fmt.Errorf("want []%T of length %d, got %T", zero, n, v)
	}
	if len(s) != n {
		return fmt.Errorf("want %d values, got %d", n, len(s))
	}
	b.(numBuilder[T]).AppendValues(s, nil)
	return nil
}

func numSlice[T number](a arrow.Array, start, end int64) any {
	vals := a.(numArray[T]).Values()
	return append([]T(nil), vals[start:end]...)
}

// appendScalar appends a non-null value of kind k to b.
func appendScalar(k Kind, b array.Builder, v any) error {
	switch k {
	case Bool:
		x, ok := v.(bool)
		if !ok {
			return fmt.Errorf("want bool, got %T", v)
		}
		b.(*array.BooleanBuilder).Append(x)
		return nil
	case Int8:
		return appendNum[int8](b, v)
	case Int16:
		return appendNum[int16](b, v)
	case Int32:
		return appendNum[int32](b, v)
	case Int64:
		return appendNum[int64](b, v)
	case Uint8:
		return appendNum[uint8](b, v)
	case Uint16:
		return appendNum[uint16](b, v)
	case Uint32:
		return appendNum[uint32](b, v)
	case Uint64:
		return appendNum[uint64](b, v)
	case Float32:
		return appendNum[float32](b, v)
	case Float64:
		return appendNum[float64](b, v)
	case Text, Link:
		x, ok := v.(string)
		if !ok {
			return fmt.Errorf("want string, got %T", v)
		}
		b.(*array.StringBuilder).Append(x)
		return nil
	case JSON:
		var raw []byte
		switch x := v.(type) {
		case json.RawMessage:
			raw = x
		case []byte:
			raw = x
		case string:
			raw = []byte(x)
		default:
			return fmt.Errorf("want json.RawMessage, got %T", v)
		}
		if !json.Valid(raw) {
			return fmt.Errorf("invalid JSON")
		}
		b.(*array.StringBuilder).Append(string(raw))
		return nil
	case Bytes:
		x, ok := v.([]byte)
		if !ok {
			return fmt.Errorf("want []byte, got %T", v)
		}
		b.(*array.BinaryBuilder).Append(x)
		return nil
	case Image:
		var img ImageValue
		switch x := v.(type) {
		case ImageValue:
			img = x
		case *ImageValue:
			if x == nil {
				return fmt.Errorf("want ImageValue, got a nil *ImageValue")
			}
			img = *x
		default:
			return fmt.Errorf("want ImageValue, got %T", v)
		}
		sb := b.(*array.StructBuilder)
		sb.Append(true)
		sb.FieldBuilder(0).(*array.StringBuilder).Append(img.Format)
		sb.FieldBuilder(1).(*array.BinaryBuilder).Append(img.Data)
		return nil
	}
	return fmt.Errorf("unsupported kind %s", k)
}

// appendValue appends v (nil for null) to b, a builder of c's Arrow type. It returns an
// error, without appending, when v has the wrong Go type or is nil for a column that is not
// nullable.
func appendValue(c Column, b array.Builder, v any) error {
	if v == nil {
		if !c.Nullable {
			return fmt.Errorf("null in a column that is not nullable")
		}
		b.AppendNull()
		return nil
	}
	switch c.Type.Kind {
	case Embedding, Tensor:
		lb := b.(interface {
			Append(bool)
			ValueBuilder() array.Builder
		})
		elem, n := listElem(c.Type)
		if err := checkList(elem, v, n); err != nil { // before anything is appended
			return err
		}
		lb.Append(true)
		vb := lb.ValueBuilder()
		switch elem {
		case Int8:
			return appendNumSlice[int8](vb, v, n)
		case Int16:
			return appendNumSlice[int16](vb, v, n)
		case Int32:
			return appendNumSlice[int32](vb, v, n)
		case Int64:
			return appendNumSlice[int64](vb, v, n)
		case Uint8:
			return appendNumSlice[uint8](vb, v, n)
		case Uint16:
			return appendNumSlice[uint16](vb, v, n)
		case Uint32:
			return appendNumSlice[uint32](vb, v, n)
		case Uint64:
			return appendNumSlice[uint64](vb, v, n)
		case Float32:
			return appendNumSlice[float32](vb, v, n)
		case Float64:
			return appendNumSlice[float64](vb, v, n)
		}
	}
	return appendScalar(c.Type.Kind, b, v)
}

// listElem returns the element kind and length of an embedding or tensor value.
func listElem(t Type) (Kind, int) {
	if t.Kind == Tensor {
		return t.DType, t.elems()
	}
	return Float32, t.Dim
}

// checkList checks that v is a slice of n values of kind elem.
func checkList(elem Kind, v any, n int) error {
	switch elem {
	case Int8:
		return checkSlice[int8](v, n)
	case Int16:
		return checkSlice[int16](v, n)
	case Int32:
		return checkSlice[int32](v, n)
	case Int64:
		return checkSlice[int64](v, n)
	case Uint8:
		return checkSlice[uint8](v, n)
	case Uint16:
		return checkSlice[uint16](v, n)
	case Uint32:
		return checkSlice[uint32](v, n)
	case Uint64:
		return checkSlice[uint64](v, n)
	case Float32:
		return checkSlice[float32](v, n)
	case Float64:
		return checkSlice[float64](v, n)
	}
	return fmt.Errorf("unsupported element kind %s", elem)
}

func checkSlice[T number](v any, n int) error {
	s, ok := v.([]T)
	if !ok {
		var zero T
		return fmt.Errorf("want []%T of length %d, got %T", zero, n, v)
	}
	if len(s) != n {
		return fmt.Errorf("want %d values, got %d", n, len(s))
	}
	return nil
}

// checkValue reports whether v can be appended to column c, without appending it.
func checkValue(c Column, v any) error {
	if v == nil {
		if !c.Nullable {
			return fmt.Errorf("null in a column that is not nullable")
		}
		return nil
	}
	switch c.Type.Kind {
	case Embedding, Tensor:
		elem, n := listElem(c.Type)
		return checkList(elem, v, n)
	case Int8:
		return fitsInt(v, math.MinInt8, math.MaxInt8, int8(0))
	case Int16:
		return fitsInt(v, math.MinInt16, math.MaxInt16, int16(0))
	case Int32:
		return fitsInt(v, math.MinInt32, math.MaxInt32, int32(0))
	case Int64:
		return fitsInt(v, math.MinInt64, math.MaxInt64, int64(0))
	case Uint8:
		return fitsUint(v, math.MaxUint8, uint8(0))
	case Uint16:
		return fitsUint(v, math.MaxUint16, uint16(0))
	case Uint32:
		return fitsUint(v, math.MaxUint32, uint32(0))
	case Uint64:
		return fitsUint(v, math.MaxUint64, uint64(0))
	case Float32:
		if _, ok := v.(float32); !ok {
			return fmt.Errorf("want float32, got %T", v)
		}
	case Float64:
		if _, ok := v.(float64); !ok {
			return fmt.Errorf("want float64, got %T", v)
		}
	case Bool:
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("want bool, got %T", v)
		}
	case Text, Link:
		if _, ok := v.(string); !ok {
			return fmt.Errorf("want string, got %T", v)
		}
	case Bytes:
		if _, ok := v.([]byte); !ok {
			return fmt.Errorf("want []byte, got %T", v)
		}
	case JSON:
		var raw []byte
		switch x := v.(type) {
		case json.RawMessage:
			raw = x
		case []byte:
			raw = x
		case string:
			raw = []byte(x)
		default:
			return fmt.Errorf("want json.RawMessage, got %T", v)
		}
		if !json.Valid(raw) {
			return fmt.Errorf("invalid JSON")
		}
	case Image:
		switch x := v.(type) {
		case ImageValue:
		case *ImageValue:
			if x == nil {
				return fmt.Errorf("want ImageValue, got a nil *ImageValue")
			}
		default:
			return fmt.Errorf("want ImageValue, got %T", v)
		}
	}
	return nil
}

func fitsInt[T number](v any, lo, hi int64, zero T) error {
	switch x := v.(type) {
	case T:
		return nil
	case int:
		if int64(x) < lo || int64(x) > hi {
			return fmt.Errorf("%d does not fit in %T", x, zero)
		}
		return nil
	}
	return fmt.Errorf("want %T, got %T", zero, v)
}

func fitsUint[T number](v any, hi uint64, zero T) error {
	switch x := v.(type) {
	case T:
		return nil
	case int:
		if x < 0 || uint64(x) > hi {
			return fmt.Errorf("%d does not fit in %T", x, zero)
		}
		return nil
	}
	return fmt.Errorf("want %T, got %T", zero, v)
}

// value returns row i of a, an array of c's Arrow type, as the Go value of c's type (nil
// for null). Returned slices are copies: they outlive a.
func value(c Column, a arrow.Array, i int) (any, error) {
	if a.IsNull(i) {
		return nil, nil
	}
	switch c.Type.Kind {
	case Bool:
		return a.(*array.Boolean).Value(i), nil
	case Int8:
		return a.(*array.Int8).Value(i), nil
	case Int16:
		return a.(*array.Int16).Value(i), nil
	case Int32:
		return a.(*array.Int32).Value(i), nil
	case Int64:
		return a.(*array.Int64).Value(i), nil
	case Uint8:
		return a.(*array.Uint8).Value(i), nil
	case Uint16:
		return a.(*array.Uint16).Value(i), nil
	case Uint32:
		return a.(*array.Uint32).Value(i), nil
	case Uint64:
		return a.(*array.Uint64).Value(i), nil
	case Float32:
		return a.(*array.Float32).Value(i), nil
	case Float64:
		return a.(*array.Float64).Value(i), nil
	case Text, Link:
		return a.(*array.String).Value(i), nil
	case JSON:
		return json.RawMessage(a.(*array.String).Value(i)), nil
	case Bytes:
		return append([]byte{}, a.(*array.Binary).Value(i)...), nil
	case Image:
		s := a.(*array.Struct)
		return ImageValue{
			Format: s.Field(0).(*array.String).Value(i),
			Data:   append([]byte{}, s.Field(1).(*array.Binary).Value(i)...),
		}, nil
	case Embedding, Tensor:
		l := a.(array.ListLike)
		start, end := l.ValueOffsets(i)
		elem, n := listElem(c.Type)
		if end-start != int64(n) {
			return nil, fmt.Errorf("row %d holds %d values, want %d", i, end-start, n)
		}
		vals := l.ListValues()
		switch elem {
		case Int8:
			return numSlice[int8](vals, start, end), nil
		case Int16:
			return numSlice[int16](vals, start, end), nil
		case Int32:
			return numSlice[int32](vals, start, end), nil
		case Int64:
			return numSlice[int64](vals, start, end), nil
		case Uint8:
			return numSlice[uint8](vals, start, end), nil
		case Uint16:
			return numSlice[uint16](vals, start, end), nil
		case Uint32:
			return numSlice[uint32](vals, start, end), nil
		case Uint64:
			return numSlice[uint64](vals, start, end), nil
		case Float32:
			return numSlice[float32](vals, start, end), nil
		case Float64:
			return numSlice[float64](vals, start, end), nil
		}
	}
	return nil, fmt.Errorf("unsupported type %s", c.Type)
}
