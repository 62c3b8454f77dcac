package vend

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/tarnhq/tarn/api"
)

// cacheKey identifies interchangeable credentials: same creds key (the same incarnation of
// it: a key deleted and created again starts at version 1 anew) and version, same location,
// same mode. Who asked is not part of it: authorization happens before the cache.
type cacheKey struct {
	org, key string
	created  int64 // the key's CreatedAt, in Unix nanoseconds
	version  int64
	location string
	mode     string
}

func (k cacheKey) String() string {
	return fmt.Sprintf("%s/%s@%d.%d %s %s", k.org, k.key, k.created, k.version, k.mode, k.location)
}

type cacheEntry struct {
	creds *api.Credentials
	until time.Time // reusable until half the credential's lifetime is spent
}

// maxEntries bounds the cache; past it, a miss first sweeps out spent entries.
const maxEntries = 10000

// upstreamTimeout bounds one upstream call, which runs detached from the request that
// started it because other requests may be waiting for it.
const upstreamTimeout = 30 * time.Second

// cache holds vended credentials until half their lifetime is spent. Concurrent misses
// for one key share a single upstream call; errors are not cached.
type cache struct {
	now     func() time.Time
	mu      sync.Mutex
	entries map[cacheKey]cacheEntry
	flight  singleflight.Group
}

func newCache(now func() time.Time) *cache {
	return &cache{now: now, entries: map[cacheKey]cacheEntry{}}
}

// get returns cached credentials for k, or calls mint once for all concurrent callers.
// Cached S3 credentials whose access key ID is refused are dropped first: their holder saw
// the store refuse them. hit reports whether no upstream call was needed.
func (c *cache) get(ctx context.Context, k cacheKey, refused string, mint func(context.Context) (*api.Credentials, error)) (creds *api.Credentials, hit bool, err error) {
	if refused != "" {
		c.dropRefused(k, refused)
	}
	if creds := c.lookup(k); creds != nil {
		return creds, true, nil
	}
	v, err, _ := c.flight.Do(k.String(), func() (any, error) {
		if creds := c.lookup(k); creds != nil { // filled while we waited for the lock
			return creds, nil
		}
		issued := c.now()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), upstreamTimeout)
		defer cancel()
		creds, err := mint(ctx)
		if err != nil {
			return nil, err
		}
		c.store(k, creds, issued)
		return creds, nil
	})
	if err != nil {
		return nil, false, err
	}
	cp := *v.(*api.Credentials)
	return &cp, false, nil
}

func (c *cache) lookup(k cacheKey) *api.Credentials {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if !ok || !c.now().Before(e.until) {
		return nil
	}
	cp := *e.creds
	return &cp
}

func (c *cache) store(k cacheKey, creds *api.Credentials, issued time.Time) {
	until := issued.Add(creds.ExpiresAt.Sub(issued) / 2)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= maxEntries {
		now := c.now()
		for key, e := range c.entries {
			if !now.Before(e.until) {
				delete(c.entries, key)
			}
		}
	}
	if len(c.entries) < maxEntries {
		c.entries[k] = cacheEntry{creds: creds, until: until}
	}
}

// dropRefused removes the entry of k if its S3 access key ID is refused.
func (c *cache) dropRefused(k cacheKey, refused string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[k]; ok && e.creds.S3 != nil && e.creds.S3.AccessKeyID == refused {
		delete(c.entries, k)
	}
}

// drop removes every entry of creds key org/key, whatever its version.
func (c *cache) drop(org, key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.entries {
		if k.org == org && k.key == key {
			delete(c.entries, k)
		}
	}
}
