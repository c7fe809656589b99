package endpoints

import (
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/webhookd/webhookd/profiles"
	"github.com/webhookd/webhookd/signing"
)

// Limits on endpoint fields. Every rule is checked by a pure function in this file, so the API and tests can apply
// them without I/O.
const (
	MaxDescription   = 1 << 10 // bytes of description
	MaxFilters       = 100     // entries in events
	MaxEventType     = 255     // bytes of one event type or filter
	MaxHeaders       = 20      // custom headers
	MaxHeaderValue   = 4 << 10 // bytes of one custom header value
	MaxMetadata      = 20      // metadata keys
	MaxMetadataKey   = 128     // bytes of one metadata key
	MaxMetadataValue = 1 << 10 // bytes of one metadata value

	DefaultTimeout = time.Second
	MinTimeout     = 100 * time.Millisecond
	MaxTimeout     = 30 * time.Second

	// MinRateLimit and MaxRateLimit bound an endpoint's rate_limit (deliveries per second) other than 0 (unlimited):
	// at least one delivery per hour, so that a backlog is never scheduled years ahead, and at most 10,000 per
	// second, beyond which a limit limits nothing an endpoint's in-flight cap does not.
	MinRateLimit = 1.0 / 3600
	MaxRateLimit = 10000.0

	// MaxGrace bounds how long a rotated-out key keeps signing.
	MaxGrace = 30 * 24 * time.Hour
	// MaxKeys bounds the keys an endpoint holds; rotating beyond it drops the oldest rotated-out key early.
	MaxKeys = 10
)

// FieldError is a validation failure of one input field. It matches ErrInvalid with errors.Is, and also the cause it
// carries, if any (for example egress.ErrForbiddenAddress for a refused URL).
type FieldError struct {
	Field   string // the JSON field name, e.g. "url" or "headers"
	Message string // what is wrong, for a human
	Err     error  // the underlying cause; may be nil
}

func (e *FieldError) Error() string { return "invalid endpoint: " + e.Field + ": " + e.Message }

// Unwrap returns ErrInvalid and the cause.
func (e *FieldError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrInvalid}
	}
	return []error{ErrInvalid, e.Err}
}

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// ValidEventType reports whether s is an event type: full-stop-separated segments of [a-zA-Z0-9_], at most
// MaxEventType bytes, e.g. "device.enrolled" or "invoice_paid".
func ValidEventType(s string) bool {
	if s == "" || len(s) > MaxEventType {
		return false
	}
	seg := 0 // length of the current segment
	for i := range len(s) {
		c := s[i]
		switch {
		case c == '.':
			if seg == 0 {
				return false
			}
			seg = 0
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_':
			seg++
		default:
			return false
		}
	}
	return seg > 0
}

// ValidateFilters checks an endpoint's event filters: at least one, at most MaxFilters, each "*", an exact event type,
// or "prefix.*" where prefix is an event type.
func ValidateFilters(filters []string) error {
	if len(filters) == 0 {
		return fieldErr("events", "must list at least one filter (use [\"*\"] for every event)")
	}
	if len(filters) > MaxFilters {
		return fieldErr("events", "at most %d filters, got %d", MaxFilters, len(filters))
	}
	for _, f := range filters {
		if f == "*" {
			continue
		}
		t, _ := strings.CutSuffix(f, ".*")
		if !ValidEventType(t) {
			return fieldErr("events", "%q is not \"*\", an event type (full-stop-separated segments of [a-zA-Z0-9_]) or \"prefix.*\"", clip(f))
		}
	}
	return nil
}

// ValidateDescription checks a description: valid UTF-8, at most MaxDescription bytes.
func ValidateDescription(s string) error {
	if len(s) > MaxDescription {
		return fieldErr("description", "at most %d bytes, got %d", MaxDescription, len(s))
	}
	if !utf8.ValidString(s) {
		return fieldErr("description", "not valid UTF-8")
	}
	return nil
}

// ValidateTimeout checks a per-attempt timeout: MinTimeout to MaxTimeout.
func ValidateTimeout(d time.Duration) error {
	if d < MinTimeout || d > MaxTimeout {
		return fieldErr("timeout", "must be between %s and %s, got %s", MinTimeout, MaxTimeout, d)
	}
	return nil
}

// EnforcedRate is the rate, in deliveries per second, at which a stored rate_limit is enforced: 0 (no limit) for 0,
// a negative, NaN or infinite value; otherwise r brought within MinRateLimit..MaxRateLimit, since records stored
// before the API bounded the field may hold any rate. The engine and both stores' queues read rates through it.
func EnforcedRate(r float64) float64 {
	if !(r > 0) || math.IsInf(r, 1) {
		return 0
	}
	return min(max(r, MinRateLimit), MaxRateLimit)
}

// ValidateRateLimit checks a rate limit in deliveries per second: 0 (unlimited), or MinRateLimit (one per hour) to
// MaxRateLimit.
func ValidateRateLimit(r float64) error {
	if r == 0 {
		return nil
	}
	if !(r >= MinRateLimit && r <= MaxRateLimit) { // also refuses NaN
		return fieldErr("rate_limit", "must be 0 (unlimited) or from 1/3600 (one delivery per hour) to %g deliveries per second, got %g",
			MaxRateLimit, r)
	}
	return nil
}

// ValidateGrace checks a rotation grace period: 0 (the old key stops at once) to MaxGrace.
func ValidateGrace(d time.Duration) error {
	if d < 0 || d > MaxGrace {
		return fieldErr("grace", "must be between 0 and %s, got %s", MaxGrace, d)
	}
	return nil
}

