package delivery_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/egress"
	"github.com/webhookd/webhookd/endpoints"
	boltstore "github.com/webhookd/webhookd/store/boltstore"
)

// healthRecorder records the failing notices it is given.
type healthRecorder struct {
	mu      sync.Mutex
	failing []string
	news    chan struct{}
}

func (h *healthRecorder) EndpointDisabled(context.Context, *endpoints.Endpoint, string)     {}
func (h *healthRecorder) EndpointRecovered(context.Context, *endpoints.Endpoint, time.Time) {}
func (h *healthRecorder) DeliveryExhausted(context.Context, *endpoints.Endpoint, delivery.Task, delivery.Attempt) {
}
func (h *healthRecorder) EndpointFailing(_ context.Context, ep *endpoints.Endpoint, lastError string) {
	h.mu.Lock()
	h.failing = append(h.failing, ep.ID+": "+lastError)
	h.mu.Unlock()
	select {
	case h.news <- struct{}{}:
	default:
	}
}

func (h *healthRecorder) got() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.failing...)
}

// TestFailingCheck: an endpoint failing for FailingAfter is reported by the periodic check without a new attempt,
// once per spell; one failing for less, a disabled one and a healthy one are not.
func TestFailingCheck(t *testing.T) {
	st, err := boltstore.Open(t.TempDir(), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rec := &healthRecorder{news: make(chan struct{}, 1)}
	eng, err := delivery.NewEngine(delivery.Config{FailingAfter: 5 * time.Minute}, delivery.Deps{
		Queue: st, Messages: st, Endpoints: st, Notifier: rec, Client: egress.NewClient(egress.ClientConfig{}),
	})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	eps := []*endpoints.Endpoint{
		{ID: "ep_long", TenantID: "acme", FailingSince: now.Add(-10 * time.Minute)},
		{ID: "ep_short", TenantID: "acme", FailingSince: now.Add(-time.Minute)},
		{ID: "ep_off", TenantID: "acme", FailingSince: now.Add(-time.Hour), Disabled: true},
		{ID: "ep_ok", TenantID: "acme"},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- eng.RunFailingCheck(ctx, time.Millisecond, func(context.Context) ([]*endpoints.Endpoint, error) { return eps, nil })
	}()
	select {
	case <-rec.news:
	case <-time.After(10 * time.Second):
		t.Fatal("no failing notice")
	}
	// Several more rounds: still one notice for the spell.
	eng.CheckFailing(ctx, eps[0], time.Now())
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := rec.got()
	if len(got) != 1 || got[0][:len("ep_long: no successful delivery since")] != "ep_long: no successful delivery since" {
		t.Fatalf("notices %q", got)
	}
	// A new spell is reported again.
	next := *eps[0]
	next.FailingSince = now.Add(-6 * time.Minute)
	eng.CheckFailing(context.Background(), &next, time.Now())
	if got := rec.got(); len(got) != 2 {
		t.Fatalf("a new spell: notices %q", got)
	}
}
