package cors

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// The names of the checks of a Report, in the order Check runs them.
const (
	CheckPreflight = "preflight allowed"
	CheckOrigin    = "origin allowed"
	CheckMethod    = "method GET allowed"
	CheckRange     = "header Range allowed"
	CheckGet       = "GET allows the origin"
	CheckExpose    = "ETag and Content-Range exposed"
)

// Result is the outcome of one check.
type Result struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// Report is what Check found for one origin and one object.
type Report struct {
	Origin string `json:"origin"`
	// Object is the object's URL without its query (the signature): what may be shown.
	Object string   `json:"object"`
	Checks []Result `json:"checks"`
	// GetStatus is the status of the ranged GET; 0 when it got no answer.
	GetStatus int `json:"get_status"`
}

// OK reports whether every check passed.
func (r Report) OK() bool {
	for _, c := range r.Checks {
		if !c.OK {
			return false
		}
	}
	return len(r.Checks) > 0
}

// Failed returns the names of the checks that failed.
func (r Report) Failed() []string {
	var out []string
	for _, c := range r.Checks {
		if !c.OK {
			out = append(out, c.Name)
		}
	}
	return out
}

// RuleMissing reports whether a check failed because of the store's CORS rules, rather than
// only because the store refused the URL itself (expired, or no such object).
func (r Report) RuleMissing() bool {
	failed := r.Failed()
	if len(failed) == 0 {
		return false
	}
	return !(len(failed) == 1 && failed[0] == CheckGet && r.GetStatus != 0 && !goodGet(r.GetStatus))
}

// Problem returns one line naming what is missing and the rule to add, or "" when every
// check passed.
func (r Report) Problem() string {
	if r.OK() {
		return ""
	}
	if !r.RuleMissing() {
		return fmt.Sprintf("the CORS rules of the store of %s allow %s, but the URL does not read the object: %s", r.Object, r.Origin, r.Checks[len(r.Checks)-1].Detail)
	}
	return fmt.Sprintf("the store of %s does not let a browser at %s read it (failed: %s); add the CORS rule %s (tarn cors set LOCATION --origin %s)",
		r.Object, r.Origin, strings.Join(r.Failed(), ", "), NewRule(r.Origin), r.Origin)
}

// Check sends to objectURL, a presigned URL of an object, the two requests a browser at
// origin sends to read it with a range: a preflight (OPTIONS with Origin,
// Access-Control-Request-Method: GET and Access-Control-Request-Headers: range) and a GET
// with Origin and Range: bytes=0-0. It reports whether the answers allow the read and
// expose the headers a range reader needs.
//
// Check sends nothing but those two requests, with client (whose transport decides where
// it may connect: give a guarded one when objectURL is not trusted), follows no redirect,
// and reads at most a few bytes of each answer. No text of the Report holds objectURL's
// query. A malformed origin or URL, or a store that cannot be reached, fails the first
// check with the reason as its detail.
func Check(ctx context.Context, client *http.Client, objectURL, origin string) Report {
	u, err := url.Parse(objectURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		rep := Report{Origin: printable(origin)}
		rep.add(CheckPreflight, false, "the object URL is not an http(s) URL")
		return rep
	}
	shown := *u
	shown.RawQuery, shown.Fragment, shown.User = "", "", nil
	rep := Report{Origin: printable(origin), Object: shown.String()}
	o, err := ParseOrigin(origin)
	if err != nil {
		rep.add(CheckPreflight, false, "%v", err)
		return rep
	}
	rep.Origin = o
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	pre, err := send(ctx, &c, http.MethodOptions, u, map[string]string{
		"Origin":                         rep.Origin,
		"Access-Control-Request-Method":  "GET",
		"Access-Control-Request-Headers": "range",
	}, rep.Object)
	if err != nil {
		rep.add(CheckPreflight, false, "%v", err)
	} else {
		rep.preflight(pre)
	}

	get, err := send(ctx, &c, http.MethodGet, u, map[string]string{"Origin": rep.Origin, "Range": "bytes=0-0"}, rep.Object)
	if err != nil {
		rep.add(CheckGet, false, "%v", err)
		return rep
	}
	rep.get(get)
	return rep
}

