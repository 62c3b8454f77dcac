package console

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/errs"
)

// The dataset viewer (static/viewer.js) runs in the browser: it reads a version's manifest
// and the rows of its data files straight from the store, through presigned URLs it asks
// the console for. The console serves it the page and the URLs, never a byte of data.

func (c *Console) viewerRoutes() {
	c.mux.HandleFunc("POST /orgs/{org}/datasets/{name}/urls", c.signedIn(c.datasetURLs))
	c.mux.HandleFunc("POST /orgs/{org}/datasets/{name}/cors", c.signedIn(c.viewerCORS))
}

// viewerURLExpiry is the lifetime the viewer asks for; it renews URLs before they expire.
const viewerURLExpiry = 15 * time.Minute

// datasetURLs serves POST /orgs/{org}/datasets/{name}/urls for the viewer: the form's path
// values (object keys relative to the dataset, such as versions/v….json) presigned through
// the API as the session, as JSON {urls, expires_at}; a refusal is JSON {error} with the
// API's status.
func (c *Console) datasetURLs(w http.ResponseWriter, r *http.Request, s *session) {
	org, name := r.PathValue("org"), r.PathValue("name")
	res, err := c.api.PresignDataset(apiContext(r, s), org, name, r.PostForm["path"], viewerURLExpiry)
	if err != nil {
		c.jsonError(w, err)
		return
	}
	res.URLs = servedHere(res.URLs)
	writeJSON(w, http.StatusOK, res)
}

// writeJSON answers v as JSON, not to be cached.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// jsonError answers the API's refusal err as JSON {error} with the API's status; it logs
// errors that are the server's.
func (c *Console) jsonError(w http.ResponseWriter, err error) {
	err = apiError(err)
	status := errs.Status(errs.KindOf(err))
	if status >= 500 {
		c.log.Error("console: a viewer request failed", "status", status, "err", err)
	}
	writeJSON(w, status, map[string]string{"error": errs.DetailOf(err)})
}

// servedHere turns the URLs that tarn serves itself (objects of file datasets), which the
// console's in-process client made absolute with its own endpoint, back into paths, so
// that the browser asks the server it reached the console on.
func servedHere(urls map[string]string) map[string]string {
	for k, u := range urls {
		if rest, ok := strings.CutPrefix(u, inProcessEndpoint+"/"); ok {
			urls[k] = "/" + rest
		}
	}
	return urls
}

// viewerData is what the dataset page gives the viewer: where it may read from, or why it
// cannot.
type viewerData struct {
	StoreOrigin string // the scheme and host of the store's URLs; "" when tarn serves them
	Why         string // why the viewer cannot read this dataset, in words
}

// viewer presigns the dataset's tarn.json, to learn which origin the viewer will read from
// (the page's Content-Security-Policy allows connections to it and no other store), and
// sets the page's policy. The URL itself is not used.
func (c *Console) viewer(w http.ResponseWriter, r *http.Request, s *session, d *api.Dataset) viewerData {
	res, err := c.api.PresignDataset(apiContext(r, s), d.Org, d.Name, []string{"tarn.json"}, time.Minute)
	if err != nil {
		return viewerData{Why: errs.DetailOf(apiError(err))}
	}
	origin, ok := urlOrigin(servedHere(res.URLs)["tarn.json"])
	if !ok {
		return viewerData{Why: "the store's URLs are not http(s) URLs a browser can read"}
	}
	w.Header().Set("Content-Security-Policy", viewerPolicy(origin))
	return viewerData{StoreOrigin: origin}
}

// hostChars are the characters of a host (and port) that may go into a CSP source
// expression; url.Parse allows a few more.
var hostChars = regexp.MustCompile(`^[A-Za-z0-9.\-]+(:[0-9]+)?$|^\[[0-9A-Fa-f:.]+\](:[0-9]+)?$`)

// urlOrigin returns the scheme://host of an absolute http(s) URL, "" for a URL relative to
// the console (one tarn serves), and false for anything else.
func urlOrigin(raw string) (string, bool) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "", false
	case u.Scheme == "" && u.Host == "" && strings.HasPrefix(u.Path, "/"):
		return "", true
	case (u.Scheme == "http" || u.Scheme == "https") && hostChars.MatchString(u.Host):
		return u.Scheme + "://" + u.Host, true
	}
	return "", false
}

// basePolicy is the Content-Security-Policy of every console page: nothing from anywhere
// but the console itself, no inline script or style, no framing.
const basePolicy = "default-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// viewerPolicy is the policy of a page with the viewer: it also connects to the store at
// origin ("" for a store tarn serves itself) and shows images from blob: URLs, which the
// viewer makes of the image bytes it read.
func viewerPolicy(origin string) string {
	return strings.TrimSpace(basePolicy + "; img-src 'self' blob:; connect-src 'self' " + origin)
}
