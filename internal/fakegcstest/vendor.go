package fakegcstest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/testpeer"
	"github.com/tarnhq/tarn/location"
)

// Vendor vends GCS access tokens for the data path's tests, without a provider: it
// satisfies storage.Vendor (and so dataset.PathOptions.Client) and answers as tarn's server
// does for a creds key of provider gcs, {bucket, prefix, access_token, endpoint}, with a
// random token for each vend. The endpoint it vends is its Front, not the server itself,
// because fake-gcs-server checks no tokens.
//
// The dataset al://acme/coco lives at Dataset. Vendor is safe for concurrent use; change
// its fields only while no vend is in progress.
type Vendor struct {
	// Dataset is the location of al://acme/coco: gs://BUCKET/datasets/coco by default.
	Dataset string
	// Now is the clock of ExpiresAt and of the Front's expiry check (nil: time.Now), and
	// Life the lifetime of each token (default 10 minutes), so that tests can make tokens
	// short-lived without waiting.
	Now  func() time.Time
	Life time.Duration
	// Tamper, when set, alters the n-th answer (n from 1) after its token was issued: a
	// token it replaces is one the Front does not know.
	Tamper func(n int, c *api.Credentials)

	front *httptest.Server

	mu     sync.Mutex
	calls  int
	issued map[string]token
	all    []string // every token vended, tampered or not
	auth   int      // requests the Front saw with a token it issued
}

// token is what the Front knows of a token it issued.
type token struct {
	mode    string
	expires time.Time
}

// NewVendor returns a Vendor for s and starts its Front, a stand-in for GCS's token check
// on 127.0.0.1 that passes a request on to s only when it carries, as "Authorization:
// Bearer", a token the Vendor issued that has not expired on the Vendor's clock; it
// answers others with GCS's 401 JSON error (reason authError, as GCS does for a missing,
// expired or revoked token) and a write (a method other than GET and HEAD) with a token of
// mode read with GCS's 403 JSON error. It enforces no prefix: that is what Credential Access
// Boundaries do on GCS. Upload session URLs that s hands out are rewritten to point at the
// Front. The Front stops when t ends.
func NewVendor(t testing.TB, s *Server) *Vendor {
	t.Helper()
	v := &Vendor{Dataset: "gs://" + s.Bucket + "/datasets/coco", issued: map[string]token{}}
	target, err := url.Parse(s.Endpoint)
	if err != nil {
		t.Fatalf("fakegcstest: %v", err)
	}
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target) // and the Host header: fake-gcs-server routes on its public host
	}}
	v.front = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if code := v.check(r); code != 0 {
			refuse(w, r, code)
			return
		}
		proxy.ServeHTTP(&relocate{ResponseWriter: w, from: s.Endpoint, to: v.front.URL}, r)
	}))
	t.Cleanup(v.front.Close)
	return v
}

// Endpoint returns the Front's URL, "http://127.0.0.1:PORT": the endpoint the Vendor vends.
func (v *Vendor) Endpoint() string { return v.front.URL }

// check returns 0 when the Front passes r on, else the status it refuses r with.
func (v *Vendor) check(r *http.Request) int {
	bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	v.mu.Lock()
	defer v.mu.Unlock()
	tok, known := v.issued[bearer]
	switch {
	case !ok || !known || !v.now().Before(tok.expires):
		return http.StatusUnauthorized
	case tok.mode != api.ModeWrite && r.Method != http.MethodGet && r.Method != http.MethodHead:
		return http.StatusForbidden
	}
	v.auth++
	return 0
}

// refuse answers as GCS's JSON API does when it refuses a request's token (401) or its
// permission (403).
func refuse(w http.ResponseWriter, r *http.Request, code int) {
	reason, msg := "authError", "Invalid Credentials"
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="https://accounts.google.com/", error="invalid_token"`)
	} else {
		reason, msg = "forbidden", "tarn-test@example.iam.gserviceaccount.com does not have storage.objects.create access to the Google Cloud Storage object."
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		fmt.Fprintf(w, `{"error":{"code":%d,"message":%q,"errors":[{"message":%q,"domain":"global","reason":%q}]}}`, code, msg, msg, reason)
	}
}

// relocate rewrites the Location header of a response from the server to the Front.
type relocate struct {
	http.ResponseWriter
	from, to string
	wrote    bool
}

func (w *relocate) WriteHeader(code int) {
	if !w.wrote {
		w.wrote = true
		if l := w.Header().Get("Location"); strings.HasPrefix(l, w.from) {
			w.Header().Set("Location", w.to+strings.TrimPrefix(l, w.from))
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *relocate) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController (which the proxy flushes with) reach the writer.
func (w *relocate) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (v *Vendor) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// DatasetCredentials vends for al://acme/coco (at Dataset); other datasets are not found.
func (v *Vendor) DatasetCredentials(ctx context.Context, org, name, mode string) (*api.Credentials, error) {
	if org != "acme" || name != "coco" {
		return nil, &api.Problem{Status: http.StatusNotFound, Code: api.CodeNotFound, Detail: "no such dataset"}
	}
	return v.vend(v.Dataset, mode)
}

// LocationCredentials vends for loc, whatever the org and creds key.
func (v *Vendor) LocationCredentials(ctx context.Context, org, key, loc, mode string) (*api.Credentials, error) {
	return v.vend(loc, mode)
}

// LinkedCredentials vends read credentials for loc.
func (v *Vendor) LinkedCredentials(ctx context.Context, org, name, key, loc string) (*api.Credentials, error) {
	return v.vend(loc, api.ModeRead)
}

func (v *Vendor) vend(loc, mode string) (*api.Credentials, error) {
	l, err := location.ParseStorage(loc)
	if err != nil {
		return nil, err
	}
	if l.Scheme != location.GS {
		return nil, fmt.Errorf("fakegcstest: %s is not a gs:// location", l)
	}
	life := v.Life
	if life == 0 {
		life = 10 * time.Minute
	}
	tok := "ya29.tarn-test-" + testpeer.RandomHex(16)
	c := &api.Credentials{
		Location: loc, Mode: mode, Provider: api.ProviderGCS, ExpiresAt: v.now().Add(life),
		GCS: &api.GCSCredentials{Bucket: l.Bucket, Prefix: l.Path, AccessToken: tok, Endpoint: v.front.URL},
	}
	v.mu.Lock()
	v.calls++
	n := v.calls
	v.issued[tok] = token{mode: mode, expires: c.ExpiresAt}
	v.mu.Unlock()
	if v.Tamper != nil {
		v.Tamper(n, c)
	}
	v.mu.Lock()
	v.all = append(v.all, tok)
	if c.GCS != nil && c.GCS.AccessToken != tok {
		v.all = append(v.all, c.GCS.AccessToken)
	}
	v.mu.Unlock()
	return c, nil
}

// Calls returns how many vends the Vendor answered.
func (v *Vendor) Calls() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.calls
}

// Authorized returns how many requests the Front passed on with a token it issued.
func (v *Vendor) Authorized() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.auth
}

// Tokens returns every token vended so far, including those Tamper made, for tests that
// check that no error or log holds one.
func (v *Vendor) Tokens() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]string(nil), v.all...)
}
