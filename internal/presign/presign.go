// Package presign turns a vended read credential into URLs that each read one object of the
// credential's location with a plain HTTP GET, for browsers and for sharing. A URL is signed
// with the vended credential itself (SigV4 query signing for S3, the vended SAS for Azure),
// so the store still enforces the credential's scope: a URL edited to name an object outside
// the location is refused by the store.
//
// Where the vended credential cannot sign (gcs: a downscoped token signs no URL; file: local
// disk has no URL), the caller passes a signer (Options.Sign). A GCS V4 signed URL, signed
// through IAM Credentials signBlob of the creds key's service account, is not bounded by the
// downscoped token: it reads exactly the one object it names, with the account's rights, so
// what bounds it is the path check here (CheckPath, below the vended location) and the
// store's signature check, which refuses an edited URL. Objects of file datasets are served
// by tarn itself through URLs signed by Objects.
package presign

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/location"
)

// DefaultExpires is the lifetime of URLs asked for without one.
const DefaultExpires = time.Duration(api.DefaultPresignExpiresIn) * time.Second

// maxExpires is the longest lifetime SigV4 and GCS V4 query signing allow, and so of
// every URL.
const maxExpires = 7 * 24 * time.Hour

// Options configure URLs.
type Options struct {
	// Expires is the lifetime asked for; zero means DefaultExpires. It is cut to what is
	// left of the credential's lifetime, so that no URL outlives its credential.
	Expires time.Duration
	// Now is the signing time; zero means time.Now().
	Now time.Time
	// Sign signs the URLs of credentials that cannot sign them (gcs, file): it returns a URL
	// for each of paths (keys relative to the credential's location) valid from now for
	// expires. Nil for those providers makes URLs refuse them.
	Sign func(ctx context.Context, paths []string, now time.Time, expires time.Duration) (map[string]string, error)
}

// Check returns the error of kind Invalid that URLs returns for paths and a lifetime of
// expires before it looks at a credential, or nil: callers check a request with it before
// they vend.
func Check(paths []string, expires time.Duration) error {
	if err := CheckExpires(expires); err != nil {
		return err
	}
	return CheckPaths(paths)
}

// CheckExpires returns an error of kind Invalid, in field "expires_in", for a negative
// lifetime, else nil.
func CheckExpires(expires time.Duration) error {
	if expires < 0 {
		return errs.E(errs.Invalid, "expires_in is negative: give the URLs' lifetime in seconds, or 0 for %d", api.DefaultPresignExpiresIn).In("expires_in")
	}
	return nil
}

// CheckPaths returns an error of kind Invalid, in field "paths", unless paths holds 1 to
// api.MaxPresignPaths object keys that CheckPath accepts.
func CheckPaths(paths []string) error {
	if len(paths) == 0 {
		return errs.E(errs.Invalid, "paths is empty: give the keys of the objects to sign, relative to the dataset").In("paths")
	}
	if len(paths) > api.MaxPresignPaths {
		return errs.E(errs.Invalid, "paths holds %d keys; ask for at most %d at once", len(paths), api.MaxPresignPaths).In("paths")
	}
	for i, p := range paths {
		if err := CheckPath(p); err != nil {
			return errs.E(errs.Invalid, "paths[%d]: %v", i, err).In("paths")
		}
	}
	return nil
}

