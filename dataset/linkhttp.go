package dataset

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/tarnhq/tarn/internal/netguard"
)

// maxLinkURL bounds the length of an https:// link.
const maxLinkURL = 8 << 10

// parseHTTPSLink parses an https:// link: an absolute URL of scheme https with a host, no
// user information, and no spaces or control characters. Plain http:// is refused: links
// are read over TLS only. The error shows the link without its query.
func parseHTTPSLink(s string) (*url.URL, error) {
	shown := shownLink(s)
	if len(s) > maxLinkURL {
		return nil, fmt.Errorf("link of %d bytes: an https:// link has at most %d", len(s), maxLinkURL)
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f || (r >= 0x80 && r <= 0x9f) {
			return nil, fmt.Errorf("%q: a link holds no spaces or control characters", shown)
		}
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%q: not a URL", shown)
	case u.Scheme == "http":
		return nil, fmt.Errorf("%s: plain http:// links are not read: use https://", shown)
	case u.Scheme != "https" || u.Opaque != "" || u.Host == "" || u.Hostname() == "":
		return nil, fmt.Errorf("%q: not an https:// URL with a host", shown)
	case u.User != nil:
		return nil, fmt.Errorf("%s: a link carries no user name or password", redact(u))
	}
	u.Fragment, u.RawFragment = "", ""
	return u, nil
}

// redact returns u without user information and query, as errors show it.
func redact(u *url.URL) string {
	r := *u
	r.User = nil
	if r.RawQuery != "" || r.ForceQuery {
		r.RawQuery, r.ForceQuery = "…", false
	}
	r.Fragment, r.RawFragment = "", ""
	return r.String()
}

// shownLink is redact for a link that may not parse: it drops what follows "?" or "#" and
// what precedes an "@" of the host part.
func shownLink(s string) string {
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		s = s[:i] + "?…"
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return s
	}
	host, path, _ := strings.Cut(rest, "/")
	if i := strings.LastIndex(host, "@"); i >= 0 {
		host = host[i+1:]
	}
	if path != "" || strings.Contains(rest, "/") {
		return scheme + "://" + host + "/" + path
	}
	return scheme + "://" + host
}

// getHTTPS fetches u with c and returns the body of a 200 answer.
func getHTTPS(ctx context.Context, c *http.Client, u *url.URL) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", redact(u), err)
	}
	resp, err := c.Do(req)
	if err != nil {
		var refused *netguard.RefusedError
		if errors.As(err, &refused) {
			return nil, fmt.Errorf("%s: refusing to connect to %s (%s): https:// links reach only public addresses by default (Options.HTTPClient can reach others)",
				redact(u), refused.Addr.Addr(), refused.Class)
		}
		var ue *url.Error // it holds the whole URL, query included
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("%s: %w", redact(u), err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return resp.Body, nil
	case http.StatusNotFound:
		resp.Body.Close()
		return nil, fmt.Errorf("%s: no such object", redact(u))
	}
	resp.Body.Close()
	return nil, fmt.Errorf("%s: the server answered %s", redact(u), resp.Status)
}

// httpClient returns the client that fetches https:// links: Options.HTTPClient, whose
// redirects must also stay on https://, or defaultHTTPClient.
func (ds *Dataset) httpClient() *http.Client {
	c := ds.opts.HTTPClient
	if c == nil {
		return defaultHTTPClient
	}
	own, next := *c, c.CheckRedirect
	own.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if err := netguard.HTTPSRedirect(req, via); err != nil || next == nil {
			return err
		}
		return next(req, via)
	}
	return &own
}

// defaultHTTPClient fetches https:// links when Options.HTTPClient is nil: it connects only
// to public addresses (netguard's rules, checked after name resolution on every connection,
// so no host name or DNS rebinding gets around them), follows at most five redirects and
// only to https://, and uses no proxy. A dataset's links thus never make a reader's process
// reach the reader's own machine or network.
var defaultHTTPClient = (&netguard.Guard{}).Client(netguard.ClientOptions{HTTPSOnly: true})
