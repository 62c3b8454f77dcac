package console

import (
	"regexp"
	"strings"
	"testing"
)

func TestURLOrigin(t *testing.T) {
	for _, c := range []struct {
		url, origin string
		ok          bool
	}{
		{"http://127.0.0.1:9000/bucket/ds/tarn.json?X-Amz-Signature=x", "http://127.0.0.1:9000", true},
		{"https://acme.s3.eu-west-1.amazonaws.com/ds/tarn.json?sig", "https://acme.s3.eu-west-1.amazonaws.com", true},
		{"https://[::1]:10000/devstoreaccount1/c/tarn.json?sv=x", "https://[::1]:10000", true},
		{"/api/v1/orgs/acme/datasets/pets/objects/tarn.json?sig=x", "", true}, // served by tarn
		{"http://a;script-src *@127.0.0.1/x", "", false},
		{"https://a b/x", "", false},
		{"javascript:alert(1)", "", false},
		{"//evil.example/x", "", false},
		{"ftp://127.0.0.1/x", "", false},
		{"tarn.json", "", false},
	} {
		got, ok := urlOrigin(c.url)
		if got != c.origin || ok != c.ok {
			t.Errorf("urlOrigin(%q) = %q, %v; want %q, %v", c.url, got, ok, c.origin, c.ok)
		}
	}
}

// source is what a CSP source expression of an origin may look like: no spaces, semicolons
// or commas that would end it and start another directive or source.
var source = regexp.MustCompile(`^https?://[A-Za-z0-9.\-\[\]:]+$`)

// FuzzURLOrigin checks that whatever the API answers as a URL, the origin that goes into
// the page's Content-Security-Policy is one source expression and nothing more.
func FuzzURLOrigin(f *testing.F) {
	for _, s := range []string{"http://127.0.0.1:9000/b/k?x=1", "https://[::1]:1/x", "/api/v1/x", "http://a;b/", "https://a\tb/", "http://user@host/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		origin, ok := urlOrigin(raw)
		if !ok || origin == "" {
			return
		}
		if !source.MatchString(origin) {
			t.Fatalf("urlOrigin(%q) = %q: not a single source expression", raw, origin)
		}
		if p := viewerPolicy(origin); strings.Count(p, ";") != strings.Count(basePolicy, ";")+2 {
			t.Fatalf("the policy for %q has extra directives: %s", origin, p)
		}
	})
}
