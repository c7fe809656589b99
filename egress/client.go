package egress

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"time"
)

// ClientConfig configures [NewClient]. The zero value is usable.
type ClientConfig struct {
	// Policy is enforced on every connection the client dials, on the IP
	// address actually dialled. Defaults to the zero Policy (https only,
	// public addresses only).
	Policy Policy
	// MaxIdleConnsPerHost bounds the idle keep-alive connections kept per
	// destination host. Give it the most requests the caller sends at once
	// (the delivery engine's workers): over HTTP/1.1 every request in flight
	// holds a connection, and one finishing beyond this bound is closed, so
	// a busy host would cost a new connection (and TLS handshake) per request.
	// Defaults to 256, the engine's default workers.
	MaxIdleConnsPerHost int
	// IdleConnTimeout is how long an idle keep-alive connection is kept
	// before it is closed. Defaults to 90s.
	IdleConnTimeout time.Duration
	// UserAgent is sent on requests that do not set a User-Agent header
	// themselves. Defaults to DefaultUserAgent.
	UserAgent string
}

// DefaultUserAgent is the User-Agent of requests that set none.
const DefaultUserAgent = "webhookd/1"

const (
	defaultMaxIdleConnsPerHost = 256
	defaultIdleConnTimeout     = 90 * time.Second
	dialTimeout                = 10 * time.Second
)

// NewClient returns an HTTP client for untrusted destinations. It uses a
// dedicated transport (never [http.DefaultTransport]) that:
//
//   - checks every dialled IP address against cfg.Policy ([Policy.Control]),
//   - refuses, before dialling, a request whose scheme the policy refuses
//     (http without AllowHTTP) with an error wrapping [ErrScheme],
//   - ignores proxy environment variables (a proxy would dial on our behalf
//     and bypass the address check),
//   - requires TLS 1.2 or later and negotiates HTTP/2 when offered,
//   - keeps connections alive for reuse,
//   - never follows redirects: a 3xx response is returned as is.
//
// Client.Timeout is not set: bound each request with its context.
// The client checks the scheme of each request but not the rest of the URL; run [Policy.CheckURL] first.
func NewClient(cfg ClientConfig) *http.Client {
	if cfg.MaxIdleConnsPerHost <= 0 {
		cfg.MaxIdleConnsPerHost = defaultMaxIdleConnsPerHost
	}
	if cfg.IdleConnTimeout <= 0 {
		cfg.IdleConnTimeout = defaultIdleConnTimeout
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = DefaultUserAgent
	}
	dialer := &net.Dialer{
		Timeout: dialTimeout,
		Control: cfg.Policy.Control,
	}
	transport := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   dialTimeout,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   cfg.MaxIdleConnsPerHost,
		IdleConnTimeout:       cfg.IdleConnTimeout,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Transport: &userAgentTransport{base: transport, userAgent: cfg.UserAgent, allowHTTP: cfg.Policy.AllowHTTP},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// userAgentTransport sets a default User-Agent header, and applies the policy's scheme rule to every request.
type userAgentTransport struct {
	base      *http.Transport
	userAgent string
	allowHTTP bool
}

func (t *userAgentTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL != nil && req.URL.Scheme != "https" && (req.URL.Scheme != "http" || !t.allowHTTP) {
		// The scheme rule holds at send time as the address rule does: a URL registered while http was allowed is
		// not sent to once it is not.
		if req.Body != nil {
			req.Body.Close()
		}
		if req.URL.Scheme == "http" {
			return nil, fmt.Errorf("%w: plain http is not allowed (the gateway runs without --allow-http-endpoints); use an https URL", ErrScheme)
		}
		return nil, fmt.Errorf("%w: scheme %q", ErrScheme, req.URL.Scheme)
	}
	if _, ok := req.Header["User-Agent"]; !ok {
		// A RoundTripper must not modify the caller's request.
		req = req.Clone(req.Context())
		if req.Header == nil {
			req.Header = make(http.Header)
		}
		req.Header.Set("User-Agent", t.userAgent)
	}
	return t.base.RoundTrip(req)
}

// UserAgent returns the User-Agent header c sets on requests that set none: that of its ClientConfig when c was made
// by NewClient, else "". A caller that sets the header itself (the delivery engine, which shares one value between
// requests so that the client has nothing to clone) asks here, so that the client stays its one owner.
func UserAgent(c *http.Client) string {
	if c == nil {
		return ""
	}
	if t, ok := c.Transport.(*userAgentTransport); ok {
		return t.userAgent
	}
	return ""
}

// CloseIdleConnections lets [http.Client.CloseIdleConnections] reach the
// underlying transport.
func (t *userAgentTransport) CloseIdleConnections() { t.base.CloseIdleConnections() }
