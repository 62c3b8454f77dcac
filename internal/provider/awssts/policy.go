package awssts

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/provider"
	"github.com/tarnhq/tarn/location"
)

// MaxSessionPolicy is the longest inline session policy AWS STS accepts, in characters.
const MaxSessionPolicy = 2048

// The S3 and KMS actions a vended credential gets.
var (
	readActions  = []string{"s3:GetObject", "s3:GetObjectVersion"}
	writeActions = []string{"s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"}
)

// A policy document. Field order is the order AWS documents use; every list is a JSON array
// (S3-compatible stores parse those most reliably).
type policyDoc struct {
	Version   string      `json:"Version"`
	Statement []statement `json:"Statement"`
}

type statement struct {
	Sid       string                         `json:"Sid,omitempty"`
	Effect    string                         `json:"Effect"`
	Principal map[string]string              `json:"Principal,omitempty"`
	Action    []string                       `json:"Action"`
	Resource  []string                       `json:"Resource,omitempty"`
	Condition map[string]map[string][]string `json:"Condition,omitempty"`
}

// iamEscaper writes the characters that IAM treats as wildcards or as the start of a policy
// variable as the fixed policy variables that stand for them literally.
var iamEscaper = strings.NewReplacer("$", "${$}", "*", "${*}", "?", "${?}")

// escapeIAM returns s with "*", "?" and "$" written as IAM's fixed policy variables "${*}",
// "${?}" and "${$}", so that a key prefix matches only itself in a Resource or a StringLike
// condition.
func escapeIAM(s string) string { return iamEscaper.Replace(s) }

// statements returns the statements that let a principal use loc in mode: list and locate
// the bucket, read (and for write, write) objects below the prefix, and use kmsKeyARN.
func statements(partition string, loc location.Location, mode, kmsKeyARN string, sids bool) []statement {
	bucketARN := "arn:" + partition + ":s3:::" + loc.Bucket
	objects := bucketARN + "/*"
	list := statement{Effect: "Allow", Action: []string{"s3:ListBucket"}, Resource: []string{bucketARN}}
	if loc.Path != "" {
		p := escapeIAM(loc.Path)
		objects = bucketARN + "/" + p + "/*"
		// Only "prefix/*" (which also matches "prefix/"): a listing with the bare prefix
		// would return the names of sibling prefixes that share its leading characters
		// (s3://b/ds-ab/... next to s3://b/ds).
		list.Condition = map[string]map[string][]string{"StringLike": {"s3:prefix": {p + "/*"}}}
	}
	actions := readActions
	kms := []string{"kms:Decrypt"}
	if mode == api.ModeWrite {
		actions = append(append([]string{}, readActions...), writeActions...)
		kms = append(kms, "kms:GenerateDataKey*")
	}
	st := []statement{
		list,
		{Effect: "Allow", Action: []string{"s3:GetBucketLocation"}, Resource: []string{bucketARN}},
		{Effect: "Allow", Action: actions, Resource: []string{objects}},
	}
	if kmsKeyARN != "" {
		st = append(st, statement{Effect: "Allow", Action: kms, Resource: []string{kmsKeyARN}})
	}
	if sids {
		names := []string{"TarnList", "TarnLocate", "TarnObjects", "TarnKMS"}
		for i := range st {
			st[i].Sid = names[i]
		}
	}
	return st
}

// encode returns doc as compact JSON in which every character outside printable ASCII is
// written as a \u escape: AWS accepts only a limited character range in policy text.
func encode(doc policyDoc) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return "", err
	}
	raw := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	var b strings.Builder
	for len(raw) > 0 {
		r, n := utf8.DecodeRune(raw)
		raw = raw[n:]
		switch {
		case r < 0x80:
			b.WriteRune(r)
		case r > 0xffff:
			r1, r2 := utf16Pair(r)
			fmt.Fprintf(&b, `\u%04x\u%04x`, r1, r2)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
	}
	return b.String(), nil
}

func utf16Pair(r rune) (rune, rune) {
	r -= 0x10000
	return 0xd800 + (r>>10)&0x3ff, 0xdc00 + r&0x3ff
}

