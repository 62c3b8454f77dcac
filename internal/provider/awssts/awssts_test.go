package awssts

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/netguard"
	"github.com/tarnhq/tarn/internal/netguard/netguardtest"
	"github.com/tarnhq/tarn/internal/provider"
)

const testRole = "arn:aws:iam::123456789012:role/tarn-data"

func awsConfig() api.CredsKeyConfig {
	return api.CredsKeyConfig{Roots: []string{"s3://data-bucket/teams"}, RoleARN: testRole, ExternalID: "tarn-ext"}
}

func TestCheckConfigDefaults(t *testing.T) {
	got, err := New(Options{}).CheckConfig(context.Background(), awsConfig(), provider.ConfigCheck{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Region != "us-east-1" || got.Source != api.SourceDefault || got.MaxDurationSeconds != 3600 {
		t.Errorf("defaults not applied: %+v", got)
	}
	if got.ExternalID != "tarn-ext" || got.RoleARN != testRole {
		t.Errorf("config changed: %+v", got)
	}
}

func TestCheckConfigS3Compatible(t *testing.T) {
	cfg := awsConfig()
	cfg.RoleARN = "arn:minio:iam:::role/anything"
	cfg.STSEndpoint, cfg.S3Endpoint = "http://127.0.0.1:9000/", "http://127.0.0.1:9000"
	cfg.Source, cfg.AccessKeyID, cfg.PathStyle = api.SourceAccessKey, "tarnuser", true
	cfg.Region = "local"
	got, err := loopbackDriver(t).CheckConfig(context.Background(), cfg, provider.ConfigCheck{HasSecret: true})
	if err != nil {
		t.Fatal(err)
	}
	if got.STSEndpoint != "http://127.0.0.1:9000" {
		t.Errorf("sts_endpoint = %q, want it without the trailing slash", got.STSEndpoint)
	}
}

func TestCheckConfigRefuses(t *testing.T) {
	type mod func(c *api.CredsKeyConfig)
	for _, tc := range []struct {
		name      string
		mod       mod
		hasSecret bool
		field     string // the error must name it
	}{
		{"file root", func(c *api.CredsKeyConfig) { c.Roots = []string{"file:///tmp/x"} }, false, "s3://"},
		{"gs root", func(c *api.CredsKeyConfig) { c.Roots = append(c.Roots, "gs://bkt/x") }, false, "s3://"},
		{"no roots", func(c *api.CredsKeyConfig) { c.Roots = nil }, false, "root"},
		{"no role", func(c *api.CredsKeyConfig) { c.RoleARN = "" }, false, "role_arn"},
		{"user arn", func(c *api.CredsKeyConfig) { c.RoleARN = "arn:aws:iam::123456789012:user/x" }, false, "role_arn"},
		{"short account", func(c *api.CredsKeyConfig) { c.RoleARN = "arn:aws:iam::1234:role/x" }, false, "role_arn"},
		{"minio arn on aws", func(c *api.CredsKeyConfig) { c.RoleARN = "arn:minio:iam:::role/x" }, false, "role_arn"},
		{"region", func(c *api.CredsKeyConfig) { c.Region = "mars" }, false, "region"},
		{"kms alias", func(c *api.CredsKeyConfig) { c.KMSKeyARN = "arn:aws:kms:us-east-1:123456789012:alias/x" }, false, "kms_key_arn"},
		{"sts only", func(c *api.CredsKeyConfig) { c.STSEndpoint = "http://127.0.0.1:9000" }, false, "s3_endpoint"},
		{"endpoint path", func(c *api.CredsKeyConfig) {
			c.STSEndpoint, c.S3Endpoint = "http://127.0.0.1:9000/x", "http://127.0.0.1:9000"
		}, false, "sts_endpoint"},
		{"endpoint query", func(c *api.CredsKeyConfig) {
			c.STSEndpoint, c.S3Endpoint = "http://127.0.0.1:9000", "http://127.0.0.1:9000?a=b"
		}, false, "s3_endpoint"},
		{"endpoint scheme", func(c *api.CredsKeyConfig) {
			c.STSEndpoint, c.S3Endpoint = "ftp://127.0.0.1:9000", "http://127.0.0.1:9000"
		}, false, "sts_endpoint"},
		{"endpoint userinfo", func(c *api.CredsKeyConfig) {
			c.STSEndpoint, c.S3Endpoint = "http://u:p@127.0.0.1:9000", "http://127.0.0.1:9000"
		}, false, "sts_endpoint"},
		{"kms on s3-compatible", func(c *api.CredsKeyConfig) {
			c.STSEndpoint, c.S3Endpoint = "http://127.0.0.1:9000", "http://127.0.0.1:9000"
			c.KMSKeyARN = "arn:aws:kms:us-east-1:123456789012:key/abc"
		}, false, "kms_key_arn"},
		{"endpoint without host", func(c *api.CredsKeyConfig) {
			c.STSEndpoint, c.S3Endpoint = "http://:9000", "http://127.0.0.1:9000"
		}, false, "sts_endpoint"},
		{"metadata endpoint", func(c *api.CredsKeyConfig) {
			c.STSEndpoint, c.S3Endpoint = "http://169.254.169.254", "http://169.254.169.254"
		}, false, "sts_endpoint"},
		{"source", func(c *api.CredsKeyConfig) { c.Source = "env" }, false, "source"},
		{"default with key id", func(c *api.CredsKeyConfig) { c.AccessKeyID = "AKIA0000" }, false, "access_key_id"},
		{"default with secret", func(c *api.CredsKeyConfig) {}, true, "secret"},
		{"access key without id", func(c *api.CredsKeyConfig) { c.Source = api.SourceAccessKey }, true, "access_key_id"},
		{"access key without secret", func(c *api.CredsKeyConfig) {
			c.Source, c.AccessKeyID = api.SourceAccessKey, "AKIA0000"
		}, false, "secret"},
		{"short duration", func(c *api.CredsKeyConfig) { c.MaxDurationSeconds = 60 }, false, "max_duration_seconds"},
		{"long duration", func(c *api.CredsKeyConfig) { c.MaxDurationSeconds = 86400 }, false, "max_duration_seconds"},
		{"no external id", func(c *api.CredsKeyConfig) { c.ExternalID = "" }, false, "external_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := awsConfig()
			tc.mod(&cfg)
			_, err := loopbackDriver(t).CheckConfig(context.Background(), cfg, provider.ConfigCheck{HasSecret: tc.hasSecret})
			if !errs.Is(errs.Invalid, err) {
				t.Fatalf("err = %v, want Invalid", err)
			}
			if !strings.Contains(err.Error(), tc.field) || strings.Contains(err.Error(), "\n") {
				t.Errorf("err %q does not name %s on one line", err, tc.field)
			}
		})
	}
}

func TestDurationSeconds(t *testing.T) {
	for _, tc := range []struct {
		ttl  time.Duration
		max  int64
		want int32
	}{
		{time.Hour, 3600, 3600},
		{2 * time.Hour, 3600, 3600},
		{time.Minute, 3600, 900},
		{0, 7200, 7200},
		{30 * time.Minute, 43200, 1800},
		{time.Hour, 0, 3600},
	} {
		if got := durationSeconds(tc.ttl, tc.max); got != tc.want {
			t.Errorf("durationSeconds(%v, %d) = %d, want %d", tc.ttl, tc.max, got, tc.want)
		}
	}
}

// fakeSTS stands in for AWS STS, which cannot run offline; it records the AssumeRole form.
// (MinIO, the real peer of the other tests, ignores RoleArn and ExternalId, so only this can
// show that they are sent.)
type fakeSTS struct {
	mu    sync.Mutex
	forms []url.Values
	auth  []string
	fail  string // an AWS error code to answer with
	// status is the HTTP status of the error answer; zero means 403.
	status int
	// failFirst, when positive, limits the error answers to the first failFirst AssumeRole
	// requests; those after it succeed.
	failFirst int
	// requireExternalID refuses AssumeRole without ExternalId, as a good trust policy does.
	requireExternalID bool
}

func (f *fakeSTS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	if r.PostForm.Get("Action") == "" { // an S3 request of Verify: refuse it
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`)
		return
	}
	f.mu.Lock()
	if f.requireExternalID && !r.PostForm.Has("ExternalId") {
		f.mu.Unlock()
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not authorized</Message></Error></ErrorResponse>`)
		return
	}
	f.forms = append(f.forms, r.PostForm)
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	fail, status := f.fail, f.status
	if f.failFirst > 0 && len(f.forms) > f.failFirst {
		fail = ""
	}
	f.mu.Unlock()
	w.Header().Set("Content-Type", "text/xml")
	if fail != "" {
		w.WriteHeader(cmp.Or(status, http.StatusForbidden))
		fmt.Fprintf(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>%s</Code><Message>User: arn:aws:iam::210987654321:user/tarn is not authorized to perform: sts:AssumeRole on resource: %s</Message></Error><RequestId>r1</RequestId></ErrorResponse>`, fail, testRole)
		return
	}
	fmt.Fprint(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>
<Credentials><AccessKeyId>ASIATEMP</AccessKeyId><SecretAccessKey>tempsecret</SecretAccessKey><SessionToken>temptoken</SessionToken><Expiration>2030-01-02T03:04:05Z</Expiration></Credentials>
<AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/tarn-data/s</Arn><AssumedRoleId>AROA:s</AssumedRoleId></AssumedRoleUser>
</AssumeRoleResult><ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></AssumeRoleResponse>`)
}

// requests returns the number of AssumeRole requests that reached the fake.
func (f *fakeSTS) requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.forms)
}

