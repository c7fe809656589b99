package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/webhookd/webhookd/wire"
)

// Error is an error answer of the API. Code is one of the wire.Code* constants (or "http_<status>" when the answer
// was not webhookd's JSON error body, from a proxy say); branch on it, never on Message.
type Error struct {
	Status  int             // the HTTP status
	Code    string          // the stable code, e.g. wire.CodeNotFound
	Message string          // for people
	Field   string          // the request field or query parameter at fault, if any
	Details json.RawMessage // more, for some codes: wire.HandshakeDetails for handshake_failed
	// RetryAfter is how long the API asked the caller to wait before trying again (its Retry-After header, on a 429
	// rate_limited answer for example); 0 when it said nothing.
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// IsRateLimited reports whether err is the API's rate_limited (429): wait the Error's RetryAfter, then try again.
func IsRateLimited(err error) bool { return IsCode(err, wire.CodeRateLimited) }

// newError reads an error answer and its Retry-After header (delay-seconds; an HTTP date is not sent by webhookd).
func newError(status int, h http.Header, body []byte) *Error {
	e := parseError(status, body)
	if s, err := strconv.Atoi(h.Get("Retry-After")); err == nil && s > 0 {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	return e
}

func parseError(status int, body []byte) *Error {
	var w wire.Error
	if json.Unmarshal(body, &w) == nil && w.Code != "" {
		return &Error{Status: status, Code: w.Code, Message: w.Message, Field: w.Field, Details: w.Details}
	}
	e := &Error{Status: status, Code: fmt.Sprintf("http_%d", status), Message: strings.TrimSpace(string(body))}
	if len(e.Message) > 200 {
		e.Message = e.Message[:200] + "…"
	}
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	return e
}

// IsCode reports whether err is, or wraps, an API error with this code.
func IsCode(err error, code string) bool {
	e, ok := errors.AsType[*Error](err)
	return ok && e.Code == code
}

// IsNotFound reports whether err is the API's not_found: no such object, or another tenant's.
func IsNotFound(err error) bool { return IsCode(err, wire.CodeNotFound) }

// IsConflict reports whether err is the API's conflict: the id is taken.
func IsConflict(err error) bool { return IsCode(err, wire.CodeConflict) }
