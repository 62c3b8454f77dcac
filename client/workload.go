package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/renew"
)

// TokenSource gives a token: a tarn API token (Options.TokenSource) or a workload's platform
// token (the sources passed to NewWorkloadTokenSource). Implementations must be safe for
// concurrent use.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
}

// TokenSourceFunc adapts a function to a TokenSource.
type TokenSourceFunc func(ctx context.Context) (string, error)

// Token calls f.
func (f TokenSourceFunc) Token(ctx context.Context) (string, error) { return f(ctx) }

// Environment variables of workload authentication.
const (
	// EnvAuthProvider selects the workload's platform: azure, github, kubernetes or oidc.
	EnvAuthProvider = "TARN_AUTH_PROVIDER"
	// EnvAuthProviderAlias is accepted as EnvAuthProvider, for users moving from Deep Lake.
	EnvAuthProviderAlias = "ACTIVELOOP_AUTH_PROVIDER"
	// EnvAudience is the audience of the platform token (azure, github). Default DefaultAudience.
	EnvAudience = "TARN_AUDIENCE"
	// EnvTokenFile is the file holding the platform token (kubernetes, oidc).
	EnvTokenFile = "TARN_TOKEN_FILE"
	// EnvScope narrows the exchanged token to an org: "org:ORG" or just "ORG".
	EnvScope = "TARN_SCOPE"
	// EnvAzureClientID is the client ID of a user-assigned managed identity.
	EnvAzureClientID = "AZURE_CLIENT_ID"
	// EnvGitHubRequestURL and EnvGitHubRequestToken are set by GitHub Actions in jobs with
	// "permissions: id-token: write".
	EnvGitHubRequestURL   = "ACTIONS_ID_TOKEN_REQUEST_URL"
	EnvGitHubRequestToken = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"
)

// DefaultAudience is the audience tarn accepts by default (tarn serve --workload-audience).
const DefaultAudience = "api://tarn"

// DefaultKubernetesTokenFile is where the kubernetes provider reads the projected service
// account token by default.
const DefaultKubernetesTokenFile = "/var/run/secrets/tokens/tarn"

// AuthProvider returns the provider named by TARN_AUTH_PROVIDER, or by its alias
// ACTIVELOOP_AUTH_PROVIDER, lower-cased; "" when neither is set.
func AuthProvider(getenv func(string) string) string {
	p := strings.TrimSpace(getenv(EnvAuthProvider))
	if p == "" {
		p = strings.TrimSpace(getenv(EnvAuthProviderAlias))
	}
	return strings.ToLower(p)
}

// PlatformTokenSource returns the source of the workload's platform token for provider
// (api.IdentityAzure, IdentityGitHub, IdentityKubernetes or IdentityOIDC), configured from
// getenv (os.Getenv in programs). hc sends its requests (nil: a default client).
func PlatformTokenSource(provider string, getenv func(string) string, hc *http.Client) (TokenSource, error) {
	audience := strings.TrimSpace(getenv(EnvAudience))
	if audience == "" {
		audience = DefaultAudience
	}
	switch provider {
	case api.IdentityAzure:
		return AzureManagedIdentity(audience, strings.TrimSpace(getenv(EnvAzureClientID)), hc)
	case api.IdentityGitHub:
		u, t := getenv(EnvGitHubRequestURL), getenv(EnvGitHubRequestToken)
		if u == "" || t == "" {
			return nil, fmt.Errorf("%s and %s are not set: run in a GitHub Actions job with \"permissions: id-token: write\"", EnvGitHubRequestURL, EnvGitHubRequestToken)
		}
		return GitHubActions(u, t, audience, hc), nil
	case api.IdentityKubernetes:
		f := strings.TrimSpace(getenv(EnvTokenFile))
		if f == "" {
			f = DefaultKubernetesTokenFile
		}
		return TokenFile(f), nil
	case api.IdentityOIDC:
		f := strings.TrimSpace(getenv(EnvTokenFile))
		if f == "" {
			return nil, fmt.Errorf("%s is not set: the oidc provider reads the workload's token from that file", EnvTokenFile)
		}
		return TokenFile(f), nil
	case "":
		return nil, errors.New("no auth provider")
	}
	return nil, fmt.Errorf("unknown auth provider %q: use azure, github, kubernetes or oidc", provider)
}

