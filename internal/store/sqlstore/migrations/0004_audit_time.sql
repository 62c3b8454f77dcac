-- Shared by both databases (see migrate.go for the vocabulary of such files).
-- Retention deletes the oldest records by time, a few at a time (DeleteAuditBefore): without
-- this index each batch, and the last one that finds nothing, would scan the whole table.
CREATE INDEX audit_time ON audit (time);
