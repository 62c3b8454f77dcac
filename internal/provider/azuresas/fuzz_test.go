package azuresas

import (
	"context"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/tarnhq/tarn/internal/netguard"
	"github.com/tarnhq/tarn/internal/provider"
)

// FuzzCheckEndpoint: an accepted endpoint is an http(s) URL without user, query or fragment,
// whose path is at most the account's, plain http only on an emulator host, and checking
// it again gives it back unchanged. Only IP addresses reach the guard's check (a resolver
// that knows no names keeps the fuzzer off the network).
func FuzzCheckEndpoint(f *testing.F) {
	for _, s := range []string{"", "http://127.0.0.1:10000/acme1", "https://acme1.blob.core.windows.net/", "https://10.0.0.1/acme1/",
		"http://localhost:10000", "https://[::1]:443/acme1", "http://example.com", "https://u@h", "https://h/?x", "https://h/other", "ftp://h"} {
		f.Add(s)
	}
	g, err := netguard.New(netguard.Options{Allow: []string{"0.0.0.0/0", "::/0"}, Resolver: noNames{}})
	if err != nil {
		f.Fatal(err)
	}
	d := New(Options{Guard: g})
	f.Fuzz(func(t *testing.T, s string) {
		got, err := d.checkEndpoint(context.Background(), "acme1", s)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error of %q has several lines: %q", s, err)
			}
			return
		}
		u, err := url.Parse(got)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.User != nil || u.RawQuery != "" || u.Fragment != "" ||
			(u.Path != "" && u.Path != "/acme1") || (u.Scheme == "http" && !provider.EmulatorHost(u.Hostname())) {
			t.Fatalf("accepted %q as %q", s, got)
		}
		again, err := d.checkEndpoint(context.Background(), "acme1", got)
		if err != nil || again != got {
			t.Fatalf("%q canonical %q checks again as %q, %v", s, got, again, err)
		}
	})
}

type noNames struct{}

func (noNames) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}
