package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/events"
)

func testPublishStoresAndQueues(t *testing.T, s Store) {
	ctx := t.Context()
	m := message("ten_a", base)
	m.IdempotencyKey = "order-1"
	m.TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" // kept for the attempts' spans
	ds := []*delivery.Delivery{deliveryOf(m, "ep_1", base), deliveryOf(m, "ep_2", base)}
	stored, fanout, existing, err := s.Publish(ctx, m, ds, base.Add(-time.Hour))
	noErr(t, "Publish", err)
	if existing || fanout != 2 {
		t.Fatalf("Publish: fanout %d existing %v, want 2 false", fanout, existing)
	}
	same(t, "stored message", stored, m)

	got, err := s.GetMessage(ctx, "ten_a", m.ID)
	noErr(t, "GetMessage", err)
	same(t, "GetMessage", got, m)
	for _, d := range ds {
		same(t, "GetDelivery", getDelivery(t, s, "ten_a", d.ID), d)
	}
	list, err := s.ListDeliveries(ctx, "ten_a", delivery.Filter{MessageID: m.ID})
	noErr(t, "ListDeliveries", err)
	same(t, "ListDeliveries by message", deliveryIDs(list), sorted(deliveryIDs(ds)))

	ts := claim(t, s, base, 10, 0)
	if len(ts) != 2 {
		t.Fatalf("Claim: %d tasks, want 2", len(ts))
	}
	byID := map[string]*delivery.Delivery{ds[0].ID: ds[0], ds[1].ID: ds[1]}
	for _, tk := range ts {
		d := byID[tk.DeliveryID]
		if d == nil {
			t.Fatalf("Claim returned unknown delivery %s", tk.DeliveryID)
		}
		want := delivery.Task{DeliveryID: d.ID, TenantID: "ten_a", MessageID: m.ID, EndpointID: d.EndpointID,
			Attempt: 1, Fence: tk.Fence, LeaseUntil: base.Add(lease)}
		same(t, "task", tk, want)
		delete(byID, d.ID)
	}
}

// The body signed is the body sent, built from the producer's data: a store must give back the data byte for byte,
// not re-serialised (no compaction, no HTML escaping, no key reordering).
func testPublishKeepsDataBytes(t *testing.T, s Store) {
	ctx := t.Context()
	m := message("ten_a", base)
	m.Data = json.RawMessage("{ \"b\": \"<x> & y\",\n  \"a\": [1, 2.50, \"\\u00e9\"] }")
	_, _, _, err := s.Publish(ctx, m, []*delivery.Delivery{deliveryOf(m, "ep_1", base)}, base.Add(-time.Hour))
	noErr(t, "Publish", err)
	got, err := s.GetMessage(ctx, "ten_a", m.ID)
	noErr(t, "GetMessage", err)
	if string(got.Data) != string(m.Data) {
		t.Fatalf("GetMessage data = %q, want the published bytes %q", got.Data, m.Data)
	}
}

func testPublishNoDeliveries(t *testing.T, s Store) {
	ctx := t.Context()
	m := message("ten_a", base)
	stored, fanout, existing, err := s.Publish(ctx, m, nil, time.Time{})
	noErr(t, "Publish", err)
	if existing || fanout != 0 {
		t.Fatalf("Publish: fanout %d existing %v, want 0 false", fanout, existing)
	}
	same(t, "stored", stored, m)
	got, err := s.GetMessage(ctx, "ten_a", m.ID)
	noErr(t, "GetMessage", err)
	same(t, "GetMessage", got, m)
	if ts := claim(t, s, at(time.Hour), 10, 0); len(ts) != 0 {
		t.Fatalf("Claim: %d tasks, want 0", len(ts))
	}
}

