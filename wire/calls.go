package wire

import (
	"encoding/json"
	"time"
)

// Management calls.

// Kinds of endpoint (EndpointRequest.Kind, Endpoint.Kind).
const (
	KindEvents = "events"
	KindCalls  = "calls"
)

// CallSettings are a calls endpoint's settings: the typed error tags its backend may answer (default
// ManagementNotSupported, UnknownDevice, ServerInitiatedUnenrollment, InternalServerError) and, per call path, the
// JSON Schema a successful answer must meet.
type CallSettings struct {
	ErrorTags []string                   `json:"error_tags,omitempty"`
	Schemas   map[string]json.RawMessage `json:"schemas,omitempty"`
}

// CallRequest is the body of POST /v1/tenants/{tenant}/calls. Body is sent byte for byte; Timeout is the budget (see
// [Duration]; default the endpoint's timeout, at most 30s). Idempotent allows one retry when the connection failed
// before the request was sent.
type CallRequest struct {
	EndpointID string          `json:"endpoint_id"`
	Path       string          `json:"path"`
	Body       json.RawMessage `json:"body"`
	Timeout    json.RawMessage `json:"timeout,omitempty"`
	Idempotent bool            `json:"idempotent,omitempty"`
}

// Call outcomes.
const (
	OutcomeOK          = "ok"
	OutcomeTypedError  = "typed_error"
	OutcomeTimeout     = "timeout"
	OutcomeUnreachable = "unreachable"
	OutcomeBadResponse = "bad_response"
	OutcomeCircuitOpen = "circuit_open"
)

// CallResult is the answer to a call (200 whatever the outcome). Body is the backend's JSON answer byte for byte,
// absent when there was none (or it was not JSON, or too large); Tag is set for typed_error; Error says what went
// wrong for timeout, unreachable, bad_response and circuit_open.
type CallResult struct {
	ID        string          `json:"id"`
	Outcome   string          `json:"outcome"`
	Status    int             `json:"status"`
	Body      json.RawMessage `json:"body,omitempty"`
	Tag       string          `json:"tag,omitempty"`
	Error     string          `json:"error,omitempty"`
	LatencyMS float64         `json:"latency_ms"`
	WebhookID string          `json:"webhook_id"`
	Attempts  int             `json:"attempts"`
}

// Call is one entry of a calls endpoint's call log: excerpts of the request and of the answer.
type Call struct {
	ID         string    `json:"id"`
	EndpointID string    `json:"endpoint_id"`
	WebhookID  string    `json:"webhook_id"`
	Path       string    `json:"path"`
	Request    string    `json:"request"`
	Response   string    `json:"response"`
	Status     int       `json:"status"`
	Outcome    string    `json:"outcome"`
	Tag        string    `json:"tag,omitempty"`
	Error      string    `json:"error,omitempty"`
	LatencyMS  float64   `json:"latency_ms"`
	Attempts   int       `json:"attempts"`
	CreatedAt  time.Time `json:"created_at"`
}