// FromEnv returns a client configured from getenv (os.Getenv in programs), for workloads:
// the endpoint from opts or TARN_ENDPOINT; the token from opts, TARN_TOKEN, or else, when
// TARN_AUTH_PROVIDER (or ACTIVELOOP_AUTH_PROVIDER) is set, a WorkloadTokenSource that
// exchanges the platform's token, scoped to the org of each request unless TARN_SCOPE
// names one, and renews it before it expires.
func FromEnv(getenv func(string) string, opts Options) (*Client, error) {
	if opts.Endpoint == "" {
		opts.Endpoint = getenv("TARN_ENDPOINT")
	}
	if opts.Token == "" && opts.TokenSource == nil {
		opts.Token = strings.TrimSpace(getenv("TARN_TOKEN"))
	}
	provider := AuthProvider(getenv)
	if opts.Token != "" || opts.TokenSource != nil || provider == "" {
		return New(opts)
	}
	platform, err := PlatformTokenSource(provider, getenv, opts.HTTPClient)
	if err != nil {
		return nil, fmt.Errorf("%s=%s: %w", EnvAuthProvider, provider, err)
	}
	c, err := New(opts)
	if err != nil {
		return nil, err
	}
	// The exchange itself sends no Authorization header, so c can exchange for itself.
	c.ts = NewWorkloadTokenSource(c, platform, WorkloadOptions{Scope: getenv(EnvScope)})
	return c, nil
}

// WorkloadOptions configure a WorkloadTokenSource.
type WorkloadOptions struct {
	// Scope narrows every tarn token to one org: "org:ORG" (or "ORG"). Empty: each request
	// is scoped to the org it acts in (RequestOrg), and requests outside any org are not
	// scoped.
	Scope string
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// WorkloadTokenSource is a TokenSource of tarn tokens for a workload: it gets a token from
// the workload's platform, exchanges it at tarn (Client.ExchangeToken), caches the tarn token
// and exchanges again when 80 % of its lifetime has passed or 30 minutes before it expires,
// whichever is earlier, but never before half of its lifetime (the rule of storage.OpenBucket's
// credentials). Concurrent callers share one exchange. When a renewal fails while the cached
// token is still valid, that token is used, and the next exchange waits a quarter of what is
// left of it (at least 30 seconds, at most 5 minutes, never more than half of what is left).
//
// Unless WorkloadOptions.Scope fixes one, each exchange is scoped to the org of the request
// the token is for ("org:acme" for a request about al://acme/...), with one cached token
// per org: a workload reading al://acme/... gets acme's identity even when another org
// registered the same workload.
type WorkloadTokenSource struct {
	exchanger *Client
	platform  TokenSource
	scope     string
	now       func() time.Time

	mu     sync.Mutex
	tokens map[string]*workloadToken // by scope
}

// workloadToken is the cached tarn token of one scope.
type workloadToken struct {
	token     string
	renewAt   time.Time
	expiresAt time.Time
	retryAt   time.Time     // after a failed renewal: no exchange before this, the token serves
	inflight  chan struct{} // closed when the running exchange ends; nil when none runs
	lastErr   error         // error of the last exchange, for callers that waited on it
}

// NewWorkloadTokenSource returns a source that exchanges platform's tokens at exchanger's
// server. exchanger's own token is not used.
func NewWorkloadTokenSource(exchanger *Client, platform TokenSource, opts WorkloadOptions) *WorkloadTokenSource {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &WorkloadTokenSource{exchanger: exchanger, platform: platform, scope: normalizeScope(opts.Scope), now: now,
		tokens: map[string]*workloadToken{}}
}

// expiryMargin is how long before its expiry a cached token is no longer handed out.
const expiryMargin = 10 * time.Second

// Token returns the cached tarn token for the scope of ctx's request, exchanging a new one
// when there is none or when it is due for renewal.
func (w *WorkloadTokenSource) Token(ctx context.Context) (string, error) {
	scope := w.scope
	if org := RequestOrg(ctx); scope == "" && org != "" {
		scope = "org:" + org
	}
	w.mu.Lock()
	e := w.tokens[scope]
	if e == nil {
		e = &workloadToken{}
		w.tokens[scope] = e
	}
	w.mu.Unlock()
	for {
		w.mu.Lock()
		now := w.now()
		if e.token != "" && (now.Before(e.renewAt) || now.Before(e.retryAt) && e.valid(now)) {
			t := e.token
			w.mu.Unlock()
			return t, nil
		}
		if ch := e.inflight; ch != nil {
			w.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
				return "", ctx.Err()
			}
			w.mu.Lock()
			t, valid, err := e.token, e.valid(w.now()), e.lastErr
			w.mu.Unlock()
			if valid {
				return t, nil
			}
			if err != nil {
				return "", err
			}
			continue
		}
		ch := make(chan struct{})
		e.inflight = ch
		w.mu.Unlock()

		res, err := w.exchange(ctx, scope)

		w.mu.Lock()
		e.inflight = nil
		e.lastErr = err
		now = w.now()
		if err == nil {
			life := time.Duration(res.ExpiresIn) * time.Second
			if life <= 0 {
				life = time.Minute // no lifetime given: renew soon
			}
			e.token = res.AccessToken
			e.expiresAt = now.Add(life)
			e.renewAt = now.Add(renew.After(life))
			e.retryAt = time.Time{}
		} else if e.valid(now) {
			e.retryAt = now.Add(renew.RetryDelay(e.expiresAt.Sub(now)))
		}
		t, valid := e.token, e.valid(now)
		close(ch)
		w.mu.Unlock()
		if valid {
			return t, nil // a failed renewal falls back on the still valid token
		}
		return "", err
	}
}

