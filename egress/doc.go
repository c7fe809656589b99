// Package egress makes outbound HTTP requests to user-supplied URLs without
// letting those URLs reach the gateway's own network (SSRF protection).
//
// # Tour
//
// [Classify] sorts an IP address into a [Class]: [Public], [Loopback],
// [Private], [LinkLocal], [Metadata] and so on, looking through IPv4-mapped,
// NAT64, 6to4 and Teredo forms to the IPv4 address they lead to.
//
// A [Policy] says what is allowed. Its zero value is the production
// setting: https only, public addresses only. It is applied in three
// places:
//
//   - [Policy.CheckURL] when a URL is registered: syntax and scheme, no DNS.
//   - [Policy.Resolve] when a URL is registered: resolve the host once and
//     refuse it early, with a readable error, if it points somewhere
//     forbidden.
//   - [Policy.Control], installed by [NewClient] as the dialer's Control
//     hook, on every connection: the check runs on the IP address actually
//     being dialled, after DNS, so it holds even if the DNS answer changes
//     between registration and delivery (DNS rebinding).
//
// [NewClient] builds the *http.Client that delivers: dedicated transport,
// no proxies, TLS 1.2+, HTTP/2, keep-alive, no redirects.
//
//	p := egress.Policy{}
//	u, err := p.CheckURL(raw)
//	if err == nil {
//		err = p.Resolve(ctx, u.Hostname())
//	}
//	client := egress.NewClient(egress.ClientConfig{Policy: p})
//
// Errors wrap [ErrScheme], [ErrURL] or [ErrForbiddenAddress]; test them
// with [errors.Is], which also sees through *url.Error and *net.OpError.
//
// # Caveats
//
//   - Only clients from [NewClient] (or dialers using [Policy.Control]) are
//     protected. Passing a URL to any other client, or wrapping the
//     transport with a proxy or a custom DialTLSContext, bypasses the check.
//   - Policy.Resolve is advisory; only the dial-time check is enforcement.
//     A name that resolves to both allowed and forbidden addresses fails
//     Resolve, while at send time the dialer skips the forbidden addresses
//     and may connect to an allowed one.
//   - For the local-use NAT64 prefix 64:ff9b:1::/48 the IPv4 address is
//     taken from the last 32 bits (the usual /96 layout); an operator using
//     a shorter RFC 6052 layout inside that prefix is not decoded.
//   - AllowPrivate admits loopback and private addresses (never cloud metadata ones). Never set
//     it where untrusted users can register URLs.
//   - Redirects are returned, not followed. A caller that chooses to follow
//     one must run the Location through CheckURL and the same client again.
//   - Per-request deadlines are the caller's job: the client has no
//     Timeout, only a 10s dial and TLS handshake limit.
//   - The policy is about addresses, not names: anything the resolver says
//     is public is allowed, including names in internal zones that happen
//     to map to public IPs.
package egress
