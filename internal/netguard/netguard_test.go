package netguard_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/netguard"
	"github.com/tarnhq/tarn/internal/netguard/netguardtest"
)

func TestClassify(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1":              "a loopback address",
		"127.3.4.5":              "a loopback address",
		"::1":                    "a loopback address",
		"10.1.2.3":               "a private address",
		"172.16.0.1":             "a private address",
		"192.168.1.1":            "a private address",
		"fc00::1":                "a private address",
		"fd12:3456::1":           "a private address",
		"fec0::1":                "a private address",
		"64:ff9b:1::1":           "a private address",
		"100.64.0.1":             "a shared (CGNAT) address",
		"100.127.255.254":        "a shared (CGNAT) address",
		"169.254.1.1":            "a link-local address",
		"fe80::1":                "a link-local address",
		"0.0.0.0":                "an unspecified address",
		"::":                     "an unspecified address",
		"224.0.0.1":              "a multicast address",
		"ff02::1":                "a multicast address",
		"0.1.2.3":                "a reserved address",
		"192.0.0.8":              "a reserved address",
		"198.18.0.1":             "a reserved address",
		"255.255.255.255":        "a reserved address",
		"::10.1.2.3":             "a reserved address",
		"169.254.169.254":        "a cloud metadata address",
		"169.254.170.2":          "a cloud metadata address",
		"169.254.170.23":         "a cloud metadata address",
		"169.254.0.23":           "a cloud metadata address",
		"fd00:ec2::254":          "a cloud metadata address",
		"fd00:ec2::23":           "a cloud metadata address",
		"fd20:ce::254":           "a cloud metadata address",
		"100.100.100.200":        "a cloud metadata address",
		"168.63.129.16":          "a cloud metadata address",
		"192.0.0.192":            "a cloud metadata address",
		"::ffff:169.254.169.254": "a cloud metadata address", // IPv4-mapped
		"64:ff9b::a9fe:a9fe":     "a cloud metadata address", // NAT64 of 169.254.169.254
		"2002:a9fe:a9fe::1":      "a cloud metadata address", // 6to4 of 169.254.169.254
		"64:ff9b::a00:1":         "a private address",        // NAT64 of 10.0.0.1
		"fe80::1%eth0":           "a link-local address",
		"52.216.1.1":             "",
		"192.0.2.80":             "",
		"2600:1f18::1":           "",
		"64:ff9b::3444:101":      "", // NAT64 of 52.68.1.1
	} {
		if got := netguard.Classify(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Classify(%s) = %q, want %q", addr, got, want)
		}
	}
}

// A made-up name for every refused range; none of them is ever dialled.
var internalNames = map[string][]string{
	"loopback.test":  {"127.0.0.1"},
	"private.test":   {"10.1.2.3"},
	"ula.test":       {"fd12::7"},
	"cgnat.test":     {"100.64.3.4"},
	"linklocal.test": {"169.254.9.9"},
	"zero.test":      {"0.0.0.0"},
	"multicast.test": {"239.1.1.1"},
	"imds.test":      {"169.254.169.254"},
	"imds6.test":     {"fd00:ec2::254"},
	"ecs.test":       {"169.254.170.2"},
	"alibaba.test":   {"100.100.100.200"},
	"wire.test":      {"168.63.129.16"},
	"oracle.test":    {"192.0.0.192"},
	"mapped.test":    {"::ffff:10.9.9.9"},
	"public.test":    {"192.0.2.80"},
}

func guard(t *testing.T, allow ...string) (*netguard.Guard, *netguardtest.Resolver) {
	t.Helper()
	r := netguardtest.NewResolver(internalNames)
	g, err := netguard.New(netguard.Options{Allow: allow, Resolver: r, Dial: netguardtest.Dial(t)})
	if err != nil {
		t.Fatal(err)
	}
	return g, r
}

func TestCheckURLRefusesEveryInternalRange(t *testing.T) {
	g, _ := guard(t)
	ctx := context.Background()
	for name, addrs := range internalNames {
		if name == "public.test" {
			continue
		}
		ip := netip.MustParseAddr(addrs[0]).Unmap()
		ap := netip.AddrPortFrom(ip, 9000).String()
		for _, u := range []string{"http://" + name + ":9000", "http://" + net.JoinHostPort(ip.String(), "9000")} {
			err := g.CheckURL(ctx, "s3_endpoint", u)
			if !errs.Is(errs.Invalid, err) {
				t.Errorf("%s (%s): err %v, want Invalid", u, ip, err)
				continue
			}
			d := err.(*errs.Error).Detail
			for _, want := range []string{"s3_endpoint " + u + " resolves to a", "(" + ip.String() + ")", "tarn serve --allow-endpoint " + ap} {
				if !strings.Contains(d, want) {
					t.Errorf("%s: detail %q lacks %q", u, d, want)
				}
			}
		}
	}
	if err := g.CheckURL(ctx, "s3_endpoint", "https://public.test"); err != nil {
		t.Errorf("public address refused: %v", err)
	}
}

