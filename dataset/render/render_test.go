package render_test

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/tarnhq/tarn/dataset"
	"github.com/tarnhq/tarn/dataset/render"
)

func col(t dataset.Type) dataset.Column { return dataset.Column{Name: "c", Type: t, Nullable: true} }

var (
	long  = strings.Repeat("é", 70)
	cases = []struct {
		name  string
		col   dataset.Column
		value any
		short string
		full  string
		raw   string
		json  string
	}{
		{"null", col(dataset.T(dataset.Int64)), nil, "null", "null", "null\n", "null"},
		{"int", col(dataset.T(dataset.Int64)), int64(-7), "-7", "-7", "-7\n", "-7"},
		{"uint8", col(dataset.T(dataset.Uint8)), uint8(255), "255", "255", "255\n", "255"},
		{"bool", col(dataset.T(dataset.Bool)), true, "true", "true", "true\n", "true"},
		{"NaN", col(dataset.T(dataset.Float32)), float32(math.NaN()), "NaN", "NaN", "NaN\n", `"NaN"`},
		{"-Inf", col(dataset.T(dataset.Float64)), math.Inf(-1), "-Inf", "-Inf", "-Inf\n", `"-Inf"`},
		{"float", col(dataset.T(dataset.Float64)), 0.25, "0.25", "0.25", "0.25\n", "0.25"},
		{"text", col(dataset.T(dataset.Text)), "cat", "cat", "cat", "cat", `"cat"`},
		{"long text", col(dataset.T(dataset.Text)), long, strings.Repeat("é", 59) + "…", long, long, `"` + long + `"`},
		{"json", col(dataset.T(dataset.JSON)), json.RawMessage(`{"a":[1,2]}`), `{"a":[1,2]}`, `{"a":[1,2]}`, `{"a":[1,2]}`, `{"a":[1,2]}`},
		{"bytes", col(dataset.T(dataset.Bytes)), []byte{0, 1, 2}, "<bytes 3 B>", "<bytes 3 B>", "\x00\x01\x02", `"AAEC"`},
		{"image", col(dataset.T(dataset.Image)), dataset.ImageValue{Format: "png", Data: make([]byte, 1536)},
			"<image png 1.5 KiB>", "<image png 1.5 KiB>", string(make([]byte, 1536)), `{"format":"png","data":"` + strings.Repeat("A", 2048) + `"}`},
		{"embedding", col(dataset.EmbeddingOf(3)), []float32{0.5, -1, float32(math.Inf(1))}, `[0.5,-1,"+Inf"]`, `[0.5,-1,"+Inf"]`, "[0.5,-1,\"+Inf\"]\n", `[0.5,-1,"+Inf"]`},
		{"tensor of uint8", col(dataset.TensorOf(dataset.Uint8, 3)), []byte{1, 0, 255}, "[1,0,255]", "[1,0,255]", "[1,0,255]\n", "[1,0,255]"},
		{"tensor of float64", col(dataset.TensorOf(dataset.Float64, 2)), []float64{1, math.NaN()}, `[1,"NaN"]`, `[1,"NaN"]`, "[1,\"NaN\"]\n", `[1,"NaN"]`},
		{"long tensor", col(dataset.TensorOf(dataset.Int32, 40)), make([]int32, 40), "[" + strings.Repeat("0,", 29) + "…",
			"[" + strings.Repeat("0,", 39) + "0]", "[" + strings.Repeat("0,", 39) + "0]\n", "[" + strings.Repeat("0,", 39) + "0]"},
		{"link", col(dataset.LinkTo(dataset.Image)), "s3://b/cat.jpg", "s3://b/cat.jpg", "s3://b/cat.jpg", "s3://b/cat.jpg", `"s3://b/cat.jpg"`},
	}
)

func TestRender(t *testing.T) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := render.Short(tc.col, tc.value); got != tc.short {
				t.Errorf("Short = %q, want %q", got, tc.short)
			}
			if got := render.Full(tc.col, tc.value); got != tc.full {
				t.Errorf("Full = %q, want %q", got, tc.full)
			}
			if got := string(render.Raw(tc.col, tc.value)); got != tc.raw {
				t.Errorf("Raw = %.80q, want %.80q", got, tc.raw)
			}
			b, err := json.Marshal(render.JSON(tc.col, tc.value))
			if err != nil || string(b) != tc.json {
				t.Errorf("JSON = %.80s, %v; want %.80s", b, err, tc.json)
			}
		})
	}
}

func TestRowKeepsSchemaOrder(t *testing.T) {
	cols := []dataset.Column{
		{Name: "z", Type: dataset.T(dataset.Text)},
		{Name: "a", Type: dataset.T(dataset.Float32)},
		{Name: "m", Type: dataset.TensorOf(dataset.Uint8, 2), Nullable: true},
	}
	b, err := json.Marshal(render.Row{Columns: cols, Values: dataset.Row{"a": float32(math.NaN()), "z": "first", "m": []byte{7, 8}}})
	if want := `{"z":"first","a":"NaN","m":[7,8]}`; err != nil || string(b) != want {
		t.Errorf("Row = %s, %v; want %s", b, err, want)
	}
}

func TestSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 5 << 20: "5.0 MiB", 3 << 40: "3.0 TiB"} {
		if got := render.Size(n); got != want {
			t.Errorf("Size(%d) = %q, want %q", n, got, want)
		}
	}
}
