package console_test

import (
	"context"
	"crypto/sha256"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/testenv"
)

// env is a running tarn with its whole handler (API and console) on a loopback server.
type env struct {
	*testenv.Env
	url string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, testenv.Options{})
}

// newEnvWith is newEnv with tarn started with o.
func newEnvWith(t *testing.T, o testenv.Options) *env {
	t.Helper()
	e := testenv.New(t, o)
	if o.Issuer { // the env serves the whole handler at its public URL, as the console's
		return &env{Env: e, url: e.URL}
	}
	hs := httptest.NewServer(e.Server.Handler())
	t.Cleanup(hs.Close)
	return &env{Env: e, url: hs.URL}
}

// browser is a client with its own cookies that does not follow redirects, and sends the
// Origin header a browser sends with a form.
type browser struct {
	t    *testing.T
	e    *env
	http *http.Client
}

func (e *env) browser(t *testing.T) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, e: e, http: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// response is an answer with its body read.
type response struct {
	*http.Response
	body string
}

func (b *browser) do(req *http.Request) response {
	b.t.Helper()
	resp, err := b.http.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return response{resp, string(body)}
}

func (b *browser) get(path string) response {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.e.url+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

// post submits form to path as a page of origin would (origin "" sends no Origin header).
func (b *browser) post(path string, form url.Values, origin string) response {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.e.url+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	return b.do(req)
}

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf returns the CSRF token of the first form of r's page.
func (b *browser) csrf(r response) string {
	b.t.Helper()
	m := csrfInput.FindStringSubmatch(r.body)
	if m == nil {
		b.t.Fatalf("no CSRF input on the page:\n%s", r.body)
	}
	return m[1]
}

// login signs in with token through the login form and returns the answer to the POST.
func (b *browser) login(token string) response {
	b.t.Helper()
	form := b.get("/login")
	return b.post("/login", url.Values{"csrf": {b.csrf(form)}, "token": {token}}, b.e.url)
}

// wantRedirect fails the test unless r, the answer to what, sends the browser to to.
func wantRedirect(t *testing.T, what string, r response, to string) {
	t.Helper()
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != to {
		t.Fatalf("%s: %s to %q, want 303 to %s:\n%s", what, r.Status, r.Header.Get("Location"), to, r.body)
	}
}

// mustLogin signs in with token and fails the test unless it lands on /.
func (b *browser) mustLogin(token string) {
	b.t.Helper()
	wantRedirect(b.t, "login", b.login(token), "/")
}

// wantLogin fails the test unless GET path sends the browser to /login.
func (b *browser) wantLogin(path string) {
	b.t.Helper()
	wantRedirect(b.t, "GET "+path, b.get(path), "/login")
}

// wantPage fails the test unless GET path answers 200, and returns the page.
func (b *browser) wantPage(path string) response {
	b.t.Helper()
	r := b.get(path)
	if r.StatusCode != http.StatusOK {
		b.t.Fatalf("GET %s: %s, want 200:\n%s", path, r.Status, r.body)
	}
	return r
}

func TestLoginStartsASession(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	r := b.login(e.AdminToken)
	wantRedirect(t, "login", r, "/")
	var session *http.Cookie
	for _, c := range r.Cookies() {
		if c.Name == "tarn_session" {
			session = c
		}
	}
	switch {
	case session == nil:
		t.Fatal("login set no tarn_session cookie")
	case !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Path != "/":
		t.Errorf("session cookie %s: want HttpOnly, SameSite=Strict, Path=/", session)
	case session.Secure:
		t.Errorf("session cookie %s is Secure on a plain-http request without a https public URL", session)
	case len(session.Value) != 43:
		t.Errorf("session ID %q has %d characters, want 32 random bytes in base64url (43)", session.Value, len(session.Value))
	case strings.Contains(session.Value, e.AdminToken):
		t.Error("the session cookie holds the API token")
	}
	page := b.wantPage("/")
	for _, want := range []string{"admin", `href="/orgs/local"`, "Sign out"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("/ lacks %q:\n%s", want, page.body)
		}
	}
}

func TestLoginRefusesBadTokens(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ name, token, want string }{
		{"unknown", "tarn_" + strings.Repeat("a", 43), "unknown API token"},
		{"malformed", "not-a-token", "malformed API token"},
		{"empty", "", "no API token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := e.browser(t)
			r := b.login(tc.token)
			if r.StatusCode != http.StatusUnauthorized {
				t.Fatalf("login: %s, want 401", r.Status)
			}
			m := regexp.MustCompile(`(?s)<p class="error" role="alert">(.*?)</p>`).FindStringSubmatch(r.body)
			if m == nil || !strings.Contains(m[1], tc.want) || strings.Contains(m[1], "\n") {
				t.Errorf("error line %q, want one line with %q", m, tc.want)
			}
			for _, c := range r.Cookies() {
				if c.Name == "tarn_session" && c.MaxAge >= 0 {
					t.Errorf("a refused login set a session cookie %s", c)
				}
			}
			b.wantLogin("/")
		})
	}
}