func testPublishIdempotent(t *testing.T, s Store) {
	ctx := t.Context()
	m1 := message("ten_a", base)
	m1.IdempotencyKey = "order-1"
	ds1 := []*delivery.Delivery{deliveryOf(m1, "ep_1", base), deliveryOf(m1, "ep_2", base)}
	_, _, _, err := s.Publish(ctx, m1, ds1, at(-time.Hour))
	noErr(t, "Publish first", err)

	m2 := message("ten_a", at(time.Minute))
	m2.IdempotencyKey = "order-1"
	ds2 := []*delivery.Delivery{deliveryOf(m2, "ep_1", at(time.Minute))}
	stored, fanout, existing, err := s.Publish(ctx, m2, ds2, at(-time.Hour))
	noErr(t, "Publish again", err)
	if !existing || fanout != 2 {
		t.Fatalf("Publish again: fanout %d existing %v, want 2 true", fanout, existing)
	}
	same(t, "stored is the first message", stored, m1)

	_, err = s.GetMessage(ctx, "ten_a", m2.ID)
	isErr(t, "GetMessage of the duplicate", err, delivery.ErrNotFound)
	_, err = s.GetDelivery(ctx, "ten_a", ds2[0].ID)
	isErr(t, "GetDelivery of the duplicate", err, delivery.ErrNotFound)
	ts := claim(t, s, at(time.Hour), 10, 0)
	same(t, "claimed (only the first message's deliveries)", sorted(taskIDs(ts)), sorted(deliveryIDs(ds1)))
}

func testPublishIdempotencyPerTenant(t *testing.T, s Store) {
	ctx := t.Context()
	m1 := message("ten_a", base)
	m1.IdempotencyKey = "order-1"
	_, _, _, err := s.Publish(ctx, m1, []*delivery.Delivery{deliveryOf(m1, "ep_1", base)}, at(-time.Hour))
	noErr(t, "Publish tenant a", err)

	m2 := message("ten_b", base)
	m2.IdempotencyKey = "order-1"
	ds2 := []*delivery.Delivery{deliveryOf(m2, "ep_2", base)}
	stored, fanout, existing, err := s.Publish(ctx, m2, ds2, at(-time.Hour))
	noErr(t, "Publish tenant b", err)
	if existing || fanout != 1 {
		t.Fatalf("same key, other tenant: fanout %d existing %v, want 1 false", fanout, existing)
	}
	same(t, "stored", stored, m2)
	got, err := s.GetMessage(ctx, "ten_b", m2.ID)
	noErr(t, "GetMessage", err)
	same(t, "GetMessage", got, m2)
	if ts := claim(t, s, base, 10, 0); len(ts) != 2 {
		t.Fatalf("Claim: %d tasks, want 2", len(ts))
	}
}

func testPublishIdempotencyExpired(t *testing.T, s Store) {
	ctx := t.Context()
	m1 := message("ten_a", base)
	m1.IdempotencyKey = "order-1"
	_, _, _, err := s.Publish(ctx, m1, []*delivery.Delivery{deliveryOf(m1, "ep_1", base)}, at(-time.Hour))
	noErr(t, "Publish first", err)

	// The key was used before idemSince: a new message.
	m2 := message("ten_a", at(2*time.Hour))
	m2.IdempotencyKey = "order-1"
	ds2 := []*delivery.Delivery{deliveryOf(m2, "ep_1", at(2*time.Hour))}
	stored, fanout, existing, err := s.Publish(ctx, m2, ds2, at(time.Hour))
	noErr(t, "Publish after the window", err)
	if existing || fanout != 1 {
		t.Fatalf("expired key: fanout %d existing %v, want 1 false", fanout, existing)
	}
	same(t, "stored", stored, m2)
	got, err := s.GetMessage(ctx, "ten_a", m2.ID)
	noErr(t, "GetMessage new", err)
	same(t, "GetMessage new", got, m2)

	// The key now names the newer message.
	m3 := message("ten_a", at(3*time.Hour))
	m3.IdempotencyKey = "order-1"
	stored, fanout, existing, err = s.Publish(ctx, m3, []*delivery.Delivery{deliveryOf(m3, "ep_1", base)}, at(time.Hour))
	noErr(t, "Publish third", err)
	if !existing || fanout != 1 {
		t.Fatalf("third: fanout %d existing %v, want 1 true", fanout, existing)
	}
	same(t, "third returns the newer message", stored, m2)
}

