// Package storetest is the conformance suite of store.Store. Every implementation runs it
// against a real database, so that the SQLite and PostgreSQL stores behave the same way:
// same results, same ordering, same error kinds and the same user-facing details.
package storetest

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/store"
)

// Run runs the suite. open must return a new, empty store each time it is called; it is
// called from parallel subtests. Run closes every store it opens when its subtest ends.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		test func(t *testing.T, s store.Store)
	}{
		{"Users", testUsers},
		{"Orgs", testOrgs},
		{"DefaultStorage", testDefaultStorage},
		{"Members", testMembers},
		{"Tokens", testTokens},
		{"TokenRevokeAndTouch", testTokenRevokeAndTouch},
		{"TokenAuth", testTokenAuth},
		{"Sessions", testSessions},
		{"IssuerKeys", testIssuerKeys},
		{"AccessVersion", testAccessVersion},
		{"Identities", testIdentities},
		{"CredsKeys", testCredsKeys},
		{"DeleteCredsKey", testDeleteCredsKey},
		{"Datasets", testDatasets},
		{"DatasetPublic", testDatasetPublic},
		{"DatasetOverlap", testDatasetOverlap},
		{"DatasetOverlapRace", testDatasetOverlapRace},
		{"LinkedKeys", testLinkedKeys},
		{"Audit", testAudit},
		{"AuditDefaultLimit", testAuditDefaultLimit},
		{"AuditPages", testAuditPages},
		{"AuditBatches", testAuditBatches},
		{"DeleteAuditBefore", testDeleteAuditBefore},
		{"TimesRoundTrip", testTimes},
		{"ConcurrentWriters", testConcurrentWriters},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tt.test(t, s)
		})
	}
	t.Run("ClosedIsUnavailable", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		if err := s.Ping(t.Context()); err != nil {
			t.Fatalf("Ping on an open store: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		wantErr(t, s.Ping(t.Context()), errs.Unavailable, "")
		_, err := s.User(t.Context(), "ann")
		wantErr(t, err, errs.Unavailable, "")
	})
}

// t0 is the suite's reference time, a whole number of microseconds.
var t0 = time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// fixture adds users ann, bob and root (a superuser), orgs acme and beta, and creds keys
// acme/k1, acme/k2 and beta/k1.
func fixture(t *testing.T, s store.Store) {
	t.Helper()
	ctx := t.Context()
	for _, u := range []store.User{{Name: "ann", CreatedAt: t0}, {Name: "bob", CreatedAt: t0}, {Name: "root", Superuser: true, CreatedAt: t0}} {
		must(t, s.CreateUser(ctx, u))
	}
	for _, o := range []string{"acme", "beta"} {
		must(t, s.CreateOrg(ctx, store.Org{Name: o, CreatedAt: t0}))
	}
	for _, k := range [][2]string{{"acme", "k1"}, {"acme", "k2"}, {"beta", "k1"}} {
		_, err := s.PutCredsKey(ctx, store.CredsKey{Org: k[0], Name: k[1], Provider: "file", Config: []byte(`{}`), CreatedAt: t0, UpdatedAt: t0})
		must(t, err)
	}
}

func testUsers(t *testing.T, s store.Store) {
	ctx := t.Context()
	root := store.User{Name: "root", Superuser: true, CreatedAt: t0}
	ann := store.User{Name: "ann", CreatedAt: at(time.Hour)}
	must(t, s.CreateUser(ctx, root))
	must(t, s.CreateUser(ctx, ann))
	for _, want := range []store.User{root, ann} {
		got, err := s.User(ctx, want.Name)
		must(t, err)
		equal(t, "User", got, want)
	}
	wantErr(t, s.CreateUser(ctx, store.User{Name: "ann"}), errs.Conflict, `user "ann" already exists`)
	all, err := s.Users(ctx)
	must(t, err)
	equal(t, "Users, by name", all, []store.User{ann, root})
	_, err = s.User(ctx, "nobody")
	wantErr(t, err, errs.NotFound, `user "nobody" not found`)
}

func testOrgs(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateOrg(ctx, store.Org{Name: "acme", CreatedAt: t0}))
	got, err := s.Org(ctx, "acme")
	must(t, err)
	equal(t, "Org", got, store.Org{Name: "acme", CreatedAt: t0})
	wantErr(t, s.CreateOrg(ctx, store.Org{Name: "acme"}), errs.Conflict, `org "acme" already exists`)
	must(t, s.CreateOrg(ctx, store.Org{Name: "a-team", CreatedAt: at(time.Hour)}))
	all, err := s.Orgs(ctx)
	must(t, err)
	equal(t, "Orgs, by name", all, []store.Org{{Name: "a-team", CreatedAt: at(time.Hour)}, {Name: "acme", CreatedAt: t0}})
	_, err = s.Org(ctx, "nope")
	wantErr(t, err, errs.NotFound, `org "nope" not found`)
}

