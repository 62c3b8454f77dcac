// Package miniotest runs a real MinIO on 127.0.0.1 for tests: S3 and STS AssumeRole with
// session policies, as the awssts provider and the SDK meet them in production.
//
// One MinIO serves a whole test binary. It starts lazily, on the first Start, on a free
// loopback port with a temporary data directory, and Main stops it when the tests are done:
//
//	func TestMain(m *testing.M) { miniotest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		s := miniotest.Start(t) // a fresh bucket and a fresh MinIO user for this test
//		...
//	}
//
// The MinIO binary is built from source with `go install` once per machine and cached (see
// Binary); scripts/test.sh builds it before the tests with
// `go run ./internal/miniotest/cmd/install-minio`.
package miniotest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/minio/madmin-go/v3"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/testpeer"
)

// Region is the region MinIO answers for; S3 and STS clients sign for it.
const Region = "us-east-1"

// Server is the process-wide MinIO as one test sees it.
type Server struct {
	// Endpoint is "http://127.0.0.1:PORT"; S3, STS and the admin API share it. Buckets are
	// addressed path-style.
	Endpoint string
	// Region is "us-east-1".
	Region string
	// RootUser and RootPassword are the root credentials: full power over every bucket.
	RootUser, RootPassword string
	// Bucket is a bucket created for this test; its name is unique in the process.
	Bucket string
	// UserAccessKey and UserSecretKey are a MinIO user created for this test whose policy
	// allows s3:* on Bucket and Bucket/* only. It is the identity a creds key uses to call
	// AssumeRole: MinIO hands out temporary credentials only to users, and bounds them by
	// the user's policy intersected with the session policy.
	UserAccessKey, UserSecretKey string
	// RoleARN is, for a MinIO of StartOpenID, the role of tarn's issuer: the role_arn of a
	// creds key with source web-identity.
	RoleARN string

	admin *madmin.AdminClient // set by StartOpenID
}

// CredsKey returns the request that makes a tarn creds key of provider aws for this
// server: MinIO's STS and S3 endpoints, path style, and the test user's access key as the
// key's secret. roots are the s3:// locations it may vend for.
func (s *Server) CredsKey(roots ...string) api.PutCredsKeyRequest {
	return api.PutCredsKeyRequest{
		Provider: api.ProviderAWS,
		Config: api.CredsKeyConfig{
			Roots:       roots,
			RoleARN:     "arn:minio:iam:::role/tarn-ignored", // MinIO ignores it
			Region:      s.Region,
			STSEndpoint: s.Endpoint,
			S3Endpoint:  s.Endpoint,
			PathStyle:   true,
			Source:      api.SourceAccessKey,
			AccessKeyID: s.UserAccessKey,
		},
		Secret: s.UserSecretKey,
	}
}

// HostPort returns "127.0.0.1:PORT", the address of Endpoint: the entry that lets a tarn
// server reach this MinIO (tarn serve --allow-endpoint, server.Options.AllowEndpoints).
func (s *Server) HostPort() string { return strings.TrimPrefix(s.Endpoint, "http://") }

// S3 returns an S3 client for the server, path-style, signing with the given credentials
// (sessionToken is empty for long-lived keys).
func (s *Server) S3(accessKey, secretKey, sessionToken string) *s3.Client {
	return newS3(s.Endpoint, accessKey, secretKey, sessionToken)
}

// Put writes body to key of the test bucket with the root credentials.
func (s *Server) Put(ctx context.Context, key, body string) error {
	_, err := s.S3(s.RootUser, s.RootPassword, "").PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.Bucket), Key: aws.String(key), Body: strings.NewReader(body),
	})
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

func newS3(endpoint, accessKey, secretKey, sessionToken string) *s3.Client {
	return s3.New(s3.Options{
		Region:       Region,
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(accessKey, secretKey, sessionToken),
	})
}

// Main runs the tests, stops the MinIO started by Start (SIGTERM, then SIGKILL after 15 s),
// removes its data, and exits with the tests' status.
func Main(m *testing.M) { os.Exit(Run(m.Run)) }

