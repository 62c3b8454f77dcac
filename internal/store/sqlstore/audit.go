package sqlstore

import (
	"context"
	"slices"

	"github.com/tarnhq/tarn/internal/store"
)

// AppendAudit stores r and returns its ID; IDs increase.
func (s *Store) AppendAudit(ctx context.Context, r store.AuditRecord) (int64, error) {
	var id int64
	err := s.execReturning(ctx, `INSERT INTO audit (time, request_id, principal, org, action, target, mode, result, detail, key_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		[]any{s.d.time(r.Time), r.RequestID, r.Principal, r.Org, r.Action, r.Target, r.Mode, r.Result, r.Detail, r.KeyID},
		&id)
	if err != nil {
		return 0, s.fail("append audit record", err)
	}
	return id, nil
}

// Audit returns the records of q.Org at or after q.Since, before q.Until, with an ID below
// q.BeforeID and action q.Action (each only when set): the newest q.Limit of them (1000
// when q.Limit is 0 or less) by ID, oldest first.
func (s *Store) Audit(ctx context.Context, q store.AuditQuery) ([]store.AuditRecord, error) {
	query := `SELECT id, time, request_id, principal, org, action, target, mode, result, detail, key_id
		FROM audit WHERE org = ?`
	args := []any{q.Org}
	if !q.Since.IsZero() {
		query += ` AND time >= ?`
		args = append(args, s.d.time(q.Since))
	}
	if !q.Until.IsZero() {
		query += ` AND time < ?`
		args = append(args, s.d.time(q.Until))
	}
	if q.BeforeID > 0 {
		query += ` AND id < ?`
		args = append(args, q.BeforeID)
	}
	if q.Action != "" {
		query += ` AND action = ?`
		args = append(args, q.Action)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 1000
	}
	query += ` ORDER BY id DESC LIMIT ?`
	args = append(args, limit)
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return nil, s.fail("query audit", err)
	}
	rs, err := collect(rows, func(row scanner) (store.AuditRecord, error) {
		var r store.AuditRecord
		err := row.Scan(&r.ID, ts(&r.Time), &r.RequestID, &r.Principal, &r.Org, &r.Action, &r.Target,
			&r.Mode, &r.Result, &r.Detail, &r.KeyID)
		return r, err
	})
	if err != nil {
		return nil, s.fail("query audit", err)
	}
	slices.Reverse(rs) // the newest Limit records, oldest first
	return rs, nil
}
