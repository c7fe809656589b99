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
// Only clients from [NewClient] (or dialers using [Policy.Control]) are
// protected, and only the dial-time check is enforcement: docs/architecture.md,
// section egress, lists the caveats.
package egress