// Run calls run (a testing.M's Run), then stops every MinIO started by Start, and returns
// run's exit code. It lets a TestMain combine several test peers.
func Run(run func() int) int {
	code := run()
	shared.Stop()
	corsMu.Lock()
	for _, sh := range corsShared {
		sh.Stop()
	}
	corsMu.Unlock()
	return code
}

// Start returns the process-wide MinIO, starting it on first use, with a new bucket and a
// new user for t. The user and its policy are removed when t ends; buckets stay until Main
// stops MinIO. Start fails t (with the tail of MinIO's log) when MinIO cannot be built or
// started. It is safe for parallel tests. Without Main, MinIO runs until the test binary
// exits, and the kernel then kills it (Linux); its data directory is removed by the next
// test binary that starts a MinIO.
func Start(t testing.TB) *Server {
	t.Helper()
	return start(t, shared.Get(t))
}

// Options are the settings of a MinIO that StartWith starts.
type Options struct {
	// CORSAllowOrigin is MinIO's server-wide CORS setting (MINIO_API_CORS_ALLOW_ORIGIN,
	// `api cors_allow_origin`): the comma-separated origins it allows on every bucket. This
	// MinIO version has no per-bucket CORS (PutBucketCors answers NotImplemented). Empty
	// means MinIO's default, "*": every origin.
	CORSAllowOrigin string
}

// StartWith is Start for a MinIO with opts: one MinIO per distinct opts serves the whole
// test binary, apart from the one Start shares, and Main stops it too.
func StartWith(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts == (Options{}) {
		return Start(t)
	}
	corsMu.Lock()
	sh, ok := corsShared[opts.CORSAllowOrigin]
	if !ok {
		sh = newShared([]string{"MINIO_API_CORS_ALLOW_ORIGIN=" + opts.CORSAllowOrigin})
		corsShared[opts.CORSAllowOrigin] = sh
	}
	corsMu.Unlock()
	return start(t, sh.Get(t))
}

func start(t testing.TB, in *instance) *Server {
	t.Helper()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n := seq.Add(1)
	s := &Server{
		Endpoint:      in.endpoint,
		Region:        Region,
		RootUser:      in.rootUser,
		RootPassword:  in.rootPassword,
		Bucket:        fmt.Sprintf("tarn-%04d-%s", n, testpeer.RandomHex(4)),
		UserAccessKey: fmt.Sprintf("tarn-user-%04d-%s", n, testpeer.RandomHex(4)),
		UserSecretKey: testpeer.RandomHex(20),
	}
	if _, err := in.root.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(s.Bucket)}); err != nil {
		t.Fatalf("miniotest: create bucket %s: %v", s.Bucket, err)
	}
	policyName := "tarn-bucket-" + s.Bucket
	if err := in.admin.AddCannedPolicy(ctx, policyName, bucketPolicy(s.Bucket)); err != nil {
		t.Fatalf("miniotest: add policy %s: %v", policyName, err)
	}
	if err := in.admin.AddUser(ctx, s.UserAccessKey, s.UserSecretKey); err != nil {
		t.Fatalf("miniotest: add user %s: %v", s.UserAccessKey, err)
	}
	if _, err := in.admin.AttachPolicy(ctx, madmin.PolicyAssociationReq{Policies: []string{policyName}, User: s.UserAccessKey}); err != nil {
		t.Fatalf("miniotest: attach policy %s to %s: %v", policyName, s.UserAccessKey, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := in.admin.RemoveUser(ctx, s.UserAccessKey); err != nil {
			t.Errorf("miniotest: remove user %s: %v", s.UserAccessKey, err)
		}
		if err := in.admin.RemoveCannedPolicy(ctx, policyName); err != nil {
			t.Errorf("miniotest: remove policy %s: %v", policyName, err)
		}
	})
	return s
}

