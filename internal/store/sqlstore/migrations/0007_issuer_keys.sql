-- Shared by both databases (see migrate.go for the vocabulary of such files).
-- The signing keys of tarn's own OIDC issuer, shared by every server on the database. The
-- generation numbers the keys 1, 2, ...: a rotation inserts the next one, so of two servers
-- rotating at once only one succeeds. The private key is sealed under the master key.
CREATE TABLE issuer_keys (
    generation  {{bigint}} PRIMARY KEY,
    kid         TEXT NOT NULL UNIQUE,
    alg         TEXT NOT NULL,
    public_jwk  {{bytes}} NOT NULL,
    private_key {{bytes}} NOT NULL,
    created_at  {{time}} NOT NULL,
    not_before  {{time}} NOT NULL,
    retired_at  {{time}}
){{strict}};
