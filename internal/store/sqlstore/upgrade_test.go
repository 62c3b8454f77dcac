package sqlstore_test

import (
	"database/sql"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/pgtest"
	"github.com/tarnhq/tarn/internal/store"
	"github.com/tarnhq/tarn/internal/store/sqlstore"
)

// TestUpgrade opens databases as earlier versions of tarn left them (migrations 0001 and
// 0002 applied and recorded, rows in every table) and checks that every row reads back,
// that the new migrations apply, and that writes work.
func TestUpgrade(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "tarn.db")
		db, err := sql.Open("sqlite", path+"?_pragma=foreign_keys(1)")
		if err != nil {
			t.Fatal(err)
		}
		oldDatabase(t, db, "sqlite", `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`,
			func(t time.Time) any { return t.UnixMicro() })
		checkUpgraded(t, db, openSQLite(t, path))
	})
	t.Run("postgres", func(t *testing.T) {
		url := pgtest.URL(t)
		db, err := sql.Open("pgx", url)
		if err != nil {
			t.Fatal(err)
		}
		oldDatabase(t, db, "postgres", `CREATE TABLE schema_migrations (version bigint PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
			func(t time.Time) any { return t })
		checkUpgraded(t, db, openPostgres(t, url))
	})
}

// t1 is the time of every row of the old database.
var t1 = time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC)

// oldDatabase applies migrations/<dialect>/0001 and 0002 to db, records them as the
// earlier versions did (schema is their schema_migrations table) and adds rows, with times
// encoded by tm.
func oldDatabase(t *testing.T, db *sql.DB, dialect, schema string, tm func(time.Time) any) {
	t.Helper()
	t.Cleanup(func() { db.Close() })
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for _, f := range []string{"0001_init.sql", "0002_identities.sql"} {
		text, err := os.ReadFile(filepath.Join("migrations", dialect, f))
		if err != nil {
			t.Fatal(err)
		}
		exec(string(text))
	}
	exec(schema)
	exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (1, $1), (2, $2)`, tm(t1), tm(t1))
	exec(`INSERT INTO users (name, superuser, created_at) VALUES ('ann', $1, $2), ('root', $3, $4)`, false, tm(t1), true, tm(t1))
	exec(`INSERT INTO orgs (name, created_at) VALUES ('acme', $1)`, tm(t1))
	exec(`INSERT INTO creds_keys (org, name, provider, config, secret, version, created_at, updated_at) VALUES ('acme', 'k1', 'file', $1, $2, 3, $3, $4)`,
		[]byte(`{}`), []byte{1}, tm(t1), tm(t1))
	exec(`UPDATE orgs SET default_location = 's3://b/acme', default_creds_key = 'k1' WHERE name = 'acme'`)
	exec(`INSERT INTO members (org, user_name, role) VALUES ('acme', 'ann', 'admin')`)
	exec(`INSERT INTO tokens (id, user_name, name, hash, org, role, created_at, expires_at) VALUES ('t1', 'ann', 'ci', $1, 'acme', 'reader', $2, $3)`,
		[]byte{1, 2}, tm(t1), tm(t1.Add(time.Hour)))
	exec(`INSERT INTO tokens (id, identity, hash, org, role, created_at) VALUES ('w1', 'acme/ci', $1, 'acme', 'reader', $2)`, []byte{3}, tm(t1))
	exec(`INSERT INTO datasets (org, name, location, creds_key, public, created_at, created_by) VALUES ('acme', 'coco', 's3://b/coco', 'k1', $1, $2, 'ann')`, true, tm(t1))
	exec(`INSERT INTO dataset_linked_keys (org, dataset, creds_key) VALUES ('acme', 'coco', 'k1')`)
	exec(`INSERT INTO identities (org, name, provider, role, issuers, config, created_at, created_by) VALUES ('acme', 'ci', 'github', 'reader', '["https://issuer"]', $1, $2, 'ann')`,
		[]byte(`{}`), tm(t1))
	exec(`INSERT INTO identity_issuers (org, name, issuer) VALUES ('acme', 'ci', 'https://issuer')`)
	for _, rid := range []string{"r1", "r2", "r3"} {
		exec(`INSERT INTO audit (time, request_id, org, action, result) VALUES ($1, $2, 'acme', 'vend', 'ok')`, tm(t1), rid)
	}
}

// checkUpgraded checks s, opened on the database that oldDatabase filled through db.
func checkUpgraded(t *testing.T, db *sql.DB, s *sqlstore.Store) {
	ctx := t.Context()
	check := func(what string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got  %+v\n want %+v", what, got, want)
		}
	}
	var versions []int
	rows, err := db.Query(`SELECT version FROM schema_migrations ORDER BY version`)
	must(t, err)
	for rows.Next() {
		var v int
		must(t, rows.Scan(&v))
		versions = append(versions, v)
	}
	must(t, rows.Err())
	check("applied migrations", versions, []int{1, 2, 3, 4, 5, 6, 7, 8})
	keys, err := s.IssuerKeys(ctx)
	must(t, err)
	check("issuer keys of an upgraded database", len(keys), 0)
	before, err := s.AccessVersion(ctx)
	must(t, err)
	must(t, s.PutMember(ctx, store.Member{Org: "acme", User: "root", Role: store.Admin}))
	after, err := s.AccessVersion(ctx)
	must(t, err)
	if after <= before {
		t.Errorf("access version %d after a membership change, %d before: the upgraded database does not count changes", after, before)
	}

	u, err := s.User(ctx, "root")
	must(t, err)
	check("user", u, store.User{Name: "root", Superuser: true, CreatedAt: t1})
	o, err := s.Org(ctx, "acme")
	must(t, err)
	check("org", o, store.Org{Name: "acme", CreatedAt: t1, DefaultLocation: "s3://b/acme", DefaultCredsKey: "k1"})
	m, err := s.Member(ctx, "acme", "ann")
	must(t, err)
	check("member", m, store.Member{Org: "acme", User: "ann", Role: store.Admin})
	tok, err := s.TokenByHash(ctx, []byte{1, 2})
	must(t, err)
	check("token", tok, store.Token{ID: "t1", User: "ann", Name: "ci", Hash: []byte{1, 2}, Org: "acme", Role: store.Reader, CreatedAt: t1, ExpiresAt: t1.Add(time.Hour)})
	k, err := s.PutCredsKey(ctx, store.CredsKey{Org: "acme", Name: "k1", Provider: "file", Config: []byte(`{}`), UpdatedAt: t1.Add(time.Minute)})
	must(t, err)
	check("creds key version after an update", k.Version, int64(4))
	check("creds key created at", k.CreatedAt, t1)
	d, err := s.Dataset(ctx, "acme", "coco")
	must(t, err)
	check("dataset", d, store.Dataset{Org: "acme", Name: "coco", Location: "s3://b/coco", CredsKey: "k1", Public: true, LinkedKeys: []string{"k1"}, CreatedAt: t1, CreatedBy: "ann"})
	must(t, s.SetDatasetPublic(ctx, "acme", "coco", false))
	if d, err := s.Dataset(ctx, "acme", "coco"); err != nil || d.Public {
		t.Errorf("dataset after SetDatasetPublic(false) = %+v, %v", d, err)
	}
	if err := s.CreateDataset(ctx, store.Dataset{Org: "acme", Name: "x", Location: "s3://b/coco/x"}); !errs.Is(errs.Conflict, err) {
		t.Errorf("CreateDataset inside an old dataset = %v, want Conflict", err)
	}
	must(t, s.CreateDataset(ctx, store.Dataset{Org: "acme", Name: "y", Location: "s3://b/y", CredsKey: "k1"}))
	ids, err := s.IdentitiesByIssuer(ctx, "https://issuer")
	must(t, err)
	check("identities", ids, []store.Identity{{Org: "acme", Name: "ci", Provider: "github", Role: store.Reader,
		Issuers: []string{"https://issuer"}, Config: []byte(`{}`), CreatedAt: t1, CreatedBy: "ann"}})
	must(t, s.DeleteIdentity(ctx, "acme", "ci", t1.Add(time.Hour)))
	w, err := s.Token(ctx, "w1")
	must(t, err)
	check("workload token revoked with its identity", w.RevokedAt, t1.Add(time.Hour))

	old, err := s.Audit(ctx, store.AuditQuery{Org: "acme"})
	must(t, err)
	if len(old) != 3 || old[0].RequestID != "r1" || !old[2].Time.Equal(t1) {
		t.Fatalf("old audit records = %+v", old)
	}
	id, err := s.AppendAudit(ctx, store.AuditRecord{Time: t1, RequestID: "r4", Org: "acme", Action: "vend"})
	must(t, err)
	if id <= old[2].ID {
		t.Errorf("new audit ID %d is not above the old ones (%d)", id, old[2].ID)
	}
	page, err := s.Audit(ctx, store.AuditQuery{Org: "acme", BeforeID: id, Limit: 2})
	must(t, err)
	if len(page) != 2 || page[0].RequestID != "r2" || page[1].RequestID != "r3" {
		t.Errorf("page before the new record = %+v, want r2, r3", page)
	}
}

