package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	"github.com/tarnhq/tarn/internal/authn"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/store"
)

// The cookies: the session's ID, and on the login page the value its form must echo.
const (
	sessionCookie = "tarn_session"
	loginCookie   = "tarn_login"
)

// touchEvery bounds how often a session's last use is written.
const touchEvery = time.Minute

// session is a signed-in request's session.
type session struct {
	hash      []byte
	csrf      string
	principal authn.Principal
}

// newSecret returns 32 random bytes, base64url-encoded.
func newSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// sessionHash returns the stored form of session ID id.
func sessionHash(id string) []byte {
	h := sha256.Sum256([]byte(id))
	return h[:]
}

// csrfToken returns the CSRF token of session ID id. It is derived from the ID, which only
// the session's browser holds, and not from the hash the database keeps.
func csrfToken(id string) string {
	h := sha256.Sum256([]byte("tarn console csrf\x00" + id))
	return hex.EncodeToString(h[:])
}

// same reports whether the secrets a and b are equal, in time independent of their content.
func same(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

func (c *Console) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: int(maxAge / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: c.secure || r.TLS != nil})
}

func (c *Console) clearCookie(w http.ResponseWriter, r *http.Request, name string) {
	c.setCookie(w, r, name, "", -time.Second)
}

// errRefused is the error of a POST that checkPost refuses.
var errRefused = errs.E(errs.Permission, "form refused: cross-origin, or without this session's CSRF token")

// checkPost returns errRefused for a POST sent from another origin (by its Sec-Fetch-Site,
// Origin or Referer header) or whose form lacks the expected CSRF token.
func (c *Console) checkPost(r *http.Request, csrf string) error {
	if c.origin.Check(r) != nil || !same(r.PostFormValue("csrf"), csrf) {
		return errRefused
	}
	return nil
}

// loginData is the login page's own data.
type loginData struct {
	CSRF  string
	Error string
}

func (c *Console) loginForm(w http.ResponseWriter, r *http.Request) {
	c.showLogin(w, r, http.StatusOK, "")
}

// showLogin renders the login form with a new value for its CSRF check, and msg as its error.
func (c *Console) showLogin(w http.ResponseWriter, r *http.Request, status int, msg string) {
	csrf := newSecret()
	c.setCookie(w, r, loginCookie, csrf, time.Hour)
	c.render(w, status, "login", page{Title: "Sign in", Data: loginData{CSRF: csrf, Error: msg}})
}

// login starts a session for the pasted API token, authenticated as the API does.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	lc, _ := r.Cookie(loginCookie)
	if lc == nil {
		c.showLogin(w, r, http.StatusForbidden, "The sign-in form expired: paste your token again.")
		return
	}
	if err := c.checkPost(r, lc.Value); err != nil {
		c.fail(w, nil, err)
		return
	}
	ctx := r.Context()
	p, err := c.authn.Authenticate(ctx, strings.TrimSpace(r.PostFormValue("token")), "")
	if errs.Is(errs.Unauthenticated, err) {
		c.showLogin(w, r, http.StatusUnauthorized, errs.DetailOf(err))
		return
	}
	if err != nil {
		c.fail(w, nil, err)
		return
	}
	id, now := newSecret(), c.now()
	// Sessions that ended unseen (expired, never signed out) go with each sign-in.
	if _, err := c.store.DeleteExpiredSessions(ctx, now.Add(-c.maxAge), now.Add(-c.idle)); err != nil {
		c.fail(w, nil, err)
		return
	}
	if err := c.store.CreateSession(ctx, store.Session{Hash: sessionHash(id), TokenID: p.TokenID, CreatedAt: now, LastSeenAt: now}); err != nil {
		c.fail(w, nil, err)
		return
	}
	c.clearCookie(w, r, loginCookie)
	c.setCookie(w, r, sessionCookie, id, c.maxAge)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// signedIn runs h for requests of a live session, after checking the CSRF token and the
// origin of a POST; it sends everyone else to /login.
func (c *Console) signedIn(h func(w http.ResponseWriter, r *http.Request, s *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		s, err := c.session(r.Context(), r)
		if errs.Is(errs.Unauthenticated, err) {
			c.clearCookie(w, r, sessionCookie)
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		if err != nil {
			c.fail(w, nil, err)
			return
		}
		if r.Method == http.MethodPost {
			if err := c.checkPost(r, s.csrf); err != nil {
				c.fail(w, s, err)
				return
			}
		}
		h(w, r, s)
	}
}

// session returns the live session of r, recording its use; Unauthenticated when r has
// none, or its session has expired or its token no longer authenticates (the session is
// then deleted). The principal is authenticated for the org of the path, if any.
func (c *Console) session(ctx context.Context, r *http.Request) (*session, error) {
	ck, _ := r.Cookie(sessionCookie)
	if ck == nil || ck.Value == "" {
		return nil, errs.E(errs.Unauthenticated, "not signed in")
	}
	hash := sessionHash(ck.Value)
	se, err := c.store.Session(ctx, hash)
	if errs.Is(errs.NotFound, err) {
		return nil, errs.E(errs.Unauthenticated, "no such session")
	}
	if err != nil {
		return nil, err
	}
	now := c.now()
	if !now.Before(se.CreatedAt.Add(c.maxAge)) || !now.Before(se.LastSeenAt.Add(c.idle)) {
		return nil, c.end(ctx, hash, errs.E(errs.Unauthenticated, "session expired"))
	}
	p, err := c.authn.AuthenticateID(ctx, se.TokenID, r.PathValue("org"))
	if errs.Is(errs.Unauthenticated, err) {
		return nil, c.end(ctx, hash, err)
	}
	if err != nil {
		return nil, err
	}
	if now.Sub(se.LastSeenAt) >= touchEvery {
		if err := c.store.TouchSession(ctx, hash, now); err != nil {
			return nil, err
		}
	}
	return &session{hash: hash, csrf: csrfToken(ck.Value), principal: p}, nil
}

// end deletes the session with hash and returns why it ended, or the deletion's failure.
func (c *Console) end(ctx context.Context, hash []byte, why error) error {
	if err := c.store.DeleteSession(ctx, hash); err != nil {
		return err
	}
	return why
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, s *session) {
	if err := c.store.DeleteSession(r.Context(), s.hash); err != nil {
		c.fail(w, s, err)
		return
	}
	c.clearCookie(w, r, sessionCookie)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
