package netguard

import (
	"net/netip"
	"strings"
)

// The classes Classify answers, phrased to follow "resolves to".
const (
	classMetadata    = "a cloud metadata address"
	classLoopback    = "a loopback address"
	classPrivate     = "a private address"
	classShared      = "a shared (CGNAT) address"
	classLinkLocal   = "a link-local address"
	classUnspecified = "an unspecified address"
	classMulticast   = "a multicast address"
	classReserved    = "a reserved address"
)

// metadataAddrs are the instance metadata and credential endpoints of the clouds, from each
// provider's documentation:
//
//   - 169.254.169.254: the instance metadata service of AWS EC2, Google Compute Engine,
//     Azure (IMDS), Oracle Cloud, OpenStack, DigitalOcean, Hetzner and others;
//   - fd00:ec2::254: EC2's IMDS on IPv6 (AWS EC2 User Guide, "Instance metadata service");
//   - 169.254.170.2: the ECS task metadata and task-role credentials endpoint (Amazon ECS
//     Developer Guide, "Task IAM role");
//   - 169.254.170.23, fd00:ec2::23: the EKS Pod Identity Agent (Amazon EKS User Guide,
//     "Set up the Amazon EKS Pod Identity Agent");
//   - fd20:ce::254: Compute Engine's metadata server for IPv6-only instances (Google Cloud,
//     "About VM metadata");
//   - 168.63.129.16: Azure's WireServer, the host's virtual public IP that serves VM agents
//     and extensions (Azure docs, "What is IP address 168.63.129.16?");
//   - 100.100.100.200: Alibaba Cloud ECS instance metadata (Alibaba Cloud, "Instance
//     metadata");
//   - 169.254.0.23: Tencent Cloud CVM instance metadata, metadata.tencentyun.com (Tencent
//     Cloud, "Querying Instance Metadata");
//   - 192.0.0.192: Oracle Cloud's legacy (OCI Classic) metadata address, listed with the
//     others in OWASP's SSRF Prevention Cheat Sheet and PayloadsAllTheThings' SSRF cloud list.
//
// Most of them lie in ranges that are refused anyway; they are listed so that allowing a
// whole range (say 100.64.0.0/10 or fd00::/8) never opens them.
var metadataAddrs = map[netip.Addr]bool{
	netip.MustParseAddr("169.254.169.254"): true,
	netip.MustParseAddr("fd00:ec2::254"):   true,
	netip.MustParseAddr("169.254.170.2"):   true,
	netip.MustParseAddr("169.254.170.23"):  true,
	netip.MustParseAddr("fd00:ec2::23"):    true,
	netip.MustParseAddr("fd20:ce::254"):    true,
	netip.MustParseAddr("168.63.129.16"):   true,
	netip.MustParseAddr("100.100.100.200"): true,
	netip.MustParseAddr("169.254.0.23"):    true,
	netip.MustParseAddr("192.0.0.192"):     true,
}

// metadataNames are the host names of those services (GCE: metadata.google.internal,
// metadata.goog and the short "metadata"; EC2: instance-data; Tencent Cloud:
// metadata.tencentyun.com). They are refused by name, before any DNS lookup, so that a
// resolver that answers something else for them does not matter.
var metadataNames = map[string]bool{
	"metadata.google.internal":   true,
	"metadata.goog":              true,
	"metadata":                   true,
	"instance-data":              true,
	"instance-data.ec2.internal": true,
	"metadata.tencentyun.com":    true,
}

func metadataName(host string) bool {
	return metadataNames[strings.TrimSuffix(strings.ToLower(host), ".")]
}

// Networks refused beyond what net/netip classifies (RFC 6890 and the IANA special-purpose
// address registries).
var (
	sharedNet  = netip.MustParsePrefix("100.64.0.0/10") // RFC 6598 shared address space (CGNAT)
	reservedV4 = []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"),     // "this network": 0.x reaches the local host on Linux
		netip.MustParsePrefix("192.0.0.0/24"),  // IETF protocol assignments
		netip.MustParsePrefix("198.18.0.0/15"), // benchmarking, often used inside data centres
		netip.MustParsePrefix("240.0.0.0/4"),   // reserved, and the broadcast address
	}
	siteLocalV6 = netip.MustParsePrefix("fec0::/10")      // deprecated site-local, still routed inside some networks
	nat64Local  = netip.MustParsePrefix("64:ff9b:1::/48") // RFC 8215 local-use NAT64
	nat64       = netip.MustParsePrefix("64:ff9b::/96")   // RFC 6052: the IPv4 address in the last 32 bits
	sixToFour   = netip.MustParsePrefix("2002::/16")      // RFC 3056: the IPv4 address in bits 16..47
	reservedV6  = netip.MustParsePrefix("::/8")           // IPv4-compatible and other reserved addresses
)

// Classify returns why a Guard refuses a, phrased to follow "resolves to" (e.g. "a private
// address"), or "" for a public address. IPv4-mapped, NAT64 and 6to4 addresses are
// classified by the IPv4 address they carry.
func Classify(a netip.Addr) string {
	a = a.Unmap().WithZone("") // a zone picks an interface, not another address
	switch {
	case metadataAddrs[a]:
		return classMetadata
	case a.IsLoopback():
		return classLoopback
	case a.IsUnspecified():
		return classUnspecified
	case a.IsLinkLocalUnicast():
		return classLinkLocal
	case a.IsMulticast():
		return classMulticast
	case a.IsPrivate(), siteLocalV6.Contains(a), nat64Local.Contains(a):
		return classPrivate
	case sharedNet.Contains(a):
		return classShared
	case nat64.Contains(a):
		b := a.As16()
		return Classify(netip.AddrFrom4([4]byte(b[12:16])))
	case sixToFour.Contains(a):
		b := a.As16()
		return Classify(netip.AddrFrom4([4]byte(b[2:6])))
	case reservedV6.Contains(a):
		return classReserved
	}
	for _, p := range reservedV4 {
		if p.Contains(a) {
			return classReserved
		}
	}
	return ""
}
