package gcsdownscope

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/sync/singleflight"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/netguard"
	"github.com/tarnhq/tarn/internal/provider"
)

// Wire constants of Google STS.
const (
	grantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	tokenTypeAccess    = "urn:ietf:params:oauth:token-type:access_token"
)

// RoleTokenCreator is the role the source identity needs on a creds key's service account.
const RoleTokenCreator = "roles/iam.serviceAccountTokenCreator"

// tokenCache holds the impersonated token of each creds key (per version and lifetime),
// shared by all the key's locations, and reuses it until half its lifetime has passed.
// Concurrent misses share one fetch; a failed fetch is not cached. It is safe for
// concurrent use.
type tokenCache struct {
	now     func() time.Time
	timeout time.Duration
	fetch   func(ctx context.Context, key provider.Key, life time.Duration) (*oauth2.Token, error)

	mu      sync.Mutex
	entries map[string]cachedToken // by org/name#lifetime
	flight  singleflight.Group
}

type cachedToken struct {
	version int64
	tok     *oauth2.Token
	renewAt time.Time
}

func newTokenCache(now func() time.Time, timeout time.Duration, fetch func(context.Context, provider.Key, time.Duration) (*oauth2.Token, error)) *tokenCache {
	return &tokenCache{now: now, timeout: timeout, fetch: fetch, entries: map[string]cachedToken{}}
}

// get returns key's impersonated token of lifetime life, fetching one when there is none
// for key's version or half of it has passed. The fetch runs for at most the cache's
// timeout, whether or not the caller that started it gives up.
func (c *tokenCache) get(ctx context.Context, key provider.Key, life time.Duration) (*oauth2.Token, error) {
	id := fmt.Sprintf("%s/%s#%d", key.Org, key.Name, life/time.Second)
	if t, ok := c.lookup(id, key.Version); ok {
		return t, nil
	}
	ch := c.flight.DoChan(fmt.Sprintf("%s@%d", id, key.Version), func() (any, error) {
		if t, ok := c.lookup(id, key.Version); ok {
			return t, nil // filled by a fetch that ended after our lookup
		}
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
		defer cancel()
		issued := c.now()
		t, err := c.fetch(fctx, key, life)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		c.entries[id] = cachedToken{version: key.Version, tok: t, renewAt: issued.Add(t.Expiry.Sub(issued) / 2)}
		c.mu.Unlock()
		return t, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*oauth2.Token), nil
	case <-ctx.Done():
		return nil, errs.Wrap(errs.Unavailable, ctx.Err(), "gave up waiting for an impersonated Google token")
	}
}

func (c *tokenCache) lookup(id string, version int64) (*oauth2.Token, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[id]
	return e.tok, ok && e.version == version && c.now().Before(e.renewAt)
}