func TestPostsNeedCSRFAndSameOrigin(t *testing.T) {
	e := newEnv(t)
	victim, other := e.browser(t), e.browser(t)
	victim.mustLogin(e.AdminToken)
	other.mustLogin(e.AdminToken)
	mine, theirs := victim.csrf(victim.wantPage("/")), other.csrf(other.wantPage("/"))
	if mine == theirs {
		t.Fatal("two sessions have the same CSRF token")
	}
	for _, tc := range []struct {
		name   string
		form   url.Values
		origin string
		header map[string]string
	}{
		{name: "no CSRF token", form: url.Values{}, origin: e.url},
		{name: "another session's CSRF token", form: url.Values{"csrf": {theirs}}, origin: e.url},
		{name: "cross-origin Origin", form: url.Values{"csrf": {mine}}, origin: "http://attacker.invalid"},
		{name: "Origin null", form: url.Values{"csrf": {mine}}, origin: "null"},
		{name: "cross-site fetch", form: url.Values{"csrf": {mine}}, header: map[string]string{"Sec-Fetch-Site": "cross-site"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, e.url+"/logout", strings.NewReader(tc.form.Encode()))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			if r := victim.do(req); r.StatusCode != http.StatusForbidden || !strings.Contains(r.body, "The form was refused") {
				t.Fatalf("POST /logout: %s, want 403 saying the form was refused:\n%s", r.Status, r.body)
			}
			victim.wantPage("/") // the forged logout did not end the session
		})
	}
	t.Run("cross-origin login", func(t *testing.T) {
		b := e.browser(t)
		form := b.get("/login")
		r := b.post("/login", url.Values{"csrf": {b.csrf(form)}, "token": {e.AdminToken}}, "http://attacker.invalid")
		if r.StatusCode != http.StatusForbidden {
			t.Fatalf("cross-origin POST /login: %s, want 403", r.Status)
		}
		b.wantLogin("/")
	})
	t.Run("login without the login form's token", func(t *testing.T) {
		b := e.browser(t)
		b.get("/login")
		if r := b.post("/login", url.Values{"token": {e.AdminToken}}, e.url); r.StatusCode != http.StatusForbidden {
			t.Fatalf("POST /login without csrf: %s, want 403", r.Status)
		}
		b.wantLogin("/")
	})
}

