-- Shared by both databases (see migrate.go for the vocabulary of such files).
-- Audit pages are read newest first by ID within one org: Audit orders by ID and pages
-- with BeforeID.
CREATE INDEX audit_org_id ON audit (org, id);