func (r *Report) add(name string, ok bool, format string, args ...any) {
	r.Checks = append(r.Checks, Result{Name: name, OK: ok, Detail: fmt.Sprintf(format, args...)})
}

// preflight adds the checks of the preflight's answer.
func (r *Report) preflight(h answer) {
	if h.status < 200 || h.status > 299 {
		r.add(CheckPreflight, false, "OPTIONS answered %d: the store has no CORS rule that matches", h.status)
		return
	}
	if h.header.Get("Access-Control-Allow-Origin") == "" {
		r.add(CheckPreflight, false, "OPTIONS answered %d without Access-Control-Allow-Origin: no rule allows %s", h.status, r.Origin)
	} else {
		r.add(CheckPreflight, true, "OPTIONS answered %d", h.status)
	}
	r.origin(CheckOrigin, h)
	methods := h.list("Access-Control-Allow-Methods")
	r.add(CheckMethod, slices.Contains(methods, "get") || slices.Contains(methods, "*"),
		"Access-Control-Allow-Methods: %q", h.header.Get("Access-Control-Allow-Methods"))
	headers := h.list("Access-Control-Allow-Headers")
	r.add(CheckRange, slices.Contains(headers, "range") || slices.Contains(headers, "*"),
		"Access-Control-Allow-Headers: %q", h.header.Get("Access-Control-Allow-Headers"))
}

// get adds the checks of the ranged GET's answer.
func (r *Report) get(h answer) {
	r.GetStatus = h.status
	switch {
	case h.status == http.StatusNotFound:
		r.add(CheckGet, false, "GET answered 404: the object does not exist")
		return
	case !goodGet(h.status):
		r.add(CheckGet, false, "GET answered %d: the store refused the URL (expired, or not for this object)", h.status)
		return
	}
	r.origin(CheckGet, h)
	exposed := h.list("Access-Control-Expose-Headers")
	var missing []string
	for _, name := range []string{"etag", "content-range"} {
		if !slices.Contains(exposed, name) && !slices.Contains(exposed, "*") {
			missing = append(missing, name)
		}
	}
	detail := fmt.Sprintf("Access-Control-Expose-Headers: %q", h.header.Get("Access-Control-Expose-Headers"))
	if len(missing) > 0 {
		detail += "; not exposed: " + strings.Join(missing, ", ")
	}
	r.add(CheckExpose, len(missing) == 0, "%s", detail)
}

func goodGet(status int) bool { return status == http.StatusPartialContent || status == http.StatusOK }

// origin adds the check named name that h's Access-Control-Allow-Origin is r.Origin or *.
func (r *Report) origin(name string, h answer) {
	got := h.header.Get("Access-Control-Allow-Origin")
	if got == "" {
		r.add(name, false, "no Access-Control-Allow-Origin: no rule allows %s", r.Origin)
		return
	}
	r.add(name, got == "*" || strings.EqualFold(got, r.Origin), "Access-Control-Allow-Origin: %q", got)
}

// answer is the part of a response the checks read.
type answer struct {
	status int
	header http.Header
}

// list returns the comma-separated values of the header name, trimmed and in lower case.
func (a answer) list(name string) []string {
	var out []string
	for _, v := range a.header.Values(name) {
		for _, f := range strings.Split(v, ",") {
			if f = strings.ToLower(strings.TrimSpace(f)); f != "" {
				out = append(out, f)
			}
		}
	}
	return out
}

// send sends one request and returns its answer. Its error names the request by shown,
// never by u (whose query is a signature).
func send(ctx context.Context, c *http.Client, method string, u *url.URL, header map[string]string, shown string) (answer, error) {
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return answer{}, fmt.Errorf("%s %s: %v", method, shown, redact(err))
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return answer{}, fmt.Errorf("%s %s: %v", method, shown, redact(err))
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	return answer{status: resp.StatusCode, header: resp.Header}, nil
}

// redact returns err without the URL a *url.Error carries.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
