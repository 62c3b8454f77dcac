package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
	"google.golang.org/api/googleapi"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/fakegcstest"
	"github.com/tarnhq/tarn/internal/renew"
)

// gcsStatus returns the HTTP status of a GCS error (0 when err is not one).
func gcsStatus(err error) int {
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		return ge.Code
	}
	return 0
}

// revoked makes the token of a vend one that GCS (the Front) does not know.
func revoked(_ int, c *api.Credentials) { c.GCS.AccessToken += "-revoked" }

func TestGCSBucketReadsAndWritesInsideItsLocation(t *testing.T) {
	s := fakegcstest.Start(t)
	v := fakegcstest.NewVendor(t, s)
	for _, tc := range []struct {
		path string
		opts Options
		root string // where the bucket's keys land in the GCS bucket
	}{
		{"al://acme/coco", Options{Client: v, Mode: api.ModeWrite}, datasetPrefix},
		{"al://acme/coco/sub", Options{Client: v, Mode: api.ModeWrite}, datasetPrefix + "/sub"},
		{"gs://" + s.Bucket + "/keyed", Options{Client: v, Mode: api.ModeWrite, Org: "acme", CredsKey: "gcs"}, "keyed"},
		{"gcs://" + s.Bucket + "/alias", Options{Client: v, Mode: api.ModeWrite, Org: "acme", CredsKey: "gcs"}, "alias"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			before := v.Authorized()
			b := open(t, tc.path, tc.opts)
			write(t, b, "a/1.txt", "one")
			write(t, b, "b.txt", "two")
			if got := read(t, b, "a/1.txt"); got != "one" {
				t.Errorf("read back %q", got)
			}
			if got := keys(t, b); !slices.Equal(got, []string{"a/1.txt", "b.txt"}) {
				t.Errorf("listed %q", got)
			}
			all := s.Objects(t)
			for _, k := range []string{tc.root + "/a/1.txt", tc.root + "/b.txt"} {
				if !slices.Contains(all, k) {
					t.Errorf("the bucket lacks %s: %q", k, all)
				}
			}
			if err := b.Delete(t.Context(), "b.txt"); err != nil {
				t.Fatal(err)
			}
			if ok, err := b.Exists(t.Context(), "b.txt"); ok || err != nil {
				t.Errorf("after delete: exists %v, %v", ok, err)
			}
			if v.Authorized() == before {
				t.Error("no request carried a vended token")
			}
		})
	}
}

