package cors

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/storage"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// Store is where a bucket's CORS rules live.
type Store interface {
	// Rules returns the rules in the order the store applies them; none when it has none.
	Rules(ctx context.Context) ([]Rule, error)
	// SetRules replaces every rule with rules.
	SetRules(ctx context.Context, rules []Rule) error
}

// Set reads the store's rules, merges r into them (Merge) and writes them back when that
// changes them. It returns the rules the store then has.
func Set(ctx context.Context, s Store, r Rule) ([]Rule, error) {
	old, err := s.Rules(ctx)
	if err != nil {
		return nil, err
	}
	if n, ok := s.(interface{ normalize(Rule) Rule }); ok {
		r = n.normalize(r)
	}
	rules := Merge(old, r)
	if len(rules) == len(old) && rules[0].sameButOrigins(old[0]) && sameSet(rules[0].AllowedOrigins, old[0].AllowedOrigins) {
		return rules, nil // r was already the first rule
	}
	if err := s.SetRules(ctx, rules); err != nil {
		return nil, err
	}
	return rules, nil
}

// ErrServerWide is the error of SetRules on a store that has no per-bucket CORS, only a
// setting of the whole server (MinIO, which answers NotImplemented to PutBucketCors).
var ErrServerWide = errors.New("the store has no per-bucket CORS rules (MinIO answers NotImplemented): allow the origin in the server's configuration instead")

// S3 is the CORS configuration of an S3 bucket (GetBucketCors, PutBucketCors). The
// credentials need s3:GetBucketCORS and s3:PutBucketCORS on the bucket.
type S3 struct {
	Client *s3.Client
	Bucket string
}

// Rules returns the bucket's rules; none when it has no CORS configuration.
func (s S3) Rules(ctx context.Context) ([]Rule, error) {
	out, err := s.Client.GetBucketCors(ctx, &s3.GetBucketCorsInput{Bucket: aws.String(s.Bucket)})
	if code := apiCode(err); code == "NoSuchCORSConfiguration" {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the CORS rules of s3://%s: %w", s.Bucket, err)
	}
	var rules []Rule
	for _, c := range out.CORSRules {
		rules = append(rules, Rule{
			AllowedOrigins: c.AllowedOrigins, AllowedMethods: c.AllowedMethods,
			AllowedHeaders: c.AllowedHeaders, ExposeHeaders: c.ExposeHeaders,
			MaxAgeSeconds: int(aws.ToInt32(c.MaxAgeSeconds)),
		})
	}
	return rules, nil
}

