package miniotest

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/testpeer"
)

// RolePolicyName is the name of the canned policy that the MinIO of StartOpenID gives to
// every AssumeRoleWithWebIdentity session (MINIO_IDENTITY_OPENID_ROLE_POLICY); set its
// document with Server.SetRolePolicy.
const RolePolicyName = "tarn-web-identity"

// OpenIDClientID is the client ID the MinIO of StartOpenID requires in a token's aud:
// the audience tarn's tokens for AWS carry.
const OpenIDClientID = api.AudienceAWS

// StartOpenID starts a MinIO of its own for t that trusts the OpenID issuer whose discovery
// document is at configURL for AssumeRoleWithWebIdentity: client ID OpenIDClientID, role
// policy RolePolicyName (empty until SetRolePolicy), and a random client secret that nobody
// is given (MinIO also accepts HS256 tokens keyed with the client secret, so an empty one
// would let anyone mint tokens). The issuer must answer before StartOpenID is called: MinIO
// fetches discovery and the JWKS at startup, and then only when it meets an unknown kid.
// The answer's RoleARN is the role that MinIO made for the issuer. The MinIO is stopped when
// t ends.
func StartOpenID(t testing.TB, configURL string) *Server {
	t.Helper()
	in, err := startInstance([]string{
		"MINIO_IDENTITY_OPENID_CONFIG_URL=" + configURL,
		"MINIO_IDENTITY_OPENID_CLIENT_ID=" + OpenIDClientID,
		"MINIO_IDENTITY_OPENID_CLIENT_SECRET=" + testpeer.RandomHex(20),
		"MINIO_IDENTITY_OPENID_ROLE_POLICY=" + RolePolicyName,
	})
	if err != nil {
		t.Fatalf("miniotest: start MinIO trusting %s: %v", configURL, err)
	}
	t.Cleanup(func() {
		in.Stop()
		os.RemoveAll(in.dir)
	})
	s := start(t, in)
	s.RoleARN = RoleARN(OpenIDClientID)
	s.admin = in.admin
	return s
}

// RoleARN returns the ARN of the role that MinIO makes for an OpenID provider with a role
// policy: arn:minio:iam:::role/ followed by the unpadded base64url SHA-1 of its client ID
// (MinIO's internal/config/identity/openid; the region part is empty without a configured
// region).
func RoleARN(clientID string) string {
	h := sha1.Sum([]byte(clientID))
	return "arn:minio:iam:::role/" + base64.RawURLEncoding.EncodeToString(h[:])
}

// SetRolePolicy sets the document of RolePolicyName, the policy of every web identity
// session of the MinIO of StartOpenID.
func (s *Server) SetRolePolicy(t testing.TB, doc []byte) {
	t.Helper()
	if s.admin == nil {
		t.Fatal("miniotest: SetRolePolicy needs a MinIO of StartOpenID")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.admin.AddCannedPolicy(ctx, RolePolicyName, doc); err != nil {
		t.Fatalf("miniotest: set role policy: %v", fmt.Errorf("%w (document %s)", err, doc))
	}
}