// ValidateMetadata checks metadata: at most MaxMetadata keys, each 1 to MaxMetadataKey bytes, values at most
// MaxMetadataValue bytes, all valid UTF-8.
func ValidateMetadata(m map[string]string) error {
	if len(m) > MaxMetadata {
		return fieldErr("metadata", "at most %d keys, got %d", MaxMetadata, len(m))
	}
	for k, v := range m {
		switch {
		case k == "" || len(k) > MaxMetadataKey:
			return fieldErr("metadata", "keys must be 1 to %d bytes", MaxMetadataKey)
		case len(v) > MaxMetadataValue:
			return fieldErr("metadata", "value of %q: at most %d bytes", clip(k), MaxMetadataValue)
		case !utf8.ValidString(k) || !utf8.ValidString(v):
			return fieldErr("metadata", "keys and values must be valid UTF-8")
		}
	}
	return nil
}

// reservedHeaders are custom header names refused outright (lower case): transport and hop-by-hop headers the HTTP
// client owns, and the content type every profile sets.
var reservedHeaders = map[string]bool{
	"connection":        true,
	"keep-alive":        true,
	"te":                true,
	"trailer":           true,
	"transfer-encoding": true,
	"upgrade":           true,
	"host":              true,
	"content-length":    true,
	"content-type":      true,
}

// reservedHeaderPrefixes returns the refused name prefixes (lower case): the header prefix of every registered
// profile and the proxy-* family.
func reservedHeaderPrefixes() []string {
	out := []string{"proxy-"}
	for _, p := range profiles.All() {
		out = append(out, p.HeaderPrefix())
	}
	return out
}

// ValidateHeaders checks custom request headers: at most MaxHeaders; names are HTTP tokens, unique ignoring case, and
// not reserved (the headers of any registered profile — webhook-*, x-openmdm-*, x-men-* — nor Connection,
// Keep-Alive, Proxy-*, TE, Trailer, Transfer-Encoding, Upgrade, Host, Content-Length, Content-Type); values are at
// most MaxHeaderValue bytes with no control characters but tab (so no CR or LF).
func ValidateHeaders(h map[string]string) error {
	if len(h) > MaxHeaders {
		return fieldErr("headers", "at most %d headers, got %d", MaxHeaders, len(h))
	}
	seen := make(map[string]string, len(h))
	var prefixes []string
	for name, value := range h {
		if !validToken(name) {
			return fieldErr("headers", "%q is not a valid header name", clip(name))
		}
		lower := strings.ToLower(name)
		if reservedHeaders[lower] {
			return fieldErr("headers", "%s is set by the gateway and cannot be overridden", name)
		}
		if prefixes == nil {
			prefixes = reservedHeaderPrefixes()
		}
		for _, p := range prefixes {
			if strings.HasPrefix(lower, p) {
				return fieldErr("headers", "%s is reserved (%s* headers are set by the gateway)", name, p)
			}
		}
		if other, dup := seen[lower]; dup {
			return fieldErr("headers", "%s and %s are the same header", other, name)
		}
		seen[lower] = name
		if len(value) > MaxHeaderValue {
			return fieldErr("headers", "value of %s: at most %d bytes", name, MaxHeaderValue)
		}
		if !validHeaderValue(value) {
			return fieldErr("headers", "value of %s contains a control character (CR, LF, NUL, ...)", name)
		}
	}
	return nil
}

// validToken reports whether s is an RFC 9110 token (tchar+).
func validToken(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validHeaderValue refuses control characters other than horizontal tab, and DEL.
func validHeaderValue(s string) bool {
	for i := range len(s) {
		if c := s[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// ValidateProfile checks a profile and algorithm pair; "" means the default (standard, hmac). The profile must be
// registered (package profiles) and sign with the algorithm: ed25519 is only available under the standard profile.
func ValidateProfile(profile, algorithm string) error {
	p, err := profileByName(profile)
	if err != nil {
		return err
	}
	_, err = algorithmFor(p, algorithm)
	return err
}

func profileByName(name string) (profiles.Profile, error) {
	p, err := profiles.Lookup(name)
	if err != nil {
		return nil, &FieldError{Field: "profile", Message: fmt.Sprintf("%q: want %s", clip(name), profiles.Names()), Err: err}
	}
	return p, nil
}

// algorithmFor parses algorithm ("" is the profile's default) and checks that p can sign with it.
func algorithmFor(p profiles.Profile, algorithm string) (signing.Algorithm, error) {
	if algorithm == "" {
		return p.Algorithms()[0], nil
	}
	a, err := signing.ParseAlgorithm(algorithm)
	if err != nil {
		return 0, &FieldError{Field: "signing", Message: fmt.Sprintf("%q: want hmac or ed25519", clip(algorithm)), Err: err}
	}
	if !profiles.Supports(p, a) {
		return 0, fieldErr("signing", "%s is not available with the %s profile, which signs with %s", a, p.Name(), algNames(p))
	}
	return a, nil
}

func algNames(p profiles.Profile) string {
	var b strings.Builder
	for i, a := range p.Algorithms() {
		if i > 0 {
			b.WriteString(" or ")
		}
		b.WriteString(a.String())
	}
	return b.String()
}

// parseSecret checks a caller-supplied secret against the profile's key form and the algorithm.
func parseSecret(p profiles.Profile, alg signing.Algorithm, secret string) (signing.Key, error) {
	k, err := p.ParseKey(secret)
	if err != nil {
		return signing.Key{}, &FieldError{Field: "secret", Message: fmt.Sprintf("not a valid %s key: %v", p.Name(), err), Err: err}
	}
	if k.Algorithm() != alg {
		return signing.Key{}, fieldErr("secret", "is a %s key but signing is %s", k.Algorithm(), alg)
	}
	return k, nil
}

// clip shortens s for error messages.
func clip(s string) string {
	const n = 64
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// copyMap returns a copy of m, nil when empty.
func copyMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
