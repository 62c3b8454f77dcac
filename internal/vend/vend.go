// Package vend is the vending service: it authorizes a request for credentials, resolves
// the dataset or location to a creds key, asks the provider to mint, counts the outcome, and
// fills in the request's audit record (target, mode, creds key and version; never secrets).
package vend

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/audit"
	"github.com/tarnhq/tarn/internal/authn"
	"github.com/tarnhq/tarn/internal/authz"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/issuer"
	"github.com/tarnhq/tarn/internal/provider"
	"github.com/tarnhq/tarn/internal/secretbox"
	"github.com/tarnhq/tarn/internal/store"
	"github.com/tarnhq/tarn/internal/upstream"
	"github.com/tarnhq/tarn/location"
)

// DefaultTTL is the lifetime asked of providers when Options.TTL is zero.
const DefaultTTL = time.Hour

// Options configure a Service. Store, Authz and Vendor are required.
type Options struct {
	Store   store.Store
	Authz   *authz.Authorizer
	Vendor  *provider.Vendor
	Secrets *secretbox.Box // opens creds-key secrets; nil when no key has one
	TTL     time.Duration  // lifetime asked of providers; zero: DefaultTTL
	Now     func() time.Time
	Metrics *Metrics // nil: not counted
	// Upstream budgets the upstream calls of every creds key (see package upstream);
	// its Now and OnBreaker are set by New.
	Upstream upstream.Options
	// Issuer, when set, is tarn's own OIDC issuer: every opened creds key gets a
	// provider.Identity that mints its tokens, each recorded through Audit.
	Issuer *issuer.Issuer
	// Audit records the mint of each issuer token; required with Issuer.
	Audit func(ctx context.Context, r store.AuditRecord) error
}

// Service vends credentials on behalf of principals. It is safe for concurrent use.
//
// The upstream calls of each creds key (version) pass its budget: a token bucket, a bound
// on calls in flight and a circuit breaker. While the budget refuses, cached credentials
// keep serving and misses fail fast with an Unavailable error whose RetryAfter is the
// remaining cooldown. When an upstream call fails or is refused, a cached credential past
// its reuse point that is still valid for a safe margin is answered instead (stale-if-error).
type Service struct {
	Options
	cache   *cache
	budgets *upstream.Budgets

	mu     sync.Mutex
	opened map[keyVersion]provider.Key // creds keys as open returned them, by version
}

// maxOpened bounds the opened creds keys a Service keeps.
const maxOpened = 4096

// keyVersion identifies one version of a creds key: a key changed or created anew, here or
// on another server, is a new version, with an upstream budget and an opened form of its own.
type keyVersion struct {
	provider, org, key string
	created, version   int64
}

// New returns a vending service.
func New(o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	o.Upstream.Now = o.Now
	o.Upstream.OnBreaker = nil
	if m := o.Metrics; m != nil {
		o.Upstream.OnBreaker = func(k any, open bool) {
			g := m.breakers.WithLabelValues(k.(keyVersion).provider)
			if open {
				g.Inc()
			} else {
				g.Dec()
			}
		}
	}
	return &Service{Options: o, cache: newCache(o.Now), budgets: upstream.New(o.Upstream), opened: map[keyVersion]provider.Key{}}
}

// Forget drops cached credentials and the upstream budget of creds key org/key; call it
// when the key changes or goes.
func (s *Service) Forget(org, key string) {
	s.cache.drop(org, key)
	s.mu.Lock()
	maps.DeleteFunc(s.opened, func(k keyVersion, _ provider.Key) bool { return k.org == org && k.key == key })
	s.mu.Unlock()
	s.budgets.Forget(func(k any) bool { b := k.(keyVersion); return b.org == org && b.key == key })
}

// Key returns creds key org/name with its secret decrypted, as drivers see it.
func (s *Service) Key(ctx context.Context, org, name string) (store.CredsKey, provider.Key, error) {
	sk, err := s.Store.CredsKey(ctx, org, name)
	if err != nil {
		return sk, provider.Key{}, err
	}
	key, err := s.open(sk)
	return sk, key, err
}

