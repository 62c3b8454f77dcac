package browsertest

import (
	"bytes"
	"fmt"
	"html"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
)

func TestMain(m *testing.M) { Main(m) }

// site serves the small pages the tests drive, on 127.0.0.1.
func site(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	page := func(w http.ResponseWriter, body string) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><html><head><title>t</title></head><body>%s</body></html>", body)
	}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		page(w, `<form method="post" action="/greet"><input name="name"><button>Go</button></form>`+
			`<div style="height:3000px">tall</div>`)
	})
	mux.HandleFunc("POST /greet", func(w http.ResponseWriter, r *http.Request) {
		page(w, `<h1 id="greeting">Hello, `+html.EscapeString(r.PostFormValue("name"))+`</h1>`)
	})
	mux.HandleFunc("GET /throws", func(w http.ResponseWriter, r *http.Request) {
		page(w, `<p>x</p><script>throw new Error("boom from the page")</script>`)
	})
	mux.HandleFunc("GET /logs-error", func(w http.ResponseWriter, r *http.Request) {
		page(w, `<p>x</p><script>console.error("bad thing happened")</script>`)
	})
	mux.HandleFunc("GET /missing-image", func(w http.ResponseWriter, r *http.Request) {
		page(w, `<img src="/nope.png" alt="">`)
	})
	mux.HandleFunc("GET /inline-script", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'self'")
		page(w, `<script>document.title = "ran"</script>`)
	})
	mux.HandleFunc("GET /set-cookie", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: "secret", Path: "/"})
		page(w, `<p id="c">set</p>`)
	})
	mux.HandleFunc("GET /cookie", func(w http.ResponseWriter, r *http.Request) {
		c, _ := r.Cookie("sid")
		v := "none"
		if c != nil {
			v = c.Value
		}
		page(w, `<p id="c">`+v+`</p>`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestFillSubmitRead(t *testing.T) {
	srv := site(t)
	p := New(t)
	if got := p.Navigate(srv.URL + "/"); got != http.StatusOK {
		t.Fatalf("status of / = %d, want 200", got)
	}
	p.Fill("input[name=name]", "Ada <b>")
	if got := p.Submit("input[name=name]"); got != http.StatusOK {
		t.Fatalf("status after submit = %d, want 200", got)
	}
	if got, want := p.Text("#greeting"), "Hello, Ada <b>"; got != want {
		t.Errorf("greeting = %q, want %q", got, want)
	}
	if got, want := p.URL(), srv.URL+"/greet"; got != want {
		t.Errorf("URL after submit = %q, want %q", got, want)
	}
	if got := p.Navigate(srv.URL + "/missing"); got != http.StatusNotFound {
		t.Errorf("status of /missing = %d, want 404", got)
	}
	if errs := p.TakeErrors(); len(errs) != 0 {
		t.Errorf("a clean page reported errors: %q", errs)
	}
}

func TestScreenshotIsFullPagePNG(t *testing.T) {
	srv := site(t)
	p := New(t)
	p.Navigate(srv.URL + "/")
	path := p.Screenshot("form")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("%s is not a PNG (starts %q)", path, data[:min(8, len(data))])
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	// The page is over 3000 px tall and the window 800: a full-page shot holds all of it.
	if b := img.Bounds(); b.Dx() == 0 || b.Dy() < 3000 {
		t.Errorf("screenshot is %dx%d, want the whole page (height >= 3000)", b.Dx(), b.Dy())
	}
}

func TestTakeErrorsReportsScriptErrors(t *testing.T) {
	srv := site(t)
	for _, tc := range []struct{ path, want string }{
		{"/throws", "boom from the page"},
		{"/logs-error", "bad thing happened"},
		{"/missing-image", "/nope.png"},               // a resource's 404 stays an error
		{"/inline-script", "Content Security Policy"}, // as the console's CSP would refuse
	} {
		t.Run(tc.path, func(t *testing.T) {
			p := New(t)
			p.Navigate(srv.URL + tc.path)
			errs := p.TakeErrors()
			if len(errs) != 1 || !strings.Contains(errs[0], tc.want) {
				t.Fatalf("errors = %q, want one containing %q", errs, tc.want)
			}
			if again := p.TakeErrors(); len(again) != 0 {
				t.Errorf("errors taken twice: %q", again)
			}
		})
	}
}

// recorder is a testing.TB whose Errorf is recorded instead of failing the test.
type recorder struct {
	testing.TB
	mu     sync.Mutex
	errors []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func TestUntakenErrorsFailTheTest(t *testing.T) {
	srv := site(t)
	rec := &recorder{}
	t.Run("page", func(t *testing.T) {
		rec.TB = t
		p := New(rec)
		p.Navigate(srv.URL + "/throws")
	}) // the page's cleanup runs here, reporting to rec
	if len(rec.errors) != 1 || !strings.Contains(rec.errors[0], "boom from the page") {
		t.Errorf("at the end of a test whose page threw, failures = %q, want one naming the exception", rec.errors)
	}
}

func TestTabsDoNotShareCookies(t *testing.T) {
	srv := site(t)
	a, b := New(t), New(t)
	a.Navigate(srv.URL + "/set-cookie")
	a.Navigate(srv.URL + "/cookie")
	if got := a.Text("#c"); got != "secret" {
		t.Fatalf("the tab that set the cookie reads %q, want secret", got)
	}
	b.Navigate(srv.URL + "/cookie")
	if got := b.Text("#c"); got != "none" {
		t.Errorf("another test's tab sees cookie %q, want none", got)
	}
}

var loopbackCases = []struct {
	url string
	ok  bool
}{
	{"http://127.0.0.1:8080/login", true},
	{"https://127.0.0.1/", true},
	{"http://127.3.4.5/", true},
	{"http://[::1]:9000/x", true},
	{"http://localhost:7777/", true},
	{"http://user@127.0.0.1/", false},
	{"http://example.com/", false},
	{"https://10.0.0.1/", false},
	{"http://[2001:db8::1]/", false},
	{"http://127.0.0.1.example.com/", false},
	{"http://127.0.0.1@example.com/", false},   // userinfo, host is example.com
	{"http://example.com\\@127.0.0.1/", false}, // browsers read \ as /: host example.com
	{"http://localhost.example.com/", false},
	{"http://2130706433/", false}, // 127.0.0.1 as a number: refused, not parsed
	{"http://0x7f.1/", false},
	{"file:///etc/passwd", false},
	{"javascript:alert(1)", false},
	{"data:text/html,hi", false},
	{"//127.0.0.1/", false},
	{"127.0.0.1:80", false},
	{"", false},
}

func TestCheckLoopback(t *testing.T) {
	for _, tc := range loopbackCases {
		err := CheckLoopback(tc.url)
		if (err == nil) != tc.ok {
			t.Errorf("CheckLoopback(%q) = %v, want ok=%v", tc.url, err, tc.ok)
		}
	}
}

// FuzzCheckLoopback checks that every URL CheckLoopback lets through is http(s) and names a
// loopback host in a form browsers read the same way (no backslash, no userinfo).
func FuzzCheckLoopback(f *testing.F) {
	for _, tc := range loopbackCases {
		f.Add(tc.url)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if CheckLoopback(raw) != nil {
			return
		}
		if strings.ContainsAny(raw, "\\\t\r\n") {
			t.Fatalf("allowed %q, which browsers may parse differently", raw)
		}
		lower := strings.ToLower(raw)
		if !strings.HasPrefix(lower, "http://") && !strings.HasPrefix(lower, "https://") {
			t.Fatalf("allowed %q, not http(s)", raw)
		}
		rest := raw[strings.Index(raw, "//")+2:]
		authority := rest[:strings.IndexAny(rest+"/", "/?#")]
		if strings.Contains(authority, "@") {
			t.Fatalf("allowed %q with userinfo", raw)
		}
	})
}

func TestFindChromiumNamesThePackage(t *testing.T) {
	t.Setenv("TARN_CHROMIUM", "")
	t.Setenv("PATH", t.TempDir())
	_, err := FindChromium()
	if err == nil || !strings.Contains(err.Error(), "Debian's chromium package") {
		t.Errorf("FindChromium without a browser: %v, want an error naming the package", err)
	}
	t.Setenv("TARN_CHROMIUM", "/opt/chromium/chrome")
	if got, err := FindChromium(); err != nil || got != "/opt/chromium/chrome" {
		t.Errorf("FindChromium with TARN_CHROMIUM = %q, %v; want that path", got, err)
	}
}