func testDefaultStorage(t *testing.T, s store.Store) {
	ctx := t.Context()
	fixture(t, s)
	must(t, s.SetDefaultStorage(ctx, "acme", "s3://bucket/acme", "k1"))
	got, err := s.Org(ctx, "acme")
	must(t, err)
	equal(t, "Org", got, store.Org{Name: "acme", CreatedAt: t0, DefaultLocation: "s3://bucket/acme", DefaultCredsKey: "k1"})

	must(t, s.SetDefaultStorage(ctx, "acme", "s3://bucket/other", "k2"))
	got, err = s.Org(ctx, "acme")
	must(t, err)
	equal(t, "Org after change", got, store.Org{Name: "acme", CreatedAt: t0, DefaultLocation: "s3://bucket/other", DefaultCredsKey: "k2"})

	other, err := s.Org(ctx, "beta")
	must(t, err)
	equal(t, "other org", other, store.Org{Name: "beta", CreatedAt: t0})

	for _, tc := range []struct {
		name, org, key string
		kind           errs.Kind
		detail         string
	}{
		{"missing org", "nope", "k1", errs.NotFound, `org "nope" not found`},
		{"missing creds key", "acme", "k9", errs.NotFound, `creds key "k9" not found in org "acme"`},
		{"creds key of another org", "beta", "k2", errs.NotFound, `creds key "k2" not found in org "beta"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, s.SetDefaultStorage(ctx, tc.org, "s3://b/p", tc.key), tc.kind, tc.detail)
		})
	}

	must(t, s.SetDefaultStorage(ctx, "acme", "", ""))
	got, err = s.Org(ctx, "acme")
	must(t, err)
	equal(t, "Org after clearing", got, store.Org{Name: "acme", CreatedAt: t0})
}

func testMembers(t *testing.T, s store.Store) {
	ctx := t.Context()
	fixture(t, s)
	must(t, s.PutMember(ctx, store.Member{Org: "acme", User: "bob", Role: store.Reader}))
	must(t, s.PutMember(ctx, store.Member{Org: "acme", User: "ann", Role: store.Writer}))
	must(t, s.PutMember(ctx, store.Member{Org: "beta", User: "ann", Role: store.Reader}))
	must(t, s.PutMember(ctx, store.Member{Org: "acme", User: "ann", Role: store.Admin})) // replaces

	m, err := s.Member(ctx, "acme", "ann")
	must(t, err)
	equal(t, "Member", m, store.Member{Org: "acme", User: "ann", Role: store.Admin})

	ms, err := s.Members(ctx, "acme")
	must(t, err)
	equal(t, "Members", ms, []store.Member{{Org: "acme", User: "ann", Role: store.Admin}, {Org: "acme", User: "bob", Role: store.Reader}})
	ms, err = s.Memberships(ctx, "ann")
	must(t, err)
	equal(t, "Memberships", ms, []store.Member{{Org: "acme", User: "ann", Role: store.Admin}, {Org: "beta", User: "ann", Role: store.Reader}})
	ms, err = s.Members(ctx, "nope")
	must(t, err)
	equal(t, "Members of a missing org", len(ms), 0)

	for _, tc := range []struct {
		name      string
		org, user string
		detail    string
	}{
		{"missing org", "nope", "ann", `org "nope" not found`},
		{"missing user", "acme", "nobody", `user "nobody" not found`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, s.PutMember(ctx, store.Member{Org: tc.org, User: tc.user, Role: store.Reader}), errs.NotFound, tc.detail)
		})
	}

	must(t, s.DeleteMember(ctx, "acme", "bob"))
	_, err = s.Member(ctx, "acme", "bob")
	wantErr(t, err, errs.NotFound, `user "bob" is not a member of org "acme"`)
	wantErr(t, s.DeleteMember(ctx, "acme", "bob"), errs.NotFound, `user "bob" is not a member of org "acme"`)
	ms, err = s.Members(ctx, "acme")
	must(t, err)
	equal(t, "Members after delete", ms, []store.Member{{Org: "acme", User: "ann", Role: store.Admin}})
}

func hash(s string) []byte { return []byte("sha256:" + s + strings.Repeat("\x00", 32-8-len(s))) }

func testTokens(t *testing.T, s store.Store) {
	ctx := t.Context()
	fixture(t, s)
	full := store.Token{ID: "t2", User: "ann", Name: "ci", Hash: hash("two"), Org: "acme", Role: store.Writer,
		CreatedAt: at(2 * time.Hour), ExpiresAt: at(48 * time.Hour), LastUsedAt: at(3 * time.Hour), RevokedAt: at(4 * time.Hour)}
	plain := store.Token{ID: "t1", User: "ann", Hash: hash("one"), CreatedAt: at(time.Hour)}
	later := store.Token{ID: "t0", User: "ann", Hash: hash("three"), CreatedAt: at(3 * time.Hour)}
	bobs := store.Token{ID: "t9", User: "bob", Hash: hash("bob"), CreatedAt: t0}
	for _, tok := range []store.Token{full, plain, later, bobs} {
		must(t, s.CreateToken(ctx, tok))
	}
	for _, want := range []store.Token{full, plain} {
		got, err := s.Token(ctx, want.ID)
		must(t, err)
		equal(t, "Token", got, want)
		got, err = s.TokenByHash(ctx, want.Hash)
		must(t, err)
		equal(t, "TokenByHash", got, want)
	}
	toks, err := s.Tokens(ctx, "ann")
	must(t, err)
	equal(t, "Tokens (oldest first)", ids(toks), []string{"t1", "t2", "t0"})
	toks, err = s.Tokens(ctx, "nobody")
	must(t, err)
	equal(t, "Tokens of a missing user", len(toks), 0)

	for _, tc := range []struct {
		name   string
		tok    store.Token
		kind   errs.Kind
		detail string
	}{
		{"ID taken", store.Token{ID: "t1", User: "bob", Hash: hash("new")}, errs.Conflict, `token "t1" already exists`},
		{"hash taken", store.Token{ID: "t5", User: "bob", Hash: hash("one")}, errs.Conflict, "a token with the same secret already exists"},
		{"missing user", store.Token{ID: "t6", User: "nobody", Hash: hash("six")}, errs.NotFound, `user "nobody" not found`},
		{"missing org", store.Token{ID: "t7", User: "ann", Hash: hash("seven"), Org: "nope", Role: store.Reader}, errs.NotFound, `org "nope" not found`},
		{"no owner", store.Token{ID: "t8", Hash: hash("eight"), Org: "acme", Role: store.Reader}, errs.Invalid, `token "t8" has neither a user nor a workload identity`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.CreateToken(ctx, tc.tok)
			wantErr(t, err, tc.kind, tc.detail)
			if strings.Contains(err.Error(), string(tc.tok.Hash)) || strings.Contains(err.Error(), fmt.Sprintf("%x", tc.tok.Hash)) {
				t.Errorf("error %q shows the token hash", err)
			}
		})
	}
	_, err = s.Token(ctx, "nope")
	wantErr(t, err, errs.NotFound, `token "nope" not found`)
	_, err = s.TokenByHash(ctx, hash("nope"))
	wantErr(t, err, errs.NotFound, "token not found")
}

func testIdentities(t *testing.T, s store.Store) {
	ctx := t.Context()
	fixture(t, s)
	gh := store.Identity{Org: "acme", Name: "ci", Provider: "github", Role: store.Reader,
		Issuers: []string{"https://token.actions.githubusercontent.com"}, Config: []byte(`{"repository":"o/r"}`),
		CreatedAt: t0, CreatedBy: "ann"}
	az := store.Identity{Org: "acme", Name: "az", Provider: "azure", Role: store.Writer,
		Issuers: []string{"https://sts.windows.net/t/", "https://login.microsoftonline.com/t/v2.0", "https://sts.windows.net/t/"},
		Config:  []byte(`{"tenant_id":"t"}`), CreatedAt: at(time.Hour)}
	other := store.Identity{Org: "beta", Name: "ci", Provider: "github", Role: store.Writer,
		Issuers: []string{"https://token.actions.githubusercontent.com"}, Config: []byte(`{}`), CreatedAt: t0}
	for _, id := range []store.Identity{gh, az, other} {
		must(t, s.PutIdentity(ctx, id))
	}
	az.Issuers = []string{"https://login.microsoftonline.com/t/v2.0", "https://sts.windows.net/t/"} // sorted, distinct
	got, err := s.Identity(ctx, "acme", "az")
	must(t, err)
	equal(t, "Identity", got, az)
	list, err := s.Identities(ctx, "acme")
	must(t, err)
	equal(t, "Identities (by name)", list, []store.Identity{az, gh})
	list, err = s.IdentitiesByIssuer(ctx, "https://token.actions.githubusercontent.com")
	must(t, err)
	equal(t, "IdentitiesByIssuer (by org, name)", list, []store.Identity{gh, other})
	list, err = s.IdentitiesByIssuer(ctx, "https://sts.windows.net/t/")
	must(t, err)
	equal(t, "IdentitiesByIssuer v1", list, []store.Identity{az})
	list, err = s.IdentitiesByIssuer(ctx, "https://nope")
	must(t, err)
	equal(t, "IdentitiesByIssuer of an unknown issuer", len(list), 0)
	iss, err := s.Issuers(ctx)
	must(t, err)
	equal(t, "Issuers", iss, []string{"https://login.microsoftonline.com/t/v2.0", "https://sts.windows.net/t/", "https://token.actions.githubusercontent.com"})

	wantErr(t, s.PutIdentity(ctx, gh), errs.Conflict, `identity "ci" already exists in org "acme"`)
	wantErr(t, s.PutIdentity(ctx, store.Identity{Org: "nope", Name: "x", Provider: "oidc", Role: store.Reader, Issuers: []string{"https://i"}}),
		errs.NotFound, `org "nope" not found`)
	_, err = s.Identity(ctx, "acme", "nope")
	wantErr(t, err, errs.NotFound, `identity "nope" not found in org "acme"`)

	// Tokens of an identity have no user; deleting the identity revokes them, and only them.
	wl := store.Token{ID: "w1", Identity: "acme/ci", Name: "exchange", Hash: hash("w1"), Org: "acme", Role: store.Reader,
		CreatedAt: t0, ExpiresAt: at(time.Hour)}
	wl2 := store.Token{ID: "w2", Identity: "beta/ci", Hash: hash("w2"), Org: "beta", Role: store.Writer, CreatedAt: t0}
	user := store.Token{ID: "u1", User: "ann", Hash: hash("u1"), CreatedAt: t0}
	for _, tok := range []store.Token{wl, wl2, user} {
		must(t, s.CreateToken(ctx, tok))
	}
	got2, err := s.TokenByHash(ctx, wl.Hash)
	must(t, err)
	equal(t, "workload token", got2, wl)
	toks, err := s.Tokens(ctx, "")
	must(t, err)
	equal(t, "Tokens of no user", len(toks), 0)

	must(t, s.DeleteIdentity(ctx, "acme", "ci", at(2*time.Hour)))
	wantErr(t, s.DeleteIdentity(ctx, "acme", "ci", at(3*time.Hour)), errs.NotFound, `identity "ci" not found in org "acme"`)
	_, err = s.Identity(ctx, "acme", "ci")
	wantErr(t, err, errs.NotFound, "")
	got2, err = s.Token(ctx, "w1")
	must(t, err)
	equal(t, "revoked at", got2.RevokedAt, at(2*time.Hour))
	for _, id := range []string{"w2", "u1"} {
		got2, err = s.Token(ctx, id)
		must(t, err)
		equal(t, "token "+id+" not revoked", got2.RevokedAt.IsZero(), true)
	}
	list, err = s.IdentitiesByIssuer(ctx, "https://token.actions.githubusercontent.com")
	must(t, err)
	equal(t, "IdentitiesByIssuer after delete", list, []store.Identity{other})
	// The name can be registered again.
	must(t, s.PutIdentity(ctx, gh))
}

func testTokenAuth(t *testing.T, s store.Store) {
	ctx := t.Context()
	fixture(t, s)
	must(t, s.PutMember(ctx, store.Member{Org: "acme", User: "ann", Role: store.Writer}))
	ci := store.Identity{Org: "acme", Name: "ci", Provider: "github", Role: store.Reader,
		Issuers: []string{"https://i"}, Config: []byte(`{}`), CreatedAt: at(time.Hour)}
	must(t, s.PutIdentity(ctx, ci))
	ann := store.Token{ID: "a1", User: "ann", Hash: hash("ann"), Org: "acme", Role: store.Reader, CreatedAt: t0}
	root := store.Token{ID: "r1", User: "root", Hash: hash("root"), CreatedAt: t0}
	wl := store.Token{ID: "w1", Identity: "acme/ci", Hash: hash("w1"), Org: "acme", Role: store.Reader, CreatedAt: at(2 * time.Hour)}
	gone := store.Token{ID: "w2", Identity: "acme/gone", Hash: hash("w2"), Org: "acme", Role: store.Reader, CreatedAt: t0}
	for _, tok := range []store.Token{ann, root, wl, gone} {
		must(t, s.CreateToken(ctx, tok))
	}
	for _, tc := range []struct {
		name string
		tok  store.Token
		org  string
		want store.TokenAuth
	}{
		{"member", ann, "acme", store.TokenAuth{UserFound: true, OrgFound: true, MemberRole: store.Writer}},
		{"not a member", ann, "beta", store.TokenAuth{UserFound: true, OrgFound: true}},
		{"missing org", ann, "nope", store.TokenAuth{UserFound: true}},
		{"no org", ann, "", store.TokenAuth{UserFound: true}},
		{"superuser", root, "beta", store.TokenAuth{UserFound: true, Superuser: true, OrgFound: true}},
		{"identity", wl, "acme", store.TokenAuth{IdentityFound: true, IdentityCreatedAt: ci.CreatedAt, OrgFound: true}},
		{"identity gone", gone, "acme", store.TokenAuth{OrgFound: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.TokenAuth(ctx, tc.tok.Hash, tc.org)
			must(t, err)
			tc.want.Token, tc.want.Org = tc.tok, tc.org
			equal(t, "TokenAuth", got, tc.want)
		})
	}
	_, err := s.TokenAuth(ctx, hash("nope"), "acme")
	wantErr(t, err, errs.NotFound, "token not found")

	// What changed is seen by the next lookup.
	must(t, s.DeleteMember(ctx, "acme", "ann"))
	must(t, s.RevokeToken(ctx, "a1", at(time.Hour)))
	must(t, s.DeleteIdentity(ctx, "acme", "ci", at(3*time.Hour)))
	got, err := s.TokenAuth(ctx, ann.Hash, "acme")
	must(t, err)
	equal(t, "role after the member was removed", got.MemberRole, "")
	equal(t, "revoked at", got.RevokedAt, at(time.Hour))
	got, err = s.TokenAuth(ctx, wl.Hash, "acme")
	must(t, err)
	equal(t, "identity found after it was deleted", got.IdentityFound, false)
}

func ids(toks []store.Token) []string {
	var a []string
	for _, t := range toks {
		a = append(a, t.ID)
	}
	return a
}

func testTokenRevokeAndTouch(t *testing.T, s store.Store) {
	ctx := t.Context()
	fixture(t, s)
	tok := store.Token{ID: "t1", User: "ann", Hash: hash("one"), CreatedAt: t0}
	must(t, s.CreateToken(ctx, tok))

	must(t, s.TouchToken(ctx, "t1", at(time.Minute)))
	must(t, s.TouchToken(ctx, "t1", at(2*time.Minute)))
	tok.LastUsedAt = at(2 * time.Minute)
	got, err := s.Token(ctx, "t1")
	must(t, err)
	equal(t, "Token after touch", got, tok)

	must(t, s.RevokeToken(ctx, "t1", at(time.Hour)))
	must(t, s.RevokeToken(ctx, "t1", at(2*time.Hour))) // already revoked: keeps the first time
	tok.RevokedAt = at(time.Hour)
	got, err = s.TokenByHash(ctx, tok.Hash)
	must(t, err)
	equal(t, "revoked token by hash", got, tok)

	wantErr(t, s.RevokeToken(ctx, "nope", t0), errs.NotFound, `token "nope" not found`)
	wantErr(t, s.TouchToken(ctx, "nope", t0), errs.NotFound, `token "nope" not found`)
}

func testCredsKeys(t *testing.T, s store.Store) {
	ctx := t.Context()
	fixture(t, s)
	in := store.CredsKey{Org: "acme", Name: "aws", Provider: "aws", Config: []byte(`{"role_arn":"arn:aws:iam::1:role/r"}`),
		Secret: []byte("sealed-1"), Version: 7, CreatedAt: at(time.Hour), UpdatedAt: at(time.Hour)}
	got, err := s.PutCredsKey(ctx, in)
	must(t, err)
	want := in
	want.Version = 1
	equalKey(t, "PutCredsKey (create)", got, want)
	got, err = s.CredsKey(ctx, "acme", "aws")
	must(t, err)
	equalKey(t, "CredsKey", got, want)

	up := store.CredsKey{Org: "acme", Name: "aws", Provider: "aws", Config: []byte(`{"role_arn":"arn:aws:iam::1:role/s"}`),
		Secret: nil, CreatedAt: at(5 * time.Hour), UpdatedAt: at(6 * time.Hour)}
	got, err = s.PutCredsKey(ctx, up)
	must(t, err)
	want = up
	want.Version, want.CreatedAt = 2, at(time.Hour)
	equalKey(t, "PutCredsKey (update)", got, want)
	got, err = s.CredsKey(ctx, "acme", "aws")
	must(t, err)
	equalKey(t, "CredsKey after update", got, want)
	got, err = s.PutCredsKey(ctx, up)
	must(t, err)
	equal(t, "version after a second update", got.Version, int64(3))

	keys, err := s.CredsKeys(ctx, "acme")
	must(t, err)
	var names []string
	for _, k := range keys {
		names = append(names, k.Org+"/"+k.Name)
	}
	equal(t, "CredsKeys (by name)", names, []string{"acme/aws", "acme/k1", "acme/k2"})
	keys, err = s.CredsKeys(ctx, "nope")
	must(t, err)
	equal(t, "CredsKeys of a missing org", len(keys), 0)

	_, err = s.PutCredsKey(ctx, store.CredsKey{Org: "nope", Name: "k", Provider: "file", Config: []byte(`{}`)})
	wantErr(t, err, errs.NotFound, `org "nope" not found`)
	_, err = s.CredsKey(ctx, "acme", "nope")
	wantErr(t, err, errs.NotFound, `creds key "nope" not found in org "acme"`)
	_, err = s.CredsKey(ctx, "beta", "k2")
	wantErr(t, err, errs.NotFound, `creds key "k2" not found in org "beta"`)
}

func equalKey(t *testing.T, what string, got, want store.CredsKey) {
	t.Helper()
	if !bytes.Equal(got.Config, want.Config) || !bytes.Equal(got.Secret, want.Secret) || (got.Secret == nil) != (want.Secret == nil) {
		t.Errorf("%s: config, secret = %q, %q; want %q, %q", what, got.Config, got.Secret, want.Config, want.Secret)
	}
	got.Config, got.Secret, want.Config, want.Secret = nil, nil, nil, nil
	equal(t, what, got, want)
}

func testDeleteCredsKey(t *testing.T, s store.Store) {
	ctx := t.Context()
	fixture(t, s)
	wantErr(t, s.DeleteCredsKey(ctx, "acme", "nope"), errs.NotFound, `creds key "nope" not found in org "acme"`)
	wantErr(t, s.DeleteCredsKey(ctx, "nope", "k1"), errs.NotFound, `creds key "k1" not found in org "nope"`)
	must(t, s.SetDefaultStorage(ctx, "acme", "s3://b/acme", "k1"))
	must(t, s.DeleteCredsKey(ctx, "beta", "k1")) // the same name in another org is independent

	// Each case runs in its own org, with creds keys k1 and k2; ORG in detail is its name.
	for i, tc := range []struct {
		name        string
		setup, undo func(t *testing.T, org string)
		detail      string
	}{{
		name: "creds key of datasets",
		setup: func(t *testing.T, org string) {
			must(t, s.CreateDataset(ctx, store.Dataset{Org: org, Name: "coco", Location: "s3://b/coco", CredsKey: "k1"}))
			must(t, s.CreateDataset(ctx, store.Dataset{Org: org, Name: "alpha", Location: "s3://b/alpha", CredsKey: "k1"}))
		},
		undo: func(t *testing.T, org string) {
			must(t, s.DeleteDataset(ctx, org, "coco"))
			must(t, s.DeleteDataset(ctx, org, "alpha"))
		},
		detail: `creds key "k1" is used by datasets alpha, coco; remove them or point them at another key first`,
	}, {
		name: "linked key of a dataset",
		setup: func(t *testing.T, org string) {
			must(t, s.CreateDataset(ctx, store.Dataset{Org: org, Name: "coco", Location: "s3://b/coco", CredsKey: "k2"}))
			must(t, s.AddLinkedKey(ctx, org, "coco", "k1"))
		},
		undo:   func(t *testing.T, org string) { must(t, s.DeleteDataset(ctx, org, "coco")) },
		detail: `creds key "k1" is used by dataset coco; remove it or point it at another key first`,
	}, {
		name: "creds key and linked key of datasets",
		setup: func(t *testing.T, org string) {
			must(t, s.CreateDataset(ctx, store.Dataset{Org: org, Name: "coco", Location: "s3://b/coco", CredsKey: "k1", LinkedKeys: []string{"k1"}}))
			must(t, s.CreateDataset(ctx, store.Dataset{Org: org, Name: "beans", Location: "s3://b/beans", CredsKey: "k2", LinkedKeys: []string{"k1"}}))
		},
		undo: func(t *testing.T, org string) {
			must(t, s.DeleteDataset(ctx, org, "coco"))
			must(t, s.DeleteDataset(ctx, org, "beans"))
		},
		detail: `creds key "k1" is used by datasets beans, coco; remove them or point them at another key first`,
	}, {
		name:   "default creds key of the org",
		setup:  func(t *testing.T, org string) { must(t, s.SetDefaultStorage(ctx, org, "s3://b/"+org, "k1")) },
		undo:   func(t *testing.T, org string) { must(t, s.SetDefaultStorage(ctx, org, "s3://b/"+org, "k2")) },
		detail: `creds key "k1" is the default storage key of org "ORG"; set another default storage key first`,
	}, {
		name: "default and dataset key",
		setup: func(t *testing.T, org string) {
			must(t, s.SetDefaultStorage(ctx, org, "s3://b/"+org, "k1"))
			must(t, s.CreateDataset(ctx, store.Dataset{Org: org, Name: "coco", Location: "s3://b/coco", CredsKey: "k1"}))
		},
		undo: func(t *testing.T, org string) {
			must(t, s.SetDefaultStorage(ctx, org, "", ""))
			must(t, s.DeleteDataset(ctx, org, "coco"))
		},
		detail: `creds key "k1" is the default storage key of org "ORG" and is used by dataset coco; set another default storage key, then remove it or point it at another key first`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			org := fmt.Sprintf("org%d", i)
			must(t, s.CreateOrg(ctx, store.Org{Name: org}))
			for _, k := range []string{"k1", "k2"} {
				_, err := s.PutCredsKey(ctx, store.CredsKey{Org: org, Name: k, Provider: "file", Config: []byte(`{}`)})
				must(t, err)
			}
			tc.setup(t, org)
			err := s.DeleteCredsKey(ctx, org, "k1")
			wantErr(t, err, errs.Conflict, strings.ReplaceAll(tc.detail, "ORG", org))
			var e *errs.Error
			if errors.As(err, &e) && e.Code != api.CodeInUse {
				t.Errorf("code = %q, want %q", e.Code, api.CodeInUse)
			}
			if _, err := s.CredsKey(ctx, org, "k1"); err != nil {
				t.Fatalf("a refused delete removed the key: %v", err)
			}
			tc.undo(t, org)
			must(t, s.DeleteCredsKey(ctx, org, "k1"))
			_, err = s.CredsKey(ctx, org, "k1")
			wantErr(t, err, errs.NotFound, fmt.Sprintf(`creds key "k1" not found in org %q`, org))
			wantErr(t, s.DeleteCredsKey(ctx, org, "k1"), errs.NotFound, fmt.Sprintf(`creds key "k1" not found in org %q`, org))
		})
	}
}

func testDatasets(t *testing.T, s store.Store) {
	ctx := t.Context()
	fixture(t, s)
	coco := store.Dataset{Org: "acme", Name: "coco", Location: "s3://bucket/coco", CredsKey: "k1", Public: true,
		LinkedKeys: []string{"k2", "k1", "k2"}, CreatedAt: at(time.Hour), CreatedBy: "ann"}
	mnist := store.Dataset{Org: "acme", Name: "mnist", Location: "file:///data/mnist", CredsKey: "k2", CreatedAt: t0, CreatedBy: "bob"}
	bare := store.Dataset{Org: "acme", Name: "bare", Location: "mem://bare"}
	betaCoco := store.Dataset{Org: "beta", Name: "coco", Location: "gs://b/coco", CredsKey: "k1"}
	for _, d := range []store.Dataset{mnist, coco, bare, betaCoco} {
		must(t, s.CreateDataset(ctx, d))
	}
	coco.LinkedKeys = []string{"k1", "k2"}

	got, err := s.Dataset(ctx, "acme", "coco")
	must(t, err)
	equal(t, "Dataset", got, coco)
	got, err = s.Dataset(ctx, "acme", "bare")
	must(t, err)
	equal(t, "Dataset without creds key", got, bare)
	_, err = s.PutCredsKey(ctx, store.CredsKey{Org: "acme", Name: "k2", Provider: "file", Config: []byte(`{"x":1}`), Secret: []byte("sealed"), UpdatedAt: at(time.Hour)})
	must(t, err)
	for _, tc := range []struct {
		org, name string
		want      store.Dataset
	}{{"acme", "coco", coco}, {"acme", "mnist", mnist}, {"acme", "bare", bare}, {"beta", "coco", betaCoco}} {
		got, gotKey, err := s.DatasetWithKey(ctx, tc.org, tc.name)
		must(t, err)
		equal(t, "DatasetWithKey "+tc.org+"/"+tc.name, got, tc.want)
		wantKey := store.CredsKey{}
		if tc.want.CredsKey != "" {
			wantKey, err = s.CredsKey(ctx, tc.org, tc.want.CredsKey)
			must(t, err)
		}
		equalKey(t, "key of DatasetWithKey "+tc.org+"/"+tc.name, gotKey, wantKey)
	}
	ds, err := s.Datasets(ctx, "acme")
	must(t, err)
	equal(t, "Datasets (by name)", ds, []store.Dataset{bare, coco, mnist})
	ds, err = s.Datasets(ctx, "beta")
	must(t, err)
	equal(t, "Datasets of another org", ds, []store.Dataset{betaCoco})
	ds, err = s.Datasets(ctx, "nope")
	must(t, err)
	equal(t, "Datasets of a missing org", len(ds), 0)

	for _, tc := range []struct {
		name   string
		d      store.Dataset
		kind   errs.Kind
		detail string
	}{
		{"name taken", store.Dataset{Org: "acme", Name: "coco", Location: "s3://b/x", CredsKey: "k2"}, errs.Conflict, `dataset "coco" already exists in org "acme"`},
		{"missing org", store.Dataset{Org: "nope", Name: "x", Location: "s3://b/x", CredsKey: "k1"}, errs.NotFound, `org "nope" not found`},
		{"missing creds key", store.Dataset{Org: "acme", Name: "x", Location: "s3://b/x", CredsKey: "k9"}, errs.NotFound, `creds key "k9" not found in org "acme"`},
		{"missing linked key", store.Dataset{Org: "acme", Name: "x", Location: "s3://b/x", CredsKey: "k1", LinkedKeys: []string{"k2", "k8"}}, errs.NotFound, `creds key "k8" not found in org "acme"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, s.CreateDataset(ctx, tc.d), tc.kind, tc.detail)
		})
	}
	_, err = s.Dataset(ctx, "acme", "x")
	wantErr(t, err, errs.NotFound, `dataset "x" not found in org "acme"`)
	_, _, err = s.DatasetWithKey(ctx, "acme", "x")
	wantErr(t, err, errs.NotFound, `dataset "x" not found in org "acme"`)

	must(t, s.DeleteDataset(ctx, "acme", "coco"))
	_, err = s.Dataset(ctx, "acme", "coco")
	wantErr(t, err, errs.NotFound, `dataset "coco" not found in org "acme"`)
	wantErr(t, s.DeleteDataset(ctx, "acme", "coco"), errs.NotFound, `dataset "coco" not found in org "acme"`)
	got, err = s.Dataset(ctx, "beta", "coco")
	must(t, err)
	equal(t, "same name in another org after delete", got, betaCoco)

	// A dataset created again after a delete starts without the old linked keys.
	must(t, s.CreateDataset(ctx, store.Dataset{Org: "acme", Name: "coco", Location: "s3://bucket/coco", CredsKey: "k1"}))
	got, err = s.Dataset(ctx, "acme", "coco")
	must(t, err)
	equal(t, "linked keys of a recreated dataset", len(got.LinkedKeys), 0)
}