// open returns the driver view of creds key sk with its secret decrypted. It decodes and
// decrypts each version of a key once; the stored key of a version never changes.
func (s *Service) open(sk store.CredsKey) (provider.Key, error) {
	id := keyVersion{provider: sk.Provider, org: sk.Org, key: sk.Name, created: sk.CreatedAt.UnixNano(), version: sk.Version}
	s.mu.Lock()
	key, ok := s.opened[id]
	s.mu.Unlock()
	if ok {
		return key, nil
	}
	key, err := s.decode(sk)
	if err != nil {
		return key, err
	}
	s.mu.Lock()
	if len(s.opened) >= maxOpened {
		clear(s.opened)
	}
	s.opened[id] = key
	s.mu.Unlock()
	return key, nil
}

// decode decodes creds key sk and decrypts its secret.
func (s *Service) decode(sk store.CredsKey) (provider.Key, error) {
	org, name := sk.Org, sk.Name
	key, err := provider.Decode(sk)
	if err != nil {
		return key, err
	}
	key.Identity = s.identity(org, name)
	if len(sk.Secret) > 0 {
		if s.Secrets == nil {
			return key, errs.E(errs.Unavailable, "creds key %s/%s has a secret but the server has no master key", org, name)
		}
		if key.Secret, err = s.Secrets.Open(sk.Secret, SecretContext(org, name)); err != nil {
			return key, errs.Wrap(errs.Internal, err, fmt.Sprintf("creds key %s/%s: %v", org, name, err))
		}
	}
	return key, nil
}

// identity returns the provider.Identity of creds key org/name, nil without an issuer.
// Each mint is audited with the principal and request of its context; a token whose mint
// cannot be audited is not handed out.
func (s *Service) identity(org, name string) *provider.Identity {
	if s.Issuer == nil {
		return nil
	}
	mint := func(ctx context.Context, key, audience, why string) (string, error) {
		tok, claims, err := s.Issuer.Mint(ctx, org, key, audience, issuer.MaxTTL)
		if err != nil {
			return "", err
		}
		r := issuer.AuditRecord(org, key, claims)
		r.Principal = audit.Pending(ctx).Principal // who the vend or verify is for
		if why != "" {
			r.Detail += ", " + why
		}
		if err := s.Audit(ctx, r); err != nil {
			return "", err
		}
		return tok, nil
	}
	return &provider.Identity{
		Issuer:  s.Issuer.URL(),
		Subject: issuer.Subject(org, name),
		Token: func(ctx context.Context, audience string) (string, error) {
			return mint(ctx, name, audience, "")
		},
		Foreign: func(ctx context.Context, audience string) (string, string, error) {
			other := provider.ProbeName()
			tok, err := mint(ctx, other, audience, "for verify's negative check of creds key "+name)
			return tok, issuer.Subject(org, other), err
		},
	}
}

// SecretContext is what a creds key's secret is bound to when sealed.
func SecretContext(org, name string) string { return org + "/" + name }

// Dataset vends credentials for dataset org/name in mode. Read needs reader in the org or a
// public dataset; write needs writer. An empty mode means read.
func (s *Service) Dataset(ctx context.Context, p authn.Principal, org, name, mode, refused string) (c *api.Credentials, err error) {
	return s.dataset(ctx, p, org, name, mode, refused, nil)
}

// SignFunc signs URLs that GET objects, keys relative to the location of the credentials
// it came with, valid from now for expires, and returns them by key.
type SignFunc = func(ctx context.Context, objects []string, now time.Time, expires time.Duration) (map[string]string, error)

// DatasetForURLs vends read credentials for dataset org/name as Dataset does (same access
// rule, cache and audit record) and returns with them, when the creds key's driver signs
// URLs of its own (provider.URLSigner: gcs), a SignFunc for their location, else nil. Each
// call of the SignFunc counts as one upstream call against the key's budget, however many
// URLs it signs.
func (s *Service) DatasetForURLs(ctx context.Context, p authn.Principal, org, name string) (*api.Credentials, SignFunc, error) {
	var m minted
	c, err := s.dataset(ctx, p, org, name, api.ModeRead, "", &m)
	return s.forURLs(c, m, err)
}