func TestCheckURLRefusesMetadataNamesWithoutLookingThemUp(t *testing.T) {
	g, r := guard(t, "0.0.0.0/0", "::/0")
	for _, host := range []string{"metadata.google.internal", "METADATA.GOOGLE.INTERNAL.", "metadata.goog", "metadata", "instance-data", "metadata.tencentyun.com"} {
		err := g.CheckURL(context.Background(), "sts_endpoint", "http://"+host)
		if !errs.Is(errs.Invalid, err) || !strings.Contains(err.Error(), "cloud metadata host name") {
			t.Errorf("%s: %v", host, err)
		}
		if n := r.Lookups(host); n != 0 {
			t.Errorf("%s was looked up %d times", host, n)
		}
	}
}

func TestAllowList(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		allow   []string
		allowed []string // URLs that pass
		refused []string // URLs that stay refused
	}{
		{[]string{"10.1.2.3:9000"},
			[]string{"http://10.1.2.3:9000", "http://private.test:9000"},
			[]string{"http://10.1.2.3:9001", "http://10.1.2.4:9000", "http://127.0.0.1:9000"}},
		{[]string{"10.0.0.0/8", "127.0.0.1/32"},
			[]string{"http://10.200.0.1:1", "http://private.test", "https://127.0.0.1:7", "http://loopback.test:9000"},
			[]string{"http://127.0.0.2:9000", "http://172.16.0.1", "http://cgnat.test"}},
		{[]string{"private.test:9000"}, // a name allows what it resolves to, on that port
			[]string{"http://private.test:9000"},
			[]string{"http://10.1.2.3:9000", "http://private.test:9001"}},
		{[]string{"[fd12::7]:443", "::ffff:100.64.0.0/106"},
			[]string{"https://ula.test", "https://[fd12::7]", "http://cgnat.test"},
			[]string{"http://ula.test"}},
		// Metadata addresses: only an entry naming exactly that address allows one.
		{[]string{"169.254.0.0/16", "100.64.0.0/10", "0.0.0.0/0", "::/0", "imds.test:80", "alibaba.test:80"},
			[]string{"http://linklocal.test", "http://cgnat.test"},
			[]string{"http://imds.test", "http://169.254.169.254", "http://alibaba.test", "http://[fd00:ec2::254]", "http://wire.test"}},
		{[]string{"169.254.169.254:80", "100.100.100.200/32"},
			[]string{"http://imds.test", "http://169.254.169.254", "http://alibaba.test:8080"},
			[]string{"http://169.254.169.254:8080", "http://ecs.test"}},
	} {
		g, _ := guard(t, tc.allow...)
		for _, u := range tc.allowed {
			if err := g.CheckURL(ctx, "s3_endpoint", u); err != nil {
				t.Errorf("allow %v: %s refused: %v", tc.allow, u, err)
			}
		}
		for _, u := range tc.refused {
			if err := g.CheckURL(ctx, "s3_endpoint", u); !errs.Is(errs.Invalid, err) {
				t.Errorf("allow %v: %s not refused (%v)", tc.allow, u, err)
			}
		}
	}
}

func TestBadAllowEntries(t *testing.T) {
	for _, e := range []string{"10.0.0.5", "10.0.0.0/33", "host:", ":9000", "10.0.0.5:0", "10.0.0.5:70000", "metadata.google.internal:80", "a/b", "::ffff:0:0/80"} {
		if _, err := netguard.New(netguard.Options{Allow: []string{e}}); err == nil || !strings.Contains(err.Error(), "--allow-endpoint") {
			t.Errorf("entry %q accepted (err %v)", e, err)
		}
	}
}

