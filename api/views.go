package api

import (
	"encoding/json"
	"time"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/endpoints"
	"github.com/webhookd/webhookd/events"
	"github.com/webhookd/webhookd/tenants"
)

// Response bodies. Each is built field by field from the domain type, so that a field added to a domain type (a
// secret, say) never reaches a response by accident.

// now is the clock views use to leave out expired keys.
func now() time.Time { return time.Now() }

type tenantView struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

func viewTenant(t *tenants.Tenant) tenantView {
	return tenantView{ID: t.ID, Name: t.Name, CreatedAt: t.CreatedAt}
}

type tokenView struct {
	ID        string    `json:"id"`
	TenantID  string    `json:"tenant_id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	Token     string    `json:"token,omitempty"` // the text, only in the answer to its creation
}

func viewToken(t *tenants.Token) tokenView {
	return tokenView{ID: t.ID, TenantID: t.TenantID, Name: t.Name, CreatedAt: t.CreatedAt, RevokedAt: t.RevokedAt}
}

type eventTypeView struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Schema      json.RawMessage `json:"schema,omitempty"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
}

func viewEventType(t *events.EventType) eventTypeView {
	return eventTypeView{Name: t.Name, Description: t.Description, Schema: t.Schema, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt}
}

// keyView is the public part of a key, as get and list show it.
type keyView struct {
	PublicKey string    `json:"public_key,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

type endpointView struct {
	ID             string            `json:"id"`
	TenantID       string            `json:"tenant_id"`
	URL            string            `json:"url"`
	Description    string            `json:"description"`
	Events         []string          `json:"events"`
	Profile        string            `json:"profile"`
	Signing        string            `json:"signing"`
	Keys           []keyView         `json:"keys"`
	Headers        map[string]string `json:"headers"`
	RateLimit      float64           `json:"rate_limit"`
	Timeout        string            `json:"timeout"` // a Go duration string, e.g. "1s"
	Metadata       map[string]string `json:"metadata"`
	Disabled       bool              `json:"disabled"`
	DisabledReason string            `json:"disabled_reason,omitempty"`
	FailingSince   time.Time         `json:"failing_since,omitzero"`
	CreatedAt      time.Time         `json:"created_at"`
	UpdatedAt      time.Time         `json:"updated_at"`
}

func viewEndpoint(e *endpoints.Endpoint, now time.Time) endpointView {
	v := endpointView{
		ID:             e.ID,
		TenantID:       e.TenantID,
		URL:            e.URL,
		Description:    e.Description,
		Events:         e.Events,
		Profile:        e.Profile,
		Signing:        e.Algorithm,
		Keys:           []keyView{},
		Headers:        e.Headers,
		RateLimit:      e.RateLimit,
		Timeout:        e.Timeout.String(),
		Metadata:       e.Metadata,
		Disabled:       e.Disabled,
		DisabledReason: e.DisabledReason,
		FailingSince:   e.FailingSince,
		CreatedAt:      e.CreatedAt,
		UpdatedAt:      e.UpdatedAt,
	}
	for _, k := range e.Keys {
		if k.ExpiresAt.IsZero() || now.Before(k.ExpiresAt) {
			v.Keys = append(v.Keys, keyView{PublicKey: k.Public, CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt})
		}
	}
	if v.Events == nil {
		v.Events = []string{}
	}
	if v.Headers == nil {
		v.Headers = map[string]string{}
	}
	if v.Metadata == nil {
		v.Metadata = map[string]string{}
	}
	return v
}

// secretKeyView is one key as reveal shows it.
type secretKeyView struct {
	Secret    string    `json:"secret,omitempty"` // absent for ed25519 keys: only the public key is given out
	PublicKey string    `json:"public_key,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

type secretView struct {
	EndpointID string          `json:"endpoint_id"`
	Profile    string          `json:"profile"`
	Signing    string          `json:"signing"`
	Keys       []secretKeyView `json:"keys"`
}

type deliveryView struct {
	ID            string          `json:"id"`
	TenantID      string          `json:"tenant_id"`
	MessageID     string          `json:"message_id"`
	EndpointID    string          `json:"endpoint_id"`
	EventType     string          `json:"event_type"`
	Status        delivery.Status `json:"status"`
	Attempts      int             `json:"attempts"`
	NextAttemptAt time.Time       `json:"next_attempt_at,omitzero"`
	LastCode      int             `json:"last_status_code,omitempty"`
	LastError     string          `json:"last_error,omitempty"`
	CreatedAt     time.Time       `json:"created_at"`
	UpdatedAt     time.Time       `json:"updated_at"`
}

func viewDelivery(d *delivery.Delivery) deliveryView {
	v := deliveryView{
		ID:         d.ID,
		TenantID:   d.TenantID,
		MessageID:  d.MessageID,
		EndpointID: d.EndpointID,
		EventType:  d.EventType,
		Status:     d.Status,
		Attempts:   d.Attempts,
		LastCode:   d.LastCode,
		LastError:  d.LastError,
		CreatedAt:  d.CreatedAt,
		UpdatedAt:  d.UpdatedAt,
	}
	if d.Status == delivery.StatusPending {
		v.NextAttemptAt = d.NextAttemptAt
	}
	return v
}

// deliveryDetail is one delivery with its attempt log.
type deliveryDetail struct {
	deliveryView
	AttemptLog []attemptView `json:"attempt_log"`
}

type attemptView struct {
	N          int       `json:"attempt"`
	At         time.Time `json:"at"`
	StatusCode int       `json:"status_code,omitempty"`
	LatencyMS  int64     `json:"latency_ms"`
	Error      string    `json:"error,omitempty"`
	Response   string    `json:"response,omitempty"`
	Outcome    string    `json:"outcome"`
}

func viewAttempt(a delivery.Attempt) attemptView {
	return attemptView{N: a.N, At: a.At, StatusCode: a.StatusCode, LatencyMS: a.Latency.Milliseconds(), Error: a.Error,
		Response: a.Response, Outcome: a.Outcome}
}

type messageView struct {
	ID             string          `json:"id"`
	TenantID       string          `json:"tenant_id"`
	Type           string          `json:"type"`
	Timestamp      time.Time       `json:"timestamp"`
	Data           json.RawMessage `json:"data"`
	IdempotencyKey string          `json:"idempotency_key,omitempty"`
	CreatedAt      time.Time       `json:"created_at"`
	Deliveries     []deliveryView  `json:"deliveries"`
}

func viewMessage(m *delivery.Message) messageView {
	return messageView{ID: m.ID, TenantID: m.TenantID, Type: m.Type, Timestamp: m.Timestamp, Data: m.Data,
		IdempotencyKey: m.IdempotencyKey, CreatedAt: m.CreatedAt, Deliveries: []deliveryView{}}
}
