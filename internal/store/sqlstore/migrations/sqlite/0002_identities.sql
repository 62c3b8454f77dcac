-- Workload identities, and tokens minted for them: such a token has no user.

CREATE TABLE identities (
    org        TEXT NOT NULL REFERENCES orgs (name),
    name       TEXT NOT NULL,
    provider   TEXT NOT NULL,
    role       TEXT NOT NULL,
    issuers    TEXT NOT NULL, -- JSON array of the issuers, also in identity_issuers
    config     BLOB NOT NULL,
    created_at INTEGER,
    created_by TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (org, name)
) STRICT;

CREATE TABLE identity_issuers (
    org    TEXT NOT NULL,
    name   TEXT NOT NULL,
    issuer TEXT NOT NULL,
    PRIMARY KEY (org, name, issuer),
    FOREIGN KEY (org, name) REFERENCES identities (org, name) ON DELETE CASCADE
) STRICT;

CREATE INDEX identity_issuers_issuer ON identity_issuers (issuer, org, name);

-- SQLite cannot drop NOT NULL: rebuild tokens, keeping every row.
CREATE TABLE tokens_new (
    id           TEXT PRIMARY KEY,
    user_name    TEXT REFERENCES users (name),
    identity     TEXT NOT NULL DEFAULT '',
    name         TEXT NOT NULL DEFAULT '',
    hash         BLOB NOT NULL UNIQUE,
    org          TEXT REFERENCES orgs (name),
    role         TEXT NOT NULL DEFAULT '',
    created_at   INTEGER,
    expires_at   INTEGER,
    last_used_at INTEGER,
    revoked_at   INTEGER,
    CHECK (user_name IS NOT NULL OR identity <> '')
) STRICT;

INSERT INTO tokens_new (id, user_name, name, hash, org, role, created_at, expires_at, last_used_at, revoked_at)
    SELECT id, user_name, name, hash, org, role, created_at, expires_at, last_used_at, revoked_at FROM tokens;

DROP TABLE tokens;

ALTER TABLE tokens_new RENAME TO tokens;

CREATE INDEX tokens_user ON tokens (user_name, created_at);

CREATE INDEX tokens_identity ON tokens (identity) WHERE identity <> '';
