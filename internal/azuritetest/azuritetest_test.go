package azuritetest_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"

	"github.com/tarnhq/tarn/internal/azuritetest"
	"github.com/tarnhq/tarn/internal/entratest"
)

func TestMain(m *testing.M) { azuritetest.Main(m) }

func upload(ctx context.Context, c *azblob.Client, container, name, body string) error {
	_, err := c.UploadBuffer(ctx, container, name, []byte(body), nil)
	return err
}

func download(ctx context.Context, c *azblob.Client, container, name string) (string, error) {
	resp, err := c.DownloadStream(ctx, container, name, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func list(ctx context.Context, c *azblob.Client, container, prefix string) ([]string, error) {
	var names []string
	pager := c.NewListBlobsFlatPager(container, &azblob.ListBlobsFlatOptions{Prefix: to.Ptr(prefix)})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, b := range page.Segment.BlobItems {
			names = append(names, *b.Name)
		}
	}
	return names, nil
}

// wantRefused fails t unless err is a 403 answer from the storage service.
func wantRefused(t *testing.T, what string, err error) {
	t.Helper()
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusForbidden {
		t.Errorf("%s: err = %v, want 403 from the service", what, err)
	}
}

// sasClient returns a client of s that authenticates with the SAS query qp only.
func sasClient(t *testing.T, s *azuritetest.Server, qp sas.QueryParameters) *azblob.Client {
	t.Helper()
	c, err := azblob.NewClientWithNoCredential(s.Endpoint+"/?"+qp.Encode(), s.ClientOptions())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSharedKeyCreatesUploadsAndLists(t *testing.T) {
	s := azuritetest.Start(t)
	ctx := t.Context()
	if !strings.HasPrefix(s.Endpoint, "http://127.0.0.1:") || !strings.HasSuffix(s.Endpoint, "/"+azuritetest.Account) || s.Account != azuritetest.Account || s.OAuth || s.CertPool != nil {
		t.Errorf("server = %+v, want shared key over HTTP on loopback", s)
	}
	c := s.SharedKeyClient(t)
	if _, err := c.CreateContainer(ctx, s.Container+"-more", nil); err != nil {
		t.Fatalf("create container: %v", err)
	}
	for _, name := range []string{"a/1.txt", "a/2.txt", "b/3.txt"} {
		if err := upload(ctx, c, s.Container, name, "hello "+name); err != nil {
			t.Fatalf("upload %s: %v", name, err)
		}
	}
	names, err := list(ctx, c, s.Container, "a/")
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	if want := []string{"a/1.txt", "a/2.txt"}; !slices.Equal(names, want) {
		t.Errorf("list a/ = %v, want %v", names, want)
	}
	if got, err := download(ctx, c, s.Container, "b/3.txt"); err != nil || got != "hello b/3.txt" {
		t.Errorf("download = %q, %v", got, err)
	}

	// The container of another test is not this test's: Start made a fresh one.
	other := azuritetest.Start(t)
	if other.Container == s.Container || other.Endpoint != s.Endpoint {
		t.Errorf("second Start: container %s endpoint %s; want a new container on the same server", other.Container, other.Endpoint)
	}
	if names, err := list(ctx, c, other.Container, ""); err != nil || len(names) != 0 {
		t.Errorf("fresh container lists %v, %v", names, err)
	}
}

func TestWrongSharedKeyIsRefused(t *testing.T) {
	s := azuritetest.Start(t)
	forged, err := azblob.NewSharedKeyCredential(s.Account, "d3Jvbmcga2V5IHdyb25nIGtleSB3cm9uZyBrZXk=")
	if err != nil {
		t.Fatal(err)
	}
	c, err := azblob.NewClientWithSharedKeyCredential(s.Endpoint+"/", forged, s.ClientOptions())
	if err != nil {
		t.Fatal(err)
	}
	wantRefused(t, "upload with a wrong key", upload(t.Context(), c, s.Container, "x", "x"))
}

// TestSharedKeySAS checks container scope enforcement of a SAS signed with the account key
// over HTTP: what the provider's shared-key mode vends on an emulator.
func TestSharedKeySAS(t *testing.T) {
	s := azuritetest.Start(t)
	other := azuritetest.Start(t)
	ctx := t.Context()
	admin := s.SharedKeyClient(t)
	if err := upload(ctx, admin, s.Container, "data/x", "x"); err != nil {
		t.Fatal(err)
	}
	cred := s.SharedKeyCredential()
	sign := func(perms sas.ContainerPermissions, container string, start, expiry time.Time) sas.QueryParameters {
		t.Helper()
		qp, err := sas.BlobSignatureValues{
			Protocol:      sas.ProtocolHTTPSandHTTP,
			StartTime:     start,
			ExpiryTime:    expiry,
			Permissions:   perms.String(),
			ContainerName: container,
		}.SignWithSharedKey(cred)
		if err != nil {
			t.Fatal(err)
		}
		return qp
	}
	now := time.Now()
	read := sasClient(t, s, sign(sas.ContainerPermissions{Read: true, List: true}, s.Container, now.Add(-time.Minute), now.Add(time.Hour)))
	if got, err := download(ctx, read, s.Container, "data/x"); err != nil || got != "x" {
		t.Errorf("read SAS download = %q, %v", got, err)
	}
	if _, err := list(ctx, read, s.Container, "data/"); err != nil {
		t.Errorf("read SAS list: %v", err)
	}
	wantRefused(t, "read SAS upload", upload(ctx, read, s.Container, "data/y", "y"))
	wantRefused(t, "read SAS on another container", upload(ctx, read, other.Container, "data/y", "y"))
	if _, err := download(ctx, read, other.Container, "data/x"); err == nil {
		t.Error("read SAS downloaded from another container")
	}

	write := sasClient(t, s, sign(sas.ContainerPermissions{Read: true, Add: true, Create: true, Write: true, Delete: true, List: true}, s.Container, now.Add(-time.Minute), now.Add(time.Hour)))
	if err := upload(ctx, write, s.Container, "data/y", "y"); err != nil {
		t.Errorf("write SAS upload: %v", err)
	}

	// A clock two hours on: the SAS signed then for an hour has expired by now.
	expired := sasClient(t, s, sign(sas.ContainerPermissions{Read: true, List: true}, s.Container, now.Add(-2*time.Hour), now.Add(-time.Hour)))
	_, err := download(ctx, expired, s.Container, "data/x")
	wantRefused(t, "expired SAS download", err)

	// A SAS whose signature does not match its fields (permissions widened after signing).
	signed := sign(sas.ContainerPermissions{Read: true, List: true}, s.Container, now.Add(-time.Minute), now.Add(time.Hour))
	forged := strings.Replace(signed.Encode(), "sp=rl", "sp=racwdl", 1)
	fc, err := azblob.NewClientWithNoCredential(s.Endpoint+"/?"+forged, s.ClientOptions())
	if err != nil {
		t.Fatal(err)
	}
	wantRefused(t, "forged SAS upload", upload(ctx, fc, s.Container, "data/z", "z"))
}

// TestUserDelegationSAS runs the Entra ID path for real: azidentity gets a token from the
// stand-in token endpoint, Azurite hands out a user delegation key to its bearer, and a SAS
// signed with that key is enforced by Azurite.
func TestUserDelegationSAS(t *testing.T) {
	s := azuritetest.StartOAuth(t)
	other := azuritetest.StartOAuth(t)
	entra := entratest.New(t, entratest.Options{})
	ctx := t.Context()
	if !strings.HasPrefix(s.Endpoint, "https://127.0.0.1:") || !s.OAuth || s.CertPool == nil {
		t.Fatalf("server = %+v, want OAuth over HTTPS on loopback", s)
	}
	if err := upload(ctx, s.SharedKeyClient(t), s.Container, "data/x", "hello"); err != nil {
		t.Fatalf("shared key upload on the OAuth server: %v", err)
	}

	bearer, err := azblob.NewClient(s.Endpoint+"/", entra.Credential(t, entra.ClientSecret()), s.ClientOptions())
	if err != nil {
		t.Fatal(err)
	}
	// The bearer token itself is accepted for data.
	if got, err := download(ctx, bearer, s.Container, "data/x"); err != nil || got != "hello" {
		t.Fatalf("bearer download = %q, %v", got, err)
	}
	now := time.Now().UTC()
	udc, err := bearer.ServiceClient().GetUserDelegationCredential(ctx, service.KeyInfo{
		Start:  to.Ptr(now.Add(-time.Minute).Format(sas.TimeFormat)),
		Expiry: to.Ptr(now.Add(24 * time.Hour).Format(sas.TimeFormat)),
	}, nil)
	if err != nil {
		t.Fatalf("GetUserDelegationCredential: %v", err)
	}
	reqs := entra.Requests()
	if len(reqs) != 1 || reqs[0].ClientID != entra.ClientID || reqs[0].Scope != entratest.StorageScope {
		t.Errorf("token requests = %+v, want one for %s with scope %s", reqs, entra.ClientID, entratest.StorageScope)
	}

	sign := func(perms sas.ContainerPermissions, container string) sas.QueryParameters {
		t.Helper()
		qp, err := sas.BlobSignatureValues{
			Protocol:      sas.ProtocolHTTPS,
			StartTime:     now.Add(-time.Minute),
			ExpiryTime:    now.Add(time.Hour),
			Permissions:   perms.String(),
			ContainerName: container,
		}.SignWithUserDelegation(udc)
		if err != nil {
			t.Fatal(err)
		}
		return qp
	}
	qp := sign(sas.ContainerPermissions{Read: true, List: true}, s.Container)
	if qp.SignedOID() != entra.ObjectID || qp.SignedTID() != entra.TenantID || qp.Permissions() != "rl" || qp.Resource() != "c" {
		t.Errorf("SAS skoid %s sktid %s sp %s sr %s; want the token's oid and tid, rl, c", qp.SignedOID(), qp.SignedTID(), qp.Permissions(), qp.Resource())
	}
	read := sasClient(t, s, qp)
	if got, err := download(ctx, read, s.Container, "data/x"); err != nil || got != "hello" {
		t.Errorf("user delegation read SAS download = %q, %v", got, err)
	}
	if names, err := list(ctx, read, s.Container, "data/"); err != nil || !slices.Equal(names, []string{"data/x"}) {
		t.Errorf("user delegation read SAS list = %v, %v", names, err)
	}
	wantRefused(t, "user delegation read SAS upload", upload(ctx, read, s.Container, "data/y", "y"))
	wantRefused(t, "user delegation read SAS on another container", upload(ctx, read, other.Container, "data/y", "y"))

	write := sasClient(t, s, sign(sas.ContainerPermissions{Read: true, Add: true, Create: true, Write: true, Delete: true, List: true}, s.Container))
	if err := upload(ctx, write, s.Container, "data/y", "y"); err != nil {
		t.Errorf("user delegation write SAS upload: %v", err)
	}
	if got, err := download(ctx, s.SharedKeyClient(t), s.Container, "data/y"); err != nil || got != "y" {
		t.Errorf("written blob = %q, %v", got, err)
	}
}

// TestUserDelegationKeyNeedsAToken checks that the shared key, which signs SAS for the
// account, does not stand in for an Entra ID identity: Azurite hands out user delegation
// keys to bearer tokens only.
func TestUserDelegationKeyNeedsAToken(t *testing.T) {
	s := azuritetest.StartOAuth(t)
	now := time.Now().UTC()
	_, err := s.SharedKeyClient(t).ServiceClient().GetUserDelegationCredential(t.Context(), service.KeyInfo{
		Start:  to.Ptr(now.Format(sas.TimeFormat)),
		Expiry: to.Ptr(now.Add(time.Hour).Format(sas.TimeFormat)),
	}, nil)
	if err == nil {
		t.Fatal("GetUserDelegationCredential with the shared key succeeded")
	}
	var re *azcore.ResponseError
	if !errors.As(err, &re) || (re.StatusCode != http.StatusForbidden && re.StatusCode != http.StatusUnauthorized) {
		t.Errorf("GetUserDelegationCredential with the shared key: err = %v, want 401 or 403", err)
	}
}

// TestHTTPSClientTrustsOnlyItsServer checks that the certificate the helper generates is
// what the client trusts: a client with the system roots alone cannot reach the server.
func TestHTTPSClientTrustsOnlyItsServer(t *testing.T) {
	s := azuritetest.StartOAuth(t)
	c, err := azblob.NewClientWithSharedKeyCredential(s.Endpoint+"/", s.SharedKeyCredential(), &azblob.ClientOptions{
		ClientOptions: azcore.ClientOptions{Retry: policy.RetryOptions{MaxRetries: -1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	err = upload(t.Context(), c, s.Container, "x", "x")
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("upload without the helper's pool: err = %v, want a certificate error", err)
	}
	if !strings.HasPrefix(s.HostPort(), "127.0.0.1:") {
		t.Errorf("HostPort = %s", s.HostPort())
	}
}

// TestSDKSignsUserDelegationForTheHostsFirstLabel pins the reason for OAuthAccount: azblob
// signs a user delegation SAS for the account "127" on an endpoint https://127.0.0.1:PORT/A,
// so Azurite refuses it for any other account A. When this test fails, the SDK names the
// account right and StartOAuth can serve devstoreaccount1.
func TestSDKSignsUserDelegationForTheHostsFirstLabel(t *testing.T) {
	s := azuritetest.StartOAuth(t)
	entra := entratest.New(t, entratest.Options{})
	ctx := t.Context()
	endpoint := strings.TrimSuffix(s.Endpoint, "/"+azuritetest.OAuthAccount) + "/" + azuritetest.Account
	admin, err := azblob.NewClientWithSharedKeyCredential(endpoint+"/", mustSharedKey(t, azuritetest.Account), s.ClientOptions())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateContainer(ctx, s.Container, nil); err != nil {
		t.Fatalf("create container on %s: %v", azuritetest.Account, err)
	}
	if err := upload(ctx, admin, s.Container, "x", "x"); err != nil {
		t.Fatal(err)
	}
	bearer, err := azblob.NewClient(endpoint+"/", entra.Credential(t, entra.ClientSecret()), s.ClientOptions())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	udc, err := bearer.ServiceClient().GetUserDelegationCredential(ctx, service.KeyInfo{
		Start:  to.Ptr(now.Add(-time.Minute).Format(sas.TimeFormat)),
		Expiry: to.Ptr(now.Add(time.Hour).Format(sas.TimeFormat)),
	}, nil)
	if err != nil {
		t.Fatalf("GetUserDelegationCredential: %v", err)
	}
	qp, err := sas.BlobSignatureValues{
		Protocol:      sas.ProtocolHTTPS,
		StartTime:     now.Add(-time.Minute),
		ExpiryTime:    now.Add(time.Hour),
		Permissions:   (&sas.ContainerPermissions{Read: true, List: true}).String(),
		ContainerName: s.Container,
	}.SignWithUserDelegation(udc)
	if err != nil {
		t.Fatal(err)
	}
	c, err := azblob.NewClientWithNoCredential(endpoint+"/?"+qp.Encode(), s.ClientOptions())
	if err != nil {
		t.Fatal(err)
	}
	_, err = download(ctx, c, s.Container, "x")
	wantRefused(t, "user delegation SAS for "+azuritetest.Account+" signed by the SDK", err)
}

func mustSharedKey(t *testing.T, account string) *azblob.SharedKeyCredential {
	t.Helper()
	cred, err := azblob.NewSharedKeyCredential(account, azuritetest.AccountKey)
	if err != nil {
		t.Fatal(err)
	}
	return cred
}
