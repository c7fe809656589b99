package api

import (
	"cmp"
	"time"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/endpoints"
	"github.com/webhookd/webhookd/events"
	"github.com/webhookd/webhookd/tenants"
	"github.com/webhookd/webhookd/wire"
)

// Response bodies, as package wire declares them. Each is built field by field from the domain type, so that a field
// added to a domain type (a secret, say) never reaches a response by accident.

// now is the clock views use to leave out expired keys.
func now() time.Time { return time.Now() }

func viewTenant(t *tenants.Tenant) wire.Tenant {
	state := wire.TenantActive
	if t.Deleting() {
		state = wire.TenantDeleting
	}
	v := wire.Tenant{ID: t.ID, Name: t.Name, CreatedAt: t.CreatedAt, State: state, DeletingAt: t.DeletingAt}
	if t.Retention != 0 {
		v.Retention = t.Retention.String()
	}
	return v
}

func viewToken(t *tenants.Token) wire.Token {
	return wire.Token{ID: t.ID, TenantID: t.TenantID, Name: t.Name, CreatedAt: t.CreatedAt, RevokedAt: t.RevokedAt}
}

func viewEventType(t *events.EventType) wire.EventType {
	v := wire.EventType{Name: t.Name, Description: t.Description, Schema: t.Schema, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt,
		SchemaMode: string(t.SchemaMode), OrderingKeyPath: t.OrderingKeyPath}
	for _, sv := range t.Schemas {
		v.Versions = append(v.Versions, wire.SchemaVersion{Version: sv.Version, Schema: sv.Schema, CreatedAt: sv.CreatedAt})
	}
	return v
}

func viewEndpoint(e *endpoints.Endpoint, now time.Time) wire.Endpoint {
	v := wire.Endpoint{
		ID:             e.ID,
		TenantID:       e.TenantID,
		URL:            e.URL,
		Description:    e.Description,
		Events:         e.Events,
		Profile:        e.Profile,
		Signing:        e.Algorithm,
		Keys:           []wire.Key{},
		Headers:        e.Headers,
		RateLimit:      e.RateLimit,
		Timeout:        e.Timeout.String(),
		TracePropagate: e.TracePropagate,
		Metadata:       e.Metadata,
		Disabled:       e.Disabled,
		DisabledReason: e.DisabledReason,
		FailingSince:   e.FailingSince,
		CreatedAt:      e.CreatedAt,
		UpdatedAt:      e.UpdatedAt,
		URLRefused:     e.URLRefused,
		Kind:           endpointKind(e),
		Calls:          viewCallSettings(e.Calls),

		Retries:            e.Retries,
		RetryInitial:       durationOrEmpty(e.RetryInitial),
		RetryCap:           durationOrEmpty(e.RetryCap),
		HandshakeFailures:  e.HandshakeFailures,
		HandshakeError:     e.HandshakeError,
		HandshakeCheckedAt: e.HandshakeCheckedAt,

		OrderingOnFailure: cmp.Or(e.OrderingOnFailure, endpoints.OrderingSkip),
	}
	for _, k := range e.Keys {
		if k.ExpiresAt.IsZero() || now.Before(k.ExpiresAt) {
			v.Keys = append(v.Keys, wire.Key{PublicKey: k.Public, CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt})
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

func viewDelivery(d *delivery.Delivery) wire.Delivery {
	v := wire.Delivery{
		ID:          d.ID,
		TenantID:    d.TenantID,
		MessageID:   d.MessageID,
		EndpointID:  d.EndpointID,
		EventType:   d.EventType,
		Status:      string(d.Status),
		Attempts:    d.Attempts,
		LastCode:    d.LastCode,
		LastError:   d.LastError,
		CreatedAt:   d.CreatedAt,
		UpdatedAt:   d.UpdatedAt,
		OrderingKey: d.OrderingKey,
		WaitingOn:   d.WaitingOn,
		Blocked:     d.Blocked,
	}
	if d.Status == delivery.StatusPending {
		v.NextAttemptAt = d.NextAttemptAt
	}
	return v
}

func viewAttempt(a delivery.Attempt) wire.Attempt {
	return wire.Attempt{N: a.N, At: a.At, StatusCode: a.StatusCode, LatencyMS: a.Latency.Milliseconds(), Error: a.Error,
		Response: a.Response, Outcome: a.Outcome, Request: a.Request}
}

func viewMessage(m *delivery.Message) wire.Message {
	return wire.Message{ID: m.ID, TenantID: m.TenantID, Type: m.Type, Timestamp: m.Timestamp, Data: m.Data,
		IdempotencyKey: m.IdempotencyKey, CreatedAt: m.CreatedAt, Deliveries: []wire.Delivery{}, ExpungedAt: m.ExpungedAt,
		OrderingKey: m.OrderingKey}
}
