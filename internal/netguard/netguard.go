// Package netguard keeps the connections that org admins choose the targets of (S3 and STS
// endpoints of creds keys, OIDC issuers and their JWKS) away from the server's own network:
// loopback, private, CGNAT, link-local, unspecified, multicast, reserved and cloud metadata
// addresses are refused unless the operator lists them (tarn serve --allow-endpoint).
//
// A Guard checks an endpoint URL when it is configured (CheckURL) and every connection
// again when it is made (DialContext): it resolves the host once, checks every address the
// name resolves to, and dials the checked address itself, so host names and DNS rebinding do
// not get around it.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tarnhq/tarn/internal/errs"
)

// allowFlag is the command-line flag whose entries make a Guard allow an address.
const allowFlag = "tarn serve --allow-endpoint"

// Resolver looks up the addresses of a host name; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// DialFunc connects to address on network, as net.Dialer.DialContext does.
type DialFunc = func(ctx context.Context, network, address string) (net.Conn, error)

// Options configure a Guard. The zero value allows nothing but public addresses.
type Options struct {
	// Allow lists what the operator allows beyond public addresses: HOST:PORT entries (an IP
	// address or a host name with a port, e.g. 10.0.0.5:9000, [fd00::5]:9000 or
	// minio.internal:9000) and CIDR entries (e.g. 10.0.0.0/8 or 127.0.0.1/32, any port).
	// A cloud metadata address is allowed only by an entry that names exactly that address:
	// its IP address with the port, or a CIDR of that one address; a host name entry or a
	// wider network never allows one.
	Allow []string
	// Resolver resolves host names; nil means net.DefaultResolver.
	Resolver Resolver
	// Dial connects to an address that passed the checks, always an IP address and port;
	// nil means a net.Dialer with a 10 s timeout. Tests inject one that refuses to leave
	// the loopback interface.
	Dial DialFunc
}

// Guard refuses connections to internal addresses the operator did not allow. The zero value
// allows only public addresses. It is safe for concurrent use.
type Guard struct {
	hostPorts map[string]bool // "ip:port" and "name:port" entries
	networks  []netip.Prefix
	resolver  Resolver
	dial      DialFunc
}

// New returns a Guard for o. It returns an error naming the bad entry when an entry of
// o.Allow is neither HOST:PORT nor a CIDR, or names a cloud metadata host name.
func New(o Options) (*Guard, error) {
	g := &Guard{hostPorts: map[string]bool{}, resolver: o.Resolver, dial: o.Dial}
	for _, e := range o.Allow {
		if err := g.add(e); err != nil {
			return nil, fmt.Errorf("--allow-endpoint %q: %w", e, err)
		}
	}
	return g, nil
}

