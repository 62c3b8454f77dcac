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
	creds  *api.Credentials
	issued time.Time
	until  time.Time // reusable until half the credential's lifetime is spent
	// refused: a holder saw the store refuse creds; the entry is no longer answered.
	refused bool
	// replacesRefused: creds were minted because the previous ones were refused. A
	// refusal of these is not honoured: a client could otherwise report every credential
	// it gets as refused and make every vend an upstream call.
	replacesRefused bool
}

// Bounds of the cache: past maxPerOrg entries of one org, storing one more first evicts
// that org's entry that is due soonest, so that no org, however many locations it asks for,
// takes the cache from the others; past maxEntries in all, spent entries are swept out and
// then the entry due soonest is evicted.
const (
	maxEntries = 10000
	maxPerOrg  = 1000
)

// upstreamTimeout bounds one upstream call, which runs detached from the request that
// started it because other requests may be waiting for it.
const upstreamTimeout = 30 * time.Second

// cache holds vended credentials until half their lifetime is spent. Concurrent misses
// for one key share a single upstream call; errors are not cached.
type cache struct {
	now     func() time.Time
	mu      sync.Mutex
	entries map[cacheKey]cacheEntry
	perOrg  map[string]int // entries by org
	flight  singleflight.Group
}

func newCache(now func() time.Time) *cache {
	return &cache{now: now, entries: map[cacheKey]cacheEntry{}, perOrg: map[string]int{}}
}

// get returns cached credentials for k, or calls mint once for all concurrent callers.
// hit reports whether no upstream call was needed.
func (c *cache) get(ctx context.Context, k cacheKey, mint func(context.Context) (*api.Credentials, error)) (creds *api.Credentials, hit bool, err error) {
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

// Outcomes of a reported refusal.
const (
	refusalNone     = ""         // no cached credentials carry that refusal ID
	refusalHonoured = "honoured" // the cached credentials will not be answered again
	refusalIgnored  = "ignored"  // they replace refused ones: refused again, they stay
)

// refuse handles a client's report that the store refused the credentials whose
// api.Credentials.RefusalID is id (the access key ID of S3 credentials, a digest of an Azure
// SAS): cached credentials of k with that ID are answered no more, at most once per cached
// credential chain (see cacheEntry.replacesRefused).
func (c *cache) refuse(k cacheKey, id string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	switch {
	case id == "" || !ok || e.refused || e.creds.RefusalID() != id:
		return refusalNone
	case e.replacesRefused:
		return refusalIgnored
	}
	e.refused = true
	c.entries[k] = e
	return refusalHonoured
}

func (c *cache) lookup(k cacheKey) *api.Credentials {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if !ok || e.refused || !c.now().Before(e.until) {
		return nil
	}
	cp := *e.creds
	return &cp
}

// Stale-if-error: a credential past its reuse point is still answered while the upstream
// fails if at least the larger of staleMargin and 1/staleFraction of its lifetime remains,
// so that its holder has time to use it and to renew it once the upstream is back.
const (
	staleMargin   = 5 * time.Minute
	staleFraction = 6
)

// stale returns the credentials cached for k, past their reuse point or not, when they are
// not refused and enough of their lifetime remains (see staleMargin); else nil.
func (c *cache) stale(k cacheKey) *api.Credentials {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if !ok || e.refused {
		return nil
	}
	margin := max(staleMargin, e.creds.ExpiresAt.Sub(e.issued)/staleFraction)
	if e.creds.ExpiresAt.Sub(c.now()) < margin {
		return nil
	}
	cp := *e.creds
	return &cp
}

func (c *cache) store(k cacheKey, creds *api.Credentials, issued time.Time) {
	until := issued.Add(creds.ExpiresAt.Sub(issued) / 2)
	c.mu.Lock()
	defer c.mu.Unlock()
	old, replaces := c.entries[k]
	if !replaces {
		if c.perOrg[k.org] >= maxPerOrg {
			c.evict(func(key cacheKey) bool { return key.org == k.org })
		}
		if len(c.entries) >= maxEntries {
			now := c.now()
			for key, e := range c.entries {
				if !now.Before(e.until) {
					c.remove(key)
				}
			}
		}
		if len(c.entries) >= maxEntries {
			c.evict(func(cacheKey) bool { return true })
		}
		c.perOrg[k.org]++
	}
	c.entries[k] = cacheEntry{creds: creds, issued: issued, until: until, replacesRefused: replaces && old.refused}
}

// evict removes, of the entries whose keys match, the one due soonest; c.mu must be held.
func (c *cache) evict(match func(cacheKey) bool) {
	var victim cacheKey
	var due time.Time
	found := false
	for key, e := range c.entries {
		if match(key) && (!found || e.until.Before(due)) {
			victim, due, found = key, e.until, true
		}
	}
	if found {
		c.remove(victim)
	}
}

// remove deletes the entry of k; c.mu must be held.
func (c *cache) remove(k cacheKey) {
	if _, ok := c.entries[k]; !ok {
		return
	}
	delete(c.entries, k)
	if c.perOrg[k.org]--; c.perOrg[k.org] <= 0 {
		delete(c.perOrg, k.org)
	}
}

// drop removes every entry of creds key org/key, whatever its version.
func (c *cache) drop(org, key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.entries {
		if k.org == org && k.key == key {
			c.remove(k)
		}
	}
}
