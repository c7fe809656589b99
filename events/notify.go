package events

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/endpoints"
)

// EndpointDisabledType is the type of the event published when the delivery engine disables an endpoint.
const EndpointDisabledType = "endpoint.disabled"

var _ delivery.Notifier = (*DisabledNotifier)(nil)

// DisabledNotifier is the delivery engine's Notifier: when the engine disables an endpoint ("gone" or "failing") it
// publishes an EndpointDisabledType event to the tenant, so that the tenant's endpoints subscribed to it (for example
// with the filter "endpoint.*") hear of it. Its data is {"endpoint_id", "url", "reason", "failing_since"}.
//
// It is built on an events Service before the engine, and given to the engine as Deps.Notifier; the Service wakes
// the engine through a delivery.Doorbell shared by both, so neither needs the other first.
type DisabledNotifier struct {
	events *Service
	log    *slog.Logger
}

// NewDisabledNotifier returns a notifier publishing through s; logger (slog.Default() when nil) hears of a publish
// that failed.
func NewDisabledNotifier(s *Service, logger *slog.Logger) *DisabledNotifier {
	if logger == nil {
		logger = slog.Default()
	}
	return &DisabledNotifier{events: s, log: logger}
}

// EndpointDisabled publishes the event. A failure is logged, not returned: the disable itself is already stored.
func (n *DisabledNotifier) EndpointDisabled(ctx context.Context, ep *endpoints.Endpoint, reason string) {
	data, _ := json.Marshal(map[string]any{
		"endpoint_id": ep.ID, "url": ep.URL, "reason": reason, "failing_since": ep.FailingSince,
	})
	if _, _, _, err := n.events.Publish(ctx, ep.TenantID, PublishInput{Type: EndpointDisabledType, Data: data}); err != nil {
		n.log.Warn("publish endpoint.disabled", "tenant", ep.TenantID, "endpoint_id", ep.ID, "err", err)
	}
}
