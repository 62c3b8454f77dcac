package audit_test

import (
	"testing"
	"unicode/utf8"

	"github.com/tarnhq/tarn/internal/audit"
)

func TestCap(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly-10", 10, "exactly-10"},
		{"abcdefghijk", 10, "abcdefg..."},
		{"ééééé", 8, "éé..."},      // never cuts a rune in two
		{"a\xffb", 10, "a\uFFFDb"}, // invalid UTF-8 is replaced
		{"a\x00b", 10, "a\uFFFDb"}, // so is NUL
	} {
		got := audit.Cap(tc.in, tc.n)
		if got != tc.want || len(got) > tc.n || !utf8.ValidString(got) {
			t.Errorf("Cap(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}
