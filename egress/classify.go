package egress

import (
	"fmt"
	"net/netip"
)

// Class is the coarse category of an IP address, as far as outbound
// requests are concerned. Only [Public] addresses are reachable under the
// zero [Policy].
//
// The zero Class is not a valid classification; [Classify] never returns it.
type Class int

const (
	// Public is a globally routable unicast address.
	Public Class = iota + 1
	// Unspecified is 0.0.0.0 or ::. Dialling it reaches the local host.
	Unspecified
	// Loopback is 127.0.0.0/8 or ::1.
	Loopback
	// Private is RFC 1918 (10/8, 172.16/12, 192.168/16), IPv6 unique local
	// fc00::/7 and the deprecated IPv6 site-local fec0::/10.
	Private
	// LinkLocal is 169.254.0.0/16 or fe80::/10.
	LinkLocal
	// CGNAT is the RFC 6598 shared address space 100.64.0.0/10.
	CGNAT
	// Metadata is a cloud instance-metadata endpoint: 169.254.169.254
	// (AWS, GCP, Azure, OCI, ...), fd00:ec2::254 (AWS IPv6), fd20:ce::254
	// (GCP IPv6) and 100.100.100.200 (Alibaba Cloud).
	Metadata
	// Multicast is 224.0.0.0/4 or ff00::/8.
	Multicast
	// Broadcast is the limited broadcast address 255.255.255.255.
	Broadcast
	// Reserved is everything that is neither routable nor one of the
	// classes above: 0/8, 240/4, 192.0.0/24, the documentation and
	// benchmarking ranges (192.0.2/24, 198.18/15, 198.51.100/24,
	// 203.0.113/24, 2001:db8::/32, 3fff::/20, 2001:2::/48), ORCHID, the
	// deprecated 6to4 relay anycast 192.88.99/24, and any IPv6 address
	// outside global unicast 2000::/3 not otherwise classified.
	Reserved
	// Translated is an IPv6 address that embeds an IPv4 address (NAT64,
	// 6to4, Teredo) whose embedded address is not [Public]: a translator
	// or relay would forward the packet to that inner address.
	Translated
)

var classNames = [...]string{
	Public:      "public",
	Unspecified: "unspecified",
	Loopback:    "loopback",
	Private:     "private",
	LinkLocal:   "link-local",
	CGNAT:       "cgnat",
	Metadata:    "metadata",
	Multicast:   "multicast",
	Broadcast:   "broadcast",
	Reserved:    "reserved",
	Translated:  "translated",
}

// String returns a short lower-case name such as "loopback".
func (c Class) String() string {
	if c > 0 && int(c) < len(classNames) {
		return classNames[c]
	}
	return fmt.Sprintf("Class(%d)", int(c))
}

type classRange struct {
	prefix netip.Prefix
	class  Class
}

// v4Ranges is searched in order; the first match wins, so the more
// specific entries come first.
var v4Ranges = []classRange{
	{netip.MustParsePrefix("0.0.0.0/32"), Unspecified},
	{netip.MustParsePrefix("255.255.255.255/32"), Broadcast},
	{netip.MustParsePrefix("169.254.169.254/32"), Metadata},
	{netip.MustParsePrefix("100.100.100.200/32"), Metadata},
	{netip.MustParsePrefix("0.0.0.0/8"), Reserved},
	{netip.MustParsePrefix("127.0.0.0/8"), Loopback},
	{netip.MustParsePrefix("10.0.0.0/8"), Private},
	{netip.MustParsePrefix("172.16.0.0/12"), Private},
	{netip.MustParsePrefix("192.168.0.0/16"), Private},
	{netip.MustParsePrefix("169.254.0.0/16"), LinkLocal},
	{netip.MustParsePrefix("100.64.0.0/10"), CGNAT},
	{netip.MustParsePrefix("224.0.0.0/4"), Multicast},
	{netip.MustParsePrefix("240.0.0.0/4"), Reserved},
	{netip.MustParsePrefix("192.0.0.0/24"), Reserved},
	{netip.MustParsePrefix("192.0.2.0/24"), Reserved},
	{netip.MustParsePrefix("192.88.99.0/24"), Reserved},
	{netip.MustParsePrefix("198.18.0.0/15"), Reserved},
	{netip.MustParsePrefix("198.51.100.0/24"), Reserved},
	{netip.MustParsePrefix("203.0.113.0/24"), Reserved},
}

