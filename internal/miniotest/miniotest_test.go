package miniotest_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/tarnhq/tarn/internal/miniotest"
)

func TestMain(m *testing.M) { miniotest.Main(m) }

// put writes key=body in bucket with c and returns the error.
func put(ctx context.Context, c *s3.Client, bucket, key, body string) error {
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)})
	return err
}

// get reads key from bucket with c.
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

// code returns the API error code of err ("" when err is nil or not an API error).
func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	if err != nil {
		return "not an API error: " + err.Error()
	}
	return ""
}

func wantDenied(t *testing.T, what string, err error) {
	t.Helper()
	if code(err) != "AccessDenied" {
		t.Errorf("%s: err %v, want AccessDenied", what, err)
	}
}

func TestBucketExistsAndRootCanWrite(t *testing.T) {
	s := miniotest.Start(t)
	ctx := t.Context()
	root := s.S3(s.RootUser, s.RootPassword, "")
	if _, err := root.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(s.Bucket)}); err != nil {
		t.Fatalf("head bucket %s: %v", s.Bucket, err)
	}
	if err := put(ctx, root, s.Bucket, "root/x", "hello"); err != nil {
		t.Fatalf("root put: %v", err)
	}
	if got, err := get(ctx, root, s.Bucket, "root/x"); err != nil || got != "hello" {
		t.Fatalf("root get = %q, %v", got, err)
	}
	if s.Endpoint == "" || s.Region != "us-east-1" || !strings.HasPrefix(s.Endpoint, "http://127.0.0.1:") {
		t.Errorf("server = %+v", s)
	}
}

func TestUserIsLimitedToItsBucket(t *testing.T) {
	mine := miniotest.Start(t)
	other := miniotest.Start(t) // another test's bucket and user, on the same MinIO
	if mine.Bucket == other.Bucket || mine.UserAccessKey == other.UserAccessKey || mine.Endpoint != other.Endpoint {
		t.Fatalf("Start did not give fresh resources on one server: %+v %+v", mine, other)
	}
	ctx := t.Context()
	user := mine.S3(mine.UserAccessKey, mine.UserSecretKey, "")
	if err := put(ctx, user, mine.Bucket, "a/x", "mine"); err != nil {
		t.Fatalf("user put in own bucket: %v", err)
	}
	if got, err := get(ctx, user, mine.Bucket, "a/x"); err != nil || got != "mine" {
		t.Fatalf("user get in own bucket = %q, %v", got, err)
	}
	if err := list(ctx, user, mine.Bucket, ""); err != nil {
		t.Fatalf("user list own bucket: %v", err)
	}
	wantDenied(t, "put in another test's bucket", put(ctx, user, other.Bucket, "a/x", "theirs"))
	_, err := get(ctx, user, other.Bucket, "a/x")
	wantDenied(t, "get in another test's bucket", err)
	wantDenied(t, "list another test's bucket", list(ctx, user, other.Bucket, ""))
}

// sessionPolicy is the policy tarn's awssts driver sends for a write vend of prefix
// (trimmed to what this test needs).
func sessionPolicy(bucket, prefix string) string {
	p, _ := json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{
			{
				"Effect":   "Allow",
				"Action":   []string{"s3:GetObject", "s3:PutObject"},
				"Resource": []string{"arn:aws:s3:::" + bucket + "/" + prefix + "/*"},
			},
			{
				"Effect":    "Allow",
				"Action":    []string{"s3:ListBucket"},
				"Resource":  []string{"arn:aws:s3:::" + bucket},
				"Condition": map[string]any{"StringLike": map[string]any{"s3:prefix": []string{prefix, prefix + "/*"}}},
			},
		},
	})
	return string(p)
}

