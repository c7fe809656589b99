package wire

import (
	"encoding/json"
	"time"
)

// List is the answer of every list route. Next is the cursor to pass as ?after= for the next page; it is empty on
// the last page.
type List[T any] struct {
	Data []T    `json:"data"`
	Next string `json:"next,omitempty"`
}

// NewList returns a list of data, never with a null "data".
func NewList[T any](data []T, next string) List[T] {
	if data == nil {
		data = []T{}
	}
	return List[T]{Data: data, Next: next}
}

// Duration is d as a duration field of a request takes it: a Go duration string such as "1s".
func Duration(d time.Duration) json.RawMessage {
	b, _ := json.Marshal(d.String())
	return b
}

// Time is t as a time field of a request takes it: RFC 3339 with the fraction of a second.
func Time(t time.Time) *string {
	s := t.Format(time.RFC3339Nano)
	return &s
}

// Tenants and tokens.

// CreateTenant is the body of POST /v1/tenants. ID defaults to a generated ten_…
type CreateTenant struct {
	ID   string `json:"id,omitempty"`
	Name string `json:"name"`
	// Retention is the tenant's own retention period (see [Duration]); absent or "0s" for the operator's default.
	Retention json.RawMessage `json:"retention,omitempty"`
}

// UpdateTenant is the body of PATCH /v1/tenants/{tenant}.
type UpdateTenant struct {
	// Retention is the tenant's own retention period (see [Duration]); "0s" returns it to the operator's default.
	Retention json.RawMessage `json:"retention"`
}

// Tenant is a tenant as the API shows it.
type Tenant struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	// State is TenantActive, or TenantDeleting once DELETE /v1/tenants/{tenant} began its deletion (DeletingAt).
	State      string    `json:"state"`
	DeletingAt time.Time `json:"deleting_at,omitzero"`
	// Retention is the tenant's own retention period, a Go duration string; absent for the operator's default.
	Retention string `json:"retention,omitempty"`
}

// Tenant states.
const (
	TenantActive   = "active"
	TenantDeleting = "deleting"
)

// CreateToken is the body of POST /v1/tenants/{tenant}/tokens.
type CreateToken struct {
	Name string `json:"name"`
}

// Token is a tenant token as the API shows it. Token, its text, is given only in the answer to its creation.
type Token struct {
	ID        string    `json:"id"`
	TenantID  string    `json:"tenant_id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	Token     string    `json:"token,omitempty"`
}

// Events and the event-type catalogue.

// Event is the body of POST /v1/tenants/{tenant}/events and each element of a batch. ID is the producer's
// idempotency key: an id published again within the idempotency window (24h by default) publishes nothing new and
// answers the first message, with Duplicate set. Timestamp is RFC 3339 (see [Time]); it defaults to now.
type Event struct {
	Type      string          `json:"type"`
	Data      json.RawMessage `json:"data,omitempty"`
	ID        string          `json:"id,omitempty"`
	Timestamp *string         `json:"timestamp,omitempty"`
	// SchemaVersion names the version of the type's schema Data meets; absent or 0 means the latest.
	SchemaVersion int `json:"schema_version,omitempty"`
	// OrderingKey orders the event's deliveries to each endpoint behind earlier events with the same key (1 to 128
	// printable ASCII bytes).
	OrderingKey string `json:"ordering_key,omitempty"`
}

// Batch is the body of POST /v1/tenants/{tenant}/events/batch.
type Batch struct {
	Events []Event `json:"events"`
}

// Published is the answer to a publish, one per event: the message and how many deliveries it made.
type Published struct {
	ID        string `json:"id"`
	Fanout    int    `json:"fanout"`
	Duplicate bool   `json:"duplicate"`
}

// PutEventType is the body of POST /v1/event-types. Schema is a JSON Schema object the events' data must meet; a
// schema different from the entry's latest is kept as its next version. SchemaMode ("enforce", "warn" or "off")
// overrides the tenant's mode for this type.
type PutEventType struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Schema      json.RawMessage `json:"schema,omitempty"`
	SchemaMode  string          `json:"schema_mode,omitempty"`
	// OrderingKeyPath is a JSON pointer into an event's data (e.g. /device_id): the ordering key of an event of this
	// type published without one.
	OrderingKeyPath string `json:"ordering_key_path,omitempty"`
}

// SchemaVersion is one version of an event type's schema.
type SchemaVersion struct {
	Version   int             `json:"version"`
	Schema    json.RawMessage `json:"schema"`
	CreatedAt time.Time       `json:"created_at"`
}

// SchemaDetails are the details of a schema_violation error: which rule the event's data broke, and where.
type SchemaDetails struct {
	Type           string `json:"type"`
	Version        int    `json:"version"`
	Path           string `json:"path"`            // JSON pointer to the failing value in the data, "" for the data
	Rule           string `json:"rule"`            // the failing keyword, e.g. "required"
	Message        string `json:"message"`         // what the validator says
	SchemaLocation string `json:"schema_location"` // JSON pointer to the keyword in the schema
}

// EventType is one entry of the event-type catalogue.
type EventType struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Schema      json.RawMessage `json:"schema,omitempty"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
	Versions    []SchemaVersion `json:"schema_versions,omitempty"` // oldest first; the last is Schema
	SchemaMode  string          `json:"schema_mode,omitempty"`
	// OrderingKeyPath: see [PutEventType].
	OrderingKeyPath string `json:"ordering_key_path,omitempty"`
}

