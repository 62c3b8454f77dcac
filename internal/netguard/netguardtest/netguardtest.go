// Package netguardtest helps test address filters without leaving the machine: a resolver
// that answers made-up names from a table (and can change its answer between lookups, as
// DNS rebinding does), and a dialer that connects only to loopback addresses and fails the
// test if asked for anything else.
package netguardtest

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"

	"github.com/tarnhq/tarn/internal/netguard"
)

// Resolver answers lookups from a table, never from the network. It is safe for concurrent
// use.
type Resolver struct {
	mu      sync.Mutex
	answers map[string][]netip.Addr
	lookups map[string]int
}

// NewResolver returns a resolver whose n-th lookup of a name answers the n-th address of
// hosts[name] (the last one once they run out), so {"rebind.test": {"192.0.2.80",
// "127.0.0.1"}} answers a public-looking address first and loopback afterwards. Names not
// in hosts fail to resolve. It panics on an entry that is not an IP address.
func NewResolver(hosts map[string][]string) *Resolver {
	r := &Resolver{answers: map[string][]netip.Addr{}, lookups: map[string]int{}}
	for name, addrs := range hosts {
		for _, a := range addrs {
			r.answers[name] = append(r.answers[name], netip.MustParseAddr(a))
		}
	}
	return r
}

// LookupNetIP answers host's next address from the table.
func (r *Resolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	as := r.answers[host]
	if len(as) == 0 {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	n := r.lookups[host]
	r.lookups[host]++
	return []netip.Addr{as[min(n, len(as)-1)]}, nil
}

// Lookups returns how many times host was looked up.
func (r *Resolver) Lookups(host string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lookups[host]
}

// Dial returns a dialer that connects to loopback addresses (127.0.0.0/8, ::1) and, for any
// other address, fails t and returns an error without sending a packet: a guard that lets
// such an address through is a bug the test must report, and the test must never reach
// outside the machine.
func Dial(t testing.TB) netguard.DialFunc {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		ap, err := netip.ParseAddrPort(address)
		if err != nil || !ap.Addr().Unmap().IsLoopback() {
			t.Errorf("netguardtest: asked to dial %s %s, which is not a loopback address", network, address)
			return nil, fmt.Errorf("netguardtest: refusing to dial non-loopback %s", address)
		}
		var d net.Dialer
		return d.DialContext(ctx, network, address)
	}
}