func stsClient(s *miniotest.Server, accessKey, secretKey string) *sts.Client {
	return sts.New(sts.Options{
		Region:       s.Region,
		BaseEndpoint: aws.String(s.Endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider(accessKey, secretKey, ""),
	})
}

func assumeRole(ctx context.Context, c *sts.Client, in sts.AssumeRoleInput) (*sts.AssumeRoleOutput, error) {
	if in.RoleArn == nil {
		in.RoleArn = aws.String("arn:aws:iam::000000000000:role/ignored-by-minio")
	}
	if in.RoleSessionName == nil {
		in.RoleSessionName = aws.String("tarn-test")
	}
	return c.AssumeRole(ctx, &in)
}

// TestAssumeRoleSessionPolicyLimitsToPrefix documents what tarn relies on: temporary
// credentials from AssumeRole with the user's keys and an inline session policy reach the
// policy's prefix and nothing else, not even a sibling prefix that shares its leading
// characters.
func TestAssumeRoleSessionPolicyLimitsToPrefix(t *testing.T) {
	s := miniotest.Start(t)
	ctx := t.Context()
	root := s.S3(s.RootUser, s.RootPassword, "")
	for _, k := range []string{"ds-ab/x", "other/x"} {
		if err := put(ctx, root, s.Bucket, k, "seed"); err != nil {
			t.Fatal(err)
		}
	}

	start := time.Now()
	out, err := assumeRole(ctx, stsClient(s, s.UserAccessKey, s.UserSecretKey), sts.AssumeRoleInput{
		Policy:          aws.String(sessionPolicy(s.Bucket, "ds-a")),
		DurationSeconds: aws.Int32(900),
	})
	if err != nil {
		t.Fatalf("AssumeRole: %v", err)
	}
	c := out.Credentials
	if c == nil || aws.ToString(c.SessionToken) == "" || c.Expiration == nil {
		t.Fatalf("AssumeRole answered %+v", c)
	}
	if life := c.Expiration.Sub(start); life < 890*time.Second || life > 910*time.Second {
		t.Errorf("DurationSeconds 900 gave a lifetime of %s", life)
	}
	tmp := s.S3(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))

	t.Run("put and get inside the prefix", func(t *testing.T) {
		if err := put(ctx, tmp, s.Bucket, "ds-a/x", "inside"); err != nil {
			t.Fatalf("put ds-a/x: %v", err)
		}
		if got, err := get(ctx, tmp, s.Bucket, "ds-a/x"); err != nil || got != "inside" {
			t.Fatalf("get ds-a/x = %q, %v", got, err)
		}
	})
	t.Run("list inside the prefix", func(t *testing.T) {
		for _, p := range []string{"ds-a/", "ds-a"} {
			if err := list(ctx, tmp, s.Bucket, p); err != nil {
				t.Errorf("list %q: %v", p, err)
			}
		}
	})
	t.Run("sibling prefix denied", func(t *testing.T) {
		wantDenied(t, "put ds-ab/x", put(ctx, tmp, s.Bucket, "ds-ab/x", "outside"))
		_, err := get(ctx, tmp, s.Bucket, "ds-ab/x")
		wantDenied(t, "get ds-ab/x", err)
		_, err = get(ctx, tmp, s.Bucket, "other/x")
		wantDenied(t, "get other/x", err)
	})
	t.Run("list outside the prefix denied", func(t *testing.T) {
		for _, p := range []string{"", "ds-ab/", "other/", "ds-"} {
			wantDenied(t, "list "+p, list(ctx, tmp, s.Bucket, p))
		}
	})
	t.Run("no action beyond the session policy", func(t *testing.T) {
		_, err := tmp.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String("ds-a/x")})
		wantDenied(t, "delete ds-a/x (not in the session policy)", err)
	})
}

