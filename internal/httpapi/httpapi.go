// Package httpapi serves tarn's HTTP JSON API (v1), /healthz, /readyz and /metrics.
//
// Every API route runs the same pipeline: assign a request ID, authenticate the bearer
// token, check that the org in the path exists, run the handler, write the audit record
// (for mutations and vends always, for every other route when access was denied), then
// answer with JSON or an RFC 9457 problem. Handlers return errors; the kind of the error
// (package errs) decides the status, so no handler writes a status code for a failure.
package httpapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/audit"
	"github.com/tarnhq/tarn/internal/authn"
	"github.com/tarnhq/tarn/internal/authn/oidc"
	"github.com/tarnhq/tarn/internal/authz"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/issuer"
	"github.com/tarnhq/tarn/internal/presign"
	"github.com/tarnhq/tarn/internal/provider"
	"github.com/tarnhq/tarn/internal/secretbox"
	"github.com/tarnhq/tarn/internal/store"
	"github.com/tarnhq/tarn/internal/upstream"
	"github.com/tarnhq/tarn/internal/vend"
	"github.com/tarnhq/tarn/location"
)

// MaxBodyBytes is the largest request body accepted.
const MaxBodyBytes = 1 << 20

// DefaultTokenTTL is the lifetime of a token created without an explicit TTL.
const DefaultTokenTTL = 30 * 24 * time.Hour

// Options configure the API. Store, Vendor and Logger are required.
type Options struct {
	// Store is what requests read and write. The server passes a cached.Store, shared with
	// the console, so that tokens, memberships, datasets and creds keys are read from memory
	// while the database's access version says they are unchanged.
	Store    store.Store
	Vendor   *provider.Vendor
	Secrets  *secretbox.Box // seals creds-key secrets
	Logger   *slog.Logger
	Registry *prometheus.Registry // nil: a new one
	Now      func() time.Time     // nil: time.Now
	VendTTL  time.Duration        // zero: vend.DefaultTTL
	// Verifier verifies the tokens workloads exchange; nil disables workload identities.
	Verifier *oidc.Verifier
	// WorkloadTokenTTL is the lifetime of tokens minted by token exchange; zero means
	// DefaultWorkloadTokenTTL.
	WorkloadTokenTTL time.Duration
	Upstream         upstream.Options // budgets of upstream calls: see vend.Options.Upstream
	// Issuer is tarn's own OIDC issuer, whose key POST /issuer/rotate rotates; nil when the
	// server has no public URL.
	Issuer *issuer.Issuer
}

// API is the HTTP handler of a tarn server.
type API struct {
	store    store.Store
	authn    *authn.Authenticator
	authz    *authz.Authorizer
	vendor   *provider.Vendor
	secrets  *secretbox.Box
	vend     *vend.Service
	audit    *audit.Log
	log      *slog.Logger
	now      func() time.Time
	mux      *http.ServeMux
	metrics  *metrics
	patterns []string
	actions  []string         // the audit action of each route, in the order of patterns
	objects  *presign.Objects // signs and checks object URLs of file datasets; nil without a master key

	verifier    *oidc.Verifier
	workloadTTL time.Duration
	issuer      *issuer.Issuer
}

// auditWait is how long the audit records of concurrent requests wait for more to share
// their transaction. A commit has a fixed cost several times that of a record: on SQLite,
// waiting this long grows batches from about 3 to about 12 records under load, halving the
// cost per record, and adds at most this much to an audited request.
const auditWait = 200 * time.Microsecond

