// Package console serves tarn's web console: server-rendered pages for people, on the same
// authentication and authorization as the API. A person signs in by pasting an API token,
// which starts a server-side session; every request of the session authenticates that
// token again, so revoking it ends the session. Every read and every action of a page is a
// call of the API, made in process as the session's token (see apicall.go), so the console
// has no rule of its own. Pages come from embedded html/template files, which escape
// everything they show; they work without script, and one small script file adds copy
// buttons.
package console

import (
	"bytes"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/client"
	"github.com/tarnhq/tarn/internal/authn"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/store"
)

// The default session lifetimes.
const (
	DefaultIdleTimeout = time.Hour
	DefaultMaxAge      = 12 * time.Hour
)

//go:embed templates static
var files embed.FS

// Options configure a console. Store and API are required.
type Options struct {
	// Store holds the sessions and authenticates their tokens; pass the API's cached store
	// for the same reads of access.
	Store store.Store
	// API is the API handler (httpapi.API) that serves every read and action of the pages.
	API http.Handler
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// PublicURL is the URL people open the console at, when a proxy stands in front; nil
	// means the request's own host. A https URL makes the session cookie Secure, and its
	// origin is trusted for POSTs.
	PublicURL *url.URL
	// WorkloadAudience is the audience workload tokens must carry (tarn serve
	// --workload-audience), for the snippets workload identities show; empty means
	// client.DefaultAudience.
	WorkloadAudience string
	// IdleTimeout ends a session not used for that long; zero means DefaultIdleTimeout.
	// Use is recorded at most once a minute.
	IdleTimeout time.Duration
	// MaxAge ends a session that long after it started, used or not; zero means
	// DefaultMaxAge.
	MaxAge time.Duration
	// Logger receives the errors pages do not show; nil discards them.
	Logger *slog.Logger
	// StoreClient sends the requests of a creds key page's CORS check to the store (a
	// preflight and a ranged GET of a presigned URL); give one whose connections pass the
	// server's endpoint guard. Nil means the page offers no CORS check.
	StoreClient *http.Client
}

// Console is the console's HTTP handler. It is safe for concurrent use.
type Console struct {
	store    store.Store
	authn    *authn.Authenticator
	api      *client.Client
	now      func() time.Time
	idle     time.Duration
	maxAge   time.Duration
	secure   bool   // session cookies are Secure on every request
	public   string // the public URL's origin, "" for none
	audience string // the audience of workload tokens
	origin   *http.CrossOriginProtection
	log      *slog.Logger
	// storeClient sends the CORS check's requests; nil for none.
	storeClient *http.Client
	pages       map[string]*template.Template
	mux         *http.ServeMux
}

// New returns a console. It fails only if PublicURL is not an absolute http or https URL.
func New(o Options) (*Console, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.WorkloadAudience == "" {
		o.WorkloadAudience = client.DefaultAudience
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Console{
		store: o.Store, authn: &authn.Authenticator{Store: o.Store, Now: o.Now}, api: newAPIClient(o.API),
		now: o.Now, audience: o.WorkloadAudience, idle: o.IdleTimeout, maxAge: o.MaxAge, origin: http.NewCrossOriginProtection(), log: o.Logger,
		storeClient: o.StoreClient,
		pages:       map[string]*template.Template{}, mux: http.NewServeMux(),
	}
	if u := o.PublicURL; u != nil {
		if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
			return nil, errs.E(errs.Invalid, "public URL %q: give an absolute http:// or https:// URL such as https://tarn.example.com", u.Redacted())
		}
		c.secure, c.public = u.Scheme == "https", u.Scheme+"://"+u.Host
		if err := c.origin.AddTrustedOrigin(u.Scheme + "://" + u.Host); err != nil {
			return nil, errs.Wrap(errs.Invalid, err, "public URL")
		}
	}
	names, _ := fs.Glob(files, "templates/*.html")
	for _, name := range names {
		page := strings.TrimSuffix(path.Base(name), ".html")
		if page != "layout" && page != "parts" {
			c.pages[page] = template.Must(template.New(page).Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/parts.html", name))
		}
	}
	c.routes()
	return c, nil
}

func (c *Console) routes() {
	static, _ := fs.Sub(files, "static")
	c.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	c.mux.HandleFunc("GET /login", c.loginForm)
	c.mux.HandleFunc("POST /login", c.login)
	c.mux.HandleFunc("POST /logout", c.signedIn(c.logout))
	c.mux.HandleFunc("GET /{$}", c.signedIn(c.orgs))
	c.mux.HandleFunc("GET /orgs/{org}", c.signedIn(c.org))
	c.datasetRoutes()
	c.viewerRoutes()
	c.credsKeyRoutes()
	c.storageRoutes()
	c.identityRoutes()
	c.memberRoutes()
	c.auditRoutes()
	c.tokenRoutes()
	c.adminRoutes()
	c.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		c.render(w, http.StatusNotFound, "error", page{Title: "Not found", Data: notFound})
	})
}

