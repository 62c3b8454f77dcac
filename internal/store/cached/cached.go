// Package cached keeps the reads that authenticate and admit a request in memory: a token
// with its user, identity and membership (TokenAuth), a dataset with its creds key
// (DatasetWithKey, Dataset) and a creds key (CredsKey). It answers them again for as long as
// the store's access version (store.Store.AccessVersion) has not moved. Each such read still
// reads the version, so a revoked token, a changed role or a deleted dataset takes effect
// on the next request of every server that shares the database.
//
// Reading the version is one small query, and concurrent reads share it: a read waits for
// the next query of the version to start and takes its answer, so one query serves every
// read that arrived while the previous one ran, and none is answered by a query that began
// before it arrived.
package cached

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/store"
)

// DefaultMaxEntries bounds each kind of entry a Store keeps when New is given no bound.
const DefaultMaxEntries = 1 << 16

// Store is a store.Store that answers the reads of access from memory while the access
// version stays the same, and passes everything else through. It is safe for concurrent
// use. What it keeps is only ever found again by the exact key it was read with (a token's
// hash, an org and a name), and errors are never kept: an unknown token costs a database
// read every time.
type Store struct {
	store.Store
	max      int
	versions versions

	mu       sync.RWMutex
	version  int64 // the access version every entry below was read at or after
	tokens   map[tokenKey]store.TokenAuth
	datasets map[orgName]datasetEntry
	keys     map[orgName]store.CredsKey
	used     map[string]time.Time // token ID -> when this server last recorded its use
}

type tokenKey struct{ hash, org string }

type orgName struct{ org, name string }

type datasetEntry struct {
	d  store.Dataset
	sk store.CredsKey
}

// New returns st with its access reads kept in memory, at most max entries of each kind
// (max <= 0: DefaultMaxEntries).
func New(st store.Store, max int) *Store {
	if max <= 0 {
		max = DefaultMaxEntries
	}
	return &Store{Store: st, max: max, version: -1,
		tokens: map[tokenKey]store.TokenAuth{}, datasets: map[orgName]datasetEntry{},
		keys: map[orgName]store.CredsKey{}, used: map[string]time.Time{}}
}

// reset empties every entry; s.mu must be held for writing.
func (s *Store) reset() {
	clear(s.tokens)
	clear(s.datasets)
	clear(s.keys)
	clear(s.used)
}

// TokenAuth returns what the store returns for hash and org, from memory when it was read
// at the current access version.
func (s *Store) TokenAuth(ctx context.Context, hash []byte, org string) (store.TokenAuth, error) {
	a, err := lookup(ctx, s, s.tokens, tokenKey{string(hash), org},
		func() (store.TokenAuth, error) { return s.Store.TokenAuth(ctx, hash, org) })
	if err != nil {
		return a, err
	}
	s.mu.RLock()
	used, ok := s.used[a.ID]
	s.mu.RUnlock()
	if ok && used.After(a.LastUsedAt) {
		a.LastUsedAt = used
	}
	return a, nil
}

// TouchToken records a token's use in the store and remembers it, so that the token's
// entry reports its last use without being read again (using a token does not move the
// access version).
func (s *Store) TouchToken(ctx context.Context, id string, at time.Time) error {
	if err := s.Store.TouchToken(ctx, id, at); err != nil {
		return err
	}
	s.mu.Lock()
	if len(s.used) >= s.max {
		clear(s.used)
	}
	s.used[id] = at
	s.mu.Unlock()
	return nil
}

// DatasetWithKey returns what the store returns for dataset org/name, from memory when it
// was read at the current access version.
func (s *Store) DatasetWithKey(ctx context.Context, org, name string) (store.Dataset, store.CredsKey, error) {
	e, err := lookup(ctx, s, s.datasets, orgName{org, name},
		func() (datasetEntry, error) {
			d, sk, err := s.Store.DatasetWithKey(ctx, org, name)
			return datasetEntry{d, sk}, err
		})
	return e.d, e.sk, err
}

// Dataset returns dataset org/name as DatasetWithKey does.
func (s *Store) Dataset(ctx context.Context, org, name string) (store.Dataset, error) {
	d, _, err := s.DatasetWithKey(ctx, org, name)
	return d, err
}

// CredsKey returns what the store returns for creds key org/name, from memory when it was
// read at the current access version.
func (s *Store) CredsKey(ctx context.Context, org, name string) (store.CredsKey, error) {
	return lookup(ctx, s, s.keys, orgName{org, name},
		func() (store.CredsKey, error) { return s.Store.CredsKey(ctx, org, name) })
}

// lookup returns the entry of k in entries (one of s's maps, guarded by s.mu) if it was read at the access
// version the store reports now, and else read's answer, which it keeps unless it is an
// error or a newer version was seen meanwhile. The version is read before read runs, so an
// entry is never older than the version it is kept under.
func lookup[K comparable, V any](ctx context.Context, s *Store, entries map[K]V, k K, read func() (V, error)) (V, error) {
	v, err := s.versions.read(ctx, s.Store)
	if err != nil {
		var zero V
		return zero, err
	}
	s.mu.RLock()
	e, ok := entries[k]
	ok = ok && s.version == v
	s.mu.RUnlock()
	if ok {
		return e, nil
	}
	e, err = read()
	if err != nil {
		return e, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if v > s.version {
		s.reset()
		s.version = v
	}
	if v == s.version {
		if len(entries) >= s.max {
			clear(entries)
		}
		entries[k] = e
	}
	return e, nil
}

// versions shares queries of the access version among concurrent readers.
type versions struct {
	mu      sync.Mutex
	next    *versionQuery // the query the readers arriving now wait for; nil if none waits
	running bool          // a goroutine is running queries
}

// versionQuery is one query of the access version and its answer, ready once done is closed.
type versionQuery struct {
	done chan struct{}
	v    int64
	err  error
}

// read returns the access version st reports in a query that starts after read was called.
func (vs *versions) read(ctx context.Context, st store.Store) (int64, error) {
	vs.mu.Lock()
	q := vs.next
	if q == nil {
		q = &versionQuery{done: make(chan struct{})}
		vs.next = q
	}
	if !vs.running {
		vs.running = true
		go vs.run(st)
	}
	vs.mu.Unlock()
	select {
	case <-q.done:
		return q.v, q.err
	case <-ctx.Done():
		return 0, errs.Wrap(errs.Unavailable, fmt.Errorf("read access version: %w", ctx.Err()), "the request ended while waiting for the database; try again")
	}
}

// run runs the waiting queries one after another, each starting at least versionSpacing
// after the one before, until none waits. A query does not end with any one reader's
// context: the store's own timeout bounds it.
func (vs *versions) run(st store.Store) {
	var last time.Time
	for {
		if wait := versionSpacing - time.Since(last); wait > 0 {
			time.Sleep(wait)
		}
		vs.mu.Lock()
		q := vs.next
		vs.next = nil
		if q == nil {
			vs.running = false
			vs.mu.Unlock()
			return
		}
		vs.mu.Unlock()
		last = time.Now()
		q.v, q.err = st.AccessVersion(context.Background())
		close(q.done)
	}
}

// versionSpacing is the least time between the starts of two queries of the access version
// while readers keep arriving. Under load it bounds the queries to 5,000 a second, each
// serving every read that arrived meanwhile, at the cost of a wait of at most that long; a
// read that finds no query running starts one at once.
const versionSpacing = 200 * time.Microsecond