// LinkedForURLs vends read credentials for loc through creds key key, linked to dataset
// org/name, as Linked does (same access rule, cache and audit record), and returns with
// them a SignFunc as DatasetForURLs does.
func (s *Service) LinkedForURLs(ctx context.Context, p authn.Principal, org, name, key, loc string) (*api.Credentials, SignFunc, error) {
	var m minted
	c, err := s.linked(ctx, p, org, name, key, loc, &m)
	return s.forURLs(c, m, err)
}

// forURLs returns c, err of a vend through m, with a SignFunc when m's driver signs URLs.
func (s *Service) forURLs(c *api.Credentials, m minted, err error) (*api.Credentials, SignFunc, error) {
	if err != nil || !s.Vendor.SignsURLs(m.sk.Provider) {
		return c, nil, err
	}
	org := m.sk.Org
	loc, err := location.ParseStorage(c.Location)
	if err != nil {
		return nil, nil, fmt.Errorf("vended location %q: %w", c.Location, err)
	}
	kv := keyVersion{provider: m.sk.Provider, org: org, key: m.sk.Name, created: m.sk.CreatedAt.UnixNano(), version: m.sk.Version}
	sign := func(ctx context.Context, objects []string, now time.Time, expires time.Duration) (urls map[string]string, err error) {
		call, err := s.budgets.Acquire(kv)
		if err != nil {
			return nil, refusedError(m.sk, err)
		}
		defer func() { call.Done(err) }()
		urls = make(map[string]string, len(objects))
		for _, o := range objects {
			if urls[o], err = s.Vendor.SignURL(ctx, m.sk.Provider, m.key, loc, o, now, expires); err != nil {
				return nil, err
			}
		}
		return urls, nil
	}
	return c, sign, nil
}

// minted is what mint resolved: the creds key, stored and as drivers see it.
type minted struct {
	sk  store.CredsKey
	key provider.Key
}

// dataset is Dataset, setting *m (when m is not nil) to the creds key it vended through.
func (s *Service) dataset(ctx context.Context, p authn.Principal, org, name, mode, refused string, m *minted) (c *api.Credentials, err error) {
	prov := ""
	defer s.count(&prov, &err)
	mode, err = checkMode(mode)
	if err != nil {
		return nil, err
	}
	audit.Pending(ctx).Mode = mode
	audit.Pending(ctx).Target = "al://" + org + "/" + name
	d, sk, err := s.Store.DatasetWithKey(ctx, org, name) // one query for both
	if err := hideMissing(ctx, s.Authz, p, org, err); err != nil {
		return nil, err
	}
	if err := s.Authz.Dataset(ctx, p, d, mode); err != nil {
		return nil, err
	}
	loc, err := location.ParseStorage(d.Location)
	if err != nil {
		return nil, fmt.Errorf("stored location of al://%s/%s: %w", org, name, err)
	}
	known := &sk
	if sk.Name == "" {
		known = nil // the join found no key: mint looks it up and reports what is missing
	}
	return s.mint(ctx, &prov, p, org, d.CredsKey, known, loc, mode, refused, true, m)
}

// Location vends credentials for a location that is not a registered dataset, through
// creds key org/key. Both modes need writer: the location may hold anything under the key's roots.
func (s *Service) Location(ctx context.Context, p authn.Principal, org, key, loc, mode, refused string) (c *api.Credentials, err error) {
	prov := ""
	defer s.count(&prov, &err)
	mode, err = checkMode(mode)
	if err != nil {
		return nil, err
	}
	audit.Pending(ctx).Mode = mode
	if err := s.Authz.Org(ctx, p, org, store.Writer); err != nil {
		return nil, err
	}
	l, err := ParseLocation(loc)
	if err != nil {
		return nil, err
	}
	return s.mint(ctx, &prov, p, org, key, nil, l, mode, refused, false, nil)
}