var v6Ranges = []classRange{
	{netip.MustParsePrefix("::/128"), Unspecified},
	{netip.MustParsePrefix("::1/128"), Loopback},
	{netip.MustParsePrefix("fd00:ec2::254/128"), Metadata},
	{netip.MustParsePrefix("fd20:ce::254/128"), Metadata},
	{netip.MustParsePrefix("fc00::/7"), Private},
	{netip.MustParsePrefix("fec0::/10"), Private},
	{netip.MustParsePrefix("fe80::/10"), LinkLocal},
	{netip.MustParsePrefix("ff00::/8"), Multicast},
	{netip.MustParsePrefix("2001:db8::/32"), Reserved},
	{netip.MustParsePrefix("3fff::/20"), Reserved},
	{netip.MustParsePrefix("2001:2::/48"), Reserved},
	{netip.MustParsePrefix("2001:10::/28"), Reserved},
	{netip.MustParsePrefix("2001:20::/28"), Reserved},
}

var (
	nat64WellKnown = netip.MustParsePrefix("64:ff9b::/96")
	nat64Local     = netip.MustParsePrefix("64:ff9b:1::/48")
	sixToFour      = netip.MustParsePrefix("2002::/16")
	teredo         = netip.MustParsePrefix("2001::/32")
	globalUnicast  = netip.MustParsePrefix("2000::/3")
)

// Classify reports the class of a.
//
// IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are unmapped and classified
// as the IPv4 address they are. For NAT64 (64:ff9b::/96, 64:ff9b:1::/48,
// taking the last 32 bits), 6to4 (2002::/16), Teredo (2001::/32, client
// address inverted in the last 32 bits) and the deprecated IPv4-compatible
// form (::a.b.c.d) the embedded IPv4 address is classified too; if it is
// not [Public], Classify returns [Translated]. [Policy] refuses a
// Translated address whose inner address it would refuse whatever the
// flags (metadata, unspecified, multicast, broadcast), and otherwise
// treats it as private.
// An IPv6 zone is ignored. The invalid zero [netip.Addr] is [Unspecified].
func Classify(a netip.Addr) Class {
	if !a.IsValid() {
		return Unspecified
	}
	// netip.Prefix.Contains never matches an address with a zone.
	a = a.WithZone("").Unmap()
	if a.Is4() {
		return lookup(v4Ranges, a, Public)
	}
	if inner, ok := embeddedV4(a); ok {
		if lookup(v4Ranges, inner, Public) != Public {
			return Translated
		}
		return Public
	}
	if inner, ok := compatV4(a); ok && lookup(v4Ranges, inner, Public) != Public {
		return Translated // a deprecated IPv4-compatible address of a non-public IPv4 address
	}
	def := Reserved
	if globalUnicast.Contains(a) {
		def = Public
	}
	return lookup(v6Ranges, a, def)
}

func lookup(table []classRange, a netip.Addr, def Class) Class {
	for _, r := range table {
		if r.prefix.Contains(a) {
			return r.class
		}
	}
	return def
}

// embeddedV4 returns the IPv4 address that a NAT64, 6to4 or Teredo address
// leads to. a must be an unmapped IPv6 address without zone.
func embeddedV4(a netip.Addr) (netip.Addr, bool) {
	b := a.As16()
	switch {
	case nat64WellKnown.Contains(a), nat64Local.Contains(a):
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case sixToFour.Contains(a):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	case teredo.Contains(a):
		return netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]}), true
	}
	return netip.Addr{}, false
}

// compatV4 returns the IPv4 address of a deprecated IPv4-compatible
// address (::a.b.c.d, RFC 4291 2.5.5.1), other than :: and ::1. a must be
// an unmapped IPv6 address without zone.
func compatV4(a netip.Addr) (netip.Addr, bool) {
	b := a.As16()
	if !ipv4Compat.Contains(a) || a == netip.IPv6Unspecified() || a == netip.IPv6Loopback() {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4([4]byte(b[12:16])), true
}

var ipv4Compat = netip.MustParsePrefix("::/96")

// innerV4 returns the IPv4 address a translated (NAT64, 6to4, Teredo) or
// IPv4-compatible IPv6 address embeds.
func innerV4(a netip.Addr) (netip.Addr, bool) {
	a = a.WithZone("").Unmap()
	if !a.Is6() {
		return netip.Addr{}, false
	}
	if inner, ok := embeddedV4(a); ok {
		return inner, true
	}
	return compatV4(a)
}

// describe renders the class of a for an error message, naming the inner
// address of a translated form.
func describe(a netip.Addr, c Class) string {
	if c == Translated {
		if inner, ok := innerV4(a); ok {
			return fmt.Sprintf("%s, embeds %s which is %s", c, inner, Classify(inner))
		}
	}
	return c.String()
}
