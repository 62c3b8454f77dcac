// Package providertest is the conformance suite every credential provider runs against its
// real peer (MinIO for awssts, Azurite for azuresas, the local disk for localfile): the
// vended credentials reach their location and mode and nothing else, and the Vendor refuses
// what is outside a creds key before any driver is called.
//
// A provider's test calls Run with a Setup:
//
//	func TestConformance(t *testing.T) {
//		providertest.Run(t, providertest.Setup{Vendor: v, Driver: d, Provider: "aws", ...})
//	}
package providertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/provider"
	"github.com/tarnhq/tarn/location"
)

// Setup is what Run needs to exercise one provider against its peer.
type Setup struct {
	// Vendor has the driver under test registered as Provider. Every vend of the suite but
	// the refusal checks goes through it.
	Vendor *provider.Vendor
	// Driver is the driver under test, the one registered in Vendor. Run wraps it in a
	// Driver that counts calls to check that the Vendor refuses bad requests before any
	// driver is called.
	Driver provider.Driver
	// Provider is the driver's provider name, e.g. "aws" or "file".
	Provider string
	// Key is a creds key whose Config.Roots include Base.
	Key provider.Key
	// Base is a location under which the suite may create prefixes (e.g. s3://bucket/conf or
	// file:///tmp/x/conf). Each Run works below a fresh random prefix of Base.
	Base location.Location
	// Open opens a gocloud.dev bucket rooted at loc with the vended credentials c (s3blob with
	// static credentials for S3, fileblob for file). It must use only c: no ambient or root
	// credentials. It should not contact the peer; denials are expected from the operations.
	Open func(ctx context.Context, c *api.Credentials, loc location.Location) (*blob.Bucket, error)
	// Seed writes an object key below loc with the peer's own full-power credentials (root
	// keys), for the read tests.
	Seed func(ctx context.Context, loc location.Location, key string, data []byte) error
	// Enforced is false for providers that cannot enforce modes and prefixes themselves
	// (file: local disk, no credentials). The checks that a credential is refused outside its
	// prefix or mode are then skipped, with the reason.
	Enforced bool
	// DatasetA and DatasetAB, when both set, are the two locations the suite vends for and
	// probes instead of prefixes ds-a and ds-ab of a fresh prefix of Base: for a provider
	// that scopes credentials to whole containers (Azure without hierarchical namespace),
	// two existing containers whose names share leading characters. Both lie within the
	// key's roots and outside Base.
	DatasetA, DatasetAB location.Location
	// Denied reports whether err, from a bucket operation, is the peer refusing the
	// request's credentials; nil means gcerrors.PermissionDenied. It is for drivers that
	// report some refusals with another code (azureblob: only AuthenticationFailed is
	// PermissionDenied, AuthorizationFailure and the like are Unknown).
	Denied func(err error) bool
}

// TTL is the lifetime Run asks for: 15 minutes, the shortest STS accepts.
const TTL = 15 * time.Minute

// Run runs the conformance suite, one subtest per behaviour. It fails t at once when s is
// incomplete or Base is outside the key's roots.
func Run(t *testing.T, s Setup) {
	t.Helper()
	switch {
	case s.Vendor == nil || s.Driver == nil || s.Open == nil || s.Seed == nil:
		t.Fatal("providertest: Setup needs Vendor, Driver, Open and Seed")
	case s.Provider == "":
		t.Fatal("providertest: Setup.Provider is empty")
	case !provider.Allows(s.Key, s.Base):
		t.Fatalf("providertest: Base %s is outside the key's roots %v", s.Base, s.Key.Config.Roots)
	}
	if s.Denied == nil {
		s.Denied = func(err error) bool { return gcerrors.Code(err) == gcerrors.PermissionDenied }
	}
	r := &runner{Setup: s, run: mustJoin(t, s.Base, "run-"+randomHex(6))}
	r.dsA = mustJoin(t, r.run, "ds-a")
	r.dsAB = mustJoin(t, r.run, "ds-ab") // shares ds-a's leading characters, not its prefix
	if !s.DatasetA.IsZero() && !s.DatasetAB.IsZero() {
		r.dsA, r.dsAB = s.DatasetA, s.DatasetAB
	}

	t.Run("read inside the prefix works", r.readInside)
	t.Run("write with a write credential works and reads back", r.writeInside)
	t.Run("list inside the prefix works", r.listInside)
	t.Run("read of a sibling prefix is denied", r.readSiblingDenied)
	t.Run("write to a sibling prefix is denied", r.writeSiblingDenied)
	t.Run("write with a read credential is denied", r.writeWithReadDenied)
	t.Run("list outside the prefix is denied", r.listOutsideDenied)
	t.Run("location outside the key's roots is refused before the driver", r.outsideRootsRefused)
	t.Run("mode other than read or write is refused", r.badModeRefused)
	t.Run("vended answer names location, mode, provider and a future expiry", r.answerFields)
}

