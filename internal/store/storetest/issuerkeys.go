package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/store"
)

// testIssuerKeys checks that issuer keys round-trip, list newest first, that adding one
// retires the older ones at its NotBefore, and that a generation is added once only, also
// by concurrent writers.
func testIssuerKeys(t *testing.T, s store.Store) {
	ctx := t.Context()
	if ks, err := s.IssuerKeys(ctx); err != nil || len(ks) != 0 {
		t.Fatalf("IssuerKeys of a new store: %v, %v; want none", ks, err)
	}
	key := func(gen int64, created, notBefore time.Time) store.IssuerKey {
		return store.IssuerKey{Generation: gen, ID: fmt.Sprintf("kid-%d", gen), Alg: "ES256",
			Public: []byte(`{"kty":"EC"}`), Private: []byte{byte(gen), 0, 1}, CreatedAt: created, NotBefore: notBefore}
	}
	k1 := key(1, at(0), at(0))
	must(t, s.AddIssuerKey(ctx, k1))
	k2 := key(2, at(time.Hour), at(2*time.Hour))
	must(t, s.AddIssuerKey(ctx, k2))

	ks, err := s.IssuerKeys(ctx)
	must(t, err)
	k1.RetiredAt = k2.NotBefore
	equal(t, "keys after a rotation", ks, []store.IssuerKey{k2, k1})

	wantErr(t, s.AddIssuerKey(ctx, key(2, at(3*time.Hour), at(3*time.Hour))), errs.Conflict, "")
	dup := key(3, at(3*time.Hour), at(3*time.Hour))
	dup.ID = k1.ID
	wantErr(t, s.AddIssuerKey(ctx, dup), errs.Conflict, "")

	// Servers rotating at once all try the next generation: one wins, the rest conflict.
	var wg sync.WaitGroup
	results := make(chan error, 4)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := key(3, at(4*time.Hour), at(5*time.Hour))
			k.ID = fmt.Sprintf("racer-%d", i)
			results <- s.AddIssuerKey(ctx, k)
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
	if len(ks) != 3 || ks[0].Generation != 3 || !ks[1].RetiredAt.Equal(at(5*time.Hour)) || !ks[2].RetiredAt.Equal(k2.NotBefore) {
		t.Fatalf("keys after the race: %+v; want generation 3 first, 2 retired at its not_before, 1 still at 2's", ks)
	}
}
