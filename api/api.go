// Package api holds the JSON wire types of tarn's HTTP API (v1) and its stable error codes.
// The server and the Go SDK both use these types, so a field means the same on both sides.
package api

import (
	"encoding/json"
	"fmt"
	"time"
)

// Prefix is the path prefix of every API endpoint.
const Prefix = "/api/v1"

// Stable error codes carried in Problem.Code.
const (
	CodeInvalid          = "invalid_request"
	CodeInvalidName      = "invalid_name"
	CodeInvalidLocation  = "invalid_location"
	CodeUnauthenticated  = "unauthenticated"
	CodePermissionDenied = "permission_denied"
	CodeNotFound         = "not_found"
	CodeConflict         = "already_exists"
	CodeInUse            = "in_use"
	CodeLocationOverlap  = "location_overlap" // a dataset's location equals, contains or lies inside another's
	CodeTooLarge         = "body_too_large"
	CodeUnavailable      = "unavailable"      // try again, after Retry-After
	CodeUpstream         = "upstream_refused" // a cloud API refused for a reason retrying will not fix
	CodeInternal         = "internal"
)

// Roles of a member in an org, from least to most privileged.
const (
	RoleReader = "reader"
	RoleWriter = "writer"
	RoleAdmin  = "admin"
)

// Vend modes.
const (
	ModeRead  = "read"
	ModeWrite = "write"
)