// bucketPolicy allows everything on bucket and its objects, and nothing else.
func bucketPolicy(bucket string) []byte {
	p, _ := json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{{
			"Effect":   "Allow",
			"Action":   []string{"s3:*"},
			"Resource": []string{"arn:aws:s3:::" + bucket, "arn:aws:s3:::" + bucket + "/*"},
		}},
	})
	return p
}

// instance is a running MinIO process.
type instance struct {
	*testpeer.Process
	dir                    string
	endpoint               string
	rootUser, rootPassword string
	admin                  *madmin.AdminClient
	root                   *s3.Client
}

var (
	shared = newShared(nil)
	// corsShared are the MinIOs of StartWith, by CORSAllowOrigin.
	corsShared = map[string]*testpeer.Shared[*instance]{}
	corsMu     sync.Mutex
	seq        atomic.Int64
)

// newShared returns a shared MinIO whose process gets env added to its environment.
func newShared(env []string) *testpeer.Shared[*instance] {
	return &testpeer.Shared[*instance]{
		Pkg: "miniotest", Name: "MinIO",
		Start:   func() (*instance, error) { return startInstance(env) },
		Cleanup: func(in *instance) { os.RemoveAll(in.dir) },
	}
}

const startTimeout = 2 * time.Minute

func startInstance(env []string) (*instance, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	// The free port is found by binding and releasing it, so another process may take it in
	// between; MinIO then exits at once and we try another port.
	return testpeer.Launch(func() (*instance, error) { return launch(bin, env) })
}

func launch(bin string, env []string) (*instance, error) {
	dir, err := testpeer.NewDir("tarn-minio-")
	if err != nil {
		return nil, err
	}
	port, err := testpeer.FreePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	in := &instance{
		dir:          dir,
		endpoint:     fmt.Sprintf("http://127.0.0.1:%d", port),
		rootUser:     "root" + testpeer.RandomHex(6),
		rootPassword: testpeer.RandomHex(20),
	}
	cmd := exec.Command(bin, "server", "--quiet", "--address", fmt.Sprintf("127.0.0.1:%d", port), filepath.Join(dir, "data"))
	// Inherited MINIO_* variables are dropped (MINIO_STS_DURATION, for one, would override
	// DurationSeconds) so the server runs the same everywhere.
	cmd.Env = append(testpeer.WithoutEnv(os.Environ(), "MINIO_"),
		"MINIO_ROOT_USER="+in.rootUser,
		"MINIO_ROOT_PASSWORD="+in.rootPassword,
		"MINIO_BROWSER=off", // no console server
		"MINIO_UPDATE=off",  // never looks for updates
		"MINIO_CI_CD=on",    // small buffer pool, no root-disk checks, immediate purges
	)
	cmd.Env = append(cmd.Env, env...)
	if in.Process, err = testpeer.Start(cmd, filepath.Join(dir, "minio.log")); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}

	in.admin, err = madmin.New(fmt.Sprintf("127.0.0.1:%d", port), in.rootUser, in.rootPassword, false)
	if err != nil {
		in.Stop()
		os.RemoveAll(dir)
		return nil, err
	}
	in.root = newS3(in.endpoint, in.rootUser, in.rootPassword, "")

	if err := in.WaitReady(startTimeout, in.ready, "address already in use"); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("MinIO %s on %s did not start: %w", Version, in.endpoint, err)
	}
	return in, nil
}

// ready reports whether MinIO's object layer and IAM are up: /minio/health/live answers
// 200 without the "offline" status header, and the admin API lists users.
func (in *instance) ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := testpeer.Probe(ctx, http.DefaultClient, in.endpoint+"/minio/health/live")
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health: %s", resp.Status)
	}
	if st := resp.Header.Get("X-Minio-Server-Status"); st != "" {
		return fmt.Errorf("health: server status %s", st)
	}
	if _, err := in.admin.ListUsers(ctx); err != nil { // IAM initialises in the background
		return fmt.Errorf("admin: %w", err)
	}
	return nil
}