// Objects larger than the storage client's chunk go up in a resumable upload of several
// requests, each with the token, and come back whole.
func TestGCSLargeObjectRoundTrip(t *testing.T) {
	s := fakegcstest.Start(t)
	b := open(t, "al://acme/coco", Options{Client: fakegcstest.NewVendor(t, s), Mode: api.ModeWrite})
	body := bytes.Repeat([]byte("0123456789abcdef"), 40_000) // 640 KB in 256 KiB chunks
	w, err := b.NewWriter(t.Context(), "big", &blob.WriterOptions{BufferSize: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(body); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if got, err := b.ReadAll(t.Context(), "big"); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("read back %d bytes, %v; want %d", len(got), err, len(body))
	}
}

// Commits of package dataset create manifests with IfNotExist (ifGenerationMatch=0): the
// second create of one key must fail with FailedPrecondition and leave the first.
func TestGCSCreateIfAbsent(t *testing.T) {
	s := fakegcstest.Start(t)
	b := open(t, "al://acme/coco", Options{Client: fakegcstest.NewVendor(t, s), Mode: api.ModeWrite})
	opts := &blob.WriterOptions{IfNotExist: true}
	if err := b.WriteAll(t.Context(), "versions/1", []byte("first"), opts); err != nil {
		t.Fatalf("first create: %v", err)
	}
	err := b.WriteAll(t.Context(), "versions/1", []byte("second"), opts)
	if gcerrors.Code(err) != gcerrors.FailedPrecondition {
		t.Fatalf("second create: %v (code %v), want FailedPrecondition", err, gcerrors.Code(err))
	}
	if got := read(t, b, "versions/1"); got != "first" {
		t.Errorf("the second create replaced the first: %q", got)
	}
}

func TestGCSTokenIsRenewedAhead(t *testing.T) {
	s := fakegcstest.Start(t)
	clk := realNowClock()
	v := fakegcstest.NewVendor(t, s)
	v.Now = clk.Now
	b := open(t, "al://acme/coco", Options{Client: v, Mode: api.ModeWrite, Now: clk.Now})
	write(t, b, "x", "data")
	if v.Calls() != 1 {
		t.Fatalf("%d vends before any renewal, want 1", v.Calls())
	}
	// Fifty minutes of reads, one a minute, with tokens of 10 minutes: each is renewed when
	// half of it has passed, so at minutes 5, 10, …, 50. The Front refuses an expired
	// token, which would cost an extra vend: 11 vends means none was ever sent.
	for range 50 {
		clk.Add(time.Minute)
		if got := read(t, b, "x"); got != "data" {
			t.Fatalf("read %q", got)
		}
	}
	if renew.After(10*time.Minute) != 5*time.Minute || v.Calls() != 11 {
		t.Errorf("%d vends in 50 minutes, want 11 (the first and one every 5 minutes)", v.Calls())
	}
}

func TestGCSRefusedTokenIsReplacedOnce(t *testing.T) {
	s := fakegcstest.Start(t)
	firstOnly := func(n int, c *api.Credentials) {
		if n == 1 {
			revoked(n, c)
		}
	}

	t.Run("first token refused, write body is sent again", func(t *testing.T) {
		v := fakegcstest.NewVendor(t, s)
		v.Tamper = firstOnly
		b := open(t, "al://acme/coco", Options{Client: v, Mode: api.ModeWrite})
		body := bytes.Repeat([]byte("0123456789"), 100_000) // 1 MB
		if err := b.WriteAll(t.Context(), "written/1", body, nil); err != nil {
			t.Fatalf("write: %v", err)
		}
		for range 3 {
			if got, err := b.ReadAll(t.Context(), "written/1"); err != nil || !bytes.Equal(got, body) {
				t.Fatalf("read back %d bytes, %v", len(got), err)
			}
		}
		if v.Calls() != 2 {
			t.Errorf("%d vends, want 2 (the refused token and its replacement)", v.Calls())
		}
	})

	t.Run("every token refused: one re-vend, then the error", func(t *testing.T) {
		v := fakegcstest.NewVendor(t, s)
		v.Tamper = revoked
		b := open(t, "al://acme/coco", Options{Client: v})
		for i := range 3 {
			_, err := b.ReadAll(t.Context(), "x")
			if st := gcsStatus(err); st != http.StatusUnauthorized {
				t.Fatalf("read %d: %v (status %d), want 401", i, err, st)
			}
		}
		// The replacement was refused too: it is what it is, no vend per request.
		if v.Calls() != 2 {
			t.Errorf("%d vends for 3 refused reads, want 2", v.Calls())
		}
	})

	t.Run("a read token refused a write: no re-vend", func(t *testing.T) {
		v := fakegcstest.NewVendor(t, s)
		b := open(t, "al://acme/coco", Options{Client: v})
		err := b.WriteAll(t.Context(), "nope", []byte("x"), nil)
		if st := gcsStatus(err); st != http.StatusForbidden {
			t.Fatalf("write with a read token: %v (status %d), want 403", err, st)
		}
		if v.Calls() != 1 {
			t.Errorf("%d vends, want 1: a permission error is no stale token", v.Calls())
		}
		if got := s.Objects(t); slices.Contains(got, datasetPrefix+"/nope") {
			t.Error("a read token wrote")
		}
	})
}

func TestGCSErrorsNeverHoldTheToken(t *testing.T) {
	s := fakegcstest.Start(t)
	v := fakegcstest.NewVendor(t, s)
	b := open(t, "al://acme/coco", Options{Client: v})
	_, missing := b.ReadAll(t.Context(), "missing")
	denied := b.WriteAll(t.Context(), "denied", []byte("x"), nil)
	v.Tamper = revoked
	_, refused := open(t, "al://acme/coco", Options{Client: v}).ReadAll(t.Context(), "refused")
	v.Tamper = nil
	cut := &http.Client{Transport: &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("the test dialer sends nothing") // not an error the library retries
	}}}
	_, unsent := open(t, "al://acme/coco", Options{Client: v, HTTPClient: cut}).ReadAll(t.Context(), "unsent")
	v.Tamper = func(_ int, c *api.Credentials) { c.GCS.Prefix = "elsewhere" }
	_, mismatch := OpenBucket(t.Context(), "al://acme/coco", Options{Client: v})
	tokens := v.Tokens()
	for _, err := range []error{missing, denied, refused, unsent, mismatch} {
		if err == nil {
			t.Fatal("an operation that must fail succeeded")
		}
		msg := fmt.Sprintf("%v %+v", err, err)
		for _, tok := range tokens {
			if strings.Contains(msg, tok) || strings.Contains(msg, "ya29.") {
				t.Errorf("error holds a token: %s", msg)
			}
		}
	}
	if !strings.Contains(unsent.Error(), "the test dialer sends nothing") {
		t.Errorf("Options.HTTPClient was not used: %v", unsent)
	}
}