// New returns the API handler and starts its audit writer; Close stops it.
func New(o Options) *API {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
	m := newMetrics(o.Registry)
	st := o.Store
	az := &authz.Authorizer{Store: st}
	a := &API{
		store:   st,
		authn:   &authn.Authenticator{Store: st, Now: o.Now},
		authz:   az,
		vendor:  o.Vendor,
		secrets: o.Secrets,
		vend: vend.New(vend.Options{Store: st, Authz: az, Vendor: o.Vendor, Secrets: o.Secrets,
			TTL: o.VendTTL, Now: o.Now, Metrics: vend.NewMetrics(o.Registry), Upstream: o.Upstream, Issuer: o.Issuer}),
		audit:   audit.New(audit.Options{Store: o.Store, Logger: o.Logger, Now: o.Now, MaxWait: auditWait}),
		log:     o.Logger,
		now:     o.Now,
		mux:     http.NewServeMux(),
		metrics: m,

		verifier:    o.Verifier,
		workloadTTL: o.WorkloadTokenTTL,
		issuer:      o.Issuer,
	}
	a.vend.Audit = a.audit.Record // each issuer token a vend or verify mints
	if a.workloadTTL <= 0 {
		a.workloadTTL = DefaultWorkloadTokenTTL
	}
	if o.Secrets != nil {
		a.objects = presign.NewObjects(o.Secrets.Derive(presign.ObjectsLabel))
	}
	a.routes()
	a.mux.HandleFunc(objectsPattern, a.serveObject)
	a.mux.HandleFunc(objectsPreflight, preflightObject)
	a.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	a.mux.HandleFunc("GET /readyz", a.readyz)
	a.mux.Handle("GET /metrics", promhttp.HandlerFor(o.Registry, promhttp.HandlerOpts{}))
	a.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		p := problem(errs.E(errs.NotFound, "no such endpoint: %s %s", r.Method, r.URL.Path), "")
		writeProblem(w, p)
	})
	return a
}

// Close commits the audit records of requests still being served and stops the audit
// writer; a request audited after Close is refused with 503. Close the API before the store.
func (a *API) Close() error { return a.audit.Close() }

// ServeHTTP serves every route and counts requests by route and status.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	a.mux.ServeHTTP(sw, r)
	route := r.Pattern
	if route == "" || route == "/" {
		route = "unmatched"
	}
	a.metrics.observe(route, sw.status, time.Since(start))
}

