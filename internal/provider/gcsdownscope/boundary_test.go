package gcsdownscope_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/golden"
	"github.com/tarnhq/tarn/internal/provider/gcsdownscope"
	"github.com/tarnhq/tarn/location"
)

func mustLoc(t testing.TB, s string) location.Location {
	t.Helper()
	l, err := location.ParseStorage(s)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// boundaryCases are the boundaries whose options are golden files.
var boundaryCases = []struct{ golden, loc, mode string }{
	{"bucket_read.golden", "gs://acme-data", api.ModeRead},
	{"bucket_write.golden", "gs://acme-data", api.ModeWrite},
	{"prefix_read.golden", "gs://acme-data/coco", api.ModeRead},
	{"prefix_write.golden", "gs://acme-data/teams/vision/coco", api.ModeWrite},
	// The location parser refuses backslashes; the builder escapes them all the same.
	{"prefix_escaped_read.golden", `it's\coco`, api.ModeRead},
}

// caseLoc parses s, or makes a gs://acme-data location with path s when s is no URL.
func caseLoc(t *testing.T, s string) location.Location {
	if strings.HasPrefix(s, "gs://") {
		return mustLoc(t, s)
	}
	return location.Location{Scheme: location.GS, Bucket: "acme-data", Path: s}
}

// TestBoundaryGolden pins the options sent to STS per mode and location: the role of the
// mode, no condition for the bucket itself, and below it a condition with the trailing
// slash and CEL-escaped quotes and backslashes.
func TestBoundaryGolden(t *testing.T) {
	for _, tc := range boundaryCases {
		t.Run(tc.golden, func(t *testing.T) {
			opts, err := gcsdownscope.BoundaryFor(caseLoc(t, tc.loc), tc.mode).Options()
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, tc.golden, opts+"\n")
		})
	}
}

// TestBoundaryTooLongIsRefusedBeforeTheCall: a location whose options exceed STS's 2,048
// characters is refused with kind Invalid.
func TestBoundaryTooLongIsRefusedBeforeTheCall(t *testing.T) {
	loc := mustLoc(t, "gs://acme-data/"+strings.Repeat("a", 900))
	_, err := gcsdownscope.BoundaryFor(loc, api.ModeRead).Options()
	if !errs.Is(errs.Invalid, err) || !strings.Contains(err.Error(), "2048") {
		t.Fatalf("options of a 900-character prefix: %v, want Invalid naming the limit", err)
	}
	if _, err := (gcsdownscope.Boundary{Rules: make([]gcsdownscope.Rule, 11)}).Options(); !errs.Is(errs.Invalid, err) {
		t.Fatalf("11 rules: %v, want Invalid", err)
	}
}

// readLiteral decodes the single-quoted CEL string literal at the start of s and returns it
// with the rest of s; ok is false when s does not start with a well-formed literal.
func readLiteral(s string) (lit, rest string, ok bool) {
	if !strings.HasPrefix(s, "'") {
		return "", s, false
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '\'':
			return b.String(), s[i+1:], true
		case '\\':
			if i+1 >= len(s) {
				return "", s, false
			}
			switch s[i+1] {
			case '\\', '\'':
				b.WriteByte(s[i+1])
				i++
			case 'u':
				if i+6 > len(s) {
					return "", s, false
				}
				r, err := strconv.ParseUint(s[i+2:i+6], 16, 32)
				if err != nil {
					return "", s, false
				}
				b.WriteRune(rune(r))
				i += 5
			default:
				return "", s, false
			}
		default:
			if c < 0x20 || c == 0x7f {
				return "", s, false // must have been escaped
			}
			b.WriteByte(c)
		}
	}
	return "", s, false
}

// checkCondition asserts that expr is exactly the prefix condition for bucket and prefix:
// two literals that decode to the object prefix and the list prefix, and nothing else.
func checkCondition(t *testing.T, expr, bucket, prefix string) {
	t.Helper()
	rest, ok := strings.CutPrefix(expr, "resource.name.startsWith(")
	obj, rest, ok2 := readLiteral(rest)
	rest, ok3 := strings.CutPrefix(rest, ") || api.getAttribute('storage.googleapis.com/objectListPrefix', '').startsWith(")
	list, rest, ok4 := readLiteral(rest)
	if !ok || !ok2 || !ok3 || !ok4 || rest != ")" {
		t.Fatalf("condition %q is not the prefix condition", expr)
	}
	if obj != "projects/_/buckets/"+bucket+"/objects/"+prefix+"/" || list != prefix+"/" {
		t.Fatalf("condition %q admits %q and lists %q, want prefix %q/", expr, obj, list, prefix)
	}
}

// FuzzBoundary: for any location the parser accepts, the boundary has one rule on its
// bucket, and its condition is exactly the prefix condition, whose literals decode back to
// the location's prefix with its trailing slash (no name can end a literal early or add to
// the expression); options are JSON that decode to the same boundary, or refused as too long.
func FuzzBoundary(f *testing.F) {
	for _, seed := range []string{"coco", "a/b/c", `it's`, `back\slash`, `'); true || ('`, "x\u2028y", "tab\there", "ünï/cödé", strings.Repeat("p", 1200)} {
		f.Add(seed, true)
	}
	f.Fuzz(func(t *testing.T, path string, write bool) {
		loc, err := location.ParseStorage("gs://acme-data/" + path)
		if err != nil {
			// Names the parser refuses (control characters, backslashes) are escaped all
			// the same.
			loc = location.Location{Scheme: location.GS, Bucket: "acme-data", Path: path}
		}
		if loc.Path == "" || !utf8.ValidString(loc.Path) {
			return
		}
		mode := api.ModeRead
		if write {
			mode = api.ModeWrite
		}
		b := gcsdownscope.BoundaryFor(loc, mode)
		if len(b.Rules) != 1 || b.Rules[0].Resource != "//storage.googleapis.com/projects/_/buckets/acme-data" || b.Rules[0].Condition == nil {
			t.Fatalf("boundary %+v", b)
		}
		checkCondition(t, b.Rules[0].Condition.Expression, "acme-data", loc.Path)
		opts, err := b.Options()
		if err != nil {
			if !errs.Is(errs.Invalid, err) || !strings.Contains(err.Error(), "more than the 2048") {
				t.Fatalf("options of %q: %v", path, err)
			}
			return
		}
		var back struct {
			Boundary gcsdownscope.Boundary `json:"accessBoundary"`
		}
		if err := json.Unmarshal([]byte(opts), &back); err != nil || back.Boundary.Rules[0].Condition.Expression != b.Rules[0].Condition.Expression {
			t.Fatalf("options %s do not decode to the boundary: %v", opts, err)
		}
	})
}