// assertEmpty checks that nothing of tenant is stored or queued.
func assertEmpty(t *testing.T, s Store, tenant string, m *delivery.Message, ds []*delivery.Delivery) {
	t.Helper()
	ctx := context.Background()
	_, err := s.GetMessage(ctx, tenant, m.ID)
	isErr(t, "GetMessage", err, delivery.ErrNotFound)
	for _, d := range ds {
		_, err := s.GetDelivery(ctx, tenant, d.ID)
		isErr(t, "GetDelivery", err, delivery.ErrNotFound)
	}
	list, err := s.ListDeliveries(ctx, tenant, delivery.Filter{})
	noErr(t, "ListDeliveries", err)
	if len(list) != 0 {
		t.Fatalf("ListDeliveries: %d deliveries, want 0", len(list))
	}
	next, err := s.NextDue(ctx)
	noErr(t, "NextDue", err)
	if !next.IsZero() {
		t.Fatalf("NextDue = %v, want zero", next)
	}
	if ts := claim(t, s, at(time.Hour), 10, 0); len(ts) != 0 {
		t.Fatalf("Claim: %d tasks, want 0", len(ts))
	}
}

func testPublishInvalidWritesNothing(t *testing.T, s Store) {
	ctx := t.Context()
	m := message("ten_a", base)
	m.IdempotencyKey = "order-1"
	bad := deliveryOf(m, "ep_2", base)
	bad.TenantID = "ten_b" // a delivery of another tenant
	ds := []*delivery.Delivery{deliveryOf(m, "ep_1", base), bad}
	_, _, _, err := s.Publish(ctx, m, ds, time.Time{})
	isErr(t, "Publish with another tenant's delivery", err, events.ErrInvalid)
	_, _, _, err = s.Publish(ctx, m, []*delivery.Delivery{deliveryOf(m, "ep_1", base), nil}, time.Time{})
	isErr(t, "Publish with a nil delivery", err, events.ErrInvalid)
	assertEmpty(t, s, "ten_a", m, ds)

	// The idempotency key was not taken.
	ok := []*delivery.Delivery{deliveryOf(m, "ep_1", base)}
	_, fanout, existing, err := s.Publish(ctx, m, ok, time.Time{})
	noErr(t, "Publish valid", err)
	if existing || fanout != 1 {
		t.Fatalf("Publish valid: fanout %d existing %v", fanout, existing)
	}
}

func testPublishCanceledWritesNothing(t *testing.T, s Store) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	m := message("ten_a", base)
	ds := []*delivery.Delivery{deliveryOf(m, "ep_1", base)}
	if _, _, _, err := s.Publish(ctx, m, ds, time.Time{}); err == nil {
		t.Fatal("Publish with a canceled context succeeded")
	}
	assertEmpty(t, s, "ten_a", m, ds)
}

func testEnqueueReplay(t *testing.T, s Store) {
	ctx := t.Context()
	m, ds := publish(t, s, "ten_a", base, base, "ep_1")
	tk := claimOne(t, s, base)
	noErr(t, "Ack", s.Ack(ctx, tk, attempt(base, 200)))

	replay := deliveryOf(m, "ep_1", at(time.Hour))
	replay.CreatedAt = at(time.Hour)
	noErr(t, "Enqueue", s.Enqueue(ctx, []*delivery.Delivery{replay}))
	same(t, "GetDelivery replay", getDelivery(t, s, "ten_a", replay.ID), replay)
	if ts := claim(t, s, at(time.Minute), 10, 0); len(ts) != 0 {
		t.Fatalf("Claim before the replay is due: %d tasks", len(ts))
	}
	tk = claimOne(t, s, at(time.Hour))
	if tk.DeliveryID != replay.ID || tk.Attempt != 1 || tk.MessageID != m.ID {
		t.Fatalf("replay task = %+v", tk)
	}
	list, err := s.ListDeliveries(ctx, "ten_a", delivery.Filter{MessageID: m.ID})
	noErr(t, "ListDeliveries", err)
	same(t, "deliveries of the message", deliveryIDs(list), sorted([]string{ds[0].ID, replay.ID}))

	// A delivery of a message the tenant does not have is refused.
	other := message("ten_b", base)
	orphan := deliveryOf(other, "ep_9", base)
	isErr(t, "Enqueue without message", s.Enqueue(ctx, []*delivery.Delivery{orphan}), delivery.ErrNotFound)
	_, err = s.GetDelivery(ctx, "ten_b", orphan.ID)
	isErr(t, "GetDelivery of refused enqueue", err, delivery.ErrNotFound)
}

