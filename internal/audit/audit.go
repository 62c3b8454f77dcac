// Package audit records who did what: every vend, token exchange, permission change and
// denial becomes one store.AuditRecord. Records carry identifiers (token IDs, creds key
// names and versions), never secrets.
package audit

import (
	"context"
	"fmt"
	"log/slog"
	"time"

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

// Record stamps r with the time and the request ID of ctx and stores it. It returns the
// store's error, so that callers can refuse an action that could not be audited.
func (l *Log) Record(ctx context.Context, r store.AuditRecord) error {
	if l.Now != nil {
		r.Time = l.Now()
	} else {
		r.Time = time.Now()
	}
	if r.RequestID == "" {
		r.RequestID = RequestID(ctx)
	}
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
