package awssts_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/client"
	"github.com/tarnhq/tarn/internal/issuer"
	"github.com/tarnhq/tarn/internal/miniotest"
	"github.com/tarnhq/tarn/internal/netguard"
	"github.com/tarnhq/tarn/internal/netguard/netguardtest"
	"github.com/tarnhq/tarn/internal/provider"
	"github.com/tarnhq/tarn/internal/provider/awssts"
	"github.com/tarnhq/tarn/internal/provider/providertest"
	"github.com/tarnhq/tarn/internal/secretbox"
	"github.com/tarnhq/tarn/internal/store"
	"github.com/tarnhq/tarn/internal/testenv"
)

// webIdentity is a tarn that is an OIDC issuer and a real MinIO that trusts it, with creds
// key acme/minio of source web-identity for s3://BUCKET/datasets and MinIO's role policy
// set to what tarn provision aws prints for it.
type webIdentity struct {
	env   *testenv.Env
	srv   *miniotest.Server
	admin *client.Client
	perm  []byte // the provisioned role policy
}

const webKey = "minio"

// startWebIdentity starts tarn first, then calls prepare (when not nil), then starts MinIO,
// which fetches tarn's discovery and JWKS at startup.
func startWebIdentity(t *testing.T, prepare func(*testenv.Env)) *webIdentity {
	t.Helper()
	e := testenv.New(t, testenv.Options{Issuer: true, AllowEndpoints: []string{"127.0.0.1/32"}})
	e.Clock.Advance(time.Since(e.Clock.Now())) // MinIO checks exp and iat against its own clock
	if prepare != nil {
		prepare(e)
	}
	srv := miniotest.StartOpenID(t, e.URL+issuer.DiscoveryPath)
	ctx := context.Background()
	admin := e.Admin(t)
	if _, err := admin.CreateOrg(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.PutCredsKey(ctx, "acme", webKey, webKeyRequest(srv)); err != nil {
		t.Fatal(err)
	}
	out, err := admin.Provision(ctx, "acme", webKey, api.ProvisionRequest{Bucket: srv.Bucket, Prefix: "datasets"})
	if err != nil {
		t.Fatal(err)
	}
	if (out.TrustPolicy != nil && string(out.TrustPolicy) != "null") || out.OIDCProvider == nil || out.OIDCProvider.Subject != "org:acme:creds-key:"+webKey || out.OIDCProvider.URL != e.URL {
		t.Fatalf("provision = %+v: want no trust policy, tarn's issuer and the key's subject", out)
	}
	srv.SetRolePolicy(t, out.PermissionPolicy)
	return &webIdentity{env: e, srv: srv, admin: admin, perm: out.PermissionPolicy}
}

func webKeyRequest(srv *miniotest.Server) api.PutCredsKeyRequest {
	return api.PutCredsKeyRequest{Provider: api.ProviderAWS, Config: api.CredsKeyConfig{
		Roots: []string{"s3://" + srv.Bucket + "/datasets"}, RoleARN: srv.RoleARN, Region: srv.Region,
		STSEndpoint: srv.Endpoint, S3Endpoint: srv.Endpoint, PathStyle: true, Source: api.SourceWebIdentity,
	}}
}

// assumeDirect calls MinIO's AssumeRoleWithWebIdentity with token, as an attacker holding
// the token would, without tarn.
func (w *webIdentity) assumeDirect(token string) (*api.Credentials, error) {
	c := sts.New(sts.Options{Region: w.srv.Region, BaseEndpoint: aws.String(w.srv.Endpoint), Credentials: aws.AnonymousCredentials{}})
	out, err := c.AssumeRoleWithWebIdentity(context.Background(), &sts.AssumeRoleWithWebIdentityInput{
		RoleArn: aws.String(w.srv.RoleARN), RoleSessionName: aws.String("attacker"), WebIdentityToken: aws.String(token),
	})
	if err != nil {
		return nil, err
	}
	return &api.Credentials{S3: &api.S3Credentials{Region: w.srv.Region, Endpoint: w.srv.Endpoint, PathStyle: true,
		AccessKeyID: *out.Credentials.AccessKeyId, SecretAccessKey: *out.Credentials.SecretAccessKey, SessionToken: *out.Credentials.SessionToken}}, nil
}

// canList reports whether credentials c may list s3://BUCKET/datasets/.
func (w *webIdentity) canList(t *testing.T, c *api.Credentials) bool {
	t.Helper()
	_, err := s3With(c).ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(w.srv.Bucket), Prefix: aws.String("datasets/")})
	if err != nil && code(err) != "AccessDenied" {
		t.Fatalf("list: %v", err)
	}
	return err == nil
}

