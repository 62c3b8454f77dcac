// Package audit records who did what: every vend, token exchange, permission change and
// denial becomes one store.AuditRecord. Records carry identifiers (token IDs, creds key
// names and versions), never secrets.
package audit

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/store"
)

// Results of an audited action.
const (
	OK     = "ok"
	Denied = "denied"
	Failed = "error"
)

// Log writes audit records to the store and mirrors each to the logger. Records are
// committed in batches by one goroutine per Log (see Record); New starts it and Close stops
// it. A Log is safe for concurrent use.
type Log struct {
	logger *slog.Logger
	now    func() time.Time
	w      *writer
}

// Options configure a Log. Store is required.
type Options struct {
	Store  store.Store
	Logger *slog.Logger     // nil: no mirror
	Now    func() time.Time // nil: time.Now
	// MaxBatch is the most records one transaction stores; zero means DefaultMaxBatch.
	MaxBatch int
	// MaxWait is how long a batch that is not full waits for more records before it is
	// committed. Zero means no wait: the records that arrive while one batch commits form
	// the next, which under load fills batches as well as waiting does, and costs an idle
	// server's requests no latency.
	MaxWait time.Duration
}

// New returns a Log on o.Store and starts its writer.
func New(o Options) *Log {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Log{logger: o.Logger, now: o.Now, w: newWriter(o.Store, o.MaxBatch, o.MaxWait)}
}

// Close stops taking records, commits those already handed to Record and returns once they
// are committed (or failed). Record returns an error of kind Unavailable after Close. Calls
// after the first do nothing.
func (l *Log) Close() error {
	l.w.close()
	return nil
}

// Field limits: Record cuts longer values (parts of a record can come from a request,
// e.g. an org name in a URL or a claimed token subject).
const (
	MaxField  = 256  // request ID, principal, org, action, mode, result, key ID
	MaxTarget = 1024 // target
	MaxDetail = 2048 // detail
)

// Record stamps r with the time and the request ID of ctx, cuts its fields to their
// limits, stores it and mirrors it to the logger. It returns once the transaction holding
// r has committed, with nil, or with the store's error, which fails every record of that
// transaction, so that callers can refuse an action that could not be audited. If ctx ends
// first, Record returns ctx's error at once; r may still be committed later.
func (l *Log) Record(ctx context.Context, r store.AuditRecord) error {
	r.Time = l.now()
	if r.RequestID == "" {
		r.RequestID = RequestID(ctx)
	}
	for _, f := range []*string{&r.RequestID, &r.Principal, &r.Org, &r.Action, &r.Mode, &r.Result, &r.KeyID} {
		*f = Cap(*f, MaxField)
	}
	r.Target, r.Detail = Cap(r.Target, MaxTarget), Cap(r.Detail, MaxDetail)
	_, err := l.w.append(ctx, r)
	l.mirror(ctx, &r)
	return err
}

// mirror logs r at level Info, if the logger takes it.
func (l *Log) mirror(ctx context.Context, r *store.AuditRecord) {
	if l.logger == nil {
		return
	}
	l.logger.LogAttrs(ctx, slog.LevelInfo, "audit",
		slog.String("request_id", r.RequestID), slog.String("principal", r.Principal),
		slog.String("org", r.Org), slog.String("action", r.Action), slog.String("target", r.Target),
		slog.String("mode", r.Mode), slog.String("result", r.Result), slog.String("key_id", r.KeyID),
		slog.String("detail", r.Detail))
}

// Cap returns s cut to at most n bytes of valid UTF-8 without NUL bytes, marked with "..."
// when cut. Invalid bytes and NULs (which PostgreSQL refuses in text, failing the whole
// batch of records) become U+FFFD.
func Cap(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	}
	if len(s) <= n {
		return s
	}
	cut := n - len("...")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// ResultOf classifies the outcome of an action: OK, Denied (refused for lack of
// authentication or permission) or Failed.
func ResultOf(err error) string {
	switch k := errs.KindOf(err); {
	case err == nil:
		return OK
	case k == errs.Permission || k == errs.Unauthenticated:
		return Denied
	}
	return Failed
}

// KeyID names a creds key version in audit records: "org/name@vN".
func KeyID(k store.CredsKey) string { return fmt.Sprintf("%s/%s@v%d", k.Org, k.Name, k.Version) }

type requestIDKey struct{}

// WithRequestID returns ctx carrying a request ID.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the request ID carried by ctx, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}
