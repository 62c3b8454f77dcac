package awssts

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// ec2MetadataV6 is the IPv6 address of the EC2 instance metadata service.
var ec2MetadataV6 = netip.MustParseAddr("fd00:ec2::254")

// refuseMetadata is a net.Dialer Control function that refuses connections to link-local,
// unspecified and multicast addresses and to the EC2 metadata service, whatever host name
// led there. Org admins choose STS and S3 endpoints; this keeps them from turning the
// server into a client of its own cloud's metadata service (checked after DNS resolution,
// so names and rebinding do not get around it).
func refuseMetadata(network, address string, _ syscall.RawConn) error {
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

// guardedClient returns the HTTP client the driver uses when none is given: the usual
// transport settings, with refuseMetadata on every connection.
func guardedClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: refuseMetadata}).DialContext
	return &http.Client{Transport: t, Timeout: time.Minute}
}
