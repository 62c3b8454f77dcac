package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tarnhq/tarn/api"
)

// Whoami returns the principal of the client's token: user, token and org memberships.
func (c *Client) Whoami(ctx context.Context) (*api.Whoami, error) {
	var out api.Whoami
	if err := c.do(ctx, http.MethodGet, "/whoami", nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreateUser creates a user (superusers only) and returns it with its first API token, which
// the server shows only in this answer.
func (c *Client) CreateUser(ctx context.Context, req api.CreateUserRequest) (*api.CreateUserResponse, error) {
	var out api.CreateUserResponse
	if err := c.do(ctx, http.MethodPost, "/users", nil, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Users returns every user, ordered by name (superusers only).
func (c *Client) Users(ctx context.Context) ([]api.User, error) {
	var out api.UserList
	if err := c.do(ctx, http.MethodGet, "/users", nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Users, nil
}

// Orgs returns every org, ordered by name (superusers only).
func (c *Client) Orgs(ctx context.Context) ([]api.Org, error) {
	var out api.OrgList
	if err := c.do(ctx, http.MethodGet, "/orgs", nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Orgs, nil
}

// CreateOrg creates the org name (superusers only).
func (c *Client) CreateOrg(ctx context.Context, name string) (*api.Org, error) {
	var out api.Org
	if err := c.do(ctx, http.MethodPost, "/orgs", nil, api.CreateOrgRequest{Name: name}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Org returns the org named org.
func (c *Client) Org(ctx context.Context, org string) (*api.Org, error) {
	var out api.Org
	if err := c.do(ctx, http.MethodGet, "/orgs/"+seg(org), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Members returns the memberships of org.
func (c *Client) Members(ctx context.Context, org string) ([]api.Membership, error) {
	var out api.MemberList
	if err := c.do(ctx, http.MethodGet, "/orgs/"+seg(org)+"/members", nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Members, nil
}

// PutMember gives user the role (api.RoleReader, RoleWriter or RoleAdmin) in org, adding the
// membership or changing its role.
func (c *Client) PutMember(ctx context.Context, org, user, role string) (*api.Membership, error) {
	var out api.Membership
	p := "/orgs/" + seg(org) + "/members/" + seg(user)
	if err := c.do(ctx, http.MethodPut, p, nil, api.PutMemberRequest{Role: role}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteMember removes user from org.
func (c *Client) DeleteMember(ctx context.Context, org, user string) error {
	return c.do(ctx, http.MethodDelete, "/orgs/"+seg(org)+"/members/"+seg(user), nil, nil, nil)
}

// CreateToken mints an API token for the caller. The secret is in the answer only.
func (c *Client) CreateToken(ctx context.Context, req api.CreateTokenRequest) (*api.CreateTokenResponse, error) {
	var out api.CreateTokenResponse
	if err := c.do(ctx, http.MethodPost, "/tokens", nil, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Tokens lists the caller's API tokens, without their secrets.
func (c *Client) Tokens(ctx context.Context) ([]api.Token, error) {
	var out api.TokenList
	if err := c.do(ctx, http.MethodGet, "/tokens", nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Tokens, nil
}

// RevokeToken revokes the token with the given id. It takes effect on the next request.
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/tokens/"+seg(id), nil, nil, nil)
}

func credsKeyPath(org, key string) string {
	return "/orgs/" + seg(org) + "/creds-keys/" + seg(key)
}

// PutCredsKey creates or replaces the creds key named key of org.
func (c *Client) PutCredsKey(ctx context.Context, org, key string, req api.PutCredsKeyRequest) (*api.CredsKey, error) {
	var out api.CredsKey
	if err := c.do(ctx, http.MethodPut, credsKeyPath(org, key), nil, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CredsKey returns the creds key named key of org. Secrets are never returned.
func (c *Client) CredsKey(ctx context.Context, org, key string) (*api.CredsKey, error) {
	var out api.CredsKey
	if err := c.do(ctx, http.MethodGet, credsKeyPath(org, key), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CredsKeys lists the creds keys of org.
func (c *Client) CredsKeys(ctx context.Context, org string) ([]api.CredsKey, error) {
	var out api.CredsKeyList
	if err := c.do(ctx, http.MethodGet, "/orgs/"+seg(org)+"/creds-keys", nil, nil, &out); err != nil {
		return nil, err
	}
	return out.CredsKeys, nil
}

// DeleteCredsKey deletes the creds key named key of org.
func (c *Client) DeleteCredsKey(ctx context.Context, org, key string) error {
	return c.do(ctx, http.MethodDelete, credsKeyPath(org, key), nil, nil, nil)
}

// VerifyCredsKey asks the server to check the creds key against location (empty: the key's
// own configuration) and returns the checks it ran. A failed check is not an error; callers
// look at Check.OK and Check.Skipped.
func (c *Client) VerifyCredsKey(ctx context.Context, org, key, location string) (*api.VerifyResponse, error) {
	var out api.VerifyResponse
	p := credsKeyPath(org, key) + "/verify"
	if err := c.do(ctx, http.MethodPost, p, nil, api.VerifyRequest{Location: location}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RotateExternalID gives the creds key a new server-generated external ID and returns the
// key. Update the role's trust policy (tarn provision aws) before the next vend.
func (c *Client) RotateExternalID(ctx context.Context, org, key string) (*api.CredsKey, error) {
	var out api.CredsKey
	if err := c.do(ctx, http.MethodPost, credsKeyPath(org, key)+"/rotate-external-id", nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Provision returns the cloud-side policies the creds key needs (for provider aws: the
// role's permission policy and trust policy; for gcs: the principal that impersonates).
func (c *Client) Provision(ctx context.Context, org, key string, req api.ProvisionRequest) (*api.ProvisionResponse, error) {
	var out api.ProvisionResponse
	if err := c.do(ctx, http.MethodPost, credsKeyPath(org, key)+"/provision", nil, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// LocationCredentials vends credentials for a storage location that is not a registered
// dataset, through the creds key named key of org. mode is api.ModeRead or api.ModeWrite.
func (c *Client) LocationCredentials(ctx context.Context, org, key, location, mode string) (*api.Credentials, error) {
	var out api.Credentials
	p := credsKeyPath(org, key) + "/credentials"
	req := api.CredentialsRequest{Location: location, Mode: mode, RefusedAccessKeyID: refusedKey(ctx)}
	if err := c.do(ctx, http.MethodPost, p, nil, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// SetDefaultStorage sets the base location and creds key where org's new datasets go, and
// returns the updated org.
func (c *Client) SetDefaultStorage(ctx context.Context, org string, ds api.DefaultStorage) (*api.Org, error) {
	var out api.Org
	if err := c.do(ctx, http.MethodPut, "/orgs/"+seg(org)+"/default-storage", nil, ds, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func datasetPath(org, name string) string {
	return "/orgs/" + seg(org) + "/datasets/" + seg(name)
}

// CreateDataset registers a dataset in org: at req.Location when set (connect), else below
// the org's default storage.
func (c *Client) CreateDataset(ctx context.Context, org string, req api.CreateDatasetRequest) (*api.Dataset, error) {
	var out api.Dataset
	if err := c.do(ctx, http.MethodPost, "/orgs/"+seg(org)+"/datasets", nil, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateDataset changes the registry entry al://org/name as req says and returns it.
func (c *Client) UpdateDataset(ctx context.Context, org, name string, req api.UpdateDatasetRequest) (*api.Dataset, error) {
	var out api.Dataset
	if err := c.do(ctx, http.MethodPatch, "/orgs/"+seg(org)+"/datasets/"+seg(name), nil, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Dataset returns the dataset al://org/name.
func (c *Client) Dataset(ctx context.Context, org, name string) (*api.Dataset, error) {
	var out api.Dataset
	if err := c.do(ctx, http.MethodGet, datasetPath(org, name), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Datasets lists the datasets of org that the caller may see.
func (c *Client) Datasets(ctx context.Context, org string) ([]api.Dataset, error) {
	var out api.DatasetList
	if err := c.do(ctx, http.MethodGet, "/orgs/"+seg(org)+"/datasets", nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Datasets, nil
}

// DeleteDataset deletes the registry entry al://org/name. The data stays where it is.
func (c *Client) DeleteDataset(ctx context.Context, org, name string) error {
	return c.do(ctx, http.MethodDelete, datasetPath(org, name), nil, nil, nil)
}

// AddLinkedCredsKey lets the link columns of al://org/name fetch through the creds key named
// key, and returns the updated dataset.
func (c *Client) AddLinkedCredsKey(ctx context.Context, org, name, key string) (*api.Dataset, error) {
	var out api.Dataset
	p := datasetPath(org, name) + "/linked-creds-keys/" + seg(key)
	if err := c.do(ctx, http.MethodPut, p, nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DatasetCredentials vends credentials for the dataset al://org/name in mode (api.ModeRead or
// api.ModeWrite).
func (c *Client) DatasetCredentials(ctx context.Context, org, name, mode string) (*api.Credentials, error) {
	var out api.Credentials
	p := datasetPath(org, name) + "/credentials"
	req := api.DatasetCredentialsRequest{Mode: mode, RefusedAccessKeyID: refusedKey(ctx)}
	if err := c.do(ctx, http.MethodPost, p, nil, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// LinkedCredentials vends read credentials for location, through the creds key named key
// linked to the dataset al://org/name.
func (c *Client) LinkedCredentials(ctx context.Context, org, name, key, location string) (*api.Credentials, error) {
	var out api.Credentials
	p := datasetPath(org, name) + "/linked-credentials"
	if err := c.do(ctx, http.MethodPost, p, nil, api.LinkedCredentialsRequest{CredsKey: key, Location: location}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// PresignDataset returns URLs that read the objects at paths (keys relative to the dataset
// al://org/name) with a plain HTTP GET, valid for expiresIn (zero: the server's default,
// api.DefaultPresignExpiresIn seconds; the server cuts it to the lifetime of the read
// credential that signs them, and rounds it up to whole seconds). URLs the server serves
// itself (objects of file datasets) come back absolute, resolved against the client's
// Endpoint.
func (c *Client) PresignDataset(ctx context.Context, org, name string, paths []string, expiresIn time.Duration) (*api.PresignResponse, error) {
	return c.Presign(ctx, org, name, api.PresignRequest{Paths: paths, ExpiresIn: int64((expiresIn + time.Second - 1) / time.Second)})
}

// PresignLinks returns URLs that read the linked objects at links (storage URLs, values of
// a link column of al://org/name) through creds key key, linked to the dataset, by link in
// the response's Links, valid for expiresIn as for PresignDataset. It needs the reader
// role in the org, also for a public dataset.
func (c *Client) PresignLinks(ctx context.Context, org, name, key string, links []string, expiresIn time.Duration) (*api.PresignResponse, error) {
	return c.Presign(ctx, org, name, api.PresignRequest{Links: links, LinkKey: key, ExpiresIn: int64((expiresIn + time.Second - 1) / time.Second)})
}

// Presign sends req as POST .../datasets/{name}/presign; see PresignDataset and
// PresignLinks.
func (c *Client) Presign(ctx context.Context, org, name string, req api.PresignRequest) (*api.PresignResponse, error) {
	var out api.PresignResponse
	if err := c.do(ctx, http.MethodPost, datasetPath(org, name)+"/presign", nil, req, &out); err != nil {
		return nil, err
	}
	for p, u := range out.URLs {
		if strings.HasPrefix(u, "/") {
			out.URLs[p] = c.endpoint + u
		}
	}
	return &out, nil
}

// AuditQuery selects a page of audit records. Zero fields do not filter.
type AuditQuery struct {
	Since     time.Time // only records at or after Since
	Until     time.Time // only records before Until
	Action    string    // only records of this action
	Principal string    // only records of this user ("ann", with any token) or identity ("identity:acme/ci")
	Result    string    // only records of this result: "ok", "denied" or "error"
	Limit     int       // records per page; zero: the server's default (api.DefaultAuditLimit)
	Cursor    string    // the NextCursor of the previous page, for the page of older records
}

// Audit returns one page of the audit records of org that match q: the newest ones (older
// than q.Cursor's page), oldest first, with the cursor of the next, older page.
func (c *Client) Audit(ctx context.Context, org string, q AuditQuery) (*api.AuditList, error) {
	v := url.Values{}
	if !q.Since.IsZero() {
		v.Set("since", q.Since.UTC().Format(time.RFC3339Nano))
	}
	if !q.Until.IsZero() {
		v.Set("until", q.Until.UTC().Format(time.RFC3339Nano))
	}
	for k, s := range map[string]string{"action": q.Action, "principal": q.Principal, "result": q.Result} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Cursor != "" {
		v.Set("cursor", q.Cursor)
	}
	var out api.AuditList
	if err := c.do(ctx, http.MethodGet, "/orgs/"+seg(org)+"/audit", v, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

type refusedKeyCtx struct{}

// WithRefusedKey returns ctx carrying the access key ID of credentials the storage refused.
// DatasetCredentials and LocationCredentials called with it ask the server for new
// credentials rather than the ones it may hold in its cache. storage.OpenBucket's buckets
// do this on their own when S3 refuses a credential.
func WithRefusedKey(ctx context.Context, accessKeyID string) context.Context {
	return context.WithValue(ctx, refusedKeyCtx{}, accessKeyID)
}

func refusedKey(ctx context.Context) string {
	id, _ := ctx.Value(refusedKeyCtx{}).(string)
	return id
}

// RotateIssuerKey makes a new generation of signing keys of the server's OIDC issuer
// (superusers only: one ES256 and one RS256 key) and returns it; its keys sign once they
// have been published for a while (issuer.DefaultPublishLead).
func (c *Client) RotateIssuerKey(ctx context.Context) (*api.IssuerKeys, error) {
	var out api.IssuerKeys
	if err := c.do(ctx, http.MethodPost, "/issuer/rotate", nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