// SessionPolicy returns the inline session policy, as compact JSON, that limits an assumed
// role to loc (an s3:// location) in mode (api.ModeRead or api.ModeWrite):
// s3:GetObject and s3:GetObjectVersion on the objects below the prefix; s3:ListBucket on the
// bucket with the s3:prefix condition "prefix/*" (listings of the location and below it, never
// of a bare "prefix", which would show sibling names such as "prefix-other/");
// s3:GetBucketLocation on the bucket; for write also s3:PutObject, s3:DeleteObject,
// s3:AbortMultipartUpload and s3:ListMultipartUploadParts; and, when kmsKeyARN is set,
// kms:Decrypt (plus kms:GenerateDataKey* for write) on that key only. A bucket-root location
// gets all objects of the bucket and an unconditioned ListBucket. IAM wildcards and variables
// in the prefix are escaped ("*" as "${*}", "?" as "${?}", "$" as "${$}"). ARNs use the "aws" partition.
//
// It returns an error of kind Invalid for a location that is not s3://, an unknown mode, or a
// policy longer than MaxSessionPolicy characters.
func SessionPolicy(loc location.Location, mode string, kmsKeyARN string) (string, error) {
	return sessionPolicy("aws", loc, mode, kmsKeyARN)
}

func sessionPolicy(partition string, loc location.Location, mode, kmsKeyARN string) (string, error) {
	if loc.Scheme != location.S3 || loc.Bucket == "" {
		return "", errs.E(errs.Invalid, "a session policy needs an s3:// location, not %s", loc).WithCode(api.CodeInvalidLocation)
	}
	if mode != api.ModeRead && mode != api.ModeWrite {
		return "", errs.E(errs.Invalid, "mode %q is not read or write", mode)
	}
	p, err := encode(policyDoc{Version: "2012-10-17", Statement: statements(partition, loc, mode, kmsKeyARN, false)})
	if err != nil {
		return "", fmt.Errorf("encode session policy: %w", err)
	}
	if n := len(p); n > MaxSessionPolicy {
		return "", errs.E(errs.Invalid, "the session policy for %s is %d characters, over AWS's 2,048 limit; use a shorter prefix", loc, n)
	}
	return p, nil
}

// sessionNameBad matches any character not allowed in a role session name.
var sessionNameBad = regexp.MustCompile(`[^\w+=,.@-]`)

// SessionName returns the role session name for a vend asked by session ("org/user"): "tarn-"
// followed by session with "/" written as "." and any other character that STS does not
// allow in a session name ([\w+=,.@-]) as "_", cut to STS's limit of 64 characters. CloudTrail
// shows it with every request the credentials make.
func SessionName(session string) string {
	if session == "" {
		session = "unknown"
	}
	s := "tarn-" + sessionNameBad.ReplaceAllString(strings.ReplaceAll(session, "/", "."), "_")
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}

var principalRe = regexp.MustCompile(`^arn:aws(?:-[a-z]+)*:(?:iam::\d{12}:(?:root|(?:user|role)/(?:[\w+=,.@-]+/)*[\w+=,.@-]+)|sts::\d{12}:assumed-role/[\w+=,.@-]+/[\w+=,.@-]+)$`)

// trustPrincipal returns the principal a trust policy names for arn: an assumed-role session
// (arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION) is turned into its role's ARN, since
// sessions come and go; a role with a path must then be given with --principal-arn.
func trustPrincipal(arn string) (string, bool) {
	if !principalRe.MatchString(arn) {
		return "", false
	}
	if parts := strings.SplitN(arn, ":", 6); parts[2] == "sts" {
		role := strings.Split(strings.TrimPrefix(parts[5], "assumed-role/"), "/")[0]
		return "arn:" + parts[1] + ":iam::" + parts[4] + ":role/" + role, true
	}
	return arn, true
}

// Provision returns, pretty-printed and ready to paste into IAM, the permission policy of the
// role that cfg assumes and the role's trust policy. The permission policy allows what a write
// credential for s3://bucket/prefix may do (prefix may be empty for the whole bucket), and
// kms:Decrypt and kms:GenerateDataKey* on kmsKeyARN (cfg.KMSKeyARN when empty). The trust
// policy lets principalARN (tarn's own identity; an assumed-role ARN is turned into its role)
// call sts:AssumeRole only with cfg's external ID. It returns an error of kind Invalid for a
// bad bucket, prefix or principal, or a key without an external ID.
func Provision(cfg api.CredsKeyConfig, bucket, prefix, kmsKeyARN, principalARN string) (permissionPolicy, trustPolicy string, err error) {
	if cfg.ExternalID == "" {
		return "", "", errs.E(errs.Invalid, "the creds key has no external ID; create it with tarn creds add --provider aws first")
	}
	perm, err := permissions(cfg, bucket, prefix, kmsKeyARN, nil)
	if err != nil {
		return "", "", err
	}
	principal, ok := trustPrincipal(principalARN)
	if !ok {
		return "", "", errs.E(errs.Invalid, "principal %q is not an IAM user, role or account ARN like arn:aws:iam::123456789012:user/tarn", principalARN)
	}
	trust, err := pretty(policyDoc{Version: "2012-10-17", Statement: []statement{{
		Sid:       "TarnAssumeRole",
		Effect:    "Allow",
		Principal: map[string]string{"AWS": principal},
		Action:    []string{"sts:AssumeRole"},
		Condition: map[string]map[string][]string{"StringEquals": {"sts:ExternalId": {cfg.ExternalID}}},
	}}})
	if err != nil {
		return "", "", err
	}
	return perm, trust, nil
}

