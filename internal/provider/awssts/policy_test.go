package awssts

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/golden"
	"github.com/tarnhq/tarn/location"
)

const testKMS = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"

func mustLoc(t *testing.T, s string) location.Location {
	t.Helper()
	l, err := location.ParseStorage(s)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestSessionPolicyGolden(t *testing.T) {
	for _, tc := range []struct {
		file, loc, mode, kms string
	}{
		{"read.json", "s3://data-bucket/teams/vision/coco", api.ModeRead, ""},
		{"write.json", "s3://data-bucket/teams/vision/coco", api.ModeWrite, ""},
		{"read_kms.json", "s3://data-bucket/teams/vision/coco", api.ModeRead, testKMS},
		{"write_kms.json", "s3://data-bucket/teams/vision/coco", api.ModeWrite, testKMS},
		{"bucket_root.json", "s3://data-bucket", api.ModeRead, ""},
		{"wildcards.json", "s3://data-bucket/odd*name/$HOME/${aws:username}", api.ModeWrite, ""},
	} {
		t.Run(tc.file, func(t *testing.T) {
			p, err := SessionPolicy(mustLoc(t, tc.loc), tc.mode, tc.kms)
			if err != nil {
				t.Fatal(err)
			}
			if !json.Valid([]byte(p)) || strings.ContainsAny(p, " \n\t") {
				t.Fatalf("not compact JSON: %s", p)
			}
			golden.Check(t, tc.file, p)
		})
	}
}

// A prefix with IAM wildcards must match only itself: no bare "*" or "?" other than the
// trailing "/*", and no "$" that does not start a fixed escape variable.
func TestSessionPolicyEscapesWildcards(t *testing.T) {
	p, err := SessionPolicy(mustLoc(t, "s3://bkt/a*b/c$d/e"), api.ModeRead, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`"arn:aws:s3:::bkt/a${*}b/c${$}d/e/*"`,
		`"s3:prefix":["a${*}b/c${$}d/e/*"]`,
	} {
		if !strings.Contains(p, want) {
			t.Errorf("policy lacks %s:\n%s", want, p)
		}
	}
	if got := escapeIAM("a?b*c$d${x}"); got != "a${?}b${*}c${$}d${$}{x}" {
		t.Errorf("escapeIAM = %q", got)
	}
}

func TestSessionPolicyRootHasNoPrefixCondition(t *testing.T) {
	p, err := SessionPolicy(mustLoc(t, "s3://bkt"), api.ModeWrite, "")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(p, "Condition") || !strings.Contains(p, `"arn:aws:s3:::bkt/*"`) {
		t.Errorf("bucket-root policy: %s", p)
	}
}

func TestSessionPolicyTooLong(t *testing.T) {
	// The prefix appears twice in a policy; find the length that gives exactly 2,048.
	base, err := SessionPolicy(mustLoc(t, "s3://bkt/x"), api.ModeWrite, testKMS)
	if err != nil {
		t.Fatal(err)
	}
	n := 1 + (MaxSessionPolicy-len(base))/2
	at, err := SessionPolicy(mustLoc(t, "s3://bkt/"+strings.Repeat("x", n)), api.ModeWrite, testKMS)
	if err != nil || len(at) != MaxSessionPolicy {
		t.Fatalf("%d-character prefix: %d characters, %v; want exactly the limit", n, len(at), err)
	}
	loc := mustLoc(t, "s3://bkt/"+strings.Repeat("x", n)+"y")
	_, err = SessionPolicy(loc, api.ModeWrite, testKMS)
	if !errs.Is(errs.Invalid, err) || !strings.Contains(err.Error(), "is 2050 characters, over AWS's 2,048 limit; use a shorter prefix") {
		t.Fatalf("err = %v, want Invalid over the limit", err)
	}
	if !strings.Contains(err.Error(), "the session policy for "+loc.String()+" is ") {
		t.Errorf("err does not name the location: %v", err)
	}
}

// Characters AWS does not take in policy text are written as JSON escapes.
func TestSessionPolicyNonASCII(t *testing.T) {
	p, err := SessionPolicy(mustLoc(t, "s3://bkt/données/猫/🐱"), api.ModeRead, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range p {
		if r < 0x20 || r > 0x7e {
			t.Fatalf("policy has %q: %s", r, p)
		}
	}
	var doc policyDoc
	if err := json.Unmarshal([]byte(p), &doc); err != nil {
		t.Fatal(err)
	}
	if got := doc.Statement[2].Resource[0]; got != "arn:aws:s3:::bkt/données/猫/🐱/*" {
		t.Errorf("decoded resource = %q", got)
	}
}

func TestSessionPolicyRefuses(t *testing.T) {
	for _, tc := range []struct{ loc, mode string }{
		{"file:///tmp/x", api.ModeRead},
		{"gs://bucket/x", api.ModeRead},
		{"s3://bucket/x", "admin"},
	} {
		if _, err := SessionPolicy(mustLoc(t, tc.loc), tc.mode, ""); !errs.Is(errs.Invalid, err) {
			t.Errorf("SessionPolicy(%s, %s) err = %v, want Invalid", tc.loc, tc.mode, err)
		}
	}
}

// Government and China regions use their own ARN partition.
func TestSessionPolicyPartition(t *testing.T) {
	p, err := sessionPolicy("aws-cn", mustLoc(t, "s3://bkt/p"), api.ModeRead, "")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(p, "arn:aws:") || !strings.Contains(p, "arn:aws-cn:s3:::bkt/p/*") {
		t.Errorf("policy: %s", p)
	}
	if got := partition(api.CredsKeyConfig{RoleARN: "arn:aws-us-gov:iam::123456789012:role/r"}); got != "aws-us-gov" {
		t.Errorf("partition = %q", got)
	}
}

func TestSessionName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"acme/alice", "tarn-acme.alice"},
		{"acme/wi:github:repo:org/x", "tarn-acme.wi_github_repo_org.x"},
		{"", "tarn-unknown"},
		{"a b+c=d,e@f-g_h", "tarn-a_b+c=d,e@f-g_h"},
		{"ünï", "tarn-_n_"},
		{strings.Repeat("x", 100), "tarn-" + strings.Repeat("x", 59)},
	} {
		got := SessionName(tc.in)
		if got != tc.want {
			t.Errorf("SessionName(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if len(got) > 64 || sessionNameBad.MatchString(got) {
			t.Errorf("SessionName(%q) = %q is not a valid session name", tc.in, got)
		}
	}
}