// TestAssumeRoleEdges pins MinIO's AssumeRole at its edges, where much of it is not AWS's
// (RoleArn, ExternalId, durations, error codes, role chaining), so that a MinIO upgrade that
// changes them shows up here.
func TestAssumeRoleEdges(t *testing.T) {
	s := miniotest.Start(t)
	ctx := t.Context()
	user := stsClient(s, s.UserAccessKey, s.UserSecretKey)
	policy := aws.String(sessionPolicy(s.Bucket, "ds-a"))

	t.Run("RoleArn and ExternalId are ignored", func(t *testing.T) {
		_, err := assumeRole(ctx, user, sts.AssumeRoleInput{
			RoleArn:    aws.String("arn:aws:iam::123456789012:role/does-not-exist"),
			ExternalId: aws.String("any-external-id"),
			Policy:     policy,
		})
		if err != nil {
			t.Fatalf("AssumeRole with an unknown role and an external ID: %v", err)
		}
	})
	t.Run("no DurationSeconds means one hour", func(t *testing.T) {
		start := time.Now()
		out, err := assumeRole(ctx, user, sts.AssumeRoleInput{Policy: policy})
		if err != nil {
			t.Fatal(err)
		}
		if life := out.Credentials.Expiration.Sub(start); life < 59*time.Minute || life > 61*time.Minute {
			t.Errorf("lifetime %s, want 1h", life)
		}
	})
	t.Run("DurationSeconds below 900 is InvalidParameterValue", func(t *testing.T) {
		_, err := assumeRole(ctx, user, sts.AssumeRoleInput{Policy: policy, DurationSeconds: aws.Int32(899)})
		if code(err) != "InvalidParameterValue" {
			t.Errorf("err %v, want InvalidParameterValue", err)
		}
	})
	t.Run("DurationSeconds above 12 hours is accepted", func(t *testing.T) {
		out, err := assumeRole(ctx, user, sts.AssumeRoleInput{Policy: policy, DurationSeconds: aws.Int32(7 * 24 * 3600)})
		if err != nil {
			t.Fatalf("AssumeRole for 7 days: %v", err)
		}
		if life := time.Until(*out.Credentials.Expiration); life < 6*24*time.Hour {
			t.Errorf("lifetime %s, want 7 days", life)
		}
	})
	t.Run("session policy over 2048 bytes is InvalidParameterValue", func(t *testing.T) {
		big := sessionPolicy(s.Bucket, strings.Repeat("p", 1100))
		_, err := assumeRole(ctx, user, sts.AssumeRoleInput{Policy: aws.String(big)})
		if code(err) != "InvalidParameterValue" {
			t.Errorf("err %v, want InvalidParameterValue", err)
		}
	})
	t.Run("session policy without Version is InvalidParameterValue", func(t *testing.T) {
		_, err := assumeRole(ctx, user, sts.AssumeRoleInput{Policy: aws.String(`{"Statement":[]}`)})
		if code(err) != "InvalidParameterValue" {
			t.Errorf("err %v, want InvalidParameterValue", err)
		}
	})
	t.Run("wrong secret is AccessDenied, not SignatureDoesNotMatch", func(t *testing.T) {
		_, err := assumeRole(ctx, stsClient(s, s.UserAccessKey, "wrong-secret-key"), sts.AssumeRoleInput{Policy: policy})
		if code(err) != "AccessDenied" {
			t.Errorf("err %v, want AccessDenied", err)
		}
	})
	t.Run("unknown access key is AccessDenied, not InvalidClientTokenId", func(t *testing.T) {
		_, err := assumeRole(ctx, stsClient(s, "no-such-user", "whatever-secret"), sts.AssumeRoleInput{Policy: policy})
		if code(err) != "AccessDenied" {
			t.Errorf("err %v, want AccessDenied", err)
		}
	})
	t.Run("root keys can assume a role too, bounded by the session policy", func(t *testing.T) {
		out, err := assumeRole(ctx, stsClient(s, s.RootUser, s.RootPassword), sts.AssumeRoleInput{Policy: policy})
		if err != nil {
			t.Fatalf("AssumeRole with root keys: %v", err)
		}
		c := out.Credentials
		tmp := s.S3(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
		if err := put(ctx, tmp, s.Bucket, "ds-a/root", "y"); err != nil {
			t.Errorf("put inside the session policy: %v", err)
		}
		wantDenied(t, "put outside the session policy", put(ctx, tmp, s.Bucket, "ds-ab/root", "y"))
	})
	t.Run("a session policy cannot widen the user's policy", func(t *testing.T) {
		other := miniotest.Start(t)
		out, err := assumeRole(ctx, user, sts.AssumeRoleInput{Policy: aws.String(sessionPolicy(other.Bucket, "ds-a"))})
		if err != nil {
			t.Fatalf("AssumeRole with a policy for another bucket: %v", err)
		}
		c := out.Credentials
		tmp := s.S3(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
		wantDenied(t, "put in a bucket only the session policy allows", put(ctx, tmp, other.Bucket, "ds-a/x", "y"))
	})
	t.Run("S3 with a wrong secret or an unknown key", func(t *testing.T) {
		err := put(ctx, s.S3(s.UserAccessKey, "wrong-secret-key", ""), s.Bucket, "x", "y")
		if code(err) != "SignatureDoesNotMatch" {
			t.Errorf("wrong secret: err %v, want SignatureDoesNotMatch", err)
		}
		err = put(ctx, s.S3("no-such-user", "whatever-secret", ""), s.Bucket, "x", "y")
		if code(err) != "InvalidAccessKeyId" {
			t.Errorf("unknown key: err %v, want InvalidAccessKeyId", err)
		}
	})
	t.Run("temporary credentials cannot assume a role", func(t *testing.T) {
		out, err := assumeRole(ctx, user, sts.AssumeRoleInput{Policy: policy})
		if err != nil {
			t.Fatal(err)
		}
		c := out.Credentials
		tmp := sts.New(sts.Options{
			Region: s.Region, BaseEndpoint: aws.String(s.Endpoint),
			Credentials: credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken)),
		})
		_, err = assumeRole(ctx, tmp, sts.AssumeRoleInput{Policy: policy})
		if code(err) != "AccessDenied" {
			t.Errorf("err %v, want AccessDenied", err)
		}
	})
	t.Run("without a session policy the user's own policy applies", func(t *testing.T) {
		out, err := assumeRole(ctx, user, sts.AssumeRoleInput{})
		if err != nil {
			t.Fatal(err)
		}
		c := out.Credentials
		tmp := s.S3(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
		if err := put(ctx, tmp, s.Bucket, "anywhere/x", "y"); err != nil {
			t.Errorf("put with no session policy: %v", err)
		}
	})
}

// StartWith's CORS origin reaches MinIO: a preflight from that origin is allowed, one from
// another is not, and the default MinIO allows both; the two are different servers.
func TestStartWithCORSOrigin(t *testing.T) {
	allowed := func(s *miniotest.Server, origin string) bool {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodOptions, s.Endpoint+"/"+s.Bucket+"/k", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "GET")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get("Access-Control-Allow-Origin") != ""
	}
	only := miniotest.StartWith(t, miniotest.Options{CORSAllowOrigin: "http://a.test"})
	def := miniotest.Start(t)
	if only.Endpoint == def.Endpoint {
		t.Fatalf("StartWith shares the default MinIO at %s", def.Endpoint)
	}
	for _, tc := range []struct {
		s      *miniotest.Server
		origin string
		want   bool
	}{{only, "http://a.test", true}, {only, "http://b.test", false}, {def, "http://b.test", true}} {
		if got := allowed(tc.s, tc.origin); got != tc.want {
			t.Errorf("preflight from %s to %s: allowed %v, want %v", tc.origin, tc.s.Endpoint, got, tc.want)
		}
	}
}
