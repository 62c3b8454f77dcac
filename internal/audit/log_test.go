package audit_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tarnhq/tarn/internal/audit"
	"github.com/tarnhq/tarn/internal/store"
	"github.com/tarnhq/tarn/internal/store/sqlstore"
)

func openSQLite(tb testing.TB) *sqlstore.Store {
	tb.Helper()
	s, err := sqlstore.OpenSQLite(tb.Context(), filepath.Join(tb.TempDir(), "tarn.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// TestConcurrentRecordsAreDurable has 64 goroutines record at once, each in its own org:
// when Record returns, the record is in the database (read back through another query),
// and each goroutine's records have increasing IDs in the order it recorded them.
func TestConcurrentRecordsAreDurable(t *testing.T) {
	s := openSQLite(t)
	l := audit.New(audit.Options{Store: s, MaxBatch: 16})
	defer l.Close()
	const workers, each = 64, 20
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			org := fmt.Sprint("org", w)
			var want []string
			for i := range each {
				id := fmt.Sprint(w, "-", i)
				if err := l.Record(t.Context(), store.AuditRecord{RequestID: id, Org: org, Action: "vend", Result: audit.OK}); err != nil {
					errc <- err
					return
				}
				want = append(want, id)
				rs, err := s.Audit(t.Context(), store.AuditQuery{Org: org})
				if err != nil {
					errc <- err
					return
				}
				var got []string
				for _, r := range rs {
					got = append(got, r.RequestID)
				}
				if !slices.Equal(got, want) {
					errc <- fmt.Errorf("org %s after Record returned: stored %v, want %v (by ID)", org, got, want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
}

// TestRecordAfterCloseIsRefused checks that an action audited after Close is refused.
func TestRecordAfterCloseIsRefused(t *testing.T) {
	l := audit.New(audit.Options{Store: openSQLite(t)})
	l.Close()
	if err := l.Record(t.Context(), store.AuditRecord{Org: "acme", Action: "vend"}); err == nil {
		t.Fatal("Record after Close succeeded")
	}
}

// BenchmarkAppend compares 64 concurrent requests on SQLite that each store their record
// in its own transaction (AppendAudit, as before group commit) with the same requests
// handing their records to a Log. It reports records per second of each and their ratio.
func BenchmarkAppend(b *testing.B) {
	const clients = 64
	rec := store.AuditRecord{RequestID: "0123456789abcdef0123456789abcdef", Principal: "token:tok_0123456789", Org: "acme",
		Action: "vend", Target: "s3://bucket/datasets/coco", Mode: "read", Result: audit.OK, KeyID: "acme/k1@v1"}
	run := func(b *testing.B, appendOne func(ctx context.Context) error) float64 {
		b.Helper()
		start := time.Now()
		var wg sync.WaitGroup
		for c := range clients {
			wg.Go(func() {
				for i := c; i < b.N; i += clients {
					if err := appendOne(b.Context()); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		return float64(b.N) / time.Since(start).Seconds()
	}
	var single, group float64
	b.Run("single-row", func(b *testing.B) {
		s := openSQLite(b)
		single = run(b, func(ctx context.Context) error {
			r := rec
			r.Time = time.Now()
			_, err := s.AppendAudit(ctx, r)
			return err
		})
		b.ReportMetric(single, "records/s")
	})
	b.Run("group", func(b *testing.B) {
		l := audit.New(audit.Options{Store: openSQLite(b)})
		defer l.Close()
		group = run(b, func(ctx context.Context) error { return l.Record(ctx, rec) })
		b.ReportMetric(group, "records/s")
	})
	if single > 0 {
		b.Logf("64 concurrent appends: single-row %.0f records/s, group %.0f records/s: %.1fx", single, group, group/single)
	}
}

func ExampleLog() {
	dir, err := os.MkdirTemp("", "tarn-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	s, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(dir, "tarn.db"))
	if err != nil {
		panic(err)
	}
	defer s.Close()
	l := audit.New(audit.Options{Store: s})
	defer l.Close() // before the store: Close commits what is queued
	ctx := audit.WithRequestID(context.Background(), "req-1")
	err = l.Record(ctx, store.AuditRecord{Principal: "user:ann", Org: "acme", Action: "vend", Target: "s3://b/coco", Mode: "read", Result: audit.OK})
	fmt.Println("stored:", err == nil)
	rs, _ := s.Audit(ctx, store.AuditQuery{Org: "acme"})
	fmt.Println(rs[0].RequestID, rs[0].Action, rs[0].Result)
	// Output:
	// stored: true
	// req-1 vend ok
}