func (f *fakeSTS) last(t *testing.T) url.Values {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.forms) == 0 {
		t.Fatal("no request reached STS")
	}
	return f.forms[len(f.forms)-1]
}

// fakeAWSKey returns an AWS creds key (no endpoints: the driver treats it as AWS).
func fakeAWSKey() provider.Key {
	cfg := awsConfig()
	cfg.Region, cfg.Source, cfg.AccessKeyID, cfg.MaxDurationSeconds = "eu-west-1", api.SourceAccessKey, "AKIASOURCE", 3600
	return provider.Key{Org: "acme", Name: "s3", Version: 2, Config: cfg, Secret: []byte("sourcesecret")}
}

// loopbackDriver returns a driver whose guard allows the endpoint http://127.0.0.1:9000 of
// the configuration tests (which never connect).
func loopbackDriver(t *testing.T) *Driver {
	t.Helper()
	g, err := netguard.New(netguard.Options{Allow: []string{"127.0.0.1:9000"}, Dial: netguardtest.Dial(t)})
	if err != nil {
		t.Fatal(err)
	}
	return New(Options{Guard: g})
}

// redirect sends every request to host, whatever host the SDK chose
// (sts.eu-west-1.amazonaws.com), through next.
type redirect struct {
	host string
	next http.RoundTripper
}

