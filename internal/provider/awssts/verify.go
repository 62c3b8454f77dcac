package awssts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/provider"
	"github.com/tarnhq/tarn/location"
)

// Names of the checks Verify runs, in order.
const (
	CheckDiscovery          = provider.CheckDiscovery
	CheckAssumeRole         = "assume role"
	CheckExternalID         = "assume role without external ID is refused"
	CheckForeignSubject     = "token for another creds key's subject is refused"
	CheckList               = "list location"
	CheckProbe              = "probe object round trip"
	CheckReadRefusedWrite   = "read credential refused for write"
	CheckReadRefusedOutside = "read credential refused outside the prefix"
)

// verifySession is the role session name of Verify's AssumeRole calls.
const verifySession = "tarn-verify"

// Verify checks key against loc the way a vend uses it: it assumes the role with the
// external ID (CheckAssumeRole); on AWS, checks that the role refuses AssumeRole without the
// external ID (CheckExternalID; S3-compatible stores ignore external IDs, which is reported as
// a warning that passes). For source web-identity it first fetches the issuer's discovery
// document as the cloud does (CheckDiscovery), assumes the role with a token for the key's
// subject, and checks that a token for another creds key's subject is refused
// (CheckForeignSubject) instead of the external ID. It then lists the location and round-trips a probe object in it with a
// write credential; and checks that a read credential is refused for writes and outside the
// prefix. A failed check's detail names the likely cause and what to change. Checks that
// cannot run after a failure are left out. Verify writes and deletes only objects named
// .tarn-verify-* below loc.
func (d *Driver) Verify(ctx context.Context, key provider.Key, loc location.Location) []api.Check {
	var checks []api.Check
	add := func(name string, ok bool, detail string) {
		checks = append(checks, api.Check{Name: name, OK: ok, Detail: detail})
	}
	if loc.Scheme != location.S3 {
		add(CheckAssumeRole, false, fmt.Sprintf("%s is not an s3:// location", loc))
		return checks
	}
	cfg := key.Config
	web := cfg.Source == api.SourceWebIdentity
	if web {
		id, err := provider.IdentityOf(key, "source "+api.SourceWebIdentity)
		if err != nil {
			add(CheckDiscovery, false, errs.DetailOf(err))
			return checks
		}
		c := provider.DiscoveryCheck(ctx, d.issuerClient.Do, id.Issuer)
		if checks = append(checks, c); !c.OK {
			return checks
		}
	}
	write, err := d.assume(ctx, key, loc, api.ModeWrite, MinDuration, verifySession, proveKey)
	if err != nil {
		add(CheckAssumeRole, false, errs.DetailOf(err))
		return checks
	}
	add(CheckAssumeRole, true, "")

	switch {
	case web:
		ok, detail := d.foreignRefused(ctx, key, loc)
		add(CheckForeignSubject, ok, detail)
	case cfg.STSEndpoint != "":
		add(CheckExternalID, true, "warning: this store ignores external IDs (S3-compatible)")
	default:
		_, err := d.assume(ctx, key, loc, api.ModeRead, MinDuration, verifySession, proveNoExternalID)
		code := ""
		var e *errs.Error
		if errors.As(err, &e) {
			code, _ = awsError(e.Err)
		}
		switch {
		case err == nil:
			add(CheckExternalID, false, fmt.Sprintf("%s can be assumed without the external ID, so anyone it trusts can make tarn a confused deputy: add the condition StringEquals sts:ExternalId %q to its trust policy (tarn provision aws prints it)", cfg.RoleARN, cfg.ExternalID))
		case code == "AccessDenied":
			add(CheckExternalID, true, "")
		default:
			add(CheckExternalID, false, "could not tell: "+errs.DetailOf(err))
		}
	}

	w := d.s3Client(write.S3)
	bucketARN := "arn:" + partition(cfg) + ":s3:::" + loc.Bucket
	_, err = w.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(loc.Bucket), Prefix: aws.String(dirPrefix(loc.Path)), MaxKeys: aws.Int32(1)})
	add(CheckList, err == nil, s3Detail(err, cfg, loc, fmt.Sprintf("s3:ListBucket on %s for s3:prefix %q", bucketARN, dirPrefix(loc.Path)+"*")))

	probeKey := path.Join(loc.Path, "."+provider.ProbeName())
	err = roundTrip(ctx, w, loc.Bucket, probeKey)
	add(CheckProbe, err == nil, s3Detail(err, cfg, loc, "s3:PutObject, s3:GetObject and s3:DeleteObject on "+bucketARN+"/"+dirPrefix(loc.Path)+"*"))

	read, err := d.assume(ctx, key, loc, api.ModeRead, MinDuration, verifySession, proveKey)
	if err != nil {
		add(CheckReadRefusedWrite, false, "cannot get a read credential: "+errs.DetailOf(err))
		return checks
	}
	r := d.s3Client(read.S3)
	readKey := path.Join(loc.Path, "."+provider.ProbeName())
	_, err = r.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(loc.Bucket), Key: aws.String(readKey), Body: strings.NewReader("tarn verify probe")})
	switch {
	case err == nil:
		w.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(loc.Bucket), Key: aws.String(readKey)})
		add(CheckReadRefusedWrite, false, "a read credential could write "+objectURL(loc.Bucket, readKey)+": the store did not apply tarn's session policy; it cannot limit credentials to a mode")
	case denied(err):
		add(CheckReadRefusedWrite, true, "")
	default:
		add(CheckReadRefusedWrite, false, "could not tell: "+s3Detail(err, cfg, loc, "s3:PutObject"))
	}

	if loc.Path == "" {
		add(CheckReadRefusedOutside, true, fmt.Sprintf("the location is the whole bucket %s; nothing in it lies outside", loc.Root()))
		return checks
	}
	ok, detail := d.refusedOutside(ctx, r, cfg, loc)
	add(CheckReadRefusedOutside, ok, detail)
	return checks
}