// The vended answer must be for the location asked and name a usable endpoint; anything
// else fails OpenBucket with one line, before any request carries the token.
func TestGCSVendedAnswerIsChecked(t *testing.T) {
	s := fakegcstest.Start(t)
	for _, tc := range []struct {
		name   string
		tamper func(c *api.Credentials)
		want   string
	}{
		{"no token", func(c *api.Credentials) { c.GCS.AccessToken = "" }, "without an access token"},
		{"no gcs answer", func(c *api.Credentials) { c.GCS = nil }, "without an access token"},
		{"another bucket", func(c *api.Credentials) { c.GCS.Bucket = "other" }, "not for gs://"},
		{"another prefix", func(c *api.Credentials) { c.GCS.Prefix = "datasets/cocoa" }, "not for gs://"},
		{"another location", func(c *api.Credentials) { c.Location = "gs://other/x" }, "asked for credentials for"},
		{"an s3 location", func(c *api.Credentials) { c.Location = "s3://bkt/x" }, "not an gs:// location"},
		{"endpoint with a query", func(c *api.Credentials) { c.GCS.Endpoint += "/?key=secret" }, "unusable endpoint"},
		{"endpoint with a fragment", func(c *api.Credentials) { c.GCS.Endpoint += "#secret" }, "unusable endpoint"},
		{"endpoint with user info", func(c *api.Credentials) { c.GCS.Endpoint = "http://u:secret@127.0.0.1:1" }, "unusable endpoint"},
		{"endpoint not http", func(c *api.Credentials) { c.GCS.Endpoint = "ftp://127.0.0.1:1" }, "unusable endpoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := fakegcstest.NewVendor(t, s)
			v.Tamper = func(_ int, c *api.Credentials) { tc.tamper(c) }
			_, err := OpenBucket(t.Context(), "gs://"+s.Bucket+"/keyed", Options{Client: v, Org: "acme", CredsKey: "gcs"})
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err %v, want one line with %q and no secret", err, tc.want)
			}
			if v.Authorized() != 0 {
				t.Error("a request was sent with the token")
			}
		})
	}
}

// The storage client is configured by OpenBucket alone: STORAGE_EMULATOR_HOST, which
// would otherwise send requests elsewhere without a token, plays no part.
func TestGCSIgnoresStorageEmulatorHost(t *testing.T) {
	s := fakegcstest.Start(t)
	t.Setenv("STORAGE_EMULATOR_HOST", "127.0.0.1:1") // loopback, nothing listens
	v := fakegcstest.NewVendor(t, s)
	b := open(t, "al://acme/coco", Options{Client: v, Mode: api.ModeWrite})
	write(t, b, "x", "data")
	if got := read(t, b, "x"); got != "data" {
		t.Fatalf("read %q", got)
	}
	if v.Authorized() < 2 {
		t.Errorf("%d requests carried the token, want the write's and the read's", v.Authorized())
	}
}

// After GCS refuses a token, the next vend names it to the server by its digest
// (api.Credentials.RefusalID), never by the token, so that the server does not answer it
// again from its cache.
func TestRefusedGCSTokenIsNamedToTheServerByItsDigest(t *testing.T) {
	s := fakegcstest.Start(t)
	v := fakegcstest.NewVendor(t, s)
	v.Tamper = func(n int, c *api.Credentials) {
		if n == 1 {
			revoked(n, c)
		}
	}
	c, log := vendServer(t, v)
	if _, err := open(t, "al://acme/coco", Options{Client: c}).ReadAll(t.Context(), "missing"); gcerrors.Code(err) != gcerrors.NotFound {
		t.Fatalf("read: %v, want NotFound from the second token", err)
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	vended, refused := log.vended, log.refused
	if len(refused) != 2 || refused[0] != "" || refused[1] != vended[0].RefusalID() || !strings.HasPrefix(refused[1], "tok-") {
		t.Fatalf("vends named refused credentials %q; want none, then the first token's digest", refused)
	}
	if strings.Contains(vended[0].GCS.AccessToken, strings.TrimPrefix(refused[1], "tok-")) {
		t.Error("the refusal ID is part of the token")
	}
}

// The token goes to the store's host only: a redirect elsewhere (here from a store that
// sends every request on to another server) reaches its target without it.
func TestGCSTokenStaysWithTheStoresHost(t *testing.T) {
	s := fakegcstest.Start(t)
	var got []string
	var mu sync.Mutex
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Get("Authorization"))
		mu.Unlock()
		http.Error(w, `{"error":{"code":404,"message":"No such object"}}`, http.StatusNotFound)
	}))
	defer elsewhere.Close()
	store := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}))
	defer store.Close()
	v := fakegcstest.NewVendor(t, s)
	v.Tamper = func(_ int, c *api.Credentials) { c.GCS.Endpoint = store.URL }
	b := open(t, "al://acme/coco", Options{Client: v})
	if _, err := b.ReadAll(t.Context(), "x"); err == nil {
		t.Fatal("read through a redirect to a server without the object succeeded")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) == 0 {
		t.Fatal("the redirect was not followed: the test proves nothing")
	}
	for _, h := range got {
		if h != "" {
			t.Fatalf("the redirect's target got Authorization %q", h)
		}
	}
}
