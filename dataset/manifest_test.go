package dataset

import (
	"strings"
	"testing"
	"time"
)

// FuzzManifest feeds arbitrary bytes to the manifest decoder: it must never panic, and what
// it accepts must pass its own checks and survive a round trip.
func FuzzManifest(f *testing.F) {
	good := &manifest{
		Version: 3, Parent: 2, Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Message: "m",
		Schema: NewSchema(
			Column{Name: "id", Type: T(Int64)},
			Column{Name: "e", Type: EmbeddingOf(8), Nullable: true},
			Column{Name: "t", Type: TensorOf(Float32, 3, 4)},
			Column{Name: "l", Type: LinkTo(Image)},
		),
		Files: []File{{Path: "data/0f8fad5b-d9cb-469f-a165-70867728950e.parquet", Rows: 10, Bytes: 100}},
		Rows:  10,
	}
	f.Add(encodeManifest(good))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"version":1,"parent":0,"schema":{"columns":[{"name":"x","type":{"kind":"tensor","dtype":"int8","shape":[65536,65536]}}]},"files":[],"rows":0}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeManifest(b)
		if err != nil {
			if m != nil {
				t.Fatal("a manifest with an error")
			}
			return
		}
		if err := m.check(); err != nil {
			t.Fatalf("accepted a manifest that fails its checks: %v", err)
		}
		again, err := decodeManifest(encodeManifest(m))
		if err != nil {
			t.Fatalf("re-decoding an accepted manifest: %v", err)
		}
		if again.Schema.String() != m.Schema.String() || again.Rows != m.Rows || len(again.Files) != len(m.Files) {
			t.Fatal("round trip changed the manifest")
		}
		_ = m.Schema.arrowSchema()
	})
}

func TestDecodeManifestErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`not json`, "corrupt manifest"},
		{`{"version":0}`, "version 0 is not positive"},
		{`{"version":2,"parent":2}`, "parent 2 of version 2"},
		{`{"version":1,"schema":{"columns":[{"name":"a","type":{"kind":"int64"}},{"name":"a","type":{"kind":"int64"}}]}}`, `column "a" appears twice`},
		{`{"version":1,"schema":{"columns":[{"name":"a","type":{"kind":"float16"}}]}}`, `column "a": unknown type "float16"`},
		{`{"version":1,"schema":{"columns":[]},"files":[{"path":"../x.parquet","rows":1,"bytes":1}],"rows":1}`, `data file "../x.parquet": not a data file name`},
		{`{"version":1,"schema":{"columns":[]},"files":[],"rows":5}`, "rows 5, but the data files hold 0"},
		{`{"version":1,"schema":{"columns":[]},"extra":1}`, "unknown field"},
		{`{"version":1,"schema":{"columns":[]}} {}`, "data after the JSON object"},
	} {
		_, err := decodeManifest([]byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("decodeManifest(%s) = %v, want an error containing %q", tc.in, err, tc.want)
		}
	}
}
