-- access_version counts the committed changes to what authenticating and admitting a
-- request reads (store.Store.AccessVersion): users, orgs, members, tokens (all but their last
-- use), workload identities, creds keys, datasets and their linked keys. Servers keep those
-- reads in memory and read only this one row per request to learn whether they still hold.
-- Its triggers run in the writing transaction, so the new count commits with the change.
CREATE TABLE access_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
) STRICT;

INSERT INTO access_version (id, version) VALUES (1, 0);

CREATE TRIGGER users_insert_access AFTER INSERT ON users
BEGIN UPDATE access_version SET version = version + 1; END;

CREATE TRIGGER users_update_access AFTER UPDATE ON users
BEGIN UPDATE access_version SET version = version + 1; END;

CREATE TRIGGER users_delete_access AFTER DELETE ON users
BEGIN UPDATE access_version SET version = version + 1; END;

CREATE TRIGGER orgs_insert_access AFTER INSERT ON orgs
BEGIN UPDATE access_version SET version = version + 1; END;

CREATE TRIGGER orgs_update_access AFTER UPDATE ON orgs
BEGIN UPDATE access_version SET version = version + 1; END;

CREATE TRIGGER orgs_delete_access AFTER DELETE ON orgs
BEGIN UPDATE access_version SET version = version + 1; END;

CREATE TRIGGER members_insert_access AFTER INSERT ON members
BEGIN UPDATE access_version SET version = version + 1; END;

CREATE TRIGGER members_update_access AFTER UPDATE ON members
BEGIN UPDATE access_version SET version = version + 1; END;

CREATE TRIGGER members_delete_access AFTER DELETE ON members
BEGIN UPDATE access_version SET version = version + 1; END;

CREATE TRIGGER identities_insert_access AFTER INSERT ON identities
BEGIN UPDATE access_version SET version = version + 1; END;

CREATE TRIGGER identities_update_access AFTER UPDATE ON identities
BEGIN UPDATE access_version SET version = version + 1; END;

CREATE TRIGGER identities_delete_access AFTER DELETE ON identities
BEGIN UPDATE access_version SET version = version + 1; END;

CREATE TRIGGER creds_keys_insert_access AFTER INSERT ON creds_keys
BEGIN UPDATE access_version SET version = version + 1; END;

CREATE TRIGGER creds_keys_update_access AFTER UPDATE ON creds_keys
BEGIN UPDATE access_version SET version = version + 1; END;

CREATE TRIGGER creds_keys_delete_access AFTER DELETE ON creds_keys
BEGIN UPDATE access_version SET version = version + 1; END;

CREATE TRIGGER datasets_insert_access AFTER INSERT ON datasets
BEGIN UPDATE access_version SET version = version + 1; END;

CREATE TRIGGER datasets_update_access AFTER UPDATE ON datasets
BEGIN UPDATE access_version SET version = version + 1; END;

CREATE TRIGGER datasets_delete_access AFTER DELETE ON datasets
BEGIN UPDATE access_version SET version = version + 1; END;

CREATE TRIGGER dataset_linked_keys_insert_access AFTER INSERT ON dataset_linked_keys
BEGIN UPDATE access_version SET version = version + 1; END;

CREATE TRIGGER dataset_linked_keys_update_access AFTER UPDATE ON dataset_linked_keys
BEGIN UPDATE access_version SET version = version + 1; END;

CREATE TRIGGER dataset_linked_keys_delete_access AFTER DELETE ON dataset_linked_keys
BEGIN UPDATE access_version SET version = version + 1; END;

-- Using a token (last_used_at) changes nothing that access reads.
CREATE TRIGGER tokens_update_access AFTER UPDATE OF id, user_name, identity, name, hash, org, role, created_at, expires_at, revoked_at ON tokens
BEGIN UPDATE access_version SET version = version + 1; END;

CREATE TRIGGER tokens_delete_access AFTER DELETE ON tokens
BEGIN UPDATE access_version SET version = version + 1; END;
