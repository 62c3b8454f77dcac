package dataset_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/client"
	"github.com/tarnhq/tarn/dataset"
	"github.com/tarnhq/tarn/internal/miniotest"
	"github.com/tarnhq/tarn/internal/testenv"
)

// exampleTB lets Example functions use the test helpers (testenv, miniotest), which take a
// testing.TB: failures end the example with log.Fatal, and cleanups run at done.
type exampleTB struct {
	testing.TB // nil: only the methods below are called
	cleanups   []func()
}

func (t *exampleTB) Helper()                           {}
func (t *exampleTB) Fatal(args ...any)                 { log.Fatal(args...) }
func (t *exampleTB) Fatalf(format string, args ...any) { log.Fatalf(format, args...) }
func (t *exampleTB) Errorf(format string, args ...any) { log.Printf(format, args...) }
func (t *exampleTB) Logf(format string, args ...any)   {}
func (t *exampleTB) Cleanup(f func())                  { t.cleanups = append(t.cleanups, f) }
func (t *exampleTB) TempDir() string {
	d, err := os.MkdirTemp("", "tarn-example-")
	if err != nil {
		log.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func (t *exampleTB) done() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}

// tarn is a control plane whose org acme keeps its datasets on MinIO, through the creds key
// acme/minio (provider aws, roots s3://Bucket), with the users alice (writer) and bob
// (reader), and outsider, who belongs to no org.
type tarn struct {
	*testenv.Env
	tb                   testing.TB
	minio                *miniotest.Server
	admin                *client.Client
	alice, bob, outsider *client.Client
	// Tokens of the users, for clients with a special transport.
	aliceToken, bobToken string
}

const org = "acme"

func newTarn(t testing.TB) *tarn {
	t.Helper()
	ctx := context.Background()
	srv := miniotest.Start(t)
	env := testenv.New(t, testenv.Options{AllowEndpoints: []string{srv.HostPort()}}) // one MinIO serves every miniotest bucket
	admin := env.Admin(t)
	if _, err := admin.CreateOrg(ctx, org); err != nil {
		t.Fatalf("create org: %v", err)
	}
	e := &tarn{Env: env, tb: t, minio: srv, admin: admin}
	e.putS3Key("minio", srv, "s3://"+srv.Bucket)
	e.aliceToken = env.NewUser(t, "alice", org, api.RoleWriter)
	e.bobToken = env.NewUser(t, "bob", org, api.RoleReader)
	e.alice = env.Client(t, e.aliceToken)
	e.bob = env.Client(t, e.bobToken)
	e.outsider = env.Client(t, env.NewUser(t, "mallory", "", ""))
	return e
}

// putS3Key creates the creds key acme/name on srv's MinIO, the way `tarn creds add
// --provider aws --source access-key` does for MinIO, with the given roots.
func (e *tarn) putS3Key(name string, srv *miniotest.Server, roots ...string) {
	e.tb.Helper()
	_, err := e.admin.PutCredsKey(context.Background(), org, name, srv.CredsKey(roots...))
	if err != nil {
		e.tb.Fatalf("creds key %s: %v", name, err)
	}
}

// put stores an object with MinIO's root credentials, as a user's own upload would.
func put(t testing.TB, srv *miniotest.Server, bucket, key string, data []byte) {
	t.Helper()
	c := srv.S3(srv.RootUser, srv.RootPassword, "")
	if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data),
	}); err != nil {
		t.Fatalf("put s3://%s/%s: %v", bucket, key, err)
	}
}

// countObjects counts the objects under prefix in srv's bucket.
func countObjects(t testing.TB, srv *miniotest.Server, prefix string) int {
	t.Helper()
	c := srv.S3(srv.RootUser, srv.RootPassword, "")
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(srv.Bucket), Prefix: aws.String(prefix)})
	n := 0
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("list s3://%s/%s: %v", srv.Bucket, prefix, err)
		}
		n += len(out.Contents)
	}
	return n
}