// foreignRefused checks that the cloud refuses a token for another creds key's subject, or,
// on a store that hands out credentials whatever the subject and pins it in the role's
// permissions instead (MinIO's jwt:sub conditions), that those credentials cannot list loc.
func (d *Driver) foreignRefused(ctx context.Context, key provider.Key, loc location.Location) (bool, string) {
	cfg := key.Config
	accepted := fmt.Sprintf("%s accepts tarn's tokens for other creds keys' subjects: the role trusts other creds keys' subjects too: add a :sub condition "+
		"(StringEquals HOST:sub %q in its trust policy; tarn provision aws prints it)", cfg.RoleARN, key.Identity.Subject)
	if cfg.STSEndpoint != "" {
		accepted = fmt.Sprintf("credentials for another creds key's subject may list %s: the role trusts other creds keys' subjects too: add a :sub condition "+
			"(StringEquals jwt:sub %q on every statement of the store's role policy; tarn provision aws prints it)", loc, key.Identity.Subject)
	}
	c, err := d.assume(ctx, key, loc, api.ModeRead, MinDuration, verifySession, proveForeign)
	if err != nil {
		var e *errs.Error
		if errors.As(err, &e) && tokenRefused(e.Err, cfg) {
			return true, ""
		}
		return false, "could not tell: " + errs.DetailOf(err)
	}
	_, err = d.s3Client(c.S3).ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(loc.Bucket), Prefix: aws.String(dirPrefix(loc.Path)), MaxKeys: aws.Int32(1)})
	switch {
	case err == nil:
		return false, accepted
	case denied(err):
		return true, "the store hands out credentials for any subject but refuses their use (the role policy pins jwt:sub)"
	}
	return false, "could not tell: " + s3Detail(err, cfg, loc, "s3:ListBucket")
}