func testDatasetPublic(t *testing.T, s store.Store) {
	ctx := t.Context()
	fixture(t, s)
	coco := store.Dataset{Org: "acme", Name: "coco", Location: "s3://b/coco", CredsKey: "k1", LinkedKeys: []string{"k2"}, CreatedAt: t0, CreatedBy: "ann"}
	other := store.Dataset{Org: "beta", Name: "coco", Location: "s3://b/beta-coco", CredsKey: "k1"}
	must(t, s.CreateDataset(ctx, coco))
	must(t, s.CreateDataset(ctx, other))
	for _, public := range []bool{true, true, false} {
		must(t, s.SetDatasetPublic(ctx, "acme", "coco", public))
		got, err := s.Dataset(ctx, "acme", "coco")
		must(t, err)
		want := coco
		want.Public = public
		equal(t, fmt.Sprintf("dataset after SetDatasetPublic(%v)", public), got, want)
		got, err = s.Dataset(ctx, "beta", "coco")
		must(t, err)
		equal(t, "the same name in another org", got, other)
	}
	wantErr(t, s.SetDatasetPublic(ctx, "acme", "nope", true), errs.NotFound, `dataset "nope" not found in org "acme"`)
	wantErr(t, s.SetDatasetPublic(ctx, "nope", "coco", true), errs.NotFound, `dataset "coco" not found in org "nope"`)
}

