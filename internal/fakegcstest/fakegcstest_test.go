package fakegcstest_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"

	"github.com/tarnhq/tarn/internal/fakegcstest"
)

func TestMain(m *testing.M) { fakegcstest.Main(m) }

func write(t *testing.T, o *storage.ObjectHandle, body []byte, chunk int) error {
	t.Helper()
	w := o.NewWriter(t.Context())
	w.ChunkSize = chunk
	if _, err := w.Write(body); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

func read(t *testing.T, o *storage.ObjectHandle) []byte {
	t.Helper()
	r, err := o.NewReader(t.Context())
	if err != nil {
		t.Fatalf("read %s: %v", o.ObjectName(), err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBucketsAreFreshAndOnLoopback(t *testing.T) {
	a, b := fakegcstest.Start(t), fakegcstest.Start(t)
	if a.Bucket == b.Bucket || a.Endpoint != b.Endpoint || !strings.HasPrefix(a.Endpoint, "http://127.0.0.1:") || a.HostPort() != strings.TrimPrefix(a.Endpoint, "http://") {
		t.Fatalf("Start did not give fresh buckets on one loopback server: %+v %+v", a, b)
	}
	c := a.Client(t)
	if _, err := c.Bucket(a.Bucket).Attrs(t.Context()); err != nil {
		t.Fatalf("bucket %s: %v", a.Bucket, err)
	}
	if _, err := c.Bucket("no-such-bucket-" + a.Bucket).Attrs(t.Context()); !errors.Is(err, storage.ErrBucketNotExist) {
		t.Errorf("a bucket never created: %v, want ErrBucketNotExist", err)
	}
}

// Objects written in one request (simple upload) and in several (resumable upload, whose
// session URL the server hands out) read back whole: the upload URLs point back at the
// server, not at storage.googleapis.com.
func TestObjectsRoundTrip(t *testing.T) {
	s := fakegcstest.Start(t)
	bkt := s.Client(t).Bucket(s.Bucket)
	small := []byte("hello")
	big := bytes.Repeat([]byte("0123456789abcdef"), 40_000) // 640 KB in 256 KiB chunks
	for name, tc := range map[string]struct {
		body  []byte
		chunk int
	}{"ds/small": {small, 0}, "ds/big": {big, 256 << 10}} {
		if err := write(t, bkt.Object(name), tc.body, tc.chunk); err != nil {
			t.Fatalf("write %s: %v", name, err)
		}
		if got := read(t, bkt.Object(name)); !bytes.Equal(got, tc.body) {
			t.Errorf("%s read back %d bytes, want %d", name, len(got), len(tc.body))
		}
	}
	names := s.Objects(t)
	if !slices.Equal(names, []string{"ds/big", "ds/small"}) {
		t.Errorf("listed %q", names)
	}
}

// What dataset commits rely on: a create with ifGenerationMatch=0 loses, with 412, when
// the object exists, and leaves it as it was.
func TestCreateIfAbsentLosesTheSecondTime(t *testing.T) {
	s := fakegcstest.Start(t)
	o := s.Client(t).Bucket(s.Bucket).Object("versions/1").If(storage.Conditions{DoesNotExist: true})
	if err := write(t, o, []byte("first"), 0); err != nil {
		t.Fatalf("first create: %v", err)
	}
	err := write(t, o, []byte("second"), 0)
	var ge *googleapi.Error
	if !errors.As(err, &ge) || ge.Code != http.StatusPreconditionFailed {
		t.Fatalf("second create: %v, want 412", err)
	}
	if got := read(t, s.Client(t).Bucket(s.Bucket).Object("versions/1")); string(got) != "first" {
		t.Errorf("the second create replaced the first: %q", got)
	}
}

// bearer sends every request with token as its bearer token.
type bearer string

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+string(b))
	return http.DefaultTransport.RoundTrip(r)
}

// wantRefused checks that err is GCS's error with code and reason.
func wantRefused(t *testing.T, what string, err error, code int, reason string) {
	t.Helper()
	var ge *googleapi.Error
	if !errors.As(err, &ge) || ge.Code != code || len(ge.Errors) != 1 || ge.Errors[0].Reason != reason {
		t.Errorf("%s: %v, want %d %s", what, err, code, reason)
	}
}

// The Vendor's Front passes on only the tokens the Vendor issued, for their mode and until
// they expire on its clock, and answers others as GCS does; the upload session URLs it
// passes on lead back to it, so every chunk of an upload is checked.
func TestVendorFrontChecksTokens(t *testing.T) {
	s := fakegcstest.Start(t)
	v := fakegcstest.NewVendor(t, s)
	now := time.Now()
	v.Now = func() time.Time { return now }
	w, err := v.DatasetCredentials(t.Context(), "acme", "coco", "write")
	if err != nil {
		t.Fatal(err)
	}
	r, _ := v.DatasetCredentials(t.Context(), "acme", "coco", "read")
	if w.GCS.Bucket != s.Bucket || w.GCS.Prefix != "datasets/coco" || w.GCS.Endpoint != v.Endpoint() || w.GCS.AccessToken == r.GCS.AccessToken {
		t.Fatalf("vended %+v and %+v", w.GCS, r.GCS)
	}
	as := func(tok string) *storage.BucketHandle {
		c, err := fakegcstest.NewClient(t.Context(), v.Endpoint(), &http.Client{Transport: bearer(tok)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c.Bucket(s.Bucket)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 40_000) // 3 chunks of 256 KiB
	if err := write(t, as(w.GCS.AccessToken).Object("datasets/coco/big"), big, 256<<10); err != nil {
		t.Fatalf("write with the write token: %v", err)
	}
	if n := v.Authorized(); n < 4 {
		t.Errorf("the Front passed on %d requests of a resumable upload, want the start and 3 chunks", n)
	}
	if got := read(t, as(r.GCS.AccessToken).Object("datasets/coco/big")); !bytes.Equal(got, big) {
		t.Errorf("read with the read token: %d bytes", len(got))
	}
	wantRefused(t, "write with the read token", write(t, as(r.GCS.AccessToken).Object("datasets/coco/x"), []byte("x"), 0), http.StatusForbidden, "forbidden")
	wantRefused(t, "write with an unknown token", write(t, as("ya29.unknown").Object("datasets/coco/x"), []byte("x"), 0), http.StatusUnauthorized, "authError")
	now = now.Add(10 * time.Minute)
	wantRefused(t, "write with an expired token", write(t, as(w.GCS.AccessToken).Object("datasets/coco/x"), []byte("x"), 0), http.StatusUnauthorized, "authError")
	if got := s.Objects(t); !slices.Equal(got, []string{"datasets/coco/big"}) {
		t.Errorf("the bucket holds %q", got)
	}
}