// Endpoints.

// EndpointRequest is the body of POST (create) and PATCH (update) on endpoints. Absent (nil) fields take their
// default on create and are unchanged on update. Timeout is a duration (see [Duration]).
type EndpointRequest struct {
	URL         *string            `json:"url,omitempty"`
	Description *string            `json:"description,omitempty"`
	Events      *[]string          `json:"events,omitempty"`
	Profile     *string            `json:"profile,omitempty"`
	Signing     *string            `json:"signing,omitempty"`
	Secret      *string            `json:"secret,omitempty"`
	Headers     *map[string]string `json:"headers,omitempty"`
	RateLimit   *float64           `json:"rate_limit,omitempty"`
	Timeout     json.RawMessage    `json:"timeout,omitempty"`
	// TracePropagate overrides the gateway's --trace-propagate for this endpoint: true sends each attempt's W3C
	// traceparent, false never does; absent keeps the gateway's choice (on update: unchanged).
	TracePropagate *bool              `json:"trace_propagate,omitempty"`
	Metadata       *map[string]string `json:"metadata,omitempty"`
	Kind           *string            `json:"kind,omitempty"`  // "events" (default) or "calls"; create only
	Calls          *CallSettings      `json:"calls,omitempty"` // calls endpoints only
	// Retries (0 to 10, within the operator's limit), RetryInitial and RetryCap (durations, see [Duration]) override
	// the retry schedule; on update, a retries of -1 or a duration of "0s" goes back to the gateway's.
	Retries      *int            `json:"retries,omitempty"`
	RetryInitial json.RawMessage `json:"retry_initial,omitempty"`
	RetryCap     json.RawMessage `json:"retry_cap,omitempty"`

	// OrderingOnFailure is "skip" (default) or "block": whether an ordering key stays held behind a delivery of it
	// that ended dead or failed, until the tenant retries or skips that delivery (docs/ordering.md).
	OrderingOnFailure *string `json:"ordering_on_failure,omitempty"`
}

