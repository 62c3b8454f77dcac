package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/azuritetest"
	"github.com/tarnhq/tarn/internal/fakegcstest"
	"github.com/tarnhq/tarn/internal/miniotest"
	"github.com/tarnhq/tarn/location"
)

func TestMain(m *testing.M) {
	os.Exit(miniotest.Run(func() int { return azuritetest.Run(func() int { return fakegcstest.Run(m.Run) }) }))
}

// minioVendor is a Vendor that vends the way tarn's server does for an S3-compatible store:
// one real STS AssumeRole on MinIO with the test user's keys and an inline session policy
// limited to the location's prefix and the mode. The dataset al://acme/coco lives at
// s3://BUCKET/datasets/coco. It reports ExpiresAt from its own clock (now + life), so tests
// can make credentials look short-lived while MinIO's real ones (15 minutes) stay valid, and
// it counts its calls. tamper, when set, alters the n-th answer (n from 1).
type minioVendor struct {
	s      *miniotest.Server
	sts    *sts.Client
	now    func() time.Time
	life   time.Duration
	tamper func(n int, c *api.S3Credentials)

	mu    sync.Mutex
	calls int
	keys  []string // access key IDs vended, in order
}

const datasetPrefix = "datasets/coco"

func newMinioVendor(t *testing.T, s *miniotest.Server, now func() time.Time) *minioVendor {
	t.Helper()
	return &minioVendor{
		s:    s,
		now:  now,
		life: 10 * time.Minute,
		sts: sts.New(sts.Options{
			Region:       s.Region,
			BaseEndpoint: aws.String(s.Endpoint),
			Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
				return aws.Credentials{AccessKeyID: s.UserAccessKey, SecretAccessKey: s.UserSecretKey}, nil
			}),
		}),
	}
}

func (v *minioVendor) DatasetCredentials(ctx context.Context, org, name, mode string) (*api.Credentials, error) {
	if org != "acme" || name != "coco" {
		return nil, &api.Problem{Status: 404, Code: api.CodeNotFound, Detail: "no such dataset"}
	}
	return v.vend(ctx, "s3://"+v.s.Bucket+"/"+datasetPrefix, mode)
}

func (v *minioVendor) LocationCredentials(ctx context.Context, org, key, loc, mode string) (*api.Credentials, error) {
	return v.vend(ctx, loc, mode)
}

func (v *minioVendor) LinkedCredentials(ctx context.Context, org, name, key, loc string) (*api.Credentials, error) {
	return v.vend(ctx, loc, api.ModeRead)
}

func (v *minioVendor) vend(ctx context.Context, loc, mode string) (*api.Credentials, error) {
	v.mu.Lock()
	v.calls++
	n := v.calls
	v.mu.Unlock()

	l, err := location.Parse(loc)
	if err != nil {
		return nil, err
	}
	out, err := v.sts.AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn:         aws.String("arn:aws:iam::000000000000:role/ignored-by-minio"),
		RoleSessionName: aws.String("tarn-storage-test"),
		Policy:          aws.String(sessionPolicy(l.Bucket, l.Path, mode)),
		DurationSeconds: aws.Int32(900),
	})
	if err != nil {
		return nil, fmt.Errorf("assume role: %w", err)
	}
	c := &api.Credentials{
		Location:  loc,
		Mode:      mode,
		Provider:  "s3",
		ExpiresAt: v.now().Add(v.life),
		S3: &api.S3Credentials{
			AccessKeyID:     aws.ToString(out.Credentials.AccessKeyId),
			SecretAccessKey: aws.ToString(out.Credentials.SecretAccessKey),
			SessionToken:    aws.ToString(out.Credentials.SessionToken),
			Region:          v.s.Region,
			Endpoint:        v.s.Endpoint,
			PathStyle:       true,
		},
	}
	if v.tamper != nil {
		v.tamper(n, c.S3)
	}
	v.mu.Lock()
	v.keys = append(v.keys, c.S3.AccessKeyID)
	v.mu.Unlock()
	return c, nil
}

func (v *minioVendor) count() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.calls
}

// sessionPolicy limits credentials to bucket/prefix (the whole bucket for an empty prefix):
// read gets objects and lists the prefix; write also puts and deletes.
func sessionPolicy(bucket, prefix, mode string) string {
	actions := []string{"s3:GetObject"}
	if mode == api.ModeWrite {
		actions = append(actions, "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts")
	}
	objects := "arn:aws:s3:::" + bucket + "/*"
	list := map[string]any{"Effect": "Allow", "Action": []string{"s3:ListBucket"}, "Resource": []string{"arn:aws:s3:::" + bucket}}
	if prefix != "" {
		objects = "arn:aws:s3:::" + bucket + "/" + prefix + "/*"
		list["Condition"] = map[string]any{"StringLike": map[string]any{"s3:prefix": []string{prefix, prefix + "/*"}}}
	}
	p, _ := json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{
			{"Effect": "Allow", "Action": actions, "Resource": []string{objects}},
			list,
		},
	})
	return string(p)
}

