package storage

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"cloud.google.com/go/storage"
	"gocloud.dev/blob"
	"gocloud.dev/blob/gcsblob"
	"google.golang.org/api/option"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/location"
)

// gcsEndpoint is the store of GCS vends that name no endpoint.
const gcsEndpoint = "https://storage.googleapis.com"

// gcsAttempts bounds the attempts of one request that fails in a way the storage library
// retries (5xx, 429, a refused connection): the first and four retries, with the library's
// backoff from 1 s, so about 15 s for a store that cannot be reached.
const gcsAttempts = 5

// openGCS opens the bucket that c, the first answer of v (an OAuth 2.0 access token), grants,
// scoped to the vended location and then to sub. Every request carries the token in
// service of a refresher, which renews it as it does S3 credentials (see gcsAuth), so the
// bucket outlives every single token.
//
// The storage client is configured by its options alone: the JSON API at the vended
// endpoint (c.GCS.Endpoint, else storage.googleapis.com), no credentials of its own
// (Application Default Credentials are never looked for) and no client metrics, so that
// neither STORAGE_EMULATOR_HOST nor any other variable of the environment changes where
// requests go or what they carry.
func openGCS(v *vend, c *api.Credentials, sub string, now func() time.Time, hc *http.Client) (*blob.Bucket, error) {
	r, root, endpoint, err := vendRefresher(v, c, "a token", vendedGCS, now)
	if err != nil {
		return nil, err
	}

	client := &http.Client{}
	if hc != nil {
		*client = *hc // its timeout, redirect policy and cookie jar
	}
	u, err := url.Parse(endpoint)
	if err != nil { // vendedGCS parsed it already
		return nil, fmt.Errorf("%s: %w", v.path, err)
	}
	client.Transport = gcsAuth{r: r, host: u.Host, next: client.Transport}
	opts := []option.ClientOption{
		option.WithHTTPClient(client),
		option.WithoutAuthentication(),
		option.WithEndpoint(endpoint + "/storage/v1/"),
		storage.WithDisabledClientMetrics(),
	}
	if endpoint != gcsEndpoint {
		// An emulator serves the JSON API; the XML API that reads use by default lives at
		// storage.googleapis.com/BUCKET/OBJECT, which an endpoint with a path cannot express.
		opts = append(opts, storage.WithJSONReads())
	}
	sc, err := storage.NewClient(context.Background(), opts...)
	if err != nil {
		return nil, fmt.Errorf("%s: bucket %s: %w", v.path, root.Bucket, err)
	}
	// The library retries a failed request until the context ends; S3 and Azure give up
	// after a few attempts, and so does a GCS bucket.
	sc.SetRetry(storage.WithMaxAttempts(gcsAttempts))
	b, err := gcsblob.OpenBucket(context.Background(), nil, root.Bucket, &gcsblob.Options{Client: sc})
	if err != nil {
		sc.Close()
		return nil, fmt.Errorf("%s: bucket %s: %w", v.path, root.Bucket, err)
	}
	return scoped(b, joinKey(root.Path, sub)), nil
}

// vendedGCS returns the location that the GCS vend c grants (see vendedLocation) and the
// base URL of its store, without a trailing slash. It checks that the token is for that
// location's bucket and prefix and that the endpoint is an http(s) URL. Its errors never
// include the token.
func vendedGCS(v *vend, c *api.Credentials) (location.Location, string, error) {
	g := c.GCS
	if g == nil || g.AccessToken == "" {
		return location.Location{}, "", fmt.Errorf("the server vended credentials of provider %q without an access token", c.Provider)
	}
	l, err := vendedLocation(v, c, "GCS", location.GS)
	if err != nil {
		return location.Location{}, "", err
	}
	if g.Bucket != l.Bucket || g.Prefix != l.Path {
		return location.Location{}, "", fmt.Errorf("the server vended a token for gs://%s/%s, not for %s", g.Bucket, g.Prefix, l)
	}
	if g.Endpoint == "" {
		return l, gcsEndpoint, nil
	}
	u, err := vendedEndpoint(g.Endpoint, "a GCS token")
	if err != nil {
		return location.Location{}, "", err
	}
	u.Path, u.RawPath = strings.TrimRight(u.Path, "/"), strings.TrimRight(u.RawPath, "/")
	return l, u.String(), nil
}

// gcsAuth is the transport of a GCS bucket's HTTP client: it sends each request to the
// store's host with the token in service of a refresher as its bearer token (a request to
// any other host, such as a redirect's target, goes without it), and sends it once more, with a
// freshly vended token, when GCS answers 401 (the token expired, was revoked or is
// unknown; a token that lacks a permission earns 403, which is never retried). As for an
// Azure SAS (sasPolicy), a token that itself replaced a refused one earns no retry, so a
// request that keeps being refused costs at most one extra vend per token lifetime, not one
// per request; and a request whose body cannot be read again (no GetBody) keeps its first
// answer.
type gcsAuth struct {
	r    *refresher[*api.Credentials]
	host string            // the store's host[:port]: the only one the token goes to
	next http.RoundTripper // nil: http.DefaultTransport
}

func (t gcsAuth) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != t.host {
		return t.transport().RoundTrip(req)
	}
	ctx := req.Context()
	h, err := t.r.get(ctx)
	if err != nil {
		if req.Body != nil {
			req.Body.Close() // as a RoundTripper must, for a request it does not send
		}
		return nil, err
	}
	retry := !h.afterDeny && (req.Body == nil || req.Body == http.NoBody || req.GetBody != nil)
	resp, err := t.send(req, req.Body, h)
	if err != nil || resp.StatusCode != http.StatusUnauthorized || !retry {
		return resp, err
	}
	body := req.Body
	if req.GetBody != nil {
		if body, err = req.GetBody(); err != nil {
			return resp, nil // keep the first answer
		}
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	t.r.invalidate(h, true)
	if h, err = t.r.get(ctx); err != nil {
		if body != nil {
			body.Close()
		}
		return nil, err
	}
	return t.send(req, body, h)
}

// send sends a copy of req with body and h's token. A RoundTripper must not change the
// request it was given.
func (t gcsAuth) send(req *http.Request, body io.ReadCloser, h *held[*api.Credentials]) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.Body = body
	r.Header.Set("Authorization", "Bearer "+h.creds.GCS.AccessToken)
	return t.transport().RoundTrip(r)
}

func (t gcsAuth) transport() http.RoundTripper {
	if t.next == nil {
		return http.DefaultTransport
	}
	return t.next
}
