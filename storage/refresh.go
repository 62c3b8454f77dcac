package storage

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/client"
	"github.com/tarnhq/tarn/internal/renew"
	"github.com/tarnhq/tarn/location"
)

// fetchTimeout bounds one vend. The vend runs detached from the context of the caller that
// started it, because every concurrent caller waits for the same vend.
const fetchTimeout = time.Minute

// refresher holds one vended credential of type C (aws.Credentials for S3, the vend itself
// for an Azure SAS or a GCS token) and renews it: at the time renew.After sets, which it measures from when
// the credential arrived to its expiry (as info tells it), and at once after invalidate. It
// is provider-neutral: each bucket type wraps it in its SDK's hook (s3Credentials,
// sasPolicy, gcsAuth). It is safe for concurrent use: concurrent
// callers that need a new credential share one vend, and a vend that fails while the old
// credential is still valid leaves the old one in service and is tried again later.
//
// Its clock is now, which tests replace; the AWS SDK's own credentials cache
// (aws.CredentialsCache) cannot be given a clock and knows only a fixed ExpiryWindow, which
// is why renewals are made here.
type refresher[C any] struct {
	fetch func(ctx context.Context) (C, error)
	info  func(C) credInfo
	now   func() time.Time

	mu       sync.Mutex
	cur      *held[C]   // the credential in service; nil before the first vend and after invalidate
	flight   *flight[C] // the vend in progress, shared by every caller that waits for it
	retryAt  time.Time  // after a failed renewal: no new vend before this, the old credential serves
	replaced bool       // the next vend replaces a credential that a denial invalidated
	refused  string     // refusal ID of the credential last invalidated, for the next vend
}

// credInfo is what a refresher needs to know of a credential: when it expires (zero: never)
// and the ID by which the server is told that the storage refused it
// (api.Credentials.RefusalID).
type credInfo struct {
	expires time.Time
	id      string
}

// held is a credential with the times that govern its renewal.
type held[C any] struct {
	creds     C
	id        string    // refusal ID
	fetched   time.Time // when the vend answered, on the refresher's clock
	renewAt   time.Time // fetched + renew.After(Expires - fetched); zero when it never expires
	expires   time.Time // zero when it never expires
	afterDeny bool      // vended to replace a credential that a denial invalidated
}

// due reports whether h should be renewed at now.
func (h *held[C]) due(now time.Time) bool { return !h.renewAt.IsZero() && !now.Before(h.renewAt) }

// valid reports whether h has not expired at now.
func (h *held[C]) valid(now time.Time) bool { return h.expires.IsZero() || now.Before(h.expires) }

// flight is one vend; done is closed when h or err is set.
type flight[C any] struct {
	done chan struct{}
	h    *held[C]
	err  error
}

// newRefresher returns a refresher that vends with fetch. first, when set, is a credential
// already vended, put in service as if fetch had just answered it.
func newRefresher[C any](fetch func(context.Context) (C, error), info func(C) credInfo, now func() time.Time, first *C) *refresher[C] {
	if now == nil {
		now = time.Now
	}
	r := &refresher[C]{fetch: fetch, info: info, now: now}
	if first != nil {
		r.cur = r.hold(*first, now(), false)
	}
	return r
}

// hold wraps a credential that arrived at fetched.
func (r *refresher[C]) hold(c C, fetched time.Time, afterDeny bool) *held[C] {
	in := r.info(c)
	h := &held[C]{creds: c, id: in.id, fetched: fetched, afterDeny: afterDeny}
	switch life := in.expires.Sub(fetched); {
	case in.expires.IsZero():
	case life <= 0:
		// Expired on arrival by this clock, so the clock is likely off from the server's:
		// renewing at once would vend again for every request. It serves for RetryMin
		// instead; if the store refuses it, the refusal replaces it at once.
		h.expires, h.renewAt = in.expires, fetched.Add(renew.RetryMin)
	default:
		h.expires, h.renewAt = in.expires, fetched.Add(renew.After(life))
	}
	return h
}