func testClaimHonoursDue(t *testing.T, s Store) {
	_, ds := publish(t, s, "ten_a", base, at(time.Minute), "ep_1")
	if ts := claim(t, s, base, 10, 0); len(ts) != 0 {
		t.Fatalf("Claim before due: %d tasks", len(ts))
	}
	if ts := claim(t, s, at(time.Minute-time.Millisecond), 10, 0); len(ts) != 0 {
		t.Fatalf("Claim 1ms before due: %d tasks", len(ts))
	}
	tk := claimOne(t, s, at(time.Minute)) // due ≤ now
	if tk.DeliveryID != ds[0].ID {
		t.Fatalf("claimed %s, want %s", tk.DeliveryID, ds[0].ID)
	}
	if ts := claim(t, s, at(time.Hour), 10, 0); len(ts) != 0 {
		t.Fatalf("Claim of a leased delivery: %d tasks", len(ts))
	}
}

func testClaimLaneOrder(t *testing.T, s Store) {
	_, d3 := publish(t, s, "ten_a", base, at(3*time.Second), "ep_1")
	_, d1 := publish(t, s, "ten_a", base, at(1*time.Second), "ep_1")
	_, d2 := publish(t, s, "ten_a", base, at(2*time.Second), "ep_1")
	var got []string
	for range 3 {
		got = append(got, claimOne(t, s, at(time.Minute)).DeliveryID)
	}
	same(t, "claim order", got, []string{d1[0].ID, d2[0].ID, d3[0].ID})
}

func testAck(t *testing.T, s Store) {
	ctx := t.Context()
	_, ds := publish(t, s, "ten_a", base, base, "ep_1")
	tk := claimOne(t, s, base)
	a := delivery.Attempt{At: at(time.Second), StatusCode: 204, Latency: 15 * time.Millisecond, Response: "ok", Outcome: "success"}
	noErr(t, "Ack", s.Ack(ctx, tk, a))

	d := getDelivery(t, s, "ten_a", ds[0].ID)
	if d.Status != delivery.StatusSucceeded || d.Attempts != 1 || d.LastCode != 204 || !d.NextAttemptAt.IsZero() {
		t.Fatalf("after ack: %+v", d)
	}
	atts, err := s.ListAttempts(ctx, "ten_a", ds[0].ID)
	noErr(t, "ListAttempts", err)
	a.DeliveryID, a.N = ds[0].ID, 1
	same(t, "attempts", atts, []delivery.Attempt{a})

	isErr(t, "Ack twice", s.Ack(ctx, tk, a), delivery.ErrLeaseLost)
	if ts := claim(t, s, at(time.Hour), 10, 0); len(ts) != 0 {
		t.Fatalf("Claim after ack: %d tasks", len(ts))
	}
	next, err := s.NextDue(ctx)
	noErr(t, "NextDue", err)
	if !next.IsZero() {
		t.Fatalf("NextDue after ack = %v", next)
	}
}

func testNack(t *testing.T, s Store) {
	ctx := t.Context()
	_, ds := publish(t, s, "ten_a", base, base, "ep_1")
	tk1 := claimOne(t, s, base)
	noErr(t, "Nack", s.Nack(ctx, tk1, delivery.Attempt{At: base, StatusCode: 503, Error: "503 Service Unavailable", Outcome: "retry"}, at(10*time.Second)))

	d := getDelivery(t, s, "ten_a", ds[0].ID)
	if d.Status != delivery.StatusPending || d.Attempts != 1 || d.LastCode != 503 || !d.NextAttemptAt.Equal(at(10*time.Second)) {
		t.Fatalf("after nack: %+v", d)
	}
	if ts := claim(t, s, at(5*time.Second), 10, 0); len(ts) != 0 {
		t.Fatalf("Claim before retryAt: %d tasks", len(ts))
	}
	tk2 := claimOne(t, s, at(10*time.Second))
	if tk2.Attempt != 2 || tk2.Fence <= tk1.Fence {
		t.Fatalf("retry task: attempt %d fence %d (first fence %d)", tk2.Attempt, tk2.Fence, tk1.Fence)
	}
	isErr(t, "Ack with the first task", s.Ack(ctx, tk1, attempt(base, 200)), delivery.ErrLeaseLost)
	noErr(t, "Ack", s.Ack(ctx, tk2, attempt(at(10*time.Second), 200)))
	if d := getDelivery(t, s, "ten_a", ds[0].ID); d.Status != delivery.StatusSucceeded || d.Attempts != 2 {
		t.Fatalf("after ack: %+v", d)
	}
}

