package azuresas_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/azuritetest"
	"github.com/tarnhq/tarn/internal/entratest"
	"github.com/tarnhq/tarn/internal/provider/azuresas"
	"github.com/tarnhq/tarn/internal/testenv"
	"github.com/tarnhq/tarn/storage"
)

// entraFixture is a whole tarn whose provider azure reaches the OAuth Azurite, with Entra ID
// played by entratest, and an org acme with an admin.
type entraFixture struct {
	srv   *azuritetest.Server
	entra *entratest.Server
	env   *testenv.Env
	udk   atomic.Int64 // user delegation key requests
}

func newEntraFixture(t *testing.T) *entraFixture { return newEntraFixtureOf(t, false) }

// newEntraFixtureOf returns an entraFixture whose tarn is an OIDC issuer when issuer is set.
// entratest reads the tarn's clock, so that both agree on the time of tarn's tokens.
func newEntraFixtureOf(t *testing.T, issuer bool) *entraFixture {
	t.Helper()
	var clock atomic.Pointer[testenv.Clock]
	now := func() time.Time {
		if c := clock.Load(); c != nil {
			return c.Now()
		}
		return time.Now()
	}
	f := &entraFixture{srv: azuritetest.StartOAuth(t), entra: entratest.New(t, entratest.Options{Now: now})}
	f.env = testenv.New(t, testenv.Options{
		AllowEndpoints: []string{f.srv.HostPort()},
		AzureTransport: f.srv.Transport(&f.udk),
		AzureEntra:     azuresas.EntraOptions{ClientOptions: f.entra.CredentialOptions().ClientOptions, DisableInstanceDiscovery: true},
		Issuer:         issuer,
	})
	// Azurite checks SAS, user delegation key and token times against its own clock.
	f.env.Clock.Advance(time.Since(f.env.Clock.Now()))
	clock.Store(f.env.Clock)
	if _, err := f.env.Admin(t).CreateOrg(t.Context(), "acme"); err != nil {
		t.Fatal(err)
	}
	return f
}

// putKey saves creds key name of auth client-secret for the app registration of f.entra
// with secret, rooted at container (of the OAuth account).
func (f *entraFixture) putKey(t *testing.T, name, secret, container string, hns bool) {
	t.Helper()
	_, err := f.env.Admin(t).PutCredsKey(t.Context(), "acme", name, api.PutCredsKeyRequest{
		Provider: api.ProviderAzure, Secret: secret,
		Config: api.CredsKeyConfig{Roots: []string{"az://" + f.srv.Account + "/" + container}, Account: f.srv.Account,
			Endpoint: f.srv.Endpoint, Auth: api.AuthClientSecret, TenantID: f.entra.TenantID, ClientID: f.entra.ClientID,
			HierarchicalNamespace: hns},
	})
	if err != nil {
		t.Fatalf("put creds key %s: %v", name, err)
	}
}

// sasClient returns a client of container that authenticates with c's SAS only.
func (f *entraFixture) sasClient(t *testing.T, c *api.Credentials, name string) *container.Client {
	t.Helper()
	cc, err := container.NewClientWithNoCredential(c.Azure.Endpoint+"/"+name+"?"+c.Azure.SASToken,
		&container.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: f.srv.HTTPClient}})
	if err != nil {
		t.Fatal(err)
	}
	return cc
}

func status(err error) int {
	var resp *azcore.ResponseError
	if errors.As(err, &resp) {
		return resp.StatusCode
	}
	return 0
}

