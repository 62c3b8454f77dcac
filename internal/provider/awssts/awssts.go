// Package awssts is the provider "aws": it vends credentials for AWS S3 and S3-compatible
// stores (MinIO) with one STS AssumeRole per vend. The role is assumed with an inline session
// policy that limits the temporary credentials to one location prefix and one mode, and with
// the creds key's server-generated external ID, so a role that trusts tarn cannot be used by a
// confused deputy.
//
// The driver's own identity, the one that calls AssumeRole, is either the server's AWS
// default credential chain (Source "default") or an access key stored encrypted in the creds
// key (Source "access-key", the usual choice for S3-compatible stores). With Source
// "web-identity" no identity of the driver's own is used and nothing secret is stored: each
// vend calls AssumeRoleWithWebIdentity with a token of tarn's own OIDC issuer whose subject
// names the creds key (the role's trust policy pins it, as the external ID does for
// AssumeRole), with the same session policy.
package awssts

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/issuer"
	"github.com/tarnhq/tarn/internal/netguard"
	"github.com/tarnhq/tarn/internal/provider"
	"github.com/tarnhq/tarn/location"
)

// Name is the provider name of this driver.
const Name = api.ProviderAWS

// Defaults and bounds of a creds key's configuration.
const (
	DefaultRegion      = "us-east-1"
	DefaultMaxDuration = 3600  // seconds
	MinDuration        = 900   // seconds; the shortest session STS grants
	MaxDuration        = 43200 // seconds; the longest role session AWS allows
)

// Options configure a Driver. The zero value is usable.
type Options struct {
	// DefaultCredentials are the server's own AWS credentials, used by creds keys with Source
	// "default". Nil means the AWS default credential chain, loaded with
	// config.LoadDefaultConfig on first use.
	DefaultCredentials aws.CredentialsProvider
	// Guard checks the sts_endpoint and s3_endpoint of creds keys when they are configured,
	// and every connection to STS and S3 when it is made; nil means a guard that allows
	// public addresses only.
	Guard *netguard.Guard
	// Transport, when set, builds the transport of STS and S3 requests around the guard's
	// dial function; tests use it to send the requests meant for AWS to a stand-in.
	Transport func(dial netguard.DialFunc) http.RoundTripper
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Timeout bounds each call to STS, the SDK's retries included, and each attempt of a
	// call to S3, so that a frozen endpoint fails the call with an error of kind Unavailable
	// instead of holding it. Zero means DefaultTimeout.
	Timeout time.Duration
}

// DefaultTimeout is how long one call to STS may take when Options.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// MaxAttempts is how many times one call to STS or S3 is tried: an answer that retrying may
// fix (throttling, a 5xx status, no answer at all) is retried after a jittered exponential
// backoff of at most maxBackoff. A retry of an STS call is made only while at least a
// quarter of Options.Timeout remains after its backoff; otherwise the call fails at once
// with the last answer (e.g. Throttling) rather than with a timeout.
const MaxAttempts = 3

// maxBackoff bounds the wait before a retry.
const maxBackoff = 2 * time.Second

// Driver vends AWS and S3-compatible credentials. It is safe for concurrent use.
type Driver struct {
	guard      *netguard.Guard
	httpClient *http.Client
	// issuerClient fetches tarn's own discovery document (Verify): the public URL is the
	// operator's, not an org's, so it is not the guard's to check.
	issuerClient *http.Client
	now          func() time.Time
	timeout      time.Duration
	backoff      retry.BackoffDelayer // the wait before a retry; tests replace it

	mu           sync.Mutex
	defaultCreds aws.CredentialsProvider // nil until loaded
}

// New returns a driver with the given options.
func New(o Options) *Driver {
	d := &Driver{guard: o.Guard, now: o.Now, timeout: o.Timeout, backoff: retry.NewExponentialJitterBackoff(maxBackoff)}
	if d.guard == nil {
		d.guard = &netguard.Guard{}
	}
	if d.timeout <= 0 {
		d.timeout = DefaultTimeout
	}
	d.httpClient = d.guard.Client(netguard.ClientOptions{Timeout: d.timeout, Transport: o.Transport})
	d.issuerClient = &http.Client{Timeout: d.timeout}
	if d.now == nil {
		d.now = time.Now
	}
	if o.DefaultCredentials != nil {
		d.defaultCreds = cached(o.DefaultCredentials)
	}
	return d
}

