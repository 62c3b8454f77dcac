package azuresas

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"
	"golang.org/x/sync/singleflight"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/netguard"
	"github.com/tarnhq/tarn/internal/provider"
)

// DelegationKeyLifetime is how long a user delegation key is asked to be valid: Azure's
// maximum of 7 days, less an hour for clocks that disagree. A key is renewed when half of
// it has passed.
const DelegationKeyLifetime = 7*24*time.Hour - time.Hour

// keyCache holds one signing key of type T per creds key (user delegation keys), fetched
// with fetch and reused until half its lifetime has passed. Concurrent misses of one creds
// key share one fetch; a failed fetch is not cached. It is safe for concurrent use.
type keyCache[T any] struct {
	now     func() time.Time
	timeout time.Duration
	fetch   func(ctx context.Context, key provider.Key, start, expiry time.Time) (T, error)

	mu      sync.Mutex
	entries map[string]cachedKey[T] // by org/name
	waiting map[string]int          // callers waiting for a fetch, by flight
	flight  singleflight.Group
}

type cachedKey[T any] struct {
	version         int64
	val             T
	expiry, renewAt time.Time
}

func newKeyCache[T any](now func() time.Time, timeout time.Duration, fetch func(context.Context, provider.Key, time.Time, time.Time) (T, error)) *keyCache[T] {
	return &keyCache[T]{now: now, timeout: timeout, fetch: fetch, entries: map[string]cachedKey[T]{}, waiting: map[string]int{}}
}

// get returns key's signing key and when it expires, fetching a new one when there is none
// for key's version or half of it has passed. The fetch runs for at most the cache's
// timeout, whether or not the caller that started it gives up.
func (c *keyCache[T]) get(ctx context.Context, key provider.Key) (T, time.Time, error) {
	id := cacheID(key)
	if e, ok := c.lookup(id, key.Version); ok {
		return e.val, e.expiry, nil
	}
	fk := flightKey(key)
	c.wait(fk, 1)
	defer c.wait(fk, -1)
	ch := c.flight.DoChan(fk, func() (any, error) {
		if e, ok := c.lookup(id, key.Version); ok {
			return e, nil // filled by a fetch that ended after our lookup
		}
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
		defer cancel()
		now := c.now().UTC().Truncate(time.Second)
		expiry := now.Add(DelegationKeyLifetime)
		v, err := c.fetch(fctx, key, now.Add(-Backdate), expiry)
		if err != nil {
			return nil, err
		}
		e := cachedKey[T]{version: key.Version, val: v, expiry: expiry, renewAt: now.Add(DelegationKeyLifetime / 2)}
		c.mu.Lock()
		c.entries[id] = e // replaces the key's older version
		c.mu.Unlock()
		return e, nil
	})
	var zero T
	select {
	case r := <-ch:
		if r.Err != nil {
			return zero, time.Time{}, r.Err
		}
		e := r.Val.(cachedKey[T])
		return e.val, e.expiry, nil
	case <-ctx.Done():
		return zero, time.Time{}, errs.Wrap(errs.Unavailable, ctx.Err(), "gave up waiting for a user delegation key")
	}
}

