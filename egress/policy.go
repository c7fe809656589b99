package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
)

// MaxURLLength is the longest URL, in bytes, that [Policy.CheckURL] accepts.
const MaxURLLength = 2048

// Sentinel errors. Errors returned by this package wrap one of them with
// %w and say which rule failed and for which URL or address; test with
// [errors.Is].
var (
	// ErrScheme: the scheme is not https (or not http/https when
	// Policy.AllowHTTP is set).
	ErrScheme = errors.New("egress: scheme not allowed")
	// ErrURL: the URL is unparseable, too long, not absolute, has no
	// host, carries userinfo or a fragment, or has a bad port.
	ErrURL = errors.New("egress: invalid URL")
	// ErrForbiddenAddress: the host is, or resolves to, an address whose
	// [Class] the policy refuses.
	ErrForbiddenAddress = errors.New("egress: forbidden address")
)

// Policy decides which URLs and addresses outbound requests may use.
//
// The zero Policy is the production setting: https only, and only [Public]
// addresses.
type Policy struct {
	// AllowHTTP also accepts plain http URLs.
	AllowHTTP bool
	// AllowPrivate accepts every address class except [Unspecified],
	// [Multicast] and [Broadcast], which are never valid destinations for
	// a unicast TCP connection, and [Metadata], the classic SSRF target,
	// which no webhook receiver legitimately lives at; nor a [Translated]
	// address (NAT64, 6to4, Teredo, IPv4-compatible) that embeds one of
	// those. It includes
	// [Loopback]: use it for development and tests, or for deployments
	// whose network is trusted.
	AllowPrivate bool
}

// CheckURL parses raw and applies the syntax and scheme rules: at most
// [MaxURLLength] bytes, absolute, scheme https (or http with AllowHTTP),
// a non-empty host, a port in 1..65535 if one is given, no userinfo and no
// fragment. It does no DNS: pair it with [Policy.Resolve] at create time
// and with a client from [NewClient] at send time.
func (p Policy) CheckURL(raw string) (*url.URL, error) {
	if len(raw) > MaxURLLength {
		return nil, fmt.Errorf("%w: longer than %d bytes (%d)", ErrURL, MaxURLLength, len(raw))
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrURL, err)
	}
	if !u.IsAbs() {
		return nil, fmt.Errorf("%w: %q is not absolute", ErrURL, raw)
	}
	switch u.Scheme { // url.Parse lower-cases the scheme
	case "https":
	case "http":
		if !p.AllowHTTP {
			return nil, fmt.Errorf("%w: %q: http is not allowed, use https", ErrScheme, raw)
		}
	default:
		want := "https"
		if p.AllowHTTP {
			want = "http or https"
		}
		return nil, fmt.Errorf("%w: %q: scheme %q, want %s", ErrScheme, raw, u.Scheme, want)
	}
	if u.Opaque != "" || u.Hostname() == "" {
		return nil, fmt.Errorf("%w: %q has no host", ErrURL, raw)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%w: %q carries userinfo", ErrURL, u.Redacted())
	}
	if strings.Contains(raw, "#") {
		return nil, fmt.Errorf("%w: %q carries a fragment", ErrURL, raw)
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("%w: %q: port %q out of range", ErrURL, raw, port)
		}
	}
	return u, nil
}

// Allowed reports whether a may be dialled: nil for a [Public] address, or
// for any address except [Unspecified], [Multicast] and [Broadcast] when
// AllowPrivate is set; otherwise an error wrapping [ErrForbiddenAddress].
func (p Policy) Allowed(a netip.Addr) error {
	if c, ok := p.allowed(a); !ok {
		return fmt.Errorf("%w: %s is %s", ErrForbiddenAddress, a, describe(a, c))
	}
	return nil
}

func (p Policy) allowed(a netip.Addr) (Class, bool) {
	c := Classify(a)
	switch c {
	case Public:
		return c, true
	case Unspecified, Multicast, Broadcast, Metadata:
		return c, false
	case Translated:
		// A translator or relay would deliver to the inner address: never to one refused whatever the flags (the
		// metadata address inside NAT64, say); to a private or loopback one only as a private address.
		if inner, ok := innerV4(a); ok {
			switch Classify(inner) {
			case Unspecified, Multicast, Broadcast, Metadata:
				return c, false
			}
		}
		return c, p.AllowPrivate
	default:
		return c, p.AllowPrivate
	}
}

// Control is a [net.Dialer] Control function. It runs after name
// resolution, once per connection attempt, with the IP address actually
// being dialled, and refuses the connection when [Policy.Allowed] does.
// Because the check is on the dialled address rather than on an earlier
// lookup, a DNS answer that changes between validation and delivery (DNS
// rebinding) cannot steer a request to a forbidden address. An address
// that is not an IP:port fails closed.
func (p Policy) Control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot check %s address %q: %w", ErrForbiddenAddress, network, address, err)
	}
	if c, ok := p.allowed(ap.Addr()); !ok {
		return fmt.Errorf("%w: dialing %s (%s)", ErrForbiddenAddress, ap.Addr(), describe(ap.Addr(), c))
	}
	return nil
}

// Resolve is the create-time check for a host as returned by
// [url.URL.Hostname] (brackets around an IPv6 literal are tolerated). An IP
// literal is checked without DNS; a name is resolved with
// [net.DefaultResolver] and every address it returns must be allowed.
// Lookup failures are returned wrapped, not as [ErrForbiddenAddress].
//
// Resolve is advisory — it gives early, readable feedback. The enforcement
// is [Policy.Control], since DNS answers can change after this check.
func (p Policy) Resolve(ctx context.Context, host string) error {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "" {
		return fmt.Errorf("%w: empty host", ErrURL)
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return p.Allowed(a)
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return fmt.Errorf("egress: resolving %s: %w", host, err)
	}
	if len(addrs) == 0 {
		return fmt.Errorf("egress: resolving %s: no addresses", host)
	}
	for _, a := range addrs {
		a = a.Unmap() // LookupNetIP returns IPv4 answers as ::ffff:a.b.c.d
		if c, ok := p.allowed(a); !ok {
			return fmt.Errorf("%w: %s resolves to %s (%s)", ErrForbiddenAddress, host, a, describe(a, c))
		}
	}
	return nil
}
