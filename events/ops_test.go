package events_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/endpoints"
	"github.com/webhookd/webhookd/events"
	boltstore "github.com/webhookd/webhookd/store/boltstore"
)

// TestOpsNotifierRouting checks who gets each operational event: the tenant's and the operator's subscribers, by
// name or prefix but not by "*", never the endpoint it is about, the older endpoint.disabled name for its
// subscribers, and no exhausted event about a delivery of an operational event.
func TestOpsNotifierRouting(t *testing.T) {
	ctx := context.Background()
	st, err := boltstore.Open(t.TempDir(), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Now().UTC()
	eps := map[string]*endpoints.Endpoint{}
	for _, e := range []struct {
		tenant, id string
		events     []string
	}{
		{"acme", "ep_a", []string{"device.*", "webhookd.*"}},
		{"acme", "ep_b", []string{"webhookd.endpoint.*", "webhookd.delivery.exhausted"}},
		{"acme", "ep_all", []string{"*"}},
		{"acme", "ep_legacy", []string{"endpoint.disabled"}},
		{"ops", "ep_ops", []string{"webhookd.*"}},
		{"other", "ep_other", []string{"webhookd.*"}},
	} {
		ep := &endpoints.Endpoint{ID: e.id, TenantID: e.tenant, URL: "https://example.com/" + e.id, Events: e.events,
			Profile: "standard", Algorithm: "hmac", CreatedAt: now, UpdatedAt: now}
		if err := st.CreateEndpoint(ctx, ep); err != nil {
			t.Fatal(err)
		}
		eps[e.id] = ep
	}
	svc := events.NewService(st, events.Config{Endpoints: st, Log: st, Queue: st})
	counted := map[string]int{}
	n := events.NewOpsNotifier(svc, "ops", nil).CountWith(func(eventType string) { counted[eventType]++ })
	got := func(tenant, ep string) []string {
		t.Helper()
		ds, err := st.ListDeliveries(ctx, tenant, delivery.Filter{EndpointID: ep, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		var types []string
		for _, d := range ds {
			types = append(types, d.EventType)
		}
		slices.Sort(types)
		return types
	}
	want := func(tenant, ep string, types ...string) {
		t.Helper()
		slices.Sort(types)
		if g := got(tenant, ep); !slices.Equal(g, types) {
			t.Errorf("%s/%s got %v, want %v", tenant, ep, g, types)
		}
	}

	n.EndpointFailing(ctx, eps["ep_a"], "HTTP 500")
	n.EndpointDisabled(ctx, eps["ep_a"], "gone")
	// A delivery of a business event to ep_b was exhausted: ep_a hears of it, ep_b does not.
	m, _, _, err := svc.Publish(ctx, "acme", events.PublishInput{Type: "device.x"})
	if err != nil {
		t.Fatal(err)
	}
	n.DeliveryExhausted(ctx, eps["ep_b"], delivery.Task{TenantID: "acme", MessageID: m.ID, DeliveryID: "dlv_1"},
		delivery.Attempt{N: 6, Outcome: "dead", StatusCode: 500})
	// A delivery of an operational event was exhausted: nobody hears of it.
	ds, _ := st.ListDeliveries(ctx, "acme", delivery.Filter{EndpointID: "ep_b", Limit: 1})
	n.DeliveryExhausted(ctx, eps["ep_b"], delivery.Task{TenantID: "acme", MessageID: ds[0].MessageID, DeliveryID: ds[0].ID},
		delivery.Attempt{N: 6, Outcome: "dead"})

	want("acme", "ep_a", "device.x", events.DeliveryExhaustedType)
	want("acme", "ep_b", events.EndpointFailingType, events.OpsEndpointDisabledType)
	want("acme", "ep_all", "device.x", events.EndpointDisabledType)
	want("acme", "ep_legacy", events.EndpointDisabledType)
	want("ops", "ep_ops", events.EndpointFailingType, events.OpsEndpointDisabledType, events.DeliveryExhaustedType)
	want("other", "ep_other")
	// Each event is counted once, whoever hears of it; the exhausted operational delivery was not emitted.
	if len(counted) != 3 || counted[events.EndpointFailingType] != 1 || counted[events.OpsEndpointDisabledType] != 1 ||
		counted[events.DeliveryExhaustedType] != 1 {
		t.Errorf("counted %v", counted)
	}

	// Producers and the catalogue API cannot use the reserved names.
	if _, _, _, err := svc.Publish(ctx, "acme", events.PublishInput{Type: events.EndpointFailingType}); !errors.Is(err, events.ErrInvalid) {
		t.Errorf("publish of a reserved type: %v", err)
	}
	if _, _, err := svc.PutEventType(ctx, events.EventTypeInput{Name: "webhookd.mine"}); !errors.Is(err, events.ErrInvalid) {
		t.Errorf("put of a reserved type: %v", err)
	}
	if _, _, _, err := svc.Publish(ctx, "acme", events.PublishInput{Type: events.TestEventType}); err != nil {
		t.Errorf("publish of webhookd.test: %v", err)
	}
	if err := svc.SeedOpsEventTypes(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.GetEventType(ctx, events.HandshakeFailedType); err != nil {
		t.Errorf("catalogue: %v", err)
	}
}