// signWith returns a token for subject with tarn's audience for AWS and lifetimes by the
// real clock (MinIO's), signed with the private part of issuer key k, opened from the store
// as the issuer does: what a holder of a leaked or retired key could make.
func signWith(t *testing.T, e *testenv.Env, k issuerKey, subject string) string {
	t.Helper()
	box, err := secretbox.Load(e.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	der, err := box.Open(k.Private, "tarn issuer key "+k.ID)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: priv.(*ecdsa.PrivateKey), KeyID: k.ID}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tok, err := jwt.Signed(sig).Claims(jwt.Claims{Issuer: e.URL, Subject: subject, Audience: jwt.Audience{api.AudienceAWS}, ID: "forged",
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(10 * time.Minute))}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

type issuerKey = store.IssuerKey

// issuerKeys returns the issuer's keys, newest first.
func issuerKeys(t *testing.T, e *testenv.Env) []issuerKey {
	t.Helper()
	ks, err := e.Server.Store.IssuerKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

// forgeHS256 returns a token for subject that MinIO takes for one of its client's own when
// its client secret is secret: HS256 keyed with the secret, kid the client ID. MinIO keeps
// the client secret in its key set next to the JWKS keys, so with an empty secret anyone
// can mint tokens it accepts.
func forgeHS256(secret, subject string) string {
	enc := base64.RawURLEncoding.EncodeToString
	head := enc([]byte(`{"alg":"HS256","typ":"JWT","kid":"` + miniotest.OpenIDClientID + `"}`))
	now := time.Now().Unix()
	claims := enc([]byte(fmt.Sprintf(`{"iss":"https://attacker.invalid","sub":%q,"aud":%q,"iat":%d,"exp":%d}`, subject, api.AudienceAWS, now, now+600)))
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(head + "." + claims))
	return head + "." + claims + "." + enc(m.Sum(nil))
}

// Vends through AssumeRoleWithWebIdentity are limited by the session policy exactly as with
// access keys: the conformance suite, run on a real MinIO that trusts tarn's issuer.
func TestWebIdentityConformance(t *testing.T) {
	w := startWebIdentity(t, nil)
	d := minioDriver(t, w.srv)
	v := provider.New(map[string]provider.Driver{awssts.Name: d}, nil)
	sk, err := w.env.Server.Store.CredsKey(context.Background(), "acme", webKey)
	if err != nil {
		t.Fatal(err)
	}
	key, err := provider.Decode(sk)
	if err != nil {
		t.Fatal(err)
	}
	iss := w.env.Server.Issuer
	key.Identity = &provider.Identity{Issuer: iss.URL(), Subject: issuer.Subject("acme", webKey),
		Token: func(ctx context.Context, audience string) (string, error) {
			tok, _, err := iss.Mint(ctx, "acme", webKey, audience, 0)
			return tok, err
		}}
	providertest.Run(t, conformance(t, w.srv, d, v, key))
}

// A read vend of a web-identity key through the server reads its location and nothing
// else; each vend's token mint is audited by audience and jti, and neither audit records
// nor errors carry a token.
func TestWebIdentityVendThroughTheServer(t *testing.T) {
	w := startWebIdentity(t, nil)
	ctx := context.Background()
	if err := w.srv.Put(ctx, "datasets/coco/a.txt", "a"); err != nil {
		t.Fatal(err)
	}
	if err := w.srv.Put(ctx, "other/b.txt", "b"); err != nil {
		t.Fatal(err)
	}
	c, err := w.admin.LocationCredentials(ctx, "acme", webKey, "s3://"+w.srv.Bucket+"/datasets/coco", api.ModeRead)
	if err != nil {
		t.Fatal(err)
	}
	s := s3With(c)
	if _, err := s.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(w.srv.Bucket), Key: aws.String("datasets/coco/a.txt")}); err != nil {
		t.Fatalf("read within the location: %v", err)
	}
	_, err = s.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(w.srv.Bucket), Key: aws.String("datasets/coco/new.txt"), Body: strings.NewReader("x")})
	if code(err) != "AccessDenied" {
		t.Errorf("write with a read credential: %v, want AccessDenied", err)
	}
	for _, k := range []string{"other/b.txt", "datasets/a.txt"} {
		if _, err := s.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(w.srv.Bucket), Key: aws.String(k)}); code(err) != "AccessDenied" {
			t.Errorf("read %s outside the location: %v, want AccessDenied", k, err)
		}
	}

	list, err := w.admin.Audit(ctx, "acme", client.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	mints := 0
	for _, r := range list.Records {
		if r.Action == issuer.AuditAction && strings.Contains(r.Detail, "audience "+api.AudienceAWS+", jti ") {
			mints++
		}
	}
	if mints != 1 {
		t.Errorf("%d issuer.token records naming audience and jti for one vend, want 1: %+v", mints, list.Records)
	}
	raw, _ := json.Marshal(list)
	if strings.Contains(string(raw), "eyJ") {
		t.Errorf("an audit record carries a token: %s", raw)
	}

	// A refused AssumeRoleWithWebIdentity: the error names the code and what to check, not
	// the token. MinIO's role policy is removed, so MinIO refuses to hand out credentials.
	w.srv.SetRolePolicy(t, []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":["sts:AssumeRoleWithWebIdentity"]}]}`))
	_, err = w.admin.LocationCredentials(ctx, "acme", webKey, "s3://"+w.srv.Bucket+"/datasets/other", api.ModeRead)
	if err == nil || strings.Contains(err.Error(), "eyJ") || !strings.Contains(err.Error(), "AssumeRoleWithWebIdentity of "+w.srv.RoleARN+" failed: AccessDenied") {
		t.Errorf("refused vend: %v, want AssumeRoleWithWebIdentity ... AccessDenied and no token", err)
	}
}

// Verify passes every check of a web-identity key whose MinIO role policy is what
// provision prints, and fails the negative check, naming the fix, when the role policy does
// not pin the subject.
func TestWebIdentityVerify(t *testing.T) {
	w := startWebIdentity(t, nil)
	ctx := context.Background()
	v, err := w.admin.VerifyCredsKey(ctx, "acme", webKey, "")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, c := range v.Checks {
		names[c.Name] = true
		if !c.OK {
			t.Errorf("check %q failed: %s", c.Name, c.Detail)
		}
	}
	for _, n := range []string{awssts.CheckDiscovery, awssts.CheckAssumeRole, awssts.CheckForeignSubject, awssts.CheckList, awssts.CheckProbe, awssts.CheckReadRefusedWrite, awssts.CheckReadRefusedOutside} {
		if !names[n] {
			t.Errorf("verify ran no check %q: %+v", n, v.Checks)
		}
	}

	open := bytes.ReplaceAll(w.perm, []byte(`"jwt:sub"`), []byte(`"jwt:iss"`))
	open = bytes.ReplaceAll(open, []byte(`"org:acme:creds-key:`+webKey+`"`), []byte(`"`+w.env.URL+`"`))
	w.srv.SetRolePolicy(t, open) // trusts every subject of tarn's issuer
	v, err = w.admin.VerifyCredsKey(ctx, "acme", webKey, "")
	if err != nil {
		t.Fatal(err)
	}
	failed := false
	for _, c := range v.Checks {
		if c.Name == awssts.CheckForeignSubject {
			failed = !c.OK && strings.Contains(c.Detail, "the role trusts other creds keys' subjects too: add a :sub condition") &&
				strings.Contains(c.Detail, `jwt:sub "org:acme:creds-key:`+webKey+`"`)
			if !failed {
				t.Errorf("check %q with a role policy for every subject: %+v, want a failure naming the :sub condition", c.Name, c)
			}
		}
	}
	if !failed {
		t.Errorf("no failed check %q: %+v", awssts.CheckForeignSubject, v.Checks)
	}
}

// From the attacker's side, straight at MinIO: a token for another creds key's subject
// gets credentials that the role policy refuses; a token signed by a key tarn has rotated
// out of its JWKS is refused while one of the current key is accepted; an HS256 token
// forged with an empty client secret is refused because the MinIO recipe sets one.
func TestWebIdentityRefusals(t *testing.T) {
	var old issuerKey
	w := startWebIdentity(t, func(e *testenv.Env) {
		if _, err := e.Server.Issuer.JWKS(context.Background()); err != nil { // makes the first key
			t.Fatal(err)
		}
		old = issuerKeys(t, e)[0]
		if _, err := e.Server.Issuer.Rotate(context.Background()); err != nil {
			t.Fatal(err)
		}
		e.Clock.Advance(issuer.DefaultPublishLead + issuer.MaxTTL + issuer.RetireMargin + time.Second)
		set, err := e.Server.Issuer.JWKS(context.Background())
		if err != nil || len(set.Keys) != 2 || set.Keys[0].KeyID == old.ID || set.Keys[1].KeyID == old.ID {
			t.Fatalf("JWKS after the old key's tokens expired: %+v, %v; want the new generation's two keys only", set, err)
		}
	})
	current := issuerKeys(t, w.env)[0]
	subject := issuer.Subject("acme", webKey)

	c, err := w.assumeDirect(signWith(t, w.env, current, subject))
	if err != nil {
		t.Fatalf("a token of the current key for the key's subject: %v", err)
	}
	if !w.canList(t, c) {
		t.Fatal("the key's own credentials cannot list its location")
	}
	if _, err := w.assumeDirect(signWith(t, w.env, old, subject)); err == nil {
		t.Error("MinIO accepted a token signed by a key tarn rotated out of its JWKS")
	}
	if c, err := w.assumeDirect(signWith(t, w.env, current, issuer.Subject("acme", "other"))); err == nil && w.canList(t, c) {
		t.Error("credentials for another creds key's subject may list the location")
	}
	if c, err := w.assumeDirect(forgeHS256("", subject)); err == nil && w.canList(t, c) {
		t.Error("MinIO accepted an HS256 token forged with an empty client secret")
	}
}

// CheckConfig refuses source web-identity on a server that is no OIDC issuer, and with a
// stored access key; it accepts it for AWS and for an S3-compatible store.
func TestWebIdentityCheckConfig(t *testing.T) {
	g, err := netguard.New(netguard.Options{Allow: []string{"127.0.0.1/32"}, Dial: netguardtest.Dial(t)})
	if err != nil {
		t.Fatal(err)
	}
	v := provider.New(map[string]provider.Driver{awssts.Name: awssts.New(awssts.Options{Guard: g})}, nil)
	aws := api.CredsKeyConfig{Roots: []string{"s3://bkt/p"}, RoleARN: "arn:aws:iam::123456789012:role/tarn", Source: api.SourceWebIdentity}
	compatible := aws
	compatible.RoleARN, compatible.STSEndpoint, compatible.S3Endpoint = "arn:minio:iam:::role/x", "http://127.0.0.1:9000", "http://127.0.0.1:9000"
	withKey := aws
	withKey.AccessKeyID = "AKIAEXAMPLE"
	badARN := aws
	badARN.RoleARN = "arn:minio:iam:::role/x"
	const iss = "https://tarn.example.com"
	for _, tc := range []struct {
		name  string
		cfg   api.CredsKeyConfig
		check provider.ConfigCheck
		want  string // "" for accepted
	}{
		{"aws", aws, provider.ConfigCheck{Org: "acme", Issuer: iss}, ""},
		{"compatible", compatible, provider.ConfigCheck{Org: "acme", Issuer: iss}, ""},
		{"no issuer", aws, provider.ConfigCheck{Org: "acme"}, "source web-identity needs tarn's own OIDC issuer: start tarn serve with --public-url"},
		{"access key", withKey, provider.ConfigCheck{Org: "acme", Issuer: iss}, "stores no secret"},
		{"secret", aws, provider.ConfigCheck{Org: "acme", Issuer: iss, HasSecret: true}, "stores no secret"},
		{"not an IAM role", badARN, provider.ConfigCheck{Org: "acme", Issuer: iss}, "is not an IAM role ARN"},
	} {
		_, err := v.CheckConfig(context.Background(), awssts.Name, tc.cfg, tc.check)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v, want accepted", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}
