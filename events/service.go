package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/endpoints"
	"github.com/webhookd/webhookd/internal/ids"
	"github.com/webhookd/webhookd/signing"
)

// Limits and defaults.
const (
	MaxIdempotencyKey = 255     // bytes of a producer-given event id
	MaxDescription    = 1 << 10 // bytes of an event type's description

	// TestEventType is the type of the event PublishTo sends when its input names none.
	TestEventType = "webhookd.test"

	// DefaultIdempotencyWindow is how long a producer's event id is remembered.
	DefaultIdempotencyWindow = 24 * time.Hour

	fanoutPage = 100 // endpoints read per store call during fan-out
	logPage    = 200 // deliveries read per store call during recovery
)

// FieldError is a validation failure of one input field; it matches ErrInvalid with errors.Is.
type FieldError struct {
	Field   string // the JSON field name, e.g. "type"
	Message string
}

func (e *FieldError) Error() string { return "invalid event: " + e.Field + ": " + e.Message }

// Unwrap returns ErrInvalid.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// EndpointStore is what the service reads of the endpoint registry.
type EndpointStore interface {
	GetEndpoint(ctx context.Context, tenantID, id string) (*endpoints.Endpoint, error)
	ListEndpoints(ctx context.Context, tenantID, after string, limit int) ([]*endpoints.Endpoint, error)
}

// FanoutLister is an EndpointStore that lists all of a tenant's endpoints for fan-out at once, possibly from a
// cache (*secrets.Endpoints is one). The endpoints it returns may be shared and are only read; their secrets are not
// needed. Publish and PublishBatch use it when Config.Endpoints implements it.
type FanoutLister interface {
	ListFanout(ctx context.Context, tenantID string) ([]*endpoints.Endpoint, error)
}

// MessageLog is what the service reads of the delivery log, for replays.
type MessageLog interface {
	GetMessage(ctx context.Context, tenantID, id string) (*delivery.Message, error)
	ListDeliveries(ctx context.Context, tenantID string, f delivery.Filter) ([]*delivery.Delivery, error)
}

// Enqueuer stores and queues new deliveries of messages already stored (replays). delivery.Queue is one.
type Enqueuer interface {
	Enqueue(ctx context.Context, ds []*delivery.Delivery) error
}

// Waker is told when new deliveries are due now, so that a delivery engine sends them without waiting for its next
// poll. *delivery.Engine is one.
type Waker interface{ Wake() }

// Config configures a Service.
type Config struct {
	// Endpoints is the endpoint registry fan-out reads. Required.
	Endpoints EndpointStore
	// Log is the delivery log replays read. Required for Replay and Recover.
	Log MessageLog
	// Queue takes the deliveries replays make. Required for Replay and Recover.
	Queue Enqueuer
	// Waker, if set, is woken after every publish or replay that made deliveries. Defaults to none.
	Waker Waker
	// IdempotencyWindow is how long a producer's event id maps to its first message. Defaults to 24h.
	IdempotencyWindow time.Duration
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time

	// SchemaMode is the operator's default schema mode. Defaults to SchemaEnforce.
	SchemaMode SchemaMode
	// UnknownTypes is the operator's default for types not in the catalogue. Defaults to UnknownAllow.
	UnknownTypes UnknownTypes
	// Policies, if set, gives each tenant's overrides of the two defaults above.
	Policies Policies
	// SchemaCacheTTL is how long a catalogue entry read for enforcement is used. Defaults to DefaultSchemaCacheTTL.
	SchemaCacheTTL time.Duration
	// OnSchemaWarning, if set, is called for each event accepted in warn mode though its data fails its schema.
	OnSchemaWarning func(SchemaWarning)
}

// Service takes events in: validation, idempotency, fan-out to the endpoints whose filters select them, replays, and
// the event-type catalogue.
type Service struct {
	store    Store
	cfg      Config
	schemas  schemaCache
	keyPaths keyPathCache // the catalogue's ordering key paths (ordering.go)
}

