package storage

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"gocloud.dev/blob"
	"gocloud.dev/blob/s3blob"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/location"
)

// providerS3 is the provider name of vends for S3-compatible stores. Vends of creds keys of
// provider aws (api.ProviderAWS) may carry that name instead; both set Credentials.S3.
const providerS3 = "s3"

// defaultRegion is the region of S3 vends that name none.
const defaultRegion = "us-east-1"

// openS3 opens the bucket that c, the first answer of v, grants, scoped to the vended
// location and then to sub. Later credentials come from v through a refresher (see
// refresher and renewOnRefusal), so the bucket outlives every single credential.
func openS3(v *vend, c *api.Credentials, sub string, now func() time.Time, hc *http.Client) (*blob.Bucket, error) {
	first, err := awsCredentials(c)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", v.path, err)
	}
	root, err := vendedLocation(v, c, "S3", location.S3)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", v.path, err)
	}
	r := newRefresher(func(ctx context.Context) (aws.Credentials, error) {
		c, err := v.get(ctx)
		if err != nil {
			return aws.Credentials{}, err
		}
		ac, err := awsCredentials(c)
		if err != nil {
			return aws.Credentials{}, fmt.Errorf("%s: %w", v.path, err)
		}
		return ac, nil
	}, awsInfo, now, &first)

	s := c.S3
	region := s.Region
	if region == "" {
		region = defaultRegion
	}
	o := s3.Options{
		Region:       region,
		Credentials:  s3Credentials{r},
		UsePathStyle: s.PathStyle,
		APIOptions:   []func(*middleware.Stack) error{(&renewOnRefusal{r: r}).add},
	}
	if hc != nil {
		o.HTTPClient = hc
	}
	blobOpts := &s3blob.Options{}
	if s.Endpoint != "" {
		o.BaseEndpoint = aws.String(s.Endpoint)
		// S3-compatible stores vary in their support of the newer default checksums.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		blobOpts.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
	}
	b, err := s3blob.OpenBucket(context.Background(), s3.New(o), root.Bucket, blobOpts)
	if err != nil {
		return nil, fmt.Errorf("%s: bucket %s: %w", v.path, root.Bucket, err)
	}
	return scoped(b, joinKey(root.Path, sub)), nil
}

// vendedLocation returns the location that the vend c of kind (S3, Azure) grants, whose
// scheme must be scheme. For an al:// path it is the dataset's location as the server
// answered it; for a storage path it must be the path itself.
func vendedLocation(v *vend, c *api.Credentials, kind string, scheme location.Scheme) (location.Location, error) {
	if v.path.Scheme != location.AL && (c.Location == "" || c.Location == v.path.String()) {
		if v.path.Scheme != scheme {
			return location.Location{}, fmt.Errorf("the server vended %s credentials for %s, which is not an %s:// location", kind, v.path, scheme)
		}
		return v.path, nil
	}
	if c.Location == "" {
		return location.Location{}, fmt.Errorf("the server vended %s credentials without a location", kind)
	}
	l, err := location.ParseStorage(c.Location)
	if err != nil {
		return location.Location{}, fmt.Errorf("the server vended %s credentials for an unusable location: %w", kind, err)
	}
	if l.Scheme != scheme {
		return location.Location{}, fmt.Errorf("the server vended %s credentials for %s, which is not an %s:// location", kind, l, scheme)
	}
	if v.path.Scheme != location.AL {
		return location.Location{}, fmt.Errorf("asked for credentials for %s, the server vended them for %s", v.path, l)
	}
	return l, nil
}

// awsCredentials converts an S3 vend. Its errors never include the secrets.
func awsCredentials(c *api.Credentials) (aws.Credentials, error) {
	s := c.S3
	if s == nil {
		return aws.Credentials{}, fmt.Errorf("the server vended credentials of provider %q without S3 credentials", c.Provider)
	}
	if s.AccessKeyID == "" || s.SecretAccessKey == "" {
		return aws.Credentials{}, errors.New("the server vended S3 credentials without an access key")
	}
	return aws.Credentials{
		AccessKeyID:     s.AccessKeyID,
		SecretAccessKey: s.SecretAccessKey,
		SessionToken:    s.SessionToken,
		Source:          "tarn",
		CanExpire:       !c.ExpiresAt.IsZero(),
		Expires:         c.ExpiresAt,
	}, nil
}

// awsInfo tells a refresher when S3 credentials expire and names them by access key ID
// (api.Credentials.RefusalID).
func awsInfo(c aws.Credentials) credInfo {
	in := credInfo{id: c.AccessKeyID}
	if c.CanExpire {
		in.expires = c.Expires
	}
	return in
}