func testFail(t *testing.T, s Store) {
	ctx := t.Context()
	_, ds := publish(t, s, "ten_a", base, base, "ep_1", "ep_2")
	ts := claim(t, s, base, 10, 0)
	if len(ts) != 2 {
		t.Fatalf("Claim: %d tasks", len(ts))
	}
	if err := s.Fail(ctx, ts[0], attempt(base, 400), delivery.StatusPending); err == nil {
		t.Fatal("Fail with status pending succeeded")
	}
	noErr(t, "Fail failed", s.Fail(ctx, ts[0], attempt(base, 400), delivery.StatusFailed))
	noErr(t, "Fail dead", s.Fail(ctx, ts[1], attempt(base, 500), delivery.StatusDead))
	want := map[string]delivery.Status{ts[0].DeliveryID: delivery.StatusFailed, ts[1].DeliveryID: delivery.StatusDead}
	for _, d := range ds {
		got := getDelivery(t, s, "ten_a", d.ID)
		if got.Status != want[d.ID] || got.Attempts != 1 || !got.Status.Terminal() {
			t.Fatalf("after fail: %+v, want status %s", got, want[d.ID])
		}
	}
	isErr(t, "Ack after fail", s.Ack(ctx, ts[0], attempt(base, 200)), delivery.ErrLeaseLost)
	if ts := claim(t, s, at(time.Hour), 10, 0); len(ts) != 0 {
		t.Fatalf("Claim after fail: %d tasks", len(ts))
	}
}

func testRelease(t *testing.T, s Store) {
	ctx := t.Context()
	_, ds := publish(t, s, "ten_a", base, base, "ep_1")
	tk1 := claimOne(t, s, base)
	noErr(t, "Release", s.Release(ctx, tk1, at(time.Minute)))
	d := getDelivery(t, s, "ten_a", ds[0].ID)
	if d.Status != delivery.StatusPending || d.Attempts != 0 || !d.NextAttemptAt.Equal(at(time.Minute)) {
		t.Fatalf("after release: %+v", d)
	}
	atts, err := s.ListAttempts(ctx, "ten_a", ds[0].ID)
	noErr(t, "ListAttempts", err)
	if len(atts) != 0 {
		t.Fatalf("release recorded %d attempts", len(atts))
	}
	if ts := claim(t, s, at(30*time.Second), 10, 0); len(ts) != 0 {
		t.Fatalf("Claim before the release time: %d tasks", len(ts))
	}
	tk2 := claimOne(t, s, at(time.Minute))
	if tk2.Attempt != 1 || tk2.Fence <= tk1.Fence {
		t.Fatalf("after release: attempt %d fence %d (first %d); release spends no attempt, fence advances", tk2.Attempt, tk2.Fence, tk1.Fence)
	}
	isErr(t, "Release again with the old task", s.Release(ctx, tk1, base), delivery.ErrLeaseLost)
}

func testExtend(t *testing.T, s Store) {
	ctx := t.Context()
	publish(t, s, "ten_a", base, base, "ep_1")
	tk := claimOne(t, s, base)
	noErr(t, "Extend", s.Extend(ctx, tk, at(2*time.Minute)))
	if n, _, err := s.Reclaim(ctx, at(time.Minute), 6, 100); err != nil || n != 0 {
		t.Fatalf("Reclaim within the extended lease: %d, %v", n, err)
	}
	noErr(t, "Ack within the extended lease", s.Ack(ctx, tk, attempt(at(90*time.Second), 200)))
	isErr(t, "Extend after ack", s.Extend(ctx, tk, at(time.Hour)), delivery.ErrLeaseLost)
}

