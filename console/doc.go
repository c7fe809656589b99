// Package console serves the tenant console: a web page at /console/ where a tenant's developer manages its
// endpoints and reads its deliveries, opened from an EMM console with a portal session (package tenants).
//
// The page is plain HTML, CSS and JavaScript modules embedded in the binary (no build step, nothing loaded from
// elsewhere). It calls the /v1 API of the same origin with the session token, which arrives in the URL fragment
// and travels only in an Authorization header: no cookies, so no CSRF. Every response carries a strict
// Content-Security-Policy (scripts and styles from the page's origin only: no inline script, no eval), frame
// ancestors as the operator allows (none by default), X-Content-Type-Options and Referrer-Policy: no-referrer.
package console
