package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/webhookd/webhookd/signing"
)

// Errors for callers to test with errors.Is.
var (
	ErrNotFound = errors.New("not found")
	// ErrLeaseLost is returned when a task's lease expired or its fence moved on (another worker or a reclaim took it):
	// the caller's result is discarded and the delivery is not changed.
	ErrLeaseLost = errors.New("lease lost")
)

// Message is one published event, stored once however many endpoints it fans out to. Its body bytes are rendered
// from these fields by the endpoint's profile, identically on every attempt.
type Message struct {
	ID             string          `json:"id"` // msg_…, the webhook-id
	TenantID       string          `json:"tenant_id"`
	Type           string          `json:"type"`
	Timestamp      time.Time       `json:"timestamp"`
	Data           json.RawMessage `json:"data"`
	IdempotencyKey string          `json:"idempotency_key,omitempty"` // the producer's id, if it gave one
	// TraceParent is the W3C traceparent of the publish request's span, when tracing was on: each attempt's span
	// continues that trace.
	TraceParent string    `json:"traceparent,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	// OrderingKey, when set, orders the message's deliveries behind earlier ones with the same key (ordering.go).
	OrderingKey string `json:"ordering_key,omitempty"`

	// ExpungedAt is when the payload was expunged: Data is then null, and the message is never sent again.
	ExpungedAt time.Time `json:"expunged_at,omitzero"`
}

// Signing returns the message in the form profiles render.
func (m *Message) Signing() (signing.Message, error) {
	id, err := signing.ParseMessageID(m.ID)
	if err != nil {
		return signing.Message{}, err
	}
	return signing.Message{ID: id, Type: m.Type, Timestamp: m.Timestamp, Data: m.Data}, nil
}

// Status is where a delivery stands.
type Status string

const (
	StatusPending   Status = "pending"   // waiting for its first attempt or a retry
	StatusSucceeded Status = "succeeded" // a 2xx was received
	StatusFailed    Status = "failed"    // a final failure that was not retried (e.g. a 4xx under openmdm, endpoint gone)
	StatusDead      Status = "dead"      // every retry was spent: dead-lettered
)

// Terminal reports whether no further attempt will be made.
func (s Status) Terminal() bool { return s == StatusSucceeded || s == StatusFailed || s == StatusDead }

// Delivery is one message on its way to one endpoint. Replays make new deliveries of the same message.
type Delivery struct {
	ID            string    `json:"id"` // dlv_…
	TenantID      string    `json:"tenant_id"`
	MessageID     string    `json:"message_id"`
	EndpointID    string    `json:"endpoint_id"`
	EventType     string    `json:"event_type"`
	Status        Status    `json:"status"`
	Attempts      int       `json:"attempts"`                 // attempts made so far
	NextAttemptAt time.Time `json:"next_attempt_at,omitzero"` // when pending
	LastCode      int       `json:"last_status_code,omitempty"`
	LastError     string    `json:"last_error,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
	// OrderingKey is the message's ordering key: per endpoint and key, one delivery goes at a time, in publish order.
	OrderingKey string `json:"ordering_key,omitempty"`
	// WaitingOn is, while the delivery waits behind an earlier one with its ordering key, that delivery's id. The
	// queue computes it when the log is read; it is never stored.
	WaitingOn string `json:"waiting_on,omitempty"`
	// Blocked is set on a failed or dead delivery that holds its ordering key on an endpoint whose
	// ordering_on_failure is block (ordering.go): the deliveries of its key wait on it until it is retried or skipped.
	// Like WaitingOn it is computed when the log is read.
	Blocked bool `json:"blocked,omitempty"`
}

// Attempt is one HTTP try of a delivery, as the delivery log shows it.
type Attempt struct {
	DeliveryID string        `json:"delivery_id"`
	N          int           `json:"attempt"` // 1-based
	At         time.Time     `json:"at"`
	StatusCode int           `json:"status_code,omitempty"` // 0 when no response arrived
	Latency    time.Duration `json:"latency"`
	Error      string        `json:"error,omitempty"`
	Response   string        `json:"response,omitempty"` // the first 1 KiB of the response body
	Outcome    string        `json:"outcome"`            // success, retry, failed, dead, gone
	// Request holds the headers the attempt's profile set (content type, message id, timestamp, signatures), so a
	// tenant can compare them with what its receiver saw. The endpoint's custom headers are left out: they may carry
	// credentials.
	Request map[string]string `json:"request,omitempty"`
}

// Task is one claimed attempt: a delivery leased to one worker. The fence is the lease's identity; a result carrying
// an old fence is refused with ErrLeaseLost.
type Task struct {
	DeliveryID string
	TenantID   string
	MessageID  string
	EndpointID string
	Attempt    int // 1-based number of this attempt
	Fence      uint64
	LeaseUntil time.Time
}

