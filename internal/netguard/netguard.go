// Package netguard gives the HTTP clients that reach hosts chosen by org admins (S3
// endpoints, OIDC issuers) a dialer that refuses link-local, metadata, unspecified and
// multicast addresses, whatever host name led there: the check runs after DNS resolution,
// so names and rebinding do not get around it.
package netguard

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// ec2MetadataV6 is the IPv6 address of the EC2 instance metadata service.
var ec2MetadataV6 = netip.MustParseAddr("fd00:ec2::254")

// Refuse is a net.Dialer Control function that refuses link-local, metadata, unspecified
// and multicast addresses.
func Refuse(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("refusing to connect to %s: not an IP address", address)
	}
	ip := ap.Addr().Unmap()
	if ip.IsLinkLocalUnicast() || ip.IsUnspecified() || ip.IsMulticast() || ip.IsInterfaceLocalMulticast() || ip == ec2MetadataV6 {
		return fmt.Errorf("refusing to connect to %s: link-local, metadata or multicast address", ip)
	}
	return nil
}

// Client returns an HTTP client with the usual transport settings whose connections pass
// Refuse. When httpsOnly is set it follows redirects only to https URLs.
func Client(timeout time.Duration, httpsOnly bool) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil // a proxy would connect for us, past Refuse
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: Refuse}).DialContext
	c := &http.Client{Transport: t, Timeout: timeout}
	if httpsOnly {
		c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
			if req.URL.Scheme != "https" {
				return errors.New("refusing a redirect to a URL that is not https")
			}
			if len(via) >= 5 {
				return errors.New("too many redirects")
			}
			return nil
		}
	}
	return c
}