// cocoSchema is the schema of the datasets the examples create.
var cocoSchema = dataset.NewSchema(
	dataset.Column{Name: "name", Type: dataset.T(dataset.Text)},
	dataset.Column{Name: "label", Type: dataset.T(dataset.Int64)},
)

// cocoLocation is where the org's dataset coco lives.
func (e *tarn) cocoLocation() string { return "s3://" + e.minio.Bucket + "/datasets/coco" }

// seedCoco creates the dataset coco with 3 rows in the org's bucket as alice, through the
// creds key, and registers it as al://acme/coco (flow 1, without printing).
func (e *tarn) seedCoco() {
	e.tb.Helper()
	ctx := context.Background()
	ds, err := dataset.CreatePath(ctx, e.cocoLocation(), cocoSchema, dataset.PathOptions{
		Client: e.alice, Org: org, CredsKey: "minio", Mode: api.ModeWrite,
	})
	if err != nil {
		e.tb.Fatalf("create coco: %v", err)
	}
	defer ds.Close()
	w := ds.Appender(dataset.AppenderOptions{})
	defer w.Close()
	if err := w.Append(ctx,
		dataset.Row{"name": "cat", "label": int64(0)},
		dataset.Row{"name": "dog", "label": int64(1)},
		dataset.Row{"name": "owl", "label": int64(2)},
	); err != nil {
		e.tb.Fatalf("append: %v", err)
	}
	if _, err := w.Commit(ctx, "three animals"); err != nil {
		e.tb.Fatalf("commit: %v", err)
	}
	if _, err := e.alice.CreateDataset(ctx, org, api.CreateDatasetRequest{
		Name: "coco", Location: e.cocoLocation(), CredsKey: "minio",
	}); err != nil {
		e.tb.Fatalf("connect coco: %v", err)
	}
}

// countingTransport counts the requests to the control plane and remembers their bodies.
type countingTransport struct {
	mu     sync.Mutex
	bodies []string // "METHOD PATH BODY"
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(r.Body)
		r.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	c.mu.Lock()
	c.bodies = append(c.bodies, r.Method+" "+r.URL.Path+" "+string(body))
	c.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

func (c *countingTransport) requests() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.bodies...)
}

// counted returns a client for token whose requests ct counts.
func (e *tarn) counted(token string) (*client.Client, *countingTransport) {
	e.tb.Helper()
	ct := &countingTransport{}
	c, err := client.New(client.Options{Endpoint: e.URL, Token: token, HTTPClient: &http.Client{Transport: ct}})
	if err != nil {
		e.tb.Fatal(err)
	}
	return c, ct
}

func writeVends(reqs []string) []string {
	var out []string
	for _, r := range reqs {
		if strings.Contains(r, "/credentials") && strings.Contains(r, `"mode":"`+api.ModeWrite+`"`) {
			out = append(out, r)
		}
	}
	return out
}

// newPhotoBucket starts a second bucket (with its own MinIO user) holding
// photos/{eel,fox}.jpg and secret/owl.jpg, and creates two creds keys of acme on it: photos
// (roots s3://BUCKET/photos) and other (roots s3://BUCKET). Neither is linked to a dataset.
// It returns s3://BUCKET/photos.
func newPhotoBucket(t testing.TB, e *tarn) string {
	t.Helper()
	srv := miniotest.Start(t)
	for _, name := range []string{"eel.jpg", "fox.jpg"} {
		put(t, srv, srv.Bucket, "photos/"+name, []byte("bytes of "+name))
	}
	put(t, srv, srv.Bucket, "secret/owl.jpg", []byte("secret"))
	e.putS3Key("photos", srv, "s3://"+srv.Bucket+"/photos")
	e.putS3Key("other", srv, "s3://"+srv.Bucket)
	return fmt.Sprintf("s3://%s/photos", srv.Bucket)
}
