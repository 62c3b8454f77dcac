-- Times are timestamptz (microseconds); NULL stands for the zero time.
-- An empty creds key reference is NULL so that the foreign keys skip it.

CREATE TABLE users (
    name       text PRIMARY KEY,
    superuser  boolean NOT NULL DEFAULT false,
    created_at timestamptz
);

CREATE TABLE orgs (
    name              text PRIMARY KEY,
    created_at        timestamptz,
    default_location  text NOT NULL DEFAULT '',
    default_creds_key text
);

CREATE TABLE members (
    org       text NOT NULL REFERENCES orgs (name),
    user_name text NOT NULL REFERENCES users (name),
    role      text NOT NULL,
    PRIMARY KEY (org, user_name)
);

CREATE INDEX members_user ON members (user_name, org);

CREATE TABLE tokens (
    id           text PRIMARY KEY,
    user_name    text NOT NULL REFERENCES users (name),
    name         text NOT NULL DEFAULT '',
    hash         bytea NOT NULL UNIQUE,
    org          text REFERENCES orgs (name),
    role         text NOT NULL DEFAULT '',
    created_at   timestamptz,
    expires_at   timestamptz,
    last_used_at timestamptz,
    revoked_at   timestamptz
);

CREATE INDEX tokens_user ON tokens (user_name, created_at);

CREATE TABLE creds_keys (
    org        text NOT NULL REFERENCES orgs (name),
    name       text NOT NULL,
    provider   text NOT NULL,
    config     bytea NOT NULL,
    secret     bytea,
    version    bigint NOT NULL,
    created_at timestamptz,
    updated_at timestamptz,
    PRIMARY KEY (org, name)
);

ALTER TABLE orgs ADD FOREIGN KEY (name, default_creds_key) REFERENCES creds_keys (org, name);

CREATE TABLE datasets (
    org        text NOT NULL REFERENCES orgs (name),
    name       text NOT NULL,
    location   text NOT NULL,
    creds_key  text,
    public     boolean NOT NULL DEFAULT false,
    created_at timestamptz,
    created_by text NOT NULL DEFAULT '',
    PRIMARY KEY (org, name),
    FOREIGN KEY (org, creds_key) REFERENCES creds_keys (org, name)
);

CREATE INDEX datasets_creds_key ON datasets (org, creds_key);

CREATE TABLE dataset_linked_keys (
    org       text NOT NULL,
    dataset   text NOT NULL,
    creds_key text NOT NULL,
    PRIMARY KEY (org, dataset, creds_key),
    FOREIGN KEY (org, dataset) REFERENCES datasets (org, name) ON DELETE CASCADE,
    FOREIGN KEY (org, creds_key) REFERENCES creds_keys (org, name)
);

CREATE INDEX dataset_linked_keys_creds_key ON dataset_linked_keys (org, creds_key);

CREATE TABLE audit (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    time       timestamptz,
    request_id text NOT NULL DEFAULT '',
    principal  text NOT NULL DEFAULT '',
    org        text NOT NULL DEFAULT '',
    action     text NOT NULL DEFAULT '',
    target     text NOT NULL DEFAULT '',
    mode       text NOT NULL DEFAULT '',
    result     text NOT NULL DEFAULT '',
    detail     text NOT NULL DEFAULT '',
    key_id     text NOT NULL DEFAULT ''
);

CREATE INDEX audit_org_time ON audit (org, time NULLS FIRST, id);
