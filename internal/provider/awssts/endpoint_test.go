package awssts

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/netguard"
	"github.com/tarnhq/tarn/internal/netguard/netguardtest"
	"github.com/tarnhq/tarn/internal/provider"
)

// compatibleKey returns an S3-compatible creds key at endpoint.
func compatibleKey(endpoint string) provider.Key {
	key := fakeAWSKey()
	key.Config.RoleARN = "arn:minio:iam:::role/x"
	key.Config.STSEndpoint, key.Config.S3Endpoint, key.Config.PathStyle = endpoint, endpoint, true
	return key
}

func guardWith(t *testing.T, r netguard.Resolver, allow ...string) *netguard.Guard {
	t.Helper()
	g, err := netguard.New(netguard.Options{Allow: allow, Resolver: r, Dial: netguardtest.Dial(t)})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestCheckConfigRefusesInternalEndpoints(t *testing.T) {
	r := netguardtest.NewResolver(map[string][]string{
		"minio.corp.test": {"10.1.2.3"}, "cgnat.test": {"100.64.0.9"}, "imds.test": {"169.254.169.254"},
		"alibaba.test": {"100.100.100.200"}, "local.test": {"127.0.0.1"}, "ula.test": {"fd00::9"},
	})
	for _, tc := range []struct{ endpoint, addr string }{
		{"http://10.1.2.3:9000", "10.1.2.3:9000"},
		{"http://minio.corp.test:9000", "10.1.2.3:9000"},
		{"http://cgnat.test", "100.64.0.9:80"},
		{"http://imds.test", "169.254.169.254:80"},
		{"http://alibaba.test", "100.100.100.200:80"},
		{"http://local.test:9000", "127.0.0.1:9000"},
		{"https://[::1]:9000", "[::1]:9000"},
		{"https://ula.test", "[fd00::9]:443"},
		{"http://metadata.google.internal", ""},
	} {
		cfg := compatibleKey(tc.endpoint).Config
		_, err := New(Options{Guard: guardWith(t, r)}).CheckConfig(context.Background(), cfg, provider.ConfigCheck{HasSecret: true})
		if !errs.Is(errs.Invalid, err) {
			t.Errorf("%s accepted (err %v)", tc.endpoint, err)
			continue
		}
		want := "sts_endpoint " + tc.endpoint + " resolves to "
		if tc.addr == "" {
			want = "sts_endpoint " + tc.endpoint + " is a cloud metadata host name"
		} else if !strings.Contains(err.Error(), "tarn serve --allow-endpoint "+tc.addr) {
			t.Errorf("%s: %q does not name the flag with %s", tc.endpoint, err, tc.addr)
		}
		if !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: %q does not start with %q", tc.endpoint, err, want)
		}
	}
	// The operator's entries let them through: HOST:PORT, a CIDR, a name.
	for _, tc := range []struct{ endpoint, allow string }{
		{"http://10.1.2.3:9000", "10.1.2.3:9000"},
		{"http://minio.corp.test:9000", "10.0.0.0/8"},
		{"http://minio.corp.test:9000", "minio.corp.test:9000"},
		{"http://local.test:9000", "127.0.0.1/32"},
	} {
		cfg := compatibleKey(tc.endpoint).Config
		if _, err := New(Options{Guard: guardWith(t, r, tc.allow)}).CheckConfig(context.Background(), cfg, provider.ConfigCheck{HasSecret: true}); err != nil {
			t.Errorf("%s with --allow-endpoint %s: %v", tc.endpoint, tc.allow, err)
		}
	}
}

// internalService stands in for an internal HTTP service that answers anything with an
// STS- or S3-style XML error carrying a secret, and counts the requests it gets.
type internalService struct {
	requests atomic.Int64
	// assume answers AssumeRole with credentials instead of an error, so that Verify goes
	// on to its S3 steps.
	assume bool
	code   string
}

const internalSecret = "db_password=hunter2"

func (s *internalService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	r.ParseForm()
	w.Header().Set("Content-Type", "text/xml")
	switch {
	case r.PostForm.Get("Action") == "": // S3
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, `<Error><Code>%s</Code><Message>internal config: %s</Message></Error>`, s.code, internalSecret)
	case s.assume:
		(&fakeSTS{}).ServeHTTP(w, r)
	default:
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, `<ErrorResponse><Error><Code>%s</Code><Message>internal config: %s</Message></Error></ErrorResponse>`, s.code, internalSecret)
	}
}