// seed writes key=body into the bucket with the root credentials.
func seed(t *testing.T, s *miniotest.Server, key, body string) {
	t.Helper()
	if err := s.Put(t.Context(), key, body); err != nil {
		t.Fatal(err)
	}
}

// rootKeys lists the keys of the bucket with the root credentials.
func rootKeys(t *testing.T, s *miniotest.Server) []string {
	t.Helper()
	out, err := s.S3(s.RootUser, s.RootPassword, "").ListObjectsV2(t.Context(), &s3.ListObjectsV2Input{Bucket: aws.String(s.Bucket)})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	slices.Sort(keys)
	return keys
}

func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// realNowClock is a clock that starts at the real time, so that the expiry times the
// vendor reports are never in the past for MinIO or the SDK.
func realNowClock() *clock { return &clock{t: time.Now()} }

func TestS3ReaderOutlivesTenCredentialLifetimes(t *testing.T) {
	s := miniotest.Start(t)
	seed(t, s, datasetPrefix+"/train/0.bin", "rows of coco")
	clk := realNowClock()
	v := newMinioVendor(t, s, clk.Now) // credentials "expire" 10 minutes after the clock's now

	b := open(t, "al://acme/coco", Options{Client: v, Now: clk.Now})
	// 100 minutes, a read a minute and a list every 10: ten 10-minute lifetimes.
	for minute := 1; minute <= 100; minute++ {
		clk.Add(time.Minute)
		got, err := b.ReadAll(t.Context(), "train/0.bin")
		if err != nil {
			t.Fatalf("minute %d: read after %d vends: %v", minute, v.count(), err)
		}
		if string(got) != "rows of coco" {
			t.Fatalf("minute %d: read %q", minute, got)
		}
		if minute%10 == 0 {
			if got, want := keys(t, b), []string{"train/0.bin"}; !slices.Equal(got, want) {
				t.Fatalf("minute %d: List = %q, want %q", minute, got, want)
			}
		}
	}
	// Renewal at half of each 10-minute credential: every 5 minutes, 20 times in 100.
	revends := v.count() - 1
	if revends < 18 || revends > 21 {
		t.Errorf("%d re-vends over ten credential lifetimes, want about two per lifetime (18 to 21)", revends)
	}
	v.mu.Lock()
	distinct := len(slices.Compact(slices.Sorted(slices.Values(v.keys))))
	v.mu.Unlock()
	if distinct != v.count() {
		t.Errorf("%d distinct access keys in %d vends: MinIO's STS should mint a new one each time", distinct, v.count())
	}
	t.Logf("%d vends for 100 reads and 10 lists over 100 simulated minutes", v.count())
}

func TestS3RefusedCredentialIsReplacedOnce(t *testing.T) {
	s := miniotest.Start(t)
	seed(t, s, datasetPrefix+"/x", "data")
	revoked := func(n int, c *api.S3Credentials) { c.AccessKeyID = fmt.Sprintf("TARNREVOKED%05d", n) }

	t.Run("first credential refused, read succeeds after one re-vend", func(t *testing.T) {
		v := newMinioVendor(t, s, time.Now)
		v.tamper = func(n int, c *api.S3Credentials) {
			if n == 1 {
				revoked(n, c)
			}
		}
		b := open(t, "al://acme/coco", Options{Client: v})
		if got, err := b.ReadAll(t.Context(), "x"); err != nil || string(got) != "data" {
			t.Fatalf("read = %q, %v", got, err)
		}
		if v.count() != 2 {
			t.Errorf("%d vends, want 2 (the refused one and its replacement)", v.count())
		}
		// The replacement serves what follows, without more vends.
		for range 5 {
			if _, err := b.ReadAll(t.Context(), "x"); err != nil {
				t.Fatal(err)
			}
		}
		if v.count() != 2 {
			t.Errorf("%d vends after more reads, want still 2", v.count())
		}
	})

	t.Run("first credential refused, write body is sent again", func(t *testing.T) {
		v := newMinioVendor(t, s, time.Now)
		v.tamper = func(n int, c *api.S3Credentials) {
			if n == 1 {
				revoked(n, c)
			}
		}
		w := open(t, "al://acme/coco", Options{Client: v, Mode: api.ModeWrite})
		body := bytes.Repeat([]byte("0123456789"), 100_000) // 1 MB
		if err := w.WriteAll(t.Context(), "written/1", body, nil); err != nil {
			t.Fatalf("write: %v", err)
		}
		got, err := w.ReadAll(t.Context(), "written/1")
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("read back %d bytes, %v; want the %d written", len(got), err, len(body))
		}
		if v.count() != 2 {
			t.Errorf("%d vends, want 2", v.count())
		}
	})

	t.Run("every credential refused: one retry per operation, then the error", func(t *testing.T) {
		v := newMinioVendor(t, s, time.Now)
		v.tamper = revoked
		b := open(t, "al://acme/coco", Options{Client: v})
		for i := 1; i <= 2; i++ {
			_, err := b.ReadAll(t.Context(), "x")
			if code := errorCode(err); code != "InvalidAccessKeyId" {
				t.Fatalf("read %d: error %v (code %q), want InvalidAccessKeyId", i, err, code)
			}
			if want := 1 + i; v.count() != want {
				t.Errorf("after read %d: %d vends, want %d (one re-vend per operation)", i, v.count(), want)
			}
		}
	})
}

