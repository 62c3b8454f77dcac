package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/authn/oidctest"
	"github.com/tarnhq/tarn/internal/netguard/netguardtest"
	"github.com/tarnhq/tarn/internal/testenv"
)

// The attacker: the admin of org acme, who chooses the endpoints of acme's creds keys and
// the issuers of its workload identities.
type attacker struct {
	env   *testenv.Env
	token string
}

func newAttacker(t *testing.T, o testenv.Options) *attacker {
	t.Helper()
	env := testenv.New(t, o)
	if _, err := env.Admin(t).CreateOrg(context.Background(), "acme"); err != nil {
		t.Fatal(err)
	}
	return &attacker{env: env, token: env.NewUser(t, "mallory", "acme", "admin")}
}

// do sends one request as the attacker and returns the status and the raw answer.
func (a *attacker) do(t *testing.T, method, path string, body any) (int, string) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, a.env.URL+api.Prefix+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+a.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

func s3Key(endpoint string) api.PutCredsKeyRequest {
	return api.PutCredsKeyRequest{Provider: "aws", Secret: "probe-secret", Config: api.CredsKeyConfig{
		Roots: []string{"s3://bucket/data"}, RoleARN: "arn:minio:iam:::role/x", Region: "us-east-1",
		STSEndpoint: endpoint, S3Endpoint: endpoint, PathStyle: true, Source: "access-key", AccessKeyID: "probe"}}
}

// Names the attacker's DNS answers, one per refused range.
var attackerNames = map[string][]string{
	"db.corp.test":      {"10.1.2.3"},
	"vault.corp.test":   {"172.20.0.5"},
	"home.test":         {"192.168.1.1"},
	"ula.test":          {"fd00::7"},
	"tailnet.test":      {"100.64.0.10"},
	"self.test":         {"127.0.0.1"},
	"self6.test":        {"::1"},
	"linklocal.test":    {"169.254.3.3"},
	"imds.test":         {"169.254.169.254"},
	"imds6.test":        {"fd00:ec2::254"},
	"ecs.test":          {"169.254.170.2"},
	"aliyun.test":       {"100.100.100.200"},
	"wireserver.test":   {"168.63.129.16"},
	"oci.test":          {"192.0.0.192"},
	"zero.test":         {"0.0.0.0"},
	"rebind-sts.test":   {"192.0.2.80", "127.0.0.1"},
	"rebind-s3.test":    {"192.0.2.81", "127.0.0.1"},
	"allowed.corp.test": {"10.9.9.9"},
}

func TestCredsKeyEndpointsThatResolveInternallyAreRefused(t *testing.T) {
	a := newAttacker(t, testenv.Options{EndpointResolver: netguardtest.NewResolver(attackerNames)})
	for name, addrs := range attackerNames {
		if len(addrs) > 1 || name == "allowed.corp.test" {
			continue
		}
		endpoint := "http://" + name + ":9000"
		st, out := a.do(t, "PUT", "/orgs/acme/creds-keys/k", s3Key(endpoint))
		var p api.Problem
		json.Unmarshal([]byte(out), &p)
		if st != http.StatusBadRequest || !strings.Contains(p.Detail, "sts_endpoint "+endpoint+" resolves to ") ||
			!strings.Contains(p.Detail, "tarn serve --allow-endpoint") || strings.Contains(p.Detail, "\n") {
			t.Errorf("%s: %d %s", endpoint, st, out)
		}
	}
	for _, endpoint := range []string{"http://127.0.0.1:9000", "http://[::1]:9000", "http://10.0.0.1", "http://169.254.169.254", "http://metadata.google.internal"} {
		if st, out := a.do(t, "PUT", "/orgs/acme/creds-keys/k", s3Key(endpoint)); st != http.StatusBadRequest {
			t.Errorf("%s: %d %s", endpoint, st, out)
		}
	}
}

func TestOperatorAllowsEndpointsByHostPortOrCIDR(t *testing.T) {
	a := newAttacker(t, testenv.Options{
		AllowEndpoints:   []string{"10.1.2.3:9000", "100.64.0.0/10", "169.254.169.254/16"},
		EndpointResolver: netguardtest.NewResolver(attackerNames),
	})
	for endpoint, want := range map[string]int{
		"http://db.corp.test:9000":  http.StatusOK,
		"http://10.1.2.3:9000":      http.StatusOK,
		"http://db.corp.test:9001":  http.StatusBadRequest, // another port
		"http://tailnet.test:8080":  http.StatusOK,
		"http://100.127.0.1":        http.StatusOK,
		"http://aliyun.test":        http.StatusBadRequest, // metadata, inside 100.64.0.0/10
		"http://imds.test":          http.StatusBadRequest, // metadata, inside 169.254.0.0/16
		"http://vault.corp.test:80": http.StatusBadRequest,
	} {
		if st, out := a.do(t, "PUT", "/orgs/acme/creds-keys/k", s3Key(endpoint)); st != want {
			t.Errorf("%s: %d, want %d: %s", endpoint, st, want, out)
		}
	}
}

// internalService stands in for a service on the server's own network that answers any
// request with an STS- or S3-style XML error whose message holds a secret.
type internalService struct {
	*httptest.Server
	requests atomic.Int64
}

const internalSecret = "db_password=hunter2"

func newInternalService(t *testing.T) *internalService {
	t.Helper()
	s := &internalService{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, `<ErrorResponse><Error><Code>AccessDenied</Code><Message>internal config: %s</Message></Error></ErrorResponse>`, internalSecret)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *internalService) hostPort() string { return strings.TrimPrefix(s.URL, "http://") }

