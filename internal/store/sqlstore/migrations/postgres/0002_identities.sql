-- Workload identities, and tokens minted for them: such a token has no user.

CREATE TABLE identities (
    org        text NOT NULL REFERENCES orgs (name),
    name       text NOT NULL,
    provider   text NOT NULL,
    role       text NOT NULL,
    issuers    text NOT NULL, -- JSON array of the issuers, also in identity_issuers
    config     bytea NOT NULL,
    created_at timestamptz,
    created_by text NOT NULL DEFAULT '',
    PRIMARY KEY (org, name)
);

CREATE TABLE identity_issuers (
    org    text NOT NULL,
    name   text NOT NULL,
    issuer text NOT NULL,
    PRIMARY KEY (org, name, issuer),
    FOREIGN KEY (org, name) REFERENCES identities (org, name) ON DELETE CASCADE
);

CREATE INDEX identity_issuers_issuer ON identity_issuers (issuer, org, name);

ALTER TABLE tokens ALTER COLUMN user_name DROP NOT NULL;
ALTER TABLE tokens ADD COLUMN identity text NOT NULL DEFAULT '';
ALTER TABLE tokens ADD CONSTRAINT tokens_owner CHECK (user_name IS NOT NULL OR identity <> '');

CREATE INDEX tokens_identity ON tokens (identity) WHERE identity <> '';
