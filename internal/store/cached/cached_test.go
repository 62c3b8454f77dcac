package cached_test

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/pgtest"
	"github.com/tarnhq/tarn/internal/store"
	"github.com/tarnhq/tarn/internal/store/cached"
	"github.com/tarnhq/tarn/internal/store/sqlstore"
	"github.com/tarnhq/tarn/internal/store/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// databases open two Stores on one new, empty database, closed when t ends: two servers
// sharing it.
var databases = []struct {
	name string
	open func(t *testing.T) (store.Store, store.Store)
}{
	{"sqlite", func(t *testing.T) (store.Store, store.Store) {
		path := filepath.Join(t.TempDir(), "tarn.db")
		open := func() store.Store { s, err := sqlstore.OpenSQLite(t.Context(), path); return opened(t, s, err) }
		return open(), open()
	}},
	{"postgres", func(t *testing.T) (store.Store, store.Store) {
		url := pgtest.URL(t)
		open := func() store.Store { s, err := sqlstore.OpenPostgres(t.Context(), url); return opened(t, s, err) }
		return open(), open()
	}},
}

func opened(t *testing.T, s *sqlstore.Store, err error) store.Store {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestSuite runs the store suite through the cache: every read after a write, by the same
// store, answers what the database holds.
func TestSuite(t *testing.T) {
	for _, db := range databases {
		t.Run(db.name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) store.Store {
				s, _ := db.open(t)
				return cached.New(s, 0)
			})
		})
	}
}

// counting counts the reads that reach the database.
type counting struct {
	store.Store
	tokenAuths, datasets, keys atomic.Int64
	// afterTokenAuth, if set, runs after each TokenAuth has read the database and before
	// it answers.
	afterTokenAuth func()
}

func (c *counting) TokenAuth(ctx context.Context, hash []byte, org string) (store.TokenAuth, error) {
	c.tokenAuths.Add(1)
	a, err := c.Store.TokenAuth(ctx, hash, org)
	if c.afterTokenAuth != nil {
		c.afterTokenAuth()
	}
	return a, err
}

func (c *counting) DatasetWithKey(ctx context.Context, org, name string) (store.Dataset, store.CredsKey, error) {
	c.datasets.Add(1)
	return c.Store.DatasetWithKey(ctx, org, name)
}

func (c *counting) CredsKey(ctx context.Context, org, name string) (store.CredsKey, error) {
	c.keys.Add(1)
	return c.Store.CredsKey(ctx, org, name)
}

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

// fixture adds user ann, reader in org acme, her token tok_1 (hash "h1"), creds key k1 and
// dataset acme/coco through it.
func fixture(t *testing.T, s store.Store) {
	t.Helper()
	ctx := t.Context()
	must(t, s.CreateUser(ctx, store.User{Name: "ann", CreatedAt: t0}))
	must(t, s.CreateOrg(ctx, store.Org{Name: "acme", CreatedAt: t0}))
	must(t, s.PutMember(ctx, store.Member{Org: "acme", User: "ann", Role: store.Reader}))
	must(t, s.CreateToken(ctx, store.Token{ID: "tok_1", User: "ann", Hash: []byte("h1"), CreatedAt: t0}))
	_, err := s.PutCredsKey(ctx, store.CredsKey{Org: "acme", Name: "k1", Provider: "file", Config: []byte(`{}`), CreatedAt: t0})
	must(t, err)
	must(t, s.CreateDataset(ctx, store.Dataset{Org: "acme", Name: "coco", Location: "file:///d/coco", CredsKey: "k1", CreatedAt: t0}))
}

