package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/azuritetest"
	"github.com/tarnhq/tarn/internal/renew"
	"github.com/tarnhq/tarn/location"
)

// azuriteVendor is a Vendor that vends the way tarn's server does in shared-key mode: a
// container SAS signed with the account key (Azurite cannot scope a SAS to a directory),
// read "rl", write "racwdl". The dataset al://acme/coco lives at
// az://ACCOUNT/CONTAINER/datasets/coco. The SAS itself is valid for an hour; ExpiresAt is
// now + life on the vendor's clock, so tests can make it look short-lived. tamper, when
// set, alters the n-th answer (n from 1).
type azuriteVendor struct {
	s      *azuritetest.Server
	now    func() time.Time
	life   time.Duration
	tamper func(n int, c *api.AzureCredentials)

	mu    sync.Mutex
	calls int
}

func newAzuriteVendor(s *azuritetest.Server, now func() time.Time) *azuriteVendor {
	return &azuriteVendor{s: s, now: now, life: 10 * time.Minute}
}

func (v *azuriteVendor) datasetLocation() string {
	return "az://" + v.s.Account + "/" + v.s.Container + "/" + datasetPrefix
}

func (v *azuriteVendor) DatasetCredentials(ctx context.Context, org, name, mode string) (*api.Credentials, error) {
	if org != "acme" || name != "coco" {
		return nil, &api.Problem{Status: 404, Code: api.CodeNotFound, Detail: "no such dataset"}
	}
	return v.vend(v.datasetLocation(), mode)
}

func (v *azuriteVendor) LocationCredentials(ctx context.Context, org, key, loc, mode string) (*api.Credentials, error) {
	return v.vend(loc, mode)
}

func (v *azuriteVendor) LinkedCredentials(ctx context.Context, org, name, key, loc string) (*api.Credentials, error) {
	return v.vend(loc, api.ModeRead)
}

func (v *azuriteVendor) vend(loc, mode string) (*api.Credentials, error) {
	v.mu.Lock()
	v.calls++
	n := v.calls
	v.mu.Unlock()
	l, err := location.Parse(loc)
	if err != nil {
		return nil, err
	}
	perms := sas.ContainerPermissions{Read: true, List: true}
	if mode == api.ModeWrite {
		perms.Add, perms.Create, perms.Write, perms.Delete = true, true, true, true
	}
	qp, err := sas.BlobSignatureValues{
		Protocol:      sas.ProtocolHTTPSandHTTP,
		StartTime:     time.Now().Add(-time.Minute),
		ExpiryTime:    time.Now().Add(time.Hour),
		Permissions:   perms.String(),
		ContainerName: l.Container,
	}.SignWithSharedKey(v.s.SharedKeyCredential())
	if err != nil {
		return nil, err
	}
	c := &api.Credentials{
		Location: loc, Mode: mode, Provider: api.ProviderAzure, ExpiresAt: v.now().Add(v.life),
		Azure: &api.AzureCredentials{Account: l.Account, Endpoint: v.s.Endpoint, Container: l.Container, Prefix: l.Path, SASToken: qp.Encode()},
	}
	if v.tamper != nil {
		v.tamper(n, c.Azure)
	}
	return c, nil
}

func (v *azuriteVendor) count() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.calls
}

// badSignature makes a SAS that Azure refuses with AuthenticationFailed.
func badSignature(_ int, c *api.AzureCredentials) {
	c.SASToken = strings.Replace(c.SASToken, "sig=", "sig=AAAA", 1)
}

