package console_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tarnhq/tarn/internal/store"
)

// auditRecords stores rs in org (created if need be), each with its Time set to base plus
// its index in minutes unless it has one, and returns base.
func auditRecords(t *testing.T, e *env, org string, rs ...store.AuditRecord) time.Time {
	t.Helper()
	ctx := context.Background()
	if _, err := e.Admin(t).CreateOrg(ctx, org); err != nil {
		t.Fatal(err)
	}
	base := e.Clock.Now().UTC().Truncate(time.Minute).Add(-time.Hour)
	for i, r := range rs {
		r.Org = org
		if r.Time.IsZero() {
			r.Time = base.Add(time.Duration(i+1) * time.Minute)
		}
		if _, err := e.Server.Store.AppendAudit(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	return base
}

var auditRequestID = regexp.MustCompile(`request <code>([^<]*)</code>`)

// auditIDs returns the request IDs of the records on an audit page, in the page's order,
// leaving out those not named like the test's (the org's own org.create record).
func auditIDs(r response) []string {
	var ids []string
	for _, m := range auditRequestID.FindAllStringSubmatch(r.body, -1) {
		if strings.HasPrefix(m[1], "r") {
			ids = append(ids, m[1])
		}
	}
	return ids
}

const xssDetail = `<script>alert("x")</script><img src=x onerror=alert(1)>`

func TestAuditFiltersNarrowTheRecords(t *testing.T) {
	e := newEnv(t)
	base := auditRecords(t, e, "acme",
		store.AuditRecord{RequestID: "r1", Principal: "ann (tok_1)", Action: "vend", Target: "al://acme/coco", Mode: "read", Result: "ok", KeyID: "acme/s3@v2"},
		store.AuditRecord{RequestID: "r2", Principal: "bob (tok_2)", Action: "vend", Target: "al://acme/coco", Mode: "write", Result: "denied", Detail: xssDetail},
		store.AuditRecord{RequestID: "r3", Principal: "ann (tok_3)", Action: "dataset.create", Target: "al://acme/imgs", Result: "ok"},
		store.AuditRecord{RequestID: "r4", Principal: "identity:acme/ci (tok_4)", Action: "creds_key.verify", Target: "creds-key:acme/gcs", Result: "error"},
	)
	b := e.browser(t)
	b.mustLogin(e.AdminToken)
	minute := func(m int) string { return base.Add(time.Duration(m) * time.Minute).Format("2006-01-02T15:04") }
	for _, tc := range []struct {
		name  string
		query url.Values
		want  []string
	}{
		{"none, newest first", nil, []string{"r4", "r3", "r2", "r1"}},
		{"action", url.Values{"action": {"vend"}}, []string{"r2", "r1"}},
		{"principal, any token", url.Values{"principal": {"ann"}}, []string{"r3", "r1"}},
		{"identity", url.Values{"principal": {"identity:acme/ci"}}, []string{"r4"}},
		{"result", url.Values{"result": {"denied"}}, []string{"r2"}},
		{"since, inclusive", url.Values{"since": {minute(3)}}, []string{"r4", "r3"}},
		{"until, exclusive", url.Values{"until": {minute(3)}}, []string{"r2", "r1"}},
		{"since a date", url.Values{"since": {base.Add(24 * time.Hour).Format("2006-01-02")}}, nil},
		{"all of them", url.Values{"action": {"vend"}, "principal": {"ann"}, "result": {"ok"}, "since": {minute(1)}, "until": {minute(2)}}, []string{"r1"}},
		{"none match", url.Values{"principal": {"zed"}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			page := b.wantPage("/orgs/acme/audit?" + tc.query.Encode())
			if got := auditIDs(page); !slices.Equal(got, tc.want) {
				t.Errorf("records %q, want %q", got, tc.want)
			}
			if len(tc.want) == 0 && !strings.Contains(page.body, "No audit records match these filters") {
				t.Errorf("no records, but no empty state that says the filters matched none:\n%s", page.body)
			}
			for k := range tc.query {
				if v := tc.query.Get(k); k != "action" && k != "result" && !strings.Contains(page.body, `value="`+html.EscapeString(v)+`"`) {
					t.Errorf("the filter form lost %s=%q", k, v)
				}
			}
			if a := tc.query.Get("action"); a != "" && !strings.Contains(page.body, `<option value="`+a+`" selected>`) {
				t.Errorf("the action select does not keep %q", a)
			}
		})
	}

	page := b.wantPage("/orgs/acme/audit")
	for _, link := range []string{`href="/orgs/acme/datasets/coco"`, `href="/orgs/acme/datasets/imgs"`,
		`href="/orgs/acme/creds-keys/s3"`, `href="/orgs/acme/creds-keys/gcs"`, `href="/orgs/acme/audit?principal=ann"`} {
		if !strings.Contains(page.body, link) {
			t.Errorf("the audit page lacks the link %s", link)
		}
	}
	if strings.Contains(page.body, "<script>alert") || strings.Contains(page.body, "<img src=x") ||
		!strings.Contains(page.body, html.EscapeString(xssDetail)) {
		t.Errorf("the detail of r2 is not shown escaped:\n%s", page.body)
	}
}

func TestAuditPagingWalksEveryRecordOnce(t *testing.T) {
	e := newEnv(t)
	var rs []store.AuditRecord
	var want []string
	for i := 1; i <= 7; i++ {
		rs = append(rs, store.AuditRecord{RequestID: fmt.Sprintf("r%d", i), Principal: "ann (tok_1)", Action: "vend", Result: "ok"})
		want = append([]string{fmt.Sprintf("r%d", i)}, want...)
	}
	auditRecords(t, e, "acme", rs...)
	b := e.browser(t)
	b.mustLogin(e.AdminToken)
	next := regexp.MustCompile(`href="([^"]+)" rel="next"`)
	var got []string
	path := "/orgs/acme/audit?action=vend&limit=3"
	for pages := 0; path != ""; pages++ {
		if pages > 5 {
			t.Fatalf("more than 5 pages of 3 for 7 records; got %q", got)
		}
		page := b.wantPage(path)
		ids := auditIDs(page)
		if len(ids) > 3 {
			t.Fatalf("%s shows %d records, want at most 3", path, len(ids))
		}
		got = append(got, ids...)
		if pages > 0 && !strings.Contains(page.body, `href="/orgs/acme/audit?action=vend&amp;limit=3">← Newest records`) {
			t.Errorf("page %d has no link back to the newest records with the same filters", pages+1)
		}
		path = ""
		if m := next.FindStringSubmatch(page.body); m != nil {
			path = html.UnescapeString(m[1])
			if !strings.Contains(path, "action=vend") || !strings.Contains(path, "limit=3") {
				t.Fatalf("the older page %s drops the filters", path)
			}
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("walking the pages showed %q, want every record once, newest first: %q", got, want)
	}
}

func TestAuditIsTheAPIsToShow(t *testing.T) {
	e := newEnv(t)
	auditRecords(t, e, "acme", store.AuditRecord{RequestID: "r1", Principal: "secret-principal (tok_1)", Action: "vend", Result: "ok"})
	for _, tc := range []struct{ name, org, role string }{
		{"reader", "acme", "reader"},
		{"writer", "acme", "writer"},
		{"outsider", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := e.browser(t)
			b.mustLogin(e.NewUser(t, "u-"+tc.name, tc.org, tc.role))
			r := b.get("/orgs/acme/audit")
			if r.StatusCode != http.StatusForbidden || strings.Contains(r.body, "secret-principal") {
				t.Fatalf("GET /orgs/acme/audit as %s: %s, want 403 without the records:\n%s", tc.name, r.Status, r.body)
			}
			if tc.org == "" {
				if missing := b.get("/orgs/nope/audit"); missing.body != r.body {
					t.Errorf("an outsider can tell an existing org's audit from a missing one's")
				}
			}
		})
	}
	admin := e.browser(t)
	admin.mustLogin(e.NewUser(t, "ada", "acme", "admin"))
	if got := auditIDs(admin.wantPage("/orgs/acme/audit")); !slices.Equal(got, []string{"r1"}) {
		t.Errorf("an org admin sees %q, want r1", got)
	}
}

func TestAuditBadFilterShowsTheErrorAtItsField(t *testing.T) {
	e := newEnv(t)
	auditRecords(t, e, "acme", store.AuditRecord{RequestID: "r1", Principal: "ann (tok_1)", Action: "vend", Result: "ok"})
	b := e.browser(t)
	b.mustLogin(e.AdminToken)
	for _, tc := range []struct{ name, query, field, want string }{
		{"since not a time", "since=yesterday&principal=ann", "since", `since &#34;yesterday&#34; is not a date and time`},
		{"result the API does not know", "result=maybe", "result", `result &#34;maybe&#34; is not ok, denied or error`},
		{"cursor not the API's", "cursor=abc", "", `cursor &#34;abc&#34; is not one this server gave out`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := b.get("/orgs/acme/audit?" + tc.query)
			if r.StatusCode != http.StatusBadRequest {
				t.Fatalf("%s: %s, want 400", tc.query, r.Status)
			}
			class := "error"
			if tc.field != "" {
				class = "field-error"
				input := strings.Index(r.body, `id="`+tc.field+`"`)
				if at := strings.Index(r.body, tc.want); input < 0 || at < input || strings.Contains(r.body[input:at], "<label") {
					t.Errorf("the error is not next to the %s input:\n%s", tc.field, r.body)
				}
			}
			if !strings.Contains(r.body, `<p class="`+class+`" role="alert">`+tc.want) {
				t.Errorf("no %s %q:\n%s", class, tc.want, r.body)
			}
			if strings.Contains(tc.query, "principal=ann") && !strings.Contains(r.body, `value="ann"`) {
				t.Error("the refused filter lost the principal typed")
			}
		})
	}
}