// Linked vends read credentials for loc through creds key key, which must be linked to
// dataset org/name. The caller needs the reader role in the org: a linked key may reach
// beyond the dataset, so a public dataset's link columns are not public.
func (s *Service) Linked(ctx context.Context, p authn.Principal, org, name, key, loc string) (*api.Credentials, error) {
	return s.linked(ctx, p, org, name, key, loc, nil)
}

// linked is Linked, setting *m (when m is not nil) to the creds key it vended through.
func (s *Service) linked(ctx context.Context, p authn.Principal, org, name, key, loc string, m *minted) (c *api.Credentials, err error) {
	prov := ""
	defer s.count(&prov, &err)
	audit.Pending(ctx).Mode = api.ModeRead
	d, err := LookupDataset(ctx, s.Store, s.Authz, p, org, name)
	if err != nil {
		return nil, err
	}
	if err := s.Authz.Org(ctx, p, org, store.Reader); err != nil {
		return nil, err
	}
	if !slices.Contains(d.LinkedKeys, key) {
		return nil, errs.E(errs.Permission, "creds key %q is not linked to al://%s/%s; an org admin can link it with: tarn ds add-creds-key al://%s/%s %s",
			key, org, name, org, name, key)
	}
	l, err := ParseLocation(loc)
	if err != nil {
		return nil, err
	}
	return s.mint(ctx, &prov, p, org, key, nil, l, api.ModeRead, "", false, m)
}

// mint answers credentials for loc through creds key org/keyName, from the cache unless
// the cached ones carry the access key ID refused (and that refusal is honoured).
// known, if not nil, is that key as the caller read it in this request; else mint reads it.
// registered tells the provider that loc is a registered dataset's location. It sets *prov
// to the key's provider once the key is resolved, and *m, when m is not nil, to the key.
func (s *Service) mint(ctx context.Context, prov *string, p authn.Principal, org, keyName string, known *store.CredsKey, loc location.Location, mode, refused string, registered bool, m *minted) (*api.Credentials, error) {
	pending := audit.Pending(ctx)
	pending.Target = loc.String()
	var sk store.CredsKey
	var key provider.Key
	var err error
	if known != nil {
		sk = *known
		key, err = s.open(sk)
	} else {
		sk, key, err = s.Key(ctx, org, keyName)
	}
	if err != nil {
		return nil, err
	}
	*prov = sk.Provider
	if m != nil {
		m.sk, m.key = sk, key
	}
	pending.KeyID = audit.KeyID(sk)
	pending.Detail = "provider " + sk.Provider
	if !provider.Allows(key, loc) { // checked here too: a cache hit skips the Vendor
		return nil, provider.OutsideRoots(key, loc)
	}
	k := cacheKey{org: org, key: keyName, created: sk.CreatedAt.UnixNano(), version: sk.Version, location: loc.String(), mode: mode}
	if r := s.cache.refuse(k, refused); r != refusalNone {
		pending.Detail += ", refusal " + r
		if m := s.Metrics; m != nil {
			m.refusals.WithLabelValues(sk.Provider, r).Inc()
		}
	}
	kv := keyVersion{provider: sk.Provider, org: org, key: keyName, created: k.created, version: k.version}
	creds, hit, err := s.cache.get(ctx, k, func(ctx context.Context) (*api.Credentials, error) {
		var call *upstream.Call // nil for a vend that signs locally: it costs no budget
		if !s.Vendor.VendsOffline(sk.Provider, key) {
			var err error
			if call, err = s.budgets.Acquire(kv); err != nil {
				if m := s.Metrics; m != nil {
					m.refused.WithLabelValues(sk.Provider, upstream.AsRefused(err).Reason).Inc()
				}
				return nil, refusedError(sk, err)
			}
		}
		start := time.Now()
		c, err := s.Vendor.Vend(ctx, sk.Provider, provider.Request{
			Key: key, Location: loc, Mode: mode, Session: org + "/" + p.Name(), TTL: s.TTL, Registered: registered,
		})
		if call == nil {
			return c, err // signed locally: no upstream call to count
		}
		call.Done(err)
		if m := s.Metrics; m != nil && !errs.Is(errs.Permission, err) && !errs.Is(errs.Invalid, err) {
			m.upstream.WithLabelValues(sk.Provider, okOrError(err)).Inc()
			m.latency.WithLabelValues(sk.Provider).Observe(time.Since(start).Seconds())
		}
		return c, err
	})
	if errs.Is(errs.Unavailable, err) {
		if c := s.cache.stale(k); c != nil {
			pending.Detail += ", stale, upstream failing"
			if m := s.Metrics; m != nil {
				m.stale.WithLabelValues(sk.Provider).Inc()
			}
			return c, nil
		}
	}
	lookup := "miss"
	if hit {
		lookup = "hit"
		pending.Detail += ", cached"
	}
	if m := s.Metrics; m != nil && err == nil {
		m.cache.WithLabelValues(sk.Provider, lookup).Inc()
	}
	return creds, err
}

