package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/tarnhq/tarn/api"
)

func identityPath(org, name string) string {
	return "/orgs/" + seg(org) + "/identities/" + seg(name)
}

// PutIdentity registers the workload identity id.Name in org, or replaces it (admins of org
// only). The server checks that it can verify the identity's issuer before it accepts it.
func (c *Client) PutIdentity(ctx context.Context, org string, id api.Identity) (*api.Identity, error) {
	var out api.Identity
	id.Org = org
	if err := c.do(ctx, http.MethodPut, identityPath(org, id.Name), nil, id, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Identity returns the workload identity named name of org.
func (c *Client) Identity(ctx context.Context, org, name string) (*api.Identity, error) {
	var out api.Identity
	if err := c.do(ctx, http.MethodGet, identityPath(org, name), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Identities lists the workload identities of org.
func (c *Client) Identities(ctx context.Context, org string) ([]api.Identity, error) {
	var out api.IdentityList
	if err := c.do(ctx, http.MethodGet, "/orgs/"+seg(org)+"/identities", nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Identities, nil
}

// DeleteIdentity deletes the workload identity named name of org. Tarn tokens it was
// exchanged for are refused from then on.
func (c *Client) DeleteIdentity(ctx context.Context, org, name string) error {
	return c.do(ctx, http.MethodDelete, identityPath(org, name), nil, nil, nil)
}

// ExchangeToken exchanges subjectToken, a JWT signed by a workload's platform (Azure managed
// identity, GitHub Actions, Kubernetes, any OIDC issuer) for a short-lived tarn API token,
// with OAuth 2.0 Token Exchange (RFC 8693) at POST /oauth/token. scope is "" or "org:ORG"
// (a bare ORG is taken as "org:ORG"). The request carries no Authorization header, even
// when the client has a token.
func (c *Client) ExchangeToken(ctx context.Context, subjectToken, scope string) (*api.TokenExchangeResponse, error) {
	form := url.Values{
		"grant_type":         {api.GrantTokenExchange},
		"subject_token":      {subjectToken},
		"subject_token_type": {api.TokenTypeJWT},
	}
	if scope = normalizeScope(scope); scope != "" {
		form.Set("scope", scope)
	}
	const p = "/oauth/token"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint+api.Prefix+p, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json, application/problem+json")
	req.Header.Set("User-Agent", c.ua)
	var out api.TokenExchangeResponse
	if err := c.send(ctx, req, http.MethodPost, p, &out); err != nil {
		return nil, err
	}
	if out.AccessToken == "" {
		return nil, errors.New("token exchange: the answer holds no access_token")
	}
	if err := checkToken(out.AccessToken); err != nil {
		return nil, fmt.Errorf("token exchange: %w", err)
	}
	return &out, nil
}

// normalizeScope turns a bare org name into "org:ORG".
func normalizeScope(s string) string {
	s = strings.TrimSpace(s)
	if s != "" && !strings.Contains(s, ":") {
		s = "org:" + s
	}
	return s
}
