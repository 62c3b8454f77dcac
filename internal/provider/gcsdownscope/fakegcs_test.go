package gcsdownscope_test

import (
	"context"
	"net/http"
	"path"
	"strings"
	"testing"

	"gocloud.dev/blob"
	"gocloud.dev/blob/gcsblob"
	"golang.org/x/oauth2"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/fakegcstest"
	"github.com/tarnhq/tarn/internal/googletest"
	"github.com/tarnhq/tarn/internal/provider"
	"github.com/tarnhq/tarn/internal/provider/gcsdownscope"
	"github.com/tarnhq/tarn/internal/provider/providertest"
	"github.com/tarnhq/tarn/location"
)

func TestMain(m *testing.M) { fakegcstest.Main(m) }

// fakeGCSFixture is a fixture whose guard also allows the fake-gcs-server of s and whose
// server ADC may impersonate targetSA, with a creds key (auth default) for gs://BUCKET of s
// whose storage endpoint is that server.
func fakeGCSFixture(t *testing.T, s *fakegcstest.Server) (*fixture, provider.Key) {
	t.Helper()
	f := newFixture(t, nil, s.HostPort())
	f.g.Grant(serverSA, targetSA)
	key := f.key(api.AuthDefault, nil)
	key.Config.Roots = []string{"gs://" + s.Bucket}
	key.Config.StorageEndpoint = s.Endpoint
	cfg, err := f.d.CheckConfig(context.Background(), key.Config, provider.ConfigCheck{Org: key.Org})
	if err != nil {
		t.Fatal(err)
	}
	key.Config = cfg
	return f, key
}

// TestVerifyOnFakeGCS runs verify against a real fake-gcs-server: every check up to the
// probe round trip passes; the two boundary checks, which an emulator cannot answer, are
// skipped with the reason and never reported as passed; and a bucket that does not exist is
// named as such by the list and the probe, not blamed on the service account's roles.
func TestVerifyOnFakeGCS(t *testing.T) {
	s := fakegcstest.Start(t)
	f, key := fakeGCSFixture(t, s)
	const (
		list  = "list with a read token"
		probe = "probe round trip with a write token"
	)
	for _, tc := range []struct {
		name   string
		loc    string
		failed map[string]string // check name -> what its detail names
	}{
		{"prefix", "gs://" + s.Bucket + "/coco", nil},
		{"whole bucket", "gs://" + s.Bucket, nil},
		{"missing bucket", "gs://tarn-nosuch-bucket/coco", map[string]string{
			list:  "no such bucket (404); create bucket tarn-nosuch-bucket",
			probe: "no such bucket (404); create bucket tarn-nosuch-bucket",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := key
			key.Config.Roots = []string{tc.loc}
			checks := f.d.Verify(t.Context(), key, mustLoc(t, tc.loc))
			var names []string
			for _, c := range checks {
				names = append(names, c.Name)
				want, shouldFail := tc.failed[c.Name]
				boundary := strings.HasPrefix(c.Name, "read token refused")
				switch {
				case boundary && (c.OK || !c.Skipped || c.Detail != gcsdownscope.SkippedOnEmulator):
					t.Errorf("check %q = %+v; want it skipped (not OK) with %q", c.Name, c, gcsdownscope.SkippedOnEmulator)
				case shouldFail && (c.OK || c.Skipped || !strings.Contains(c.Detail, want)):
					t.Errorf("check %q = %+v; want it failed naming %q", c.Name, c, want)
				case !boundary && !shouldFail && (!c.OK || c.Skipped):
					t.Errorf("check %q = %+v; want it passed", c.Name, c)
				}
				if strings.Contains(c.Detail, "ya29.") {
					t.Errorf("check %q carries a token: %s", c.Name, c.Detail)
				}
			}
			want := "Application Default Credentials,impersonate " + targetSA + ",downscope a read token,downscope a write token," +
				list + "," + probe
			if tc.failed == nil {
				want += ",read token refused for a write,read token refused outside the location"
			}
			if got := strings.Join(names, ","); got != want {
				t.Errorf("checks %s, want %s", got, want)
			}
		})
	}
	if left := s.Objects(t); len(left) != 0 {
		t.Errorf("verify left objects behind: %q", left)
	}
}

// The shared conformance suite on fake-gcs-server with tokens the driver downscopes
// through the Google stand-ins: vended tokens read, write and list their location. The
// emulator checks no tokens, so the refusal half is skipped (Enforced false); the
// boundaries themselves are asserted from what STS received (TestThroughTheServer and the
// golden files).
func TestConformance(t *testing.T) {
	s := fakegcstest.Start(t)
	f, key := fakeGCSFixture(t, s)
	root := s.Client(t)
	providertest.Run(t, providertest.Setup{
		Vendor:   provider.New(map[string]provider.Driver{gcsdownscope.Name: f.d}, nil),
		Driver:   f.d,
		Provider: gcsdownscope.Name,
		Key:      key,
		Base:     mustLoc(t, "gs://"+s.Bucket+"/conformance"),
		Open:     openVended,
		Seed: func(ctx context.Context, loc location.Location, key string, data []byte) error {
			w := root.Bucket(loc.Bucket).Object(path.Join(loc.Path, key)).NewWriter(ctx)
			if _, err := w.Write(data); err != nil {
				w.Close()
				return err
			}
			return w.Close()
		},
		Enforced: false,
	})
	if n := f.g.Calls(googletest.Impersonate); n != 1 {
		t.Errorf("the suite's vends impersonated %d times, want 1 (the token is shared by the key's locations)", n)
	}
}

// openVended opens loc through a gcsblob bucket whose client sends c's access token only,
// to the endpoint c names.
func openVended(ctx context.Context, c *api.Credentials, loc location.Location) (*blob.Bucket, error) {
	hc := &http.Client{Transport: &oauth2.Transport{Source: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: c.GCS.AccessToken})}}
	sc, err := fakegcstest.NewClient(ctx, c.GCS.Endpoint, hc)
	if err != nil {
		return nil, err
	}
	b, err := gcsblob.OpenBucket(ctx, nil, loc.Bucket, &gcsblob.Options{Client: sc})
	if err != nil || loc.Path == "" {
		return b, err
	}
	return blob.PrefixedBucket(b, loc.Path+"/"), nil
}