// ClaimOptions bound one claim.
type ClaimOptions struct {
	Max         int           // tasks at most
	Lease       time.Duration // how long a task is the claimer's
	MaxInFlight int           // per endpoint, across every worker and replica; 0 means unlimited
	// Limits lowers MaxInFlight for some endpoints, by endpoint id: the claimer's adaptive limits (Engine's), so
	// that claims do not hand out tasks the claimer would turn away. Each holds like MaxInFlight, for this claim.
	// Read only; nil for none. A Queue may ignore it (the claimer then turns the excess away).
	Limits map[string]int
}

// Queue schedules deliveries by due time in per-endpoint lanes and hands them to workers under leases. Claims are
// fair: an endpoint with a deep backlog gets one task per round while other endpoints are due.
type Queue interface {
	// Enqueue durably stores new delivery records of messages already published (replays) and schedules them at
	// their NextAttemptAt. The tenant's message must exist (ErrNotFound otherwise); a delivery id already stored is
	// an error.
	Enqueue(ctx context.Context, ds []*Delivery) error
	// Claim leases due deliveries: at most one per endpoint per round, the endpoint then moving behind every other
	// due endpoint. A backend may run several rounds in one call until opt.Max is reached. Endpoints at MaxInFlight
	// are skipped (parked) and become eligible again when one of their tasks settles.
	Claim(ctx context.Context, now time.Time, opt ClaimOptions) ([]Task, error)
	// Ack records a successful attempt and ends the delivery.
	Ack(ctx context.Context, t Task, a Attempt) error
	// Nack records a failed attempt and schedules the next at retryAt.
	Nack(ctx context.Context, t Task, a Attempt, retryAt time.Time) error
	// Fail records a final attempt and ends the delivery with status (StatusFailed or StatusDead).
	Fail(ctx context.Context, t Task, a Attempt, status Status) error
	// Release gives a task back unspent (shutdown, rate limit), due again at at; the attempt is not counted.
	Release(ctx context.Context, t Task, at time.Time) error
	// Extend pushes a task's lease to until.
	Extend(ctx context.Context, t Task, until time.Time) error
	// Reclaim puts tasks whose lease expired before now back in their lanes (counting the attempt as spent, since the
	// request may have gone out) or, when that was the last attempt, dead. It returns how many it moved, and the
	// tasks it ended dead, as they were leased (so that the engine says of them what it says of a delivery that died
	// in its own hands).
	Reclaim(ctx context.Context, now time.Time, maxAttempts int, max int) (moved int, dead []Task, err error)
	// NextDue returns the earliest time any lane has work, or the zero time when nothing is scheduled. Endpoints
	// parked at their in-flight cap are left out: they wake when a task settles.
	NextDue(ctx context.Context) (time.Time, error)
}

// Chainer is a Queue that can end a successful task and, in the same step, lease the same endpoint's next due task
// to the worker that ended it, when the next claim would have served that endpoint anyway: its slot then goes
// straight to that task instead of through a claim. The engine uses it when its Queue has it.
type Chainer interface {
	// AckNext is Ack that may also lease the endpoint's next task due at now, under opt (at most one, whatever
	// opt.Max); it returns nil when it leased none.
	AckNext(ctx context.Context, t Task, a Attempt, now time.Time, opt ClaimOptions) (*Task, error)
}

// SlowHolder is a Queue that can hold an endpoint to one task in flight, across every worker and replica, for a
// while. The engine holds an endpoint whose attempt timed out, so that claims stop handing out tasks of it that every
// worker would only hand back unspent while its one attempt hangs; it lifts the hold when an attempt succeeds. The
// engine uses it when its Queue has it.
type SlowHolder interface {
	// HoldSlow holds the endpoint to one task in flight until until; the zero time lifts the hold. A hold that has
	// expired holds nothing.
	HoldSlow(ctx context.Context, endpointID string, until time.Time) error
}

// Filter selects deliveries in the log. Zero fields select everything.
type Filter struct {
	EndpointID string
	MessageID  string
	Status     Status
	Since      time.Time // CreatedAt ≥ Since
	Until      time.Time // CreatedAt < Until
	After      string    // cursor: a delivery id; results have greater ids
	Limit      int
}

// Log is the delivery log: per-message, per-endpoint status and every attempt. All reads are tenant-scoped.
type Log interface {
	GetMessage(ctx context.Context, tenantID, id string) (*Message, error)
	GetDelivery(ctx context.Context, tenantID, id string) (*Delivery, error)
	// ListDeliveries returns deliveries in ascending id order.
	ListDeliveries(ctx context.Context, tenantID string, f Filter) ([]*Delivery, error)
	ListAttempts(ctx context.Context, tenantID, deliveryID string) ([]Attempt, error)
	// Prune deletes terminal deliveries, their attempts, and messages with no live delivery, created before cutoff.
	// It returns how many deliveries it deleted.
	Prune(ctx context.Context, cutoff time.Time) (int, error)
}