// ServeHTTP sets the security headers of every answer and serves the console's pages.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", basePolicy)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	c.mux.ServeHTTP(w, r)
}

// page is what the layout shows around a page's own Data.
type page struct {
	Title     string
	User      string // who is signed in; "" on the login page
	Superuser bool   // the signed-in user is a superuser: the nav lists the admin pages
	CSRF      string // the session's CSRF token, for every form
	Org       string // the org whose pages the nav lists; "" for none
	Role      string // the signed-in user's role in Org: reader, writer, admin or ""
	Section   string // the nav entry of this page, e.g. "datasets", "tokens"
	Nav       bool   // show the nav of Orgs (not on the login and error pages)
	Orgs      []api.Membership
	Flash     string // what the last action did, shown once above the content
	Data      any
}

// CanWrite reports whether the signed-in user may write in Org (writer, admin or
// superuser), so the page shows its write forms. The API decides all the same.
func (p page) CanWrite() bool { return p.Superuser || p.Role == "writer" || p.Role == "admin" }

// IsAdmin reports whether the signed-in user may administer Org (admin or superuser), so the
// page shows its admin forms. The API decides all the same.
func (p page) IsAdmin() bool { return p.Superuser || p.Role == "admin" }

// render executes the named page into a buffer first, so a failing template sends a
// plain error instead of half a page.
func (c *Console) render(w http.ResponseWriter, status int, name string, p page) {
	var b bytes.Buffer
	if err := c.pages[name].ExecuteTemplate(&b, "layout", p); err != nil {
		c.log.Error("console page not rendered", "page", name, "err", err)
		http.Error(w, "the page could not be shown; see the server log", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	b.WriteTo(w)
}

// The messages of the error page: they name nothing of what was asked for, so that an
// outsider learns nothing from them.
const (
	notFound  = "There is no such page."
	forbidden = "You have no access to this page. If you need it, ask an admin of its org to add you."
	refused   = "The form was refused: it was not sent from this console's own page, or the page is too old. Reload the page and try again."
	failed    = "Something went wrong on the server; try again in a moment. The server log has the details."
)

// fail renders the error page for err, the console's own error or a failed API call's: 403
// for Permission (errRefused: a refused form), 404 for NotFound, and for anything else its
// status with a generic message, logging err.
func (c *Console) fail(w http.ResponseWriter, s *session, err error) {
	p := page{Title: "Error"}
	if s != nil {
		p.User, p.CSRF = s.principal.Name(), s.csrf
	}
	err = apiError(err)
	status := errs.Status(errs.KindOf(err))
	switch status {
	case http.StatusForbidden:
		p.Title, p.Data = "No access", forbidden
		if errors.Is(err, errRefused) {
			p.Title, p.Data = "Form refused", refused
		}
	case http.StatusNotFound:
		p.Title, p.Data = "Not found", notFound
	default:
		c.log.Error("console request failed", "status", status, "err", err)
		p.Data = failed
	}
	c.render(w, status, "error", p)
}