// Even where the operator allowed the service, what it answers never reaches the admin:
// not in verify, a vend, provision, nor the audit log.
func TestInternalServiceAnswersNeverReachTheAdmin(t *testing.T) {
	svc := newInternalService(t)
	a := newAttacker(t, testenv.Options{AllowEndpoints: []string{svc.hostPort()}})
	if st, out := a.do(t, "PUT", "/orgs/acme/creds-keys/k", s3Key(svc.URL)); st != http.StatusOK {
		t.Fatalf("put key: %d %s", st, out)
	}
	var answers []string
	for _, r := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/orgs/acme/creds-keys/k/verify", api.VerifyRequest{}},
		{"POST", "/orgs/acme/creds-keys/k/credentials", api.CredentialsRequest{Location: "s3://bucket/data/x", Mode: "read"}},
		{"POST", "/orgs/acme/creds-keys/k/provision", api.ProvisionRequest{Bucket: "bucket", Prefix: "data"}},
		{"GET", "/orgs/acme/audit", nil},
	} {
		_, out := a.do(t, r.method, r.path, r.body)
		answers = append(answers, out)
	}
	all := strings.Join(answers, "\n")
	if strings.Contains(all, "hunter2") || strings.Contains(all, "internal config") {
		t.Errorf("the internal service's message reached the admin:\n%s", all)
	}
	if !strings.Contains(all, "AccessDenied") {
		t.Errorf("the answers do not name the error code:\n%s", all)
	}
	if svc.requests.Load() == 0 {
		t.Error("the allowed service got no request; the test proves nothing")
	}
}

// A service the operator did not list gets no request at all: not when the key is
// configured, and not from a key stored while the operator still allowed it.
func TestUnlistedInternalServiceGetsNoRequest(t *testing.T) {
	svc := newInternalService(t)
	a := newAttacker(t, testenv.Options{})
	st, out := a.do(t, "PUT", "/orgs/acme/creds-keys/k", s3Key(svc.URL))
	if st != http.StatusBadRequest || !strings.Contains(out, "tarn serve --allow-endpoint "+svc.hostPort()) {
		t.Errorf("put key: %d %s", st, out)
	}

	dir := t.TempDir()
	before := testenv.New(t, testenv.Options{DataDir: dir, AllowEndpoints: []string{svc.hostPort()}})
	if _, err := before.Admin(t).CreateOrg(context.Background(), "acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := before.Admin(t).PutCredsKey(context.Background(), "acme", "k", s3Key(svc.URL)); err != nil {
		t.Fatal(err)
	}
	before.Server.Close()
	after := &attacker{env: testenv.New(t, testenv.Options{DataDir: dir})}
	after.token = after.env.AdminToken
	_, verify := after.do(t, "POST", "/orgs/acme/creds-keys/k/verify", api.VerifyRequest{})
	st, vend := after.do(t, "POST", "/orgs/acme/creds-keys/k/credentials", api.CredentialsRequest{Location: "s3://bucket/data/x", Mode: "read"})
	if !strings.Contains(verify, "cannot reach the endpoint") || st != http.StatusServiceUnavailable || !strings.Contains(vend, "cannot reach the endpoint") {
		t.Errorf("stored key to an unlisted service: verify %s, vend %d %s", verify, st, vend)
	}
	if n := svc.requests.Load(); n != 0 {
		t.Errorf("the unlisted service got %d requests", n)
	}
}

// Names that pass the configuration-time check and resolve to loopback afterwards (DNS
// rebinding) are refused when tarn connects.
func TestRebindingToLoopbackIsRefused(t *testing.T) {
	svc := newInternalService(t)
	port := svc.URL[strings.LastIndex(svc.URL, ":")+1:]
	a := newAttacker(t, testenv.Options{EndpointResolver: netguardtest.NewResolver(attackerNames)})
	key := s3Key("")
	key.Config.STSEndpoint, key.Config.S3Endpoint = "http://rebind-sts.test:"+port, "http://rebind-s3.test:"+port
	if st, out := a.do(t, "PUT", "/orgs/acme/creds-keys/k", key); st != http.StatusOK {
		t.Fatalf("put key: %d %s", st, out)
	}
	_, out := a.do(t, "POST", "/orgs/acme/creds-keys/k/verify", api.VerifyRequest{})
	if !strings.Contains(out, "cannot reach the endpoint: rebind-sts.test:"+port+" resolves to a loopback address") {
		t.Errorf("verify after rebinding: %s", out)
	}
	if n := svc.requests.Load(); n != 0 {
		t.Errorf("the loopback service got %d requests", n)
	}
}

func TestIdentityIssuersThatResolveInternallyAreRefused(t *testing.T) {
	iss := oidctest.New(t) // on loopback, not listed
	a := newAttacker(t, testenv.Options{EndpointResolver: netguardtest.NewResolver(attackerNames), OIDCTransport: iss.Transport})
	for issuer, addr := range map[string]string{
		"https://db.corp.test":   "10.1.2.3:443",
		"https://tailnet.test/x": "100.64.0.10:443",
		"https://imds.test":      "169.254.169.254:443",
		"https://self.test:8443": "127.0.0.1:8443",
		iss.URL:                  iss.HostPort(),
	} {
		st, out := a.do(t, "PUT", "/orgs/acme/identities/x", api.Identity{Provider: "oidc", Role: "reader", Issuer: issuer, Subject: "job"})
		if st != http.StatusBadRequest || !strings.Contains(out, "tarn serve --allow-endpoint "+addr) {
			t.Errorf("issuer %s: %d %s", issuer, st, out)
		}
	}
	if n := iss.DiscoveryFetches(); n != 0 {
		t.Errorf("the unlisted issuer was fetched %d times", n)
	}
}
