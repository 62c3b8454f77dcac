// Package render shows the values of dataset columns to people and scripts: short text for
// a table cell, full text, the bytes a value stands for, and JSON. The tarn CLI (ds head,
// ds get) renders values with it, so that other front ends such as a web console can show
// them alike.
//
// Every function takes the column a value belongs to, because the Go value alone does not
// say everything: a tensor of uint8 is a []byte, which shows as numbers, not as bytes.
package render

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tarnhq/tarn/dataset"
)

// ShortRunes is the length, in characters, to which Short cuts text, JSON and lists.
const ShortRunes = 60

// Short returns v, a value of column c, as a short line for a table cell: "null";
// "<image jpeg 12.3 KiB>" for an image and "<bytes 3 B>" for bytes; text, JSON and lists
// (embeddings, tensors, as JSON) cut to ShortRunes characters, ending in "…" when cut;
// numbers and booleans as Go prints them, non-finite floats as NaN, +Inf and -Inf.
func Short(c dataset.Column, v any) string {
	v = plain(c, v)
	switch x := v.(type) {
	case nil:
		return "null"
	case dataset.ImageValue:
		return fmt.Sprintf("<image %s %s>", x.Format, Size(int64(len(x.Data))))
	case []byte:
		return fmt.Sprintf("<bytes %s>", Size(int64(len(x))))
	case string:
		return shorten(x, ShortRunes)
	case json.RawMessage:
		return shorten(string(x), ShortRunes)
	}
	return shorten(full(v), ShortRunes)
}

// Full returns v, a value of column c other than an image or bytes, in full as text:
// numbers and booleans as Go prints them, text (and a link's URL) as it is, JSON as its
// text, lists as JSON, null as "null". An image or bytes value shows as Short does.
func Full(c dataset.Column, v any) string {
	v = plain(c, v)
	switch x := v.(type) {
	case nil:
		return "null"
	case dataset.ImageValue, []byte:
		return Short(c, v)
	case string:
		return x
	case json.RawMessage:
		return string(x)
	}
	return full(v)
}

// Raw returns the bytes that v, a non-null value of column c, stands for, as a file of it
// would hold them: an image's encoded bytes, bytes as they are, text and JSON as their text
// without a newline, a link's URL (Dataset.ReadLink reads what it points at), and any
// other value as Full's text and a newline.
func Raw(c dataset.Column, v any) []byte {
	switch x := plain(c, v).(type) {
	case dataset.ImageValue:
		return x.Data
	case []byte:
		return x
	case string:
		return []byte(x)
	case json.RawMessage:
		return x
	}
	return []byte(Full(c, v) + "\n")
}

// JSON returns v, a value of column c, as it goes into JSON (encoding/json): an image as
// {"format": …, "data": base64}, bytes as base64, JSON as itself, a tensor of uint8 as
// numbers, and non-finite floats, which JSON cannot hold, as the strings "NaN", "+Inf" and
// "-Inf".
func JSON(c dataset.Column, v any) any {
	switch x := plain(c, v).(type) {
	case dataset.ImageValue:
		return struct {
			Format string `json:"format"`
			Data   []byte `json:"data"`
		}{x.Format, x.Data}
	case float32:
		return finite(float64(x), x)
	case float64:
		return finite(x, x)
	case []float32:
		out := make([]any, len(x))
		for i, f := range x {
			out[i] = finite(float64(f), f)
		}
		return out
	case []float64:
		out := make([]any, len(x))
		for i, f := range x {
			out[i] = finite(f, f)
		}
		return out
	default:
		return x
	}
}

// Row is a row as a JSON object whose keys are the columns, in schema order, and whose
// values are JSON's.
type Row struct {
	Columns []dataset.Column
	Values  dataset.Row
}

// MarshalJSON writes the row as a JSON object. It fails, naming the column, for a value
// that JSON cannot hold.
func (r Row) MarshalJSON() ([]byte, error) {
	var b strings.Builder
	b.WriteByte('{')
	for i, c := range r.Columns {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(c.Name)
		v, err := json.Marshal(JSON(c, r.Values[c.Name]))
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", c.Name, err)
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return []byte(b.String()), nil
}

// Size returns a byte count for people: "512 B", "1.5 MiB".
func Size(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// plain returns v, a value of column c, with a tensor of uint8 as []int: as []byte it
// would show as bytes.
func plain(c dataset.Column, v any) any {
	if b, ok := v.([]byte); ok && c.Type.Kind == dataset.Tensor {
		out := make([]int, len(b))
		for i, x := range b {
			out[i] = int(x)
		}
		return out
	}
	return v
}

// full prints a number or boolean as Go does, and anything else as JSON.
func full(v any) string {
	switch v.(type) {
	case float32, float64, bool, int8, int16, int32, int64, uint8, uint16, uint32, uint64:
		return fmt.Sprint(v)
	}
	b, err := json.Marshal(JSON(dataset.Column{}, v))
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// shorten cuts s to n runes, ending it with "…" when cut.
func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func finite(f float64, v any) any {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	return v
}
