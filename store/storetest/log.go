package storetest

import (
	"testing"
	"time"

	"github.com/webhookd/webhookd/delivery"
)

func testListDeliveriesFilters(t *testing.T, s Store) {
	ctx := t.Context()
	m1, d1 := publish(t, s, "ten_a", base, base, "ep_1", "ep_2")
	m2, d2 := publish(t, s, "ten_a", at(time.Hour), at(time.Hour), "ep_1")
	_, d3 := publish(t, s, "ten_b", base, base, "ep_3")
	// Succeed m1's delivery to ep_1.
	for _, tk := range claim(t, s, base, 10, 0) {
		if tk.EndpointID == "ep_1" {
			noErr(t, "Ack", s.Ack(ctx, tk, attempt(base, 200)))
		} else {
			noErr(t, "Release", s.Release(ctx, tk, base))
		}
	}
	all := sorted(append(deliveryIDs(d1), d2[0].ID))
	var ep1 []string
	for _, d := range append(d1, d2...) {
		if d.EndpointID == "ep_1" {
			ep1 = append(ep1, d.ID)
		}
	}
	ep1 = sorted(ep1)
	succeeded, pending := "", []string(nil)
	for _, d := range d1 {
		if d.EndpointID == "ep_1" {
			succeeded = d.ID
		}
	}
	for _, id := range all {
		if id != succeeded {
			pending = append(pending, id)
		}
	}
	list := func(f delivery.Filter) []string {
		t.Helper()
		ds, err := s.ListDeliveries(ctx, "ten_a", f)
		noErr(t, "ListDeliveries", err)
		for _, d := range ds {
			if d.TenantID != "ten_a" {
				t.Fatalf("ListDeliveries(ten_a) returned %s of %s", d.ID, d.TenantID)
			}
		}
		return deliveryIDs(ds)
	}
	for _, tc := range []struct {
		name string
		f    delivery.Filter
		want []string
	}{
		{"all", delivery.Filter{}, all},
		{"endpoint", delivery.Filter{EndpointID: "ep_1"}, ep1},
		{"message", delivery.Filter{MessageID: m1.ID}, sorted(deliveryIDs(d1))},
		{"message 2", delivery.Filter{MessageID: m2.ID}, []string{d2[0].ID}},
		{"status succeeded", delivery.Filter{Status: delivery.StatusSucceeded}, []string{succeeded}},
		{"status pending", delivery.Filter{Status: delivery.StatusPending}, pending},
		{"since", delivery.Filter{Since: at(30 * time.Minute)}, []string{d2[0].ID}},
		{"since inclusive", delivery.Filter{Since: at(time.Hour)}, []string{d2[0].ID}},
		{"until", delivery.Filter{Until: at(30 * time.Minute)}, sorted(deliveryIDs(d1))},
		{"until exclusive", delivery.Filter{Until: at(time.Hour)}, sorted(deliveryIDs(d1))},
		{"endpoint and status", delivery.Filter{EndpointID: "ep_1", Status: delivery.StatusPending}, []string{d2[0].ID}},
		{"endpoint and message", delivery.Filter{EndpointID: "ep_2", MessageID: m2.ID}, nil},
		{"another tenant's endpoint", delivery.Filter{EndpointID: "ep_3"}, nil},
		{"another tenant's message", delivery.Filter{MessageID: d3[0].MessageID}, nil},
		{"limit", delivery.Filter{Limit: 2}, all[:2]},
		{"after", delivery.Filter{After: all[0]}, all[1:]},
		{"after the last", delivery.Filter{After: all[2]}, nil},
		{"endpoint after", delivery.Filter{EndpointID: "ep_1", After: ep1[0]}, ep1[1:]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := list(tc.f)
			if len(got) == 0 && len(tc.want) == 0 {
				return
			}
			same(t, "ids", got, tc.want)
		})
	}
	// Paging with a cursor, one at a time, walks the same list.
	var paged []string
	f := delivery.Filter{Limit: 1}
	for range 10 {
		page := list(f)
		if len(page) == 0 {
			break
		}
		paged = append(paged, page...)
		f.After = page[len(page)-1]
	}
	same(t, "paged one by one", paged, all)
	if got := deliveryIDsOf(t, s, "ten_b"); len(got) != 1 || got[0] != d3[0].ID {
		t.Fatalf("ten_b deliveries = %v", got)
	}
}