func (a *API) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.store.Ping(ctx); err != nil {
		a.log.Warn("readiness check failed", "err", err)
		writeProblem(w, problem(errs.E(errs.Unavailable, "database unreachable"), ""))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// call is one API request as handlers see it.
type call struct {
	r         *http.Request
	ctx       context.Context
	principal authn.Principal
	record    *store.AuditRecord // the pending audit record
	// auditNote, when set, leads the audit record's detail, also when the call fails.
	auditNote string
	// authenticated is set once the caller proved who it is (a valid API token, or a
	// workload token whose signature verified). Only then is its audit record stored.
	authenticated bool
	// orgAudits, when set, replaces the record's one org: each listed org gets its own
	// copy, with its own note (see auditIn).
	orgAudits []orgAudit
}

// orgAudit is an org whose audit log gets a copy of a call's record, and what that copy
// adds to the detail for that org alone.
type orgAudit struct{ org, note string }

// auditIn has the call's record stored in org's audit log with note, once per org (the
// first note wins).
func (c *call) auditIn(org, note string) {
	if !slices.ContainsFunc(c.orgAudits, func(o orgAudit) bool { return o.org == org }) {
		c.orgAudits = append(c.orgAudits, orgAudit{org, note})
	}
}

// handler serves a call and returns the success status and body, or an error.
type handler func(c *call) (int, any, error)

// access says who may reach a route's handler.
type access int

const (
	// members: callers with a role in the path's org (or no org in the path). Everyone else
	// is refused before the handler runs, with the same answer whether the org exists or not.
	members access = iota
	// publicDatasets: also any signed-in caller, when the path names a public dataset.
	publicDatasets
	// anyone: no bearer token; the handler authenticates the caller itself.
	anyone
)

// route describes one endpoint.
type route struct {
	pattern string // "METHOD /path", relative to api.Prefix
	action  string // audit action name
	audited bool   // audit successes too, not only denials
	access  access
	h       handler
}

func (a *API) handle(rt route) {
	method, path, _ := strings.Cut(rt.pattern, " ")
	a.patterns = append(a.patterns, method+" "+api.Prefix+path)
	a.actions = append(a.actions, rt.action)
	a.mux.HandleFunc(method+" "+api.Prefix+path, func(w http.ResponseWriter, r *http.Request) {
		a.serve(w, r, rt)
	})
}

func (a *API) serve(w http.ResponseWriter, r *http.Request, rt route) {
	start := time.Now()
	id := newRequestID()
	w.Header().Set("X-Request-Id", id)
	// Answers carry credentials, tokens or an org's state: no cache may keep them.
	w.Header().Set("Cache-Control", "no-store")
	ctx := audit.WithRequestID(r.Context(), id)
	rec := &store.AuditRecord{Action: rt.action, Org: r.PathValue("org"), Principal: "anonymous"}
	ctx = audit.WithPending(ctx, rec)
	c := &call{r: r.WithContext(ctx), ctx: ctx, record: rec}

	status, body, err := a.run(c, rt)
	if err != nil {
		status = errs.Status(errs.KindOf(err))
	}
	if rt.audited || errs.Is(errs.Permission, err) || errs.Is(errs.Unauthenticated, err) {
		rec.Result = audit.ResultOf(err)
		if err != nil {
			rec.Detail = publicDetail(err)
		}
		if c.auditNote != "" {
			rec.Detail = strings.TrimSuffix(c.auditNote+"; "+rec.Detail, "; ")
		}
		if aerr := a.record(c, rt); aerr != nil {
			a.log.Error("audit record not stored", "request_id", id, "action", rt.action, "err", aerr)
			if err == nil && rt.audited {
				err = errs.Wrap(errs.Unavailable, aerr, "the action could not be audited, so it was refused; try again")
				status, body = errs.Status(errs.Unavailable), nil
			}
		}
	}
	if err != nil {
		p := problem(err, id)
		level := slog.LevelInfo
		if p.Status >= 500 {
			level = slog.LevelError
		}
		a.log.Log(ctx, level, "request failed", "request_id", id, "method", r.Method, "route", rt.pattern,
			"status", p.Status, "principal", rec.Principal, "err", err)
		writeProblem(w, p)
		return
	}
	a.log.Debug("request", "request_id", id, "method", r.Method, "route", rt.pattern, "status", status,
		"principal", rec.Principal, "duration", time.Since(start))
	if body == nil {
		w.WriteHeader(status)
		return
	}
	writeJSON(w, status, body)
}

// record stores the audit record of c in its org's audit log, or a copy in each org of
// c.orgAudits. A caller that never authenticated writes into no org's log: its attempt goes
// to the server log and a counter only, so anonymous floods cannot push real records out of
// sight or fill the database. A record naming an org that does not exist (an outsider's
// denied request for one) is stored under no org, so it is not found in the log of an org
// created later.
func (a *API) record(c *call, rt route) error {
	if !c.authenticated {
		a.metrics.unauthenticated.WithLabelValues(rt.pattern).Inc()
		a.log.Info("unauthenticated request", "request_id", audit.RequestID(c.ctx), "route", rt.pattern,
			"org", audit.Cap(c.record.Org, audit.MaxField), "detail", audit.Cap(c.record.Detail, audit.MaxDetail))
		return nil
	}
	orgs := c.orgAudits
	if orgs == nil {
		orgs = []orgAudit{{org: c.record.Org}}
	}
	for _, o := range orgs {
		r := *c.record
		r.Org = a.auditOrg(c, o.org)
		if o.note != "" {
			r.Detail = strings.TrimSuffix(o.note+"; "+r.Detail, "; ")
		}
		if err := a.audit.Record(c.ctx, r); err != nil {
			return err
		}
	}
	return nil
}

// auditOrg returns org if a record of c may be stored in its audit log: org is an org
// name and, unless c succeeded (and so acted on an org it reached), the org exists.
func (a *API) auditOrg(c *call, org string) string {
	if org == "" || location.CheckName("org", org) != nil {
		return ""
	}
	if c.record.Result != audit.OK {
		if _, err := a.store.Org(c.ctx, org); errs.Is(errs.NotFound, err) {
			return ""
		}
	}
	return org
}

// run authenticates, admits the caller to the path's org and calls the handler.
func (a *API) run(c *call, rt route) (int, any, error) {
	if rt.access == anyone {
		return rt.h(c)
	}
	token, err := bearer(c.r)
	if err != nil {
		return 0, nil, err
	}
	org := c.r.PathValue("org")
	var p authn.Principal
	if id, ok := c.ctx.Value(sessionTokenKey{}).(string); ok && token == "" {
		p, err = a.authn.AuthenticateID(c.ctx, id, org)
	} else {
		p, err = a.authn.Authenticate(c.ctx, token, org)
	}
	if err != nil {
		return 0, nil, err
	}
	c.principal, c.authenticated = p, true
	c.record.Principal = p.String()
	if org != "" {
		if err := a.admit(c, rt, org); err != nil {
			return 0, nil, err
		}
	}
	return rt.h(c)
}

// admit lets c's principal reach org (authz.Admit): with a role in it, or, on routes open
// to public datasets, when the path names a public dataset it may read. Everyone else gets
// the same Permission error whether or not the org or the dataset exists, before the
// handler reads the body; only superusers learn that an org does not exist (NotFound).
func (a *API) admit(c *call, rt route, org string) error {
	p := c.principal
	if rt.access == publicDatasets && a.authz.Superuser(p) != nil {
		role, err := a.authz.Role(c.ctx, p, org)
		if err != nil {
			return err
		}
		if !role.Valid() {
			d, err := a.store.Dataset(c.ctx, org, c.r.PathValue("name"))
			if err == nil && a.authz.Dataset(c.ctx, p, d, api.ModeRead) == nil {
				return nil
			}
			if err != nil && !errs.Is(errs.NotFound, err) {
				return err
			}
		}
	}
	return a.authz.Admit(c.ctx, p, org)
}

// sessionTokenKey is the context key of WithSessionToken.
type sessionTokenKey struct{}

// WithSessionToken returns ctx for API requests sent in process on behalf of the token with
// row ID id (the console, for a session started with that token). Such a request without an
// Authorization header is authenticated as the token itself would be, with its state now
// (authn.AuthenticateID), and then served and audited like any other. Requests from the
// network cannot carry the key, so they never reach this path.
func WithSessionToken(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, sessionTokenKey{}, id)
}

