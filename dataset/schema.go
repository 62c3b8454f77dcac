package dataset

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/tarnhq/tarn/location"
)

// Kind is the kind of a column type.
type Kind string

// The column kinds. The numeric kinds, Bool, Text, Bytes and JSON are scalars; Image,
// Embedding, Tensor and Link take parameters (see Type).
const (
	Bool      Kind = "bool"
	Int8      Kind = "int8"
	Int16     Kind = "int16"
	Int32     Kind = "int32"
	Int64     Kind = "int64"
	Uint8     Kind = "uint8"
	Uint16    Kind = "uint16"
	Uint32    Kind = "uint32"
	Uint64    Kind = "uint64"
	Float32   Kind = "float32"
	Float64   Kind = "float64"
	Text      Kind = "text"
	Bytes     Kind = "bytes"
	JSON      Kind = "json"
	Image     Kind = "image"
	Embedding Kind = "embedding"
	Tensor    Kind = "tensor"
	Link      Kind = "link"
)

// Type is a column type. Most types are a bare Kind; Embedding needs Dim, Tensor needs DType
// (a numeric kind) and Shape, and Link needs Target (the kind of the linked bytes, such as
// Image or Bytes). Build parameterized types with EmbeddingOf, TensorOf and LinkTo.
//
// Go values of each type, as Append takes them and reads return them: bool, int8 … uint64,
// float32, float64 (an untyped int constant is accepted for any integer column when it
// fits); Text: string; Bytes: []byte; JSON: json.RawMessage (a string or []byte holding
// valid JSON is accepted); Image: ImageValue; Embedding: []float32 of length Dim; Tensor: a
// flat, row-major slice of DType ([]float32 for Float32 …) of length product(Shape);
// Link: the URL as a string. A null is nil.
type Type struct {
	Kind   Kind  `json:"kind"`
	Dim    int   `json:"dim,omitempty"`
	DType  Kind  `json:"dtype,omitempty"`
	Shape  []int `json:"shape,omitempty"`
	Target Kind  `json:"target,omitempty"`
}

// EmbeddingOf returns the type of embeddings of dim float32 values.
func EmbeddingOf(dim int) Type { return Type{Kind: Embedding, Dim: dim} }

// TensorOf returns the type of tensors of the numeric kind dtype with the given shape.
func TensorOf(dtype Kind, shape ...int) Type { return Type{Kind: Tensor, DType: dtype, Shape: shape} }

// LinkTo returns the type of links (URLs) to values of kind target.
func LinkTo(target Kind) Type { return Type{Kind: Link, Target: target} }

// T returns the type of kind k, which takes no parameters.
func T(k Kind) Type { return Type{Kind: k} }

// String returns the type as users write it: "int64", "embedding(512)",
// "tensor(float32, [3 224 224])", "link(image)".
func (t Type) String() string {
	switch t.Kind {
	case Embedding:
		return fmt.Sprintf("embedding(%d)", t.Dim)
	case Tensor:
		return fmt.Sprintf("tensor(%s, %v)", t.DType, t.Shape)
	case Link:
		return fmt.Sprintf("link(%s)", t.Target)
	}
	return string(t.Kind)
}

// Equal reports whether t and u are the same type.
func (t Type) Equal(u Type) bool { return t.String() == u.String() }

func isNumeric(k Kind) bool {
	switch k {
	case Int8, Int16, Int32, Int64, Uint8, Uint16, Uint32, Uint64, Float32, Float64:
		return true
	}
	return false
}

// maxTensorElems bounds the elements of one tensor value, so a manifest cannot ask for an
// absurd fixed-size list.
const maxTensorElems = 1 << 28

func (t Type) validate() error {
	hasParams := t.Dim != 0 || t.DType != "" || len(t.Shape) != 0 || t.Target != ""
	switch t.Kind {
	case Bool, Int8, Int16, Int32, Int64, Uint8, Uint16, Uint32, Uint64, Float32, Float64,
		Text, Bytes, JSON, Image:
		if hasParams {
			return fmt.Errorf("type %s takes no parameters", t.Kind)
		}
	case Embedding:
		if t.Dim <= 0 || t.Dim > maxTensorElems || t.DType != "" || len(t.Shape) != 0 || t.Target != "" {
			return fmt.Errorf("embedding needs a dimension between 1 and %d and nothing else", maxTensorElems)
		}
	case Tensor:
		if !isNumeric(t.DType) || t.Dim != 0 || t.Target != "" {
			return fmt.Errorf("tensor needs a numeric dtype, not %q", t.DType)
		}
		if len(t.Shape) == 0 {
			return fmt.Errorf("tensor needs a shape")
		}
		n := 1
		for _, d := range t.Shape {
			if d <= 0 || d > maxTensorElems || n*d > maxTensorElems {
				return fmt.Errorf("tensor shape %v: dimensions must be positive with at most %d elements in all", t.Shape, maxTensorElems)
			}
			n *= d
		}
	case Link:
		if t.Target == "" || t.Target == Link || t.Dim != 0 || t.DType != "" || len(t.Shape) != 0 {
			return fmt.Errorf("link needs a target kind other than link")
		}
		if err := T(t.Target).validate(); err != nil {
			return fmt.Errorf("link target: %w", err)
		}
	default:
		return fmt.Errorf("unknown type %q", t.Kind)
	}
	return nil
}

