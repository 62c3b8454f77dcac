package audit

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/store"
)

// DefaultMaxBatch is the most records one transaction of a Log stores unless
// Options.MaxBatch says otherwise.
const DefaultMaxBatch = 256

// writer commits the records handed to it in batches, one transaction per batch, from one
// goroutine: the records that arrive while a batch commits form the next batch, so under
// load one transaction stores many records and the database's one writer is held once for
// all of them.
type writer struct {
	store    store.Store
	maxBatch int
	maxWait  time.Duration

	mu     sync.Mutex
	queue  []*batch // waiting to be committed, oldest first; only the last may grow
	closed bool

	wake    chan struct{} // capacity 1: something was queued, or the writer was closed
	stopped chan struct{} // closed when the goroutine has committed its last batch
}

// batch is records committed in one transaction, and the outcome shared by their waiters.
type batch struct {
	recs []store.AuditRecord
	ids  []int64       // set before done is closed, if err is nil
	err  error         // set before done is closed
	done chan struct{} // closed when the transaction has committed or failed
}

func newWriter(st store.Store, maxBatch int, maxWait time.Duration) *writer {
	if maxBatch <= 0 {
		maxBatch = DefaultMaxBatch
	}
	w := &writer{store: st, maxBatch: maxBatch, maxWait: maxWait,
		wake: make(chan struct{}, 1), stopped: make(chan struct{})}
	go w.run()
	return w
}

// append queues r and waits until the batch holding it has committed. It returns the
// record's ID, or the batch's error, or ctx's (the record may still be committed then).
func (w *writer) append(ctx context.Context, r store.AuditRecord) (int64, error) {
	b, i, err := w.enqueue(r)
	if err != nil {
		return 0, err
	}
	return b.wait(ctx, i)
}

// enqueue adds r to the newest batch that is not full and returns it and r's index in it.
func (w *writer) enqueue(r store.AuditRecord) (*batch, int, error) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil, 0, errs.E(errs.Unavailable, "the audit log is closed")
	}
	var b *batch
	if n := len(w.queue); n > 0 && len(w.queue[n-1].recs) < w.maxBatch {
		b = w.queue[n-1]
	} else {
		b = &batch{done: make(chan struct{})}
		w.queue = append(w.queue, b)
	}
	i := len(b.recs)
	b.recs = append(b.recs, r)
	w.mu.Unlock()
	w.signal()
	return b, i, nil
}

// wait returns the ID of record i of b once b has committed, or b's error, or ctx's.
func (b *batch) wait(ctx context.Context, i int) (int64, error) {
	select {
	case <-b.done:
		if b.err != nil {
			return 0, b.err
		}
		return b.ids[i], nil
	case <-ctx.Done():
		return 0, fmt.Errorf("wait for the audit record to be stored: %w", context.Cause(ctx))
	}
}

func (w *writer) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// close stops taking records, commits those queued and returns when the last batch has
// committed. Calling it again returns at once.
func (w *writer) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.signal()
	<-w.stopped
}

// run commits batches until the writer is closed and its queue is empty. A batch is
// committed without the waiters' contexts: a waiter that gives up does not take the others'
// records with it.
func (w *writer) run() {
	defer close(w.stopped)
	for {
		b := w.next()
		if b == nil {
			return
		}
		b.ids, b.err = w.store.AppendAudits(context.Background(), b.recs)
		close(b.done)
	}
}

// next takes the oldest batch off the queue once it is ready: full, followed by another,
// MaxWait after the writer first saw it, or at once when maxWait is zero or the writer is
// closing. It returns nil when the writer is closed and nothing is queued.
func (w *writer) next() *batch {
	var linger *time.Timer
	lingered := false
	defer func() {
		if linger != nil {
			linger.Stop()
		}
	}()
	for {
		w.mu.Lock()
		if len(w.queue) == 0 && w.closed {
			w.mu.Unlock()
			return nil
		}
		if n := len(w.queue); n > 0 {
			b := w.queue[0]
			if n > 1 || len(b.recs) >= w.maxBatch || w.closed || w.maxWait <= 0 || lingered {
				w.queue[0] = nil
				w.queue = w.queue[1:]
				w.mu.Unlock()
				return b
			}
			if linger == nil {
				linger = time.NewTimer(w.maxWait)
			}
		}
		w.mu.Unlock()
		var timeout <-chan time.Time
		if linger != nil {
			timeout = linger.C
		}
		select {
		case <-w.wake:
		case <-timeout:
			lingered = true
		}
	}
}