// NewService returns a Service over store.
func NewService(store Store, cfg Config) *Service {
	if cfg.IdempotencyWindow <= 0 {
		cfg.IdempotencyWindow = DefaultIdempotencyWindow
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{store: store, cfg: cfg}
}

// PublishInput is one event from a producer.
type PublishInput struct {
	Type string          // required: full-stop-separated segments of [a-zA-Z0-9_]
	Data json.RawMessage // any valid JSON, kept byte for byte; empty means {}
	// ID is the producer's idempotency key: optional, at most MaxIdempotencyKey of [A-Za-z0-9_.:-]. Publishing the
	// same ID again within the idempotency window returns the first message and writes nothing.
	ID string
	// Timestamp is when the event happened; nil means now.
	Timestamp *time.Time
	// SchemaVersion names the version of the type's schema data meets; 0 means the latest.
	SchemaVersion int

	ops bool // an operational event (ops.go): its reserved type is allowed
	// OrderingKey, optional, orders the event's deliveries behind earlier events with the same key, per endpoint: 1 to
	// delivery.MaxOrderingKey printable ASCII bytes. When empty and the type's catalogue entry names an
	// OrderingKeyPath, the key is read from the data there (ordering.go).
	OrderingKey string
}

// Publish validates in, fans it out to the tenant's enabled endpoints whose filters accept its type, and stores the
// message with one pending delivery per endpoint, atomically. It returns the stored message, the number of
// deliveries, and whether the message already existed (an idempotent repeat, in which case nothing was written).
// The caller is responsible for the tenant existing.
func (s *Service) Publish(ctx context.Context, tenantID string, in PublishInput) (*delivery.Message, int, bool, error) {
	now := s.cfg.Now().UTC()
	m, err := newMessage(tenantID, in, now)
	if err != nil {
		return nil, 0, false, err
	}
	if err := s.orderingKey(ctx, m, ""); err != nil {
		return nil, 0, false, err
	}
	m.TraceParent = traceParent(ctx)
	if err := s.checkSchema(ctx, m, in.SchemaVersion); err != nil {
		return nil, 0, false, err
	}
	es, err := s.fanoutEndpoints(ctx, tenantID)
	if err != nil {
		return nil, 0, false, fmt.Errorf("publish: %w", err)
	}
	ds := deliveriesFor(m, es, now)
	stored, fanout, existing, err := s.store.Publish(ctx, m, ds, now.Add(-s.cfg.IdempotencyWindow))
	if err != nil {
		return nil, 0, false, fmt.Errorf("publish: %w", err)
	}
	if !existing && fanout > 0 {
		s.wake()
	}
	return stored, fanout, existing, nil
}

// fanoutEndpoints lists all the tenant's endpoints for fan-out, disabled ones included: at once from a FanoutLister,
// else page by page. The endpoints may be shared (a FanoutLister's cache) and must only be read.
func (s *Service) fanoutEndpoints(ctx context.Context, tenantID string) ([]*endpoints.Endpoint, error) {
	if fl, ok := s.cfg.Endpoints.(FanoutLister); ok {
		es, err := fl.ListFanout(ctx, tenantID)
		if err != nil {
			return nil, fmt.Errorf("list endpoints: %w", err)
		}
		return es, nil
	}
	var es []*endpoints.Endpoint
	after := ""
	for {
		page, err := s.cfg.Endpoints.ListEndpoints(ctx, tenantID, after, fanoutPage)
		if err != nil {
			return nil, fmt.Errorf("list endpoints: %w", err)
		}
		es = append(es, page...)
		if len(page) < fanoutPage {
			return es, nil
		}
		after = page[len(page)-1].ID
	}
}

// deliveriesFor makes one pending delivery of m per enabled endpoint of es whose filters accept its type.
func deliveriesFor(m *delivery.Message, es []*endpoints.Endpoint, now time.Time) []*delivery.Delivery {
	var ds []*delivery.Delivery
	for _, ep := range es {
		if !ep.Disabled && ep.Accepts(m.Type) {
			ds = append(ds, newDelivery(m, ep.ID, now))
		}
	}
	return ds
}

// PublishTo publishes an event to exactly one endpoint, whatever its filters say: the endpoint test call. An empty
// in.Type means TestEventType, empty data means {}. The endpoint must be the tenant's (endpoints.ErrNotFound
// otherwise).
func (s *Service) PublishTo(ctx context.Context, tenantID, endpointID string, in PublishInput) (*delivery.Message, *delivery.Delivery, error) {
	if in.Type == "" {
		in.Type = TestEventType
	}
	now := s.cfg.Now().UTC()
	m, err := newMessage(tenantID, in, now)
	if err != nil {
		return nil, nil, err
	}
	if err := s.checkSchema(ctx, m, in.SchemaVersion); err != nil {
		return nil, nil, err
	}
	if err := s.eventsEndpoint(ctx, tenantID, endpointID); err != nil {
		return nil, nil, fmt.Errorf("publish to %s: %w", endpointID, err)
	}
	d := newDelivery(m, endpointID, now)
	stored, _, existing, err := s.store.Publish(ctx, m, []*delivery.Delivery{d}, now.Add(-s.cfg.IdempotencyWindow))
	if err != nil {
		return nil, nil, fmt.Errorf("publish to %s: %w", endpointID, err)
	}
	if existing {
		return stored, nil, nil
	}
	s.wake()
	return stored, d, nil
}

// Replay makes a new delivery of an existing message to one endpoint of the tenant (any endpoint, whatever its
// filters). The receiver sees the same webhook-id as before. An unknown message is delivery.ErrNotFound, an unknown
// endpoint endpoints.ErrNotFound.
func (s *Service) Replay(ctx context.Context, tenantID, messageID, endpointID string) (*delivery.Delivery, error) {
	m, err := s.cfg.Log.GetMessage(ctx, tenantID, messageID)
	if err != nil {
		return nil, fmt.Errorf("replay %s: %w", messageID, err)
	}
	if !m.ExpungedAt.IsZero() {
		return nil, fmt.Errorf("replay %s: %w", messageID, ErrExpunged)
	}
	if err := s.eventsEndpoint(ctx, tenantID, endpointID); err != nil {
		return nil, fmt.Errorf("replay %s: %w", messageID, err)
	}
	d := newDelivery(m, endpointID, s.cfg.Now().UTC())
	if err := s.addDeliveries(ctx, []*delivery.Delivery{d}); err != nil {
		return nil, fmt.Errorf("replay %s: %w", messageID, err)
	}
	s.wake()
	return d, nil
}

// Recover replays to an endpoint every message whose deliveries to it, among those created since since (and before
// now), all failed or died: once each, however many failed deliveries it had. A message with a delivery there that
// succeeded is skipped, and so is one that was already redelivered and is still pending; while any such redelivery
// is pending, Recover refuses with ErrRecoverPending and makes nothing, so that recover called again and again does
// not send the same messages again and again. It returns how many deliveries it made.
func (s *Service) Recover(ctx context.Context, tenantID, endpointID string, since time.Time) (int, error) {
	if err := s.eventsEndpoint(ctx, tenantID, endpointID); err != nil {
		return 0, fmt.Errorf("recover: %w", err)
	}
	now := s.cfg.Now().UTC()
	f := delivery.Filter{EndpointID: endpointID, Since: since, Until: now, Limit: logPage}
	const (
		failed    = 1 << iota // a delivery failed or died
		pending               // a delivery is pending
		succeeded             // a delivery succeeded
	)
	state := make(map[string]uint8) // message id → what its deliveries here did
	var order []string              // message ids in the order of their first delivery listed
	for {
		page, err := s.cfg.Log.ListDeliveries(ctx, tenantID, f)
		if err != nil {
			return 0, fmt.Errorf("recover: list deliveries: %w", err)
		}
		for _, d := range page {
			st, known := state[d.MessageID]
			if !known {
				order = append(order, d.MessageID)
			}
			switch d.Status {
			case delivery.StatusFailed, delivery.StatusDead:
				st |= failed
			case delivery.StatusPending:
				st |= pending
			case delivery.StatusSucceeded:
				st |= succeeded
			}
			state[d.MessageID] = st
		}
		if len(page) < logPage {
			break
		}
		f.After = page[len(page)-1].ID
	}
	var todo []string
	for _, id := range order {
		switch st := state[id]; {
		case st&failed != 0 && st&pending != 0 && st&succeeded == 0:
			return 0, fmt.Errorf("recover: message %s: %w", id, ErrRecoverPending)
		case st == failed:
			todo = append(todo, id)
		}
	}
	n := 0
	for len(todo) > 0 {
		chunk := todo[:min(len(todo), logPage)]
		todo = todo[len(chunk):]
		batch := make([]*delivery.Delivery, 0, len(chunk))
		for _, id := range chunk {
			m, err := s.cfg.Log.GetMessage(ctx, tenantID, id)
			if err != nil {
				return n, fmt.Errorf("recover: message %s: %w", id, err)
			}
			if !m.ExpungedAt.IsZero() {
				continue // its payload is gone: never sent again
			}
			batch = append(batch, newDelivery(m, endpointID, now))
		}
		if len(batch) == 0 {
			continue
		}
		if err := s.addDeliveries(ctx, batch); err != nil {
			return n, fmt.Errorf("recover: %w", err)
		}
		n += len(batch)
	}
	if n > 0 {
		s.wake()
	}
	return n, nil
}

// addDeliveries stores and queues new deliveries of a message already stored.
func (s *Service) addDeliveries(ctx context.Context, ds []*delivery.Delivery) error {
	if s.cfg.Queue == nil {
		return errors.New("no delivery queue configured")
	}
	return s.cfg.Queue.Enqueue(ctx, ds)
}

func (s *Service) wake() {
	if s.cfg.Waker != nil {
		s.cfg.Waker.Wake()
	}
}

// newMessage validates in and builds the message it describes.
func newMessage(tenantID string, in PublishInput, now time.Time) (*delivery.Message, error) {
	if err := ValidateType("type", in.Type); err != nil {
		return nil, err
	}
	if err := reservedErr("type", in.Type); err != nil && !in.ops {
		return nil, err
	}
	if err := validIdempotencyKey(in.ID); err != nil {
		return nil, err
	}
	if err := validOrderingKey(in.OrderingKey); err != nil {
		return nil, err
	}
	if in.SchemaVersion < 0 {
		return nil, &FieldError{Field: "schema_version", Message: "must be a positive version, or 0 for the latest"}
	}
	data := in.Data
	if len(bytes.TrimSpace(data)) == 0 {
		data = json.RawMessage(`{}`)
	} else if err := checkData(data); err != nil {
		return nil, err
	}
	ts := now
	if in.Timestamp != nil {
		ts = in.Timestamp.UTC()
	}
	return &delivery.Message{
		ID:             signing.NewMessageID().String(),
		TenantID:       tenantID,
		Type:           in.Type,
		Timestamp:      ts,
		Data:           bytes.Clone(data),
		IdempotencyKey: in.ID,
		CreatedAt:      now,
		OrderingKey:    in.OrderingKey,
	}, nil
}

func newDelivery(m *delivery.Message, endpointID string, now time.Time) *delivery.Delivery {
	return &delivery.Delivery{
		ID:            ids.New("dlv"),
		TenantID:      m.TenantID,
		MessageID:     m.ID,
		EndpointID:    endpointID,
		EventType:     m.Type,
		Status:        delivery.StatusPending,
		NextAttemptAt: now,
		CreatedAt:     now,
		UpdatedAt:     now,
		OrderingKey:   m.OrderingKey,
	}
}

// ValidateType checks an event type or catalogue name: full-stop-separated segments of [a-zA-Z0-9_], at most
// endpoints.MaxEventType bytes. field names the input field in the error.
func ValidateType(field, t string) error {
	switch {
	case t == "":
		return &FieldError{Field: field, Message: "is required"}
	case !endpoints.ValidEventType(t):
		return &FieldError{Field: field, Message: fmt.Sprintf("must be full-stop-separated segments of [a-zA-Z0-9_], at most %d bytes", endpoints.MaxEventType)}
	}
	return nil
}

func validIdempotencyKey(k string) error {
	if len(k) > MaxIdempotencyKey {
		return &FieldError{Field: "id", Message: fmt.Sprintf("at most %d bytes, got %d", MaxIdempotencyKey, len(k))}
	}
	for i := range len(k) {
		switch c := k[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '.', c == ':', c == '-':
		default:
			return &FieldError{Field: "id", Message: "may contain only [A-Za-z0-9_.:-]"}
		}
	}
	return nil
}

// EventTypeInput describes a catalogue entry.
type EventTypeInput struct {
	Name        string          // required; the syntax of an event type
	Description string          // at most MaxDescription bytes
	Schema      json.RawMessage // optional JSON Schema of data; must be a JSON object
	SchemaMode  SchemaMode      // optional: enforce, warn or off for this type, overriding the tenant's
	// OrderingKeyPath, optional, is a JSON pointer (RFC 6901) into an event's data whose string or number value is
	// the event's ordering key when the producer gives none (ordering.go).
	OrderingKeyPath string
}

// PutEventType creates or replaces a catalogue entry, keeping the creation time of an entry it replaces. It reports
// whether the entry is new.
func (s *Service) PutEventType(ctx context.Context, in EventTypeInput) (*EventType, bool, error) {
	if err := ValidateType("name", in.Name); err != nil {
		return nil, false, err
	}
	if err := reservedErr("name", in.Name); err != nil {
		return nil, false, err
	}
	if len(in.Description) > MaxDescription || !utf8.ValidString(in.Description) {
		return nil, false, &FieldError{Field: "description", Message: fmt.Sprintf("must be valid UTF-8, at most %d bytes", MaxDescription)}
	}
	schema := bytes.TrimSpace(in.Schema)
	if bytes.Equal(schema, []byte("null")) {
		schema = nil
	}
	if len(schema) > 0 && (schema[0] != '{' || !json.Valid(schema)) {
		return nil, false, &FieldError{Field: "schema", Message: "must be a JSON object"}
	}
	if in.SchemaMode != "" && !ValidSchemaMode(in.SchemaMode) {
		return nil, false, &FieldError{Field: "schema_mode", Message: "must be enforce, warn or off"}
	}
	if err := validPointer(in.OrderingKeyPath); err != nil {
		return nil, false, err
	}
	now := s.cfg.Now().UTC()
	t := &EventType{Name: in.Name, Description: in.Description, Schema: bytes.Clone(schema), SchemaMode: in.SchemaMode, CreatedAt: now, UpdatedAt: now}
	t.OrderingKeyPath = in.OrderingKeyPath
	created := true
	old, err := s.store.GetEventType(ctx, in.Name)
	switch {
	case err == nil:
		t.CreatedAt, created = old.CreatedAt, false
	case !isNotFound(err):
		return nil, false, fmt.Errorf("put event type %s: %w", in.Name, err)
	default:
		old = nil
	}
	if t.Schemas, err = putSchema(old, schema, now); err != nil {
		return nil, false, err
	}
	defer s.forget(in.Name)
	if err := s.store.PutEventType(ctx, t); err != nil {
		return nil, false, fmt.Errorf("put event type %s: %w", in.Name, err)
	}
	s.keyPaths.forget()
	return t, created, nil
}

// GetEventType returns a catalogue entry, or ErrNotFound.
func (s *Service) GetEventType(ctx context.Context, name string) (*EventType, error) {
	t, err := s.store.GetEventType(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("get event type %s: %w", name, err)
	}
	return t, nil
}

// ListEventTypes returns up to limit entries after the cursor after ("" for the first page), and the cursor of the
// next page ("" when this is the last).
func (s *Service) ListEventTypes(ctx context.Context, after string, limit int) ([]*EventType, string, error) {
	limit = max(limit, 1)
	ts, err := s.store.ListEventTypes(ctx, after, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list event types: %w", err)
	}
	next := ""
	if len(ts) > limit {
		ts = ts[:limit]
		next = ts[limit-1].Name
	}
	return ts, next, nil
}

// DeleteEventType removes a catalogue entry, or returns ErrNotFound.
func (s *Service) DeleteEventType(ctx context.Context, name string) error {
	defer s.forget(name)
	if err := s.store.DeleteEventType(ctx, name); err != nil {
		return fmt.Errorf("delete event type %s: %w", name, err)
	}
	s.keyPaths.forget()
	return nil
}

func isNotFound(err error) bool {
	return errors.Is(err, ErrNotFound) || errors.Is(err, delivery.ErrNotFound)
}