func TestSessionEnds(t *testing.T) {
	e := newEnv(t)
	t.Run("logout", func(t *testing.T) {
		b := e.browser(t)
		b.mustLogin(e.AdminToken)
		csrf := b.csrf(b.wantPage("/"))
		old := b.http.Jar.Cookies(mustURL(t, e.url))
		wantRedirect(t, "logout", b.post("/logout", url.Values{"csrf": {csrf}}, e.url), "/login")
		b.wantLogin("/")
		// The old cookie, replayed, names no session any more.
		b.http.Jar.SetCookies(mustURL(t, e.url), old)
		b.wantLogin("/")
	})
	t.Run("token revoked", func(t *testing.T) {
		tok := e.NewUser(t, "alice", "local", "reader")
		alice := e.Client(t, tok)
		b := e.browser(t)
		b.mustLogin(tok)
		b.wantPage("/orgs/local")
		who, err := alice.Whoami(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if err := alice.RevokeToken(context.Background(), who.TokenID); err != nil {
			t.Fatal(err)
		}
		b.wantLogin("/orgs/local")
		b.wantLogin("/")
	})
}

func TestSessionExpiry(t *testing.T) {
	e := newEnv(t)
	t.Run("idle", func(t *testing.T) {
		b := e.browser(t)
		b.mustLogin(e.AdminToken)
		e.Clock.Advance(59 * time.Minute)
		b.wantPage("/") // used within the hour: the idle time starts again
		e.Clock.Advance(59 * time.Minute)
		b.wantPage("/")
		e.Clock.Advance(time.Hour)
		b.wantLogin("/")
	})
	t.Run("absolute", func(t *testing.T) {
		b := e.browser(t)
		b.mustLogin(e.AdminToken)
		for range 12 {
			b.wantPage("/")
			e.Clock.Advance(59 * time.Minute)
		}
		b.wantPage("/") // 11 h 48 min after login
		e.Clock.Advance(12 * time.Minute)
		b.wantLogin("/")
	})
}

func TestOutsiderSeesNoNames(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.Admin(t).CreateDataset(ctx, "local", api.CreateDatasetRequest{Name: "secret-set"}); err != nil {
		t.Fatal(err)
	}
	member := e.browser(t)
	member.mustLogin(e.NewUser(t, "mia", "local", "reader"))
	if page := member.wantPage("/orgs/local"); !strings.Contains(page.body, "al://local/secret-set") {
		t.Fatalf("a member's /orgs/local does not list the dataset:\n%s", page.body)
	}
	outsider := e.browser(t)
	outsider.mustLogin(e.NewUser(t, "otto", "", ""))
	mine := outsider.wantPage("/")
	if !strings.Contains(mine.body, "You are not in any org yet") || strings.Contains(mine.body, "local") {
		t.Errorf("an outsider's / should show the empty state and no org:\n%s", mine.body)
	}
	existing, missing := outsider.get("/orgs/local"), outsider.get("/orgs/nope")
	for _, r := range []response{existing, missing} {
		if r.StatusCode != http.StatusForbidden {
			t.Errorf("outsider GET %s: %s, want 403", r.Request.URL.Path, r.Status)
		}
		if strings.Contains(r.body, "secret-set") {
			t.Errorf("the 403 page names the dataset:\n%s", r.body)
		}
	}
	if existing.body != missing.body {
		t.Errorf("an outsider can tell an existing org from a missing one:\n%s\n---\n%s", existing.body, missing.body)
	}
	admin := e.browser(t)
	admin.mustLogin(e.AdminToken)
	if r := admin.get("/orgs/nope"); r.StatusCode != http.StatusNotFound {
		t.Errorf("superuser GET /orgs/nope: %s, want 404", r.Status)
	}
	if r := admin.get("/no/such/page"); r.StatusCode != http.StatusNotFound {
		t.Errorf("GET /no/such/page: %s, want 404", r.Status)
	}
}

func TestSecurityHeaders(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	anonymous := []string{"/login", "/no/such/page"}
	for _, path := range anonymous {
		checkHeaders(t, b.get(path), true)
	}
	b.mustLogin(e.AdminToken)
	for _, path := range []string{"/", "/orgs/local", "/orgs/nope"} {
		checkHeaders(t, b.get(path), true)
	}
	checkHeaders(t, b.get("/static/console.css"), false)
}

func checkHeaders(t *testing.T, r response, page bool) {
	t.Helper()
	want := map[string]string{
		"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
		"Referrer-Policy":         "no-referrer",
		"X-Content-Type-Options":  "nosniff",
	}
	if page {
		want["Cache-Control"] = "no-store"
	}
	for k, v := range want {
		if got := r.Header.Get(k); got != v {
			t.Errorf("%s %s: %s %q, want %q", r.Request.URL.Path, r.Status, k, got, v)
		}
	}
}

func TestAPIStaysUnderItsPrefix(t *testing.T) {
	e := newEnv(t)
	req, err := http.NewRequest(http.MethodGet, e.url+api.Prefix+"/whoami", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.AdminToken)
	r := e.browser(t).do(req)
	if r.StatusCode != http.StatusOK || !strings.Contains(r.body, `"user":"admin"`) {
		t.Fatalf("GET /api/v1/whoami: %s %s", r.Status, r.body)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// The nav lists the pages the user's role opens: the audit log and workload identities,
// which the API shows admins only, are not offered to a reader.
func TestNavFollowsTheRole(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		role  string
		admin bool
	}{{"reader", false}, {"writer", false}, {"admin", true}} {
		t.Run(tc.role, func(t *testing.T) {
			b := e.browser(t)
			b.mustLogin(e.NewUser(t, "nav-"+tc.role, "local", tc.role))
			page := b.wantPage("/orgs/local")
			for _, href := range []string{`href="/orgs/local/audit"`, `href="/orgs/local/identities"`} {
				if strings.Contains(page.body, href) != tc.admin {
					t.Errorf("%s's nav: has %s = %v, want %v", tc.role, href, !tc.admin, tc.admin)
				}
			}
			if !strings.Contains(page.body, `href="/orgs/local/members"`) {
				t.Errorf("%s's nav lacks the members page", tc.role)
			}
		})
	}
}

// A session left to expire, never presented again, is deleted by the next sign-in.
func TestSignInSweepsExpiredSessions(t *testing.T) {
	e := newEnv(t)
	left := e.browser(t)
	left.mustLogin(e.AdminToken)
	u, _ := url.Parse(e.url)
	var id string
	for _, c := range left.http.Jar.Cookies(u) {
		if c.Name == "tarn_session" {
			id = c.Value
		}
	}
	hash := sha256.Sum256([]byte(id))
	if _, err := e.Server.Store.Session(t.Context(), hash[:]); err != nil {
		t.Fatalf("the new session is not stored: %v", err)
	}
	e.Clock.Advance(61 * time.Minute)
	e.browser(t).mustLogin(e.AdminToken)
	if _, err := e.Server.Store.Session(t.Context(), hash[:]); err == nil {
		t.Error("an idle session outlived the next sign-in")
	}
}
