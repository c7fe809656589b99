package delivery_test

import (
	"context"
	"testing"
	"time"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/endpoints"
)

// TestRateRemovedUnsticksBacklog: a backlog spaced 10 s apart by a rate of 0.1/s goes out at once when the limit is
// removed: the store re-times the deliveries held back, and the engine drops the slots it reserved under the old
// rate. Before, they kept their old slots (40 s for the last of five).
func TestRateRemovedUnsticksBacklog(t *testing.T) {
	h := newHarness(t, delivery.Config{})
	rc := newReceiver(t, nil)
	ep := h.endpoint(rc.srv.URL, "standard", func(ep *endpoints.Endpoint) { ep.RateLimit = 0.1 })
	ids := h.publish(ep, 5)
	h.start()
	// One goes at once; every other task is handed back to its slot, 10 s apart.
	eventually(t, "the backlog held back", func() bool {
		held := 0
		for _, id := range ids {
			if d := h.delivery(id); d.Status == delivery.StatusPending && d.NextAttemptAt.After(time.Now().Add(5*time.Second)) {
				held++
			}
		}
		return held == 4 && rc.count() == 1
	})
	start := time.Now()
	cur := h.getEndpoint(ep.ID)
	cur.RateLimit = 0
	if err := h.store.UpdateEndpoint(context.Background(), cur); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(delivery.StatusSucceeded, ids...)
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("the backlog took %v after the limit was removed", took)
	}
	if n := rc.count(); n != 5 {
		t.Fatalf("%d requests, want 5", n)
	}
}
