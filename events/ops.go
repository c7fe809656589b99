package events

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/endpoints"
)

// Operational event types: webhookd tells tenants (and the operator) about their endpoints and deliveries. Names
// under ReservedPrefix are reserved: producers cannot publish them and the catalogue holds them (OpsEventTypes).
const (
	ReservedPrefix          = "webhookd."
	DeliveryExhaustedType   = "webhookd.delivery.exhausted"
	EndpointFailingType     = "webhookd.endpoint.failing"
	EndpointRecoveredType   = "webhookd.endpoint.recovered"
	OpsEndpointDisabledType = "webhookd.endpoint.disabled" // EndpointDisabledType is its older alias
	HandshakeFailedType     = "webhookd.endpoint.handshake_failed"
)

// IsReserved reports whether an event type is one of webhookd's own (under ReservedPrefix), but for TestEventType,
// which anyone may send.
func IsReserved(eventType string) bool {
	return strings.HasPrefix(eventType, ReservedPrefix) && eventType != TestEventType
}

// OpsEventTypes are the catalogue entries of the operational events.
func OpsEventTypes() []EventTypeInput {
	return []EventTypeInput{
		{Name: DeliveryExhaustedType, Description: "A delivery ended dead (every retry spent) or failed; data carries its last attempt."},
		{Name: EndpointFailingType, Description: "An endpoint has had no successful delivery for the failing threshold; data carries the last error."},
		{Name: EndpointRecoveredType, Description: "A failing endpoint delivered successfully again."},
		{Name: OpsEndpointDisabledType, Description: "webhookd disabled an endpoint (gone, failing or handshake); endpoint.disabled is its alias."},
		{Name: HandshakeFailedType, Description: "An endpoint failed its periodic OPTIONS re-check."},
	}
}

// SeedOpsEventTypes puts the operational event types in the catalogue (replacing any entry of the same name).
func (s *Service) SeedOpsEventTypes(ctx context.Context) error {
	now := s.cfg.Now().UTC()
	for _, in := range OpsEventTypes() {
		t := &EventType{Name: in.Name, Description: in.Description, CreatedAt: now, UpdatedAt: now}
		if old, err := s.store.GetEventType(ctx, in.Name); err == nil {
			if old.Description == in.Description {
				continue
			}
			t.CreatedAt = old.CreatedAt
		}
		if err := s.store.PutEventType(ctx, t); err != nil {
			return fmt.Errorf("seed event type %s: %w", in.Name, err)
		}
	}
	return nil
}

// reservedErr refuses a reserved type from a producer or the catalogue API.
func reservedErr(field, t string) error {
	if IsReserved(t) {
		return &FieldError{Field: field, Message: fmt.Sprintf("%s is reserved for webhookd's operational events", ReservedPrefix+"*")}
	}
	return nil
}

var _ delivery.HealthNotifier = (*OpsNotifier)(nil)

// OpsNotifier publishes the operational events: the delivery engine's transitions (it is the engine's Notifier) and
// the endpoint re-check's failures. Each event goes to the subscribed endpoints of the tenant it is about and, when
// an operator tenant is set, to the operator tenant's subscribed endpoints too, never to the endpoint it is about.
// A filter selects an operational event only by naming it or a prefix of it ("webhookd.*", "webhookd.endpoint.*"):
// "*" does not, so that an endpoint taking every business event is not sent its siblings' troubles. The older
// endpoint.disabled name still works: an endpoint that selects it (with "*" too) but not
// webhookd.endpoint.disabled gets the disable as an endpoint.disabled event, as before.
type OpsNotifier struct {
	s        *Service
	operator string
	log      *slog.Logger
	count    func(eventType string) // CountWith
}

// CountWith has count told of every operational event emitted (once per event, whoever subscribes to it) and
// returns n. Set it before n is used.
func (n *OpsNotifier) CountWith(count func(eventType string)) *OpsNotifier {
	n.count = count
	return n
}

// NewOpsNotifier returns a notifier publishing through s. operatorTenant ("" for none) is the tenant whose endpoints
// hear of every tenant's operational events. logger (slog.Default() when nil) hears of a publish that failed.
func NewOpsNotifier(s *Service, operatorTenant string, logger *slog.Logger) *OpsNotifier {
	if logger == nil {
		logger = slog.Default()
	}
	return &OpsNotifier{s: s, operator: operatorTenant, log: logger}
}

// EndpointDisabled publishes webhookd.endpoint.disabled (and endpoint.disabled to its subscribers).
func (n *OpsNotifier) EndpointDisabled(ctx context.Context, ep *endpoints.Endpoint, reason string) {
	n.publish(ctx, ep, OpsEndpointDisabledType, n.about(ep, map[string]any{"reason": reason, "failing_since": ep.FailingSince}))
}

// EndpointFailing publishes webhookd.endpoint.failing.
func (n *OpsNotifier) EndpointFailing(ctx context.Context, ep *endpoints.Endpoint, lastError string) {
	n.publish(ctx, ep, EndpointFailingType, n.about(ep, map[string]any{"failing_since": ep.FailingSince, "last_error": lastError}))
}