// Problem is an RFC 9457 problem detail, the body of every error answer
// (Content-Type application/problem+json).
type Problem struct {
	Type   string `json:"type,omitempty"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	Code   string `json:"code"`
	// Field is the JSON name of the request field that was wrong, when the problem is about
	// one (e.g. "role_arn"); forms show the detail next to it.
	Field     string `json:"field,omitempty"`
	RequestID string `json:"request_id,omitempty"`
	// RetryAfter is the wait the server asked for in its Retry-After header (503 and 429
	// answers); zero when it asked for none. The Go SDK fills it in; it is not in the body.
	RetryAfter time.Duration `json:"-"`
}

// Error returns the problem's detail, which is written for users.
func (p *Problem) Error() string {
	if p.Detail != "" {
		return p.Detail
	}
	return fmt.Sprintf("%d %s", p.Status, p.Title)
}

// Whoami is the answer of GET /whoami.
type Whoami struct {
	User string `json:"user"`
	// Identity is "org/name" of the workload identity a token exchange minted the token for;
	// User is then empty.
	Identity  string       `json:"identity,omitempty"`
	Superuser bool         `json:"superuser"`
	TokenID   string       `json:"token_id"`
	TokenOrg  string       `json:"token_org,omitempty"`
	TokenRole string       `json:"token_role,omitempty"`
	Orgs      []Membership `json:"orgs"`
}

// Membership is a user's role in an org.
type Membership struct {
	Org  string `json:"org"`
	User string `json:"user"`
	Role string `json:"role"`
}

// CreateUserRequest is the body of POST /users.
type CreateUserRequest struct {
	Name      string `json:"name"`
	Superuser bool   `json:"superuser,omitempty"`
}

// CreateUserResponse answers POST /users with the user's first token, shown only here.
type CreateUserResponse struct {
	User      User   `json:"user"`
	Token     string `json:"token"`
	TokenInfo Token  `json:"token_info"`
}

// User is a person.
type User struct {
	Name      string    `json:"name"`
	Superuser bool      `json:"superuser"`
	CreatedAt time.Time `json:"created_at"`
}

// UserList answers GET /users (superusers only): every user, ordered by name.
type UserList struct {
	Users []User `json:"users"`
}

// CreateOrgRequest is the body of POST /orgs.
type CreateOrgRequest struct {
	Name string `json:"name"`
}

// Org is a tenant.
type Org struct {
	Name           string          `json:"name"`
	CreatedAt      time.Time       `json:"created_at"`
	DefaultStorage *DefaultStorage `json:"default_storage,omitempty"`
}

// OrgList answers GET /orgs (superusers only): every org, ordered by name.
type OrgList struct {
	Orgs []Org `json:"orgs"`
}

// PutMemberRequest is the body of PUT /orgs/{org}/members/{user}.
type PutMemberRequest struct {
	Role string `json:"role"`
}

// CreateTokenRequest is the body of POST /tokens. Org and Role narrow the token; Role needs
// Org. TTLSeconds 0 means the server default; -1 means no expiry.
type CreateTokenRequest struct {
	Name       string `json:"name,omitempty"`
	Org        string `json:"org,omitempty"`
	Role       string `json:"role,omitempty"`
	TTLSeconds int64  `json:"ttl_seconds,omitempty"`
}

// CreateTokenResponse answers POST /tokens; Token is shown only here.
type CreateTokenResponse struct {
	Token     string `json:"token"`
	TokenInfo Token  `json:"token_info"`
}

// Token describes an API token. It never carries the secret.
type Token struct {
	ID         string     `json:"id"`
	User       string     `json:"user"`
	Name       string     `json:"name,omitempty"`
	Org        string     `json:"org,omitempty"`
	Role       string     `json:"role,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// TokenList answers GET /tokens.
type TokenList struct {
	Tokens []Token `json:"tokens"`
}

// PutCredsKeyRequest is the body of PUT /orgs/{org}/creds-keys/{key}. Secret is write-only:
// it is encrypted at rest and never returned.
type PutCredsKeyRequest struct {
	Provider string         `json:"provider"`
	Config   CredsKeyConfig `json:"config"`
	Secret   string         `json:"secret,omitempty"`
}

// Providers of creds keys.
const (
	ProviderFile  = "file"
	ProviderAWS   = "aws"
	ProviderAzure = "azure"
	ProviderGCS   = "gcs"
)

// AWS credential sources: the server's default credential chain, or an access key stored
// (encrypted) in the creds key.
const (
	SourceDefault   = "default"
	SourceAccessKey = "access-key"
	// SourceWebIdentity calls AssumeRoleWithWebIdentity with a token of tarn's own OIDC
	// issuer (audience AudienceAWS): no stored secret. The role's trust policy pins the
	// creds key's subject.
	SourceWebIdentity = "web-identity"
)

// AuthFederated (CredsKeyConfig.Auth, providers azure and gcs) authenticates with a token
// of tarn's own OIDC issuer (tarn serve --public-url) whose subject names the creds key:
// for azure a client assertion of the app registration TenantID/ClientID (audience
// AudienceAzure), for gcs a Google STS exchange at WorkloadIdentityProvider. No secret is
// stored.
const AuthFederated = "federated"

// Audiences of the tokens tarn's issuer mints for each cloud.
const (
	AudienceAWS   = "sts.amazonaws.com"
	AudienceAzure = "api://AzureADTokenExchange"
)

// Azure auth modes (CredsKeyConfig.Auth): how provider azure authenticates to Azure Storage.
// AuthDefault and AuthClientSecret get a user delegation key with an Entra ID token;
// AuthSharedKey signs with the account key, the weakest option (it reaches the whole
// account, and nothing but rotating it revokes it).
const (
	AuthDefault      = "default"       // the server's own identity (DefaultAzureCredential)
	AuthClientSecret = "client-secret" // an app registration of the org: TenantID, ClientID, secret
	AuthSharedKey    = "shared-key"    // an account key, the creds key's secret
)

// GCS auth mode (CredsKeyConfig.Auth) besides AuthDefault, which for provider gcs means the
// server's Application Default Credentials impersonating ServiceAccount.
// AuthServiceAccountKey impersonates with a JSON key of the org's service account, the
// creds key's secret: the weakest option (a long-lived key, revoked only by deleting it).
const AuthServiceAccountKey = "service-account-key"

// Azure SAS scopes (CredsKeyConfig.Scope) for a location below a container.
const (
	ScopeDirectory = "directory" // a directory SAS (sr=d); needs HierarchicalNamespace
	ScopeContainer = "container" // a container SAS (sr=c): wider than a dataset below the container
)

// CredsKeyConfig is a provider's configuration. Each provider reads its own fields and
// rejects fields meant for others.
type CredsKeyConfig struct {
	// Roots are the locations the key may vend for: file:// directories inside the server's
	// --file-root allow-list for provider file; s3://bucket[/prefix] for provider aws
	// (tarn creds add --allowed).
	Roots []string `json:"roots,omitempty"`

	// RoleARN is the role AssumeRole assumes (provider aws). S3-compatible stores such as
	// MinIO ignore it; their session policy alone limits the credentials.
	RoleARN string `json:"role_arn,omitempty"`
	// Region of the STS and S3 endpoints; default us-east-1.
	Region string `json:"region,omitempty"`
	// KMSKeyARN, when set, is the one KMS key the vended credentials may use.
	KMSKeyARN string `json:"kms_key_arn,omitempty"`
	// STSEndpoint and S3Endpoint point at an S3-compatible store (e.g. http://127.0.0.1:9000);
	// empty means AWS. For provider gcs STSEndpoint is the Google STS base URL (tarn posts
	// to STSEndpoint/v1/token); empty means https://sts.googleapis.com.
	STSEndpoint string `json:"sts_endpoint,omitempty"`
	S3Endpoint  string `json:"s3_endpoint,omitempty"`
	// PathStyle addresses buckets as endpoint/bucket rather than bucket.endpoint.
	PathStyle bool `json:"path_style,omitempty"`
	// Source is SourceDefault (the server's AWS default credential chain) or
	// SourceAccessKey (AccessKeyID here and its secret, write-only, in the request's Secret).
	Source      string `json:"source,omitempty"`
	AccessKeyID string `json:"access_key_id,omitempty"`
	// ExternalID is generated by the server and sent with every AssumeRole; it is read-only
	// and changes only through rotate-external-id.
	ExternalID string `json:"external_id,omitempty"`
	// MaxDurationSeconds bounds the lifetime of vended credentials; default 3600.
	MaxDurationSeconds int64 `json:"max_duration_seconds,omitempty"`

	// Account is the Azure storage account of every az:// root (provider azure).
	Account string `json:"account,omitempty"`
	// Endpoint is the account's blob service URL, for emulators and sovereign clouds (e.g.
	// http://127.0.0.1:10000/devstoreaccount1); the server fills in
	// https://ACCOUNT.blob.core.windows.net when it is left out.
	Endpoint string `json:"endpoint,omitempty"`
	// Auth is AuthDefault (the default), AuthClientSecret or AuthSharedKey.
	Auth string `json:"auth,omitempty"`
	// TenantID and ClientID name the app registration of AuthClientSecret, whose client
	// secret is the creds key's secret.
	TenantID string `json:"tenant_id,omitempty"`
	ClientID string `json:"client_id,omitempty"`
	// HierarchicalNamespace tells that the account has a hierarchical namespace (Data Lake
	// Storage Gen2), so that a prefix gets a directory SAS.
	HierarchicalNamespace bool `json:"hierarchical_namespace,omitempty"`
	// Scope is ScopeDirectory (the default) or ScopeContainer, which lets a key of an
	// account without hierarchical namespace vend a container SAS for a prefix.
	Scope string `json:"scope,omitempty"`

	// ServiceAccount is the email of the Google service account that provider gcs
	// impersonates; its access to the gs:// roots is what vended tokens are cut down from.
	ServiceAccount string `json:"service_account,omitempty"`
	// IAMEndpoint is the IAM Credentials base URL (provider gcs; default
	// https://iamcredentials.googleapis.com) and StorageEndpoint a GCS JSON API base URL such
	// as fake-gcs-server's (default https://storage.googleapis.com). Both go through the
	// server's --allow-endpoint rule.
	IAMEndpoint     string `json:"iam_endpoint,omitempty"`
	StorageEndpoint string `json:"storage_endpoint,omitempty"`
	// KMSKey is the Cloud KMS key (projects/P/locations/L/keyRings/R/cryptoKeys/K) that
	// provider gcs's bucket encrypts with, for provisioning and verify.
	KMSKey string `json:"kms_key,omitempty"`
	// WorkloadIdentityProvider is the workload identity pool provider that trusts tarn's
	// issuer (provider gcs, auth federated), as
	// projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER.
	WorkloadIdentityProvider string `json:"workload_identity_provider,omitempty"`
}

// CredsKey describes a managed credential. Secrets are write-only and never appear here.
type CredsKey struct {
	Org       string         `json:"org"`
	Name      string         `json:"name"`
	Provider  string         `json:"provider"`
	Config    CredsKeyConfig `json:"config"`
	Version   int64          `json:"version"`
	CreatedAt time.Time      `json:"created_at"`
	UpdatedAt time.Time      `json:"updated_at"`
	// HasSecret tells that the key holds a secret (an access key, a client secret, an
	// account key or a service account key); the secret itself is never returned.
	HasSecret bool `json:"has_secret,omitempty"`
}

// CredsKeyList answers GET /orgs/{org}/creds-keys.
type CredsKeyList struct {
	CredsKeys []CredsKey `json:"creds_keys"`
}

// VerifyRequest is the body of POST .../creds-keys/{key}/verify.
type VerifyRequest struct {
	Location string `json:"location,omitempty"`
}

// VerifyResponse lists the checks verify ran.
type VerifyResponse struct {
	Checks []Check `json:"checks"`
}

// Check is one named verification step. A check that the endpoint cannot answer (an
// emulator that enforces no access boundaries) is Skipped, with OK false and a Detail
// saying why: it is neither passed nor failed.
type Check struct {
	Name    string `json:"name"`
	OK      bool   `json:"ok"`
	Skipped bool   `json:"skipped,omitempty"`
	Detail  string `json:"detail,omitempty"`
}

// ProvisionRequest is the body of POST .../creds-keys/{key}/provision: what the cloud-side
// setup should grant. PrincipalARN is who assumes the role; empty means the server's own
// identity.
type ProvisionRequest struct {
	Bucket       string `json:"bucket"`
	Prefix       string `json:"prefix,omitempty"`
	KMSKeyARN    string `json:"kms_key_arn,omitempty"`
	PrincipalARN string `json:"principal_arn,omitempty"`
}

// ProvisionResponse holds the policies to paste into the cloud: the role's permission
// policy and its trust policy (with the creds key's external ID). For provider gcs only
// PrincipalARN is set: the IAM member that impersonates the key's service account
// (serviceAccount:EMAIL, or the pool principal of auth federated), empty when the server
// cannot tell. For a key of a federated mode (aws source web-identity, gcs auth federated)
// OIDCProvider is what the cloud must trust and ExternalID is empty; for aws on an
// S3-compatible store, which has no trust policies, TrustPolicy is null and
// PermissionPolicy is the store's role policy.
type ProvisionResponse struct {
	PrincipalARN     string          `json:"principal_arn"`
	ExternalID       string          `json:"external_id"`
	PermissionPolicy json.RawMessage `json:"permission_policy"`
	TrustPolicy      json.RawMessage `json:"trust_policy"`
	OIDCProvider     *OIDCProvider   `json:"oidc_provider,omitempty"`
}

// OIDCProvider is tarn's OIDC issuer as a cloud is told to trust it for one creds key.
type OIDCProvider struct {
	// URL is the issuer URL, tarn's public URL: the iss of its tokens.
	URL string `json:"url"`
	// Host is URL without its scheme: the provider's name in IAM ARNs and condition keys.
	Host string `json:"host"`
	// ARN is the IAM OIDC provider's ARN (arn:aws:iam::ACCOUNT:oidc-provider/HOST); empty on
	// an S3-compatible store and for gcs.
	ARN      string `json:"arn,omitempty"`
	Audience string `json:"audience"`
	// Subject is the sub of the key's tokens, which the trust policy pins.
	Subject string `json:"subject"`
}

// CredentialsRequest is the body of POST .../creds-keys/{key}/credentials.
// RefusedAccessKeyID, when set, names credentials the storage refused (e.g. a store that lost
// its sessions) by their Credentials.RefusalID; the server then mints new ones instead of
// answering those from its cache.
type CredentialsRequest struct {
	Location           string `json:"location"`
	Mode               string `json:"mode"`
	RefusedAccessKeyID string `json:"refused_access_key_id,omitempty"`
}

// DatasetCredentialsRequest is the body of POST .../datasets/{name}/credentials;
// RefusedAccessKeyID as in CredentialsRequest.
type DatasetCredentialsRequest struct {
	Mode               string `json:"mode"`
	RefusedAccessKeyID string `json:"refused_access_key_id,omitempty"`
}

// LinkedCredentialsRequest is the body of POST .../datasets/{name}/linked-credentials.
type LinkedCredentialsRequest struct {
	CredsKey string `json:"creds_key"`
	Location string `json:"location"`
}

// PresignRequest is the body of POST .../datasets/{name}/presign: the keys of objects of
// the dataset, relative to its location, and the URLs' lifetime in seconds (zero:
// DefaultPresignExpiresIn; cut to what is left of the vended read credential's lifetime).
// Links are values of a link column, storage URLs of objects (s3://bucket/img/1.jpg), read
// through LinkKey, a creds key linked to the dataset (the column's link key); a request
// names paths, links or both.
type PresignRequest struct {
	Paths     []string `json:"paths,omitempty"`
	Links     []string `json:"links,omitempty"`
	LinkKey   string   `json:"link_key,omitempty"`
	ExpiresIn int64    `json:"expires_in,omitempty"`
}

// PresignResponse answers a PresignRequest: a URL that reads each object with a plain GET,
// by path as asked, all valid until ExpiresAt. The URLs of file datasets, whose objects the
// tarn server serves itself, are path-absolute (/api/v1/...): resolve them against the
// server's URL.
type PresignResponse struct {
	URLs      map[string]string `json:"urls"`
	Links     map[string]string `json:"links,omitempty"` // by link as asked
	ExpiresAt time.Time         `json:"expires_at"`
}

// Presigning: a request names at most MaxPresignPaths paths; URLs live
// DefaultPresignExpiresIn seconds unless asked otherwise.
const (
	MaxPresignPaths         = 1000
	DefaultPresignExpiresIn = 900
)

// Credentials is a vend: temporary credentials limited to Location and Mode until ExpiresAt.
// Exactly one of the provider fields is set.
type Credentials struct {
	Location  string            `json:"location"`
	Mode      string            `json:"mode"`
	Provider  string            `json:"provider"`
	ExpiresAt time.Time         `json:"expires_at"`
	File      *FileCredentials  `json:"file,omitempty"`
	S3        *S3Credentials    `json:"s3,omitempty"`
	Azure     *AzureCredentials `json:"azure,omitempty"`
	GCS       *GCSCredentials   `json:"gcs,omitempty"`
}

// GCSCredentials are a downscoped OAuth 2.0 access token for Google Cloud Storage: its
// Credential Access Boundary limits it to Bucket/Prefix and the vend's mode. Endpoint is
// set when the store is not https://storage.googleapis.com (an emulator).
type GCSCredentials struct {
	Bucket      string `json:"bucket"`
	Prefix      string `json:"prefix,omitempty"`
	AccessToken string `json:"access_token"`
	Endpoint    string `json:"endpoint,omitempty"`
}

// AzureCredentials are a SAS for Azure Blob Storage: a container SAS (Prefix empty, or a
// creds key of scope container) or a directory SAS for Prefix. SASToken is the query string
// without its leading "?"; append it to Endpoint/Container[/Prefix]/BLOB.
type AzureCredentials struct {
	Account   string `json:"account"`
	Endpoint  string `json:"endpoint"`
	Container string `json:"container"`
	Prefix    string `json:"prefix,omitempty"`
	SASToken  string `json:"sas_token"`
}

// FileCredentials is what provider file vends: the local directory of the location.
type FileCredentials struct {
	Path string `json:"path"`
}

// S3Credentials are temporary AWS credentials for an S3 or S3-compatible store.
type S3Credentials struct {
	AccessKeyID     string `json:"access_key_id"`
	SecretAccessKey string `json:"secret_access_key"`
	SessionToken    string `json:"session_token"`
	Region          string `json:"region,omitempty"`
	Endpoint        string `json:"endpoint,omitempty"`
	PathStyle       bool   `json:"path_style,omitempty"`
}

// DefaultStorage is the body of PUT /orgs/{org}/default-storage.
type DefaultStorage struct {
	Location string `json:"location"`
	CredsKey string `json:"creds_key"`
}

// CreateDatasetRequest is the body of POST /orgs/{org}/datasets. Without Location the
// dataset goes to the org's default storage; with it, an existing location is connected.
type CreateDatasetRequest struct {
	Name     string `json:"name"`
	Location string `json:"location,omitempty"`
	CredsKey string `json:"creds_key,omitempty"`
	Public   bool   `json:"public,omitempty"`
}

// UpdateDatasetRequest is the body of PATCH /orgs/{org}/datasets/{name}; fields left out
// stay as they are.
type UpdateDatasetRequest struct {
	// Public makes the dataset readable by anyone signed in (true) or by the org's members
	// only (false). Changing it needs the admin role.
	Public *bool `json:"public,omitempty"`
}

// Dataset is a registry entry al://org/name.
type Dataset struct {
	Org             string    `json:"org"`
	Name            string    `json:"name"`
	Path            string    `json:"path"`
	Location        string    `json:"location"`
	CredsKey        string    `json:"creds_key"`
	Public          bool      `json:"public"`
	LinkedCredsKeys []string  `json:"linked_creds_keys"`
	CreatedAt       time.Time `json:"created_at"`
	CreatedBy       string    `json:"created_by"`
}

// DatasetList answers GET /orgs/{org}/datasets.
type DatasetList struct {
	Datasets []Dataset `json:"datasets"`
}

// MemberList answers GET /orgs/{org}/members.
type MemberList struct {
	Members []Membership `json:"members"`
}

// AuditRecord is one audited event.
type AuditRecord struct {
	ID        int64     `json:"id"`
	Time      time.Time `json:"time"`
	RequestID string    `json:"request_id"`
	Principal string    `json:"principal"`
	Org       string    `json:"org,omitempty"`
	Action    string    `json:"action"`
	Target    string    `json:"target,omitempty"`
	Mode      string    `json:"mode,omitempty"`
	Result    string    `json:"result"`
	Detail    string    `json:"detail,omitempty"`
	KeyID     string    `json:"key_id,omitempty"`
}

// AuditList answers GET /orgs/{org}/audit: one page of the newest matching records,
// oldest first. NextCursor, when set, is the cursor parameter that asks for the page of
// older records; it is empty on the last page.
type AuditList struct {
	Records    []AuditRecord `json:"records"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

// Audit paging: a page holds DefaultAuditLimit records unless the limit parameter asks for
// another number, at most MaxAuditLimit.
const (
	DefaultAuditLimit = 100
	MaxAuditLimit     = 1000
)

// Workload identity providers.
const (
	IdentityAzure      = "azure"
	IdentityGitHub     = "github"
	IdentityKubernetes = "kubernetes"
	IdentityOIDC       = "oidc"
)

// Identity is a workload identity registered in an org: an external identity whose own
// signed token (Azure managed identity, GitHub Actions, Kubernetes service account, any OIDC
// issuer) is exchanged for a short-lived tarn token with Role in Org. Which fields apply
// depends on Provider.
type Identity struct {
	Org  string `json:"org"`
	Name string `json:"name"`
	// DisplayName is free text that people recognize the identity by, such as the Azure
	// portal's display name of the managed identity; it plays no part in matching.
	DisplayName string `json:"display_name,omitempty"`
	Provider    string `json:"provider"`
	Role        string `json:"role"`
	// azure: the managed identity's tenant and client ID.
	TenantID string `json:"tenant_id,omitempty"`
	ClientID string `json:"client_id,omitempty"`
	// github: owner/repo, and optionally the ref (refs/heads/main) and environment.
	// RepositoryID and OwnerID (the numeric IDs GitHub puts in repository_id and
	// repository_owner_id) pin the identity to one repository and owner: with RepositoryID
	// set, the repository is matched by ID, which survives a rename and refuses a repository
	// re-created under the same name; Repository is then only a label.
	Repository   string `json:"repository,omitempty"`
	RepositoryID string `json:"repository_id,omitempty"`
	OwnerID      string `json:"owner_id,omitempty"`
	Ref          string `json:"ref,omitempty"`
	Environment  string `json:"environment,omitempty"`
	// kubernetes and oidc: the issuer URL; kubernetes: NAMESPACE/NAME of the service account.
	Issuer         string `json:"issuer,omitempty"`
	ServiceAccount string `json:"service_account,omitempty"`
	// oidc: the subject and extra claims that must match exactly.
	Subject   string            `json:"subject,omitempty"`
	Claims    map[string]string `json:"claims,omitempty"`
	CreatedAt time.Time         `json:"created_at"`
	CreatedBy string            `json:"created_by,omitempty"`
}

// IdentityList answers GET /orgs/{org}/identities.
type IdentityList struct {
	Identities []Identity `json:"identities"`
}

// OAuth 2.0 Token Exchange (RFC 8693) at POST /oauth/token, form-encoded.
const (
	GrantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	TokenTypeJWT       = "urn:ietf:params:oauth:token-type:jwt"
	TokenTypeAccess    = "urn:ietf:params:oauth:token-type:access_token"
)

// TokenExchangeResponse answers a token exchange: AccessToken is a tarn API token.
type TokenExchangeResponse struct {
	AccessToken     string `json:"access_token"`
	IssuedTokenType string `json:"issued_token_type"`
	TokenType       string `json:"token_type"`
	ExpiresIn       int64  `json:"expires_in"`
}

// IssuerKeys is a generation of signing keys of tarn's own OIDC issuer, as POST
// /issuer/rotate answers it: its number (1 for the first), when it was made, when its keys
// start to sign (after they have been published for a while), and its keys.
type IssuerKeys struct {
	Generation int64       `json:"generation"`
	CreatedAt  time.Time   `json:"created_at"`
	NotBefore  time.Time   `json:"not_before"`
	Keys       []IssuerKey `json:"keys"`
}

// IssuerKey names one signing key: its kid and algorithm (ES256, RS256).
type IssuerKey struct {
	ID  string `json:"kid"`
	Alg string `json:"alg"`
}
