package cors_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/tarnhq/tarn/internal/azuritetest"
	"github.com/tarnhq/tarn/internal/cors"
	"github.com/tarnhq/tarn/internal/fakegcstest"
	"github.com/tarnhq/tarn/internal/miniotest"
)

func TestMain(m *testing.M) {
	os.Exit(miniotest.Run(func() int { return azuritetest.Run(func() int { return fakegcstest.Run(m.Run) }) }))
}

func TestParseOrigin(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{"https://tarn.example.com", "https://tarn.example.com", ""},
		{"HTTP://Localhost:7777/", "http://localhost:7777", ""},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080", ""},
		{"ftp://x", "", "scheme"},
		{"tarn.example.com", "", "scheme"},
		{"https://", "", "no host"},
		{"https://u:p@x.com", "", "no user"},
		{"https://x.com/console", "", "no path"},
		{"https://x.com?a", "", "no path"},
		{"https://x.com#f", "", "no path"},
		{"https://*.x.com", "", "wildcard"},
		{"https://x.com:", "", "port is empty"},
		{"http://a\nb", "", "not a URL"},
	} {
		got, err := cors.ParseOrigin(tc.in)
		if tc.err == "" && (err != nil || got != tc.want) {
			t.Errorf("ParseOrigin(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
		if tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err) || strings.Contains(err.Error(), "\n")) {
			t.Errorf("ParseOrigin(%q) = %q, %v; want an error naming %q", tc.in, got, err, tc.err)
		}
	}
}

func FuzzParseOrigin(f *testing.F) {
	for _, s := range []string{"https://tarn.example.com", "http://127.0.0.1:7777/", "https://x.com/p", "ftp://x", "http://[::1]:80", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, err := cors.ParseOrigin(s)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("error on two lines: %q", err)
			}
			return
		}
		if again, err := cors.ParseOrigin(o); err != nil || again != o {
			t.Fatalf("ParseOrigin(%q) = %q, not a fixed point: %q, %v", s, o, again, err)
		}
		if strings.Count(o, "/") != 2 || o != strings.ToLower(o) {
			t.Fatalf("ParseOrigin(%q) = %q: not scheme://host", s, o)
		}
	})
}

func TestMergePutsTheRuleFirstAndKeepsOthers(t *testing.T) {
	upload := cors.Rule{AllowedOrigins: []string{"https://a"}, AllowedMethods: []string{"PUT"}, AllowedHeaders: []string{"*"}}
	oldA := cors.NewRule("https://a")
	otherB := cors.NewRule("https://b")
	got := cors.Merge([]cors.Rule{upload, oldA, otherB}, cors.NewRule("https://a", "https://c"))
	want := []string{"[https://a https://c]", "[https://a]PUT", "[https://b]"}
	var gotS []string
	for _, r := range got {
		s := fmt.Sprint(r.AllowedOrigins)
		if slices.Contains(r.AllowedMethods, "PUT") {
			s += "PUT"
		}
		gotS = append(gotS, s)
	}
	if !slices.Equal(gotS, want) {
		t.Errorf("Merge: %v; want %v (the new rule first, the older tarn rule for https://a replaced, the rest kept)", gotS, want)
	}
	if again := cors.Merge(got, cors.NewRule("https://a", "https://c")); len(again) != len(got) {
		t.Errorf("merging the same rule again: %d rules, want %d", len(again), len(got))
	}
}

// Check never follows a redirect (it could lead a server-side caller anywhere) and never
// puts the URL's query, the signature, in any text of its report.
func TestCheckFollowsNoRedirectAndHidesTheSignature(t *testing.T) {
	var hits []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits = append(hits, r.Method+" "+r.URL.Path)
		http.Redirect(w, r, "/elsewhere?X-Amz-Signature=secret2", http.StatusFound)
	}))
	defer srv.Close()
	rep := cors.Check(t.Context(), srv.Client(), srv.URL+"/b/o?X-Amz-Signature=secret", "http://console.test")
	if rep.OK() || !slices.Equal(hits, []string{"OPTIONS /b/o", "GET /b/o"}) {
		t.Errorf("requests %v, ok %v; want one OPTIONS and one GET of /b/o, failed", hits, rep.OK())
	}
	if all := fmt.Sprintf("%+v %s", rep, rep.Problem()); strings.Contains(all, "secret") || strings.Contains(all, "X-Amz") {
		t.Errorf("the report shows the signature: %s", all)
	}

	srv.Close()
	rep = cors.Check(t.Context(), srv.Client(), srv.URL+"/b/o?sig=secret", "http://console.test")
	if rep.OK() || strings.Contains(fmt.Sprintf("%+v", rep), "secret") || !strings.Contains(rep.Checks[0].Detail, "OPTIONS "+srv.URL+"/b/o") {
		t.Errorf("unreachable store: %+v", rep)
	}
	for _, bad := range []struct{ u, origin string }{{"file:///etc/passwd", "http://o.test"}, {srv.URL, "not an origin"}} {
		if rep := cors.Check(t.Context(), srv.Client(), bad.u, bad.origin); rep.OK() || len(rep.Checks) != 1 {
			t.Errorf("Check(%q, %q): %+v; want one failed check", bad.u, bad.origin, rep)
		}
	}
}

func checkNames(rep cors.Report, ok bool) []string {
	var out []string
	for _, c := range rep.Checks {
		if c.OK == ok {
			out = append(out, c.Name)
		}
	}
	return out
}