// TestUpgradeKeepsIssuerKeysOf0007 turns a new database back into one that migration 0007
// left (one key per generation, keyed by generation alone) holding a key, and checks that
// migration 0008 keeps the key and lets a generation hold one key per algorithm.
func TestUpgradeKeepsIssuerKeysOf0007(t *testing.T) {
	for _, c := range []struct {
		name  string
		open  func(t *testing.T) (*sqlstore.Store, *sql.DB, func(t *testing.T) *sqlstore.Store)
		table string
		time  any // t1 as the dialect stores it
	}{
		{"sqlite", func(t *testing.T) (*sqlstore.Store, *sql.DB, func(t *testing.T) *sqlstore.Store) {
			path := filepath.Join(t.TempDir(), "tarn.db")
			db, err := sql.Open("sqlite", path)
			must(t, err)
			return openSQLite(t, path), db, func(t *testing.T) *sqlstore.Store { return openSQLite(t, path) }
		}, `CREATE TABLE issuer_keys (generation INTEGER PRIMARY KEY, kid TEXT NOT NULL UNIQUE, alg TEXT NOT NULL,
			public_jwk BLOB NOT NULL, private_key BLOB NOT NULL, created_at INTEGER NOT NULL, not_before INTEGER NOT NULL,
			retired_at INTEGER) STRICT`, t1.UnixMicro()},
		{"postgres", func(t *testing.T) (*sqlstore.Store, *sql.DB, func(t *testing.T) *sqlstore.Store) {
			url := pgtest.URL(t)
			db, err := sql.Open("pgx", url)
			must(t, err)
			return openPostgres(t, url), db, func(t *testing.T) *sqlstore.Store { return openPostgres(t, url) }
		}, `CREATE TABLE issuer_keys (generation bigint PRIMARY KEY, kid TEXT NOT NULL UNIQUE, alg TEXT NOT NULL,
			public_jwk bytea NOT NULL, private_key bytea NOT NULL, created_at timestamptz NOT NULL, not_before timestamptz NOT NULL,
			retired_at timestamptz)`, t1},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, db, reopen := c.open(t)
			t.Cleanup(func() { db.Close() })
			s.Close()
			for _, q := range []string{`DROP TABLE issuer_keys`, c.table, `DELETE FROM schema_migrations WHERE version >= 8`} {
				if _, err := db.Exec(q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			if _, err := db.Exec(`INSERT INTO issuer_keys (generation, kid, alg, public_jwk, private_key, created_at, not_before, retired_at)
				VALUES (1, 'old', 'ES256', $1, $2, $3, $4, NULL)`, []byte(`{"kty":"EC"}`), []byte{9}, c.time, c.time); err != nil {
				t.Fatal(err)
			}
			s = reopen(t)
			ks, err := s.IssuerKeys(t.Context())
			must(t, err)
			want := []store.IssuerKey{{Generation: 1, ID: "old", Alg: "ES256", Public: []byte(`{"kty":"EC"}`), Private: []byte{9}, CreatedAt: t1, NotBefore: t1}}
			if !reflect.DeepEqual(ks, want) {
				t.Fatalf("keys after 0008:\n got  %+v\n want %+v", ks, want)
			}
			next := []store.IssuerKey{
				{Generation: 2, ID: "es", Alg: "ES256", Public: []byte{1}, Private: []byte{1}, CreatedAt: t1, NotBefore: t1.Add(time.Hour)},
				{Generation: 2, ID: "rs", Alg: "RS256", Public: []byte{1}, Private: []byte{1}, CreatedAt: t1, NotBefore: t1.Add(time.Hour)},
			}
			must(t, s.AddIssuerKeys(t.Context(), next))
			if ks, err = s.IssuerKeys(t.Context()); err != nil || len(ks) != 3 || !ks[2].RetiredAt.Equal(t1.Add(time.Hour)) {
				t.Fatalf("keys after adding generation 2: %+v, %v; want 3, the old one retired", ks, err)
			}
		})
	}
}
