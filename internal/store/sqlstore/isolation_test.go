package sqlstore_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/tarnhq/tarn/internal/pgtest"
	"github.com/tarnhq/tarn/internal/store"
)

// TestOverlapCheckHoldsUnderRepeatableRead: on a PostgreSQL database whose default
// isolation is REPEATABLE READ, two servers creating overlapping datasets at once never
// both succeed (the store's transactions ask for READ COMMITTED, so the one that waited for
// the lock sees the other's row).
func TestOverlapCheckHoldsUnderRepeatableRead(t *testing.T) {
	url := pgtest.URL(t) + "&default_transaction_isolation=repeatable%20read"
	ctx := t.Context()
	a, b := openPostgres(t, url), openPostgres(t, url)
	must(t, a.CreateOrg(ctx, store.Org{Name: "acme"}))
	_, err := a.PutCredsKey(ctx, store.CredsKey{Org: "acme", Name: "k", Provider: "file"})
	must(t, err)
	for round := range 30 {
		var wg sync.WaitGroup
		var errA, errB error
		wg.Go(func() {
			errA = a.CreateDataset(ctx, store.Dataset{Org: "acme", Name: fmt.Sprintf("r%d-outer", round), Location: fmt.Sprintf("mem://r%d", round), CredsKey: "k"})
		})
		wg.Go(func() {
			errB = b.CreateDataset(ctx, store.Dataset{Org: "acme", Name: fmt.Sprintf("r%d-inner", round), Location: fmt.Sprintf("mem://r%d/inner", round), CredsKey: "k"})
		})
		wg.Wait()
		if errA == nil && errB == nil {
			t.Fatalf("round %d: both overlapping creates succeeded", round)
		}
	}
}