// elems returns the number of elements of a tensor value.
func (t Type) elems() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Column is one column of a schema.
type Column struct {
	Name     string `json:"name"`
	Type     Type   `json:"type"`
	Nullable bool   `json:"nullable,omitempty"`
	// LinkKey, for a link column only, names the creds key of the dataset's org through
	// which the column's URLs are read (Dataset.ReadLink): the key must be linked to the
	// dataset on the control plane (client.AddLinkedCredsKey, `tarn ds add-creds-key`), and
	// readers of the dataset then get read credentials for the linked objects through it.
	// Empty means the links are read without a creds key, which works for https:// URLs
	// and, in a dataset its owner opened on a local or storage path, for file:// and mem://
	// URLs; a dataset opened by its al:// path refuses those. It is kept in the manifest as "link_key" (omitted when empty, so
	// manifests without link keys are unchanged); change it with Dataset.SetLinkKey.
	LinkKey string `json:"link_key,omitempty"`
}

// Schema is the ordered list of a dataset's columns.
type Schema struct {
	Columns []Column `json:"columns"`
}

// NewSchema returns a schema of the given columns.
func NewSchema(cols ...Column) Schema { return Schema{Columns: cols} }

// Column returns the column named name.
func (s Schema) Column(name string) (Column, bool) {
	for _, c := range s.Columns {
		if c.Name == name {
			return c, true
		}
	}
	return Column{}, false
}

// Names returns the column names in order.
func (s Schema) Names() []string {
	n := make([]string, len(s.Columns))
	for i, c := range s.Columns {
		n[i] = c.Name
	}
	return n
}

// Validate checks that every column has a valid, unique name and a valid type.
func (s Schema) Validate() error {
	seen := map[string]bool{}
	for _, c := range s.Columns {
		if err := checkColumnName(c.Name); err != nil {
			return err
		}
		if seen[c.Name] {
			return fmt.Errorf("column %q appears twice", c.Name)
		}
		seen[c.Name] = true
		if err := c.Type.validate(); err != nil {
			return fmt.Errorf("column %q: %w", c.Name, err)
		}
		if c.LinkKey != "" {
			if c.Type.Kind != Link {
				return fmt.Errorf("column %q: only link columns have a link key", c.Name)
			}
			if err := location.CheckName("creds key", c.LinkKey); err != nil {
				return fmt.Errorf("column %q: link key: %w", c.Name, err)
			}
		}
	}
	return nil
}

func checkColumnName(name string) error {
	if name == "" || len(name) > 256 {
		return fmt.Errorf("column name %q must have 1 to 256 bytes", name)
	}
	if strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return fmt.Errorf("column name %q holds control characters", name)
	}
	return nil
}

// String returns the schema as "name type[?], …", where ? marks nullable columns.
func (s Schema) String() string {
	var b strings.Builder
	for i, c := range s.Columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c.Name + " " + c.Type.String())
		if c.Nullable {
			b.WriteString("?")
		}
	}
	return b.String()
}

// compatible reports why files written with schema s cannot be committed on top of a
// version whose schema is latest: every column of s must be in latest with the same type and
// nullability, and every column that latest adds must be nullable (readers fill it with
// nulls). The error names the column.
func (s Schema) compatible(latest Schema) error {
	for _, c := range s.Columns {
		l, ok := latest.Column(c.Name)
		if !ok {
			return fmt.Errorf("column %q was removed by a concurrent commit", c.Name)
		}
		if !l.Type.Equal(c.Type) || l.Nullable != c.Nullable {
			return fmt.Errorf("column %q was changed by a concurrent commit from %s to %s", c.Name, describe(c), describe(l))
		}
	}
	for _, l := range latest.Columns {
		if _, ok := s.Column(l.Name); !ok && !l.Nullable {
			return fmt.Errorf("column %q was added by a concurrent commit and is not nullable", l.Name)
		}
	}
	return nil
}

func describe(c Column) string {
	if c.Nullable {
		return c.Type.String() + " (nullable)"
	}
	return c.Type.String()
}

// ImageValue is the value of an Image column: the encoded bytes and their format ("jpeg",
// "png", …).
type ImageValue struct {
	Format string
	Data   []byte
}

// arrow types

// arrowKind is the Arrow type of values of kind k, nil for kinds that have none (embeddings
// and tensors: see Column.arrow).
func arrowKind(k Kind) arrow.DataType { return kinds[k].arrow }

// arrow returns the Arrow type of column c in data files. Embeddings and tensors are
// fixed-size lists; in nullable columns they are variable-size lists instead, because the
// Parquet writer cannot write a null fixed-size list (its child values would have to be
// skipped). Parquet stores both as a LIST; the length is in the type either way.
func (c Column) arrow() arrow.DataType {
	t := c.Type
	elem, n := arrow.PrimitiveTypes.Float32, t.Dim
	switch t.Kind {
	case Embedding:
	case Tensor:
		elem, n = arrowKind(t.DType), t.elems()
	default:
		return arrowKind(t.Kind)
	}
	if c.Nullable {
		return arrow.ListOfNonNullable(elem)
	}
	return arrow.FixedSizeListOfNonNullable(int32(n), elem)
}

// arrowSchema is the Arrow schema of data files written with s. The tarn type of each
// column is kept in the field metadata for readers that want it.
func (s Schema) arrowSchema() *arrow.Schema {
	fields := make([]arrow.Field, len(s.Columns))
	for i, c := range s.Columns {
		typ, _ := json.Marshal(c.Type)
		fields[i] = arrow.Field{
			Name: c.Name, Type: c.arrow(), Nullable: c.Nullable,
			Metadata: arrow.NewMetadata([]string{"tarn.type"}, []string{string(typ)}),
		}
	}
	return arrow.NewSchema(fields, nil)
}