func deliveryIDsOf(t *testing.T, s Store, tenant string) []string {
	t.Helper()
	ds, err := s.ListDeliveries(t.Context(), tenant, delivery.Filter{})
	noErr(t, "ListDeliveries", err)
	return deliveryIDs(ds)
}

func testLogTenantScope(t *testing.T, s Store) {
	ctx := t.Context()
	m, ds := publish(t, s, "ten_a", base, base, "ep_1")
	tk := claimOne(t, s, base)
	noErr(t, "Ack", s.Ack(ctx, tk, attempt(base, 200)))

	_, err := s.GetMessage(ctx, "ten_b", m.ID)
	isErr(t, "GetMessage of another tenant", err, delivery.ErrNotFound)
	_, err = s.GetDelivery(ctx, "ten_b", ds[0].ID)
	isErr(t, "GetDelivery of another tenant", err, delivery.ErrNotFound)
	_, err = s.ListAttempts(ctx, "ten_b", ds[0].ID)
	isErr(t, "ListAttempts of another tenant", err, delivery.ErrNotFound)
	for _, f := range []delivery.Filter{{}, {MessageID: m.ID}, {EndpointID: "ep_1"}} {
		got, err := s.ListDeliveries(ctx, "ten_b", f)
		noErr(t, "ListDeliveries", err)
		if len(got) != 0 {
			t.Fatalf("ListDeliveries(ten_b, %+v) = %d deliveries", f, len(got))
		}
	}
	_, err = s.GetMessage(ctx, "ten_a", "msg_unknown")
	isErr(t, "GetMessage unknown", err, delivery.ErrNotFound)
	_, err = s.GetDelivery(ctx, "ten_a", "dlv_unknown")
	isErr(t, "GetDelivery unknown", err, delivery.ErrNotFound)
	_, err = s.ListAttempts(ctx, "ten_a", "dlv_unknown")
	isErr(t, "ListAttempts unknown", err, delivery.ErrNotFound)
}

func testListAttempts(t *testing.T, s Store) {
	ctx := t.Context()
	_, ds := publish(t, s, "ten_a", base, base, "ep_1")
	a1 := delivery.Attempt{At: base, StatusCode: 500, Latency: 30 * time.Millisecond, Error: "500 Internal Server Error", Response: "boom", Outcome: "retry"}
	a2 := delivery.Attempt{At: at(time.Minute), StatusCode: 200, Latency: 10 * time.Millisecond, Response: "ok", Outcome: "success"}
	noErr(t, "Nack", s.Nack(ctx, claimOne(t, s, base), a1, at(time.Minute)))
	noErr(t, "Ack", s.Ack(ctx, claimOne(t, s, at(time.Minute)), a2))
	got, err := s.ListAttempts(ctx, "ten_a", ds[0].ID)
	noErr(t, "ListAttempts", err)
	a1.DeliveryID, a1.N = ds[0].ID, 1
	a2.DeliveryID, a2.N = ds[0].ID, 2
	same(t, "attempts", got, []delivery.Attempt{a1, a2})
	d := getDelivery(t, s, "ten_a", ds[0].ID)
	if d.Status != delivery.StatusSucceeded || d.Attempts != 2 || d.LastCode != 200 {
		t.Fatalf("delivery after nack, ack: %+v", d)
	}
}

