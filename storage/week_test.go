// This test is in package storage_test: it starts a whole tarn (testenv), whose console
// imports this package.
package storage_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/miniotest"
	"github.com/tarnhq/tarn/internal/netguard"
	"github.com/tarnhq/tarn/internal/testenv"
	"github.com/tarnhq/tarn/storage"
)

// simFront puts MinIO on the simulated clock. It is a reverse proxy on 127.0.0.1 in front
// of MinIO: it rewrites the Expiration of every AssumeRole answer to the simulated time
// (clock's now plus the lifetime MinIO granted), remembers each temporary access key's
// simulated expiry, and refuses, as S3 refuses an expired session (400 ExpiredToken), every
// S3 request signed with a key whose simulated expiry has passed, counting it. MinIO's own
// credentials expire in real time, an hour after the test began, which the week never
// reaches; the count is what tells whether a client used a credential past its expiry.
type simFront struct {
	t     *testing.T
	now   func() time.Time // the simulated clock
	proxy *httputil.ReverseProxy

	mu      sync.Mutex
	expires map[string]time.Time // temporary access key ID -> simulated expiry
	expired int                  // S3 requests signed with a key past its simulated expiry
}

func newSimFront(t *testing.T, s *miniotest.Server, now func() time.Time) *simFront {
	u, err := url.Parse(s.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	f := &simFront{t: t, now: now, expires: map[string]time.Time{}}
	// NewSingleHostReverseProxy keeps the Host header of the request, which SigV4 signed.
	f.proxy = httputil.NewSingleHostReverseProxy(u)
	f.proxy.ModifyResponse = f.rewriteExpiration
	return f
}

var (
	expirationRe = regexp.MustCompile(`<Expiration>([^<]+)</Expiration>`)
	accessKeyRe  = regexp.MustCompile(`<AccessKeyId>([^<]+)</AccessKeyId>`)
	credentialRe = regexp.MustCompile(`Credential=([^/]+)/`)
)

func (f *simFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && r.URL.Path == "/" { // STS
		f.proxy.ServeHTTP(w, r)
		return
	}
	m := credentialRe.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		f.t.Errorf("simFront: an unsigned S3 request %s %s", r.Method, r.URL.Path)
		http.Error(w, "unsigned", http.StatusForbidden)
		return
	}
	f.mu.Lock()
	exp, ok := f.expires[m[1]]
	now := f.now()
	late := ok && !now.Before(exp)
	if late {
		f.expired++
	}
	f.mu.Unlock()
	switch {
	case !ok:
		f.t.Errorf("simFront: an S3 request signed with a key that no AssumeRole through the front answered")
		http.Error(w, "unknown key", http.StatusForbidden)
	case late:
		f.t.Errorf("simFront: %s %s at %s signed with a credential that expired at %s", r.Method, r.URL.Path, now.Format(time.RFC3339), exp.Format(time.RFC3339))
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>ExpiredToken</Code><Message>The provided token has expired.</Message></Error>`)
	default:
		f.proxy.ServeHTTP(w, r)
	}
}

// rewriteExpiration moves the Expiration of an AssumeRole answer onto the simulated clock.
func (f *simFront) rewriteExpiration(resp *http.Response) error {
	if resp.Request.Method != http.MethodPost || resp.StatusCode != http.StatusOK {
		return nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	exp, key := expirationRe.FindSubmatch(body), accessKeyRe.FindSubmatch(body)
	if exp == nil || key == nil {
		return fmt.Errorf("simFront: an AssumeRole answer without Expiration or AccessKeyId")
	}
	real, err := time.Parse(time.RFC3339, string(exp[1]))
	if err != nil {
		return fmt.Errorf("simFront: Expiration %q: %w", exp[1], err)
	}
	sim := f.now().Add(time.Until(real).Round(time.Minute)).UTC()
	f.mu.Lock()
	f.expires[string(key[1])] = sim
	f.mu.Unlock()
	body = expirationRe.ReplaceAll(body, []byte("<Expiration>"+sim.Format(time.RFC3339)+"</Expiration>"))
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return nil
}

func (f *simFront) expiredUses() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.expired
}

// stsOutages is tarn's dialer with STS outages: once armed, the next dial to the STS
// address starts an outage of length d on the simulated clock, during which every dial to
// that address fails. The STS front answers without keep-alive, so every AssumeRole dials.
type stsOutages struct {
	now  func() time.Time // the simulated clock
	addr string           // host:port of the STS front
	d    time.Duration
	dial netguard.DialFunc

	mu      sync.Mutex
	armed   bool
	until   time.Time
	started []time.Time
	refused int
}

func (o *stsOutages) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	if address == o.addr {
		o.mu.Lock()
		now := o.now()
		if o.armed {
			o.armed, o.until = false, now.Add(o.d)
			o.started = append(o.started, now)
		}
		down := now.Before(o.until)
		if down {
			o.refused++
		}
		o.mu.Unlock()
		if down {
			return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("connection refused (simulated STS outage)")}
		}
	}
	return o.dial(ctx, network, address)
}

// arm makes the next STS dial start an outage.
func (o *stsOutages) arm() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.armed = true
}

func (o *stsOutages) report() (started []time.Time, refused int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]time.Time(nil), o.started...), o.refused
}

// TestReaderSurvivesAWeekWithSTSOutages reads an al:// dataset on MinIO every 2 simulated
// minutes for 7 days through one storage.OpenBucket, with 1-hour credentials from a real tarn
// server, through two 10-minute STS outages, and fails on any failed read and on any read
// signed with a credential past its (simulated) expiry.
//
// Each outage starts at the worst moment: the STS call of the reader's renewal (an armed
// outage begins at the next dial of STS, and the reader is the only one that vends then).
// A renewal that falls into an outage is survived iff the credential in service outlives
// the outage, so the outage that starts with the renewal leaves the least room. The first
// outage also catches the reader with the least-lived credential tarn hands out: one its
// cache answered just before half of its hour was spent (31 minutes left). Renewing at 80 %
// of that would leave 6 minutes for the 10-minute outage.
//
// The steps are 2 minutes because each vend that meets an outage costs real seconds (the
// STS client backs off between its attempts); a coarser step only delays a renewal, which
// leaves the reader less room, and they are fine enough to catch the failed reads of a
// reader that renews at 80 % (its credential would expire 5 minutes into the first outage).
func TestReaderSurvivesAWeekWithSTSOutages(t *testing.T) {
	if testing.Short() {
		t.Skip("a simulated week against MinIO and tarn")
	}
	const (
		week   = 7 * 24 * time.Hour
		outage = 10 * time.Minute
		step   = 2 * time.Minute
	)
	s := miniotest.Start(t)
	if err := s.Put(t.Context(), "datasets/week/shard-0.bin", "week of rows"); err != nil {
		t.Fatal(err)
	}

	// The clock is testenv's, which New creates; the fronts and the dialer read it.
	var env *testenv.Env
	now := func() time.Time { return env.Clock.Now() }
	front := newSimFront(t, s, now)
	stsFront := httptest.NewUnstartedServer(front)
	stsFront.Config.SetKeepAlivesEnabled(false)
	stsFront.Start()
	t.Cleanup(stsFront.Close)
	s3Front := httptest.NewServer(front)
	t.Cleanup(s3Front.Close)
	outages := &stsOutages{now: now, addr: stsFront.Listener.Addr().String(), d: outage}

	env = testenv.New(t, testenv.Options{
		AllowEndpoints: []string{stsFront.Listener.Addr().String(), s3Front.Listener.Addr().String()},
		Dial: func(loopback netguard.DialFunc) netguard.DialFunc {
			outages.dial = loopback
			return outages.Dial
		},
	})
	ctx := t.Context()
	admin := env.Admin(t)
	if _, err := admin.CreateOrg(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	key := s.CredsKey("s3://" + s.Bucket + "/datasets")
	key.Config.STSEndpoint, key.Config.S3Endpoint = stsFront.URL, s3Front.URL
	if _, err := admin.PutCredsKey(ctx, "acme", "minio", key); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateDataset(ctx, "acme", api.CreateDatasetRequest{Name: "week", Location: "s3://" + s.Bucket + "/datasets/week", CredsKey: "minio"}); err != nil {
		t.Fatal(err)
	}
	reader := env.Client(t, env.NewUser(t, "rita", "acme", "reader"))

	// Another reader's vend fills the server's cache; 29 minutes later the week's reader
	// opens the dataset and is answered the same credential, with 31 of its 60 minutes left.
	warm, err := env.Client(t, env.NewUser(t, "otto", "acme", "reader")).DatasetCredentials(ctx, "acme", "week", api.ModeRead)
	if err != nil {
		t.Fatal(err)
	}
	env.Clock.Advance(29 * time.Minute)
	b, err := storage.OpenBucket(ctx, "al://acme/week", storage.Options{Client: reader, Now: env.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	first, err := reader.DatasetCredentials(ctx, "acme", "week", api.ModeRead)
	if err != nil {
		t.Fatal(err)
	}
	if first.S3.AccessKeyID != warm.S3.AccessKeyID || first.ExpiresAt.Sub(env.Clock.Now()) > 31*time.Minute {
		t.Fatalf("the reader was not answered the cached credential with 31 minutes left (expires %s, now %s)", first.ExpiresAt, env.Clock.Now())
	}
	outages.arm() // the reader's first renewal meets the first outage

	start := env.Clock.Now()
	var failed, reads int
	secondArmed := false
	for env.Clock.Now().Sub(start) < week {
		env.Clock.Advance(step)
		if !secondArmed && env.Clock.Now().Sub(start) >= week/2 {
			outages.arm() // the reader's first renewal after half the week meets the second outage
			secondArmed = true
		}
		reads++
		got, err := b.ReadAll(ctx, "shard-0.bin")
		if err == nil && string(got) != "week of rows" {
			err = fmt.Errorf("read %q", got)
		}
		if err != nil {
			if failed++; failed <= 5 {
				t.Errorf("%s into the week: %v", env.Clock.Now().Sub(start), err)
			}
		}
	}
	started, refused := outages.report()
	t.Logf("%d reads over %s; outages began %v into the week; %d STS dials refused", reads, week, since(start, started), refused)
	if failed > 0 {
		t.Errorf("%d of %d reads failed", failed, reads)
	}
	if n := front.expiredUses(); n > 0 {
		t.Errorf("%d reads used a credential past its expiry", n)
	}
	if len(started) != 2 || refused < 2 {
		t.Errorf("outages began at %v with %d refused STS dials: the reader's renewals never met both outages", since(start, started), refused)
	}
}

func since(start time.Time, ts []time.Time) []time.Duration {
	var ds []time.Duration
	for _, t := range ts {
		ds = append(ds, t.Sub(start))
	}
	return ds
}
