// Package client is the Go SDK's client of tarn's HTTP API (v1).
//
// A Client sends one HTTP request per method call, authenticated with an API token, and
// decodes the answer into the wire types of package api. Every error answer of the server is
// returned as an *api.Problem, so callers can branch on its Code:
//
//	var p *api.Problem
//	if errors.As(err, &p) && p.Code == api.CodeNotFound { ... }
//
// A Client is safe for concurrent use. It never puts its token into an error or a log line.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tarnhq/tarn/api"
)

// DefaultEndpoint is the endpoint used when Options.Endpoint is empty: a `tarn serve` on this
// machine with its default --listen address.
const DefaultEndpoint = "http://127.0.0.1:7777"

// MaxResponseBytes is the largest response body a Client reads. A longer answer is an error.
const MaxResponseBytes = 4 << 20

// DefaultTimeout is the timeout of the HTTP client used when Options.HTTPClient is nil.
const DefaultTimeout = 30 * time.Second

// Options configure a Client. The zero value talks to DefaultEndpoint without a token.
type Options struct {
	// Endpoint is the base URL of the tarn server, e.g. "http://127.0.0.1:7777". It must be an
	// http or https URL without credentials, query or fragment. A path is kept as a prefix,
	// for servers behind a reverse proxy. Default: DefaultEndpoint.
	Endpoint string
	// Token is the API token, sent as "Authorization: Bearer <token>". Empty sends no
	// Authorization header (anonymous, e.g. for public datasets) unless TokenSource is set.
	Token string
	// TokenSource, used when Token is empty, gives the token of each request, e.g. a
	// WorkloadTokenSource that exchanges a workload's platform token for a tarn token.
	TokenSource TokenSource
	// HTTPClient sends the requests. Default: a client with a DefaultTimeout timeout.
	HTTPClient *http.Client
	// UserAgent is sent as the User-Agent header. Default: "tarn-go-client".
	UserAgent string
}

// Client calls tarn's HTTP API. Create one with New.
type Client struct {
	endpoint string // base URL without a trailing slash
	token    string
	ts       TokenSource
	hc       *http.Client
	ua       string
}

// New returns a Client for opts. It returns an error if opts.Endpoint is not an http or https
// URL with a host, or if it carries credentials, a query or a fragment, or if opts.Token holds
// characters that cannot go into an HTTP header. Errors never include the token.
func New(opts Options) (*Client, error) {
	ep := strings.TrimSpace(opts.Endpoint)
	if ep == "" {
		ep = DefaultEndpoint
	}
	u, err := url.Parse(ep)
	switch {
	case err != nil || u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("invalid endpoint %q: use an http:// or https:// URL such as %s", ep, DefaultEndpoint)
	case u.Host == "":
		return nil, fmt.Errorf("invalid endpoint %q: no host", ep)
	case u.User != nil:
		return nil, fmt.Errorf("invalid endpoint: it must not contain credentials; pass the token separately")
	case u.RawQuery != "" || u.ForceQuery:
		return nil, fmt.Errorf("invalid endpoint %q: it must not have a query", ep)
	case u.Fragment != "":
		return nil, fmt.Errorf("invalid endpoint %q: it must not have a fragment", ep)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	if err := checkToken(opts.Token); err != nil {
		return nil, err
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: DefaultTimeout}
	}
	ua := opts.UserAgent
	if ua == "" {
		ua = "tarn-go-client"
	}
	return &Client{endpoint: u.String(), token: opts.Token, ts: opts.TokenSource, hc: hc, ua: ua}, nil
}

// checkToken returns an error if tok cannot go into an HTTP header. It never includes tok.
func checkToken(tok string) error {
	for i := 0; i < len(tok); i++ {
		if c := tok[i]; c <= ' ' || c >= 0x7f {
			return errors.New("invalid token: it holds a space, control or non-ASCII character")
		}
	}
	return nil
}

// Endpoint returns the server's base URL, without a trailing slash.
func (c *Client) Endpoint() string { return c.endpoint }