// s3Credentials is the aws.CredentialsProvider of an S3 bucket: the refresher's credential
// in service, recorded in the request's usedSlot for renewOnRefusal.
type s3Credentials struct{ r *refresher[aws.Credentials] }

// Retrieve returns the credential in service, renewing it first when it is due.
func (p s3Credentials) Retrieve(ctx context.Context) (aws.Credentials, error) {
	h, err := p.r.get(ctx)
	if err != nil {
		return aws.Credentials{}, err
	}
	if s, ok := ctx.Value(usedKey{}).(*usedSlot); ok {
		s.h = h
	}
	return h.creds, nil
}

// usedKey is the context key of a *usedSlot: Retrieve records there the credential it
// handed out, so that the middleware that sees the answer knows which credential S3
// refused.
type usedKey struct{}

type usedSlot struct{ h *held[aws.Credentials] }

// joinKey joins two key prefixes with "/"; either may be empty.
func joinKey(a, b string) string {
	if a == "" || b == "" {
		return a + b
	}
	return a + "/" + b
}

// scoped returns b limited to the keys below prefix, or b itself for an empty prefix.
func scoped(b *blob.Bucket, prefix string) *blob.Bucket {
	if prefix == "" {
		return b
	}
	return blob.PrefixedBucket(b, prefix+"/")
}

// Error codes with which S3 and S3-compatible stores refuse a credential that is stale: its
// lifetime ended, it was revoked or rotated, or the store does not know it (MinIO answers
// InvalidAccessKeyId once a temporary credential has expired).
var staleCodes = map[string]bool{
	"ExpiredToken":         true, // AWS S3, MinIO
	"TokenRefreshRequired": true, // AWS S3
	"InvalidToken":         true, // AWS S3, MinIO: session token malformed or otherwise invalid
	"InvalidTokenId":       true, // MinIO: the security token included in the request is invalid
	"InvalidAccessKeyId":   true, // AWS S3, MinIO
}

// Error codes of a refusal that does not say why: AccessDenied, and the codes the SDK
// derives from the status of an answer without a body (HEAD requests), which is how an
// expired token looks to HeadObject.
var deniedCodes = map[string]bool{
	"AccessDenied": true,
	"Forbidden":    true, // 403 without a body
	"BadRequest":   true, // 400 without a body: ExpiredToken to a HEAD request
}

// renewOnRefusal is a middleware of the S3 client that sends an operation once more, with a
// freshly vended credential, when the store refuses the credential it was signed with. It
// wraps the SDK's retry loop, so it covers every operation gocloud issues, and it retries at
// most once per operation:
//
//   - a stale-credential code (staleCodes) always earns the one retry;
//   - an ambiguous denial (deniedCodes) earns it only when the refused credential was not
//     itself vended to replace one that a denial invalidated, so a request that is really
//     forbidden costs at most one extra vend per credential lifetime, not one per request.
type renewOnRefusal struct{ r *refresher[aws.Credentials] }

func (*renewOnRefusal) ID() string { return "TarnRenewOnRefusal" }

// add puts m first in the finalize step, before the retry loop.
func (m *renewOnRefusal) add(s *middleware.Stack) error {
	return s.Finalize.Add(m, middleware.Before)
}

func (m *renewOnRefusal) HandleFinalize(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (
	middleware.FinalizeOutput, middleware.Metadata, error,
) {
	req, ok := in.Request.(*smithyhttp.Request)
	if !ok {
		return next.HandleFinalize(ctx, in)
	}
	pristine := req.Clone() // the request before the retry loop and signing touch it

	used := &usedSlot{}
	out, md, err := next.HandleFinalize(context.WithValue(ctx, usedKey{}, used), in)
	if err == nil || used.h == nil {
		return out, md, err
	}
	retry, denied := refused(err, used.h)
	if !retry {
		return out, md, err
	}
	m.r.invalidate(used.h, denied)
	if rerr := pristine.RewindStream(); rerr != nil {
		return out, md, err // a body that cannot be sent again: keep the first answer
	}
	in.Request = pristine
	return next.HandleFinalize(ctx, in)
}

// refused reports whether err, the answer to a request signed with h, earns the one retry
// with a fresh credential, and whether it was an ambiguous denial rather than a
// stale-credential code.
func refused(err error, h *held[aws.Credentials]) (retry, denied bool) {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false, false
	}
	code := ae.ErrorCode()
	switch {
	case staleCodes[code]:
		return true, false
	case deniedCodes[code]:
		return !h.afterDeny, true
	}
	return false, false
}