// containerKeys lists the container's blobs with the account key.
func containerKeys(t *testing.T, s *azuritetest.Server) []string {
	t.Helper()
	var keys []string
	pager := s.SharedKeyClient(t).NewListBlobsFlatPager(s.Container, nil)
	for pager.More() {
		page, err := pager.NextPage(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range page.Segment.BlobItems {
			keys = append(keys, *b.Name)
		}
	}
	slices.Sort(keys)
	return keys
}

func azureCode(err error) string {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}

func TestAzureBucketReadsAndWritesInsideItsLocation(t *testing.T) {
	s := azuritetest.Start(t)
	v := newAzuriteVendor(s, time.Now)
	for _, tc := range []struct {
		path string
		opts Options
		root string // where the bucket's keys land in the container
	}{
		{"al://acme/coco", Options{Client: v, Mode: api.ModeWrite}, datasetPrefix},
		{"al://acme/coco/sub", Options{Client: v, Mode: api.ModeWrite}, datasetPrefix + "/sub"},
		{"az://" + s.Account + "/" + s.Container + "/keyed", Options{Client: v, Mode: api.ModeWrite, Org: "acme", CredsKey: "az"}, "keyed"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			b := open(t, tc.path, tc.opts)
			write(t, b, "a/1.txt", "one")
			write(t, b, "b.txt", "two")
			if got := read(t, b, "a/1.txt"); got != "one" {
				t.Errorf("read back %q", got)
			}
			if got := keys(t, b); !slices.Equal(got, []string{"a/1.txt", "b.txt"}) {
				t.Errorf("listed %q", got)
			}
			all := containerKeys(t, s)
			for _, k := range []string{tc.root + "/a/1.txt", tc.root + "/b.txt"} {
				if !slices.Contains(all, k) {
					t.Errorf("the container lacks %s: %q", k, all)
				}
			}
			if err := b.Delete(t.Context(), "b.txt"); err != nil {
				t.Fatal(err)
			}
			if ok, err := b.Exists(t.Context(), "b.txt"); ok || err != nil {
				t.Errorf("after delete: exists %v, %v", ok, err)
			}
		})
	}
}