// TestEntraClientSecretEndToEnd runs auth client-secret in a whole tarn against Azurite
// with --oauth: a dataset at a container root vends read and write SAS signed with a user
// delegation key that Azurite handed out for an Entra ID token; the azblob client lists and
// reads inside with them, and Azurite refuses the read SAS for a write and for another
// container.
func TestEntraClientSecretEndToEnd(t *testing.T) {
	f := newEntraFixture(t)
	ctx := t.Context()
	admin := f.env.Admin(t)
	f.putKey(t, "entra", f.entra.ClientSecret(), f.srv.Container, false)
	if _, err := admin.CreateDataset(ctx, "acme", api.CreateDatasetRequest{Name: "data", Location: "az://" + f.srv.Account + "/" + f.srv.Container, CredsKey: "entra"}); err != nil {
		t.Fatal(err)
	}
	write, err := admin.DatasetCredentials(ctx, "acme", "data", api.ModeWrite)
	if err != nil {
		t.Fatalf("vend write: %v", err)
	}
	read, err := admin.DatasetCredentials(ctx, "acme", "data", api.ModeRead)
	if err != nil {
		t.Fatalf("vend read: %v", err)
	}
	for _, c := range []*api.Credentials{write, read} {
		q, err := url.ParseQuery(c.Azure.SASToken)
		if err != nil || q.Get("sr") != "c" || q.Get("skoid") != f.entra.ObjectID || q.Get("sktid") != f.entra.TenantID {
			t.Fatalf("%s SAS %v (%v): want a container SAS signed with a user delegation key of the app's principal", c.Mode, q, err)
		}
	}
	if n := f.udk.Load(); n != 1 {
		t.Errorf("two vends of one key fetched %d user delegation keys, want 1", n)
	}

	data := []byte("hello from a user delegation SAS")
	w := f.sasClient(t, write, f.srv.Container)
	if _, err := w.NewBlockBlobClient("dir/hello.txt").Upload(ctx, streaming.NopCloser(bytes.NewReader(data)), nil); err != nil {
		t.Fatalf("upload with the write SAS: %v", err)
	}
	r := f.sasClient(t, read, f.srv.Container)
	page, err := r.NewListBlobsFlatPager(nil).NextPage(ctx)
	if err != nil || len(page.Segment.BlobItems) != 1 || *page.Segment.BlobItems[0].Name != "dir/hello.txt" {
		t.Fatalf("list with the read SAS: %+v, %v; want dir/hello.txt", page.Segment, err)
	}
	got, err := r.NewBlobClient("dir/hello.txt").DownloadStream(ctx, nil)
	if err != nil {
		t.Fatalf("read with the read SAS: %v", err)
	}
	body, err := io.ReadAll(got.Body)
	got.Body.Close()
	if err != nil || !bytes.Equal(body, data) {
		t.Fatalf("read back %q, %v; want %q", body, err, data)
	}

	_, err = r.NewBlockBlobClient("dir/intruder.txt").Upload(ctx, streaming.NopCloser(strings.NewReader("x")), nil)
	if status(err) != http.StatusForbidden {
		t.Errorf("upload with the read SAS: %v; want 403", err)
	}
	other := f.srv.Container + "-other"
	if _, err := f.srv.SharedKeyClient(t).CreateContainer(ctx, other, nil); err != nil {
		t.Fatal(err)
	}
	_, err = f.sasClient(t, read, other).NewListBlobsFlatPager(nil).NextPage(ctx)
	if status(err) != http.StatusForbidden {
		t.Errorf("list container %s with a read SAS for %s: %v; want 403", other, f.srv.Container, err)
	}
}

// TestEntraWrongClientSecret: Entra ID refusing the app registration's secret is one line
// that names tenant, client and secret as what to check, and carries no secret.
func TestEntraWrongClientSecret(t *testing.T) {
	f := newEntraFixture(t)
	const wrong = "not-the-client-secret-1234"
	f.putKey(t, "wrong", wrong, f.srv.Container, false)
	_, err := f.env.Admin(t).LocationCredentials(t.Context(), "acme", "wrong", "az://"+f.srv.Account+"/"+f.srv.Container, api.ModeRead)
	var p *api.Problem
	if !errors.As(err, &p) {
		t.Fatalf("vend with a wrong client secret: %v; want a problem", err)
	}
	if p.Status != http.StatusBadGateway || !strings.Contains(p.Detail, "check tenant_id, client_id and the client secret") ||
		strings.ContainsAny(p.Detail, "\r\n") || strings.Contains(p.Detail, wrong) || strings.Contains(p.Detail, f.entra.ClientSecret()) {
		t.Fatalf("vend with a wrong client secret: %d %q; want 502, one line naming tenant_id, client_id and the client secret, and no secret", p.Status, p.Detail)
	}
	reqs := f.entra.Requests()
	if len(reqs) == 0 || reqs[len(reqs)-1].Error != "invalid_client" {
		t.Errorf("token requests %+v; want the last refused with invalid_client", reqs)
	}
	if n := f.udk.Load(); n != 0 {
		t.Errorf("%d user delegation key requests without a token, want 0", n)
	}
}