func TestS3DeniedRequestCostsAtMostOneVendPerLifetime(t *testing.T) {
	s := miniotest.Start(t)
	clk := realNowClock()
	v := newMinioVendor(t, s, clk.Now)
	b := open(t, "al://acme/coco", Options{Client: v}) // read credentials

	for i := range 3 {
		err := b.WriteAll(t.Context(), "nope", []byte("x"), nil)
		if code := errorCode(err); code != "AccessDenied" {
			t.Fatalf("write %d with read credentials: %v (code %q), want AccessDenied", i, err, code)
		}
	}
	// The first denial may be a stale credential, so it earns one re-vend; the replacement
	// is denied too, so that is what it is: no more vends.
	if v.count() != 2 {
		t.Errorf("%d vends for 3 denied writes, want 2", v.count())
	}
	if got := rootKeys(t, s); len(got) != 0 {
		t.Errorf("a read credential wrote %q", got)
	}
}

func TestS3ConcurrentReadersShareOneVend(t *testing.T) {
	s := miniotest.Start(t)
	seed(t, s, datasetPrefix+"/x", "data")
	clk := realNowClock()
	v := newMinioVendor(t, s, clk.Now)
	b := open(t, "al://acme/coco", Options{Client: v, Now: clk.Now})

	readAll := func() {
		t.Helper()
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				if got, err := b.ReadAll(context.Background(), "x"); err != nil || string(got) != "data" {
					t.Errorf("read = %q, %v", got, err)
				}
			})
		}
		wg.Wait()
	}
	readAll() // a bucket just opened: the vend of OpenBucket serves all 16
	if v.count() != 1 {
		t.Errorf("16 concurrent readers of a new bucket: %d vends, want 1", v.count())
	}
	clk.Add(8 * time.Minute) // every reader finds the credential due
	readAll()
	if v.count() != 2 {
		t.Errorf("16 concurrent readers of a due credential: %d vends, want 2 in all", v.count())
	}
}

func TestS3OpenScopesKeys(t *testing.T) {
	s := miniotest.Start(t)
	v := newMinioVendor(t, s, time.Now)

	train := open(t, "al://acme/coco/train", Options{Client: v, Mode: api.ModeWrite})
	write(t, train, "0", "t0")
	raw := open(t, "s3://"+s.Bucket+"/raw/images", Options{Client: v, Mode: api.ModeWrite, Org: "acme", CredsKey: "minio"})
	write(t, raw, "cat.jpg", "jpeg")
	root := open(t, "s3://"+s.Bucket, Options{Client: v, Org: "acme", CredsKey: "minio"})

	want := []string{datasetPrefix + "/train/0", "raw/images/cat.jpg"}
	if got := rootKeys(t, s); !slices.Equal(got, want) {
		t.Errorf("keys in the bucket = %q, want %q", got, want)
	}
	if got := keys(t, root); !slices.Equal(got, want) {
		t.Errorf("List of the bucket-root location = %q, want %q", got, want)
	}
	if got := read(t, root, "raw/images/cat.jpg"); got != "jpeg" {
		t.Errorf("read through the bucket root = %q", got)
	}
	// The session policy holds the credentials to their prefix: the prefixed bucket cannot
	// be talked out of it, and the store refuses what the policy does not allow.
	coco := open(t, "al://acme/coco", Options{Client: v})
	if _, err := coco.ReadAll(t.Context(), "../../raw/images/cat.jpg"); err == nil {
		t.Error("read outside the dataset through al://acme/coco succeeded")
	}
	if got := read(t, coco, "train/0"); got != "t0" {
		t.Errorf("read train/0 = %q", got)
	}
}

func TestS3ErrorsNeverHoldSecrets(t *testing.T) {
	s := miniotest.Start(t)
	v := newMinioVendor(t, s, time.Now)
	var secrets []string
	v.tamper = func(n int, c *api.S3Credentials) {
		c.AccessKeyID = "TARNREVOKED"
		v.mu.Lock()
		secrets = append(secrets, c.SecretAccessKey, c.SessionToken)
		v.mu.Unlock()
	}
	b := open(t, "al://acme/coco", Options{Client: v})
	_, err := b.ReadAll(t.Context(), "x")
	if err == nil {
		t.Fatal("read with a refused credential succeeded")
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, sec := range secrets {
		if strings.Contains(err.Error(), sec) {
			t.Errorf("error %q holds a secret", err)
		}
	}
}
