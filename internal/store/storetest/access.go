package storetest

import (
	"testing"

	"github.com/tarnhq/tarn/internal/store"
)

// testAccessVersion checks that every change access reads moves AccessVersion, and that the
// writes of serving requests (using a token, auditing, creating a token) do not: those run on
// every request, and moving the version would empty every server's copy of access reads.
func testAccessVersion(t *testing.T, s store.Store) {
	ctx := t.Context()
	version := func() int64 {
		t.Helper()
		v, err := s.AccessVersion(ctx)
		must(t, err)
		return v
	}
	moves := func(what string, change func() error) {
		t.Helper()
		before := version()
		must(t, change())
		if after := version(); after <= before {
			t.Errorf("%s: access version %d after, %d before; want it to grow", what, after, before)
		}
	}
	stays := func(what string, change func() error) {
		t.Helper()
		before := version()
		must(t, change())
		if after := version(); after != before {
			t.Errorf("%s: access version %d after, %d before; want it unchanged", what, after, before)
		}
	}
	moves("create user", func() error { return s.CreateUser(ctx, store.User{Name: "ann", CreatedAt: t0}) })
	moves("create org", func() error { return s.CreateOrg(ctx, store.Org{Name: "acme", CreatedAt: t0}) })
	moves("put member", func() error { return s.PutMember(ctx, store.Member{Org: "acme", User: "ann", Role: store.Writer}) })
	moves("change role", func() error { return s.PutMember(ctx, store.Member{Org: "acme", User: "ann", Role: store.Reader}) })
	moves("put creds key", func() error {
		_, err := s.PutCredsKey(ctx, store.CredsKey{Org: "acme", Name: "k1", Provider: "file", Config: []byte(`{}`), CreatedAt: t0})
		return err
	})
	moves("update creds key", func() error {
		_, err := s.PutCredsKey(ctx, store.CredsKey{Org: "acme", Name: "k1", Provider: "file", Config: []byte(`{"roots":["file:///d"]}`), CreatedAt: t0})
		return err
	})
	moves("default storage", func() error { return s.SetDefaultStorage(ctx, "acme", "file:///d", "k1") })
	moves("create dataset", func() error {
		return s.CreateDataset(ctx, store.Dataset{Org: "acme", Name: "coco", Location: "file:///d/coco", CredsKey: "k1", CreatedAt: t0})
	})
	moves("make public", func() error { return s.SetDatasetPublic(ctx, "acme", "coco", true) })
	moves("link key", func() error {
		if _, err := s.PutCredsKey(ctx, store.CredsKey{Org: "acme", Name: "k2", Provider: "file", Config: []byte(`{}`), CreatedAt: t0}); err != nil {
			return err
		}
		before := version()
		if err := s.AddLinkedKey(ctx, "acme", "coco", "k2"); err != nil {
			return err
		}
		if version() <= before {
			t.Error("link key alone: access version did not grow")
		}
		return nil
	})
	id := store.Identity{Org: "acme", Name: "ci", Provider: "oidc", Role: store.Reader, Issuers: []string{"https://127.0.0.1:1/issuer"}, Config: []byte(`{}`), CreatedAt: t0}
	moves("put identity", func() error { return s.PutIdentity(ctx, id) })

	tok := store.Token{ID: "tok_1", User: "ann", Hash: []byte("h1"), CreatedAt: t0}
	stays("create token", func() error { return s.CreateToken(ctx, tok) })
	stays("touch token", func() error { return s.TouchToken(ctx, tok.ID, at(1)) })
	stays("audit", func() error {
		_, err := s.AppendAudits(ctx, []store.AuditRecord{{Time: t0, Org: "acme", Action: "vend", Result: "ok"}})
		return err
	})
	moves("revoke token", func() error { return s.RevokeToken(ctx, tok.ID, at(2)) })

	moves("delete identity", func() error { return s.DeleteIdentity(ctx, "acme", "ci", at(3)) })
	moves("delete dataset", func() error { return s.DeleteDataset(ctx, "acme", "coco") })
	moves("delete member", func() error { return s.DeleteMember(ctx, "acme", "ann") })
}
