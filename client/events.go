package client

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/http"

	"github.com/webhookd/webhookd/wire"
)

// Publish publishes an event to the tenant's endpoints (operator token); the answer comes once the message and its
// deliveries are stored. ev.ID is the idempotency key: with it set, a retry after a lost answer publishes nothing
// new and answers the first message with Duplicate set. ev.Data is sent byte for byte, as given (encoding/json
// would compact it and escape <, > and &).
func (c *Client) Publish(ctx context.Context, tenant string, ev wire.Event) (*wire.Published, error) {
	body, err := encodeEvent(ev)
	if err != nil {
		return nil, err
	}
	return call[wire.Published](ctx, c, http.MethodPost, path("tenants", tenant, "events"), nil, body)
}

// encodeEvent encodes ev with its Data spliced in unchanged.
func encodeEvent(ev wire.Event) (json.RawMessage, error) {
	data := ev.Data
	ev.Data = nil
	b, err := json.Marshal(ev)
	if err != nil || len(data) == 0 {
		return b, err
	}
	if !json.Valid(data) {
		return nil, fmt.Errorf("publish: the event's data is not valid JSON")
	}
	// b is {"type":…} and never empty: the type is always there.
	out := append(b[:len(b)-1:len(b)-1], `,"data":`...)
	out = append(out, data...)
	return append(out, '}'), nil
}

// PublishBatch publishes several events in one request (operator token); the answers are in the order of evs.
// Every event is checked before any is stored. It is not atomic: after a server error some events may be stored,
// and retrying the batch repeats those that have no ID.
func (c *Client) PublishBatch(ctx context.Context, tenant string, evs []wire.Event) ([]wire.Published, error) {
	l, err := call[wire.List[wire.Published]](ctx, c, http.MethodPost, path("tenants", tenant, "events", "batch"), nil,
		wire.Batch{Events: evs})
	if err != nil {
		return nil, err
	}
	return l.Data, nil
}

// PutEventType adds an event type to the catalogue or replaces it (operator token); created tells which.
func (c *Client) PutEventType(ctx context.Context, in wire.PutEventType) (t *wire.EventType, created bool, err error) {
	t = new(wire.EventType)
	status, err := c.do(ctx, http.MethodPost, path("event-types"), nil, in, t)
	if err != nil {
		return nil, false, err
	}
	return t, status == http.StatusCreated, nil
}

// GetEventType returns one event type of the catalogue.
func (c *Client) GetEventType(ctx context.Context, name string) (*wire.EventType, error) {
	return call[wire.EventType](ctx, c, http.MethodGet, path("event-types", name), nil, nil)
}

// ListEventTypes returns one page of the event-type catalogue.
func (c *Client) ListEventTypes(ctx context.Context, p Page) (*wire.List[wire.EventType], error) {
	return call[wire.List[wire.EventType]](ctx, c, http.MethodGet, path("event-types"), p.query(), nil)
}

// EventTypes iterates over the whole event-type catalogue.
func (c *Client) EventTypes(ctx context.Context) iter.Seq2[wire.EventType, error] {
	return all[wire.EventType](ctx, c, path("event-types"), nil)
}

// DeleteEventType removes an event type from the catalogue (operator token).
func (c *Client) DeleteEventType(ctx context.Context, name string) error {
	_, err := c.do(ctx, http.MethodDelete, path("event-types", name), nil, nil, nil)
	return err
}
