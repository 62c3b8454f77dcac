package console

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/client"
	"github.com/tarnhq/tarn/internal/audit"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/httpapi"
)

// auditRoutes registers the pages of this file.
func (c *Console) auditRoutes() {
	c.mux.HandleFunc("GET /orgs/{org}/audit", c.signedIn(c.auditLog))
}

// auditPageSize is how many records a page of the audit log shows, unless its URL asks for
// another limit (which the API checks).
const auditPageSize = 50

// auditData is what the audit page shows.
type auditData struct {
	Form     *form
	Actions  []string // the action filter's options
	Results  []string // the result filter's options
	Filtered bool     // a filter is set: the empty state says that none matched
	Records  []auditRow
	Older    string // the URL of the page of older records; "" on the last page
	Newest   string // the URL of the first page, when this is a later one
}

// auditRow is a record with the console pages it is about.
type auditRow struct {
	api.AuditRecord
	Who        string // the principal without its token, for the principal filter
	TargetPage string // the page of the record's dataset or creds key, or ""
	KeyPage    string // the page of the creds key of KeyID, or ""
}

// auditLog serves /orgs/{org}/audit: the org's audit records, newest first, filtered by
// the GET form's action, principal, result, since and until, a page at a time. A filter
// the API refuses shows the form again with the API's error at its field.
func (c *Console) auditLog(w http.ResponseWriter, r *http.Request, s *session) {
	org, in := r.PathValue("org"), r.URL.Query()
	q := client.AuditQuery{Action: in.Get("action"), Principal: strings.TrimSpace(in.Get("principal")),
		Result: in.Get("result"), Cursor: in.Get("cursor"), Limit: auditPageSize}
	if n, err := strconv.Atoi(in.Get("limit")); err == nil {
		q.Limit = n // the API says which limits it takes; one that is no number asks for the default
	}
	var err error
	if q.Since, err = formTime("since", in.Get("since")); err == nil {
		q.Until, err = formTime("until", in.Get("until"))
	}
	var list *api.AuditList
	if err == nil {
		list, err = c.api.Audit(apiContext(r, s), org, q)
	}
	if err != nil && errs.FieldOf(apiError(err)) == "" {
		c.fail(w, s, err) // 403 for those the API does not show the log, and every failure
		return
	}
	p, perr := c.layout(w, r, s, org, "audit", "Audit log · "+org)
	if perr != nil {
		c.fail(w, s, perr)
		return
	}
	d := auditData{Form: &form{values: in, err: apiError(err)}, Actions: httpapi.AuditActions,
		Results: []string{audit.OK, audit.Denied, audit.Failed}}
	for _, k := range []string{"action", "principal", "result", "since", "until"} {
		d.Filtered = d.Filtered || in.Get(k) != ""
	}
	if list != nil {
		for _, rec := range slices.Backward(list.Records) { // the API's page is oldest first
			d.Records = append(d.Records, newAuditRow(rec))
		}
		if list.NextCursor != "" {
			d.Older = auditURL(org, in, list.NextCursor)
		}
		if q.Cursor != "" {
			d.Newest = auditURL(org, in, "")
		}
	}
	p.Data = d
	c.render(w, d.Form.status(), "audit", p)
}

// formTime parses the time input name of the audit filters: a datetime-local value
// (2026-12-01T09:30, in UTC), a date (the start of that day, UTC), an RFC 3339 time, or ""
// for none.
func formTime(name, s string) (time.Time, error) {
	if s = strings.TrimSpace(s); s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02", time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errs.E(errs.Invalid, "%s %q is not a date and time: pick one, or type it as 2026-12-01T09:30 (UTC)",
		name, audit.Cap(s, 40)).In(name)
}

// auditURL returns the audit page of org with the filters of in and the given cursor.
func auditURL(org string, in url.Values, cursor string) string {
	v := url.Values{}
	for _, k := range []string{"action", "principal", "result", "since", "until", "limit"} {
		if s := in.Get(k); s != "" {
			v.Set(k, s)
		}
	}
	if cursor != "" {
		v.Set("cursor", cursor)
	}
	u := "/orgs/" + url.PathEscape(org) + "/audit"
	if len(v) > 0 {
		u += "?" + v.Encode()
	}
	return u
}

// newAuditRow returns rec with the pages it links to: its target's dataset
// (al://ORG/NAME) or creds key (creds-key:ORG/NAME), and the creds key of its key ID
// (ORG/NAME@vN).
func newAuditRow(rec api.AuditRecord) auditRow {
	row := auditRow{AuditRecord: rec, Who: rec.Principal}
	if who, _, ok := strings.Cut(rec.Principal, " ("); ok {
		row.Who = who
	}
	if rest, ok := strings.CutPrefix(rec.Target, "al://"); ok {
		row.TargetPage = orgPage(rest, "datasets")
	} else if rest, ok := strings.CutPrefix(rec.Target, "creds-key:"); ok {
		row.TargetPage = orgPage(rest, "creds-keys")
	}
	if key, _, ok := strings.Cut(rec.KeyID, "@v"); ok {
		row.KeyPage = orgPage(key, "creds-keys")
	}
	return row
}

// orgPage returns the page /orgs/ORG/section/NAME of "ORG/NAME", or "" if ref is not that.
func orgPage(ref, section string) string {
	org, name, ok := strings.Cut(ref, "/")
	if !ok || org == "" || name == "" || strings.Contains(name, "/") {
		return ""
	}
	return "/orgs/" + url.PathEscape(org) + "/" + section + "/" + url.PathEscape(name)
}
