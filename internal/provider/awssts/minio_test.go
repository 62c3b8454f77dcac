package awssts_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"gocloud.dev/blob"
	"gocloud.dev/blob/s3blob"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/miniotest"
	"github.com/tarnhq/tarn/internal/netguard"
	"github.com/tarnhq/tarn/internal/netguard/netguardtest"
	"github.com/tarnhq/tarn/internal/provider"
	"github.com/tarnhq/tarn/internal/provider/awssts"
	"github.com/tarnhq/tarn/internal/provider/providertest"
	"github.com/tarnhq/tarn/location"
)

func TestMain(m *testing.M) { miniotest.Main(m) }

// minioKey returns a creds key of provider aws for the test's MinIO bucket, configured the
// way tarn creds add would: STS and S3 at the MinIO endpoint, path-style, the MinIO user's
// access key as source. The roots are s3://BUCKET/datasets.
func minioKey(t *testing.T, srv *miniotest.Server, vendor *provider.Vendor) provider.Key {
	t.Helper()
	req := srv.CredsKey("s3://" + srv.Bucket + "/datasets")
	raw, err := vendor.CheckConfig(context.Background(), req.Provider, req.Config, provider.ConfigCheck{Org: "acme", HasSecret: true})
	if err != nil {
		t.Fatal(err)
	}
	key := provider.Key{Org: "acme", Name: "minio", Version: 1, Secret: []byte(srv.UserSecretKey)}
	if err := json.Unmarshal(raw, &key.Config); err != nil {
		t.Fatal(err)
	}
	return key
}

// minioDriver returns a driver whose guard allows srv's MinIO, as tarn serve
// --allow-endpoint 127.0.0.1:PORT does.
func minioDriver(t *testing.T, srv *miniotest.Server) *awssts.Driver {
	t.Helper()
	g, err := netguard.New(netguard.Options{Allow: []string{srv.HostPort()}, Dial: netguardtest.Dial(t)})
	if err != nil {
		t.Fatal(err)
	}
	return awssts.New(awssts.Options{Guard: g})
}

func newVendor(t *testing.T, srv *miniotest.Server) *provider.Vendor {
	t.Helper()
	return provider.New(map[string]provider.Driver{awssts.Name: minioDriver(t, srv)}, nil)
}

func parse(t *testing.T, s string) location.Location {
	t.Helper()
	l, err := location.ParseStorage(s)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// s3With returns an S3 client on MinIO that uses only the vended credentials c, as a client
// of tarn would.
func s3With(c *api.Credentials) *s3.Client {
	return s3.New(s3.Options{
		Region:                     c.S3.Region,
		BaseEndpoint:               aws.String(c.S3.Endpoint),
		UsePathStyle:               c.S3.PathStyle,
		Credentials:                credentials.NewStaticCredentialsProvider(c.S3.AccessKeyID, c.S3.SecretAccessKey, c.S3.SessionToken),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

// The shared conformance suite, against a real MinIO.
func TestConformance(t *testing.T) {
	srv := miniotest.Start(t)
	d := minioDriver(t, srv)
	v := provider.New(map[string]provider.Driver{awssts.Name: d}, nil)
	providertest.Run(t, conformance(t, srv, d, v, minioKey(t, srv, v)))
}

// conformance returns the conformance suite's setup for key on srv's MinIO, below
// s3://BUCKET/datasets/conformance, seeded with the root credentials.
func conformance(t *testing.T, srv *miniotest.Server, d *awssts.Driver, v *provider.Vendor, key provider.Key) providertest.Setup {
	root := srv.S3(srv.RootUser, srv.RootPassword, "")
	return providertest.Setup{
		Vendor:   v,
		Driver:   d,
		Provider: awssts.Name,
		Key:      key,
		Base:     parse(t, "s3://"+srv.Bucket+"/datasets/conformance"),
		Open: func(ctx context.Context, c *api.Credentials, loc location.Location) (*blob.Bucket, error) {
			b, err := s3blob.OpenBucket(ctx, s3With(c), loc.Bucket, nil)
			if err != nil || loc.Path == "" {
				return b, err
			}
			return blob.PrefixedBucket(b, loc.Path+"/"), nil
		},
		Seed: func(ctx context.Context, loc location.Location, key string, data []byte) error {
			_, err := root.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(loc.Bucket), Key: aws.String(loc.Path + "/" + key), Body: bytes.NewReader(data)})
			return err
		},
		Enforced: true,
	}
}

func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

func put(ctx context.Context, c *s3.Client, bucket, key, body string) error {
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)})
	return err
}

func get(ctx context.Context, c *s3.Client, bucket, key string) (string, error) {
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return "", err
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	return string(b), err
}

func list(ctx context.Context, c *s3.Client, bucket, prefix string) error {
	_, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	return err
}

