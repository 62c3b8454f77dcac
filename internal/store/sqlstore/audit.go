package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tarnhq/tarn/internal/store"
)

// auditColumns are the columns an append writes, in the order of auditArgs.
const auditColumns = `INSERT INTO audit (time, request_id, principal, org, action, target, mode, result, detail, key_id) VALUES `

// auditRow is the placeholders of one appended record.
const auditRow = `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// auditArgs appends the values of r, in the order of auditColumns, to args.
func (s *Store) auditArgs(args []any, r store.AuditRecord) []any {
	return append(args, s.d.time(r.Time), r.RequestID, r.Principal, r.Org, r.Action, r.Target, r.Mode, r.Result, r.Detail, r.KeyID)
}

// AppendAudit stores r and returns its ID; IDs increase.
func (s *Store) AppendAudit(ctx context.Context, r store.AuditRecord) (int64, error) {
	var id int64
	err := s.execReturning(ctx, auditColumns+auditRow+` RETURNING id`, s.auditArgs(nil, r), &id)
	if err != nil {
		return 0, s.fail("append audit record", err)
	}
	return id, nil
}

// maxAuditRows is the most records one INSERT statement of AppendAudits writes, so that
// its placeholders stay well below either database's limit (SQLite 32766, PostgreSQL 65535).
// It is a power of two: see auditChunks.
const maxAuditRows = 256

// auditChunks returns the sizes of the INSERTs that write n records: powers of two, largest
// first, at most maxAuditRows. There are few such statements, so each is prepared once per
// connection instead of parsed at every batch, and a batch of n takes at most
// n/maxAuditRows + 8 of them.
func auditChunks(n int) []int {
	var sizes []int
	for n > 0 {
		size := maxAuditRows
		for size > n {
			size /= 2
		}
		sizes = append(sizes, size)
		n -= size
	}
	return sizes
}

// AppendAudits stores rs in one transaction, all of them or none, and returns their IDs,
// which increase in the order of rs. It writes them with multi-row INSERTs (auditChunks):
// both databases assign the IDs of one statement in the order of its rows, and since
// RETURNING promises no order, the IDs are sorted before they are handed out.
func (s *Store) AppendAudits(ctx context.Context, rs []store.AuditRecord) ([]int64, error) {
	if len(rs) == 0 {
		return nil, nil
	}
	ids := make([]int64, 0, len(rs))
	err := s.inTx(ctx, func(tx txn) error {
		for _, size := range auditChunks(len(rs)) {
			chunk := rs[len(ids) : len(ids)+size]
			q := auditColumns + strings.Repeat(auditRow+", ", size-1) + auditRow + ` RETURNING id`
			args := make([]any, 0, 10*size)
			for _, r := range chunk {
				args = s.auditArgs(args, r)
			}
			var rows *sql.Rows
			var err error
			if st := s.prepared(ctx, q); st != nil {
				rows, err = tx.StmtContext(ctx, st).QueryContext(ctx, args...)
			} else {
				rows, err = tx.QueryContext(ctx, s.d.rebind(q), args...)
			}
			if err != nil {
				return err
			}
			start := len(ids)
			for rows.Next() {
				var id int64
				if err := rows.Scan(&id); err != nil {
					rows.Close()
					return err
				}
				ids = append(ids, id)
			}
			if err := rows.Close(); err != nil {
				return err
			}
			if err := rows.Err(); err != nil {
				return err
			}
			if len(ids)-start != len(chunk) {
				return fmt.Errorf("%d IDs returned for %d records", len(ids)-start, len(chunk))
			}
			slices.Sort(ids[start:])
		}
		return nil
	})
	if err != nil {
		return nil, s.fail("append audit records", err)
	}
	return ids, nil
}

// DeleteAuditBefore deletes up to limit records (1000 when limit is 0 or less) whose time
// is before t, oldest first, in one transaction, and returns how many it deleted. Records
// without a time are kept.
func (s *Store) DeleteAuditBefore(ctx context.Context, t time.Time, limit int) (int, error) {
	if limit <= 0 {
		limit = 1000
	}
	res, err := s.exec(ctx, `DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE time < ? ORDER BY time LIMIT ?)`,
		s.d.time(t), limit)
	if err != nil {
		return 0, s.fail("delete old audit records", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, s.fail("delete old audit records", err)
	}
	return int(n), nil
}

// Audit returns the records of q.Org at or after q.Since, before q.Until, with an ID below
// q.BeforeID, action q.Action, result q.Result and principal q.Principal with any token
// (each only when set): the newest q.Limit of them (1000
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
	if q.Result != "" {
		query += ` AND result = ?`
		args = append(args, q.Result)
	}
	if q.Principal != "" {
		// The principal alone or with any token: "ann" or "ann (tok_...)", never "anna".
		withToken := q.Principal + " ("
		query += ` AND (principal = ? OR substr(principal, 1, ?) = ?)`
		args = append(args, q.Principal, utf8.RuneCountInString(withToken), withToken)
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