// Endpoint is an endpoint as the API shows it: never its secrets (see [Secret]).
type Endpoint struct {
	ID          string            `json:"id"`
	TenantID    string            `json:"tenant_id"`
	URL         string            `json:"url"`
	Description string            `json:"description"`
	Events      []string          `json:"events"`
	Profile     string            `json:"profile"`
	Signing     string            `json:"signing"`
	Keys        []Key             `json:"keys"`
	Headers     map[string]string `json:"headers"`
	RateLimit   float64           `json:"rate_limit"`
	Timeout     string            `json:"timeout"` // a Go duration string, e.g. "1s"
	// TracePropagate is the endpoint's own trace propagation choice; absent: the gateway's (--trace-propagate).
	TracePropagate *bool             `json:"trace_propagate,omitempty"`
	Metadata       map[string]string `json:"metadata"`
	Disabled       bool              `json:"disabled"`
	DisabledReason string            `json:"disabled_reason,omitempty"`
	FailingSince   time.Time         `json:"failing_since,omitzero"`
	CreatedAt      time.Time         `json:"created_at"`
	UpdatedAt      time.Time         `json:"updated_at"`
	// URLRefused says why the gateway's URL policy refuses the endpoint's URL now (an http URL while plain http is
	// not allowed, say), though it was accepted when registered: every delivery attempt to it fails. Empty otherwise.
	URLRefused string        `json:"url_refused,omitempty"`
	Kind       string        `json:"kind"`            // "events" or "calls"
	Calls      *CallSettings `json:"calls,omitempty"` // calls endpoints only
	// Retries, RetryInitial and RetryCap are the endpoint's retry schedule overrides; absent: the gateway's.
	Retries      *int   `json:"retries,omitempty"`
	RetryInitial string `json:"retry_initial,omitempty"`
	RetryCap     string `json:"retry_cap,omitempty"`
	// HandshakeFailures counts the periodic URL re-checks failed in a row, HandshakeError is the last failure's
	// message, and HandshakeCheckedAt the last re-check.
	HandshakeFailures  int       `json:"handshake_failures,omitempty"`
	HandshakeError     string    `json:"handshake_error,omitempty"`
	HandshakeCheckedAt time.Time `json:"handshake_checked_at,omitzero"`

	// OrderingOnFailure is "skip" or "block" (see [EndpointRequest]).
	OrderingOnFailure string `json:"ordering_on_failure"`
	// InFlightLimit is the endpoint's adaptive limit of delivery attempts in flight in the answering process (within
	// the gateway's --max-in-flight-per-endpoint); shown by GET .../endpoints/{id} only, absent elsewhere.
	InFlightLimit int `json:"in_flight_limit,omitempty"`
}