// A vended credential reaches exactly its prefix in its mode, on a real MinIO.
func TestMinIOCredentialsStayInPrefixAndMode(t *testing.T) {
	ctx := context.Background()
	srv := miniotest.Start(t)
	v := newVendor(t, srv)
	key := minioKey(t, srv, v)
	root := srv.S3(srv.RootUser, srv.RootPassword, "")
	b := srv.Bucket
	for k, body := range map[string]string{
		"datasets/coco/a.txt":      "in",
		"datasets/coco-x/b.txt":    "sibling",
		"datasets/other/c.txt":     "other",
		"top.txt":                  "top",
		"datasets/coco/sub/d.json": "nested",
	} {
		if err := put(ctx, root, b, k, body); err != nil {
			t.Fatalf("seed %s: %v", k, err)
		}
	}
	loc := parse(t, "s3://"+b+"/datasets/coco")

	read, err := v.Vend(ctx, awssts.Name, provider.Request{Key: key, Location: loc, Mode: api.ModeRead, Session: "acme/alice", TTL: 20 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if read.S3.Endpoint != srv.Endpoint || !read.S3.PathStyle || read.S3.Region != srv.Region || read.S3.SessionToken == "" {
		t.Errorf("vended S3 answer = %+v", read.S3)
	}
	// MinIO honours DurationSeconds: the credential lives 20 minutes, not MinIO's default hour.
	if d := time.Until(read.ExpiresAt); d < 18*time.Minute || d > 21*time.Minute {
		t.Errorf("read credential expires in %s, want about 20m", d)
	}
	r := s3With(read)
	if got, err := get(ctx, r, b, "datasets/coco/sub/d.json"); err != nil || got != "nested" {
		t.Errorf("read in prefix: %q, %v", got, err)
	}
	for _, p := range []string{"datasets/coco/", "datasets/coco/sub"} {
		if err := list(ctx, r, b, p); err != nil {
			t.Errorf("list %q: %v", p, err)
		}
	}
	for _, k := range []string{"datasets/coco-x/b.txt", "datasets/other/c.txt", "top.txt"} {
		if _, err := get(ctx, r, b, k); code(err) != "AccessDenied" {
			t.Errorf("read credential reads %s: err = %v, want AccessDenied", k, err)
		}
	}
	// Not even the bare prefix: it would list the sibling datasets/coco-x/.
	for _, p := range []string{"", "datasets/", "datasets/coco-x/", "datasets/co", "datasets/coco"} {
		if err := list(ctx, r, b, p); code(err) != "AccessDenied" {
			t.Errorf("read credential lists %q: err = %v, want AccessDenied", p, err)
		}
	}
	if err := put(ctx, r, b, "datasets/coco/new.txt", "x"); code(err) != "AccessDenied" {
		t.Errorf("read credential writes: err = %v, want AccessDenied", err)
	}
	if _, err := r.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(b), Key: aws.String("datasets/coco/a.txt")}); code(err) != "AccessDenied" {
		t.Errorf("read credential deletes: err = %v, want AccessDenied", err)
	}

	write, err := v.Vend(ctx, awssts.Name, provider.Request{Key: key, Location: loc, Mode: api.ModeWrite, Session: "acme/alice", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	w := s3With(write)
	if err := put(ctx, w, b, "datasets/coco/new.txt", "new"); err != nil {
		t.Errorf("write in prefix: %v", err)
	}
	if got, err := get(ctx, root, b, "datasets/coco/new.txt"); err != nil || got != "new" {
		t.Errorf("written object: %q, %v", got, err)
	}
	if _, err := w.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(b), Key: aws.String("datasets/coco/new.txt")}); err != nil {
		t.Errorf("delete in prefix: %v", err)
	}
	for _, k := range []string{"datasets/coco-x/evil.txt", "datasets/evil.txt", "evil.txt"} {
		if err := put(ctx, w, b, k, "x"); code(err) != "AccessDenied" {
			t.Errorf("write credential writes %s: err = %v, want AccessDenied", k, err)
		}
	}
	if _, err := w.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(b), Key: aws.String("top.txt")}); code(err) != "AccessDenied" {
		t.Errorf("write credential deletes outside: err = %v, want AccessDenied", err)
	}
	// Multipart uploads work inside the prefix (large dataset files use them).
	up, err := w.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(b), Key: aws.String("datasets/coco/big.bin")})
	if err != nil {
		t.Fatalf("multipart upload: %v", err)
	}
	if _, err := w.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String(b), Key: aws.String("datasets/coco/big.bin"), UploadId: up.UploadId}); err != nil {
		t.Errorf("list parts: %v", err)
	}
	if _, err := w.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(b), Key: aws.String("datasets/coco/big.bin"), UploadId: up.UploadId}); err != nil {
		t.Errorf("abort multipart upload: %v", err)
	}
}

