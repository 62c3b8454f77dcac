package location

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzParse checks the parser's promises on any input s and any key: it never panics; what it
// accepts prints canonically (String re-parses to the same Location) with no ".", ".." or
// empty segment and no control character; and Join of a parsed location either fails or stays
// within it. The seed corpus is below and in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	seeds := []struct{ s, key string }{
		{"al://acme/coco", "train/0.parquet"},
		{"al://acme/coco/../other", "x"},
		{"al://acme/coco", "../other/x"},
		{"al://Acme/coco", ""},
		{"s3://bkt/a/../c", "a"},
		{"s3://bkt/a/./c", "./a"},
		{"s3://bkt//", "a//b"},
		{"s3://bkt/prefix/", "/abs"},
		{"s3://169.254.169.254/latest/meta-data", "x"},
		{"s3://key:secret@bkt/x", "x"},
		{"gs://bkt_1/x", "y"},
		{"gcs://bkt/x", ".."},
		{"az://acct1/cont/x", "y/z"},
		{"azure://acct1/cont", "."},
		{"file:///", "etc/passwd"},
		{"file:///a/..", "x"},
		{"file:////", "x"},
		{"file://host/path", "x"},
		{"file:///data", "x://y"},
		{"mem://x", "k"},
		{"tmp://x/a", "k/"},
		{"http://169.254.169.254/", "x"},
		{"https://example.com/x?sig=abc", "x"},
		{"ftp://example.com", "x"},
		{"169.254.169.254", "x"},
		{"//host/path", "x"},
		{"relative/path", "../x"},
		{"s3://bkt/a\x00b", "a\x00b"},
		{"s3://bkt/a\nb", "a\u0085b"},
		{"s3://bkt/a\x7f", "\x7f"},
		{"s3://bkt/a\\..\\b", `..\x`},
		{"s3://bkt/a?x#y", "a?b"},
		{"s3://bkt/\xff\xfe", "\xc0\xaf"},
		{"s3://bkt/" + strings.Repeat("a", MaxLen), "x"},
		{"", ""},
	}
	for _, s := range seeds {
		f.Add(s.s, s.key)
	}
	f.Fuzz(func(t *testing.T, s, key string) {
		l, err := Parse(s)
		if err != nil {
			checkError(t, s, err)
			return
		}
		checkCanonical(t, s, l)

		j, err := l.Join(key)
		if err != nil {
			checkError(t, key, err)
			return
		}
		checkCanonical(t, l.String()+" + "+key, j)
		if !j.Within(l) {
			t.Fatalf("Parse(%q).Join(%q) = %q is not within %q", s, key, j, l)
		}
		rel, ok := j.Rel(l)
		if !ok {
			t.Fatalf("%q.Rel(%q) is not ok though it is within", j, l)
		}
		if back, err := l.Join(rel); err != nil || back != j {
			t.Fatalf("%q.Join(%q.Rel) = %q, %v; want %q", l, j, back, err, j)
		}
		if dir, name := j.Split(); name != "" && !j.Within(dir) {
			t.Fatalf("%q is not within its parent %q", j, dir)
		}
	})
}

// checkCanonical checks the properties every parsed Location has.
func checkCanonical(t *testing.T, input string, l Location) {
	t.Helper()
	out := l.String()
	again, err := Parse(out)
	if err != nil {
		t.Fatalf("Parse(%q) = %q, which does not parse: %v", input, out, err)
	}
	if again != l {
		t.Fatalf("Parse(%q) = %#v, but Parse(%q) = %#v", input, l, out, again)
	}
	if again.String() != out {
		t.Fatalf("String is not stable: %q then %q", out, again.String())
	}
	if !utf8.ValidString(out) {
		t.Fatalf("Parse(%q) printed invalid UTF-8 %q", input, out)
	}
	for _, r := range out {
		if unicode.IsControl(r) {
			t.Fatalf("Parse(%q) printed control character %U in %q", input, r, out)
		}
	}
	if strings.ContainsAny(out, `\?#`) {
		t.Fatalf("Parse(%q) printed a backslash, '?' or '#': %q", input, out)
	}
	scheme, rest, ok := strings.Cut(out, "://")
	if !ok || Scheme(scheme) != l.Scheme {
		t.Fatalf("Parse(%q) printed %q without its scheme %q", input, out, l.Scheme)
	}
	if l.Scheme == File {
		if !strings.HasPrefix(rest, "/") {
			t.Fatalf("file location %q does not start with file:///", out)
		}
		rest = rest[1:]
		if rest == "" {
			return
		}
	}
	if strings.Contains(rest, "//") || strings.HasPrefix(rest, "/") || strings.HasSuffix(rest, "/") {
		t.Fatalf("Parse(%q) printed an empty segment: %q", input, out)
	}
	for _, seg := range strings.Split(rest, "/") {
		if seg == "." || seg == ".." || seg == "" {
			t.Fatalf("Parse(%q) printed a %q segment: %q", input, seg, out)
		}
	}
}

// checkError checks that a parse error is a one-line *Error.
func checkError(t *testing.T, input string, err error) {
	t.Helper()
	var perr *Error
	if !errors.As(err, &perr) {
		t.Fatalf("error for %q is %T, want *Error", input, err)
	}
	msg := err.Error()
	if !utf8.ValidString(msg) {
		t.Fatalf("error for %q is not valid UTF-8: %q", input, msg)
	}
	for _, r := range msg {
		if unicode.IsControl(r) {
			t.Fatalf("error for %q holds control character %U: %q", input, r, msg)
		}
	}
	if i := strings.IndexAny(perr.Input, "?#"); i >= 0 && perr.Input[i+1:] != "…" {
		t.Fatalf("error for %q keeps what follows %q: %q", input, perr.Input[i], perr.Input)
	}
}
