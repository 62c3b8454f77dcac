-- Times are microseconds since the Unix epoch in UTC; NULL stands for the zero time.
-- An empty creds key reference is NULL so that the foreign keys skip it.

CREATE TABLE users (
    name       TEXT PRIMARY KEY,
    superuser  INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER
) STRICT;

CREATE TABLE orgs (
    name              TEXT PRIMARY KEY,
    created_at        INTEGER,
    default_location  TEXT NOT NULL DEFAULT '',
    default_creds_key TEXT,
    FOREIGN KEY (name, default_creds_key) REFERENCES creds_keys (org, name)
) STRICT;

CREATE TABLE members (
    org       TEXT NOT NULL REFERENCES orgs (name),
    user_name TEXT NOT NULL REFERENCES users (name),
    role      TEXT NOT NULL,
    PRIMARY KEY (org, user_name)
) STRICT;

CREATE INDEX members_user ON members (user_name, org);

CREATE TABLE tokens (
    id           TEXT PRIMARY KEY,
    user_name    TEXT NOT NULL REFERENCES users (name),
    name         TEXT NOT NULL DEFAULT '',
    hash         BLOB NOT NULL UNIQUE,
    org          TEXT REFERENCES orgs (name),
    role         TEXT NOT NULL DEFAULT '',
    created_at   INTEGER,
    expires_at   INTEGER,
    last_used_at INTEGER,
    revoked_at   INTEGER
) STRICT;

CREATE INDEX tokens_user ON tokens (user_name, created_at);

CREATE TABLE creds_keys (
    org        TEXT NOT NULL REFERENCES orgs (name),
    name       TEXT NOT NULL,
    provider   TEXT NOT NULL,
    config     BLOB NOT NULL,
    secret     BLOB,
    version    INTEGER NOT NULL,
    created_at INTEGER,
    updated_at INTEGER,
    PRIMARY KEY (org, name)
) STRICT;

CREATE TABLE datasets (
    org        TEXT NOT NULL REFERENCES orgs (name),
    name       TEXT NOT NULL,
    location   TEXT NOT NULL,
    creds_key  TEXT,
    public     INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER,
    created_by TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (org, name),
    FOREIGN KEY (org, creds_key) REFERENCES creds_keys (org, name)
) STRICT;

CREATE INDEX datasets_creds_key ON datasets (org, creds_key);

CREATE TABLE dataset_linked_keys (
    org       TEXT NOT NULL,
    dataset   TEXT NOT NULL,
    creds_key TEXT NOT NULL,
    PRIMARY KEY (org, dataset, creds_key),
    FOREIGN KEY (org, dataset) REFERENCES datasets (org, name) ON DELETE CASCADE,
    FOREIGN KEY (org, creds_key) REFERENCES creds_keys (org, name)
) STRICT;

CREATE INDEX dataset_linked_keys_creds_key ON dataset_linked_keys (org, creds_key);

CREATE TABLE audit (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    time       INTEGER,
    request_id TEXT NOT NULL DEFAULT '',
    principal  TEXT NOT NULL DEFAULT '',
    org        TEXT NOT NULL DEFAULT '',
    action     TEXT NOT NULL DEFAULT '',
    target     TEXT NOT NULL DEFAULT '',
    mode       TEXT NOT NULL DEFAULT '',
    result     TEXT NOT NULL DEFAULT '',
    detail     TEXT NOT NULL DEFAULT '',
    key_id     TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX audit_org_time ON audit (org, time, id);
