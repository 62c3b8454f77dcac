package console

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/presign"
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
// API's status. Values of a field "link:KEY" are links read through creds key KEY; their
// URLs come back in links, by link, and the links of a key the API refuses in
// link_errors, by link, with the reason, so that the viewer shows them as refused and the
// rest of the page as usual. expires_at is the earliest expiry of all the URLs.
func (c *Console) datasetURLs(w http.ResponseWriter, r *http.Request, s *session) {
	org, name := r.PathValue("org"), r.PathValue("name")
	ctx := apiContext(r, s)
	res := viewerURLs{PresignResponse: api.PresignResponse{URLs: map[string]string{}, Links: map[string]string{}}, LinkErrors: map[string]string{}}
	earliest := func(t time.Time) {
		if res.ExpiresAt.IsZero() || t.Before(res.ExpiresAt) {
			res.ExpiresAt = t
		}
	}
	if paths := r.PostForm["path"]; len(paths) > 0 {
		out, err := c.api.PresignDataset(ctx, org, name, paths, viewerURLExpiry)
		if err != nil {
			c.jsonError(w, err)
			return
		}
		res.URLs = servedHere(out.URLs)
		earliest(out.ExpiresAt)
	}
	for field, links := range r.PostForm {
		key, ok := strings.CutPrefix(field, "link:")
		if !ok || len(links) == 0 {
			continue
		}
		// The API refuses a whole request for one link it refuses; so that such a link does
		// not blank the others, a refused request is asked again by parent location, and
		// links that do not parse are not asked for.
		groups := linkGroups(links, res.LinkErrors)
		ask := func(batch []string) error {
			out, err := c.api.PresignLinks(ctx, org, name, key, batch, viewerURLExpiry)
			if err != nil {
				return apiError(err)
			}
			maps.Copy(res.Links, out.Links)
			earliest(out.ExpiresAt)
			return nil
		}
		if len(groups) == 0 || len(groups) > 1 && ask(slices.Concat(groups...)) == nil {
			continue
		}
		for _, g := range groups {
			if err := ask(g); err != nil {
				if errs.Status(errs.KindOf(err)) >= 500 {
					c.log.Error("console: presign of links for the viewer failed", "err", err)
				}
				for _, l := range g {
					res.LinkErrors[l] = errs.DetailOf(err)
				}
			}
		}
	}
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

// linkGroups returns links grouped by parent location (presign.GroupLinks); links that do
// not parse are left out, with their reason in refused.
func linkGroups(links []string, refused map[string]string) [][]string {
	var valid []string
	for _, l := range links {
		if _, err := presign.GroupLinks([]string{l}); err != nil {
			refused[l] = strings.TrimPrefix(errs.DetailOf(err), "links[0]: ")
			continue
		}
		valid = append(valid, l)
	}
	if len(valid) == 0 {
		return nil
	}
	groups, err := presign.GroupLinks(valid)
	if err != nil { // more links than the API takes at once
		for _, l := range valid {
			refused[l] = errs.DetailOf(err)
		}
		return nil
	}
	out := make([][]string, len(groups))
	for i, g := range groups {
		out[i] = g.Links
	}
	return out
}

// viewerURLs is what datasetURLs answers.
type viewerURLs struct {
	api.PresignResponse
	LinkErrors map[string]string `json:"link_errors"`
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

// viewerData is what the dataset page shows of the viewer: nothing but the viewer itself,
// or why it cannot read this dataset.
type viewerData struct {
	Why string // why the viewer cannot read this dataset, in words; "" when it can
}

// viewer presigns the dataset's tarn.json, to learn which origin the viewer will read from
// (the page's Content-Security-Policy allows connections to it and no other store), and
// sets the page's policy; the URL itself is not used. The origins of the dataset's linked
// creds keys (linkOrigins) are allowed too, so that the viewer reads linked images.
func (c *Console) viewer(w http.ResponseWriter, r *http.Request, s *session, d *api.Dataset) viewerData {
	res, err := c.api.PresignDataset(apiContext(r, s), d.Org, d.Name, []string{"tarn.json"}, time.Minute)
	if err != nil {
		return viewerData{Why: errs.DetailOf(apiError(err))}
	}
	origin, ok := urlOrigin(servedHere(res.URLs)["tarn.json"])
	if !ok {
		return viewerData{Why: "the store's URLs are not http(s) URLs a browser can read"}
	}
	w.Header().Set("Content-Security-Policy", viewerPolicy(append([]string{origin}, c.linkOrigins(r, s, d)...)...))
	return viewerData{}
}

// linkOrigins returns the origins of the URLs of linked objects the session may read: of
// each creds key linked to d, the origin of a presigned URL of an object below the key's
// first root (one vend, cached, and audited as a presign). Keys the session may not read
// links through (an outsider of a public dataset), and URLs no browser can read, add none.
func (c *Console) linkOrigins(r *http.Request, s *session, d *api.Dataset) []string {
	ctx := apiContext(r, s)
	var origins []string
	for _, name := range d.LinkedCredsKeys {
		k, err := c.api.CredsKey(ctx, d.Org, name)
		if err != nil || len(k.Config.Roots) == 0 {
			continue
		}
		probe := strings.TrimSuffix(k.Config.Roots[0], "/") + "/tarn-viewer-origin"
		res, err := c.api.PresignLinks(ctx, d.Org, d.Name, name, []string{probe}, time.Minute)
		if err != nil {
			continue
		}
		if o, ok := urlOrigin(res.Links[probe]); ok && o != "" && !slices.Contains(origins, o) {
			origins = append(origins, o)
		}
	}
	return origins
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

// viewerPolicy is the policy of a page with the viewer: it also connects to the stores at
// origins (the dataset's, "" for a store tarn serves itself, and those of linked objects)
// and shows images from blob: URLs, which the viewer makes of the image bytes it read.
func viewerPolicy(origins ...string) string {
	p := basePolicy + "; img-src 'self' blob:; connect-src 'self'"
	for _, o := range origins {
		if o != "" {
			p += " " + o
		}
	}
	return p
}
