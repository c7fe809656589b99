package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/webhookd/webhookd/delivery"
)

// setRate changes an endpoint's rate limit through UpdateEndpoint, as a PATCH does.
func setRate(t *testing.T, s Store, tenant, id string, rate float64) {
	t.Helper()
	e, err := s.GetEndpoint(context.Background(), tenant, id)
	noErr(t, "GetEndpoint", err)
	e.RateLimit = rate
	noErr(t, "UpdateEndpoint rate", s.UpdateEndpoint(context.Background(), e))
}

// testRetimeOnRateChange: deliveries held back under a slow rate (0.01/s: 100 s apart) are not left so when the
// limit is removed. A backend that enforces rates itself (Redis) holds them in its claim; one that leaves it to the
// engine (bbolt) gets them released by the engine, 100 s apart. Either way, after the change they are due now, as
// their next_attempt_at says.
func testRetimeOnRateChange(t *testing.T, s Store) {
	ctx := t.Context()
	ep := endpoint("ten_a", "ep_1")
	ep.RateLimit = 0.01
	noErr(t, "CreateEndpoint", s.CreateEndpoint(ctx, ep))
	var ids []string
	for range 3 {
		_, ds := publish(t, s, "ten_a", base, base, "ep_1")
		ids = append(ids, ds[0].ID)
	}
	// What the engine does at 0.01/s: the first goes, the others wait for their slots.
	ts := claim(t, s, base, 10, 0)
	if len(ts) == 0 {
		t.Fatal("nothing claimed")
	}
	noErr(t, "Ack", s.Ack(ctx, ts[0], delivery.Attempt{N: 1, At: base, StatusCode: 200, Outcome: "success"}))
	for i, tk := range ts[1:] {
		noErr(t, "Release", s.Release(ctx, tk, at(time.Duration(i+1)*100*time.Second)))
	}
	if ts := claim(t, s, at(time.Second), 10, 0); len(ts) != 0 {
		t.Fatalf("Claim 1 s later at 0.01/s: %d tasks, want none", len(ts))
	}

	setRate(t, s, "ten_a", "ep_1", 0) // the limit is removed
	for _, id := range ids[1:] {
		if d := getDelivery(t, s, "ten_a", id); d.Status == delivery.StatusPending && d.NextAttemptAt.After(at(time.Second)) {
			t.Errorf("delivery %s: next_attempt_at %v after the limit was removed, want due by %v", id, d.NextAttemptAt, at(time.Second))
		}
	}
	if ts := claim(t, s, at(time.Second), 10, 0); len(ts) != 2 {
		t.Fatalf("Claim after the limit was removed: %d tasks, want the 2 waiting", len(ts))
	}
}

// testRetimeKeepsBackoff: a change of rate re-times the deliveries held back unspent, at the new rate, and leaves a
// retry waiting for its backoff alone.
func testRetimeKeepsBackoff(t *testing.T, s Store) {
	ctx := t.Context()
	noErr(t, "CreateEndpoint", s.CreateEndpoint(ctx, endpoint("ten_a", "ep_1"))) // 2.5/s
	setRate(t, s, "ten_a", "ep_1", 0)
	_, d1 := publish(t, s, "ten_a", base, base, "ep_1")
	_, d2 := publish(t, s, "ten_a", base, base, "ep_1")
	_, d3 := publish(t, s, "ten_a", base, base, "ep_1")
	ts := claim(t, s, base, 10, 0)
	if len(ts) != 3 {
		t.Fatalf("Claim: %d tasks, want 3", len(ts))
	}
	byID := map[string]delivery.Task{}
	for _, tk := range ts {
		byID[tk.DeliveryID] = tk
	}
	retry := at(time.Hour)
	noErr(t, "Nack", s.Nack(ctx, byID[d1[0].ID], delivery.Attempt{N: 1, At: base, StatusCode: 500, Outcome: "retry"}, retry))
	noErr(t, "Release", s.Release(ctx, byID[d2[0].ID], at(time.Hour)))
	noErr(t, "Release", s.Release(ctx, byID[d3[0].ID], at(2*time.Hour)))

	setRate(t, s, "ten_a", "ep_1", 2) // 2/s: the held-back ones go now and 0.5 s later
	if d := getDelivery(t, s, "ten_a", d1[0].ID); !d.NextAttemptAt.Equal(retry) {
		t.Errorf("the retry: next_attempt_at %v, want its backoff's %v", d.NextAttemptAt, retry)
	}
	for _, d := range []*delivery.Delivery{d2[0], d3[0]} {
		if got := getDelivery(t, s, "ten_a", d.ID); got.NextAttemptAt.After(at(time.Second)) {
			t.Errorf("held back %s: next_attempt_at %v, want re-timed to the new rate", d.ID, got.NextAttemptAt)
		}
	}
	got := claim(t, s, at(time.Second), 10, 0)
	if len(got) != 2 {
		t.Fatalf("Claim after the change: %d tasks, want the 2 held back", len(got))
	}
	for _, tk := range got {
		if tk.DeliveryID == d1[0].ID {
			t.Fatal("the retry was claimed before its backoff")
		}
	}
}