func bearer(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", nil
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", errs.E(errs.Unauthenticated, "the Authorization header must be \"Bearer <token>\"")
	}
	return strings.TrimSpace(token), nil
}

// decode reads the JSON body of c into v: at most MaxBodyBytes, one value, field names
// matched exactly (case-sensitively), no unknown or duplicate fields. An empty body decodes
// as the zero value when allowEmpty is set. Errors are of kind Invalid (TooLarge past the
// limit) and describe the problem in tarn's words, never quoting the body.
func decode(c *call, v any, allowEmpty bool) error {
	body := http.MaxBytesReader(nil, c.r.Body, MaxBodyBytes)
	data, err := io.ReadAll(body)
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return errs.E(errs.TooLarge, "request body is larger than %d bytes", MaxBodyBytes)
	}
	if err != nil {
		return errs.Wrap(errs.Invalid, err, "cannot read request body")
	}
	switch trimmed := bytes.TrimSpace(data); {
	case len(trimmed) == 0 && allowEmpty:
		return nil
	case len(trimmed) == 0:
		return errs.E(errs.Invalid, "request body is empty; send a JSON object")
	case string(trimmed) == "null":
		return errs.E(errs.Invalid, "request body is null; send a JSON object")
	}
	// Unmarshal, with its pooled decoder, is many times cheaper than a decoder of one's
	// own; a body it refuses is decoded again value by value, to say what is wrong with it.
	if json.Unmarshal(data, v, json.RejectUnknownMembers(true)) == nil {
		return nil
	}
	dec := jsontext.NewDecoder(bytes.NewReader(data))
	if err := json.UnmarshalDecode(dec, v, json.RejectUnknownMembers(true)); err != nil {
		// Not wrapped: the decoder's own message may quote the body, which may hold secrets.
		return errs.E(errs.Invalid, "request body: %s", jsonProblem(err))
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		return errs.E(errs.Invalid, "request body holds more than one JSON value")
	}
	return errs.E(errs.Invalid, "request body: invalid JSON")
}

