package apitoken

import (
	"strings"
	"testing"
)

func TestNewTokensAreWellFormedUniqueAndHashed(t *testing.T) {
	seen := map[string]bool{}
	counts := map[byte]int{}
	for i := 0; i < 2000; i++ {
		tok, hash := New()
		if !WellFormed(tok) || len(tok) != len(Prefix)+43 {
			t.Fatalf("malformed token %q", tok)
		}
		if seen[tok] {
			t.Fatalf("duplicate token after %d", i)
		}
		seen[tok] = true
		if !Matches(tok, hash) || Matches(tok+"x", hash) {
			t.Fatal("hash does not match its token, or matches another")
		}
		for j := len(Prefix); j < len(tok); j++ {
			counts[tok[j]]++
		}
	}
	if len(counts) != 62 {
		t.Errorf("tokens use %d distinct characters, want all 62", len(counts))
	}
}

func TestWellFormedRejects(t *testing.T) {
	good, _ := New()
	for _, s := range []string{"", "tarn_", good[:len(good)-1], good + "a", strings.Replace(good, "tarn_", "tarm_", 1),
		good[:10] + "-" + good[11:], good[:10] + "é" + good[12:], "Bearer " + good} {
		if WellFormed(s) {
			t.Errorf("WellFormed(%q) = true", s)
		}
	}
}