// TestServesFromMemory checks that repeated reads do not reach the database, and that each
// change, made through another store on the same database (another server), is seen by
// the very next read.
func TestServesFromMemory(t *testing.T) {
	for _, db := range databases {
		t.Run(db.name, func(t *testing.T) {
			ctx := t.Context()
			raw, other := db.open(t)
			fixture(t, other)
			c := &counting{Store: raw}
			s := cached.New(c, 0)

			for range 3 {
				a, err := s.TokenAuth(ctx, []byte("h1"), "acme")
				must(t, err)
				if a.MemberRole != store.Reader || !a.RevokedAt.IsZero() {
					t.Fatalf("TokenAuth = role %q, revoked %v; want reader, not revoked", a.MemberRole, a.RevokedAt)
				}
				_, _, err = s.DatasetWithKey(ctx, "acme", "coco")
				must(t, err)
				_, err = s.CredsKey(ctx, "acme", "k1")
				must(t, err)
			}
			if n, m, k := c.tokenAuths.Load(), c.datasets.Load(), c.keys.Load(); n != 1 || m != 1 || k != 1 {
				t.Errorf("3 rounds of reads reached the database %d, %d, %d times; want once each", n, m, k)
			}

			// Using the token moves nothing: the entry stays and reports the use.
			must(t, s.TouchToken(ctx, "tok_1", t0.Add(time.Hour)))
			a, err := s.TokenAuth(ctx, []byte("h1"), "acme")
			must(t, err)
			if !a.LastUsedAt.Equal(t0.Add(time.Hour)) || c.tokenAuths.Load() != 1 {
				t.Errorf("after TouchToken: LastUsedAt %v, %d reads; want %v from memory", a.LastUsedAt, c.tokenAuths.Load(), t0.Add(time.Hour))
			}

			must(t, other.PutMember(ctx, store.Member{Org: "acme", User: "ann", Role: store.Admin}))
			a, err = s.TokenAuth(ctx, []byte("h1"), "acme")
			must(t, err)
			if a.MemberRole != store.Admin {
				t.Errorf("after another server made ann admin: role %q; want admin", a.MemberRole)
			}

			must(t, other.RevokeToken(ctx, "tok_1", t0.Add(2*time.Hour)))
			a, err = s.TokenAuth(ctx, []byte("h1"), "acme")
			must(t, err)
			if a.RevokedAt.IsZero() {
				t.Error("after another server revoked the token: the cache still says it is not revoked")
			}

			_, err = other.PutCredsKey(ctx, store.CredsKey{Org: "acme", Name: "k1", Provider: "file", Config: []byte(`{"roots":["file:///d"]}`)})
			must(t, err)
			_, sk, err := s.DatasetWithKey(ctx, "acme", "coco")
			must(t, err)
			if k, _ := s.CredsKey(ctx, "acme", "k1"); sk.Version != 2 || k.Version != 2 {
				t.Errorf("after another server updated k1: versions %d and %d; want 2", sk.Version, k.Version)
			}

			must(t, other.DeleteDataset(ctx, "acme", "coco"))
			if _, err := s.Dataset(ctx, "acme", "coco"); !errs.Is(errs.NotFound, err) {
				t.Errorf("after another server deleted the dataset: %v; want NotFound", err)
			}
		})
	}
}

// TestChangeDuringRead checks that what a read returns is not kept beyond a change that
// commits while it runs: the read started at the old version, so it is kept under that one.
func TestChangeDuringRead(t *testing.T) {
	for _, db := range databases {
		t.Run(db.name, func(t *testing.T) {
			ctx := t.Context()
			raw, other := db.open(t)
			fixture(t, other)
			c := &counting{Store: raw}
			var revoked atomic.Bool
			c.afterTokenAuth = func() {
				if !revoked.Swap(true) {
					must(t, other.RevokeToken(ctx, "tok_1", t0.Add(time.Hour)))
				}
			}
			s := cached.New(c, 0)
			a, err := s.TokenAuth(ctx, []byte("h1"), "acme")
			must(t, err)
			if !a.RevokedAt.IsZero() {
				t.Fatal("the first read should have seen the token before its revocation")
			}
			a, err = s.TokenAuth(ctx, []byte("h1"), "acme")
			must(t, err)
			if a.RevokedAt.IsZero() {
				t.Error("the read that raced a revocation was kept as current: the revoked token still authenticates")
			}
		})
	}
}

// TestErrorsNotKept checks that a missing token or dataset is asked of the database every
// time, so one created later is found at once.
func TestErrorsNotKept(t *testing.T) {
	ctx := t.Context()
	raw, other := databases[0].open(t)
	fixture(t, other)
	c := &counting{Store: raw}
	s := cached.New(c, 0)
	for range 2 {
		if _, err := s.TokenAuth(ctx, []byte("nope"), "acme"); !errs.Is(errs.NotFound, err) {
			t.Fatalf("unknown token: %v; want NotFound", err)
		}
	}
	if n := c.tokenAuths.Load(); n != 2 {
		t.Errorf("two reads of an unknown token reached the database %d times; want 2", n)
	}
	if _, err := s.Dataset(ctx, "acme", "later"); !errs.Is(errs.NotFound, err) {
		t.Fatalf("missing dataset: %v; want NotFound", err)
	}
	// A token insert does not move the access version; it must still be found.
	must(t, other.CreateToken(ctx, store.Token{ID: "tok_2", User: "ann", Hash: []byte("nope"), CreatedAt: t0}))
	if _, err := s.TokenAuth(ctx, []byte("nope"), "acme"); err != nil {
		t.Errorf("a token created after a miss: %v; want it found", err)
	}
}

// TestBounded checks that the entries stay within the bound.
func TestBounded(t *testing.T) {
	ctx := t.Context()
	raw, other := databases[0].open(t)
	fixture(t, other)
	for _, n := range []string{"a", "b", "c"} {
		must(t, other.CreateDataset(ctx, store.Dataset{Org: "acme", Name: n, Location: "file:///d/" + n, CredsKey: "k1", CreatedAt: t0}))
	}
	c := &counting{Store: raw}
	s := cached.New(c, 2)
	for _, n := range []string{"a", "b", "c", "a"} {
		_, err := s.Dataset(ctx, "acme", n)
		must(t, err)
	}
	// a and b fill the two places; c empties them; a is read again.
	if n := c.datasets.Load(); n != 4 {
		t.Errorf("reads with at most 2 entries: %d reached the database; want 4", n)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
