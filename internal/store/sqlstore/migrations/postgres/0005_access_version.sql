-- access_version counts the committed changes to what authenticating and admitting a
-- request reads (store.Store.AccessVersion): users, orgs, members, tokens (all but their last
-- use), workload identities, creds keys, datasets and their linked keys. Servers keep those
-- reads in memory and read only this one row per request to learn whether they still hold.
--
-- The triggers are deferred constraint triggers: they count at commit, in the writing
-- transaction, so the new count commits with the change, and a transaction takes the row's
-- lock last, when it waits for nothing else. Counting when a statement runs would let two
-- writers deadlock: one holding the row and waiting for a token, the other the reverse.
CREATE TABLE access_version (
    id      integer PRIMARY KEY CHECK (id = 1),
    version bigint NOT NULL
);

INSERT INTO access_version (id, version) VALUES (1, 0);

CREATE FUNCTION count_access_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE access_version SET version = version + 1;
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER users_access AFTER INSERT OR UPDATE OR DELETE ON users
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION count_access_change();

CREATE CONSTRAINT TRIGGER orgs_access AFTER INSERT OR UPDATE OR DELETE ON orgs
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION count_access_change();

CREATE CONSTRAINT TRIGGER members_access AFTER INSERT OR UPDATE OR DELETE ON members
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION count_access_change();

CREATE CONSTRAINT TRIGGER identities_access AFTER INSERT OR UPDATE OR DELETE ON identities
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION count_access_change();

CREATE CONSTRAINT TRIGGER creds_keys_access AFTER INSERT OR UPDATE OR DELETE ON creds_keys
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION count_access_change();

CREATE CONSTRAINT TRIGGER datasets_access AFTER INSERT OR UPDATE OR DELETE ON datasets
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION count_access_change();

CREATE CONSTRAINT TRIGGER dataset_linked_keys_access AFTER INSERT OR UPDATE OR DELETE ON dataset_linked_keys
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION count_access_change();

-- Using a token (last_used_at) changes nothing that access reads.
CREATE CONSTRAINT TRIGGER tokens_access
    AFTER UPDATE OF id, user_name, identity, name, hash, org, role, created_at, expires_at, revoked_at OR DELETE ON tokens
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION count_access_change();
