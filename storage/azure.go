package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"gocloud.dev/blob"
	"gocloud.dev/blob/azureblob"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/location"
)

// openAzure opens the container that c, the first answer of v (a SAS), grants, scoped to
// the vended location and then to sub. Every request is signed with the SAS in service of
// a refresher, which renews it as it does S3 credentials (see sasPolicy), so the bucket
// outlives every single SAS.
func openAzure(v *vend, c *api.Credentials, sub string, now func() time.Time, hc *http.Client) (*blob.Bucket, error) {
	r, root, containerURL, err := vendRefresher(v, c, "a SAS", vendedAzure, now)
	if err != nil {
		return nil, err
	}

	co := azcore.ClientOptions{PerCallPolicies: []policy.Policy{sasPolicy{r}}}
	if hc != nil {
		co.Transport = hc
	}
	client, err := container.NewClientWithNoCredential(containerURL, &container.ClientOptions{ClientOptions: co})
	if err != nil {
		return nil, fmt.Errorf("%s: container %s: %w", v.path, root.Container, err)
	}
	b, err := azureblob.OpenBucket(context.Background(), client, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: container %s: %w", v.path, root.Container, err)
	}
	return scoped(b, joinKey(root.Path, sub)), nil
}

// vendedAzure returns the location that the Azure vend c grants (see vendedLocation) and
// the URL of its container. It checks that the SAS is for that location's account and
// container and that the endpoint is an http(s) URL. Its errors never include the SAS.
func vendedAzure(v *vend, c *api.Credentials) (location.Location, string, error) {
	az := c.Azure
	if az == nil || az.SASToken == "" {
		return location.Location{}, "", fmt.Errorf("the server vended credentials of provider %q without a SAS", c.Provider)
	}
	l, err := vendedLocation(v, c, "Azure", location.AZ)
	if err != nil {
		return location.Location{}, "", err
	}
	if az.Account != l.Account || az.Container != l.Container || az.Prefix != l.Path {
		return location.Location{}, "", fmt.Errorf("the server vended a SAS for az://%s/%s/%s, not for %s", az.Account, az.Container, az.Prefix, l)
	}
	u, err := vendedEndpoint(az.Endpoint, "a SAS")
	if err != nil {
		return location.Location{}, "", err
	}
	return l, u.JoinPath(az.Container).String(), nil
}

// sasPolicy is the first per-call policy of an Azure container client: it appends the SAS
// in service to each request's query, before the SDK's retry loop, and sends a request
// once more, with a freshly vended SAS, when Azure refuses the SAS it carried
// (refusedSASCodes: expired, signed with a rotated key or a revoked user delegation key).
// Azure names its error in a header, even to HEAD requests, so a permission error
// (AuthorizationPermissionMismatch, a read SAS used to write) never earns the retry. As for
// an ambiguous S3 denial (renewOnRefusal) a SAS that itself replaced a refused one earns
// none, so a request that keeps being refused costs at most one extra vend per SAS
// lifetime, not one per request.
type sasPolicy struct{ r *refresher[*api.Credentials] }

func (p sasPolicy) Do(req *policy.Request) (*http.Response, error) {
	ctx := req.Raw().Context()
	h, err := p.r.get(ctx)
	if err != nil {
		return nil, err
	}
	query := req.Raw().URL.RawQuery // the operation's own parameters
	resp, err := sendWithSAS(req, query, h)
	if err != nil || h.afterDeny || !sasRefused(resp) || req.RewindBody() != nil {
		return resp, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	p.r.invalidate(h, true)
	if h, err = p.r.get(ctx); err != nil {
		return nil, err
	}
	return sendWithSAS(req, query, h)
}

// sendWithSAS sends req with the SAS of h appended to query. A failure to send names the
// request's URL without its query, so that the SAS never reaches an error.
func sendWithSAS(req *policy.Request, query string, h *held[*api.Credentials]) (*http.Response, error) {
	sas := h.creds.Azure.SASToken
	if query != "" {
		sas = query + "&" + sas
	}
	req.Raw().URL.RawQuery = sas
	resp, err := req.Next()
	if ue := (*url.Error)(nil); errors.As(err, &ue) {
		ue.URL, _, _ = strings.Cut(ue.URL, "?")
	}
	return resp, err
}

// refusedSASCodes are the error codes with which Azure Storage refuses the SAS of a request
// rather than the operation: AuthenticationFailed (Azure: bad signature, expired, key
// rotated or delegation key revoked) and AuthorizationFailure (what Azurite answers for
// those, and Azure for a request its network rules refuse).
var refusedSASCodes = map[string]bool{
	string(bloberror.AuthenticationFailed): true,
	string(bloberror.AuthorizationFailure): true,
}

// sasRefused reports whether resp refuses the SAS of its request.
func sasRefused(resp *http.Response) bool {
	return resp.StatusCode == http.StatusForbidden && refusedSASCodes[resp.Header.Get("x-ms-error-code")]
}
