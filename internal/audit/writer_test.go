package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/store"
	"github.com/tarnhq/tarn/internal/store/sqlstore"
)

// forever is a MaxWait no test outlasts: a batch commits when it is full or the writer
// closes, so a test decides which records share a batch.
const forever = time.Hour

func openStore(t *testing.T) (*sqlstore.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tarn.db")
	s, err := sqlstore.OpenSQLite(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func record(i int) store.AuditRecord {
	return store.AuditRecord{Time: time.Now(), RequestID: fmt.Sprint("r", i), Org: "acme", Action: "vend", Result: OK}
}

// stored returns the request IDs of acme's records, oldest first.
func stored(t *testing.T, s store.Store) []string {
	t.Helper()
	rs, err := s.Audit(t.Context(), store.AuditQuery{Org: "acme", Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range rs {
		ids = append(ids, r.RequestID)
	}
	return ids
}

// fill queues records from..to-1 in w and returns their batches and indexes.
func fill(t *testing.T, w *writer, from, to int) (bs []*batch, is []int) {
	t.Helper()
	for i := from; i < to; i++ {
		b, j, err := w.enqueue(record(i))
		if err != nil {
			t.Fatal(err)
		}
		bs, is = append(bs, b), append(is, j)
	}
	return bs, is
}

// TestFailedBatchFailsAll makes one transaction fail on a real constraint (a trigger that
// refuses one record): every record of that batch is refused, none is stored, and the next
// batch is stored.
func TestFailedBatchFailsAll(t *testing.T) {
	s, path := openStore(t)
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TRIGGER poison BEFORE INSERT ON audit WHEN NEW.request_id = 'r5'
		BEGIN SELECT RAISE(ABORT, 'poisoned record'); END`); err != nil {
		t.Fatal(err)
	}
	w := newWriter(s, 8, forever)
	defer w.close()
	bs, is := fill(t, w, 0, 16) // two full batches: r0..r7 (with r5) and r8..r15
	if bs[0] != bs[7] || bs[8] == bs[7] {
		t.Fatal("records 0-7 and 8-15 are not two batches")
	}
	for i, b := range bs {
		_, err := b.wait(t.Context(), is[i])
		if i < 8 && err == nil {
			t.Errorf("record %d of the failed batch reported stored", i)
		}
		if i >= 8 && err != nil {
			t.Errorf("record %d of the next batch: %v", i, err)
		}
	}
	want := []string{"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"}
	if got := stored(t, s); !slices.Equal(got, want) {
		t.Errorf("stored %v, want only the second batch %v", got, want)
	}
}

// TestClosedDatabaseFailsBatch closes the database under queued records: all of them fail,
// as Unavailable.
func TestClosedDatabaseFailsBatch(t *testing.T) {
	s, _ := openStore(t)
	w := newWriter(s, 5, forever)
	defer w.close()
	bs, is := fill(t, w, 0, 4)
	s.Close()
	more, mis := fill(t, w, 4, 5) // fills the batch: it commits
	bs, is = append(bs, more...), append(is, mis...)
	for i, b := range bs {
		if _, err := b.wait(t.Context(), is[i]); !errs.Is(errs.Unavailable, err) {
			t.Errorf("record %d: got %v, want an Unavailable error", i, err)
		}
	}
}

// TestWaitHonoursContext checks that a waiter whose context ends gets its error while its
// batch is still queued, and that the record is still committed by Close.
func TestWaitHonoursContext(t *testing.T) {
	s, _ := openStore(t)
	w := newWriter(s, 10, forever)
	bs, is := fill(t, w, 0, 1)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := bs[0].wait(ctx, is[0]); !errors.Is(err, context.Canceled) {
		t.Fatalf("wait with a cancelled context: %v, want context.Canceled", err)
	}
	w.close()
	if got := stored(t, s); !slices.Equal(got, []string{"r0"}) {
		t.Errorf("stored %v after Close, want [r0]", got)
	}
}

// TestCloseFlushes checks that Close commits every queued record before it returns, that
// their waiters succeed, and that appends after Close are refused.
func TestCloseFlushes(t *testing.T) {
	s, _ := openStore(t)
	w := newWriter(s, 100, forever)
	bs, is := fill(t, w, 0, 10)
	w.close()
	var want []string
	for i, b := range bs {
		select {
		case <-b.done:
		default:
			t.Fatalf("record %d still waits after Close", i)
		}
		if _, err := b.wait(t.Context(), is[i]); err != nil {
			t.Errorf("record %d: %v", i, err)
		}
		want = append(want, fmt.Sprint("r", i))
	}
	if got := stored(t, s); !slices.Equal(got, want) {
		t.Errorf("stored %v, want %v", got, want)
	}
	if _, err := w.append(t.Context(), record(10)); !errs.Is(errs.Unavailable, err) {
		t.Errorf("append after Close: %v, want an Unavailable error", err)
	}
}

// TestIDsIncreaseInQueueOrder checks that records get IDs in the order they were queued,
// across batches.
func TestIDsIncreaseInQueueOrder(t *testing.T) {
	s, _ := openStore(t)
	w := newWriter(s, 3, 0)
	defer w.close()
	bs, is := fill(t, w, 0, 20)
	var last int64
	for i, b := range bs {
		id, err := b.wait(t.Context(), is[i])
		if err != nil {
			t.Fatal(err)
		}
		if id <= last {
			t.Errorf("record %d got ID %d after %d", i, id, last)
		}
		last = id
	}
}

// BenchmarkMirror measures the slog mirror of one record on a JSON handler, as tarn serve
// logs, next to the rest of Record's own work (stamping and capping).
func BenchmarkMirror(b *testing.B) {
	l := &Log{logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), now: time.Now}
	r := store.AuditRecord{RequestID: "0123456789abcdef0123456789abcdef", Principal: "token:tok_0123456789", Org: "acme",
		Action: "vend", Target: "s3://bucket/datasets/coco", Mode: "read", Result: OK, KeyID: "acme/k1@v1"}
	b.ReportAllocs()
	for b.Loop() {
		l.mirror(b.Context(), &r)
	}
}
