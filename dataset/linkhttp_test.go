package dataset

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestParseHTTPSLink(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: "https://images.example.com/a/b.jpg", want: "https://images.example.com/a/b.jpg"},
		{in: "HTTPS://images.example.com:8443/b.jpg?X-Amz-Signature=s#frag", want: "https://images.example.com:8443/b.jpg?X-Amz-Signature=s"},
		{in: "http://images.example.com/b.jpg", err: "plain http:// links are not read: use https://"},
		{in: "https:///b.jpg", err: "not an https:// URL with a host"},
		{in: "https://:443/b.jpg", err: "not an https:// URL with a host"},
		{in: "https://user:pw@example.com/b.jpg?sig=SECRET", err: "https://example.com/b.jpg?…: a link carries no user name"},
		{in: "https://example.com/a b.jpg", err: "no spaces or control characters"},
		{in: "https://example.com/a\x00.jpg?sig=SECRET", err: "no spaces or control characters"},
		{in: "https://example.com:port/", err: "not a URL"},
		{in: "https://user:SECRET@example.com:port/", err: `"https://example.com:port/": not a URL`},
		{in: "https://" + strings.Repeat("a", maxLinkURL), err: "at most"},
	} {
		u, err := parseHTTPSLink(tc.in)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%.40q: %v, want an error with %q", tc.in, err, tc.err)
			}
			if err != nil && strings.Contains(err.Error(), "SECRET") {
				t.Errorf("%.40q: the error shows the query: %v", tc.in, err)
			}
		case err != nil:
			t.Errorf("%q: %v", tc.in, err)
		case u.String() != tc.want:
			t.Errorf("%q: %s, want %s", tc.in, u, tc.want)
		}
	}
}

func FuzzParseHTTPSLink(f *testing.F) {
	for _, s := range []string{
		"https://images.example.com/a/b.jpg", "https://h:1/p?q=1#f", "http://h/p", "https://u@h/",
		"https://[::1]:443/x", "https://%zz/", "https:///", "https://h/%2e%2e/x", "HTTPS://H/P",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := parseHTTPSLink(s)
		if err != nil {
			if q := strings.IndexAny(s, "?#"); q >= 0 && len(s[q:]) > 3 && strings.Contains(err.Error(), s[q:]) {
				t.Fatalf("the error of %q shows its query: %v", s, err)
			}
			if _, rest, ok := strings.Cut(s, "://"); ok {
				host, _, _ := strings.Cut(rest, "/")
				host, _, _ = strings.Cut(host, "?")
				if i := strings.LastIndex(host, "@"); i > 3 && strings.Contains(err.Error(), host[:i]+"@") {
					t.Fatalf("the error of %q shows its user information: %v", s, err)
				}
			}
			return
		}
		if u.Scheme != "https" || u.Hostname() == "" || u.User != nil || u.Opaque != "" || u.Fragment != "" {
			t.Fatalf("%q parsed as %#v", s, u)
		}
		again, err := parseHTTPSLink(u.String())
		if err != nil || again.String() != u.String() {
			t.Fatalf("%q: %s does not parse back: %v, %v", s, u, again, err)
		}
		// Everything after the "?" must be the ellipsis: a query such as "\xe2" is a prefix of
		// "…" itself, so looking for the query in the output would be wrong.
		if shown := redact(u); u.RawQuery != "" {
			if _, q, _ := strings.Cut(shown, "?"); q != "…" {
				t.Fatalf("redact(%s) = %s shows the query", u, shown)
			}
		}
	})
}

// TestDefaultClientRefusesPrivateAddresses: without Options.HTTPClient, a link to anything
// but a public address is refused before any connection is made (netguard classifies the
// ranges; its own tests cover each one).
func TestDefaultClientRefusesPrivateAddresses(t *testing.T) {
	for _, host := range []string{"127.0.0.1", "[::1]", "10.1.2.3", "169.254.169.254", "100.64.0.1", "[::ffff:127.0.0.1]", "[fd00:ec2::254]"} {
		u, _ := url.Parse("https://" + host + "/secret.jpg")
		_, err := getHTTPS(context.Background(), defaultHTTPClient, u)
		if err == nil || !strings.Contains(err.Error(), "links reach only public addresses") {
			t.Errorf("%s: %v", host, err)
		}
	}
}

func TestHTTPSRedirects(t *testing.T) {
	via := func(n int) []*http.Request { return make([]*http.Request, n) }
	for _, tc := range []struct {
		to   string
		via  int
		want string
	}{
		{"https://cdn.example.com/x", 1, ""},
		{"http://cdn.example.com/x", 1, "not https"},
		{"https://cdn.example.com/x", 5, "too many redirects"},
	} {
		u, _ := url.Parse(tc.to)
		for name, c := range map[string]*http.Client{
			"default": defaultHTTPClient,
			"own":     (&Dataset{opts: Options{HTTPClient: &http.Client{}}}).httpClient(),
		} {
			err := c.CheckRedirect(&http.Request{URL: u}, via(tc.via))
			if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("%s client, redirect to %s after %d: %v, want %q", name, tc.to, tc.via, err, tc.want)
			}
		}
	}
}