func TestUpstreamMessagesNeverReachTheAdmin(t *testing.T) {
	for _, tc := range []struct {
		name   string
		svc    *internalService
		wanted string // must appear
	}{
		{"AssumeRole refused", &internalService{code: "AccessDenied"}, "AccessDenied"},
		{"an error code that is not one", &internalService{code: "x " + internalSecret}, "without a usable error code"},
		{"S3 refused", &internalService{assume: true, code: "NoSuchBucket"}, "NoSuchBucket"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.svc)
			defer srv.Close()
			d := New(Options{Guard: guardWith(t, nil, strings.TrimPrefix(srv.URL, "http://"))})
			key := compatibleKey(srv.URL)
			loc := mustLoc(t, "s3://data-bucket/teams/x")
			var answers []string
			_, err := d.Vend(context.Background(), provider.Request{Key: key, Location: loc, Mode: api.ModeRead, TTL: time.Hour})
			answers = append(answers, errs.DetailOf(err))
			for _, c := range d.Verify(context.Background(), key, loc) {
				answers = append(answers, c.Detail)
			}
			_, err = d.CallerARN(context.Background(), key)
			answers = append(answers, errs.DetailOf(err))
			all := strings.Join(answers, "\n")
			if strings.Contains(all, "hunter2") || strings.Contains(all, "internal config") {
				t.Errorf("the service's message reached the admin:\n%s", all)
			}
			if !strings.Contains(all, tc.wanted) {
				t.Errorf("answers do not name %q:\n%s", tc.wanted, all)
			}
			if tc.svc.requests.Load() == 0 {
				t.Error("the allowed service got no request; the test proves nothing")
			}
		})
	}
}

// A name that resolves to a public-looking address when the key is configured and to
// loopback afterwards (DNS rebinding) is refused when STS or S3 is dialled: the service
// on loopback never gets a request.
func TestRebindingIsRefusedAtDial(t *testing.T) {
	svc := &internalService{assume: true, code: "AccessDenied"}
	srv := httptest.NewServer(svc)
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	r := netguardtest.NewResolver(map[string][]string{
		"sts.rebind.test": {"192.0.2.80", "127.0.0.1"},
		"s3.rebind.test":  {"192.0.2.81", "127.0.0.1"},
	})
	d := New(Options{Guard: guardWith(t, r)})
	key := compatibleKey("")
	key.Config.STSEndpoint, key.Config.S3Endpoint = "http://sts.rebind.test:"+port, "http://s3.rebind.test:"+port
	ctx := context.Background()
	if _, err := d.CheckConfig(ctx, key.Config, provider.ConfigCheck{HasSecret: true}); err != nil {
		t.Fatalf("configuration-time check: %v", err)
	}
	_, err := d.Vend(ctx, provider.Request{Key: key, Location: mustLoc(t, "s3://data-bucket/teams/x"), Mode: api.ModeRead, TTL: time.Hour})
	if !errs.Is(errs.Unavailable, err) || !strings.Contains(errs.DetailOf(err), "cannot reach the endpoint: sts.rebind.test:"+port+" resolves to a loopback address") {
		t.Errorf("vend after rebinding: %v", err)
	}
	checks := d.Verify(ctx, key, mustLoc(t, "s3://data-bucket/teams/x"))
	if len(checks) != 1 || checks[0].OK || !strings.Contains(checks[0].Detail, "cannot reach the endpoint") {
		t.Errorf("verify after rebinding: %+v", checks)
	}
	if n := svc.requests.Load(); n != 0 {
		t.Errorf("the loopback service got %d requests", n)
	}
}

// A vend hands clients an S3 endpoint to connect to: an endpoint whose name resolved to a
// public-looking address when the key was saved and to loopback now is not handed out, so a
// public dataset's readers are never sent to their own machine.
func TestVendRechecksTheS3EndpointItHandsOut(t *testing.T) {
	sts := &internalService{assume: true}
	srv := httptest.NewServer(sts)
	defer srv.Close()
	r := netguardtest.NewResolver(map[string][]string{"s3.flip.test": {"192.0.2.81", "127.0.0.1"}})
	d := New(Options{Guard: guardWith(t, r, strings.TrimPrefix(srv.URL, "http://"))}) // STS allowed, S3 name not
	key := compatibleKey(srv.URL)
	key.Config.S3Endpoint = "http://s3.flip.test:9" // never dialled: vends only hand it out
	ctx := context.Background()
	if _, err := d.CheckConfig(ctx, key.Config, provider.ConfigCheck{HasSecret: true}); err != nil {
		t.Fatalf("configuration-time check: %v", err)
	}
	creds, err := d.Vend(ctx, provider.Request{Key: key, Location: mustLoc(t, "s3://data-bucket/teams/x"), Mode: api.ModeRead, TTL: time.Hour})
	if creds != nil || !errs.Is(errs.Unavailable, err) || !strings.Contains(errs.DetailOf(err), "s3_endpoint http://s3.flip.test:9 resolves to a loopback address") {
		t.Errorf("vend handed out %+v (err %v)", creds, err)
	}
}