func testReclaim(t *testing.T, s Store) {
	ctx := t.Context()
	_, ds := publish(t, s, "ten_a", base, base, "ep_1")
	tk1 := claimOne(t, s, base)
	if n, _, err := s.Reclaim(ctx, at(lease-time.Second), 6, 100); err != nil || n != 0 {
		t.Fatalf("Reclaim before expiry: %d, %v", n, err)
	}
	if n, _, err := s.Reclaim(ctx, at(lease+time.Second), 6, 100); err != nil || n != 1 {
		t.Fatalf("Reclaim after expiry: %d, %v; want 1", n, err)
	}
	d := getDelivery(t, s, "ten_a", ds[0].ID)
	if d.Status != delivery.StatusPending || d.Attempts != 1 {
		t.Fatalf("after reclaim: %+v; the expired attempt counts", d)
	}
	isErr(t, "Ack after reclaim", s.Ack(ctx, tk1, attempt(base, 200)), delivery.ErrLeaseLost)
	tk2 := claimOne(t, s, at(lease+time.Second))
	if tk2.Attempt != 2 || tk2.Fence <= tk1.Fence {
		t.Fatalf("after reclaim: attempt %d fence %d (first %d)", tk2.Attempt, tk2.Fence, tk1.Fence)
	}
	noErr(t, "Ack", s.Ack(ctx, tk2, attempt(at(lease+time.Second), 200)))
}

func testReclaimLastAttemptDead(t *testing.T, s Store) {
	ctx := t.Context()
	_, ds := publish(t, s, "ten_a", base, base, "ep_1")
	claimOne(t, s, base)
	if n, dead, err := s.Reclaim(ctx, at(time.Minute), 2, 100); err != nil || n != 1 || len(dead) != 0 {
		t.Fatalf("Reclaim attempt 1: %d, dead %+v, %v; want 1 moved, none dead", n, dead, err)
	}
	tk := claimOne(t, s, at(time.Minute))
	if tk.Attempt != 2 {
		t.Fatalf("attempt %d, want 2", tk.Attempt)
	}
	n, dead, err := s.Reclaim(ctx, at(2*time.Minute), 2, 100)
	if err != nil || n != 1 {
		t.Fatalf("Reclaim attempt 2: %d, %v", n, err)
	}
	if len(dead) != 1 || dead[0].DeliveryID != ds[0].ID || dead[0].TenantID != "ten_a" || dead[0].EndpointID != "ep_1" ||
		dead[0].MessageID != ds[0].MessageID || dead[0].Attempt != 2 {
		t.Fatalf("Reclaim attempt 2 told dead %+v; want %s of ten_a, ep_1, message %s, attempt 2", dead, ds[0].ID, ds[0].MessageID)
	}
	d := getDelivery(t, s, "ten_a", ds[0].ID)
	if d.Status != delivery.StatusDead || d.Attempts != 2 {
		t.Fatalf("after reclaiming the last attempt: %+v, want dead after 2", d)
	}
	if ts := claim(t, s, at(time.Hour), 10, 0); len(ts) != 0 {
		t.Fatalf("Claim after dead: %d tasks", len(ts))
	}
	next, err := s.NextDue(ctx)
	noErr(t, "NextDue", err)
	if !next.IsZero() {
		t.Fatalf("NextDue = %v, want zero", next)
	}
}

func testReclaimBounded(t *testing.T, s Store) {
	ctx := t.Context()
	publish(t, s, "ten_a", base, base, "ep_1", "ep_2", "ep_3")
	if ts := claim(t, s, base, 10, 0); len(ts) != 3 {
		t.Fatalf("Claim: %d", len(ts))
	}
	if n, _, err := s.Reclaim(ctx, at(time.Minute), 6, 2); err != nil || n != 2 {
		t.Fatalf("Reclaim max 2: %d, %v", n, err)
	}
	if n, _, err := s.Reclaim(ctx, at(time.Minute), 6, 2); err != nil || n != 1 {
		t.Fatalf("Reclaim the rest: %d, %v", n, err)
	}
	if n, _, err := s.Reclaim(ctx, at(time.Minute), 6, 2); err != nil || n != 0 {
		t.Fatalf("Reclaim nothing left: %d, %v", n, err)
	}
	if ts := claim(t, s, at(time.Minute), 10, 0); len(ts) != 3 {
		t.Fatalf("Claim after reclaim: %d, want 3", len(ts))
	}
}