// Commits of package dataset create manifests with IfNotExist (If-None-Match: *): the
// second create of one key must fail with FailedPrecondition and leave the first.
func TestAzureCreateIfAbsent(t *testing.T) {
	s := azuritetest.Start(t)
	b := open(t, "al://acme/coco", Options{Client: newAzuriteVendor(s, time.Now), Mode: api.ModeWrite})
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

func TestAzureSASIsRenewedAhead(t *testing.T) {
	s := azuritetest.Start(t)
	clk := realNowClock()
	v := newAzuriteVendor(s, clk.Now)
	b := open(t, "al://acme/coco", Options{Client: v, Mode: api.ModeWrite, Now: clk.Now})
	write(t, b, "x", "data")
	if v.count() != 1 {
		t.Fatalf("%d vends before any renewal, want 1", v.count())
	}
	// Fifty minutes of reads, one a minute, with SASes of 10 minutes: each is renewed when
	// half of it has passed (renew.After: 30 minutes before expiry is sooner than that), so
	// at minutes 5, 10, …, 50; an expired SAS is never in use, so every read succeeds.
	for range 50 {
		clk.Add(time.Minute)
		if got := read(t, b, "x"); got != "data" {
			t.Fatalf("read %q", got)
		}
	}
	if renew.After(v.life) != 5*time.Minute || v.count() != 11 {
		t.Errorf("%d vends in 50 minutes, want 11 (the first and one every 5 minutes)", v.count())
	}
}

func TestAzureRefusedSASIsReplacedOnce(t *testing.T) {
	s := azuritetest.Start(t)
	firstOnly := func(n int, c *api.AzureCredentials) {
		if n == 1 {
			badSignature(n, c)
		}
	}

	t.Run("first SAS refused, write body is sent again", func(t *testing.T) {
		v := newAzuriteVendor(s, time.Now)
		v.tamper = firstOnly
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
		if v.count() != 2 {
			t.Errorf("%d vends, want 2 (the refused SAS and its replacement)", v.count())
		}
	})

	t.Run("every SAS refused: one re-vend, then the error", func(t *testing.T) {
		v := newAzuriteVendor(s, time.Now)
		v.tamper = badSignature
		b := open(t, "al://acme/coco", Options{Client: v})
		for i := range 3 {
			_, err := b.ReadAll(t.Context(), "x")
			if code := azureCode(err); !refusedSASCodes[code] {
				t.Fatalf("read %d: %v (code %q), want a refused SAS", i, err, code)
			}
		}
		// The replacement was refused too: it is what it is, no vend per request.
		if v.count() != 2 {
			t.Errorf("%d vends for 3 refused reads, want 2", v.count())
		}
	})

	t.Run("a read SAS refused a write: no re-vend", func(t *testing.T) {
		v := newAzuriteVendor(s, time.Now)
		b := open(t, "al://acme/coco", Options{Client: v})
		err := b.WriteAll(t.Context(), "nope", []byte("x"), nil)
		if code := azureCode(err); code != "AuthorizationPermissionMismatch" {
			t.Fatalf("write with a read SAS: %v (code %q), want AuthorizationPermissionMismatch", err, code)
		}
		if v.count() != 1 {
			t.Errorf("%d vends, want 1: a permission error is no stale SAS", v.count())
		}
		if got := containerKeys(t, s); slices.Contains(got, datasetPrefix+"/nope") {
			t.Error("a read SAS wrote")
		}
	})
}

func TestAzureErrorsNeverHoldTheSAS(t *testing.T) {
	s := azuritetest.Start(t)
	v := newAzuriteVendor(s, time.Now)
	var sigs []string // every signature vended, good or bad
	record := func(c *api.AzureCredentials) {
		for _, p := range strings.Split(c.SASToken, "&") {
			if sig, ok := strings.CutPrefix(p, "sig="); ok {
				sigs = append(sigs, sig)
			}
		}
	}
	v.tamper = func(_ int, c *api.AzureCredentials) { record(c) }
	b := open(t, "al://acme/coco", Options{Client: v})
	_, missing := b.ReadAll(t.Context(), "missing")
	denied := b.WriteAll(t.Context(), "denied", []byte("x"), nil)
	v.tamper = func(n int, c *api.AzureCredentials) { badSignature(n, c); record(c) }
	b2 := open(t, "al://acme/coco", Options{Client: v})
	_, refused := b2.ReadAll(t.Context(), "refused")
	// A request that cannot be sent: Go's HTTP client names its URL, SAS and all.
	v.tamper = func(_ int, c *api.AzureCredentials) { record(c) }
	cut := &http.Client{Transport: &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("connection refused")
	}}}
	_, unsent := open(t, "al://acme/coco", Options{Client: v, HTTPClient: cut}).ReadAll(t.Context(), "unsent")
	for _, err := range []error{missing, denied, refused, unsent} {
		if err == nil {
			t.Fatal("an operation that must fail succeeded")
		}
		msg := fmt.Sprintf("%v %+v", err, err)
		for _, sig := range sigs {
			if strings.Contains(msg, sig) || strings.Contains(msg, "sig=") {
				t.Errorf("error holds the SAS: %s", msg)
			}
		}
	}
}

// After Azure refuses a SAS, the next vend names it to the server by its digest
// (api.Credentials.RefusalID), never by the SAS, so that the server does not answer it again
// from its cache.
func TestRefusedSASIsNamedToTheServerByItsDigest(t *testing.T) {
	s := azuritetest.Start(t)
	v := newAzuriteVendor(s, time.Now)
	v.tamper = func(n int, c *api.AzureCredentials) {
		if n == 1 {
			badSignature(n, c)
		}
	}
	c, log := vendServer(t, v)
	write(t, open(t, "al://acme/coco", Options{Client: newAzuriteVendor(s, time.Now), Mode: api.ModeWrite}), "x", "data")
	if got := read(t, open(t, "al://acme/coco", Options{Client: c}), "x"); got != "data" {
		t.Fatalf("read %q", got)
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	vended, refused := log.vended, log.refused
	if len(refused) != 2 || refused[0] != "" || refused[1] != vended[0].RefusalID() || !strings.HasPrefix(refused[1], "sas-") {
		t.Fatalf("vends named refused credentials %q; want none, then the first SAS's digest", refused)
	}
	if strings.Contains(vended[0].Azure.SASToken, refused[1]) {
		t.Error("the refusal ID is part of the SAS")
	}
}