// ready reports whether a get of key would make no fetch of its own: the cache holds a
// signing key for key's version that is not due for renewal, or a fetch of one is under
// way, which the get would join.
func (c *keyCache[T]) ready(key provider.Key) bool {
	if _, ok := c.lookup(cacheID(key), key.Version); ok {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.waiting[flightKey(key)] > 0
}

func (c *keyCache[T]) wait(fk string, delta int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.waiting[fk] += delta; c.waiting[fk] <= 0 {
		delete(c.waiting, fk)
	}
}

func cacheID(key provider.Key) string   { return key.Org + "/" + key.Name }
func flightKey(key provider.Key) string { return fmt.Sprintf("%s@%d", cacheID(key), key.Version) }

func (c *keyCache[T]) lookup(id string, version int64) (cachedKey[T], bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[id]
	return e, ok && e.version == version && c.now().Before(e.renewAt)
}

// fetchDelegationKey asks the key's blob service for a user delegation key valid from
// start to expiry, with a token of the key's auth mode.
func (d *Driver) fetchDelegationKey(ctx context.Context, key provider.Key, start, expiry time.Time) (*sas.UserDelegationCredential, error) {
	cfg := key.Config
	auth, ok := d.auth[cfg.Auth]
	if !ok {
		return nil, errs.E(errs.Invalid, "creds key %s/%s: auth %q cannot get a user delegation key", key.Org, key.Name, cfg.Auth)
	}
	cred, err := auth.Credential(key)
	if err != nil {
		return nil, err
	}
	client, err := service.NewClient(cfg.Endpoint+"/", cred, &service.ClientOptions{ClientOptions: azcore.ClientOptions{
		Transport: d.http, Retry: policy.RetryOptions{MaxRetries: 2, MaxRetryDelay: 2 * time.Second},
	}})
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, err, fmt.Sprintf("creds key %s/%s: endpoint %s is not usable", key.Org, key.Name, cfg.Endpoint))
	}
	udk, err := client.GetUserDelegationCredential(ctx, service.KeyInfo{
		Start: to.Ptr(start.UTC().Format(sas.TimeFormat)), Expiry: to.Ptr(expiry.UTC().Format(sas.TimeFormat)),
	}, nil)
	if err != nil {
		return nil, delegationError(key, err)
	}
	return udk, nil
}

var codeRe = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// delegationError classifies a failure to get a user delegation key and names its cause in
// tarn's words, never with the upstream's message: Entra ID refusing the token (tenant,
// client, secret), Blob Storage refusing the key (the Storage Blob Delegator role), or an
// endpoint that cannot be reached or fails on its side (kind Unavailable).
func delegationError(key provider.Key, err error) error {
	var (
		e       *errs.Error
		authErr *azidentity.AuthenticationFailedError
		resp    *azcore.ResponseError
		refused *netguard.RefusedError
	)
	where := fmt.Sprintf("creds key %s/%s", key.Org, key.Name)
	switch {
	case errors.As(err, &e):
		return err
	case errors.As(err, &refused):
		return errs.Wrap(errs.Unavailable, err, fmt.Sprintf("%s: cannot reach the endpoint: %s", where, refused.Error()))
	case errors.As(err, &authErr):
		if authErr.RawResponse == nil || authErr.RawResponse.StatusCode >= 500 || authErr.RawResponse.StatusCode == http.StatusTooManyRequests {
			return errs.Wrap(errs.Unavailable, err, where+": Entra ID did not give a token for Azure Storage; try again later")
		}
		switch key.Config.Auth {
		case api.AuthClientSecret:
			return errs.Wrap(errs.Upstream, err, where+": Entra ID refused a token for Azure Storage: check tenant_id, client_id and the client secret of the app registration")
		case api.AuthFederated:
			return errs.Wrap(errs.Upstream, err, where+": "+federatedRefusal(key))
		}
		return errs.Wrap(errs.Upstream, err, where+": Entra ID refused the tarn server's own identity a token for Azure Storage; check the server's Azure identity")
	case errors.As(err, &resp):
		code := resp.ErrorCode
		if !codeRe.MatchString(code) {
			code = fmt.Sprint(resp.StatusCode)
		}
		switch {
		case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
			return errs.Wrap(errs.Unavailable, err, fmt.Sprintf("%s: Blob Storage could not give a user delegation key (%s); try again later", where, code))
		case resp.StatusCode == http.StatusForbidden:
			return errs.Wrap(errs.Upstream, err, fmt.Sprintf("%s: Blob Storage refused a user delegation key (%s): the identity needs the Storage Blob Delegator role on account %s", where, code, key.Config.Account))
		}
		return errs.Wrap(errs.Upstream, err, fmt.Sprintf("%s: Blob Storage refused a user delegation key (%s); check the account and endpoint", where, code))
	}
	return errs.Wrap(errs.Unavailable, err, where+": cannot reach the endpoint or Entra ID")
}