func (r redirect) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.URL.Scheme, req.URL.Host = "http", r.host
	return r.next.RoundTrip(req)
}

// fakeAWS starts a fake STS and returns a driver whose requests to AWS all go to it,
// through a guard that allows the fake's address only.
func fakeAWS(t *testing.T, f http.Handler, o Options) *Driver {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	g, err := netguard.New(netguard.Options{Allow: []string{host}, Dial: netguardtest.Dial(t)})
	if err != nil {
		t.Fatal(err)
	}
	o.Guard = g
	o.Transport = func(dial netguard.DialFunc) http.RoundTripper {
		return redirect{host: host, next: &http.Transport{DialContext: dial}}
	}
	return New(o)
}

func TestVendSendsRoleExternalIDPolicyAndSession(t *testing.T) {
	f := &fakeSTS{}
	d := fakeAWS(t, f, Options{})
	key := fakeAWSKey()
	loc := mustLoc(t, "s3://data-bucket/teams/coco")
	c, err := d.Vend(context.Background(), provider.Request{Key: key, Location: loc, Mode: api.ModeRead, Session: "acme/alice", TTL: 2 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	form := f.last(t)
	policy, _ := sessionPolicy("aws", loc, api.ModeRead, "")
	for k, want := range map[string]string{
		"Action": "AssumeRole", "RoleArn": testRole, "ExternalId": "tarn-ext",
		"RoleSessionName": "tarn-acme.alice", "DurationSeconds": "3600", "Policy": policy,
	} {
		if got := form.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if a := f.auth[0]; !strings.Contains(a, "Credential=AKIASOURCE/") || !strings.Contains(a, "/eu-west-1/sts/") {
		t.Errorf("request not signed with the source key in the key's region: %s", a)
	}
	want := &api.S3Credentials{AccessKeyID: "ASIATEMP", SecretAccessKey: "tempsecret", SessionToken: "temptoken", Region: "eu-west-1"}
	if *c.S3 != *want {
		t.Errorf("S3 = %+v, want %+v", *c.S3, *want)
	}
	if !c.ExpiresAt.Equal(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)) || c.Provider != "aws" || c.Mode != "read" || c.Location != loc.String() {
		t.Errorf("answer = %+v", c)
	}
}

func TestVendUsesDefaultCredentials(t *testing.T) {
	f := &fakeSTS{}
	d := fakeAWS(t, f, Options{DefaultCredentials: credentials.NewStaticCredentialsProvider("AKIASERVER", "serversecret", "")})
	key := fakeAWSKey()
	key.Config.Source, key.Config.AccessKeyID, key.Secret = api.SourceDefault, "", nil
	if _, err := d.Vend(context.Background(), provider.Request{Key: key, Location: mustLoc(t, "s3://data-bucket/teams"), Mode: api.ModeWrite, TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(f.auth[0], "Credential=AKIASERVER/") {
		t.Errorf("not signed with the server's credentials: %s", f.auth[0])
	}
	if got := f.last(t).Get("DurationSeconds"); got != "900" {
		t.Errorf("DurationSeconds = %s, want the 900-second floor", got)
	}
}

type failingProvider struct{}

func (failingProvider) Retrieve(context.Context) (aws.Credentials, error) {
	return aws.Credentials{}, fmt.Errorf("no EC2 IMDS role found")
}

func TestVendErrors(t *testing.T) {
	f := &fakeSTS{fail: "AccessDenied"}
	d := fakeAWS(t, f, Options{})
	loc := mustLoc(t, "s3://data-bucket/teams")
	req := provider.Request{Key: fakeAWSKey(), Location: loc, Mode: api.ModeRead, Session: "acme/alice", TTL: time.Hour}
	_, err := d.Vend(context.Background(), req)
	if !errs.Is(errs.Upstream, err) {
		t.Fatalf("err = %v, want Upstream: retrying does not change a trust policy", err)
	}
	var e *errs.Error
	if !errors.As(err, &e) {
		t.Fatal("not an *errs.Error")
	}
	for _, want := range []string{"AssumeRole of " + testRole + " failed: AccessDenied; ", "trust policy", "tarn creds verify acme/s3"} {
		if !strings.Contains(e.Detail, want) {
			t.Errorf("detail %q lacks %q", e.Detail, want)
		}
	}
	if strings.Contains(e.Detail, "is not authorized") {
		t.Errorf("detail %q repeats STS's message", e.Detail)
	}
	if strings.Contains(err.Error(), "sourcesecret") || strings.Contains(e.Detail, "\n") {
		t.Errorf("error leaks the secret or spans lines: %v", err)
	}

	f.mu.Lock()
	f.fail = "InvalidClientTokenId"
	f.mu.Unlock()
	_, err = d.Vend(context.Background(), req)
	if !errs.Is(errs.Upstream, err) || !strings.Contains(err.Error(), "the access key AKIASOURCE or its secret was refused") {
		t.Errorf("bad source key: err = %v", err)
	}

	// The server's own credentials are missing.
	key := fakeAWSKey()
	key.Config.Source, key.Config.AccessKeyID, key.Secret = api.SourceDefault, "", nil
	_, err = fakeAWS(t, f, Options{DefaultCredentials: failingProvider{}}).Vend(context.Background(), provider.Request{Key: key, Location: loc, Mode: api.ModeRead, TTL: time.Hour})
	if !errs.Is(errs.Unavailable, err) || !strings.Contains(err.Error(), "own AWS credentials are unavailable") {
		t.Errorf("missing server credentials: err = %v", err)
	}

	// An unreachable endpoint, allowed by the operator: the detail does not tell a closed
	// port from any other failure to connect.
	gone := httptest.NewServer(f)
	gone.Close()
	key = fakeAWSKey()
	key.Config.STSEndpoint, key.Config.S3Endpoint = gone.URL, gone.URL
	g, err := netguard.New(netguard.Options{Allow: []string{strings.TrimPrefix(gone.URL, "http://")}, Dial: netguardtest.Dial(t)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(Options{Guard: g}).Vend(context.Background(), provider.Request{Key: key, Location: loc, Mode: api.ModeRead, TTL: time.Hour})
	if !errs.Is(errs.Unavailable, err) || !errors.As(err, &e) || e.Detail != "AssumeRole of "+testRole+" failed: cannot reach the endpoint" {
		t.Errorf("unreachable STS: err = %v", err)
	}

	// Not an s3 location, and a prefix too long for a session policy: Invalid, no STS call.
	f.mu.Lock()
	n := len(f.forms)
	f.mu.Unlock()
	for _, l := range []string{"gs://data-bucket/x", "s3://data-bucket/" + strings.Repeat("y", 1200)} {
		req.Location = mustLoc(t, l)
		if _, err := d.Vend(context.Background(), req); !errs.Is(errs.Invalid, err) {
			t.Errorf("Vend(%.30s...) err = %v, want Invalid", l, err)
		}
	}
	// S3-compatible stores cannot express a prefix with wildcard characters.
	key = fakeAWSKey()
	key.Config.STSEndpoint, key.Config.S3Endpoint = gone.URL, gone.URL
	if _, err := d.Vend(context.Background(), provider.Request{Key: key, Location: mustLoc(t, "s3://data-bucket/teams/a*b"), Mode: api.ModeRead}); !errs.Is(errs.Invalid, err) {
		t.Errorf("wildcard prefix on an S3-compatible store: err = %v, want Invalid", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.forms) != n {
		t.Error("an invalid request reached STS")
	}
}

// Verify's negative check on AWS assumes the role without the external ID: it must really
// leave ExternalId out of the request.
func TestAssumeWithoutExternalIDOmitsIt(t *testing.T) {
	f := &fakeSTS{}
	d := fakeAWS(t, f, Options{})
	key := fakeAWSKey()
	_, err := d.assume(context.Background(), key, mustLoc(t, "s3://data-bucket/teams"), api.ModeRead, MinDuration, verifySession, proveNoExternalID)
	if err != nil {
		t.Fatal(err)
	}
	if form := f.last(t); form.Has("ExternalId") {
		t.Errorf("the negative check sent ExternalId %q", form.Get("ExternalId"))
	}
}

func TestUsesExternalID(t *testing.T) {
	var d provider.Driver = New(Options{})
	if u, ok := d.(provider.ExternalIDUser); !ok || !u.UsesExternalID() {
		t.Error("driver does not ask the Vendor for an external ID")
	}
}

// The Vendor generates the external ID and keeps it across updates.
func TestVendorKeepsExternalID(t *testing.T) {
	v := provider.New(map[string]provider.Driver{Name: New(Options{})}, nil)
	cfg := awsConfig()
	cfg.ExternalID = ""
	raw, err := v.CheckConfig(context.Background(), Name, cfg, provider.ConfigCheck{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"external_id":"tarn-`) {
		t.Errorf("no external ID generated: %s", raw)
	}
}

// On AWS, Verify checks that the role refuses AssumeRole without the external ID.
func TestVerifyExternalIDOnAWS(t *testing.T) {
	loc := mustLoc(t, "s3://data-bucket/teams/coco")
	for _, tc := range []struct {
		require bool
		detail  string
	}{
		{true, ""},
		{false, `can be assumed without the external ID, so anyone it trusts can make tarn a confused deputy: add the condition StringEquals sts:ExternalId "tarn-ext"`},
	} {
		d := fakeAWS(t, &fakeSTS{requireExternalID: tc.require}, Options{})
		checks := d.Verify(context.Background(), fakeAWSKey(), loc)
		if len(checks) < 2 || checks[0].Name != CheckAssumeRole || !checks[0].OK || checks[1].Name != CheckExternalID {
			t.Fatalf("checks = %+v", checks)
		}
		if c := checks[1]; c.OK != tc.require || !strings.Contains(c.Detail, tc.detail) {
			t.Errorf("trust policy requires external ID %v: check = %+v", tc.require, c)
		}
		// The S3 steps fail against the fake and name the permission they need.
		if c := checks[2]; c.Name != CheckList || c.OK || !strings.Contains(c.Detail, "s3:ListBucket on arn:aws:s3:::data-bucket") {
			t.Errorf("list check = %+v", c)
		}
	}
}
