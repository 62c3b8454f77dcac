package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/store"
)

// CreateSession adds se; Conflict if its hash is taken; NotFound if its token is absent.
func (s *Store) CreateSession(ctx context.Context, se store.Session) error {
	_, err := s.exec(ctx, `INSERT INTO sessions (hash, token_id, created_at, last_seen_at) VALUES (?, ?, ?, ?)`,
		nonNil(se.Hash), se.TokenID, s.d.time(se.CreatedAt), s.d.time(se.LastSeenAt))
	switch s.d.violation(err) {
	case uniqueViolation:
		return errs.E(errs.Conflict, "a session with the same ID already exists")
	case foreignKeyViolation:
		return s.notFound(ctx, "create session", err,
			lookup{`SELECT 1 FROM tokens WHERE id = ?`, []any{se.TokenID}, fmt.Sprintf("token %q not found", se.TokenID)})
	}
	return s.fail("create session", err)
}

// Session returns the session with the given SHA-256 hash; NotFound if none.
func (s *Store) Session(ctx context.Context, hash []byte) (store.Session, error) {
	se := store.Session{Hash: hash}
	err := s.queryRow(ctx, `SELECT token_id, created_at, last_seen_at FROM sessions WHERE hash = ?`, nonNil(hash)).
		Scan(&se.TokenID, ts(&se.CreatedAt), ts(&se.LastSeenAt))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Session{}, errs.E(errs.NotFound, "session not found")
	}
	if err != nil {
		return store.Session{}, s.fail("get session", err)
	}
	return se, nil
}

// TouchSession sets a session's LastSeenAt to at; NotFound if no such session.
func (s *Store) TouchSession(ctx context.Context, hash []byte, at time.Time) error {
	res, err := s.exec(ctx, `UPDATE sessions SET last_seen_at = ? WHERE hash = ?`, s.d.time(at), nonNil(hash))
	return s.mustChange(res, err, "touch session", "session not found")
}

// DeleteSession removes a session; removing one that does not exist is no error.
func (s *Store) DeleteSession(ctx context.Context, hash []byte) error {
	_, err := s.exec(ctx, `DELETE FROM sessions WHERE hash = ?`, nonNil(hash))
	return s.fail("delete session", err)
}

// DeleteExpiredSessions removes the sessions created before created or last used before
// lastSeen, and returns how many it removed.
func (s *Store) DeleteExpiredSessions(ctx context.Context, created, lastSeen time.Time) (int64, error) {
	res, err := s.exec(ctx, `DELETE FROM sessions WHERE created_at < ? OR last_seen_at < ?`, s.d.time(created), s.d.time(lastSeen))
	if err != nil {
		return 0, s.fail("delete expired sessions", err)
	}
	return res.RowsAffected()
}