// impersonate gets a token of key's service account with scope ScopeStorage and lifetime
// life, from IAM Credentials with a source token of the key's auth mode.
func (d *Driver) impersonate(ctx context.Context, key provider.Key, life time.Duration) (*oauth2.Token, error) {
	cfg := key.Config
	where := fmt.Sprintf("creds key %s/%s", key.Org, key.Name)
	src, err := d.source(ctx, key)
	if err != nil {
		return nil, err
	}
	in := map[string]any{"scope": []string{ScopeStorage}, "lifetime": fmt.Sprintf("%ds", life/time.Second)}
	var out struct {
		AccessToken string    `json:"accessToken"`
		ExpireTime  time.Time `json:"expireTime"`
	}
	if err := d.iam(ctx, key, src, "generateAccessToken", in, &out); err != nil {
		var ue *upstreamError
		if !errors.As(err, &ue) {
			return nil, errs.Wrap(errs.Unavailable, err, fmt.Sprintf("%s: %s", where, err))
		}
		who, role := "the tarn server's Google identity", RoleTokenCreator
		switch cfg.Auth {
		case api.AuthServiceAccountKey:
			who = "the service account of the key's secret"
		case api.AuthFederated:
			who, role = "the pool principal of the key", RoleWorkloadIdentityUser
			if p, ok := ParsePoolProvider(cfg.WorkloadIdentityProvider); ok && key.Identity != nil {
				who = p.Principal(key.Identity.Subject)
			}
		}
		switch {
		case ue.retryable():
			return nil, errs.Wrap(errs.Unavailable, err, fmt.Sprintf("%s: IAM Credentials could not impersonate %s (%s); try again later", where, cfg.ServiceAccount, ue))
		case ue.status == http.StatusForbidden:
			return nil, errs.Wrap(errs.Permission, err, fmt.Sprintf("%s: %s may not impersonate %s (%s): grant it %s on that service account (see tarn provision gcp)", where, who, cfg.ServiceAccount, ue, role))
		case ue.status == http.StatusUnauthorized:
			return nil, errs.Wrap(errs.Upstream, err, fmt.Sprintf("%s: IAM Credentials refused the source token of %s (%s)", where, who, ue))
		case ue.status == http.StatusNotFound:
			return nil, errs.Wrap(errs.Upstream, err, fmt.Sprintf("%s: IAM Credentials knows no service account %s (%s): check service_account and iam_endpoint", where, cfg.ServiceAccount, ue))
		}
		return nil, errs.Wrap(errs.Upstream, err, fmt.Sprintf("%s: IAM Credentials refused to impersonate %s (%s)", where, cfg.ServiceAccount, ue))
	}
	if out.AccessToken == "" || out.ExpireTime.IsZero() {
		return nil, errs.E(errs.Upstream, "%s: IAM Credentials answered without a token; is iam_endpoint an IAM Credentials endpoint?", where)
	}
	return &oauth2.Token{AccessToken: out.AccessToken, TokenType: "Bearer", Expiry: out.ExpireTime}, nil
}

// iam calls IAM Credentials method (generateAccessToken, signBlob) on key's service
// account with the source token src, JSON in and out; its errors are as call's.
func (d *Driver) iam(ctx context.Context, key provider.Key, src *oauth2.Token, method string, in, out any) error {
	body, _ := json.Marshal(in)
	u := orDefault(key.Config.IAMEndpoint, DefaultIAMEndpoint) + "/v1/projects/-/serviceAccounts/" + key.Config.ServiceAccount + ":" + method
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build the %s request: %w", method, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+src.AccessToken)
	return d.call(req, out)
}

// source returns a fresh source token of key's auth mode, its failures classified.
func (d *Driver) source(ctx context.Context, key provider.Key) (*oauth2.Token, error) {
	where := fmt.Sprintf("creds key %s/%s", key.Org, key.Name)
	a, ok := d.auth[key.Config.Auth]
	if !ok {
		return nil, errs.E(errs.Invalid, "%s: auth %q cannot impersonate", where, key.Config.Auth)
	}
	ts, err := a.Source(ctx, key)
	if err != nil {
		return nil, err
	}
	tok, err := ts.Token()
	if err == nil {
		return tok, nil
	}
	if key.Config.Auth == api.AuthFederated {
		return nil, federatedFailure(key, err)
	}
	what := "the tarn server's Application Default Credentials"
	if key.Config.Auth == api.AuthServiceAccountKey {
		what = "the service account key"
	}
	var (
		re      *oauth2.RetrieveError
		refused *netguard.RefusedError
		e       *errs.Error
	)
	switch {
	case errors.As(err, &e):
		return nil, err
	case errors.As(err, &refused):
		return nil, errs.Wrap(errs.Unavailable, err, fmt.Sprintf("%s: cannot reach the token endpoint of %s: %s", where, what, refused.Error()))
	case errors.As(err, &re) && re.Response != nil:
		ue := &upstreamError{status: re.Response.StatusCode, code: safeCode(re.ErrorCode)}
		if ue.retryable() {
			return nil, errs.Wrap(errs.Unavailable, err, fmt.Sprintf("%s: Google did not give %s a token (%s); try again later", where, what, ue))
		}
		hint := "check the server's Google identity"
		if key.Config.Auth == api.AuthServiceAccountKey {
			hint = "the key may be deleted or disabled: set a new one with tarn creds add --secret-stdin"
		}
		return nil, errs.Wrap(errs.Upstream, err, fmt.Sprintf("%s: Google refused %s a token (%s): %s", where, what, ue, hint))
	}
	return nil, errs.Wrap(errs.Unavailable, err, fmt.Sprintf("%s: cannot get a token with %s", where, what))
}

