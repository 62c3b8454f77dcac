package vend_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/miniotest"
	"github.com/tarnhq/tarn/internal/netguard"
	"github.com/tarnhq/tarn/internal/testenv"
	"github.com/tarnhq/tarn/internal/upstream"
)

func TestMain(m *testing.M) { miniotest.Main(m) }

// route stands between tarn and MinIO: healthy, it dials MinIO; down, a closed port on
// 127.0.0.1 (connection refused); frozen, a listener that accepts and never answers. It
// counts the connections tarn attempts while the upstream is failing.
type route struct {
	minio string // MinIO's 127.0.0.1:PORT

	mu     sync.Mutex
	target string // where dials to MinIO go while failing; "" while healthy
	frozen bool   // target never answers: reads time out after a short while
	dials  int    // attempted while failing
	open   []net.Conn
}

func (r *route) wrap(next netguard.DialFunc) netguard.DialFunc {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		r.mu.Lock()
		if address == r.minio && r.target != "" {
			r.dials++
			address = r.target
		}
		frozen := r.target != "" && r.frozen
		r.mu.Unlock()
		c, err := next(ctx, network, address)
		if err != nil {
			return nil, err
		}
		if frozen {
			// A frozen STS would hold the call until tarn's upstream timeout; a short read
			// deadline stands in for it (the transport does not reset it: see frozenConn).
			c.SetDeadline(time.Now().Add(200 * time.Millisecond))
			c = frozenConn{c}
		}
		r.mu.Lock()
		r.open = append(r.open, c)
		r.mu.Unlock()
		return c, nil
	}
}

type frozenConn struct{ net.Conn }

func (frozenConn) SetDeadline(time.Time) error     { return nil }
func (frozenConn) SetReadDeadline(time.Time) error { return nil }

// fail sends tarn's connections to MinIO to target (frozen: one that never answers) from
// now on, and cuts those it holds, as an outage does.
func (r *route) fail(target string, frozen bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.target, r.frozen, r.dials = target, frozen, 0
	for _, c := range r.open {
		c.Close()
	}
	r.open = nil
}

func (r *route) heal() { r.fail("", false) }

func (r *route) failedDials() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dials
}

// refusedAddr returns an address on 127.0.0.1 where nothing listens.
func refusedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// frozenAddr returns the address of a listener on 127.0.0.1 that accepts connections,
// reads what they send and never answers.
func frozenAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

// answer is a vend's HTTP answer.
type answer struct {
	status     int
	retryAfter string
	creds      api.Credentials
	problem    api.Problem
	body       string
}

type faultEnv struct {
	*testenv.Env
	minio *miniotest.Server
	route *route
}

func newFaultEnv(t *testing.T) *faultEnv {
	t.Helper()
	srv := miniotest.Start(t)
	r := &route{minio: srv.HostPort()}
	env := testenv.New(t, testenv.Options{AllowEndpoints: []string{srv.HostPort()}, Dial: r.wrap})
	// MinIO's credentials expire by the real clock: start tarn's clock there.
	env.Clock.Advance(time.Since(env.Clock.Now()))
	if _, err := env.Admin(t).PutCredsKey(context.Background(), "local", "minio", srv.CredsKey("s3://"+srv.Bucket)); err != nil {
		t.Fatal(err)
	}
	return &faultEnv{Env: env, minio: srv, route: r}
}

// vend asks for read credentials for s3://BUCKET/prefix through creds key local/minio.
func (e *faultEnv) vend(t *testing.T, prefix string) answer {
	t.Helper()
	b, _ := json.Marshal(api.CredentialsRequest{Location: "s3://" + e.minio.Bucket + "/" + prefix, Mode: "read"})
	req, _ := http.NewRequest("POST", e.URL+api.Prefix+"/orgs/local/creds-keys/minio/credentials", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+e.AdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), body: string(body)}
	if a.status == http.StatusOK {
		json.Unmarshal(body, &a.creds)
	} else {
		json.Unmarshal(body, &a.problem)
	}
	if strings.Contains(a.body, e.minio.UserSecretKey) && a.status != http.StatusOK {
		t.Errorf("a failed vend shows the creds key's secret: %s", a.body)
	}
	return a
}

// metric returns the value of the sample named exactly series (name{labels}), or 0.
func (e *faultEnv) metric(t *testing.T, series string) string {
	t.Helper()
	resp, err := http.Get(e.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			return v
		}
	}
	return "0"
}

