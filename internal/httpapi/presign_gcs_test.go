package httpapi_test

import (
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/googletest"
	"github.com/tarnhq/tarn/internal/netguard/netguardtest"
	"github.com/tarnhq/tarn/internal/testenv"
)

// TestPresignGCSSignsThroughSignBlob: presigning objects of a gcs dataset answers V4 signed
// URLs that the key's service account signed (signBlob called with the key's own identity,
// at the API's clock), each for its object below the dataset, never outliving the vended
// token and carrying no token.
func TestPresignGCSSignsThroughSignBlob(t *testing.T) {
	const (
		orgSA    = "acme-tarn@acme-ml.iam.gserviceaccount.com"
		targetSA = "datasets@acme-ml.iam.gserviceaccount.com"
	)
	var env *testenv.Env
	google := googletest.New(t, googletest.Options{Now: func() time.Time { return env.Clock.Now() }})
	env = testenv.New(t, testenv.Options{AllowEndpoints: []string{google.HostPort()}, EndpointResolver: netguardtest.NewResolver(nil)})
	env.Clock.Advance(time.Since(env.Clock.Now())) // the stand-in checks JWTs signed at the real time
	ctx := t.Context()
	admin := env.Admin(t)
	if _, err := admin.CreateOrg(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	google.Grant(orgSA, targetSA)
	if _, err := admin.PutCredsKey(ctx, "acme", "g", api.PutCredsKeyRequest{Provider: api.ProviderGCS, Secret: string(google.ServiceAccountKey(t, orgSA)),
		Config: api.CredsKeyConfig{Roots: []string{"gs://acme-ml/datasets"}, ServiceAccount: targetSA, Auth: api.AuthServiceAccountKey,
			IAMEndpoint: google.URL, STSEndpoint: google.URL}}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateDataset(ctx, "acme", api.CreateDatasetRequest{Name: "imgs", Location: "gs://acme-ml/datasets/imgs", CredsKey: "g"}); err != nil {
		t.Fatal(err)
	}
	reader := env.Client(t, env.NewUser(t, "ann", "acme", "reader"))
	creds, err := reader.DatasetCredentials(ctx, "acme", "imgs", "read")
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		ask  time.Duration
		want int // X-Goog-Expires
	}{
		{time.Minute, 60},
		{2 * time.Hour, int(creds.ExpiresAt.Sub(env.Clock.Now()) / time.Second)}, // cut to the vended token's life
	} {
		now := env.Clock.Now()
		before := len(google.Signatures())
		out, err := reader.PresignDataset(ctx, "acme", "imgs", []string{"a.png", "sub/b c.png"}, tc.ask)
		if err != nil {
			t.Fatal(err)
		}
		if out.ExpiresAt.After(creds.ExpiresAt) || out.ExpiresAt.Unix() != now.Add(time.Duration(tc.want)*time.Second).Unix() {
			t.Errorf("asked %s: expires_at %s, want now + %ds, never after the vended token's %s", tc.ask, out.ExpiresAt, tc.want, creds.ExpiresAt)
		}
		for path, u := range out.URLs {
			account, bucket, object, err := google.VerifySignedURL(u, now)
			if err != nil || account != targetSA || bucket != "acme-ml" || object != "datasets/imgs/"+path {
				t.Errorf("URL of %s: %s %s %s %v", path, account, bucket, object, err)
			}
			q, _ := url.ParseQuery(strings.SplitN(u, "?", 2)[1])
			if q.Get("X-Goog-Expires") != strconv.Itoa(tc.want) || q.Get("X-Goog-Date") != now.UTC().Format("20060102T150405Z") {
				t.Errorf("URL of %s: X-Goog-Expires %s, X-Goog-Date %s; want %d at the API's clock", path, q.Get("X-Goog-Expires"), q.Get("X-Goog-Date"), tc.want)
			}
			if strings.Contains(u, "ya29.") || strings.Contains(u, creds.GCS.AccessToken) {
				t.Errorf("URL of %s carries a token: %s", path, u)
			}
		}
		sigs := google.Signatures()[before:]
		if len(sigs) != 2 {
			t.Errorf("%d signBlob calls for 2 paths", len(sigs))
		}
		for _, s := range sigs {
			if s.Caller != orgSA || s.Account != targetSA {
				t.Errorf("signBlob by %s for %s; want by the key's %s for %s", s.Caller, s.Account, orgSA, targetSA)
			}
		}
	}

	// Token Creator is revoked: the vend still comes from the cache, but signBlob refuses,
	// so presign fails, naming the role, and signs nothing.
	google.Revoke(orgSA, targetSA)
	before := len(google.Signatures())
	if _, err := reader.PresignDataset(ctx, "acme", "imgs", []string{"a.png"}, time.Minute); err == nil || !strings.Contains(err.Error(), "roles/iam.serviceAccountTokenCreator") {
		t.Errorf("presign without Token Creator: %v, want an error naming the role", err)
	}
	if n := len(google.Signatures()) - before; n != 0 {
		t.Errorf("%d URLs signed without Token Creator", n)
	}
}
