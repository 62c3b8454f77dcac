package cors_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/tarnhq/tarn/internal/azuritetest"
	"github.com/tarnhq/tarn/internal/cors"
	"github.com/tarnhq/tarn/internal/fakegcstest"
	"github.com/tarnhq/tarn/internal/miniotest"
)

const console = "http://console.test:7777"

// presignMinIO writes an object to s's bucket and returns a presigned GET URL of it.
func presignMinIO(t *testing.T, s *miniotest.Server) string {
	t.Helper()
	if err := s.Put(t.Context(), "ds/tarn.json", `{"format":"tarn"}`); err != nil {
		t.Fatal(err)
	}
	req, err := s3.NewPresignClient(s.S3(s.RootUser, s.RootPassword, "")).PresignGetObject(t.Context(),
		&s3.GetObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String("ds/tarn.json")}, s3.WithPresignExpires(5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	return req.URL
}

// MinIO allows origins server-wide only: with another origin than the console's, Check
// names the origin checks and the rule; with the console's, every check passes. Setting a
// bucket rule says it is server-wide, and showing one reads none.
func TestCheckOnMinIO(t *testing.T) {
	wrong := miniotest.StartWith(t, miniotest.Options{CORSAllowOrigin: "http://other.test"})
	rep := cors.Check(t.Context(), http.DefaultClient, presignMinIO(t, wrong), console)
	if rep.OK() || !slices.Contains(rep.Failed(), cors.CheckGet) {
		t.Fatalf("MinIO allowing another origin: failed %v, want %q among them (%+v)", rep.Failed(), cors.CheckGet, rep)
	}
	p := rep.Problem()
	for _, want := range []string{console, "AllowedOrigins [" + console + "]", "Range", "ETag", "tarn cors set"} {
		if !strings.Contains(p, want) {
			t.Errorf("Problem() = %q: want it to name %q", p, want)
		}
	}
	if strings.Contains(p, "X-Amz-Signature") {
		t.Errorf("Problem() shows the signature: %q", p)
	}

	right := miniotest.StartWith(t, miniotest.Options{CORSAllowOrigin: console})
	rep = cors.Check(t.Context(), http.DefaultClient, presignMinIO(t, right), console)
	if !rep.OK() || rep.Problem() != "" || len(rep.Checks) != 6 {
		t.Errorf("MinIO allowing the console: failed %v, %d checks (%+v)", rep.Failed(), len(rep.Checks), rep)
	}

	missing := strings.Replace(presignMinIO(t, right), "/ds/tarn.json?", "/ds/missing.json?", 1)
	if rep = cors.Check(t.Context(), http.DefaultClient, missing, console); rep.OK() || rep.GetStatus != http.StatusForbidden ||
		!strings.Contains(rep.Problem(), "does not read the object") || strings.Contains(rep.Problem(), "AllowedOrigins") {
		t.Errorf("a URL signed for another object: %d %q; want it to say the URL reads nothing, not to add a rule", rep.GetStatus, rep.Problem())
	}

	store := cors.S3{Client: right.S3(right.RootUser, right.RootPassword, ""), Bucket: right.Bucket}
	if rules, err := store.Rules(t.Context()); err != nil || len(rules) != 0 {
		t.Errorf("MinIO's bucket rules: %v, %v; want none", rules, err)
	}
	if _, err := cors.Set(t.Context(), store, cors.NewRule(console)); !errors.Is(err, cors.ErrServerWide) {
		t.Errorf("Set on MinIO: %v; want ErrServerWide", err)
	}
}

// On Azurite, Check fails before the rule is set and passes after; Set keeps the
// account's other rules and reads back what it wrote.
func TestSetShowCheckOnAzurite(t *testing.T) {
	az := azuritetest.Start(t)
	svc, err := service.NewClientWithSharedKeyCredential(az.Endpoint+"/", az.SharedKeyCredential(), &service.ClientOptions{ClientOptions: az.ClientOptions().ClientOptions})
	if err != nil {
		t.Fatal(err)
	}
	store := cors.Azure{Client: svc, Account: az.Account}
	upload := cors.Rule{AllowedOrigins: []string{"https://upload.test"}, AllowedMethods: []string{"PUT"}, AllowedHeaders: []string{"x-ms-blob-type"}, ExposeHeaders: []string{}}
	if err := store.SetRules(t.Context(), []cors.Rule{upload}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.SetRules(t.Context(), nil) }) // the rules are the whole account's

	blob := az.SharedKeyClient(t).ServiceClient().NewContainerClient(az.Container).NewBlockBlobClient("ds/tarn.json")
	if _, err := blob.UploadBuffer(t.Context(), []byte(`{"format":"tarn"}`), nil); err != nil {
		t.Fatal(err)
	}
	u, err := blob.GetSASURL(sas.BlobPermissions{Read: true}, time.Now().Add(time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep := cors.Check(t.Context(), az.HTTPClient, u, console); rep.OK() || !slices.Contains(rep.Failed(), cors.CheckPreflight) {
		t.Errorf("before set: failed %v, want %q among them", rep.Failed(), cors.CheckPreflight)
	}

	rules, err := cors.Set(t.Context(), store, cors.NewRule(console))
	if err != nil {
		t.Fatal(err)
	}
	shown, err := store.Rules(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(shown) != 2 || !slices.Equal(shown[0].AllowedOrigins, []string{console}) || !slices.Equal(shown[0].ExposeHeaders, cors.NewRule().ExposeHeaders) ||
		shown[0].MaxAgeSeconds != cors.MaxAgeSeconds || !slices.Equal(shown[1].AllowedMethods, []string{"PUT"}) || len(rules) != 2 {
		t.Errorf("after set: %+v; want the console's rule, then the upload rule kept", shown)
	}
	if again, err := cors.Set(t.Context(), store, cors.NewRule(console)); err != nil || len(again) != 2 {
		t.Errorf("setting it again: %d rules, %v; want 2", len(again), err)
	}
	if rep := cors.Check(t.Context(), az.HTTPClient, u, console); !rep.OK() {
		t.Errorf("after set: failed %v (%+v)", rep.Failed(), rep)
	}
	if rep := cors.Check(t.Context(), az.HTTPClient, u, "https://evil.test"); rep.OK() || !slices.Contains(rep.Failed(), cors.CheckPreflight) {
		t.Errorf("another origin after set: failed %v, want the preflight refused", rep.Failed())
	}
}

// fake-gcs-server (v1.56.1) answers a bucket PATCH but keeps only versioning and
// event-based hold from it, so a rule cannot round-trip there: this test checks what Set
// sends to it (one header list holding the allowed and the exposed headers, the max age)
// and that Rules reads the bucket's (empty) rules.
func TestSetSendsTheRuleToFakeGCS(t *testing.T) {
	gcs := fakegcstest.Start(t)
	var patches []string
	hc := &http.Client{Transport: recorder{next: http.DefaultTransport, method: http.MethodPatch, bodies: &patches}}
	c, err := fakegcstest.NewClient(t.Context(), gcs.Endpoint, hc)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	store := cors.GCS{Client: c, Bucket: gcs.Bucket}
	if rules, err := store.Rules(t.Context()); err != nil || len(rules) != 0 {
		t.Fatalf("a new bucket's rules: %v, %v", rules, err)
	}
	if _, err := cors.Set(t.Context(), store, cors.NewRule(console)); err != nil {
		t.Fatal(err)
	}
	want := `"cors":[{"maxAgeSeconds":3600,"method":["GET","HEAD"],"origin":["` + console + `"],"responseHeader":["Range","ETag","Content-Range","Content-Length","Accept-Ranges"]}]`
	if len(patches) != 1 || !strings.Contains(patches[0], want) {
		t.Errorf("PATCH bodies %q; want one holding %s", patches, want)
	}
}

// recorder adds to bodies the body of every request of method it sends.
type recorder struct {
	next   http.RoundTripper
	method string
	bodies *[]string
}

func (r recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == r.method && req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		*r.bodies = append(*r.bodies, string(b))
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	return r.next.RoundTrip(req)
}