// UnreachableError is returned when a request could not be sent or its answer not read: the
// server is down, the address is wrong, the connection broke or timed out.
type UnreachableError struct {
	Endpoint string
	Err      error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach tarn at %s: %s (is \"tarn serve\" running? set TARN_ENDPOINT or run \"tarn login --endpoint URL\")",
		e.Endpoint, describeNetErr(e.Err))
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// describeNetErr turns a transport error into a short phrase without the request URL.
func describeNetErr(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.As(err, &ne) && ne.Timeout():
		return "timed out"
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return "cannot resolve host " + dnsErr.Name
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// seg escapes one path segment.
func seg(s string) string { return url.PathEscape(s) }

// do sends a request to the API path p (below api.Prefix, already escaped), with in as a JSON
// body when it is not nil, and decodes a 2xx answer into out when out is not nil.
func (c *Client) do(ctx context.Context, method, p string, query url.Values, in, out any) error {
	target := c.endpoint + api.Prefix + p
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Accept", "application/json, application/problem+json")
	req.Header.Set("User-Agent", c.ua)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	token := c.token
	if token == "" && c.ts != nil {
		if token, err = c.ts.Token(withRequestOrg(ctx, p)); err != nil {
			return fmt.Errorf("get a token: %w", err)
		}
		if err := checkToken(token); err != nil {
			return err
		}
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return c.send(ctx, req, method, p, out)
}

type requestOrgKey struct{}

// withRequestOrg returns ctx carrying the org that API path p acts in (/orgs/ORG/...), if any.
func withRequestOrg(ctx context.Context, p string) context.Context {
	rest, ok := strings.CutPrefix(p, "/orgs/")
	if !ok {
		return ctx
	}
	org, _, _ := strings.Cut(rest, "/")
	org, _, _ = strings.Cut(org, "?")
	if org, err := url.PathUnescape(org); err == nil && org != "" {
		return context.WithValue(ctx, requestOrgKey{}, org)
	}
	return ctx
}

// RequestOrg returns the org of the request a TokenSource is asked a token for (the ORG of
// an API path /orgs/ORG/..., e.g. of al://ORG/... datasets), or "" for requests outside any
// org. Token sources that hold one token per org, such as WorkloadTokenSource, use it.
func RequestOrg(ctx context.Context) string {
	org, _ := ctx.Value(requestOrgKey{}).(string)
	return org
}

// send sends req (to the API path p) and decodes a 2xx answer into out when out is not nil.
func (c *Client) send(ctx context.Context, req *http.Request, method, p string, out any) error {
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		return &UnreachableError{Endpoint: c.endpoint, Err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		return &UnreachableError{Endpoint: c.endpoint, Err: err}
	}
	if len(data) > MaxResponseBytes {
		return fmt.Errorf("%s %s: answer is larger than %d bytes", method, api.Prefix+p, MaxResponseBytes)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return decodeProblem(resp, data)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: cannot decode answer of tarn at %s: %w", method, api.Prefix+p, c.endpoint, err)
	}
	return nil
}

// decodeProblem returns the *api.Problem of an error answer. When the body is not a problem
// (a proxy's HTML page, an empty body), it synthesizes one from the status.
func decodeProblem(resp *http.Response, data []byte) *api.Problem {
	var p api.Problem
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	isJSON := mt == "application/problem+json" || mt == "application/json"
	if !isJSON || json.Unmarshal(data, &p) != nil || (p.Code == "" && p.Detail == "" && p.Title == "") {
		p = api.Problem{}
	}
	if p.Status == 0 {
		p.Status = resp.StatusCode
	}
	if p.Title == "" {
		p.Title = http.StatusText(resp.StatusCode)
		if p.Title == "" {
			p.Title = "Error"
		}
	}
	if p.Code == "" {
		p.Code = codeOf(resp.StatusCode)
	}
	if p.Detail == "" {
		p.Detail = fmt.Sprintf("the server answered %d %s", resp.StatusCode, p.Title)
	}
	if p.RequestID == "" {
		p.RequestID = resp.Header.Get("X-Request-Id")
	}
	p.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), time.Now())
	return &p
}

// retryAfter parses a Retry-After header, in seconds or as an HTTP date, into a wait from
// now; zero when there is none, it is malformed or it lies in the past. Waits are capped at
// an hour, so a broken proxy cannot park a client for days.
func retryAfter(h string, now time.Time) time.Duration {
	var d time.Duration
	if secs, err := strconv.ParseUint(strings.TrimSpace(h), 10, 32); err == nil {
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(h); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), time.Hour)
}

// codeOf maps an HTTP status to the stable code the server would have used.
func codeOf(status int) string {
	switch status {
	case http.StatusBadRequest:
		return api.CodeInvalid
	case http.StatusUnauthorized:
		return api.CodeUnauthenticated
	case http.StatusForbidden:
		return api.CodePermissionDenied
	case http.StatusNotFound:
		return api.CodeNotFound
	case http.StatusConflict:
		return api.CodeConflict
	case http.StatusRequestEntityTooLarge:
		return api.CodeTooLarge
	case http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout, http.StatusTooManyRequests:
		return api.CodeUnavailable
	}
	if status >= 400 && status < 500 {
		return api.CodeInvalid
	}
	return api.CodeInternal
}
