package endpoints

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// ErrHandshake is matched by every error [Handshake] returns:
// errors.Is(err, ErrHandshake).
var ErrHandshake = errors.New("endpoint handshake failed")

// handshakeDefaultTimeout applies when Handshake is given no timeout.
const handshakeDefaultTimeout = time.Second

// handshakeMaxDrain is how much of a response body Handshake reads before
// closing it, so that the connection can be reused.
const handshakeMaxDrain = 4 << 10

// HandshakeError reports why an endpoint failed the OPTIONS handshake. It
// carries what was seen: either a response (Status, Allow) or, when there
// was no usable response, the network or timeout error (Err).
type HandshakeError struct {
	URL    string
	Status int    // HTTP status received; 0 if there was no response
	Allow  string // Allow header lines received, joined with ", "
	Err    error  // network, TLS or timeout error, if any

	timeout time.Duration // the deadline Handshake applied, for the message
}

// Error describes the failure for a human.
func (e *HandshakeError) Error() string {
	switch {
	case e.Err != nil && e.timeout > 0 && handshakeIsTimeout(e.Err):
		return fmt.Sprintf("OPTIONS %s: no answer within %s", e.URL, e.timeout)
	case e.Err != nil:
		return fmt.Sprintf("OPTIONS %s: %v", e.URL, e.Err)
	}
	got := fmt.Sprintf("got %d", e.Status)
	if e.Status >= 300 && e.Status < 400 {
		got += " (redirects are not followed)"
	}
	if e.Allow == "" {
		got += " with no Allow header"
	} else {
		got += fmt.Sprintf(" with Allow %q", e.Allow)
	}
	return fmt.Sprintf("OPTIONS %s: %s; need a 2xx with Allow containing POST", e.URL, got)
}

// Unwrap returns Err.
func (e *HandshakeError) Unwrap() error { return e.Err }

// Is reports whether target is [ErrHandshake].
func (e *HandshakeError) Is(target error) bool { return target == ErrHandshake }

// Handshake sends OPTIONS to url with client and requires, within timeout
// (default 1s when zero), a 2xx status and an Allow header listing POST
// (case-insensitive token match in a comma-separated list; several Allow
// header lines count).
//
// Redirects are not followed (a 3xx fails), whatever client.CheckRedirect
// says. The response body is drained up to 4 KiB and closed. The request
// is a plain OPTIONS with no body and no CORS headers; the User-Agent is
// the client's job.
//
// Every failure is a *[HandshakeError] matching [ErrHandshake]; network
// errors are reachable through it with errors.Is / errors.As (for example
// egress.ErrForbiddenAddress or context.DeadlineExceeded).
func Handshake(ctx context.Context, client *http.Client, url string, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = handshakeDefaultTimeout
	}
	if client == nil {
		// Refuse rather than fall back to http.DefaultClient, which would
		// bypass any egress policy.
		return &HandshakeError{URL: url, Err: errors.New("no HTTP client")}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	req, err := http.NewRequestWithContext(ctx, http.MethodOptions, url, nil)
	if err != nil {
		return &HandshakeError{URL: url, Err: err}
	}
	c := *client // shallow copy: same transport, our redirect rule
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		return &HandshakeError{URL: url, Err: handshakeUnwrapURLError(err), timeout: timeout}
	}
	defer resp.Body.Close()
	_, _ = io.CopyN(io.Discard, resp.Body, handshakeMaxDrain)

	allow := resp.Header.Values("Allow")
	if resp.StatusCode < 200 || resp.StatusCode > 299 || !handshakeAllowsPost(allow) {
		return &HandshakeError{URL: url, Status: resp.StatusCode, Allow: strings.Join(allow, ", ")}
	}
	return nil
}

// handshakeAllowsPost reports whether any Allow line lists POST.
func handshakeAllowsPost(lines []string) bool {
	for _, line := range lines {
		for tok := range strings.SplitSeq(line, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), http.MethodPost) {
				return true
			}
		}
	}
	return false
}

// handshakeUnwrapURLError drops the *url.Error layer added by
// http.Client.Do: HandshakeError already names the URL.
func handshakeUnwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		return ue.Err
	}
	return err
}

func handshakeIsTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
