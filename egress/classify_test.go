package egress

import (
	"net/netip"
	"testing"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		addr string
		want Class
		why  string
	}{
		// IPv4.
		{"8.8.8.8", Public, "ordinary global unicast"},
		{"1.1.1.1", Public, "ordinary global unicast"},
		{"172.32.0.1", Public, "just above 172.16/12"},
		{"100.128.0.1", Public, "just above 100.64/10"},
		{"192.169.0.1", Public, "just above 192.168/16"},
		{"0.0.0.0", Unspecified, "INADDR_ANY; connecting to it reaches the local host"},
		{"0.1.2.3", Reserved, "0/8 'this network'"},
		{"127.0.0.1", Loopback, "loopback"},
		{"127.255.255.254", Loopback, "all of 127/8 is loopback"},
		{"10.0.0.1", Private, "RFC 1918 10/8"},
		{"172.16.0.1", Private, "RFC 1918 172.16/12, low end"},
		{"172.31.255.255", Private, "RFC 1918 172.16/12, high end"},
		{"192.168.1.1", Private, "RFC 1918 192.168/16"},
		{"169.254.1.1", LinkLocal, "link-local 169.254/16"},
		{"169.254.169.254", Metadata, "AWS/GCP/Azure/OCI metadata, more specific than link-local"},
		{"169.254.169.253", LinkLocal, "neighbour of the metadata address is only link-local"},
		{"100.64.0.1", CGNAT, "RFC 6598 shared address space"},
		{"100.127.255.255", CGNAT, "top of 100.64/10"},
		{"100.100.100.200", Metadata, "Alibaba Cloud metadata, inside CGNAT"},
		{"224.0.0.1", Multicast, "all-hosts multicast"},
		{"239.255.255.250", Multicast, "SSDP, top of 224/4"},
		{"255.255.255.255", Broadcast, "limited broadcast, more specific than 240/4"},
		{"240.0.0.1", Reserved, "240/4 future use"},
		{"192.0.0.8", Reserved, "192.0.0/24 IETF protocol assignments"},
		{"192.0.2.1", Reserved, "TEST-NET-1 documentation"},
		{"198.51.100.1", Reserved, "TEST-NET-2 documentation"},
		{"203.0.113.1", Reserved, "TEST-NET-3 documentation"},
		{"198.18.0.1", Reserved, "benchmarking 198.18/15"},
		{"198.19.255.255", Reserved, "benchmarking, top of 198.18/15"},
		{"192.88.99.1", Reserved, "deprecated 6to4 relay anycast"},

		// IPv4-mapped IPv6: the socket reaches the IPv4 address itself.
		{"::ffff:8.8.8.8", Public, "mapped public IPv4"},
		{"::ffff:127.0.0.1", Loopback, "mapped loopback is loopback"},
		{"::ffff:10.1.2.3", Private, "mapped RFC 1918"},
		{"::ffff:169.254.169.254", Metadata, "mapped metadata"},
		{"::ffff:0.0.0.0", Unspecified, "mapped INADDR_ANY"},

		// IPv6.
		{"2606:4700:4700::1111", Public, "global unicast 2000::/3"},
		{"2a00:1450:4001:81b::200e", Public, "global unicast 2000::/3"},
		{"::", Unspecified, "in6addr_any"},
		{"::1", Loopback, "IPv6 loopback"},
		{"fc00::1", Private, "unique local fc00::/7, fc half"},
		{"fd12:3456:789a::1", Private, "unique local fc00::/7, fd half"},
		{"fec0::1", Private, "deprecated site-local"},
		{"fe80::1", LinkLocal, "link-local fe80::/10"},
		{"fe80::1%eth0", LinkLocal, "zone is ignored (prefix matching would otherwise fail)"},
		{"fd00:ec2::254", Metadata, "AWS IPv6 metadata, more specific than ULA"},
		{"fd20:ce::254", Metadata, "GCP IPv6 metadata, more specific than ULA"},
		{"ff02::1", Multicast, "all-nodes multicast"},
		{"ff0e::1", Multicast, "global-scope multicast"},
		{"2001:db8::1", Reserved, "documentation 2001:db8::/32"},
		{"3fff::1", Reserved, "documentation 3fff::/20 (RFC 9637)"},
		{"2001:2::1", Reserved, "benchmarking 2001:2::/48"},
		{"2001:10::1", Reserved, "ORCHID 2001:10::/28"},
		{"2001:20::1", Reserved, "ORCHIDv2 2001:20::/28"},
		{"100::1", Reserved, "discard-only 100::/64, outside 2000::/3"},
		{"::1.2.3.4", Reserved, "deprecated IPv4-compatible form, outside 2000::/3"},
		{"::ffff:0:808:808", Reserved, "SIIT ::ffff:0:0/96 is not mapped, outside 2000::/3"},
		{"4000::1", Reserved, "unassigned, outside 2000::/3"},

		// NAT64: the last 32 bits are the IPv4 destination.
		{"64:ff9b::808:808", Public, "NAT64 well-known prefix to 8.8.8.8"},
		{"64:ff9b::7f00:1", Translated, "NAT64 to 127.0.0.1"},
		{"64:ff9b::a9fe:a9fe", Translated, "NAT64 to the metadata address"},
		{"64:ff9b::a00:1", Translated, "NAT64 to 10.0.0.1"},
		{"64:ff9b:1::808:808", Public, "local-use NAT64 to 8.8.8.8"},
		{"64:ff9b:1::c0a8:101", Translated, "local-use NAT64 to 192.168.1.1"},
		{"64:ff9b:1:abcd::7f00:1", Translated, "local-use NAT64 anywhere in the /48 to 127.0.0.1"},

		// 6to4: bits 16..47 are the IPv4 relay destination.
		{"2002:808:808::1", Public, "6to4 for 8.8.8.8"},
		{"2002:7f00:1::1", Translated, "6to4 for 127.0.0.1"},
		{"2002:a9fe:a9fe::1", Translated, "6to4 for the metadata address"},
		{"2002:0:0::1", Translated, "6to4 for 0.0.0.0"},

		// Teredo: the client IPv4 is the last 32 bits inverted.
		{"2001:0:4136:e378:8000:63bf:f7f7:f7f7", Public, "Teredo client 8.8.8.8 (^0xf7f7f7f7)"},
		{"2001:0:4136:e378:8000:63bf:80ff:fffe", Translated, "Teredo client 127.0.0.1"},
		{"2001:0:4136:e378:8000:63bf:f5ff:fffe", Translated, "Teredo client 10.0.0.1"},
	}
	for _, tt := range tests {
		a := netip.MustParseAddr(tt.addr)
		if got := Classify(a); got != tt.want {
			t.Errorf("Classify(%s) = %s, want %s (%s)", tt.addr, got, tt.want, tt.why)
		}
	}
}

func TestClassifyInvalid(t *testing.T) {
	// The zero Addr must not fall through to Public.
	if got := Classify(netip.Addr{}); got != Unspecified {
		t.Errorf("Classify(zero Addr) = %s, want unspecified", got)
	}
}

func TestClassifyString(t *testing.T) {
	for c := Public; c <= Translated; c++ {
		if s := c.String(); s == "" || s[0] == 'C' {
			t.Errorf("Class(%d).String() = %q, want a name", int(c), s)
		}
	}
	if got := Class(0).String(); got != "Class(0)" {
		t.Errorf("Class(0).String() = %q", got)
	}
	if got := Class(99).String(); got != "Class(99)" {
		t.Errorf("Class(99).String() = %q", got)
	}
}