// TestEntraColdVendsShareOneDelegationKey: 1,000 concurrent cold vends of distinct prefixes
// of one key (an account with hierarchical namespace: directory SAS) cost one user
// delegation key and one token, and the default upstream budget (a burst of 40, 32 in
// flight) refuses none of them: a SAS signed with the cached key spends no budget.
func TestEntraColdVendsShareOneDelegationKey(t *testing.T) {
	const n = 1000
	f := newEntraFixture(t)
	f.putKey(t, "hns", f.entra.ClientSecret(), f.srv.Container, true)
	admin := f.env.Admin(t)
	var wg sync.WaitGroup
	errc := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			prefix := fmt.Sprintf("p%04d", i)
			c, err := admin.LocationCredentials(context.Background(), "acme", "hns", "az://"+f.srv.Account+"/"+f.srv.Container+"/"+prefix, api.ModeRead)
			if err == nil {
				q, _ := url.ParseQuery(c.Azure.SASToken)
				if c.Azure.Prefix != prefix || q.Get("sr") != "d" || q.Get("sdd") != "1" {
					err = fmt.Errorf("vend %s answered prefix %q, sr %q, sdd %q", prefix, c.Azure.Prefix, q.Get("sr"), q.Get("sdd"))
				}
			}
			errc <- err
		})
	}
	wg.Wait()
	close(errc)
	failed := 0
	for err := range errc {
		if err != nil {
			if failed++; failed <= 3 {
				t.Error(err)
			}
		}
	}
	if failed > 0 {
		t.Fatalf("%d of %d vends failed", failed, n)
	}
	if got := f.udk.Load(); got != 1 {
		t.Errorf("%d cold vends fetched %d user delegation keys, want 1", n, got)
	}
	if got := f.entra.Issued(); got != 1 {
		t.Errorf("%d cold vends asked Entra ID for %d tokens, want 1", n, got)
	}
}

// TestEntraOpenBucket opens an Azure dataset of auth client-secret through
// storage.OpenBucket, over HTTPS with Azurite's own certificate: the bucket's SAS are user
// delegation SAS that tarn vends, and a read-mode bucket cannot write.
func TestEntraOpenBucket(t *testing.T) {
	f := newEntraFixture(t)
	ctx := t.Context()
	admin := f.env.Admin(t)
	f.putKey(t, "entra", f.entra.ClientSecret(), f.srv.Container, false)
	if _, err := admin.CreateDataset(ctx, "acme", api.CreateDatasetRequest{Name: "data", Location: "az://" + f.srv.Account + "/" + f.srv.Container, CredsKey: "entra"}); err != nil {
		t.Fatal(err)
	}
	open := func(mode string) *blob.Bucket {
		t.Helper()
		b, err := storage.OpenBucket(ctx, "al://acme/data", storage.Options{Client: admin, Mode: mode, HTTPClient: f.srv.HTTPClient})
		if err != nil {
			t.Fatalf("open %s: %v", mode, err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}
	if err := open(api.ModeWrite).WriteAll(ctx, "notes/a.txt", []byte("alpha"), nil); err != nil {
		t.Fatalf("write through the write bucket: %v", err)
	}
	r := open(api.ModeRead)
	if got, err := r.ReadAll(ctx, "notes/a.txt"); err != nil || string(got) != "alpha" {
		t.Fatalf("read back %q, %v; want alpha", got, err)
	}
	if err := r.WriteAll(ctx, "notes/b.txt", []byte("x"), nil); gcerrors.Code(err) != gcerrors.PermissionDenied && status(err) != http.StatusForbidden {
		t.Errorf("write through the read bucket: %v; want refused", err)
	}
	if n := f.udk.Load(); n != 1 {
		t.Errorf("two buckets of one key fetched %d user delegation keys, want 1", n)
	}
}
