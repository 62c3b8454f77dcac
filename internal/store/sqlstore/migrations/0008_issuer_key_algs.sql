-- Shared by both databases (see migrate.go for the vocabulary of such files).
-- A generation of issuer keys holds one key per signing algorithm (ES256, and RS256 for
-- clouds that accept no other, such as Entra ID), all added in one transaction.
CREATE TABLE issuer_keys_by_alg (
    generation  {{bigint}} NOT NULL,
    alg         TEXT NOT NULL,
    kid         TEXT NOT NULL UNIQUE,
    public_jwk  {{bytes}} NOT NULL,
    private_key {{bytes}} NOT NULL,
    created_at  {{time}} NOT NULL,
    not_before  {{time}} NOT NULL,
    retired_at  {{time}},
    PRIMARY KEY (generation, alg)
){{strict}};
INSERT INTO issuer_keys_by_alg (generation, alg, kid, public_jwk, private_key, created_at, not_before, retired_at)
    SELECT generation, alg, kid, public_jwk, private_key, created_at, not_before, retired_at FROM issuer_keys;
DROP TABLE issuer_keys;
ALTER TABLE issuer_keys_by_alg RENAME TO issuer_keys;
