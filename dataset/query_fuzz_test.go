package dataset

import (
	"encoding/binary"
	"strings"
	"testing"
)

// fuzzSchema has a column of every kind, some nullable.
var fuzzSchema = NewSchema(
	Column{Name: "id", Type: T(Int64)},
	Column{Name: "flag", Type: T(Bool), Nullable: true},
	Column{Name: "u", Type: T(Uint64)},
	Column{Name: "small", Type: T(Uint8), Nullable: true},
	Column{Name: "score", Type: T(Float32)},
	Column{Name: "label", Type: T(Text)},
	Column{Name: "raw", Type: T(Bytes), Nullable: true},
	Column{Name: "meta", Type: T(JSON)},
	Column{Name: "image", Type: T(Image), Nullable: true},
	Column{Name: "emb", Type: EmbeddingOf(4)},
	Column{Name: "t", Type: TensorOf(Int16, 2, 2)},
	Column{Name: "url", Type: LinkTo(Image)},
	Column{Name: "not an ident", Type: T(Int32)},
	Column{Name: "in", Type: T(Int32)},
)

// FuzzCompileFilter checks that compiling any expression against a schema never panics,
// and that an expression that compiles has a position-free error or none.
func FuzzCompileFilter(f *testing.F) {
	for _, s := range []string{
		`label == "cat" && size(label) > 3`, `score >= 0.5`, `"dog" in meta.tags`, `image.format == "png"`,
		`image.width > 256 && image.height < 10`, `id < 10 || id > 20`, `3 < id && id <= 7 && u == 4u`,
		`emb[0] > 1.0`, `t.all(x, x > 0)`, `raw == b"\x00"`, `flag == null`, `url.endsWith(".png")`,
		`label >`, `lable == 1`, `(`, `id + 1`, "id > 1 &&\n image.widht", `image.exists(x, x)`,
		`[1, 2].map(id, id * 2)[0] == id`, `meta`, `"é" + label == "x"`, `1/0 == 1`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		flt, err := compileFilter(fuzzSchema, expr)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "where") {
				t.Fatalf("%q: error %q does not start with where", expr, err)
			}
			return
		}
		for _, r := range flt.reads {
			if _, ok := fuzzSchema.Column(r.col.Name); !ok {
				t.Fatalf("%q reads unknown column %q", expr, r.col.Name)
			}
		}
		for _, c := range flt.conds {
			if !prunable(c.kind) {
				t.Fatalf("%q: condition on %s column %q", expr, c.kind, c.column)
			}
		}
	})
}

func TestImageSizeWebPAndBMP(t *testing.T) {
	riff := func(chunk string, body []byte) []byte {
		b := append([]byte("RIFF\x00\x00\x00\x00WEBP"+chunk+"\x00\x00\x00\x00"), body...)
		return append(b, make([]byte, 16)...)
	}
	lossy := []byte{0, 0, 0, 0x9d, 0x01, 0x2a, 0, 0, 0, 0}
	binary.LittleEndian.PutUint16(lossy[6:], 640)
	binary.LittleEndian.PutUint16(lossy[8:], 480)
	lossless := []byte{0x2f, 0, 0, 0, 0}
	binary.LittleEndian.PutUint32(lossless[1:], (100-1)|(50-1)<<14)
	ext := []byte{0, 0, 0, 0, 0x1f, 0x03, 0, 0x0f, 0x02, 0} // 800 × 528
	bmp := make([]byte, 30)
	copy(bmp, "BM")
	binary.LittleEndian.PutUint32(bmp[18:], 33)
	binary.LittleEndian.PutUint32(bmp[22:], uint32(0x100000000-44)) // top-down: negative height
	for _, c := range []struct {
		name string
		data []byte
		w, h int64
	}{
		{"vp8", riff("VP8 ", lossy), 640, 480},
		{"vp8l", riff("VP8L", lossless), 100, 50},
		{"vp8x", riff("VP8X", ext), 800, 528},
		{"bmp", bmp, 33, 44},
		{"tiff", []byte("II*\x00junk"), 0, 0},
		{"empty", nil, 0, 0},
	} {
		if w, h := imageSize(c.data); w != c.w || h != c.h {
			t.Errorf("%s: %d×%d, want %d×%d", c.name, w, h, c.w, c.h)
		}
	}
}