func testPrune(t *testing.T, s Store) {
	ctx := t.Context()
	cutoff := at(24 * time.Hour)
	old, now, later := at(time.Hour), at(48*time.Hour), at(49*time.Hour)
	// m1 (old): d1a succeeds, d1b stays pending. m2 (old, keyed): d2 dies. m3 (new): d3 succeeds.
	m1, d1 := publish(t, s, "ten_a", old, old, "ep_1", "ep_2")
	m2 := message("ten_a", old)
	m2.IdempotencyKey = "order-2"
	d2 := []*delivery.Delivery{deliveryOf(m2, "ep_1", old)}
	_, _, _, err := s.Publish(ctx, m2, d2, time.Time{})
	noErr(t, "Publish m2", err)
	m3, d3 := publish(t, s, "ten_b", now, now, "ep_3")
	for _, tk := range claim(t, s, old, 10, 0) {
		switch tk.DeliveryID {
		case d1[0].ID:
			noErr(t, "Ack", s.Ack(ctx, tk, attempt(old, 200)))
		case d2[0].ID:
			noErr(t, "Fail", s.Fail(ctx, tk, attempt(old, 500), delivery.StatusDead))
		default:
			noErr(t, "Release", s.Release(ctx, tk, later))
		}
	}
	noErr(t, "Ack d3", s.Ack(ctx, claimOne(t, s, now), attempt(now, 200)))

	n, err := s.Prune(ctx, cutoff)
	noErr(t, "Prune", err)
	if n != 2 {
		t.Fatalf("Prune deleted %d deliveries, want 2", n)
	}
	for _, id := range []string{d1[0].ID, d2[0].ID} {
		_, err := s.GetDelivery(ctx, "ten_a", id)
		isErr(t, "GetDelivery pruned", err, delivery.ErrNotFound)
		_, err = s.ListAttempts(ctx, "ten_a", id)
		isErr(t, "ListAttempts pruned", err, delivery.ErrNotFound)
	}
	_, err = s.GetMessage(ctx, "ten_a", m2.ID)
	isErr(t, "GetMessage of a message without deliveries", err, delivery.ErrNotFound)
	// Kept: the old pending delivery and its message, and everything newer than the cutoff.
	if d := getDelivery(t, s, "ten_a", d1[1].ID); d.Status != delivery.StatusPending {
		t.Fatalf("pending delivery after prune: %+v", d)
	}
	_, err = s.GetMessage(ctx, "ten_a", m1.ID)
	noErr(t, "GetMessage still used", err)
	_, err = s.GetMessage(ctx, "ten_b", m3.ID)
	noErr(t, "GetMessage new", err)
	if d := getDelivery(t, s, "ten_b", d3[0].ID); d.Status != delivery.StatusSucceeded {
		t.Fatalf("new delivery after prune: %+v", d)
	}
	atts, err := s.ListAttempts(ctx, "ten_b", d3[0].ID)
	noErr(t, "ListAttempts new", err)
	if len(atts) != 1 {
		t.Fatalf("attempts of the new delivery: %d", len(atts))
	}
	same(t, "ten_a deliveries after prune", deliveryIDsOf(t, s, "ten_a"), []string{d1[1].ID})
	// The pending one is still claimable.
	if tk := claimOne(t, s, later); tk.DeliveryID != d1[1].ID {
		t.Fatalf("claimed %s, want %s", tk.DeliveryID, d1[1].ID)
	}
	// A pruned message is never an idempotent answer.
	m4 := message("ten_a", now)
	m4.IdempotencyKey = "order-2"
	stored, _, existing, err := s.Publish(ctx, m4, nil, time.Time{})
	noErr(t, "Publish with a pruned message's key", err)
	if existing || stored.ID != m4.ID {
		t.Fatalf("Publish with a pruned message's key: existing %v, stored %s", existing, stored.ID)
	}
	// Nothing more to prune.
	if n, err := s.Prune(ctx, cutoff); err != nil || n != 0 {
		t.Fatalf("Prune again: %d, %v", n, err)
	}
}