// refusedError is the error of a vend whose upstream call the budget of creds key sk
// refused: Unavailable, asking to retry when the budget may let a call through, naming the
// upstream and the last failure's user-facing detail (never a secret: details hold none).
func refusedError(sk store.CredsKey, err error) error {
	r := upstream.AsRefused(err)
	wait := (r.RetryAfter + time.Second - 1).Truncate(time.Second)
	var why string
	switch r.Reason {
	case upstream.ReasonBreaker:
		last := "an internal error"
		if e := (*errs.Error)(nil); errors.As(r.Last, &e) && e.Kind != errs.Internal && e.Detail != "" {
			last = e.Detail
		}
		why = fmt.Sprintf("failed %d times in a row (last: %s)", r.Failures, last)
	case upstream.ReasonRate:
		why = "was called as often as tarn allows per second"
	default:
		why = "has as many calls in flight as tarn allows at once"
	}
	return errs.Wrap(errs.Unavailable, err, fmt.Sprintf("the %s upstream of creds key %s/%s %s; cached credentials still serve; retry after %ds",
		sk.Provider, sk.Org, sk.Name, why, wait/time.Second)).After(wait)
}

// count counts a vend by provider (*prov: "none" when it failed before a creds key was
// resolved) and result.
func (s *Service) count(prov *string, err *error) {
	if s.Metrics == nil {
		return
	}
	p := *prov
	if p == "" {
		p = "none"
	}
	s.Metrics.vends.WithLabelValues(p, audit.ResultOf(*err)).Inc()
}

func okOrError(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}

// LookupDataset returns dataset org/name for p. A dataset that does not exist is NotFound
// for members of the org and Permission for everyone else, so that outsiders cannot probe
// for names of private datasets.
func LookupDataset(ctx context.Context, st store.Store, az *authz.Authorizer, p authn.Principal, org, name string) (store.Dataset, error) {
	audit.Pending(ctx).Target = "al://" + org + "/" + name
	d, err := st.Dataset(ctx, org, name)
	return d, hideMissing(ctx, az, p, org, err)
}

// hideMissing returns err, the result of looking up a dataset of org, unless it is
// NotFound and p is not a reader of org: then it returns the Permission error that p gets
// for the org whether the dataset exists or not.
func hideMissing(ctx context.Context, az *authz.Authorizer, p authn.Principal, org string, err error) error {
	if !errs.Is(errs.NotFound, err) {
		return err
	}
	if err := az.Org(ctx, p, org, store.Reader); err != nil {
		return err
	}
	return err
}

// ParseLocation parses a storage location given in a request body.
func ParseLocation(s string) (location.Location, error) {
	l, err := location.ParseStorage(s)
	if err != nil {
		return l, errs.Wrap(errs.Invalid, err, err.Error()).WithCode(api.CodeInvalidLocation)
	}
	return l, nil
}

func checkMode(mode string) (string, error) {
	switch mode {
	case "":
		return api.ModeRead, nil
	case api.ModeRead, api.ModeWrite:
		return mode, nil
	}
	return "", errs.E(errs.Invalid, "mode %q is not read or write", mode)
}
