// Package calls makes management calls: signed, synchronous requests from the console to a tenant's backend (a calls
// endpoint), whose answers come back typed. A call is signed like a webhook under the endpoint's profile, posted
// through the SSRF-safe egress client within a time budget, and its answer mapped to one Outcome the console can
// switch on. A circuit breaker per endpoint keeps a dead backend from costing every call its whole budget, and every
// call is written to the endpoint's call log.
package calls

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Outcome is the one result of a call the console switches on.
type Outcome string

// Outcomes.
const (
	// OK: a 2xx answer with a JSON body (or null) that meets the path's schema, if one is declared.
	OK Outcome = "ok"
	// TypedError: the body is {"_tag": T} with T one of the endpoint's declared error tags, whatever the status.
	TypedError Outcome = "typed_error"
	// Timeout: no complete answer within the budget.
	Timeout Outcome = "timeout"
	// Unreachable: no answer at all (refused, reset, DNS, a forbidden address).
	Unreachable Outcome = "unreachable"
	// BadResponse: an answer that is not JSON, too large, not 2xx without a declared tag, or fails the schema.
	BadResponse Outcome = "bad_response"
	// CircuitOpen: the endpoint's breaker is open; nothing was sent.
	CircuitOpen Outcome = "circuit_open"
)

// Outcomes lists every outcome, for metrics and docs.
var Outcomes = []Outcome{OK, TypedError, Timeout, Unreachable, BadResponse, CircuitOpen}

// failure reports whether o counts against the endpoint's breaker: the backend did not answer sensibly.
func (o Outcome) failure() bool { return o == Timeout || o == Unreachable || o == BadResponse }

// Defaults and limits.
const (
	DefaultTimeout       = time.Second
	MaxTimeout           = 30 * time.Second
	MinTimeout           = 10 * time.Millisecond
	DefaultResponseLimit = 1 << 20
	DefaultExcerpt       = 4 << 10
	DefaultBreakerAfter  = 5
	DefaultBreakerCool   = 30 * time.Second
	DefaultLogQueue      = 4096
)

// Errors for callers to test with errors.Is. Input errors are *FieldError; an unknown endpoint is
// endpoints.ErrNotFound and an events endpoint endpoints.ErrKind.
var (
	ErrInvalid  = errors.New("invalid call")
	ErrDisabled = errors.New("calls endpoint is disabled")
	ErrClosed   = errors.New("calls: service closed")
)

// FieldError is an invalid input field of a call. It matches ErrInvalid.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return "invalid call: " + e.Field + ": " + e.Message }

// Unwrap returns ErrInvalid.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// Request is one call as the console makes it.
type Request struct {
	EndpointID string
	Path       string          // appended to the endpoint's base URL; starts with /
	Body       json.RawMessage // sent byte for byte; must be JSON (null allowed)
	Timeout    time.Duration   // the budget; 0 means the endpoint's timeout
	// Idempotent allows one retry when the connection failed before the request was sent.
	Idempotent bool
}

// Result is the answer to a call.
type Result struct {
	ID         string          // call_…, the call log entry
	WebhookID  string          // the webhook-id the request carried (msg_…): fresh per call
	Outcome    Outcome         //
	Status     int             // the backend's HTTP status; 0 when none arrived
	Body       json.RawMessage // the backend's JSON answer byte for byte; nil unless it was JSON within the limit
	Tag        string          // the error tag, for TypedError
	Error      string          // what went wrong, for every outcome but OK and TypedError
	Latency    time.Duration   // from the call's start to its outcome
	Attempts   int             // requests sent or tried: 0 (circuit open), 1, or 2 (an idempotent retry)
	EndpointID string
	Path       string
	CreatedAt  time.Time
}

// Call is one entry of an endpoint's call log.
type Call struct {
	ID         string        `json:"id"`
	TenantID   string        `json:"tenant_id"`
	EndpointID string        `json:"endpoint_id"`
	WebhookID  string        `json:"webhook_id"`
	Path       string        `json:"path"`
	Request    string        `json:"request"`  // the body sent, its first Excerpt bytes
	Response   string        `json:"response"` // the body answered, its first Excerpt bytes
	Status     int           `json:"status"`
	Outcome    Outcome       `json:"outcome"`
	Tag        string        `json:"tag,omitempty"`
	Error      string        `json:"error,omitempty"`
	Latency    time.Duration `json:"latency"`
	Attempts   int           `json:"attempts"`
	CreatedAt  time.Time     `json:"created_at"`
}

// Log keeps the call log. Lists are one endpoint's calls in ascending id order (ids sort by time) after the cursor
// after ("" for the first page), at most limit; another tenant's endpoint lists nothing.
type Log interface {
	AddCalls(ctx context.Context, cs []*Call) error
	ListCalls(ctx context.Context, tenantID, endpointID, after string, limit int) ([]*Call, error)
	// PruneCalls deletes the calls made before cutoff and returns how many.
	PruneCalls(ctx context.Context, cutoff time.Time) (int, error)
}

// Observer hears of every call, for metrics. tenant is the tenant id.
type Observer interface {
	CallDone(tenant string, o Outcome, latency time.Duration)
	CallLogDropped()
}

type nopObserver struct{}

func (nopObserver) CallDone(string, Outcome, time.Duration) {}
func (nopObserver) CallLogDropped()                         {}