func cached(p aws.CredentialsProvider) aws.CredentialsProvider {
	if _, ok := p.(*aws.CredentialsCache); ok {
		return p
	}
	return aws.NewCredentialsCache(p)
}

// UsesExternalID reports true: the Vendor generates and keeps an external ID for every creds
// key of this provider, and every AssumeRole sends it.
func (d *Driver) UsesExternalID() bool { return true }

var (
	// An IAM role ARN: partition, 12-digit account, optional path, name.
	roleARNRe = regexp.MustCompile(`^arn:(aws(?:-[a-z]+)*):iam::\d{12}:role/(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}$`)
	// Any ARN-looking string, for S3-compatible stores that ignore the role (arn:minio:...).
	anyARNRe  = regexp.MustCompile(`^arn:[A-Za-z0-9-]+:\S+$`)
	kmsARNRe  = regexp.MustCompile(`^arn:aws(?:-[a-z]+)*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+$`)
	awsRegion = regexp.MustCompile(`^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$`)
	anyRegion = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$`)
	keyIDRe   = regexp.MustCompile(`^[\x21-\x7e]{3,128}$`)
)

// CheckConfig validates an aws creds key configuration and returns it in canonical form,
// with Region, Source and MaxDurationSeconds defaulted and endpoints without a trailing
// slash. It returns an error of kind Invalid naming the bad field, and for an endpoint
// whose host resolves to an address the driver's guard refuses (loopback, private, CGNAT,
// link-local, metadata, ...) one that names the address and the flag that allows it.
func (d *Driver) CheckConfig(ctx context.Context, cfg api.CredsKeyConfig, check provider.ConfigCheck) (api.CredsKeyConfig, error) {
	if f := foreignField(cfg); f != "" {
		return cfg, errs.E(errs.Invalid, "provider aws does not take %s", f)
	}
	if len(cfg.Roots) == 0 {
		return cfg, errs.E(errs.Invalid, "provider aws needs at least one s3:// root (--allowed)").In("roots")
	}
	for _, r := range cfg.Roots {
		l, err := location.ParseStorage(r)
		if err != nil || l.Scheme != location.S3 {
			return cfg, errs.E(errs.Invalid, "provider aws takes s3:// roots, not %s", r).WithCode(api.CodeInvalidLocation).In("roots")
		}
	}
	var err error
	if cfg.STSEndpoint, err = d.checkEndpoint(ctx, "sts_endpoint", cfg.STSEndpoint); err != nil {
		return cfg, err
	}
	if cfg.S3Endpoint, err = d.checkEndpoint(ctx, "s3_endpoint", cfg.S3Endpoint); err != nil {
		return cfg, err
	}
	if (cfg.STSEndpoint == "") != (cfg.S3Endpoint == "") {
		return cfg, errs.E(errs.Invalid, "sts_endpoint and s3_endpoint go together: set both for an S3-compatible store, neither for AWS").In("sts_endpoint")
	}
	compatible := cfg.STSEndpoint != ""
	switch {
	case cfg.RoleARN == "":
		return cfg, errs.E(errs.Invalid, "role_arn is required: the ARN of the IAM role tarn assumes (tarn provision aws prints its policies)").In("role_arn")
	case !compatible && !roleARNRe.MatchString(cfg.RoleARN):
		return cfg, errs.E(errs.Invalid, "role_arn %q is not an IAM role ARN like arn:aws:iam::123456789012:role/NAME", cfg.RoleARN).In("role_arn")
	case compatible && !anyARNRe.MatchString(cfg.RoleARN):
		return cfg, errs.E(errs.Invalid, "role_arn %q is not an ARN (S3-compatible stores ignore it, but it must look like arn:PARTITION:...)", cfg.RoleARN).In("role_arn")
	}
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	if (!compatible && !awsRegion.MatchString(cfg.Region)) || !anyRegion.MatchString(cfg.Region) {
		return cfg, errs.E(errs.Invalid, "region %q is not a region name like us-east-1", cfg.Region).In("region")
	}
	if cfg.KMSKeyARN != "" && compatible {
		return cfg, errs.E(errs.Invalid, "kms_key_arn is for AWS KMS; S3-compatible stores do not take AWS KMS keys in session policies (leave it out)").In("kms_key_arn")
	}
	if cfg.KMSKeyARN != "" && !kmsARNRe.MatchString(cfg.KMSKeyARN) {
		return cfg, errs.E(errs.Invalid, "kms_key_arn %q is not a KMS key ARN like arn:aws:kms:us-east-1:123456789012:key/ID (aliases are not accepted)", cfg.KMSKeyARN).In("kms_key_arn")
	}
	if cfg.Source == "" {
		cfg.Source = api.SourceDefault
	}
	switch cfg.Source {
	case api.SourceDefault:
		if cfg.AccessKeyID != "" || check.HasSecret {
			return cfg, errs.E(errs.Invalid, "access_key_id and a secret go with source %q, not %q", api.SourceAccessKey, api.SourceDefault).In("access_key_id")
		}
		if cfg.STSEndpoint != "" {
			// The server's own AWS identity signs only for AWS, never for a host an org admin names.
			return cfg, errs.E(errs.Invalid, "an S3-compatible store (sts_endpoint) needs source %q with that store's access key", api.SourceAccessKey).In("source")
		}
	case api.SourceWebIdentity:
		if cfg.AccessKeyID != "" || check.HasSecret {
			return cfg, errs.E(errs.Invalid, "source %q stores no secret: leave out access_key_id and the secret (tarn's issuer token replaces them)", api.SourceWebIdentity).In("access_key_id")
		}
		if check.Issuer == "" {
			return cfg, provider.NeedsIssuer("source " + api.SourceWebIdentity)
		}
	case api.SourceAccessKey:
		if !keyIDRe.MatchString(cfg.AccessKeyID) {
			return cfg, errs.E(errs.Invalid, "source %q needs access_key_id (3 to 128 printable characters)", api.SourceAccessKey).In("access_key_id")
		}
		if !check.HasSecret {
			return cfg, errs.E(errs.Invalid, "source %q needs the secret access key as the creds key's secret", api.SourceAccessKey).In("secret")
		}
	default:
		return cfg, errs.E(errs.Invalid, "source %q is not %q (the server's AWS credentials), %q or %q (tarn's own OIDC token)", cfg.Source, api.SourceDefault, api.SourceAccessKey, api.SourceWebIdentity).In("source")
	}
	if cfg.ExternalID == "" {
		return cfg, errs.E(errs.Invalid, "external_id is missing; the server generates it")
	}
	if cfg.MaxDurationSeconds == 0 {
		cfg.MaxDurationSeconds = DefaultMaxDuration
	}
	if cfg.MaxDurationSeconds < MinDuration || cfg.MaxDurationSeconds > MaxDuration {
		return cfg, errs.E(errs.Invalid, "max_duration_seconds %d is outside %d..%d", cfg.MaxDurationSeconds, MinDuration, MaxDuration).In("max_duration_seconds")
	}
	return cfg, nil
}

// foreignField returns the JSON name of the first set field of cfg that provider aws does
// not read, or "".
func foreignField(cfg api.CredsKeyConfig) string {
	own := api.CredsKeyConfig{
		Roots: cfg.Roots, RoleARN: cfg.RoleARN, Region: cfg.Region, KMSKeyARN: cfg.KMSKeyARN,
		STSEndpoint: cfg.STSEndpoint, S3Endpoint: cfg.S3Endpoint, PathStyle: cfg.PathStyle,
		Source: cfg.Source, AccessKeyID: cfg.AccessKeyID, ExternalID: cfg.ExternalID,
		MaxDurationSeconds: cfg.MaxDurationSeconds,
	}
	return provider.ForeignField(cfg, own)
}

// checkEndpoint validates an http(s) endpoint URL without path, query or user information
// whose host the guard accepts, and returns it without a trailing slash.
func (d *Driver) checkEndpoint(ctx context.Context, field, s string) (string, error) {
	if s == "" {
		return "", nil
	}
	bad := func(why string) (string, error) {
		return "", errs.E(errs.Invalid, "%s %q %s; use a URL like http://127.0.0.1:9000", field, s, why).In(field)
	}
	u, why := provider.ParseEndpoint(s)
	switch {
	case why != "":
		return bad(why)
	case u.Path != "" && u.Path != "/":
		return bad("has a path")
	}
	canon := u.Scheme + "://" + u.Host
	if err := d.guard.CheckURL(ctx, field, canon); err != nil {
		return "", err
	}
	return canon, nil
}

// Vend assumes the creds key's role with a session policy limited to req.Location and
// req.Mode. The lifetime is req.TTL (MaxDurationSeconds when zero), capped at
// MaxDurationSeconds and at least 15 minutes. It returns an error of kind Invalid for a
// location that is not s3://, whose policy is too long, or, on an S3-compatible store, whose
// prefix holds "*", "?" or "$" (such stores do not implement IAM's escapes), of kind Upstream
// when STS refuses for a reason retrying will not fix (see classify), and of kind Unavailable
// when STS cannot be reached, does not answer within the driver's timeout, throttles or
// fails on its side; errors carry the AWS error code, never the endpoint's message nor a
// secret.
func (d *Driver) Vend(ctx context.Context, req provider.Request) (*api.Credentials, error) {
	seconds := durationSeconds(req.TTL, req.Key.Config.MaxDurationSeconds)
	creds, err := d.assume(ctx, req.Key, req.Location, req.Mode, seconds, SessionName(req.Session), proveKey)
	if err != nil {
		return nil, err
	}
	// Clients connect to the S3 endpoint the answer names, never through tarn: check it again,
	// so that a name re-pointed at an internal address since the key was saved is not handed
	// to them (their own networks are not the server's to expose).
	if ep := req.Key.Config.S3Endpoint; ep != "" {
		if err := d.guard.CheckURL(ctx, "s3_endpoint", ep); err != nil {
			return nil, errs.Wrap(errs.Unavailable, err, fmt.Sprintf("creds key %s/%s: %s", req.Key.Org, req.Key.Name, errs.DetailOf(err)))
		}
	}
	return creds, nil
}

// durationSeconds returns the session length for a requested ttl.
func durationSeconds(ttl time.Duration, maxSeconds int64) int32 {
	if maxSeconds <= 0 {
		maxSeconds = DefaultMaxDuration
	}
	s := int64(ttl / time.Second)
	if s <= 0 || s > maxSeconds {
		s = maxSeconds
	}
	return int32(max(s, MinDuration))
}

// partition returns the ARN partition of the key's role (aws, aws-cn, aws-us-gov), "aws" for
// S3-compatible stores.
func partition(cfg api.CredsKeyConfig) string {
	if cfg.STSEndpoint == "" {
		if m := roleARNRe.FindStringSubmatch(cfg.RoleARN); m != nil {
			return m[1]
		}
	}
	return "aws"
}

// proof is what an assume call presents to STS besides the session policy.
type proof int

const (
	// proveKey presents what a vend does: the key's external ID to AssumeRole, or a token
	// for the key's own subject to AssumeRoleWithWebIdentity.
	proveKey proof = iota
	// proveNoExternalID leaves the external ID out: Verify's negative check of AssumeRole.
	proveNoExternalID
	// proveForeign presents a token for another creds key's subject: Verify's negative
	// check of AssumeRoleWithWebIdentity.
	proveForeign
)

// assume calls AssumeRole (AssumeRoleWithWebIdentity for source web-identity) for loc and
// mode with proof p and returns the answer as credentials.
func (d *Driver) assume(ctx context.Context, key provider.Key, loc location.Location, mode string, seconds int32, session string, p proof) (*api.Credentials, error) {
	cfg := key.Config
	if loc.Scheme != location.S3 {
		return nil, errs.E(errs.Invalid, "provider aws cannot vend for %s: not an s3:// location", loc).WithCode(api.CodeInvalidLocation)
	}
	if cfg.STSEndpoint != "" && strings.ContainsAny(loc.Path, "*?$") {
		// MinIO and its kind do not implement IAM's ${*} escapes: a policy for such a prefix
		// would either match other prefixes or nothing.
		return nil, errs.E(errs.Invalid, "%s cannot be vended on an S3-compatible store: its session policies cannot limit credentials to a prefix containing *, ? or $; rename the location", loc).WithCode(api.CodeInvalidLocation)
	}
	policy, err := sessionPolicy(partition(cfg), loc, mode, cfg.KMSKeyARN)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	var c *types.Credentials
	if cfg.Source == api.SourceWebIdentity {
		c, err = d.assumeWithToken(ctx, key, session, seconds, policy, p == proveForeign)
	} else {
		c, err = d.assumeRole(ctx, key, session, seconds, policy, p != proveNoExternalID)
	}
	if err != nil {
		return nil, err
	}
	if c == nil || c.AccessKeyId == nil || c.SecretAccessKey == nil {
		return nil, errs.E(errs.Upstream, "%s of %s answered without credentials; is sts_endpoint an STS endpoint?", operation(cfg), cfg.RoleARN)
	}
	exp := d.now().Add(time.Duration(seconds) * time.Second)
	if c.Expiration != nil {
		exp = *c.Expiration
	}
	return &api.Credentials{
		Location:  loc.String(),
		Mode:      mode,
		Provider:  Name,
		ExpiresAt: exp.UTC().Truncate(time.Second),
		S3: &api.S3Credentials{
			AccessKeyID:     aws.ToString(c.AccessKeyId),
			SecretAccessKey: aws.ToString(c.SecretAccessKey),
			SessionToken:    aws.ToString(c.SessionToken),
			Region:          cfg.Region,
			Endpoint:        cfg.S3Endpoint,
			PathStyle:       cfg.PathStyle,
		},
	}, nil
}

// operation returns the STS action that vends for cfg.
func operation(cfg api.CredsKeyConfig) string {
	if cfg.Source == api.SourceWebIdentity {
		return "AssumeRoleWithWebIdentity"
	}
	return "AssumeRole"
}

// assumeRole calls AssumeRole, signed with the key's source credentials, with the external
// ID unless withExternalID is false.
func (d *Driver) assumeRole(ctx context.Context, key provider.Key, session string, seconds int32, policy string, withExternalID bool) (*types.Credentials, error) {
	creds, err := d.sourceCredentials(ctx, key)
	if err != nil {
		return nil, err
	}
	in := &sts.AssumeRoleInput{
		RoleArn:         aws.String(key.Config.RoleARN),
		RoleSessionName: aws.String(session),
		DurationSeconds: aws.Int32(seconds),
		Policy:          aws.String(policy),
	}
	if withExternalID {
		in.ExternalId = aws.String(key.Config.ExternalID)
	}
	out, err := d.stsClient(ctx, key.Config, creds).AssumeRole(ctx, in)
	if err != nil {
		return nil, assumeError(key, err)
	}
	return out.Credentials, nil
}

// assumeWithToken calls AssumeRoleWithWebIdentity, unsigned, with a token of tarn's issuer
// for the key's subject, or with foreign for another creds key's subject. The token is in
// no error it returns.
func (d *Driver) assumeWithToken(ctx context.Context, key provider.Key, session string, seconds int32, policy string, foreign bool) (*types.Credentials, error) {
	id, err := provider.IdentityOf(key, "source "+api.SourceWebIdentity)
	if err != nil {
		return nil, err
	}
	var token string
	switch {
	case !foreign:
		token, err = id.Token(ctx, api.AudienceAWS)
	case id.Foreign == nil:
		err = errs.E(errs.Internal, "the issuer mints no tokens for other subjects")
	default:
		token, _, err = id.Foreign(ctx, api.AudienceAWS)
	}
	if err != nil {
		return nil, err
	}
	out, err := d.stsClient(ctx, key.Config, aws.AnonymousCredentials{}).AssumeRoleWithWebIdentity(ctx, &sts.AssumeRoleWithWebIdentityInput{
		RoleArn:          aws.String(key.Config.RoleARN),
		RoleSessionName:  aws.String(session),
		DurationSeconds:  aws.Int32(seconds),
		Policy:           aws.String(policy),
		WebIdentityToken: aws.String(token),
	})
	if err != nil {
		return nil, assumeError(key, err)
	}
	return out.Credentials, nil
}

// stsClient returns an STS client for one call that signs with creds and makes no retry
// past ctx's deadline (see MaxAttempts). Clients are cheap to build; the server's default
// credentials are cached across them.
func (d *Driver) stsClient(ctx context.Context, cfg api.CredsKeyConfig, creds aws.CredentialsProvider) *sts.Client {
	deadline, _ := ctx.Deadline()
	o := sts.Options{Region: region(cfg), Credentials: creds, Retryer: d.retryer(deadline)}
	if cfg.STSEndpoint != "" {
		o.BaseEndpoint = aws.String(cfg.STSEndpoint)
	}
	if d.httpClient != nil {
		o.HTTPClient = d.httpClient
	}
	return sts.New(o)
}

// retryer returns the retryer of a call that must end by deadline (none when zero): at most
// MaxAttempts attempts, and no retry that would start with less than a quarter of the
// driver's timeout left.
func (d *Driver) retryer(deadline time.Time) aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = MaxAttempts
		o.MaxBackoff = maxBackoff
		o.Backoff = retry.BackoffDelayerFunc(func(attempt int, err error) (time.Duration, error) {
			wait, berr := d.backoff.BackoffDelay(attempt, err)
			if berr == nil && !deadline.IsZero() && time.Until(deadline)-wait < d.timeout/4 {
				return 0, err // fail with the last answer, not with the deadline
			}
			return wait, berr
		})
	})
}

func region(cfg api.CredsKeyConfig) string {
	if cfg.Region == "" {
		return DefaultRegion
	}
	return cfg.Region
}

// sourceCredentials returns the credentials that call STS for key: its access key, or the
// server's default credentials. Errors retrieving them are marked as sourceError.
func (d *Driver) sourceCredentials(ctx context.Context, key provider.Key) (aws.CredentialsProvider, error) {
	if key.Config.Source == api.SourceAccessKey {
		if len(key.Secret) == 0 {
			return nil, errs.E(errs.Invalid, "creds key %s/%s has source %q but no secret; set it again with tarn creds add", key.Org, key.Name, api.SourceAccessKey)
		}
		return credentials.NewStaticCredentialsProvider(key.Config.AccessKeyID, string(key.Secret), ""), nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.defaultCreds == nil {
		c, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(region(key.Config)))
		if err != nil {
			return nil, errs.Wrap(errs.Unavailable, err, "cannot load the server's AWS configuration: check AWS_* variables and ~/.aws/config of the tarn server")
		}
		if c.Credentials == nil {
			return nil, errs.E(errs.Unavailable, "the tarn server has no AWS credentials (default chain); configure them or use source %q", api.SourceAccessKey)
		}
		d.defaultCreds = cached(c.Credentials)
	}
	return sourceProvider{d.defaultCreds}, nil
}

// sourceProvider marks failures to retrieve the server's own credentials.
type sourceProvider struct{ p aws.CredentialsProvider }

func (s sourceProvider) Retrieve(ctx context.Context) (aws.Credentials, error) {
	c, err := s.p.Retrieve(ctx)
	if err != nil {
		return c, &sourceError{err}
	}
	return c, nil
}

type sourceError struct{ err error }

func (e *sourceError) Error() string {
	return "retrieve the server's AWS credentials: " + e.err.Error()
}
func (e *sourceError) Unwrap() error { return e.err }

// awsError returns the AWS error code and message of err, or two empty strings. The code
// is cut to what an AWS error code may hold (safeCode); the message is for classifying the
// error only, never for showing: an endpoint may be any service that answers with an XML
// error, and its message could carry that service's secrets.
func awsError(err error) (code, msg string) {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return safeCode(ae.ErrorCode()), ae.ErrorMessage()
	}
	return "", ""
}

// safeCode returns code if it looks like an error code (at most 48 of A-Z, a-z, 0-9, ".",
// "_", "-"), else "".
func safeCode(code string) string {
	if !codeRe.MatchString(code) {
		return ""
	}
	return code
}

var codeRe = regexp.MustCompile(`^[A-Za-z0-9._-]{1,48}$`)

// upstreamFailure describes an error of a request to STS or S3 in tarn's words: the AWS
// error code when the endpoint answered one, else that the endpoint cannot be reached (with
// the guard's reason when the guard refused its address), or that its answer could not be
// used. It never includes the endpoint's own message, nor whether a connection was refused
// or timed out.
func upstreamFailure(err error) string {
	if code, _ := awsError(err); code != "" {
		return code
	}
	var (
		se      *sourceError
		refused *netguard.RefusedError
		ae      smithy.APIError
		send    *smithyhttp.RequestSendError
		op      *net.OpError
		dns     *net.DNSError
	)
	switch {
	case errors.As(err, &se):
		return "the tarn server's own AWS credentials are unavailable (default chain): configure them on the server or use source access-key"
	case errors.As(err, &refused):
		return "cannot reach the endpoint: " + refused.Error()
	case errors.As(err, &ae):
		return "the endpoint answered an error without a usable error code"
	case errors.As(err, &send), errors.As(err, &op), errors.As(err, &dns),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "cannot reach the endpoint"
	}
	return "the endpoint's answer could not be used"
}

// assumeHint tells what to check for an AssumeRole error code and message.
func assumeHint(code, msg string, cfg api.CredsKeyConfig) string {
	lower := strings.ToLower(msg)
	if code == "AccessDenied" && (strings.Contains(lower, "signature") || strings.Contains(lower, "access key") || strings.Contains(lower, "security token")) {
		code = "SignatureDoesNotMatch" // how S3-compatible stores report a bad source key
	}
	switch code {
	case "AccessDenied":
		if cfg.STSEndpoint != "" {
			return "the store refused AssumeRole for this access key: S3-compatible stores such as MinIO grant it only to regular users, not to temporary credentials or service accounts"
		}
		return "check the role's trust policy (it must trust tarn's principal) and its sts:ExternalId condition (tarn provision aws prints both)"
	case "InvalidClientTokenId", "SignatureDoesNotMatch", "InvalidAccessKeyId", "UnrecognizedClientException", "IncompleteSignature", "ExpiredToken":
		if cfg.Source == api.SourceAccessKey {
			return fmt.Sprintf("the access key %s or its secret was refused; set them again with tarn creds add", cfg.AccessKeyID)
		}
		return "the tarn server's own AWS credentials were refused; check them on the server"
	case "ValidationError":
		return "check role_arn and max_duration_seconds (it may not exceed the role's maximum session duration, nor 1 hour when the server's identity is itself a role session)"
	case "MalformedPolicyDocument", "PackedPolicyTooLarge":
		return "the store refused tarn's session policy; use a shorter or simpler location"
	case "RegionDisabledException":
		return fmt.Sprintf("activate STS in region %s or choose another region", cfg.Region)
	}
	if unsupported(code, msg) {
		return "the endpoint does not implement STS AssumeRole; is sts_endpoint the store's STS endpoint?"
	}
	if transientCodes[code] {
		return "the endpoint is busy or failing; try again later"
	}
	return "check the role's trust policy and external ID"
}

// webIdentityHint tells what to check when AssumeRoleWithWebIdentity of key (source
// web-identity) fails with code: false when the key has another source or the hint is the
// one of AssumeRole's.
func webIdentityHint(key provider.Key, code, msg string) (string, bool) {
	cfg := key.Config
	if cfg.Source != api.SourceWebIdentity || key.Identity == nil || unsupported(code, msg) {
		return "", false
	}
	id := key.Identity
	switch {
	case code == "IDPCommunicationError":
		return fmt.Sprintf("the cloud could not fetch tarn's discovery and keys below %s: that URL must be reachable from it", id.Issuer), true
	case cfg.STSEndpoint != "" && (code == "AccessDenied" || code == "InvalidParameterValue"):
		return fmt.Sprintf("check the store's OpenID configuration: config URL %s%s, client ID %s, a role policy that allows the location, and role_arn the role ARN the store reports", strings.TrimSuffix(id.Issuer, "/"), issuer.DiscoveryPath, api.AudienceAWS), true
	case code == "InvalidIdentityToken", code == "ExpiredTokenException", code == "IDPRejectedClaim", code == "AccessDenied":
		return fmt.Sprintf("check that IAM has an OpenID Connect provider for %s and that the role's trust policy names it, audience %s and subject %s (tarn provision aws prints it)", id.Issuer, api.AudienceAWS, id.Subject), true
	}
	return "", false
}

// assumeError classifies an AssumeRole failure (see classify). The detail names the AWS
// error code and what to check, never the endpoint's message.
func assumeError(key provider.Key, err error) error {
	var e *errs.Error
	if errors.As(err, &e) {
		return err
	}
	cfg := key.Config
	detail := fmt.Sprintf("%s of %s failed: %s", operation(cfg), cfg.RoleARN, upstreamFailure(err))
	if code, msg := awsError(err); code != "" {
		hint, ok := webIdentityHint(key, code, msg)
		if !ok {
			hint = assumeHint(code, msg, cfg)
		}
		detail += fmt.Sprintf("; %s (tarn creds verify %s/%s)", hint, key.Org, key.Name)
	}
	return errs.Wrap(classify(err), err, detail)
}

// transientCodes are the AWS error codes of failures that go away by themselves:
// throttling and the endpoint's own failures.
var transientCodes = map[string]bool{
	"Throttling": true, "ThrottlingException": true, "ThrottledException": true, "RequestThrottled": true,
	"RequestThrottledException": true, "RequestLimitExceeded": true, "TooManyRequestsException": true,
	"SlowDown": true, "ServiceUnavailable": true, "ServiceUnavailableException": true,
	"InternalError": true, "InternalFailure": true, "InternalServiceError": true,
	"IDPCommunicationError": true, "RequestTimeout": true, "RequestTimeoutException": true,
	"PriorRequestNotComplete": true, "XMinioServerNotInitialized": true,
}

// permanentCodes are AWS error codes that an endpoint may answer with a 5xx status but that
// no retry fixes.
var permanentCodes = map[string]bool{"NotImplemented": true}

// classify returns the kind of an error of a call to STS or S3: Unavailable when retrying
// may succeed (the endpoint cannot be reached or did not answer in time, throttles, or
// fails on its side with a 5xx status), Upstream when the endpoint refused for a reason
// that retrying will not fix (AccessDenied, InvalidClientTokenId, MalformedPolicyDocument,
// ValidationError, an action it does not implement: any other error answer) or answered
// something that is not STS's answer. The server's own credentials that cannot be loaded
// and a connection that the guard refuses are Unavailable: they are the operator's to fix,
// and may come back without a change of the creds key.
func classify(err error) errs.Kind {
	var (
		se      *sourceError
		refused *netguard.RefusedError
		resp    *smithyhttp.ResponseError
	)
	status := 0
	if errors.As(err, &resp) {
		status = resp.HTTPStatusCode()
	}
	code, _ := awsError(err)
	switch {
	case errors.As(err, &se), errors.As(err, &refused):
		return errs.Unavailable
	case transientCodes[code]:
		return errs.Unavailable
	case permanentCodes[code]:
		return errs.Upstream
	case status >= 500 || status == http.StatusTooManyRequests:
		return errs.Unavailable
	case code != "" || status != 0:
		return errs.Upstream
	}
	var ae smithy.APIError
	var de *smithy.DeserializationError
	if errors.As(err, &ae) || errors.As(err, &de) {
		return errs.Upstream
	}
	return errs.Unavailable // not reached, timed out, connection lost
}