// counting is a loopback HTTP server that counts the requests it gets.
func counting(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		if h != nil {
			h(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func port(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	u, _ := url.Parse(srv.URL)
	return u.Port()
}

// A name that passes the configuration-time check and then resolves to loopback (DNS
// rebinding) is refused when the connection is made, before any packet is sent.
func TestDialRefusesRebinding(t *testing.T) {
	srv, hits := counting(t, nil)
	r := netguardtest.NewResolver(map[string][]string{"rebind.test": {"192.0.2.80", "127.0.0.1"}})
	g, err := netguard.New(netguard.Options{Resolver: r, Dial: netguardtest.Dial(t)})
	if err != nil {
		t.Fatal(err)
	}
	u := "http://rebind.test:" + port(t, srv) + "/"
	if err := g.CheckURL(context.Background(), "s3_endpoint", u); err != nil {
		t.Fatalf("configuration-time check: %v", err)
	}
	_, err = g.Client(netguard.ClientOptions{Timeout: time.Minute}).Get(u)
	var refused *netguard.RefusedError
	if !errors.As(err, &refused) || refused.Class != "a loopback address" {
		t.Fatalf("rebinding to loopback: err %v, want a RefusedError", err)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the rebound address got %d requests", n)
	}
}

// An allowed name is resolved once per connection and the checked address is dialled.
func TestDialConnectsToTheCheckedAddress(t *testing.T) {
	srv, hits := counting(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	r := netguardtest.NewResolver(map[string][]string{"svc.test": {"127.0.0.1"}})
	g, err := netguard.New(netguard.Options{Allow: []string{"127.0.0.1:" + port(t, srv)}, Resolver: r, Dial: netguardtest.Dial(t)})
	if err != nil {
		t.Fatal(err)
	}
	c := g.Client(netguard.ClientOptions{Timeout: time.Minute})
	c.Transport.(*http.Transport).DisableKeepAlives = true
	for range 2 {
		resp, err := c.Get("http://svc.test:" + port(t, srv) + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if hits.Load() != 2 || r.Lookups("svc.test") != 2 {
		t.Errorf("%d requests, %d lookups; want 2 and 2", hits.Load(), r.Lookups("svc.test"))
	}
}

func TestRedirectsAreChecked(t *testing.T) {
	inner, innerHits := counting(t, nil)
	outer, _ := counting(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://loopback.test:"+port(t, inner)+"/latest/meta-data/", http.StatusFound)
	})
	g, _ := guard(t, "127.0.0.1:"+port(t, outer))
	_, err := g.Client(netguard.ClientOptions{Timeout: time.Minute}).Get(outer.URL)
	var refused *netguard.RefusedError
	if !errors.As(err, &refused) {
		t.Fatalf("redirect to a refused host followed: %v", err)
	}
	if innerHits.Load() != 0 {
		t.Error("the redirect target got a request")
	}
}

func TestRedirectsOnlyToHTTPS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://127.0.0.1:1/latest/meta-data/", http.StatusFound)
	}))
	defer srv.Close()
	g, _ := guard(t, "127.0.0.0/8")
	c := g.Client(netguard.ClientOptions{Timeout: time.Minute, HTTPSOnly: true, Transport: func(dial netguard.DialFunc) http.RoundTripper {
		tr := srv.Client().Transport.(*http.Transport).Clone()
		tr.DialContext = dial
		return tr
	}})
	_, err := c.Get(srv.URL)
	if err == nil || !strings.Contains(err.Error(), "not https") {
		t.Fatalf("redirect to http followed: %v", err)
	}
}

func ExampleGuard_CheckURL() {
	g, err := netguard.New(netguard.Options{Allow: []string{"10.0.0.5:9000"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	fmt.Println(g.CheckURL(ctx, "s3_endpoint", "http://10.0.0.5:9000"))
	fmt.Println(g.CheckURL(ctx, "s3_endpoint", "http://10.1.2.3:9000"))
	// Output:
	// <nil>
	// s3_endpoint http://10.1.2.3:9000 resolves to a private address (10.1.2.3); the server operator can allow it with tarn serve --allow-endpoint 10.1.2.3:9000
}

// FuzzAllowEntry checks that no accepted --allow-endpoint entry opens the metadata service
// unless it names exactly that address.
func FuzzAllowEntry(f *testing.F) {
	for _, s := range []string{"10.0.0.5:9000", "10.0.0.0/8", "169.254.169.254:80", "169.254.169.254/32", "169.254.0.0/16",
		"0.0.0.0/0", "::/0", "[::ffff:169.254.169.254]:80", "::ffff:169.254.169.254/128", "imds.test:80", "minio.internal:9000", "[fd00:ec2::254]:80"} {
		f.Add(s)
	}
	imds := netip.MustParseAddrPort("169.254.169.254:80")
	f.Fuzz(func(t *testing.T, entry string) {
		r := netguardtest.NewResolver(map[string][]string{"imds.test": {"169.254.169.254"}})
		g, err := netguard.New(netguard.Options{Allow: []string{entry}, Resolver: r})
		if err != nil {
			return
		}
		exact := false
		// An entry's host is read without its trailing dot, as a URL's is.
		if h, p, err := net.SplitHostPort(entry); err == nil && strings.HasSuffix(h, ".") {
			entry = net.JoinHostPort(strings.TrimSuffix(h, "."), p)
		}
		if ap, err := netip.ParseAddrPort(entry); err == nil {
			exact = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()) == imds
		} else if p, err := netip.ParsePrefix(entry); err == nil {
			exact = p.IsSingleIP() && p.Addr().Unmap() == imds.Addr()
		}
		for _, u := range []string{"http://169.254.169.254", "http://imds.test"} {
			if err := g.CheckURL(context.Background(), "s3_endpoint", u); err == nil && !exact {
				t.Errorf("entry %q allows %s", entry, u)
			}
		}
	})
}
