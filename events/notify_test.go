package events_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/egress"
	"github.com/webhookd/webhookd/endpoints"
	"github.com/webhookd/webhookd/events"
	"github.com/webhookd/webhookd/profiles"
	"github.com/webhookd/webhookd/signing"
	boltstore "github.com/webhookd/webhookd/store/boltstore"
)

// TestDisabledNotifier runs the engine with the notifier on the embedded store, wired as the gateway wires them (one
// doorbell, the notifier built before the engine): a receiver answering 410 gets its endpoint disabled, and the
// tenant's endpoint subscribed to endpoint.* receives the endpoint.disabled event naming it.
func TestDisabledNotifier(t *testing.T) {
	ctx := context.Background()
	st, err := boltstore.Open(t.TempDir(), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })

	gone := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusGone) }))
	t.Cleanup(gone.Close)
	notes := make(chan map[string]any, 4)
	watcher := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		json.NewDecoder(r.Body).Decode(&m)
		notes <- m
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(watcher.Close)
	for id, ep := range map[string]struct {
		url    string
		events []string
	}{"ep_gone": {gone.URL, []string{"device.*"}}, "ep_watch": {watcher.URL, []string{"endpoint.*"}}} {
		secret, _, err := profiles.Standard.GenerateKey(signing.HMAC)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		if err := st.CreateEndpoint(ctx, &endpoints.Endpoint{ID: id, TenantID: "acme", URL: ep.url, Events: ep.events,
			Profile: "standard", Algorithm: "hmac", Keys: []endpoints.Key{{Secret: secret, CreatedAt: now}},
			Timeout: time.Second, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}

	logger := slog.New(slog.NewTextHandler(t.Output(), nil))
	bell := delivery.NewDoorbell()
	svc := events.NewService(st, events.Config{Endpoints: st, Log: st, Queue: st, Waker: bell})
	eng, err := delivery.NewEngine(delivery.Config{IdleMax: 10 * time.Second, Logger: logger}, delivery.Deps{
		Queue: st, Messages: st, Endpoints: st, Doorbell: bell, Notifier: events.NewDisabledNotifier(svc, logger),
		Client: egress.NewClient(egress.ClientConfig{Policy: egress.Policy{AllowHTTP: true, AllowPrivate: true}}),
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- eng.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })

	if _, n, _, err := svc.Publish(ctx, "acme", events.PublishInput{Type: "device.removed"}); err != nil || n != 1 {
		t.Fatalf("publish: fan-out %d, %v", n, err)
	}
	select {
	case m := <-notes:
		data, _ := m["data"].(map[string]any)
		if m["type"] != events.EndpointDisabledType || data["endpoint_id"] != "ep_gone" || data["reason"] != "gone" || data["url"] != gone.URL {
			t.Fatalf("watcher got %v", m)
		}
	case <-time.After(5 * time.Second): // the engine's idle bound is 10s: only the doorbell gets it here in time
		t.Fatal("no endpoint.disabled event within 5s")
	}
	ep, err := st.GetEndpoint(ctx, "acme", "ep_gone")
	if err != nil || !ep.Disabled || ep.DisabledReason != "gone" {
		t.Fatalf("endpoint after 410: %+v, %v", ep, err)
	}
}