// tokenRefused reports whether err is the refusal of a web identity token: AccessDenied
// (a trust policy's conditions), InvalidIdentityToken or IDPRejectedClaim, and on an
// S3-compatible store InvalidParameterValue (how MinIO refuses a token).
func tokenRefused(err error, cfg api.CredsKeyConfig) bool {
	code, msg := awsError(err)
	switch code {
	case "AccessDenied", "InvalidIdentityToken", "IDPRejectedClaim":
		return true
	case "InvalidParameterValue":
		return cfg.STSEndpoint != "" && !unsupported(code, msg)
	}
	return false
}

// refusedOutside checks that a read credential for loc can neither read a sibling key that
// shares loc's prefix as a string (s3://b/p-tarn-verify-sibling/x next to s3://b/p) nor list
// loc's parent.
func (d *Driver) refusedOutside(ctx context.Context, r *s3.Client, cfg api.CredsKeyConfig, loc location.Location) (bool, string) {
	sibling := loc.Path + "-tarn-verify-sibling/x"
	_, err := r.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(loc.Bucket), Key: aws.String(sibling)})
	switch {
	case err == nil || isCode(err, "NoSuchKey", "NotFound"):
		return false, fmt.Sprintf("a read credential for %s may read %s: the session policy is not limited to the prefix (the store did not apply it?)", loc, objectURL(loc.Bucket, sibling))
	case !denied(err):
		return false, "could not tell: " + s3Detail(err, cfg, loc, "s3:GetObject")
	}
	parent := dirPrefix(path.Dir(loc.Path))
	if parent == "./" {
		parent = ""
	}
	_, err = r.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(loc.Bucket), Prefix: aws.String(parent), MaxKeys: aws.Int32(1)})
	switch {
	case err == nil:
		return false, fmt.Sprintf("a read credential for %s may list %s: the session policy's s3:prefix condition was not applied", loc, objectURL(loc.Bucket, parent))
	case !denied(err):
		return false, "could not tell: " + s3Detail(err, cfg, loc, "s3:ListBucket")
	}
	return true, ""
}

// roundTrip writes, reads back and deletes a probe object.
func roundTrip(ctx context.Context, c *s3.Client, bucket, key string) error {
	want := []byte("tarn verify probe")
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(want)}); err != nil {
		return fmt.Errorf("write %s: %w", objectURL(bucket, key), err)
	}
	del := func() error {
		_, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		return err
	}
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		del()
		return fmt.Errorf("read back %s: %w", objectURL(bucket, key), err)
	}
	got, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err != nil || !bytes.Equal(got, want) {
		del()
		return fmt.Errorf("read back %s: the content differs from what was written", objectURL(bucket, key))
	}
	if err := del(); err != nil {
		return fmt.Errorf("delete %s: %w", objectURL(bucket, key), err)
	}
	return nil
}

// s3Client returns an S3 client that uses vended credentials c.
func (d *Driver) s3Client(c *api.S3Credentials) *s3.Client {
	o := s3.Options{
		Region:       c.Region,
		Credentials:  credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken),
		UsePathStyle: c.PathStyle,
		Retryer:      d.retryer(time.Time{}),
	}
	if c.Endpoint != "" {
		o.BaseEndpoint = aws.String(c.Endpoint)
		// S3-compatible stores vary in their support of the SDK's default checksums.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	}
	if d.httpClient != nil {
		o.HTTPClient = d.httpClient
	}
	return s3.New(o)
}

// dirPrefix returns p as a listing prefix: "" for the bucket root, else p + "/".
func dirPrefix(p string) string {
	if p == "" || p == "." {
		return ""
	}
	return p + "/"
}

func objectURL(bucket, key string) string { return "s3://" + bucket + "/" + key }

func isCode(err error, codes ...string) bool {
	code, _ := awsError(err)
	for _, c := range codes {
		if code == c {
			return true
		}
	}
	return false
}

func denied(err error) bool { return isCode(err, "AccessDenied", "Forbidden") }

