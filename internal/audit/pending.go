package audit

import (
	"context"

	"github.com/tarnhq/tarn/internal/store"
)

type pendingKey struct{}

// WithPending returns ctx carrying r, the audit record of the request being served, for
// the code that serves it to fill in (target, mode, key ID) through Pending.
func WithPending(ctx context.Context, r *store.AuditRecord) context.Context {
	return context.WithValue(ctx, pendingKey{}, r)
}

// Pending returns the audit record of the request in ctx. Without one it returns a record
// that goes nowhere, so callers never need to check.
func Pending(ctx context.Context) *store.AuditRecord {
	if r, ok := ctx.Value(pendingKey{}).(*store.AuditRecord); ok {
		return r
	}
	return &store.AuditRecord{}
}