func testLinkedKeys(t *testing.T, s store.Store) {
	ctx := t.Context()
	fixture(t, s)
	for _, k := range []string{"k3", "a0"} {
		_, err := s.PutCredsKey(ctx, store.CredsKey{Org: "acme", Name: k, Provider: "file", Config: []byte(`{}`)})
		must(t, err)
	}
	must(t, s.CreateDataset(ctx, store.Dataset{Org: "acme", Name: "coco", Location: "s3://b/coco", CredsKey: "k1"}))
	must(t, s.CreateDataset(ctx, store.Dataset{Org: "acme", Name: "mnist", Location: "s3://b/mnist", CredsKey: "k1"}))
	for _, k := range []string{"k3", "k1", "a0", "k3", "k1"} {
		must(t, s.AddLinkedKey(ctx, "acme", "coco", k))
	}
	must(t, s.AddLinkedKey(ctx, "acme", "mnist", "k2"))
	d, err := s.Dataset(ctx, "acme", "coco")
	must(t, err)
	equal(t, "LinkedKeys", d.LinkedKeys, []string{"a0", "k1", "k3"})
	ds, err := s.Datasets(ctx, "acme")
	must(t, err)
	equal(t, "LinkedKeys in Datasets", [][]string{ds[0].LinkedKeys, ds[1].LinkedKeys}, [][]string{{"a0", "k1", "k3"}, {"k2"}})

	wantErr(t, s.AddLinkedKey(ctx, "acme", "nope", "k1"), errs.NotFound, `dataset "nope" not found in org "acme"`)
	wantErr(t, s.AddLinkedKey(ctx, "acme", "coco", "k9"), errs.NotFound, `creds key "k9" not found in org "acme"`)
	wantErr(t, s.AddLinkedKey(ctx, "beta", "coco", "k1"), errs.NotFound, `dataset "coco" not found in org "beta"`)

	// Deleting the dataset releases its linked keys.
	wantErr(t, s.DeleteCredsKey(ctx, "acme", "k3"), errs.Conflict, "")
	must(t, s.DeleteDataset(ctx, "acme", "coco"))
	must(t, s.DeleteCredsKey(ctx, "acme", "k3"))
}

