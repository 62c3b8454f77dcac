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
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/minio/madmin-go/v3"

	"github.com/tarnhq/tarn/api"
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
	stop()
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
	in, err := get()
	if err != nil {
		t.Fatalf("miniotest: %v", err)
	}
	select {
	case <-in.exited:
		t.Fatalf("miniotest: MinIO exited during the tests; log %s:\n%s", in.logPath, in.logTail())
	default:
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n := seq.Add(1)
	s := &Server{
		Endpoint:      in.endpoint,
		Region:        Region,
		RootUser:      in.rootUser,
		RootPassword:  in.rootPassword,
		Bucket:        fmt.Sprintf("tarn-%04d-%s", n, randomHex(4)),
		UserAccessKey: fmt.Sprintf("tarn-user-%04d-%s", n, randomHex(4)),
		UserSecretKey: randomHex(20),
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
	cmd                    *exec.Cmd
	exited                 chan struct{} // closed when the process has exited
	dir, logPath           string
	endpoint               string
	rootUser, rootPassword string
	admin                  *madmin.AdminClient
	root                   *s3.Client
}

var (
	mu       sync.Mutex
	running  *instance
	startErr error // memoized: a MinIO that failed to start is not tried again
	seq      atomic.Int64
)

// get returns the running instance, starting it on first use.
func get() (*instance, error) {
	mu.Lock()
	defer mu.Unlock()
	if running == nil && startErr == nil {
		running, startErr = startInstance()
	}
	return running, startErr
}

// stop ends the running instance, if any, and removes its data.
func stop() {
	mu.Lock()
	defer mu.Unlock()
	if running == nil {
		return
	}
	in := running
	running = nil
	in.kill()
	os.RemoveAll(in.dir)
}

func (in *instance) kill() {
	in.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-in.exited:
	case <-time.After(15 * time.Second):
		in.cmd.Process.Kill()
		<-in.exited
	}
}

const startTimeout = 2 * time.Minute

func startInstance() (*instance, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	// The free port is found by binding and releasing it, so another process may take it in
	// between; MinIO then exits at once and we try another port.
	for attempt := 0; ; attempt++ {
		in, err := launch(bin)
		if err == nil {
			return in, nil
		}
		if attempt == 2 || !errors.Is(err, errAddrInUse) {
			return nil, err
		}
	}
}

var errAddrInUse = errors.New("address already in use")

func launch(bin string) (*instance, error) {
	removeStale()
	dir, err := os.MkdirTemp("", tempPattern)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	in := &instance{
		exited:       make(chan struct{}),
		dir:          dir,
		logPath:      filepath.Join(dir, "minio.log"),
		endpoint:     fmt.Sprintf("http://127.0.0.1:%d", port),
		rootUser:     "root" + randomHex(6),
		rootPassword: randomHex(20),
	}
	logFile, err := os.Create(in.logPath)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer logFile.Close()

	in.cmd = exec.Command(bin, "server", "--quiet", "--address", fmt.Sprintf("127.0.0.1:%d", port), filepath.Join(dir, "data"))
	in.cmd.Env = append(withoutMinIOEnv(os.Environ()),
		"MINIO_ROOT_USER="+in.rootUser,
		"MINIO_ROOT_PASSWORD="+in.rootPassword,
		"MINIO_BROWSER=off", // no console server
		"MINIO_UPDATE=off",  // never looks for updates
		"MINIO_CI_CD=on",    // small buffer pool, no root-disk checks, immediate purges
	)
	in.cmd.Stdout, in.cmd.Stderr = logFile, logFile
	in.cmd.SysProcAttr = sysProcAttr()
	if err := in.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		in.cmd.Wait()
		close(in.exited)
	}()

	in.admin, err = madmin.New(fmt.Sprintf("127.0.0.1:%d", port), in.rootUser, in.rootPassword, false)
	if err != nil {
		in.kill()
		os.RemoveAll(dir)
		return nil, err
	}
	in.root = newS3(in.endpoint, in.rootUser, in.rootPassword, "")

	if err := in.waitReady(); err != nil {
		in.kill()
		log := in.logTail()
		os.RemoveAll(dir)
		if strings.Contains(log, "address already in use") {
			err = fmt.Errorf("%w: %v", errAddrInUse, err)
		}
		return nil, fmt.Errorf("MinIO %s on %s did not start: %w; log:\n%s", Version, in.endpoint, err, log)
	}
	return in, nil
}

const (
	tempPattern = "tarn-minio-"
	ownerFile   = "owner.pid" // the pid of the test binary that started the MinIO
)

// removeStale removes the data directories left by test binaries that died without running
// Main's cleanup (their MinIO died with them: see sysProcAttr).
func removeStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), tempPattern+"*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, ownerFile))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(string(b))
		if err == nil && pid > 0 && errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
			os.RemoveAll(d)
		}
	}
}

// waitReady waits until MinIO's object layer and IAM are up: /minio/health/live answers
// 200 without the "offline" status header, and the admin API lists users.
func (in *instance) waitReady() error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if last = in.ready(ctx); last == nil {
			return nil
		}
		select {
		case <-in.exited:
			return fmt.Errorf("MinIO exited: %v", in.cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("not ready after %s: %v", startTimeout, last)
		case <-tick.C:
		}
	}
}

func (in *instance) ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, in.endpoint+"/minio/health/live", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
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

// logTail returns the last few KiB of MinIO's log.
func (in *instance) logTail() string {
	b, err := os.ReadFile(in.logPath)
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return "(empty)"
	}
	return tail(b, 4096)
}

// withoutMinIOEnv drops inherited MINIO_* variables (MINIO_STS_DURATION, for one, would
// override DurationSeconds) so the server runs the same everywhere.
func withoutMinIOEnv(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "MINIO_") {
			out = append(out, kv)
		}
	}
	return out
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
