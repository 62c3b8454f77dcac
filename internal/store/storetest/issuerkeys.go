package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/store"
)

// testIssuerKeys checks that issuer keys round-trip, list newest first (by algorithm within
// a generation), that adding a generation retires the older ones at its NotBefore, and
// that a generation is added once only, also by concurrent writers.
func testIssuerKeys(t *testing.T, s store.Store) {
	ctx := t.Context()
	if ks, err := s.IssuerKeys(ctx); err != nil || len(ks) != 0 {
		t.Fatalf("IssuerKeys of a new store: %v, %v; want none", ks, err)
	}
	key := func(gen int64, alg string, created, notBefore time.Time) store.IssuerKey {
		return store.IssuerKey{Generation: gen, ID: fmt.Sprintf("kid-%d-%s", gen, alg), Alg: alg,
			Public: []byte(`{"kty":"EC"}`), Private: []byte{byte(gen), 0, 1}, CreatedAt: created, NotBefore: notBefore}
	}
	generation := func(gen int64, created, notBefore time.Time) []store.IssuerKey {
		return []store.IssuerKey{key(gen, "ES256", created, notBefore), key(gen, "RS256", created, notBefore)}
	}
	g1 := generation(1, at(0), at(0))
	must(t, s.AddIssuerKeys(ctx, g1))
	g2 := generation(2, at(time.Hour), at(2*time.Hour))
	must(t, s.AddIssuerKeys(ctx, g2))

	ks, err := s.IssuerKeys(ctx)
	must(t, err)
	for i := range g1 {
		g1[i].RetiredAt = g2[0].NotBefore
	}
	equal(t, "keys after a rotation", ks, append(g2, g1...))

	wantErr(t, s.AddIssuerKeys(ctx, generation(2, at(3*time.Hour), at(3*time.Hour))), errs.Conflict, "")
	// A generation is taken even for an algorithm it lacks.
	wantErr(t, s.AddIssuerKeys(ctx, []store.IssuerKey{key(2, "PS256", at(3*time.Hour), at(3*time.Hour))}), errs.Conflict, "")
	dup := generation(3, at(3*time.Hour), at(3*time.Hour))
	dup[1].ID = g1[0].ID
	wantErr(t, s.AddIssuerKeys(ctx, dup), errs.Conflict, "")
	if ks, err := s.IssuerKeys(ctx); err != nil || len(ks) != 4 {
		t.Fatalf("after refused additions: %d keys, %v; want the 4 added (a refused generation adds no key)", len(ks), err)
	}

	// Servers rotating at once all try the next generation: one wins, the rest conflict.
	var wg sync.WaitGroup
	results := make(chan error, 4)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := generation(3, at(4*time.Hour), at(5*time.Hour))
			for j := range g {
				g[j].ID = fmt.Sprintf("racer-%d-%d", i, j)
			}
			results <- s.AddIssuerKeys(ctx, g)
		}()
	}
	wg.Wait()
	close(results)
	won := 0
	for err := range results {
		if err == nil {
			won++
		} else {
			wantErr(t, err, errs.Conflict, "")
		}
	}
	if won != 1 {
		t.Fatalf("%d of 4 concurrent rotations to generation 3 succeeded, want 1", won)
	}
	ks, err = s.IssuerKeys(ctx)
	must(t, err)
	if len(ks) != 6 || ks[0].Generation != 3 || ks[1].Generation != 3 || !ks[2].RetiredAt.Equal(at(5*time.Hour)) || !ks[5].RetiredAt.Equal(g2[0].NotBefore) {
		t.Fatalf("keys after the race: %+v; want generation 3's two keys first, 2 retired at its not_before, 1 still at 2's", ks)
	}
}