// EndpointRecovered publishes webhookd.endpoint.recovered.
func (n *OpsNotifier) EndpointRecovered(ctx context.Context, ep *endpoints.Endpoint, failingSince time.Time) {
	n.publish(ctx, ep, EndpointRecoveredType, n.about(ep, map[string]any{"failing_since": failingSince, "recovered_at": n.s.cfg.Now().UTC()}))
}

// DeliveryExhausted publishes webhookd.delivery.exhausted, unless the delivery was of an operational event itself (so
// that two failing endpoints subscribed to each other's troubles do not feed each other for ever).
func (n *OpsNotifier) DeliveryExhausted(ctx context.Context, ep *endpoints.Endpoint, t delivery.Task, a delivery.Attempt) {
	eventType := ""
	if n.s.cfg.Log != nil {
		if m, err := n.s.cfg.Log.GetMessage(ctx, t.TenantID, t.MessageID); err == nil {
			eventType = m.Type
		}
	}
	if IsReserved(eventType) || eventType == EndpointDisabledType {
		return
	}
	n.publish(ctx, ep, DeliveryExhaustedType, n.about(ep, map[string]any{
		"delivery_id": t.DeliveryID, "msg_id": t.MessageID, "event_type": eventType, "status": a.Outcome,
		"last_attempt": map[string]any{
			"attempt": a.N, "at": a.At, "status_code": a.StatusCode, "error": a.Error, "latency_ms": a.Latency.Milliseconds(),
		},
	}))
}

// HandshakeFailed publishes webhookd.endpoint.handshake_failed, and webhookd.endpoint.disabled when the failure
// disabled the endpoint. It is the endpoints.Rechecker's OnFailure.
func (n *OpsNotifier) HandshakeFailed(ctx context.Context, ep *endpoints.Endpoint, err error) {
	n.publish(ctx, ep, HandshakeFailedType, n.about(ep, map[string]any{
		"error": err.Error(), "failures": ep.HandshakeFailures, "disabled": ep.Disabled,
	}))
	if ep.Disabled {
		n.EndpointDisabled(ctx, ep, ep.DisabledReason)
	}
}

// about returns an event's data: the endpoint's identity and fields.
func (n *OpsNotifier) about(ep *endpoints.Endpoint, fields map[string]any) map[string]any {
	fields["tenant_id"], fields["endpoint_id"], fields["url"] = ep.TenantID, ep.ID, ep.URL
	return fields
}

// publish sends one operational event about ep to the tenant's and the operator's subscribed endpoints. A failure is
// logged, not returned: what it reports is already stored.
func (n *OpsNotifier) publish(ctx context.Context, ep *endpoints.Endpoint, eventType string, fields map[string]any) {
	if n.count != nil {
		n.count(eventType)
	}
	data, err := json.Marshal(fields)
	if err != nil {
		n.log.Error("operational event", "type", eventType, "err", err)
		return
	}
	tenants := []string{ep.TenantID}
	if n.operator != "" && n.operator != ep.TenantID {
		tenants = append(tenants, n.operator)
	}
	for _, tenant := range tenants {
		if err := n.publishTo(ctx, tenant, ep, eventType, data); err != nil {
			n.log.Warn("publish operational event", "type", eventType, "tenant", tenant, "endpoint_id", ep.ID, "err", err)
		}
	}
}

// publishTo stores one message of eventType for tenant with a delivery per subscribed endpoint (not ep itself), and
// for the disable, a message of the older name for the endpoints that select only that. Nothing is stored for no
// subscriber.
func (n *OpsNotifier) publishTo(ctx context.Context, tenant string, ep *endpoints.Endpoint, eventType string, data json.RawMessage) error {
	es, err := n.s.fanoutEndpoints(ctx, tenant)
	if err != nil {
		return err
	}
	now := n.s.cfg.Now().UTC()
	var ops, legacy []string
	for _, e := range es {
		switch {
		case e.Disabled || e.IsCalls() || (tenant == ep.TenantID && e.ID == ep.ID):
		case selectsOps(e.Events, eventType):
			ops = append(ops, e.ID)
		case eventType == OpsEndpointDisabledType && e.Accepts(EndpointDisabledType):
			legacy = append(legacy, e.ID)
		}
	}
	for _, batch := range []struct {
		typ string
		ids []string
	}{{eventType, ops}, {EndpointDisabledType, legacy}} {
		if len(batch.ids) == 0 {
			continue
		}
		m, err := newMessage(tenant, PublishInput{Type: batch.typ, Data: data, ops: true}, now)
		if err != nil {
			return err
		}
		ds := make([]*delivery.Delivery, 0, len(batch.ids))
		for _, id := range batch.ids {
			ds = append(ds, newDelivery(m, id, now))
		}
		if _, _, _, err := n.s.store.Publish(ctx, m, ds, now.Add(-n.s.cfg.IdempotencyWindow)); err != nil {
			return err
		}
		n.s.wake()
	}
	return nil
}

// selectsOps reports whether filters select an operational event type: by its name or a prefix filter, not by "*".
func selectsOps(filters []string, eventType string) bool {
	for _, f := range filters {
		if f != "*" && endpoints.MatchAny([]string{f}, eventType) {
			return true
		}
	}
	return false
}