type runner struct {
	Setup
	run, dsA, dsAB location.Location
}

func (r *runner) vend(t *testing.T, loc location.Location, mode string) *api.Credentials {
	t.Helper()
	c, err := r.Vendor.Vend(t.Context(), r.Provider, r.request(loc, mode))
	if err != nil {
		t.Fatalf("vend %s %s: %v", mode, loc, err)
	}
	if c == nil {
		t.Fatalf("vend %s %s: nil credentials", mode, loc)
	}
	return c
}

func (r *runner) request(loc location.Location, mode string) provider.Request {
	return provider.Request{Key: r.Key, Location: loc, Mode: mode, Session: "providertest", TTL: TTL}
}

// open opens loc with c and closes the bucket when t ends.
func (r *runner) open(t *testing.T, c *api.Credentials, loc location.Location) *blob.Bucket {
	t.Helper()
	b, err := r.Open(t.Context(), c, loc)
	if err != nil {
		t.Fatalf("open %s with vended %s credentials: %v", loc, c.Mode, err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func (r *runner) seed(t *testing.T, loc location.Location, key string, data []byte) {
	t.Helper()
	if err := r.Seed(t.Context(), loc, key, data); err != nil {
		t.Fatalf("seed %s in %s: %v", key, loc, err)
	}
}

func (r *runner) needEnforced(t *testing.T) {
	t.Helper()
	if !r.Enforced {
		t.Skipf("provider %s does not enforce prefixes or modes itself (Setup.Enforced is false): whoever holds its credentials can reach the whole store", r.Provider)
	}
}

func (r *runner) readInside(t *testing.T) {
	data := randomBytes(100)
	r.seed(t, r.dsA, "seeded/object.bin", data)
	b := r.open(t, r.vend(t, r.dsA, api.ModeRead), r.dsA)
	got, err := b.ReadAll(t.Context(), "seeded/object.bin")
	if err != nil {
		t.Fatalf("read seeded/object.bin in %s with a read credential: %v", r.dsA, err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes that differ from the %d seeded", len(got), len(data))
	}
}

func (r *runner) writeInside(t *testing.T) {
	ctx := t.Context()
	data := randomBytes(1000)
	w := r.open(t, r.vend(t, r.dsA, api.ModeWrite), r.dsA)
	if err := w.WriteAll(ctx, "written/object.bin", data, nil); err != nil {
		t.Fatalf("write written/object.bin in %s with a write credential: %v", r.dsA, err)
	}
	if got, err := w.ReadAll(ctx, "written/object.bin"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back through the write credential: %d bytes, %v", len(got), err)
	}
	rd := r.open(t, r.vend(t, r.dsA, api.ModeRead), r.dsA)
	if got, err := rd.ReadAll(ctx, "written/object.bin"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back through a read credential: %d bytes, %v", len(got), err)
	}
}

func (r *runner) listInside(t *testing.T) {
	ctx := t.Context()
	for _, k := range []string{"listed/one", "listed/two", "listed/sub/three"} {
		r.seed(t, r.dsA, k, []byte(k))
	}
	b := r.open(t, r.vend(t, r.dsA, api.ModeRead), r.dsA)

	keys, err := listAll(ctx, b, &blob.ListOptions{Prefix: "listed/"})
	if err != nil {
		t.Fatalf("list listed/ in %s with a read credential: %v", r.dsA, err)
	}
	if want := []string{"listed/one", "listed/sub/three", "listed/two"}; !slices.Equal(keys, want) {
		t.Errorf("list listed/ = %q, want %q", keys, want)
	}
	keys, err = listAll(ctx, b, &blob.ListOptions{Prefix: "listed/", Delimiter: "/"})
	if err != nil {
		t.Fatalf("list listed/ with delimiter: %v", err)
	}
	if want := []string{"listed/one", "listed/sub/", "listed/two"}; !slices.Equal(keys, want) {
		t.Errorf("list listed/ with delimiter = %q, want %q", keys, want)
	}
	if _, err := listAll(ctx, b, nil); err != nil {
		t.Errorf("list the whole location %s: %v", r.dsA, err)
	}
}

func (r *runner) readSiblingDenied(t *testing.T) {
	r.needEnforced(t)
	r.seed(t, r.dsAB, "secret.bin", []byte("not for ds-a"))
	b := r.open(t, r.vend(t, r.dsA, api.ModeRead), r.dsAB)
	got, err := b.ReadAll(t.Context(), "secret.bin")
	r.wantDenied(t, fmt.Sprintf("read %s/secret.bin with a read credential for %s", r.dsAB, r.dsA), err)
	if len(got) > 0 {
		t.Errorf("the denied read returned %d bytes", len(got))
	}
}

func (r *runner) writeSiblingDenied(t *testing.T) {
	r.needEnforced(t)
	b := r.open(t, r.vend(t, r.dsA, api.ModeWrite), r.dsAB)
	err := b.WriteAll(t.Context(), "intruder.bin", []byte("x"), nil)
	r.wantDenied(t, fmt.Sprintf("write %s/intruder.bin with a write credential for %s", r.dsAB, r.dsA), err)
}

func (r *runner) writeWithReadDenied(t *testing.T) {
	r.needEnforced(t)
	ctx := t.Context()
	b := r.open(t, r.vend(t, r.dsA, api.ModeRead), r.dsA)
	err := b.WriteAll(ctx, "read-only.bin", []byte("x"), nil)
	r.wantDenied(t, fmt.Sprintf("write %s/read-only.bin with a read credential", r.dsA), err)

	r.seed(t, r.dsA, "delete-me.bin", []byte("x"))
	r.wantDenied(t, fmt.Sprintf("delete %s/delete-me.bin with a read credential", r.dsA), b.Delete(ctx, "delete-me.bin"))
	if ok, err := b.Exists(ctx, "delete-me.bin"); err != nil || !ok {
		t.Errorf("after a denied delete, exists = %v, %v", ok, err)
	}
	if ok, err := b.Exists(ctx, "read-only.bin"); err != nil || ok {
		t.Errorf("after a denied write, exists = %v, %v", ok, err)
	}
}

func (r *runner) listOutsideDenied(t *testing.T) {
	r.needEnforced(t)
	ctx := t.Context()
	r.seed(t, r.dsAB, "listed.bin", []byte("x"))
	c := r.vend(t, r.dsA, api.ModeRead)
	for _, loc := range []location.Location{r.dsAB, r.run, r.Base} {
		_, err := listAll(ctx, r.open(t, c, loc), nil)
		r.wantDenied(t, fmt.Sprintf("list %s with a read credential for %s", loc, r.dsA), err)
	}
	// A prefix that extends ds-a's name without its separator is outside it, too.
	_, err := listAll(ctx, r.open(t, c, r.run), &blob.ListOptions{Prefix: "ds-a"})
	r.wantDenied(t, fmt.Sprintf("list %s with prefix ds-a (no slash) with a read credential for %s", r.run, r.dsA), err)
}

func (r *runner) outsideRootsRefused(t *testing.T) {
	outside := r.outsideRoots(t)
	if len(outside) == 0 {
		t.Skipf("the key's roots %v leave no location of scheme %s outside them", r.Key.Config.Roots, r.Base.Scheme)
	}
	v, count := r.countingVendor()
	for _, loc := range outside {
		for _, mode := range []string{api.ModeRead, api.ModeWrite} {
			c, err := v.Vend(t.Context(), r.Provider, r.request(loc, mode))
			if !errs.Is(errs.Permission, err) {
				t.Errorf("vend %s %s outside roots %v = %+v, %v; want an error of kind Permission", mode, loc, r.Key.Config.Roots, c, err)
			}
		}
	}
	if n := count.Load(); n != 0 {
		t.Errorf("the driver was called %d times for locations outside the key's roots", n)
	}
}

// outsideRoots returns locations of Base's scheme that lie outside every root of the key:
// the root of Base's bucket (or /), a sibling of each root that shares its name as a
// prefix, and another bucket (or container, with a sibling container for az).
func (r *runner) outsideRoots(t *testing.T) []location.Location {
	cands := []location.Location{r.Base.Root()}
	for _, s := range r.Key.Config.Roots {
		root, err := location.ParseStorage(s)
		if err != nil {
			t.Fatalf("root %q: %v", s, err)
		}
		if root.Path != "" {
			sib := root
			sib.Path += "-outside"
			cands = append(cands, sib)
		}
		if root.Bucket != "" {
			other := root
			other.Bucket = "tarn-providertest-elsewhere"
			cands = append(cands, other)
		}
		if root.Container != "" {
			sib, other := root.Root(), root.Root()
			sib.Container += "-outside"
			other.Container = "tarn-providertest-elsewhere"
			cands = append(cands, sib, other)
		}
	}
	var out []location.Location
	for _, c := range cands {
		if c.Scheme == r.Base.Scheme && !provider.Allows(r.Key, c) && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

func (r *runner) badModeRefused(t *testing.T) {
	v, count := r.countingVendor()
	for _, mode := range []string{"", "admin", "READ", "Write", "readwrite", "read "} {
		c, err := v.Vend(t.Context(), r.Provider, r.request(r.dsA, mode))
		if !errs.Is(errs.Invalid, err) {
			t.Errorf("vend mode %q = %+v, %v; want an error of kind Invalid", mode, c, err)
		}
	}
	if n := count.Load(); n != 0 {
		t.Errorf("the driver was called %d times for bad modes", n)
	}
}

func (r *runner) answerFields(t *testing.T) {
	for _, mode := range []string{api.ModeRead, api.ModeWrite} {
		before := time.Now()
		c := r.vend(t, r.dsA, mode)
		if c.Location != r.dsA.String() || c.Mode != mode || c.Provider != r.Provider {
			t.Errorf("vend %s %s answered location %q, mode %q, provider %q", mode, r.dsA, c.Location, c.Mode, c.Provider)
		}
		if !c.ExpiresAt.After(before) {
			t.Errorf("vend %s answered expires_at %s, not after %s", mode, c.ExpiresAt, before)
		}
		if c.ExpiresAt.After(before.Add(TTL + time.Minute)) {
			t.Errorf("vend %s answered expires_at %s, more than the %s asked for", mode, c.ExpiresAt, TTL)
		}
	}
}

// countingVendor returns a Vendor whose only driver is the driver under test wrapped to
// count its Vend calls.
func (r *runner) countingVendor() (*provider.Vendor, *atomic.Int64) {
	d := &countingDriver{Driver: r.Driver}
	return provider.New(map[string]provider.Driver{r.Provider: d}, nil), &d.vends
}

type countingDriver struct {
	provider.Driver
	vends atomic.Int64
}

func (d *countingDriver) Vend(ctx context.Context, req provider.Request) (*api.Credentials, error) {
	d.vends.Add(1)
	return d.Driver.Vend(ctx, req)
}

// wantDenied checks that err is the peer refusing the request's credentials (Setup.Denied).
func (r *runner) wantDenied(t *testing.T, what string, err error) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("%s succeeded; want permission denied", what)
	case !r.Denied(err):
		t.Errorf("%s: %v (code %v); want permission denied", what, err, gcerrors.Code(err))
	}
}

// listAll lists b with opts and returns every key.
func listAll(ctx context.Context, b *blob.Bucket, opts *blob.ListOptions) ([]string, error) {
	var keys []string
	it := b.List(opts)
	for {
		o, err := it.Next(ctx)
		if err == io.EOF {
			return keys, nil
		}
		if err != nil {
			return keys, err
		}
		keys = append(keys, o.Key)
	}
}

func mustJoin(t *testing.T, l location.Location, key string) location.Location {
	t.Helper()
	j, err := l.Join(key)
	if err != nil {
		t.Fatalf("join %s and %q: %v", l, key, err)
	}
	return j
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func randomHex(n int) string { return hex.EncodeToString(randomBytes(n)) }