// Key is the public part of a signing key, as an endpoint shows it; PublicKey is set for ed25519 keys.
type Key struct {
	PublicKey string    `json:"public_key,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// Rotate is the body of POST .../endpoints/{id}/rotate: the new key (default generated) and how long the old one
// keeps signing (see [Duration]; default the server's grace, "0s" drops it at once).
type Rotate struct {
	Secret string          `json:"secret,omitempty"`
	Grace  json.RawMessage `json:"grace,omitempty"`
}

// TestEvent is the body of POST .../endpoints/{id}/test: the test event's data (default a note naming the endpoint).
type TestEvent struct {
	Data json.RawMessage `json:"data,omitempty"`
}

// TestSent is the answer to POST .../endpoints/{id}/test.
type TestSent struct {
	MessageID  string `json:"message_id"`
	DeliveryID string `json:"delivery_id,omitempty"`
}

// Secret is the answer of GET .../endpoints/{id}/secret: the keys signing now, newest first.
type Secret struct {
	EndpointID string      `json:"endpoint_id"`
	Profile    string      `json:"profile"`
	Signing    string      `json:"signing"`
	Keys       []SecretKey `json:"keys"`
}

// SecretKey is one key as GET .../secret shows it: an HMAC key with its secret, an ed25519 key with its public key
// only.
type SecretKey struct {
	Secret    string    `json:"secret,omitempty"`
	PublicKey string    `json:"public_key,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// Recover is the body of POST .../endpoints/{id}/recover (see [Time]).
type Recover struct {
	Since *string `json:"since"`
}

// Recovered is the answer to a recover: how many messages are delivered again.
type Recovered struct {
	Replayed int `json:"replayed"`
}

// Messages and the delivery log.

// Delivery statuses.
const (
	StatusPending   = "pending"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
	StatusDead      = "dead"
)

// Delivery is one message's delivery to one endpoint.
type Delivery struct {
	ID            string    `json:"id"`
	TenantID      string    `json:"tenant_id"`
	MessageID     string    `json:"message_id"`
	EndpointID    string    `json:"endpoint_id"`
	EventType     string    `json:"event_type"`
	Status        string    `json:"status"`
	Attempts      int       `json:"attempts"`
	NextAttemptAt time.Time `json:"next_attempt_at,omitzero"`
	LastCode      int       `json:"last_status_code,omitempty"`
	LastError     string    `json:"last_error,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
	// OrderingKey is the message's ordering key; WaitingOn, while the delivery waits behind an earlier one with that
	// key, is that delivery's id.
	OrderingKey string `json:"ordering_key,omitempty"`
	WaitingOn   string `json:"waiting_on,omitempty"`
	// Blocked is true on a failed or dead delivery that holds its ordering key (the endpoint's ordering_on_failure is
	// block): the deliveries of its key wait on it until it is unblocked (see [Unblock]).
	Blocked bool `json:"blocked,omitempty"`
}

// DeliveryDetail is a delivery with its attempt log, oldest first.
type DeliveryDetail struct {
	Delivery
	AttemptLog []Attempt `json:"attempt_log"`
}

// Attempt is one HTTP attempt of a delivery.
type Attempt struct {
	N          int       `json:"attempt"`
	At         time.Time `json:"at"`
	StatusCode int       `json:"status_code,omitempty"`
	LatencyMS  int64     `json:"latency_ms"`
	Error      string    `json:"error,omitempty"`
	Response   string    `json:"response,omitempty"`
	Outcome    string    `json:"outcome"`
	// Request is the headers the attempt's profile set (message id, timestamp, signatures); never custom headers.
	Request map[string]string `json:"request,omitempty"`
}

// Message is a published event with the status of each of its deliveries.
type Message struct {
	ID             string          `json:"id"`
	TenantID       string          `json:"tenant_id"`
	Type           string          `json:"type"`
	Timestamp      time.Time       `json:"timestamp"`
	Data           json.RawMessage `json:"data"`
	IdempotencyKey string          `json:"idempotency_key,omitempty"`
	CreatedAt      time.Time       `json:"created_at"`
	Deliveries     []Delivery      `json:"deliveries"`
	// ExpungedAt is set once the payload was expunged (DELETE .../messages/{msg}/payload): Data is then null.
	ExpungedAt  time.Time `json:"expunged_at,omitzero"`
	OrderingKey string    `json:"ordering_key,omitempty"`
}

// Replay is the body of POST .../messages/{msg}/replay.
type Replay struct {
	EndpointID string `json:"endpoint_id"`
}

// Unblock is the body of POST /v1/tenants/{tenant}/deliveries/{id}/unblock: Action is UnblockRetry (the blocked
// delivery goes again, first of its key) or UnblockSkip (the next delivery of its key goes).
type Unblock struct {
	Action string `json:"action"`
}

// The actions of [Unblock].
const (
	UnblockRetry = "retry"
	UnblockSkip  = "skip"
)

// CreatePortalSession is the body of POST /v1/tenants/{tenant}/portal-sessions (optional). TTL is a duration (see
// [Duration]): default 1h, at most 24h.
type CreatePortalSession struct {
	TTL      json.RawMessage `json:"ttl,omitempty"`
	ReadOnly bool            `json:"read_only,omitempty"`
}

// PortalSession is a console session. Token and URL (the console's address with the token in its fragment) are in
// the answer to its creation only.
type PortalSession struct {
	ID        string    `json:"id"`
	TenantID  string    `json:"tenant_id"`
	ReadOnly  bool      `json:"read_only"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	Token     string    `json:"token,omitempty"`
	URL       string    `json:"url,omitempty"`
}