// CheckPath returns an error unless p is an object key relative to a location: not empty,
// not absolute, without backslashes or control characters, and without empty, "." or ".."
// segments. The error quotes at most the first 100 bytes of p.
func CheckPath(p string) error {
	q := p
	if len(q) > 100 {
		q = q[:100] + "..."
	}
	switch {
	case p == "":
		return fmt.Errorf("empty key")
	case strings.HasPrefix(p, "/"):
		return fmt.Errorf("%q is absolute: give the key relative to the dataset, without a leading /", q)
	case strings.Contains(p, `\`):
		return fmt.Errorf("%q holds a backslash: separate the key's parts with /", q)
	case strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return fmt.Errorf("key %q holds a control character", q)
	}
	for _, seg := range strings.Split(p, "/") {
		switch seg {
		case "":
			return fmt.Errorf("%q has an empty segment (// or a trailing /): give the key of an object", q)
		case ".", "..":
			return fmt.Errorf("%q has a %q segment: give the key of an object inside the dataset", q, seg)
		}
	}
	return nil
}

// URLs returns a URL for each of paths (keys CheckPath accepts, relative to the location of
// the read credential c) and when the URLs expire: o.Now plus o.Expires, at most c's
// expiry and 7 days. Azure URLs carry c's SAS, so they live until c expires whatever
// o.Expires says. gcs and file URLs are signed by o.Sign. URLs returns an error of kind
// Invalid for credentials of gcs or file without o.Sign, for a negative o.Expires and for a
// path CheckPaths refuses, and of kind Unavailable when c has expired. Errors never carry a
// secret.
func URLs(ctx context.Context, c *api.Credentials, paths []string, o Options) (map[string]string, time.Time, error) {
	if err := Check(paths, o.Expires); err != nil {
		return nil, time.Time{}, err
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.Expires == 0 {
		o.Expires = DefaultExpires
	}
	left := c.ExpiresAt.Sub(o.Now).Truncate(time.Second)
	if left < time.Second {
		return nil, time.Time{}, errs.E(errs.Unavailable, "the vended credential of %s has expired; try again", c.Location)
	}
	o.Expires = min(o.Expires, left, maxExpires)
	loc, err := location.ParseStorage(c.Location)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("vended location %q: %w", c.Location, err)
	}
	switch {
	case c.S3 != nil:
		urls, err := s3URLs(ctx, c.S3, loc, paths, o)
		return urls, o.Now.Add(o.Expires).UTC(), err
	case c.Azure != nil:
		return azureURLs(c.Azure, paths), c.ExpiresAt.UTC(), nil
	case (c.GCS != nil || c.File != nil) && o.Sign != nil:
		urls, err := o.Sign(ctx, paths, o.Now, o.Expires)
		return urls, o.Now.Add(o.Expires).UTC(), err
	}
	return nil, time.Time{}, errs.E(errs.Invalid, "presigned URLs for %s keys need a signer this caller does not have; vend credentials instead (tarn vend)", c.Provider)
}

// s3URLs presigns a GetObject of each path below loc with the vended credential s,
// signed at o.Now for o.Expires.
func s3URLs(ctx context.Context, s *api.S3Credentials, loc location.Location, paths []string, o Options) (map[string]string, error) {
	region := s.Region
	if region == "" {
		region = "us-east-1"
	}
	opts := s3.Options{
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKeyID, s.SecretAccessKey, s.SessionToken),
		UsePathStyle: s.PathStyle,
		// No checksum mode: a browser's plain GET could not send the header it would sign.
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	}
	if s.Endpoint != "" {
		opts.BaseEndpoint = aws.String(s.Endpoint)
	}
	pc := s3.NewPresignClient(s3.New(opts), func(po *s3.PresignOptions) {
		po.Expires = o.Expires
		// S3 signs the path as sent, escaped once (as the SDK's own S3 signer does).
		signer := v4.NewSigner(func(so *v4.SignerOptions) { so.DisableURIPathEscaping = true })
		po.Presigner = clockSigner{signer: signer, now: o.Now}
	})
	urls := make(map[string]string, len(paths))
	for _, p := range paths {
		key := p
		if loc.Path != "" {
			key = loc.Path + "/" + p
		}
		req, err := pc.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(loc.Bucket), Key: aws.String(key)})
		if err != nil {
			return nil, errs.Wrap(errs.Internal, err, fmt.Sprintf("presign s3://%s/%s: %v", loc.Bucket, key, err))
		}
		urls[p] = req.URL
	}
	return urls, nil
}

// clockSigner is a SigV4 presigner that signs at a fixed time instead of the SDK's clock.
type clockSigner struct {
	signer *v4.Signer
	now    time.Time
}

// PresignHTTP implements s3.HTTPPresignerV4.
func (c clockSigner) PresignHTTP(ctx context.Context, creds aws.Credentials, r *http.Request, payloadHash, service, region string,
	_ time.Time, optFns ...func(*v4.SignerOptions)) (string, http.Header, error) {
	return c.signer.PresignHTTP(ctx, creds, r, payloadHash, service, region, c.now, optFns...)
}

// azureURLs returns the blob URL of each path below the vended container and prefix, with
// the vended SAS.
func azureURLs(az *api.AzureCredentials, paths []string) map[string]string {
	urls := make(map[string]string, len(paths))
	for _, p := range paths {
		urls[p] = BlobURL(az, p)
	}
	return urls
}

// BlobURL returns the URL of key below the container and prefix of the Azure credentials
// az, with their SAS; for key "" the URL of the container or directory itself. Each path
// segment is escaped.
func BlobURL(az *api.AzureCredentials, key string) string {
	u := strings.TrimSuffix(az.Endpoint, "/") + "/" + url.PathEscape(az.Container)
	for _, k := range []string{az.Prefix, key} {
		if k != "" {
			u += "/" + escapeKey(k)
		}
	}
	return u + "?" + az.SASToken
}

// escapeKey escapes each /-separated segment of key for a URL path.
func escapeKey(key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}