func (g *Guard) add(entry string) error {
	if strings.Contains(entry, "/") {
		p, err := netip.ParsePrefix(entry)
		if err != nil {
			return errors.New("not a CIDR such as 10.0.0.0/8 or fd00::/8")
		}
		if p.Addr().Is4In6() {
			if p.Bits() < 96 {
				return errors.New("an IPv4-mapped CIDR must be /96 or longer; give the IPv4 network instead")
			}
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		g.networks = append(g.networks, p.Masked())
		return nil
	}
	host, port, err := splitHostPort(entry)
	if err != nil {
		return errors.New("want HOST:PORT (e.g. 10.0.0.5:9000) or a CIDR (e.g. 10.0.0.0/8)")
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		g.hostPorts[netip.AddrPortFrom(ip.Unmap(), port).String()] = true
		return nil
	}
	if metadataName(host) {
		return errors.New("a cloud metadata host name is never allowed; list its IP address if you really mean it")
	}
	g.hostPorts[net.JoinHostPort(host, strconv.Itoa(int(port)))] = true
	return nil
}

// splitHostPort splits "host:port" into a lower-case host without a trailing dot and a
// port in 1..65535.
func splitHostPort(hostport string) (string, uint16, error) {
	host, p, err := net.SplitHostPort(hostport)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil || port == 0 || host == "" {
		return "", 0, fmt.Errorf("bad host or port in %q", hostport)
	}
	return strings.TrimSuffix(strings.ToLower(host), "."), uint16(port), nil
}

// RefusedError is the error for an address a Guard refuses. Its message says what the host
// resolved to and how the operator can allow it; it reveals nothing about the host beyond
// its DNS answer, since a refused address is never dialled.
type RefusedError struct {
	Host  string         // the host name or IP address asked for
	Addr  netip.AddrPort // the refused address
	Class string         // e.g. "a private address"
	name  bool           // Host itself is a cloud metadata host name
}

// Error returns e.g. "10.1.2.3:9000 resolves to a private address (10.1.2.3); the server
// operator can allow it with tarn serve --allow-endpoint 10.1.2.3:9000".
func (e *RefusedError) Error() string {
	return net.JoinHostPort(e.Host, strconv.Itoa(int(e.Addr.Port()))) + " " + e.Why()
}

// RetryableError reports false: a refused address stays refused, so clients that ask
// errors this (the AWS SDK's retryer) do not try again.
func (e *RefusedError) RetryableError() bool { return false }

// Why is Error without the host: what the host resolved to and how to allow it.
func (e *RefusedError) Why() string {
	switch {
	case e.name:
		return "is a cloud metadata host name: tarn never connects to it"
	case e.Class == classMetadata:
		return fmt.Sprintf("resolves to %s (%s); the server operator can allow it only by listing exactly that address with %s %s",
			e.Class, e.Addr.Addr(), allowFlag, e.Addr)
	}
	return fmt.Sprintf("resolves to %s (%s); the server operator can allow it with %s %s", e.Class, e.Addr.Addr(), allowFlag, e.Addr)
}

// CheckURL checks the host of rawURL, an http or https URL named by the configuration field
// field (e.g. "s3_endpoint"), the way DialContext will: it resolves the host and refuses it
// when any of its addresses is refused. It returns an error of kind Invalid whose one-line
// detail names the field, the address and the flag that allows it, or says that the host
// cannot be resolved.
func (g *Guard) CheckURL(ctx context.Context, field, rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil || u.Hostname() == "" {
		return errs.E(errs.Invalid, "%s %s is not a URL with a host", field, rawURL)
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	host, p, err := splitHostPort(net.JoinHostPort(u.Hostname(), port))
	if err != nil {
		return errs.E(errs.Invalid, "%s %s has no valid port", field, rawURL)
	}
	_, err = g.targets(ctx, "ip", host, p)
	var refused *RefusedError
	switch {
	case errors.As(err, &refused):
		return errs.E(errs.Invalid, "%s %s %s", field, rawURL, refused.Why())
	case err != nil:
		return errs.Wrap(errs.Invalid, err, fmt.Sprintf("%s %s: cannot resolve %s; check the host name", field, rawURL, host))
	}
	return nil
}

// DialContext connects to address ("host:port") on network after checking every address
// the host resolves to; it dials those checked addresses, never resolving the host twice.
// It returns a *RefusedError, before any connection attempt, when one of them is refused.
func (g *Guard) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, port, err := splitHostPort(address)
	if err != nil {
		return nil, err
	}
	family := "ip"
	switch network {
	case "tcp4":
		family = "ip4"
	case "tcp6":
		family = "ip6"
	}
	targets, err := g.targets(ctx, family, host, port)
	if err != nil {
		return nil, err
	}
	dial := g.dial
	if dial == nil {
		dial = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	var last error
	for _, t := range targets {
		c, err := dial(ctx, network, t.String())
		if err == nil {
			return c, nil
		}
		last = err
	}
	return nil, last
}

// targets returns the addresses to dial for host:port: those host resolves to (itself for
// an IP address), after checking each. It returns a *RefusedError for a cloud metadata host
// name, without resolving it, and for the first refused address: one refused address
// refuses the host.
func (g *Guard) targets(ctx context.Context, network, host string, port uint16) ([]netip.AddrPort, error) {
	var addrs []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{ip}
	} else if metadataName(host) {
		return nil, &RefusedError{Host: host, Addr: netip.AddrPortFrom(netip.Addr{}, port), Class: classMetadata, name: true}
	} else {
		r := g.resolver
		if r == nil {
			r = net.DefaultResolver
		}
		if addrs, err = r.LookupNetIP(ctx, network, host); err != nil {
			return nil, fmt.Errorf("resolve %s: %w", host, err)
		}
		if len(addrs) == 0 {
			return nil, fmt.Errorf("resolve %s: no addresses", host)
		}
	}
	out := make([]netip.AddrPort, 0, len(addrs))
	for _, a := range addrs {
		ap := netip.AddrPortFrom(a.Unmap(), port)
		if class := Classify(ap.Addr()); class != "" && !g.allows(host, ap, class) {
			return nil, &RefusedError{Host: host, Addr: ap, Class: class}
		}
		out = append(out, ap)
	}
	return out, nil
}

// allows reports whether an entry allows ap, of class, reached as host.
func (g *Guard) allows(host string, ap netip.AddrPort, class string) bool {
	if g.hostPorts[ap.String()] {
		return true
	}
	if class != classMetadata && g.hostPorts[net.JoinHostPort(host, strconv.Itoa(int(ap.Port())))] {
		return true
	}
	for _, n := range g.networks {
		if n.Contains(ap.Addr()) && (class != classMetadata || n.IsSingleIP()) {
			return true
		}
	}
	return false
}

// transport returns an HTTP transport with the usual settings whose connections go through
// g.DialContext and never through a proxy (a proxy would connect for it, past the checks).
func (g *Guard) transport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	t.DialContext = g.DialContext
	return t
}

// ClientOptions configure Client.
type ClientOptions struct {
	// Timeout bounds each request, as http.Client.Timeout does.
	Timeout time.Duration
	// HTTPSOnly makes the client follow redirects only to https URLs (at most 5).
	HTTPSOnly bool
	// Transport, when set, builds the client's transport around the guard's DialContext;
	// tests use it to route requests to stand-ins (e.g. oidctest.Issuer.Transport). Nil
	// means a transport with the usual settings that never uses a proxy (a proxy would
	// connect for it, past the checks).
	Transport func(dial DialFunc) http.RoundTripper
}

// Client returns an HTTP client whose connections, redirects included, all pass g.
func (g *Guard) Client(o ClientOptions) *http.Client {
	var rt http.RoundTripper = g.transport()
	if o.Transport != nil {
		rt = o.Transport(g.DialContext)
	}
	c := &http.Client{Transport: rt, Timeout: o.Timeout}
	if o.HTTPSOnly {
		c.CheckRedirect = HTTPSRedirect
	}
	return c
}

// HTTPSRedirect is an http.Client CheckRedirect function that follows at most five
// redirects, each to an https URL.
func HTTPSRedirect(req *http.Request, via []*http.Request) error {
	if req.URL.Scheme != "https" {
		return errors.New("refusing a redirect to a URL that is not https://")
	}
	if len(via) >= 5 {
		return errors.New("too many redirects")
	}
	return nil
}
