package profiles

import (
	"errors"
	"net/http"
	"time"

	"github.com/webhookd/webhookd/signing"
)

// Profile is one receiver family: how its requests look, how they are signed and verified, and what its answers
// mean. Implementations must be safe for concurrent use.
type Profile interface {
	// Name selects the profile (endpoints store it, receivers configure it): lower case, stable.
	Name() string
	// MetricLabel is the profile's value of the "profile" metric label.
	MetricLabel() string
	// HeaderPrefix is the lower-case prefix of every header the profile sets ("webhook-" for standard). Endpoints
	// may not set custom headers under it.
	HeaderPrefix() string
	// Algorithms lists the algorithms the profile signs with, the default first.
	Algorithms() []signing.Algorithm
	// Timestamp says what time the profile's requests carry, and so whether a receiver can bound replays by it.
	Timestamp() Timestamp

	// AppendBody appends the request body for m to dst.
	AppendBody(dst []byte, m *signing.Message) []byte
	// SetHeaders sets the content type, identity and signature headers for one attempt made at now, signing body
	// (which must be AppendBody's output) with every key. Existing values of those headers are replaced. It returns
	// signing.ErrNoKeys, having set the other headers, when the profile does not send unsigned requests and keys
	// is empty.
	SetHeaders(h http.Header, m *signing.Message, body []byte, now time.Time, keys []signing.Key) error

	// ParseKey parses a signing secret in the profile's form.
	ParseKey(secret string) (signing.Key, error)
	// GenerateKey returns a fresh secret for alg in the profile's form, and for ed25519 its public key.
	GenerateKey(alg signing.Algorithm) (secret, public string, err error)
	// Trust parses a receiver's trust list (secrets, or public keys where the profile has them) into a Checker.
	// An error names the index of the key that failed, never the key.
	Trust(keys []string) (Checker, error)

	// Classify decides what an attempt's result means: code is the HTTP status (0 when no response arrived) and err
	// the transport error (nil when a response arrived). Redirects are never followed, so a 3xx is a response like
	// any other.
	Classify(code int, err error) Verdict
}

// Timestamp says what time a profile's requests carry.
type Timestamp uint8

const (
	// NoTimestamp: the request carries no time (mender).
	NoTimestamp Timestamp = iota
	// EventTimestamp: the request carries the event's time, the same on every retry, bound to the signature through
	// the body (openmdm). Checking it is the receiver's choice.
	EventTimestamp
	// SignedTimestamp: the request carries the attempt's time under the signature (standard); receivers check it.
	SignedTimestamp
)

// Verdict is what one attempt's result means for its delivery under a profile's policy.
type Verdict uint8

const (
	// Delivered: the receiver took the message.
	Delivered Verdict = iota + 1
	// Retry: it failed; try again on the retry schedule.
	Retry
	// Fail: it failed for good; no retry.
	Fail
	// Gone: the receiver went away for good: fail, and disable the endpoint.
	Gone
)

// Checker verifies requests against one trust list. It is safe for concurrent use.
type Checker interface {
	// Verify checks the signature headers in h (canonical keys) against body, the raw request body. checkTime, when
	// not nil, checks a timestamp the request carries (Unix seconds read from header); Verify returns its error. On
	// failure the error wraps ErrMissingHeader, ErrMalformedHeader, ErrNoMatchingSignature or checkTime's error.
	Verify(h http.Header, body []byte, checkTime func(header string, unix int64) error) (Result, error)
}

// Result describes a verified request.
type Result struct {
	// MessageID is the message's id: webhook-id (standard), X-OpenMDM-Delivery (openmdm, which must agree with the
	// signed body's "id"), the body's "id" field (mender). Empty if a verified openmdm or mender body has none.
	MessageID string
	// Timestamp is webhook-timestamp (standard), the event time (openmdm), or the body's "time" (mender); zero if
	// the message has none.
	Timestamp time.Time
	// KeyIndex is the index in the trust list of the key that verified the signature.
	KeyIndex int
	// SignatureIndex is the position, from 0, of the matching signature among those the request carries.
	SignatureIndex int
	// Version is the matching signature's scheme: "v1" or "v1a" (standard), "sha256" (openmdm),
	// "MEN-HMAC-SHA256-Payload" (mender).
	Version string
}

// Errors returned by Checker.Verify. Each is wrapped with the header and the detail, so test with errors.Is.
var (
	// ErrMissingHeader: a header the profile requires is absent or empty.
	ErrMissingHeader = errors.New("missing header")
	// ErrMalformedHeader: a header is present but cannot be parsed.
	ErrMalformedHeader = errors.New("malformed header")
	// ErrNoMatchingSignature: no signature in the request verifies under any trusted key.
	ErrNoMatchingSignature = errors.New("no matching signature")
)