// TestSTSOutage takes MinIO's STS away from a running tarn, refusing connections (down)
// or accepting them and never answering (frozen): cached credentials keep serving, cold
// vends fail with 503 until the breaker opens and then without reaching the upstream at
// all; credentials past their reuse point are served stale while enough of them remains;
// once STS is back, the half-open probe closes the breaker and vends succeed again.
func TestSTSOutage(t *testing.T) {
	for _, tc := range []struct {
		name   string
		frozen bool
		addr   func(*testing.T) string
	}{
		{"down", false, refusedAddr},
		{"frozen", true, frozenAddr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newFaultEnv(t)
			warm := e.vend(t, "warm")
			if warm.status != http.StatusOK || warm.creds.S3 == nil {
				t.Fatalf("healthy vend: %d %s", warm.status, warm.body)
			}

			e.route.fail(tc.addr(t), tc.frozen)
			if a := e.vend(t, "warm"); a.status != http.StatusOK || a.creds.S3.AccessKeyID != warm.creds.S3.AccessKeyID {
				t.Fatalf("cached vend during the outage: %d %s", a.status, a.body)
			}
			// Cold vends of as many locations as the breaker takes fail as the upstream does.
			var wg sync.WaitGroup
			for i := range upstream.DefaultFailures {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if a := e.vend(t, fmt.Sprint("cold-", i)); a.status != http.StatusServiceUnavailable || a.retryAfter == "" {
						t.Errorf("cold vend %d: %d (Retry-After %q) %s", i, a.status, a.retryAfter, a.body)
					}
				}()
			}
			wg.Wait()
			dials := e.route.failedDials()
			if dials == 0 {
				t.Fatal("no connection reached the failing upstream; the test proves nothing")
			}

			// The breaker is open: cold vends fail at once, naming the upstream and the wait.
			for i := range 10 {
				a := e.vend(t, fmt.Sprint("after-", i))
				if a.status != http.StatusServiceUnavailable || a.retryAfter != "30" ||
					!strings.Contains(a.problem.Detail, "the aws upstream of creds key local/minio failed 5 times in a row (last: ") ||
					!strings.Contains(a.problem.Detail, "cached credentials still serve; retry after 30s") {
					t.Fatalf("cold vend with the breaker open: %d (Retry-After %q) %s", a.status, a.retryAfter, a.body)
				}
			}
			if a := e.vend(t, "warm"); a.status != http.StatusOK {
				t.Fatalf("cached vend with the breaker open: %d %s", a.status, a.body)
			}
			if n := e.route.failedDials(); n != dials {
				t.Errorf("with the breaker open tarn dialled the upstream %d more times", n-dials)
			}
			if v := e.metric(t, `tarn_vend_upstream_breakers_open{provider="aws"}`); v != "1" {
				t.Errorf("breakers open: %s", v)
			}
			if v := e.metric(t, `tarn_vend_upstream_refused_total{provider="aws",reason="breaker"}`); v != "10" {
				t.Errorf("calls refused by the breaker: %s, want 10", v)
			}

			// Past its reuse point, the warm credential is still served while the upstream
			// fails (the cooldown is over too: this vend is the probe, and it fails).
			e.Clock.Advance(31 * time.Minute)
			if a := e.vend(t, "warm"); a.status != http.StatusOK || a.creds.S3.AccessKeyID != warm.creds.S3.AccessKeyID {
				t.Fatalf("stale-if-error vend: %d %s", a.status, a.body)
			}
			if v := e.metric(t, `tarn_vend_stale_total{provider="aws"}`); v != "1" {
				t.Errorf("stale serves: %s", v)
			}
			if e.route.failedDials() == dials {
				t.Error("the half-open probe did not reach the upstream")
			}
			if a := e.vend(t, "cold-0"); a.status != http.StatusServiceUnavailable || a.retryAfter != "60" || !strings.Contains(a.problem.Detail, "retry after 60s") {
				t.Errorf("after a failed probe: %d (Retry-After %q, want 60: the cooldown doubles) %s", a.status, a.retryAfter, a.body)
			}
			// Too little of it remains to be served stale.
			e.Clock.Advance(20 * time.Minute)
			if a := e.vend(t, "warm"); a.status != http.StatusServiceUnavailable {
				t.Errorf("a credential with 9 of 60 minutes left was served: %d %s", a.status, a.body)
			}

			e.route.heal()
			e.Clock.Advance(3 * time.Minute) // past the cooldown, doubled again by the last probe
			for _, p := range []string{"cold-0", "warm", "cold-1"} {
				if a := e.vend(t, p); a.status != http.StatusOK {
					t.Fatalf("after recovery, vend %s: %d %s", p, a.status, a.body)
				}
			}
			if v := e.metric(t, `tarn_vend_upstream_breakers_open{provider="aws"}`); v != "0" {
				t.Errorf("breakers open after recovery: %s", v)
			}
		})
	}
}