// downscope exchanges src at Google STS for a token bounded by opts (Boundary.Options).
func (d *Driver) downscope(ctx context.Context, key provider.Key, src *oauth2.Token, opts string) (*oauth2.Token, error) {
	where := fmt.Sprintf("creds key %s/%s", key.Org, key.Name)
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	form := url.Values{
		"grant_type":           {grantTokenExchange},
		"subject_token_type":   {tokenTypeAccess},
		"requested_token_type": {tokenTypeAccess},
		"subject_token":        {src.AccessToken},
		"options":              {opts},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, orDefault(key.Config.STSEndpoint, DefaultSTSEndpoint)+"/v1/token", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("%s: build the STS request: %w", where, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	var out struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := d.call(req, &out); err != nil {
		var ue *upstreamError
		switch {
		case !errors.As(err, &ue):
			return nil, errs.Wrap(errs.Unavailable, err, fmt.Sprintf("%s: %s", where, err))
		case ue.retryable():
			return nil, errs.Wrap(errs.Unavailable, err, fmt.Sprintf("%s: Google STS could not downscope a token (%s); try again later", where, ue))
		}
		return nil, errs.Wrap(errs.Upstream, err, fmt.Sprintf("%s: Google STS refused to downscope the token of %s (%s)", where, key.Config.ServiceAccount, ue))
	}
	if out.AccessToken == "" {
		return nil, errs.E(errs.Upstream, "%s: Google STS answered without a token; is sts_endpoint a Google STS endpoint?", where)
	}
	expiry := src.Expiry
	if out.ExpiresIn > 0 {
		if e := d.now().Add(time.Duration(out.ExpiresIn) * time.Second); e.Before(expiry) {
			expiry = e
		}
	}
	return &oauth2.Token{AccessToken: out.AccessToken, TokenType: "Bearer", Expiry: expiry}, nil
}

// upstreamError is a refusal by a Google endpoint: its status and error code (or status
// name), never its message.
type upstreamError struct {
	status int
	code   string
}

func (e *upstreamError) Error() string { return fmt.Sprintf("%s, %d", e.code, e.status) }

func (e *upstreamError) retryable() bool {
	return e.status >= 500 || e.status == http.StatusTooManyRequests
}

var codeRe = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

func safeCode(code string) string {
	if !codeRe.MatchString(code) {
		return "no error code"
	}
	return code
}

// call sends req with the driver's guarded client and decodes a 2xx JSON answer into out.
// A refusal is an *upstreamError; an endpoint that cannot be reached is an error naming the
// host only (Go's own errors name the whole URL).
func (d *Driver) call(req *http.Request, out any) error {
	resp, err := d.http.Do(req)
	if err != nil {
		var refused *netguard.RefusedError
		if errors.As(err, &refused) {
			return fmt.Errorf("cannot reach %s: %s", req.URL.Host, refused.Error())
		}
		return fmt.Errorf("cannot reach %s", req.URL.Host)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("cannot read the answer of %s", req.URL.Host)
	}
	if resp.StatusCode/100 != 2 {
		return &upstreamError{status: resp.StatusCode, code: errorCode(body)}
	}
	if err := json.Unmarshal(body, out); err != nil {
		return &upstreamError{status: resp.StatusCode, code: "an answer that is not JSON"}
	}
	return nil
}

// errorCode returns the code of a Google error body: the status of a JSON API error
// ({"error": {"status": "PERMISSION_DENIED"}}) or the OAuth error ({"error": "invalid_grant"}).
func errorCode(body []byte) string {
	var e struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil || len(e.Error) == 0 {
		return "no error code"
	}
	var oauth string
	if json.Unmarshal(e.Error, &oauth) == nil {
		return safeCode(oauth)
	}
	var apiErr struct {
		Status string `json:"status"`
	}
	json.Unmarshal(e.Error, &apiErr)
	return safeCode(apiErr.Status)
}