// get returns the credential in service, or vends a new one when there is none, it has
// expired, or it is due for renewal. A caller waits for the vend only as long as ctx lets
// it; the vend itself goes on for the other callers.
func (r *refresher[C]) get(ctx context.Context) (*held[C], error) {
	r.mu.Lock()
	now := r.now()
	old := r.cur
	if old != nil && !old.due(now) {
		r.mu.Unlock()
		return old, nil
	}
	usable := old != nil && old.valid(now)
	if usable && now.Before(r.retryAt) {
		r.mu.Unlock()
		return old, nil
	}
	f := r.flight
	if f == nil {
		f = r.start(ctx)
	}
	r.mu.Unlock()

	select {
	case <-f.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if f.err == nil {
		return f.h, nil
	}
	if usable {
		r.mu.Lock()
		still := r.cur == old && old.valid(r.now())
		r.mu.Unlock()
		if still {
			return old, nil
		}
	}
	return nil, f.err
}

// start begins a vend. r.mu is held.
func (r *refresher[C]) start(ctx context.Context) *flight[C] {
	f := &flight[C]{done: make(chan struct{})}
	r.flight = f
	afterDeny, refused := r.replaced, r.refused
	go func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
		if refused != "" {
			// Tell the server, so that it does not answer the refused credential from its cache.
			ctx = client.WithRefusedKey(ctx, refused)
		}
		c, err := r.fetch(ctx)
		cancel()

		r.mu.Lock()
		now := r.now()
		if err == nil {
			f.h = r.hold(c, now, afterDeny)
			r.cur, r.retryAt, r.replaced, r.refused = f.h, time.Time{}, false, ""
		} else {
			f.err = err
			if r.cur != nil && r.cur.valid(now) {
				r.retryAt = now.Add(renew.RetryDelay(r.cur.expires.Sub(now)))
			}
		}
		r.flight = nil
		r.mu.Unlock()
		close(f.done)
	}()
	return f
}

// invalidate takes h out of service, if it still is, so that the next caller vends. denied
// says that a request was refused for a reason that may or may not be h's fault (see
// refused in s3.go and sasPolicy); the credential that replaces h remembers it.
func (r *refresher[C]) invalidate(h *held[C], denied bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur == h {
		r.cur, r.retryAt, r.replaced, r.refused = nil, time.Time{}, denied, h.id
	}
}

// vendCheck checks a vend of v and returns the location that it grants and the URL it is
// used at (vendedAzure, vendedGCS).
type vendCheck func(v *vend, c *api.Credentials) (location.Location, string, error)

// vendRefresher checks first, the first answer of v, and returns a refresher of whole vends
// (an Azure SAS, a GCS token) with first in service, whose later vends must pass check for
// the same location and URL; what names the credential in errors ("a SAS"). Its errors
// name v.path and never include credentials.
func vendRefresher(v *vend, first *api.Credentials, what string, check vendCheck, now func() time.Time) (*refresher[*api.Credentials], location.Location, string, error) {
	root, u, err := check(v, first)
	if err != nil {
		return nil, location.Location{}, "", fmt.Errorf("%s: %w", v.path, err)
	}
	r := newRefresher(func(ctx context.Context) (*api.Credentials, error) {
		c, err := v.get(ctx)
		if err != nil {
			return nil, err
		}
		l, lu, err := check(v, c)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", v.path, err)
		}
		if l != root || lu != u {
			return nil, fmt.Errorf("%s: the server vended %s for %s at %s, not for %s at %s as before", v.path, what, l, lu, root, u)
		}
		return c, nil
	}, vendInfo, now, &first)
	return r, root, u, nil
}

// vendInfo tells a refresher that holds whole vends (an Azure SAS, a GCS token) when a vend
// expires and names it by api.Credentials.RefusalID, a digest that is not itself a
// credential.
func vendInfo(c *api.Credentials) credInfo {
	return credInfo{expires: c.ExpiresAt, id: c.RefusalID()}
}