// testStaleFence: once a task's lease moved on, every result with the old task is refused and changes nothing.
func testStaleFence(t *testing.T, s Store) {
	ctx := t.Context()
	_, ds := publish(t, s, "ten_a", base, base, "ep_1")
	old := claimOne(t, s, base)
	if n, _, err := s.Reclaim(ctx, at(time.Minute), 6, 100); err != nil || n != 1 {
		t.Fatalf("Reclaim: %d, %v", n, err)
	}
	cur := claimOne(t, s, at(time.Minute))
	before := getDelivery(t, s, "ten_a", ds[0].ID)
	isErr(t, "Ack stale", s.Ack(ctx, old, attempt(base, 200)), delivery.ErrLeaseLost)
	isErr(t, "Nack stale", s.Nack(ctx, old, attempt(base, 500), at(time.Hour)), delivery.ErrLeaseLost)
	isErr(t, "Fail stale", s.Fail(ctx, old, attempt(base, 400), delivery.StatusFailed), delivery.ErrLeaseLost)
	isErr(t, "Release stale", s.Release(ctx, old, base), delivery.ErrLeaseLost)
	isErr(t, "Extend stale", s.Extend(ctx, old, at(time.Hour)), delivery.ErrLeaseLost)
	forged := cur
	forged.Fence++
	isErr(t, "Ack with a future fence", s.Ack(ctx, forged, attempt(base, 200)), delivery.ErrLeaseLost)
	same(t, "delivery after stale results", getDelivery(t, s, "ten_a", ds[0].ID), before)
	noErr(t, "Ack current", s.Ack(ctx, cur, attempt(at(time.Minute), 200)))
}

func testMaxInFlight(t *testing.T, s Store) {
	ctx := t.Context()
	for i := range 5 {
		publish(t, s, "ten_a", base, at(time.Duration(i)*time.Second), "ep_big")
	}
	publish(t, s, "ten_a", base, at(10*time.Second), "ep_small")
	ts := claim(t, s, at(time.Minute), 10, 2)
	if perEP := perEndpoint(ts); perEP["ep_big"] != 2 || perEP["ep_small"] != 1 {
		t.Fatalf("Claim with MaxInFlight 2: %v", perEP)
	}
	if more := claim(t, s, at(time.Minute), 10, 2); len(more) != 0 {
		t.Fatalf("Claim at the cap: %d tasks", len(more))
	}
	for _, tk := range ts {
		if tk.EndpointID == "ep_big" {
			noErr(t, "Ack", s.Ack(ctx, tk, attempt(at(time.Minute), 200)))
			break
		}
	}
	more := claim(t, s, at(time.Minute), 10, 2)
	if len(more) != 1 || more[0].EndpointID != "ep_big" {
		t.Fatalf("Claim after one ack: %v, want one ep_big task", taskIDs(more))
	}
	// Caps are per claim (replicas may run with different ones): without a cap the rest comes at once.
	if rest := claim(t, s, at(time.Minute), 10, 0); len(rest) != 2 {
		t.Fatalf("Claim without a cap: %d, want 2", len(rest))
	}
}

// testHoldSlow: a held endpoint is leased one task at a time, beside another endpoint that keeps its cap, and gives
// the next only when that task ends; a lifted hold lets its cap back once its task is out of the way; an expired hold
// holds nothing.
func testHoldSlow(t *testing.T, s Store) {
	ctx := t.Context()
	taskOf := func(ts []delivery.Task, ep string) delivery.Task {
		for _, tk := range ts {
			if tk.EndpointID == ep {
				return tk
			}
		}
		t.Fatalf("no %s task in %v", ep, taskIDs(ts))
		return delivery.Task{}
	}
	for i := range 5 {
		publish(t, s, "ten_a", base, at(time.Duration(i)*time.Second), "ep_slow")
	}
	publish(t, s, "ten_a", base, at(0), "ep_ok")
	publish(t, s, "ten_a", base, at(0), "ep_ok")
	noErr(t, "HoldSlow", s.HoldSlow(ctx, "ep_slow", at(10*time.Minute)))

	now := at(time.Minute)
	first := claim(t, s, now, 10, 4)
	if n := perEndpoint(first); n["ep_slow"] != 1 || n["ep_ok"] != 2 {
		t.Fatalf("claim with ep_slow held: %v, want 1 of ep_slow and 2 of ep_ok", n)
	}
	if more := claim(t, s, now, 10, 4); len(more) != 0 {
		t.Fatalf("claim while the held endpoint's task is out: %v", taskIDs(more))
	}
	noErr(t, "Nack", s.Nack(ctx, taskOf(first, "ep_slow"), attempt(now, 0), at(time.Hour)))
	second := claim(t, s, now, 10, 4)
	if n := perEndpoint(second); n["ep_slow"] != 1 || len(second) != 1 {
		t.Fatalf("claim after the held task ended: %v, want one of ep_slow", n)
	}

	// Lifted: once the task out ends, the rest (four due, the nacked one is not) comes up to the cap.
	noErr(t, "HoldSlow lift", s.HoldSlow(ctx, "ep_slow", time.Time{}))
	noErr(t, "Release", s.Release(ctx, second[0], now))
	if n := perEndpoint(claim(t, s, now, 10, 4)); n["ep_slow"] != 4 {
		t.Fatalf("claim after the hold was lifted: %v, want 4 of ep_slow", n)
	}

	// Expired: a hold until a time before the claim's now holds nothing.
	for range 3 {
		publish(t, s, "ten_a", base, at(0), "ep_was")
	}
	noErr(t, "HoldSlow", s.HoldSlow(ctx, "ep_was", at(30*time.Second)))
	if n := perEndpoint(claim(t, s, now, 10, 4)); n["ep_was"] != 3 {
		t.Fatalf("claim after the hold expired: %v, want 3 of ep_was", n)
	}
}