// jsonProblem describes a decoding error without quoting the input, which may hold secrets.
func jsonProblem(err error) string {
	var syntax *jsontext.SyntacticError
	var semantic *json.SemanticError
	switch {
	case errors.As(err, &syntax) && errors.Is(syntax.Err, jsontext.ErrDuplicateName):
		return fmt.Sprintf("field %q appears more than once", pointerName(syntax.JSONPointer))
	case errors.As(err, &syntax) && errors.Is(syntax.Err, io.ErrUnexpectedEOF):
		return "truncated JSON"
	case errors.As(err, &syntax):
		return fmt.Sprintf("invalid JSON at byte %d", syntax.ByteOffset)
	case errors.As(err, &semantic) && errors.Is(semantic.Err, json.ErrUnknownName):
		return fmt.Sprintf("unknown field %q (field names are case-sensitive)", pointerName(semantic.JSONPointer))
	case errors.As(err, &semantic) && semantic.GoType != nil && semantic.JSONPointer != "":
		return fmt.Sprintf("field %q must be %s", pointerName(semantic.JSONPointer), jsonKind(semantic.GoType))
	case errors.As(err, &semantic):
		return "want a JSON object"
	}
	return "invalid JSON"
}

// pointerName returns the field a JSON pointer names: its path without the leading slash,
// cut to 100 bytes.
func pointerName(p jsontext.Pointer) string {
	s := strings.TrimPrefix(string(p), "/")
	if len(s) > 100 {
		s = s[:100] + "..."
	}
	return s
}

// jsonKind names the JSON that decodes into t.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer in range"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map:
		return "an object"
	case reflect.Struct:
		if t == reflect.TypeFor[time.Time]() {
			return "an RFC 3339 time string"
		}
		return "an object"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return t.String()
}

// publicDetail is the user-facing detail of err: the detail of an *errs.Error, or a
// generic line for anything else, whose text may hold internals.
func publicDetail(err error) string {
	var e *errs.Error
	if errors.As(err, &e) && e.Kind != errs.Internal && e.Detail != "" {
		return e.Detail
	}
	return "internal error; the server log has the details"
}

func problem(err error, requestID string) *api.Problem {
	k := errs.KindOf(err)
	status := errs.Status(k)
	code := api.CodeInternal
	var e *errs.Error
	if errors.As(err, &e) && e.Code != "" {
		code = e.Code
	}
	return &api.Problem{
		Type:       "about:blank",
		Title:      http.StatusText(status),
		Status:     status,
		Detail:     publicDetail(err),
		Code:       code,
		Field:      errs.FieldOf(err),
		RequestID:  requestID,
		RetryAfter: errs.RetryAfter(err),
	}
}

// writeProblem answers p; one that asks for a wait (a 503) says how long in whole seconds,
// rounded up, in Retry-After.
func writeProblem(w http.ResponseWriter, p *api.Problem) {
	if p.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.FormatInt(int64((p.RetryAfter+time.Second-1)/time.Second), 10))
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	stdjson.NewEncoder(w).Encode(p)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	stdjson.NewEncoder(w).Encode(v)
}

func newRequestID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}
