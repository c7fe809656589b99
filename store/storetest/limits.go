package storetest

import (
	"testing"
	"time"

	"github.com/webhookd/webhookd/delivery"
)

// testClaimLimits: ClaimOptions.Limits lowers the in-flight cap of the endpoints it names, for that claim, beside an
// endpoint that keeps the cap; an endpoint at its limit gives its next task only when one of its tasks ends, and a
// claim without the limit serves it up to the cap again once it is below that limit.
func testClaimLimits(t *testing.T, s Store) {
	ctx := t.Context()
	for range 5 {
		publish(t, s, "ten_a", base, at(0), "ep_lim")
		publish(t, s, "ten_a", base, at(0), "ep_free")
	}
	now := at(time.Minute)
	limits := map[string]int{"ep_lim": 2}
	claimL := func(max int) []delivery.Task {
		t.Helper()
		ts, err := s.Claim(ctx, now, delivery.ClaimOptions{Max: max, Lease: lease, MaxInFlight: 8, Limits: limits})
		if err != nil {
			t.Fatalf("Claim: %v", err)
		}
		return ts
	}
	first := claimL(20)
	if n := perEndpoint(first); n["ep_lim"] != 2 || n["ep_free"] != 5 {
		t.Fatalf("claim with ep_lim limited to 2: %v, want 2 of ep_lim and 5 of ep_free", n)
	}
	if more := claimL(20); len(more) != 0 {
		t.Fatalf("claim while ep_lim is at its limit: %v", taskIDs(more))
	}
	var lim delivery.Task
	for _, tk := range first {
		if tk.EndpointID == "ep_lim" {
			lim = tk
		}
	}
	noErr(t, "Ack", s.Ack(ctx, lim, attempt(now, 200)))
	if n := perEndpoint(claimL(20)); n["ep_lim"] != 1 || len(n) != 1 {
		t.Fatalf("claim after one of ep_lim's tasks ended: %v, want one of ep_lim", n)
	}
	// Without the limit the cap of 8 holds: once a task of ep_lim ends (which unparks it), the last 2 in its lane go
	// beside the one still out.
	limits = nil
	for _, tk := range first {
		if tk.EndpointID == "ep_lim" && tk.DeliveryID != lim.DeliveryID {
			noErr(t, "Ack", s.Ack(ctx, tk, attempt(now, 200)))
		}
	}
	if n := perEndpoint(claimL(20)); n["ep_lim"] != 2 {
		t.Fatalf("claim without the limit: %v, want the 2 left of ep_lim", n)
	}
}