func testAudit(t *testing.T, s store.Store) {
	ctx := t.Context()
	records := []store.AuditRecord{
		{Time: at(2 * time.Minute), RequestID: "r1", Principal: "user:ann", Org: "acme", Action: "vend", Target: "s3://b/coco", Mode: "read", Result: "ok", KeyID: "AKIA1"},
		{Time: at(1 * time.Minute), RequestID: "r2", Principal: "user:bob", Org: "acme", Action: "vend", Target: "s3://b/coco", Mode: "write", Result: "denied", Detail: "role reader"},
		{Time: at(3 * time.Minute), RequestID: "r3", Principal: "user:ann", Org: "beta", Action: "vend", Result: "ok"},
		{Time: at(3 * time.Minute), RequestID: "r4", Principal: "user:ann", Org: "acme", Action: "creds.put", Target: "k1", Result: "ok"},
		{Time: at(4 * time.Minute), RequestID: "r5", Principal: "user:ann", Org: "acme", Action: "vend", Mode: "read", Result: "error"},
	}
	var last int64
	for i := range records {
		id, err := s.AppendAudit(ctx, records[i])
		must(t, err)
		if id <= last {
			t.Fatalf("AppendAudit returned ID %d after %d; IDs must increase", id, last)
		}
		records[i].ID, last = id, id
	}
	for i, p := range []string{"ann (tok_1)", "ann (tok_2)", "anna (tok_3)", "ann"} {
		_, err := s.AppendAudit(ctx, store.AuditRecord{Time: t0, RequestID: fmt.Sprintf("g%d", i+1), Principal: p, Org: "gamma", Action: "vend", Result: "ok"})
		must(t, err)
	}
	all, err := s.Audit(ctx, store.AuditQuery{Org: "acme"})
	must(t, err)
	// By ID, that is in the order of AppendAudit, whatever their times.
	equal(t, "all records of acme, oldest first", all, []store.AuditRecord{records[0], records[1], records[3], records[4]})

	for _, tc := range []struct {
		name string
		q    store.AuditQuery
		want []string // request IDs
	}{
		{"since is inclusive", store.AuditQuery{Org: "acme", Since: at(3 * time.Minute)}, []string{"r4", "r5"}},
		{"action", store.AuditQuery{Org: "acme", Action: "vend"}, []string{"r1", "r2", "r5"}},
		{"since and action", store.AuditQuery{Org: "acme", Since: at(90 * time.Second), Action: "vend"}, []string{"r1", "r5"}},
		{"limit keeps the newest", store.AuditQuery{Org: "acme", Limit: 2}, []string{"r4", "r5"}},
		{"other org", store.AuditQuery{Org: "beta"}, []string{"r3"}},
		{"missing org", store.AuditQuery{Org: "nope"}, nil},
		{"unknown action", store.AuditQuery{Org: "acme", Action: "nope"}, nil},
		{"principal", store.AuditQuery{Org: "acme", Principal: "user:bob"}, []string{"r2"}},
		{"result", store.AuditQuery{Org: "acme", Result: "ok"}, []string{"r1", "r4"}},
		{"action, principal and result", store.AuditQuery{Org: "acme", Action: "vend", Principal: "user:ann", Result: "error"}, []string{"r5"}},
		{"principal with any token", store.AuditQuery{Org: "gamma", Principal: "ann"}, []string{"g1", "g2", "g4"}},
		{"principal with one token", store.AuditQuery{Org: "gamma", Principal: "ann (tok_2)"}, []string{"g2"}},
		{"principal is not a prefix", store.AuditQuery{Org: "gamma", Principal: "an"}, nil},
		{"principal with a wildcard", store.AuditQuery{Org: "gamma", Principal: "an%"}, nil},
		{"since after all", store.AuditQuery{Org: "acme", Since: at(time.Hour)}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := s.Audit(ctx, tc.q)
			must(t, err)
			equal(t, "records", requestIDs(rs), tc.want)
		})
	}
}