func TestProvisionGolden(t *testing.T) {
	cfg := api.CredsKeyConfig{RoleARN: "arn:aws:iam::123456789012:role/tarn-data", ExternalID: "tarn-EXAMPLEexternalID0123456789a"}
	perm, trust, err := Provision(cfg, "data-bucket", "teams/vision", "", "arn:aws:iam::210987654321:user/tarn-server")
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "provision_permission.json", perm)
	golden.Check(t, "provision_trust.json", trust)

	perm, trust, err = Provision(cfg, "data-bucket", "", testKMS, "arn:aws:sts::210987654321:assumed-role/tarn-server/i-0abc")
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "provision_permission_root_kms.json", perm)
	golden.Check(t, "provision_trust_assumed_role.json", trust)
}

func TestProvisionRefuses(t *testing.T) {
	good := api.CredsKeyConfig{ExternalID: "tarn-x"}
	principal := "arn:aws:iam::123456789012:user/tarn"
	for _, tc := range []struct {
		name                       string
		cfg                        api.CredsKeyConfig
		bucket, prefix, kms, princ string
	}{
		{"no external id", api.CredsKeyConfig{}, "b", "", "", principal},
		{"no bucket", good, "", "p", "", principal},
		{"bad bucket", good, "B_AD", "", "", principal},
		{"dotdot prefix", good, "b", "a/../c", "", principal},
		{"bucket with slash", good, "b/c", "", "", principal},
		{"bad kms", good, "b", "", "arn:aws:kms:us-east-1:123456789012:alias/x", principal},
		{"bad principal", good, "b", "", "", "alice"},
		{"wildcard principal", good, "b", "", "", "*"},
	} {
		if _, _, err := Provision(tc.cfg, tc.bucket, tc.prefix, tc.kms, tc.princ); !errs.Is(errs.Invalid, err) {
			t.Errorf("%s: err = %v, want Invalid", tc.name, err)
		}
	}
}
