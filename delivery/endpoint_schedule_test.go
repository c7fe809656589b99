package delivery_test

import (
	"context"
	"testing"
	"time"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/endpoints"
)

// TestReclaimPastEndpointSchedule: Reclaim allows the longest schedule any endpoint may have, so a task reclaimed
// past its own endpoint's schedule (here no retries) is dead without another request.
func TestReclaimPastEndpointSchedule(t *testing.T) {
	h := newHarness(t, delivery.Config{})
	rc := newReceiver(t, nil)
	none := 0
	ep := h.endpoint(rc.srv.URL, "standard", func(e *endpoints.Endpoint) { e.Retries = &none })
	ids := h.publish(ep, 1)
	tasks, err := h.store.Claim(context.Background(), time.Now(), delivery.ClaimOptions{Max: 1, Lease: 50 * time.Millisecond})
	if err != nil || len(tasks) != 1 {
		t.Fatalf("claim: %v, %v", tasks, err)
	}
	h.start() // the dead worker's lease expires; its attempt was the only one
	h.waitStatus(delivery.StatusDead, ids...)
	if as := h.attempts(ids[0]); len(as) != 2 || as[0].Error != "lease expired" || as[1].Error != "retry schedule spent" {
		t.Fatalf("attempts %+v", as)
	}
	if rc.count() != 0 {
		t.Fatal("a request went out past the endpoint's schedule")
	}
}