// testRateWaitShown: while a backend's own rate limit holds a due delivery back (Redis enforces rates in its claim),
// the delivery's next_attempt_at is when it will go, not its original due time in the past. A backend that leaves
// rates to the engine hands it out, and the engine's Release records the time.
func testRateWaitShown(t *testing.T, s Store) {
	ctx := t.Context()
	ep := endpoint("ten_a", "ep_1")
	ep.RateLimit = 0.01
	noErr(t, "CreateEndpoint", s.CreateEndpoint(ctx, ep))
	publish(t, s, "ten_a", base, base, "ep_1")
	_, d2 := publish(t, s, "ten_a", base, base, "ep_1")
	ts := claim(t, s, base, 10, 0)
	for _, tk := range ts {
		if tk.DeliveryID == d2[0].ID { // the engine's limiter holds it back to its slot
			noErr(t, "Release", s.Release(ctx, tk, at(100*time.Second)))
		}
	}
	if d := getDelivery(t, s, "ten_a", d2[0].ID); d.NextAttemptAt.Before(at(99 * time.Second)) {
		t.Errorf("held back by the rate: next_attempt_at %v, want when it may go (about %v)", d.NextAttemptAt, at(100*time.Second))
	}
}

// testRetimeSeesReleaseInFlight: removing a rate limit also moves a delivery whose release (spaced by the old rate)
// is being committed when the change comes: a client that saw the release in the log and then removed the limit
// finds the delivery due at once, not at its old slot.
func testRetimeSeesReleaseInFlight(t *testing.T, s Store) {
	ctx := t.Context()
	for i := range 60 { // the window is one commit wide: rounds enough to hit it on the old code
		id := fmt.Sprintf("ep_%02d", i)
		ep := endpoint("ten_a", id)
		ep.RateLimit = 0.01
		noErr(t, "CreateEndpoint", s.CreateEndpoint(ctx, ep))
		_, ds := publish(t, s, "ten_a", base, base, id)
		ts := claim(t, s, base, 10, 0)
		wantTasks(t, "claim", ts, ds[0])
		slot := at(time.Duration(i+1) * time.Hour)
		whileEnding(t, fmt.Sprintf("round %d: remove the limit", i), func() error {
			return s.Release(ctx, ts[0], slot)
		}, getter(s, ds[0].ID), func(_ int, d *delivery.Delivery) (bool, error) {
			if !d.NextAttemptAt.Equal(slot) {
				return false, nil
			}
			e, err := s.GetEndpoint(ctx, "ten_a", id) // the release is in the log: remove the limit
			if err == nil {
				e.RateLimit = 0
				err = s.UpdateEndpoint(ctx, e)
			}
			return true, err
		})
		got := claim(t, s, at(time.Second), 10, 0)
		if len(got) != 1 || got[0].DeliveryID != ds[0].ID {
			d := getDelivery(t, s, "ten_a", ds[0].ID)
			t.Fatalf("round %d: claim after the limit was removed: %d tasks, want %s (next_attempt_at %v)", i, len(got),
				ds[0].ID, d.NextAttemptAt)
		}
		noErr(t, "Ack", s.Ack(ctx, got[0], delivery.Attempt{N: 1, At: base, StatusCode: 200, Outcome: "success"}))
	}
}
