// Package events takes events from producers: validation, idempotency, fan-out to the endpoints whose filters select
// them, and the event-type catalogue. OpsNotifier publishes the operational events (webhookd.*, ops.go) of the
// delivery engine's transitions and the endpoint re-check (DisabledNotifier, the older, only endpoint.disabled); the
// Service rings a delivery.Doorbell (its Waker) that the engine listens on, so the notifier
// and the engine are built in that order with no late binding.
package events

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/webhookd/webhookd/delivery"
)

// Errors for callers to test with errors.Is.
var (
	ErrNotFound = errors.New("event type not found")
	ErrInvalid  = errors.New("invalid event")
	// ErrRecoverPending is returned by Recover while deliveries that an earlier recover (or replay) made of a
	// message of the window are still pending.
	ErrRecoverPending = errors.New("an earlier recover of this window is still pending")
)

// EventType is a catalogue entry a console publishes so tenants can choose what to subscribe to.
type EventType struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Schema      json.RawMessage `json:"schema,omitempty"` // optional JSON Schema of data: the latest version
	// OrderingKeyPath is a JSON pointer into data: the ordering key of an event of this type that carries none.
	OrderingKeyPath string    `json:"ordering_key_path,omitempty"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`

	// Schemas are the schema versions kept, oldest first; the last is Schema. An event may name its version.
	Schemas []SchemaVersion `json:"schemas,omitempty"`
	// SchemaMode, if set, overrides the tenant's and the operator's mode for this type.
	SchemaMode SchemaMode `json:"schema_mode,omitempty"`
}

// Store keeps messages with their deliveries, idempotency keys and the catalogue.
type Store interface {
	// Publish durably stores m and its deliveries and enqueues them, atomically, before it returns. When m has an
	// IdempotencyKey already used by the tenant for a message created after idemSince, nothing is written and that
	// earlier message is returned with existing set (its deliveries count too). Messages are immutable: once m is
	// handed to Publish, neither side changes it (a store may keep it, data and all, to serve its deliveries).
	Publish(ctx context.Context, m *delivery.Message, ds []*delivery.Delivery, idemSince time.Time) (stored *delivery.Message, fanout int, existing bool, err error)

	PutEventType(ctx context.Context, t *EventType) error // create or replace
	GetEventType(ctx context.Context, name string) (*EventType, error)
	ListEventTypes(ctx context.Context, after string, limit int) ([]*EventType, error)
	DeleteEventType(ctx context.Context, name string) error
}

// Publication is one Publish call's arguments.
type Publication struct {
	Message    *delivery.Message
	Deliveries []*delivery.Delivery
	IdemSince  time.Time
}

// Published is one Publish call's results.
type Published struct {
	Message  *delivery.Message // stored, or the earlier message of an idempotent repeat
	Fanout   int
	Existing bool
	Err      error
}

// ManyPublisher is a Store that stores several messages in fewer round trips than a Publish each (redisstore: one
// pipeline). PublishBatch uses it when the store has it.
type ManyPublisher interface {
	// PublishMany runs Publish for each of ps (each atomic on its own, as Publish is) and returns their results in
	// order; one failing does not stop the others.
	PublishMany(ctx context.Context, ps []Publication) []Published
}