// perEndpoint counts tasks by endpoint.
func perEndpoint(ts []delivery.Task) map[string]int {
	n := map[string]int{}
	for _, tk := range ts {
		n[tk.EndpointID]++
	}
	return n
}

// testFairness: one endpoint with a deep backlog cannot starve the others.
func testFairness(t *testing.T, s Store) {
	ctx := t.Context()
	m := message("ten_a", base)
	ds := make([]*delivery.Delivery, 500)
	for i := range ds {
		ds[i] = deliveryOf(m, "ep_big", at(time.Duration(i)*time.Millisecond)) // due before every small one
	}
	_, _, _, err := s.Publish(ctx, m, ds, time.Time{})
	noErr(t, "Publish backlog", err)
	for i := range 20 {
		publish(t, s, "ten_a", base, at(time.Second+time.Duration(i)*time.Millisecond), fmt.Sprintf("ep_small_%02d", i))
	}
	now := at(time.Minute)
	bigTasks, smallSeen := 0, map[string]bool{}
	for round := 0; len(smallSeen) < 20; round++ {
		ts := claim(t, s, now, 4, 0)
		if len(ts) == 0 || round > 200 {
			t.Fatalf("round %d: %d tasks; small endpoints served %d of 20", round, len(ts), len(smallSeen))
		}
		for _, tk := range ts {
			if tk.EndpointID == "ep_big" {
				bigTasks++
			} else {
				smallSeen[tk.EndpointID] = true
			}
		}
		if bigTasks >= 25 {
			t.Fatalf("the backlog endpoint got %d tasks before %d of 20 small endpoints were served", bigTasks, len(smallSeen))
		}
	}
	t.Logf("all 20 small endpoints served after %d tasks of the backlog endpoint", bigTasks)
}

func testNextDue(t *testing.T, s Store) {
	ctx := t.Context()
	next := func() time.Time {
		t.Helper()
		n, err := s.NextDue(ctx)
		noErr(t, "NextDue", err)
		return n
	}
	if n := next(); !n.IsZero() {
		t.Fatalf("NextDue of an empty store = %v", n)
	}
	publish(t, s, "ten_a", base, at(5*time.Minute), "ep_2")
	if n := next(); !n.Equal(at(5 * time.Minute)) {
		t.Fatalf("NextDue = %v, want +5m", n)
	}
	publish(t, s, "ten_a", base, at(time.Minute), "ep_1")
	if n := next(); !n.Equal(at(time.Minute)) {
		t.Fatalf("NextDue = %v, want +1m", n)
	}
	tk := claimOne(t, s, at(time.Minute))
	if n := next(); !n.Equal(at(5 * time.Minute)) {
		t.Fatalf("NextDue after claim = %v, want +5m", n)
	}
	noErr(t, "Nack", s.Nack(ctx, tk, attempt(at(time.Minute), 500), at(2*time.Minute)))
	if n := next(); !n.Equal(at(2 * time.Minute)) {
		t.Fatalf("NextDue after nack = %v, want +2m", n)
	}
}
