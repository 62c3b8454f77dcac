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

// Log writes audit records to the store and mirrors each to the logger.
type Log struct {
	Store  store.Store
	Logger *slog.Logger // nil: no mirror
	Now    func() time.Time
}

// Field limits: Record cuts longer values (parts of a record can come from a request,
// e.g. an org name in a URL or a claimed token subject).
const (
	MaxField  = 256  // request ID, principal, org, action, mode, result, key ID
	MaxTarget = 1024 // target
	MaxDetail = 2048 // detail
)

// Record stamps r with the time and the request ID of ctx, cuts its fields to their
// limits and stores it. It returns the store's error, so that callers can refuse an action
// that could not be audited.
func (l *Log) Record(ctx context.Context, r store.AuditRecord) error {
	if l.Now != nil {
		r.Time = l.Now()
	} else {
		r.Time = time.Now()
	}
	if r.RequestID == "" {
		r.RequestID = RequestID(ctx)
	}
	for _, f := range []*string{&r.RequestID, &r.Principal, &r.Org, &r.Action, &r.Mode, &r.Result, &r.KeyID} {
		*f = Cap(*f, MaxField)
	}
	r.Target, r.Detail = Cap(r.Target, MaxTarget), Cap(r.Detail, MaxDetail)
	_, err := l.Store.AppendAudit(ctx, r)
	if l.Logger != nil {
		l.Logger.LogAttrs(ctx, slog.LevelInfo, "audit",
			slog.String("request_id", r.RequestID), slog.String("principal", r.Principal),
			slog.String("org", r.Org), slog.String("action", r.Action), slog.String("target", r.Target),
			slog.String("mode", r.Mode), slog.String("result", r.Result), slog.String("key_id", r.KeyID),
			slog.String("detail", r.Detail))
	}
	return err
}

// Cap returns s cut to at most n bytes of valid UTF-8, marked with "..." when cut.
func Cap(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
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