// ProvisionWebIdentity returns what a key with source web-identity needs: tarn's issuer as
// the OIDC provider to create (issuerURL, audience sts.amazonaws.com, subject), and,
// pretty-printed, the role's permission policy (as Provision's) and its trust policy, which
// lets tokens of that provider with that audience and subject only call
// sts:AssumeRoleWithWebIdentity. On an S3-compatible store, which has no trust policies, the
// trust policy is "" and the permission policy is the store's role policy, its statements
// pinned to the subject with StringEquals jwt:sub conditions (MinIO's claim condition keys).
// It returns an error of kind Invalid for a bad bucket, prefix or issuer URL.
func ProvisionWebIdentity(cfg api.CredsKeyConfig, bucket, prefix, kmsKeyARN, issuerURL, subject string) (perm, trust string, p api.OIDCProvider, err error) {
	u, err := url.Parse(issuerURL)
	if err != nil || u.Host == "" {
		return "", "", p, errs.E(errs.Invalid, "the issuer URL %q is not a URL: fix tarn serve --public-url", issuerURL)
	}
	host := provider.IssuerHost(issuerURL)
	p = api.OIDCProvider{URL: issuerURL, Host: host, Audience: api.AudienceAWS, Subject: subject}
	if cfg.STSEndpoint != "" {
		perm, err = permissions(cfg, bucket, prefix, kmsKeyARN, map[string][]string{"jwt:sub": {subject}})
		return perm, "", p, err
	}
	if perm, err = permissions(cfg, bucket, prefix, kmsKeyARN, nil); err != nil {
		return "", "", p, err
	}
	account := strings.Split(cfg.RoleARN, ":")[4] // CheckConfig matched roleARNRe
	p.ARN = "arn:" + partition(cfg) + ":iam::" + account + ":oidc-provider/" + host
	trust, err = pretty(policyDoc{Version: "2012-10-17", Statement: []statement{{
		Sid:       "TarnAssumeRoleWithWebIdentity",
		Effect:    "Allow",
		Principal: map[string]string{"Federated": p.ARN},
		Action:    []string{"sts:AssumeRoleWithWebIdentity"},
		Condition: map[string]map[string][]string{"StringEquals": {host + ":aud": {api.AudienceAWS}, host + ":sub": {subject}}},
	}}})
	return perm, trust, p, err
}

// permissions returns, pretty-printed, the policy that allows what a write credential
// for s3://bucket/prefix may do and kms:Decrypt and kms:GenerateDataKey* on kmsKeyARN
// (cfg.KMSKeyARN when empty), with the StringEquals conditions equals added to every
// statement. It returns an error of kind Invalid for a bad bucket, prefix or KMS key.
func permissions(cfg api.CredsKeyConfig, bucket, prefix, kmsKeyARN string, equals map[string][]string) (string, error) {
	raw := "s3://" + bucket
	if prefix = strings.Trim(prefix, "/"); prefix != "" {
		raw += "/" + prefix
	}
	loc, err := location.ParseStorage(raw)
	if err != nil || bucket == "" || strings.Contains(bucket, "/") {
		return "", errs.E(errs.Invalid, "bucket %q and prefix %q do not make an s3:// location", bucket, prefix).WithCode(api.CodeInvalidLocation)
	}
	if kmsKeyARN == "" {
		kmsKeyARN = cfg.KMSKeyARN
	}
	if kmsKeyARN != "" && !kmsARNRe.MatchString(kmsKeyARN) {
		return "", errs.E(errs.Invalid, "%q is not a KMS key ARN like arn:aws:kms:us-east-1:123456789012:key/ID", kmsKeyARN)
	}
	st := statements(partition(cfg), loc, api.ModeWrite, kmsKeyARN, true)
	if equals != nil {
		for i := range st {
			if st[i].Condition == nil {
				st[i].Condition = map[string]map[string][]string{}
			}
			st[i].Condition["StringEquals"] = equals
		}
	}
	return pretty(policyDoc{Version: "2012-10-17", Statement: st})
}

func pretty(doc policyDoc) (string, error) {
	s, err := encode(doc)
	if err != nil {
		return "", fmt.Errorf("encode policy: %w", err)
	}
	var b bytes.Buffer
	if err := json.Indent(&b, []byte(s), "", "  "); err != nil {
		return "", fmt.Errorf("indent policy: %w", err)
	}
	b.WriteByte('\n')
	return b.String(), nil
}