// SetRules replaces the bucket's rules. It returns an error wrapping ErrServerWide when
// the store answers NotImplemented.
func (s S3) SetRules(ctx context.Context, rules []Rule) error {
	var cs []s3types.CORSRule
	for _, r := range rules {
		c := s3types.CORSRule{
			AllowedOrigins: r.AllowedOrigins, AllowedMethods: r.AllowedMethods,
			AllowedHeaders: r.AllowedHeaders, ExposeHeaders: r.ExposeHeaders,
		}
		if r.MaxAgeSeconds > 0 {
			c.MaxAgeSeconds = aws.Int32(int32(r.MaxAgeSeconds))
		}
		cs = append(cs, c)
	}
	_, err := s.Client.PutBucketCors(ctx, &s3.PutBucketCorsInput{
		Bucket: aws.String(s.Bucket), CORSConfiguration: &s3types.CORSConfiguration{CORSRules: cs},
	})
	if apiCode(err) == "NotImplemented" {
		return fmt.Errorf("set the CORS rules of s3://%s: %w", s.Bucket, ErrServerWide)
	}
	if err != nil {
		return fmt.Errorf("set the CORS rules of s3://%s: %w", s.Bucket, err)
	}
	return nil
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// Azure is the CORS configuration of an Azure storage account's blob service (Get and Set
// Blob Service Properties). Its rules apply to every container of the account. The
// credentials need to read and write the account's properties (Storage Account
// Contributor, or the account key).
type Azure struct {
	Client *service.Client
	// Account names the account in errors.
	Account string
}

// Rules returns the account's blob service rules.
func (a Azure) Rules(ctx context.Context) ([]Rule, error) {
	p, err := a.Client.GetProperties(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("read the blob service CORS rules of account %s: %w", a.Account, err)
	}
	var rules []Rule
	for _, c := range p.CORS {
		rules = append(rules, Rule{
			AllowedOrigins: splitList(deref(c.AllowedOrigins)), AllowedMethods: splitList(deref(c.AllowedMethods)),
			AllowedHeaders: splitList(deref(c.AllowedHeaders)), ExposeHeaders: splitList(deref(c.ExposedHeaders)),
			MaxAgeSeconds: int(deref(c.MaxAgeInSeconds)),
		})
	}
	return rules, nil
}

// SetRules replaces the account's blob service rules, leaving its other properties as
// they are.
func (a Azure) SetRules(ctx context.Context, rules []Rule) error {
	cs := []*service.CORSRule{} // empty, not nil: the SDK then sends <Cors/>, removing all
	for _, r := range rules {
		cs = append(cs, &service.CORSRule{
			AllowedOrigins: to.Ptr(strings.Join(r.AllowedOrigins, ",")), AllowedMethods: to.Ptr(strings.Join(r.AllowedMethods, ",")),
			AllowedHeaders: to.Ptr(strings.Join(r.AllowedHeaders, ",")), ExposedHeaders: to.Ptr(strings.Join(r.ExposeHeaders, ",")),
			MaxAgeInSeconds: to.Ptr(int32(r.MaxAgeSeconds)),
		})
	}
	if _, err := a.Client.SetProperties(ctx, &service.SetPropertiesOptions{CORS: cs}); err != nil {
		return fmt.Errorf("set the blob service CORS rules of account %s: %w", a.Account, err)
	}
	return nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// GCS is the CORS configuration of a Cloud Storage bucket (the bucket's cors attribute).
// GCS has one header list per rule (responseHeader) that it both allows in requests and
// exposes in answers, so a rule's AllowedHeaders and ExposeHeaders are written together
// and read back as one list in both. The credentials need storage.buckets.get and
// storage.buckets.update.
type GCS struct {
	Client *storage.Client
	Bucket string
}

// Rules returns the bucket's rules.
func (g GCS) Rules(ctx context.Context) ([]Rule, error) {
	attrs, err := g.Client.Bucket(g.Bucket).Attrs(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the CORS rules of gs://%s: %w", g.Bucket, err)
	}
	var rules []Rule
	for _, c := range attrs.CORS {
		rules = append(rules, Rule{
			AllowedOrigins: c.Origins, AllowedMethods: c.Methods,
			AllowedHeaders: c.ResponseHeaders, ExposeHeaders: c.ResponseHeaders,
			MaxAgeSeconds: int(c.MaxAge / time.Second),
		})
	}
	return rules, nil
}

// normalize returns r as the bucket stores it: one header list in both places.
func (GCS) normalize(r Rule) Rule {
	headers := slices.Clone(r.AllowedHeaders)
	for _, h := range r.ExposeHeaders {
		if !containsFold(headers, h) {
			headers = append(headers, h)
		}
	}
	r.AllowedHeaders, r.ExposeHeaders = headers, headers
	return r
}

// SetRules replaces the bucket's rules.
func (g GCS) SetRules(ctx context.Context, rules []Rule) error {
	cs := []storage.CORS{}
	for _, r := range rules {
		cs = append(cs, storage.CORS{
			Origins: r.AllowedOrigins, Methods: r.AllowedMethods, ResponseHeaders: g.normalize(r).AllowedHeaders,
			MaxAge: time.Duration(r.MaxAgeSeconds) * time.Second,
		})
	}
	if _, err := g.Client.Bucket(g.Bucket).Update(ctx, storage.BucketAttrsToUpdate{CORS: cs}); err != nil {
		return fmt.Errorf("set the CORS rules of gs://%s: %w", g.Bucket, err)
	}
	return nil
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}