// s3Detail explains an S3 error for a verify check; needs names the permissions the step
// needs. It names the S3 error code, never the store's message. It returns "" for a nil
// error.
func s3Detail(err error, cfg api.CredsKeyConfig, loc location.Location, needs string) string {
	if err == nil {
		return ""
	}
	code, msg := awsError(err)
	what := code
	lower := strings.ToLower(code + " " + msg)
	switch {
	case strings.Contains(lower, "kms"):
		return fmt.Sprintf("%s; KMS: the credential may not use the bucket's encryption key: set kms_key_arn to it and allow kms:Decrypt and kms:GenerateDataKey* on it in the role's policy", what)
	case (code == "AccessDenied" || code == "Forbidden") && cfg.STSEndpoint != "":
		return fmt.Sprintf("%s; the policy of the store's user %s must allow %s; tarn provision aws prints a policy that does", what, cfg.AccessKeyID, needs)
	case code == "AccessDenied" || code == "Forbidden":
		return fmt.Sprintf("%s; the role's permission policy (or the bucket policy) must allow %s; tarn provision aws prints a policy that does", what, needs)
	case code == "NoSuchBucket":
		return fmt.Sprintf("%s; bucket %s does not exist at this endpoint", what, loc.Bucket)
	case code == "PermanentRedirect" || code == "AuthorizationHeaderMalformed" || code == "IllegalLocationConstraintException":
		return fmt.Sprintf("%s; bucket %s is not in region %s: set region to the bucket's", what, loc.Bucket, cfg.Region)
	case code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch" || code == "InvalidToken":
		return fmt.Sprintf("%s; the store does not accept the credentials STS issued: do sts_endpoint and s3_endpoint point at the same store?", what)
	case code != "":
		return what
	}
	var op *smithy.OperationError
	if !errors.As(err, &op) {
		return err.Error() // tarn's own words (roundTrip)
	}
	return "S3: " + upstreamFailure(err)
}

// CallerARN returns the ARN of the identity that key calls STS with: the access key
// AccessKeyID with the key's secret for source "access-key", the server's AWS default
// credential chain for source "default"; an error of kind Invalid for source
// "web-identity", which has no AWS identity of its own. It uses sts:GetCallerIdentity. Provision takes the answer as
// the principal of the trust policy. Errors are classified as those of a vend (Upstream for
// a refusal, such as a store that does not implement GetCallerIdentity, Unavailable for an
// endpoint that cannot answer now) and carry the AWS error code, never the endpoint's
// message nor the secret.
func (d *Driver) CallerARN(ctx context.Context, key provider.Key) (string, error) {
	if key.Config.Source == api.SourceWebIdentity {
		return "", errs.E(errs.Invalid, "creds key %s/%s has source %q: it calls STS with tarn's own token, not as an AWS identity", key.Org, key.Name, api.SourceWebIdentity)
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	creds, err := d.sourceCredentials(ctx, key)
	if err != nil {
		return "", err
	}
	out, err := d.stsClient(ctx, key.Config, creds).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		detail := "GetCallerIdentity failed: " + upstreamFailure(err)
		code, msg := awsError(err)
		switch {
		case unsupported(code, msg):
			detail += "; the store does not implement sts:GetCallerIdentity (S3-compatible stores such as MinIO do not), so tarn cannot tell who assumes the role: " +
				"give the principal with --principal-arn, or, on such a store, which has no trust policies, attach the permission policy to its user " + key.Config.AccessKeyID
			return "", errs.Wrap(errs.Upstream, err, detail)
		case code != "":
			detail += "; " + assumeHint(code, msg, key.Config)
		}
		return "", errs.Wrap(classify(err), err, detail+"; or give the principal with --principal-arn")
	}
	return aws.ToString(out.Arn), nil
}

// unsupported reports whether an error answer says that the endpoint does not implement
// the action: NotImplemented, InvalidAction, or MinIO's InvalidParameterValue "Unsupported
// action".
func unsupported(code, msg string) bool {
	switch code {
	case "NotImplemented", "InvalidAction", "UnknownOperationException":
		return true
	case "InvalidParameterValue":
		return strings.Contains(strings.ToLower(msg), "unsupported action")
	}
	return false
}