// The whole-bucket location: everything in the bucket, nothing in another bucket.
func TestMinIOBucketRoot(t *testing.T) {
	ctx := context.Background()
	srv := miniotest.Start(t)
	v := newVendor(t, srv)
	key := minioKey(t, srv, v)
	key.Config.Roots = []string{"s3://" + srv.Bucket}
	c, err := v.Vend(ctx, awssts.Name, provider.Request{Key: key, Location: parse(t, "s3://"+srv.Bucket), Mode: api.ModeWrite, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	w := s3With(c)
	if err := put(ctx, w, srv.Bucket, "any/where.txt", "x"); err != nil {
		t.Errorf("write in bucket: %v", err)
	}
	if err := list(ctx, w, srv.Bucket, ""); err != nil {
		t.Errorf("list bucket: %v", err)
	}
}

// MinIO does not implement IAM's escapes, so a prefix with wildcard characters is refused
// rather than vended too broadly.
func TestMinIORefusesWildcardPrefix(t *testing.T) {
	srv := miniotest.Start(t)
	v := newVendor(t, srv)
	key := minioKey(t, srv, v)
	_, err := v.Vend(context.Background(), awssts.Name, provider.Request{Key: key, Location: parse(t, "s3://"+srv.Bucket+"/datasets/a*"), Mode: api.ModeRead, TTL: time.Hour})
	if !errs.Is(errs.Invalid, err) {
		t.Errorf("err = %v, want Invalid", err)
	}
}

func TestMinIOVerify(t *testing.T) {
	ctx := context.Background()
	srv := miniotest.Start(t)
	v := newVendor(t, srv)
	key := minioKey(t, srv, v)
	loc := parse(t, "s3://"+srv.Bucket+"/datasets/coco")

	checks, err := v.Verify(ctx, awssts.Name, key, loc)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"location within roots", awssts.CheckAssumeRole, awssts.CheckExternalID, awssts.CheckList, awssts.CheckProbe, awssts.CheckReadRefusedWrite, awssts.CheckReadRefusedOutside}
	if len(checks) != len(want) {
		t.Fatalf("checks = %+v, want %v", checks, want)
	}
	for i, c := range checks {
		if c.Name != want[i] || !c.OK {
			t.Errorf("check %d = %+v, want %q ok", i, c, want[i])
		}
	}
	if d := checks[2].Detail; !strings.HasPrefix(d, "warning: this store ignores external IDs") {
		t.Errorf("external ID check detail = %q", d)
	}
	// Verify leaves no probe objects behind.
	out, err := srv.S3(srv.RootUser, srv.RootPassword, "").ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(srv.Bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Contents) != 0 {
		t.Errorf("verify left %d objects, first %s", len(out.Contents), aws.ToString(out.Contents[0].Key))
	}

	// The whole-bucket root passes too; there is nothing outside it to refuse.
	key.Config.Roots = []string{"s3://" + srv.Bucket}
	checks, err = v.Verify(ctx, awssts.Name, key, location.Location{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range checks {
		if !c.OK {
			t.Errorf("bucket root: check %+v failed", c)
		}
	}
}

func TestMinIOVerifyNamesTheCause(t *testing.T) {
	ctx := context.Background()
	srv := miniotest.Start(t)
	v := newVendor(t, srv)
	loc := parse(t, "s3://"+srv.Bucket+"/datasets/coco")

	// A wrong secret: assume role fails and says which key was refused.
	key := minioKey(t, srv, v)
	key.Secret = []byte("not-the-secret")
	checks, err := v.Verify(ctx, awssts.Name, key, loc)
	if err != nil {
		t.Fatal(err)
	}
	last := checks[len(checks)-1]
	if last.Name != awssts.CheckAssumeRole || last.OK || !strings.Contains(last.Detail, "the access key "+srv.UserAccessKey+" or its secret was refused") {
		t.Errorf("bad secret: checks = %+v", checks)
	}
	if strings.Contains(last.Detail, "not-the-secret") || strings.Contains(last.Detail, srv.UserSecretKey) {
		t.Errorf("detail leaks a secret: %s", last.Detail)
	}

	// A bucket the user may not use: listing and the probe fail and name the policy.
	key = minioKey(t, srv, v)
	other := miniotest.Start(t).Bucket
	key.Config.Roots = []string{"s3://" + other}
	checks, err = v.Verify(ctx, awssts.Name, key, parse(t, "s3://"+other+"/x"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("verify of a bucket the user may not use: %+v", checks)
	byName := map[string]api.Check{}
	for _, c := range checks {
		byName[c.Name] = c
	}
	if c := byName[awssts.CheckList]; c.OK || !strings.Contains(c.Detail, "AccessDenied") || !strings.Contains(c.Detail, "s3:ListBucket") {
		t.Errorf("list check = %+v", c)
	}
	if c := byName[awssts.CheckProbe]; c.OK || !strings.Contains(c.Detail, "s3:PutObject") {
		t.Errorf("probe check = %+v", c)
	}

	// An unreachable store.
	key = minioKey(t, srv, v)
	key.Config.STSEndpoint = "http://127.0.0.1:1"
	checks, _ = v.Verify(ctx, awssts.Name, key, loc)
	if c := checks[len(checks)-1]; c.OK || !strings.Contains(c.Detail, "cannot reach the endpoint") {
		t.Errorf("unreachable: %+v", c)
	}
}
