package console

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/client"
	"github.com/tarnhq/tarn/dataset"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/location"
)

const xss = `"><script>alert(1)</script><img src=x onerror=alert(2)>`

// Names are validated before they are stored, so no stored name carries markup; the pages
// escape whatever they show all the same, which this test shows by rendering the payload in
// every field the pages have.
func TestPagesEscapeEveryField(t *testing.T) {
	if err := location.CheckName("dataset", xss); err == nil {
		t.Errorf("the name validator accepts %q", xss)
	}
	c, err := New(Options{Store: nil})
	if err != nil {
		t.Fatal(err)
	}
	d := api.Dataset{Org: xss, Name: xss, Path: xss, Location: "file:///" + xss, CredsKey: xss, LinkedCredsKeys: []string{xss}, CreatedBy: xss}
	v := dataset.Version{Version: 1, Message: xss, Schema: dataset.NewSchema(dataset.Column{Name: xss, Type: dataset.T(dataset.Text), LinkKey: xss})}
	refused := &form{values: url.Values{"name": {xss}, "location": {xss}, "user": {xss}, "role": {xss}}, err: errs.E(errs.Invalid, "%s", xss)}
	keys := []api.CredsKey{{Name: xss, Provider: xss}}
	orgData := orgData{Datasets: []datasetRow{{Dataset: d, Head: &v}, {Dataset: d, Why: xss}}, Keys: keys,
		Default: &api.DefaultStorage{Location: xss, CredsKey: xss}, Create: refused, Connect: refused}
	members := membersData{Members: []api.Membership{{Org: xss, User: xss, Role: xss}}, Add: refused, Change: refused, User: xss}
	for _, tc := range []struct {
		name string
		p    page
	}{
		{"org", page{Title: xss, User: xss, CSRF: xss, Org: xss, Role: "admin", Section: xss, Flash: xss, Nav: true, Orgs: []api.Membership{{Org: xss, Role: xss}}, Data: orgData}},
		{"dataset", page{Title: xss, User: xss, CSRF: xss, Org: xss, Role: "admin", Nav: true, Data: datasetData{Dataset: d, Head: &v, Versions: []dataset.Version{v}, Why: xss, Form: refused}}},
		{"members", page{Title: xss, User: xss, CSRF: xss, Org: xss, Role: "admin", Nav: true, Data: members}},
		{"orgs", page{Title: xss, User: xss, CSRF: xss, Nav: true, Orgs: []api.Membership{{Org: xss, Role: xss}}, Data: []api.Membership{{Org: xss, Role: xss}}}},
		{"login", page{Title: xss, Data: loginData{CSRF: xss, Error: xss}}},
		{"error", page{Title: xss, User: xss, Data: xss}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			c.render(w, http.StatusOK, tc.name, tc.p)
			body := w.Body.String()
			if w.Code != http.StatusOK {
				t.Fatalf("render: %d %s", w.Code, body)
			}
			for _, raw := range []string{"<script>", "<img", `=""><`} { // =""><: an attribute broken out of
				if strings.Contains(body, raw) {
					t.Errorf("the page contains %q unescaped:\n%s", raw, body)
				}
			}
			if !strings.Contains(body, "&lt;script&gt;") {
				t.Errorf("the page does not show the payload escaped:\n%s", body)
			}
		})
	}
}

func TestCookieSecure(t *testing.T) {
	for _, tc := range []struct {
		name      string
		publicURL string
		tls       bool
		want      bool
	}{
		{"plain http", "", false, false},
		{"http public URL", "http://tarn.test", false, false},
		{"https public URL", "https://tarn.test", false, true},
		{"TLS request", "", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var o Options
			if tc.publicURL != "" {
				u, err := url.Parse(tc.publicURL)
				if err != nil {
					t.Fatal(err)
				}
				o.PublicURL = u
			}
			c, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1/login", nil)
			if tc.tls {
				r = httptest.NewRequest(http.MethodGet, "https://127.0.0.1/login", nil)
			}
			w := httptest.NewRecorder()
			c.setCookie(w, r, sessionCookie, "v", DefaultMaxAge)
			ck := w.Result().Cookies()[0]
			if ck.Secure != tc.want || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode {
				t.Errorf("cookie %s: Secure %v, want %v, and HttpOnly, SameSite=Strict", ck, ck.Secure, tc.want)
			}
		})
	}
}

func TestPublicURLMustBeAbsolute(t *testing.T) {
	for _, s := range []string{"tarn.example.com", "ftp://tarn.test", "/console"} {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := New(Options{PublicURL: u}); err == nil {
			t.Errorf("New accepted public URL %q", s)
		}
	}
}

// A POST from the public URL's origin passes the origin check even when the request's
// Host is the proxy's upstream address.
func TestPublicURLOriginIsTrusted(t *testing.T) {
	c, err := New(Options{PublicURL: &url.URL{Scheme: "https", Host: "tarn.test"}})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:7777/logout", strings.NewReader("csrf=x"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Origin", "https://tarn.test")
	if err := c.checkPost(r, "x"); err != nil {
		t.Errorf("POST from the public URL: %v", err)
	}
	r.Header.Set("Origin", "https://other.test")
	if err := c.checkPost(r, "x"); err == nil {
		t.Error("POST from another origin passed")
	}
}

// The snippet a workload identity's page shows names the server's own audience when it has
// one (tarn serve --workload-audience), in the form each platform takes it.
func TestWorkloadSnippetAudience(t *testing.T) {
	for _, tc := range []struct {
		provider, audience string
		want, wantNot      []string
	}{
		{api.IdentityAzure, client.DefaultAudience, []string{"TARN_AUTH_PROVIDER=azure\n", "audience api://tarn"}, []string{"TARN_AUDIENCE"}},
		{api.IdentityAzure, "api://ml-tarn", []string{"TARN_AUTH_PROVIDER=azure TARN_AUDIENCE=api://ml-tarn\n"}, nil},
		{api.IdentityGitHub, "api://ml-tarn", []string{"TARN_AUTH_PROVIDER: github, TARN_AUDIENCE: api://ml-tarn }"}, nil},
		{api.IdentityKubernetes, "api://ml-tarn", []string{"audience: api://ml-tarn,"}, []string{"api://tarn"}},
	} {
		got := workloadSnippet("https://tarn.example.com", tc.audience, &api.Identity{Org: "acme", Provider: tc.provider, ServiceAccount: "ml/trainer"})
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s, audience %s: snippet lacks %q:\n%s", tc.provider, tc.audience, w, got)
			}
		}
		for _, w := range tc.wantNot {
			if strings.Contains(got, w) {
				t.Errorf("%s, audience %s: snippet has %q:\n%s", tc.provider, tc.audience, w, got)
			}
		}
	}
}
