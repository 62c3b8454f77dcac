-- Shared by both databases (see migrate.go for the vocabulary of such files).
-- Console sessions: only the SHA-256 of a session ID is kept, with the token the session
-- came from (by its ID, never its secret). Sessions are not part of the access version:
-- every request of a session authenticates its token again.
CREATE TABLE sessions (
    hash         {{bytes}} PRIMARY KEY,
    token_id     TEXT NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
    created_at   {{time}} NOT NULL,
    last_seen_at {{time}} NOT NULL
){{strict}};

CREATE INDEX sessions_token ON sessions (token_id);
