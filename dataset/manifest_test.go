package dataset

import (
	"bytes"
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
	saved := *good
	saved.Source = &Source{Dataset: "al://acme/pets", Version: 7, Where: "id > 3 &&\n\te != null", Columns: []string{"id", "t"}, OrderBy: "id", Desc: true, Limit: 5, Offset: 1}
	f.Add(encodeManifest(&saved))
	f.Add([]byte(`{"version":1,"parent":0,"schema":{"columns":[{"name":"x","type":{"kind":"int64"}}]},"files":[],"rows":0,"source":{"dataset":"file:///d","version":1,"columns":["y"]}}`))
	f.Add([]byte(`{"version":1,"parent":0,"schema":{"columns":[]},"files":[],"rows":0,"source":{"dataset":"mem://m","version":1,"columns":[]}}`))
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
		if again.Schema.String() != m.Schema.String() || again.Rows != m.Rows || len(again.Files) != len(m.Files) || !bytes.Equal(encodeManifest(again), encodeManifest(m)) {
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
		{`{"version":1,"schema":{"columns":[]},"source":{"dataset":"http://169.254.169.254/","version":1}}`, "source: dataset: invalid location"},
		{`{"version":1,"schema":{"columns":[]},"source":{"dataset":"al://acme/pets"}}`, "source: version 0 is not positive"},
		{`{"version":1,"schema":{"columns":[]},"source":{"dataset":"al://acme/pets","version":2,"columns":["a"]}}`, `source: columns: "a" is not a column`},
		{`{"version":1,"schema":{"columns":[]},"source":{"dataset":"al://acme/pets","version":2,"where":"a\u001b]0;x\u0007"}}`, "source: where: not valid UTF-8 or holds a control character"},
		{`{"version":1,"schema":{"columns":[]},"source":{"dataset":"al://acme/pets","version":2,"order_by":"a\u009b"}}`, "source: order_by"},
		{`{"version":1,"schema":{"columns":[]},"source":{"dataset":"al://acme/pets","version":2,"desc":true}}`, "source: desc without order_by"},
		{`{"version":1,"schema":{"columns":[]},"source":{"dataset":"al://acme/pets","version":2,"limit":-1}}`, "source: limit -1"},
		{`{"version":1,"schema":{"columns":[]},"source":{"dataset":"al://acme/pets","version":2,"from":"x"}}`, "unknown field"},
	} {
		_, err := decodeManifest([]byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("decodeManifest(%s) = %v, want an error containing %q", tc.in, err, tc.want)
		}
	}
}

// TestDecodeManifestWithoutSource: manifests written before sources were recorded decode,
// with no source.
func TestDecodeManifestWithoutSource(t *testing.T) {
	m, err := decodeManifest([]byte(`{"version":2,"parent":1,"time":"2026-01-02T00:00:00Z","message":"import","schema":{"columns":[{"name":"x","type":{"kind":"int64"}}]},"files":[],"rows":0}`))
	if err != nil || m.Source != nil || m.info().Source != nil {
		t.Fatalf("decode an old manifest: %+v, %v", m, err)
	}
}