// valid reports whether e holds a token that may still be handed out at now.
func (e *workloadToken) valid(now time.Time) bool {
	return e.token != "" && now.Before(e.expiresAt.Add(-expiryMargin))
}

func (w *WorkloadTokenSource) exchange(ctx context.Context, scope string) (*api.TokenExchangeResponse, error) {
	subject, err := w.platform.Token(ctx)
	if err != nil {
		return nil, fmt.Errorf("get the platform token: %w", err)
	}
	res, err := w.exchanger.ExchangeToken(ctx, subject, scope)
	if err != nil {
		return nil, fmt.Errorf("exchange the platform token at tarn: %w", err)
	}
	return res, nil
}

// AzureManagedIdentity returns a source of Azure managed identity tokens for audience (tarn's
// app ID URI, e.g. "api://tarn"; the scope asked for is "<audience>/.default"), from the
// managed identity endpoint of the VM, App Service, Functions, Container Apps or AKS, through
// azidentity's ManagedIdentityCredential. clientID selects a user-assigned identity; empty
// uses the system-assigned one. hc sends the requests (nil: azidentity's default).
func AzureManagedIdentity(audience, clientID string, hc *http.Client) (TokenSource, error) {
	opts := &azidentity.ManagedIdentityCredentialOptions{}
	if clientID != "" {
		opts.ID = azidentity.ClientID(clientID)
	}
	if hc != nil {
		opts.ClientOptions = azcore.ClientOptions{Transport: hc}
	}
	cred, err := azidentity.NewManagedIdentityCredential(opts)
	if err != nil {
		return nil, fmt.Errorf("azure managed identity: %w", err)
	}
	scope := strings.TrimRight(audience, "/") + "/.default"
	return TokenSourceFunc(func(ctx context.Context) (string, error) {
		tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scope}})
		if err != nil {
			return "", fmt.Errorf("azure managed identity: %w", err)
		}
		return tok.Token, nil
	}), nil
}

// GitHubActions returns a source of GitHub Actions OIDC tokens for audience, from the
// endpoint requestURL (ACTIONS_ID_TOKEN_REQUEST_URL) with the bearer requestToken
// (ACTIONS_ID_TOKEN_REQUEST_TOKEN). hc sends the requests (nil: a default client).
func GitHubActions(requestURL, requestToken, audience string, hc *http.Client) TokenSource {
	if hc == nil {
		hc = &http.Client{Timeout: DefaultTimeout}
	}
	return TokenSourceFunc(func(ctx context.Context) (string, error) {
		u, err := url.Parse(requestURL)
		if err != nil {
			return "", fmt.Errorf("github actions: invalid %s", EnvGitHubRequestURL)
		}
		q := u.Query()
		q.Set("audience", audience)
		u.RawQuery = q.Encode()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return "", fmt.Errorf("github actions: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+requestToken)
		req.Header.Set("Accept", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			return "", fmt.Errorf("github actions: request an ID token: %s", describeNetErr(err))
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err != nil {
			return "", fmt.Errorf("github actions: read the ID token: %s", describeNetErr(err))
		}
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("github actions: the ID token endpoint answered %s (does the job have \"permissions: id-token: write\"?)", resp.Status)
		}
		var out struct {
			Value string `json:"value"`
		}
		if err := json.Unmarshal(body, &out); err != nil || out.Value == "" {
			return "", errors.New("github actions: the ID token endpoint answered without a token")
		}
		return out.Value, nil
	})
}

// TokenFile returns a source that reads the token from the file at path on every call, so
// that a token the platform rotates (a Kubernetes projected service account token) is
// picked up at each renewal.
func TokenFile(path string) TokenSource {
	return TokenSourceFunc(func(ctx context.Context) (string, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("read the workload token: %w", err)
		}
		t := strings.TrimSpace(string(b))
		if t == "" {
			return "", fmt.Errorf("read the workload token: %s is empty", path)
		}
		return t, nil
	})
}