func testAuditDefaultLimit(t *testing.T, s store.Store) {
	ctx := t.Context()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var ids []int64
	errc := make(chan error, 1001)
	for w := range 10 {
		wg.Go(func() {
			for i := w; i < 1001; i += 10 {
				id, err := s.AppendAudit(ctx, store.AuditRecord{Time: at(time.Duration(i) * time.Second), Org: "acme", Action: "vend", Result: "ok", RequestID: fmt.Sprint(i)})
				if err != nil {
					errc <- err
					return
				}
				mu.Lock()
				ids = append(ids, id)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatalf("AppendAudit: %v", err)
	}
	slices.Sort(ids)
	rs, err := s.Audit(ctx, store.AuditQuery{Org: "acme"})
	must(t, err)
	equal(t, "IDs of Audit without a limit (the newest 1000, oldest first)", recordIDs(rs), ids[1:])
	rs, err = s.Audit(ctx, store.AuditQuery{Org: "acme", Limit: 5000})
	must(t, err)
	equal(t, "records with a larger limit", len(rs), 1001)
}

// testAuditPages checks the Until and BeforeID bounds and paging backwards by ID.
func testAuditPages(t *testing.T, s store.Store) {
	ctx := t.Context()
	var acme []store.AuditRecord
	for i := range 12 {
		r := store.AuditRecord{Time: at(time.Duration(i) * time.Minute), RequestID: fmt.Sprint(i), Org: "acme", Action: []string{"vend", "creds.put"}[i%2]}
		if i == 11 {
			r.Time = at(-time.Hour) // late to the log: its ID, not its time, puts it last
		}
		id, err := s.AppendAudit(ctx, r)
		must(t, err)
		r.ID = id
		acme = append(acme, r)
		_, err = s.AppendAudit(ctx, store.AuditRecord{Time: r.Time, Org: "beta", Action: "vend"})
		must(t, err)
	}
	id := func(i int) int64 { return acme[i].ID }
	for _, tc := range []struct {
		name string
		q    store.AuditQuery
		want []string // request IDs
	}{
		{"until is exclusive", store.AuditQuery{Until: at(3 * time.Minute)}, []string{"0", "1", "2", "11"}},
		{"since and until", store.AuditQuery{Since: at(3 * time.Minute), Until: at(6 * time.Minute)}, []string{"3", "4", "5"}},
		{"until before all", store.AuditQuery{Until: at(-2 * time.Hour)}, nil},
		{"before an ID", store.AuditQuery{BeforeID: id(3)}, []string{"0", "1", "2"}},
		{"before the first ID", store.AuditQuery{BeforeID: id(0)}, nil},
		{"before an ID, newest first", store.AuditQuery{BeforeID: id(9), Limit: 2}, []string{"7", "8"}},
		{"every bound", store.AuditQuery{Since: at(time.Minute), Until: at(9 * time.Minute), BeforeID: id(8), Action: "creds.put", Limit: 2}, []string{"5", "7"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.q.Org = "acme"
			rs, err := s.Audit(ctx, tc.q)
			must(t, err)
			equal(t, "records", requestIDs(rs), tc.want)
		})
	}

	// Paging backwards with the first ID of each page visits every record once.
	var pages [][]store.AuditRecord
	q := store.AuditQuery{Org: "acme", Limit: 5}
	for {
		page, err := s.Audit(ctx, q)
		must(t, err)
		if len(page) == 0 {
			break
		}
		pages = append([][]store.AuditRecord{page}, pages...)
		q.BeforeID = page[0].ID
		if len(pages) > len(acme) {
			t.Fatal("paging does not end")
		}
	}
	equal(t, "page sizes", len(pages), 3)
	equal(t, "records of all pages", slices.Concat(pages...), acme)
}

// testAuditBatches checks that AppendAudits stores every record of a batch, also one larger
// than one INSERT writes, with IDs that increase in the order of the batch and after those
// of earlier appends, and that concurrent batches get distinct IDs.
func testAuditBatches(t *testing.T, s store.Store) {
	ctx := t.Context()
	ids, err := s.AppendAudits(ctx, nil)
	must(t, err)
	equal(t, "IDs of an empty batch", len(ids), 0)
	first, err := s.AppendAudit(ctx, store.AuditRecord{Time: t0, RequestID: "single", Org: "acme"})
	must(t, err)
	var want []store.AuditRecord
	for _, n := range []int{1, 3, 1201} {
		batch := make([]store.AuditRecord, n)
		for i := range batch {
			// Times out of order: the order of the batch, not the times, sets the IDs.
			batch[i] = store.AuditRecord{Time: at(time.Duration(-i) * time.Second), RequestID: fmt.Sprintf("%d-%d", n, i),
				Principal: "user:ann", Org: "acme", Action: "vend", Target: "s3://b/coco", Mode: "read", Result: "ok", Detail: fmt.Sprint(i), KeyID: "acme/k1@v1"}
		}
		ids, err := s.AppendAudits(ctx, batch)
		must(t, err)
		equal(t, "number of IDs", len(ids), n)
		for i := range batch {
			batch[i].ID = ids[i]
		}
		want = append(want, batch...)
	}
	last := first
	for _, r := range want {
		if r.ID <= last {
			t.Fatalf("record %s has ID %d after %d; IDs must increase in the order of the batches", r.RequestID, r.ID, last)
		}
		last = r.ID
	}
	got, err := s.Audit(ctx, store.AuditQuery{Org: "acme", BeforeID: last + 1, Limit: 5000})
	must(t, err)
	equal(t, "records read back", got[1:], want)

	// Concurrent batches: every ID distinct, each batch's increasing.
	var mu sync.Mutex
	var all []int64
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	for w := range 8 {
		wg.Go(func() {
			batch := make([]store.AuditRecord, 50)
			for i := range batch {
				batch[i] = store.AuditRecord{Time: t0, Org: "beta", RequestID: fmt.Sprint(w, "-", i)}
			}
			ids, err := s.AppendAudits(ctx, batch)
			if err == nil && !slices.IsSorted(ids) {
				err = fmt.Errorf("IDs of one batch do not increase: %v", ids)
			}
			if err != nil {
				errc <- err
				return
			}
			mu.Lock()
			all = append(all, ids...)
			mu.Unlock()
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	slices.Sort(all)
	equal(t, "distinct IDs of concurrent batches", len(slices.Compact(all)), 400)
}

// testDeleteAuditBefore checks that DeleteAuditBefore deletes the records older than its
// bound, at most limit at a time and the oldest first, in every org, and keeps the others.
func testDeleteAuditBefore(t *testing.T, s store.Store) {
	ctx := t.Context()
	var batch []store.AuditRecord
	for i := range 30 {
		// Appended out of time order: deletion goes by time, not by ID.
		batch = append(batch, store.AuditRecord{Time: at(time.Duration((i*7)%30) * time.Hour), RequestID: fmt.Sprint((i * 7) % 30),
			Org: []string{"acme", "beta"}[i%2], Action: "vend"})
	}
	_, err := s.AppendAudits(ctx, batch)
	must(t, err)
	remaining := func() []string {
		t.Helper()
		var ids []string
		for _, org := range []string{"acme", "beta"} {
			rs, err := s.Audit(ctx, store.AuditQuery{Org: org})
			must(t, err)
			ids = append(ids, requestIDs(rs)...)
		}
		// Numbers in order: shorter first, then alphabetically.
		slices.SortFunc(ids, func(a, b string) int { return cmp.Or(cmp.Compare(len(a), len(b)), strings.Compare(a, b)) })
		return ids
	}
	hours := func(from, to int) []string {
		var ids []string
		for i := from; i < to; i++ {
			ids = append(ids, fmt.Sprint(i))
		}
		return ids
	}
	n, err := s.DeleteAuditBefore(ctx, at(20*time.Hour), 4)
	must(t, err)
	equal(t, "deleted by the first call (its limit)", n, 4)
	equal(t, "records left after the first call: the oldest four are gone", remaining(), hours(4, 30))
	n, err = s.DeleteAuditBefore(ctx, at(20*time.Hour), 100)
	must(t, err)
	equal(t, "deleted by the second call", n, 16)
	equal(t, "records left: those at or after the bound", remaining(), hours(20, 30))
	n, err = s.DeleteAuditBefore(ctx, at(20*time.Hour), 100)
	must(t, err)
	equal(t, "deleted when none is old", n, 0)
}

func requestIDs(rs []store.AuditRecord) []string {
	var ids []string
	for _, r := range rs {
		ids = append(ids, r.RequestID)
	}
	return ids
}

func recordIDs(rs []store.AuditRecord) []int64 {
	var ids []int64
	for _, r := range rs {
		ids = append(ids, r.ID)
	}
	return ids
}

// testTimes checks that every time column keeps an instant to the microsecond, returns it
// in UTC and returns the zero time as zero.
func testTimes(t *testing.T, s store.Store) {
	ctx := t.Context()
	fixture(t, s)
	instants := []struct {
		name string
		t    time.Time
	}{
		{"zero", time.Time{}},
		{"nanoseconds in another zone", time.Date(2025, 6, 1, 12, 0, 0, 123456789, time.FixedZone("IST", 5*3600+1800))},
		{"Unix epoch", time.Unix(0, 0)},
		{"before the epoch", time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC)},
		{"far future", time.Date(2199, 12, 31, 23, 59, 59, 999999000, time.UTC)},
		{"just after the zero time", time.Time{}.Add(time.Microsecond)},
	}
	for i, tc := range instants {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.t.Truncate(time.Microsecond).UTC()
			check := func(what string, got time.Time) {
				t.Helper()
				if !got.Equal(want) || got.IsZero() != want.IsZero() || got.Location() != time.UTC {
					t.Errorf("%s = %v (%v), want %v in UTC", what, got, got.Location(), want)
				}
			}
			name := fmt.Sprintf("u%d", i)
			must(t, s.CreateUser(ctx, store.User{Name: name, CreatedAt: tc.t}))
			u, err := s.User(ctx, name)
			must(t, err)
			check("User.CreatedAt", u.CreatedAt)

			must(t, s.CreateOrg(ctx, store.Org{Name: name, CreatedAt: tc.t}))
			o, err := s.Org(ctx, name)
			must(t, err)
			check("Org.CreatedAt", o.CreatedAt)

			tok := store.Token{ID: name, User: "ann", Hash: hash(name), CreatedAt: tc.t, ExpiresAt: tc.t, LastUsedAt: tc.t}
			must(t, s.CreateToken(ctx, tok))
			must(t, s.RevokeToken(ctx, name, tc.t))
			got, err := s.Token(ctx, name)
			must(t, err)
			check("Token.CreatedAt", got.CreatedAt)
			check("Token.ExpiresAt", got.ExpiresAt)
			check("Token.LastUsedAt", got.LastUsedAt)
			check("Token.RevokedAt", got.RevokedAt)
			must(t, s.TouchToken(ctx, name, tc.t))
			got, err = s.Token(ctx, name)
			must(t, err)
			check("Token.LastUsedAt after TouchToken", got.LastUsedAt)

			k, err := s.PutCredsKey(ctx, store.CredsKey{Org: "acme", Name: name, Provider: "file", Config: []byte(`{}`), CreatedAt: tc.t, UpdatedAt: tc.t})
			must(t, err)
			check("PutCredsKey CreatedAt", k.CreatedAt)
			check("PutCredsKey UpdatedAt", k.UpdatedAt)
			k, err = s.CredsKey(ctx, "acme", name)
			must(t, err)
			check("CredsKey.CreatedAt", k.CreatedAt)
			check("CredsKey.UpdatedAt", k.UpdatedAt)

			must(t, s.CreateDataset(ctx, store.Dataset{Org: "acme", Name: name, Location: "mem://" + name, CreatedAt: tc.t}))
			d, err := s.Dataset(ctx, "acme", name)
			must(t, err)
			check("Dataset.CreatedAt", d.CreatedAt)

			_, err = s.AppendAudit(ctx, store.AuditRecord{Org: name, Time: tc.t, Action: "test"})
			must(t, err)
			rs, err := s.Audit(ctx, store.AuditQuery{Org: name})
			must(t, err)
			if len(rs) != 1 {
				t.Fatalf("Audit returned %d records, want 1", len(rs))
			}
			check("AuditRecord.Time", rs[0].Time)
			if !want.IsZero() {
				rs, err = s.Audit(ctx, store.AuditQuery{Org: name, Since: tc.t})
				must(t, err)
				equal(t, "records since the record's own time", len(rs), 1)
			}
		})
	}
}

func testConcurrentWriters(t *testing.T, s store.Store) {
	ctx := t.Context()
	fixture(t, s)
	const n = 20
	run := func(f func(i int) error) []error {
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { errs[i] = f(i) })
		}
		wg.Wait()
		return errs
	}

	t.Run("distinct datasets", func(t *testing.T) {
		for i, err := range run(func(i int) error {
			return s.CreateDataset(ctx, store.Dataset{Org: "acme", Name: fmt.Sprintf("ds%02d", i), Location: fmt.Sprintf("mem://x/%02d", i), CredsKey: "k1", LinkedKeys: []string{"k2"}})
		}) {
			if err != nil {
				t.Errorf("CreateDataset ds%02d: %v", i, err)
			}
		}
		ds, err := s.Datasets(ctx, "acme")
		must(t, err)
		equal(t, "datasets created", len(ds), n)
	})

	t.Run("one name", func(t *testing.T) {
		created := 0
		for _, err := range run(func(int) error {
			return s.CreateDataset(ctx, store.Dataset{Org: "beta", Name: "same", Location: "mem://same", CredsKey: "k1"})
		}) {
			switch {
			case err == nil:
				created++
			case errs.Is(errs.Conflict, err):
			default:
				t.Errorf("CreateDataset: %v, want nil or Conflict", err)
			}
		}
		equal(t, "creates that succeeded", created, 1)
	})

	t.Run("one creds key", func(t *testing.T) {
		var mu sync.Mutex
		var versions []int64
		for _, err := range run(func(i int) error {
			k, err := s.PutCredsKey(ctx, store.CredsKey{Org: "beta", Name: "hot", Provider: "file", Config: fmt.Appendf(nil, `{"i":%d}`, i)})
			mu.Lock()
			versions = append(versions, k.Version)
			mu.Unlock()
			return err
		}) {
			must(t, err)
		}
		slices.Sort(versions)
		want := make([]int64, n)
		for i := range want {
			want[i] = int64(i + 1)
		}
		equal(t, "versions handed out", versions, want)
	})

	t.Run("audit", func(t *testing.T) {
		ids := make([]int64, n)
		for _, err := range run(func(i int) error {
			var err error
			ids[i], err = s.AppendAudit(ctx, store.AuditRecord{Time: t0, Org: "acme", Action: "vend"})
			return err
		}) {
			must(t, err)
		}
		slices.Sort(ids)
		equal(t, "distinct audit IDs", len(slices.Compact(ids)), n)
	})

	t.Run("members and tokens", func(t *testing.T) {
		for _, err := range run(func(i int) error {
			if err := s.PutMember(ctx, store.Member{Org: "acme", User: "ann", Role: []store.Role{store.Reader, store.Writer}[i%2]}); err != nil {
				return err
			}
			id := fmt.Sprintf("tok%02d", i)
			if err := s.CreateToken(ctx, store.Token{ID: id, User: "bob", Hash: hash(id), CreatedAt: t0}); err != nil {
				return err
			}
			return s.TouchToken(ctx, id, at(time.Second))
		}) {
			must(t, err)
		}
		toks, err := s.Tokens(ctx, "bob")
		must(t, err)
		equal(t, "tokens created", len(toks), n)
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func equal[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got  %+v\n want %+v", what, got, want)
	}
}

var kindNames = map[errs.Kind]string{
	errs.Internal: "Internal", errs.Invalid: "Invalid", errs.Unauthenticated: "Unauthenticated",
	errs.Permission: "Permission", errs.NotFound: "NotFound", errs.Conflict: "Conflict",
	errs.TooLarge: "TooLarge", errs.Unavailable: "Unavailable",
}

// wantErr checks that err is an *errs.Error of kind k and, if detail is not empty, that its
// detail is exactly detail.
func testSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	fixture(t, s)
	must(t, s.CreateToken(ctx, store.Token{ID: "t1", User: "ann", Hash: hash("one"), CreatedAt: t0}))
	before, err := s.AccessVersion(ctx)
	must(t, err)

	se := store.Session{Hash: hash("s1"), TokenID: "t1", CreatedAt: t0, LastSeenAt: t0}
	must(t, s.CreateSession(ctx, se))
	wantErr(t, s.CreateSession(ctx, se), errs.Conflict, "")
	wantErr(t, s.CreateSession(ctx, store.Session{Hash: hash("s2"), TokenID: "nope", CreatedAt: t0, LastSeenAt: t0}),
		errs.NotFound, `token "nope" not found`)
	got, err := s.Session(ctx, se.Hash)
	must(t, err)
	equal(t, "Session", got, se)

	must(t, s.TouchSession(ctx, se.Hash, at(time.Minute)))
	se.LastSeenAt = at(time.Minute)
	got, err = s.Session(ctx, se.Hash)
	must(t, err)
	equal(t, "Session after touch", got, se)
	wantErr(t, s.TouchSession(ctx, hash("nope"), t0), errs.NotFound, "session not found")
	_, err = s.Session(ctx, hash("s2"))
	wantErr(t, err, errs.NotFound, "session not found")

	// Sessions are no part of what admits a request: they leave the access version alone.
	after, err := s.AccessVersion(ctx)
	must(t, err)
	equal(t, "access version after session writes", after, before)

	must(t, s.DeleteSession(ctx, se.Hash))
	must(t, s.DeleteSession(ctx, se.Hash)) // already gone: no error
	_, err = s.Session(ctx, se.Hash)
	wantErr(t, err, errs.NotFound, "session not found")

	// The sweep removes sessions past either limit, and only those.
	old := store.Session{Hash: hash("old"), TokenID: "t1", CreatedAt: t0, LastSeenAt: at(time.Hour)}
	idle := store.Session{Hash: hash("idle"), TokenID: "t1", CreatedAt: at(time.Hour), LastSeenAt: at(time.Hour)}
	live := store.Session{Hash: hash("live"), TokenID: "t1", CreatedAt: at(time.Hour), LastSeenAt: at(2 * time.Hour)}
	for _, x := range []store.Session{old, idle, live} {
		must(t, s.CreateSession(ctx, x))
	}
	n, err := s.DeleteExpiredSessions(ctx, at(time.Minute), at(90*time.Minute))
	must(t, err)
	equal(t, "sessions swept", n, int64(2))
	for _, gone := range []store.Session{old, idle} {
		_, err = s.Session(ctx, gone.Hash)
		wantErr(t, err, errs.NotFound, "session not found")
	}
	got, err = s.Session(ctx, live.Hash)
	must(t, err)
	equal(t, "live session after the sweep", got, live)
}

func wantErr(t *testing.T, err error, k errs.Kind, detail string) {
	t.Helper()
	var e *errs.Error
	switch {
	case err == nil:
		t.Fatalf("got no error, want %s", kindNames[k])
	case !errors.As(err, &e):
		t.Fatalf("got %T %q, want an *errs.Error of kind %s", err, err, kindNames[k])
	case e.Kind != k:
		t.Fatalf("got %s error %q (cause: %v), want %s", kindNames[e.Kind], e.Detail, e.Err, kindNames[k])
	case detail != "" && e.Detail != detail:
		t.Fatalf("got detail %q, want %q", e.Detail, detail)
	}
}
