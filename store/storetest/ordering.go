package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/webhookd/webhookd/delivery"
)

// RunOrdering runs the conformance cases of ordering keys: per endpoint and key one delivery at a time, in publish
// order. open returns a fresh, empty store; RunOrdering closes it.
func RunOrdering(t *testing.T, open func(t *testing.T) Store) {
	runCases(t, open, append([]testCase[Store]{
		{"HeadOnly", testOrderHeadOnly},
		{"RetryHoldsKey", testOrderRetryHoldsKey},
		{"FailedReleasesKey", testOrderFailedReleasesKey},
		{"LeaseExpiryHoldsKey", testOrderLeaseExpiry},
		{"ReplayJoinsBack", testOrderReplayJoinsBack},
		{"WaitingOn", testOrderWaitingOn},
		{"PerEndpoint", testOrderPerEndpoint},
		{"ManyKeys", testOrderManyKeys},
	}, blockCases...))
}

// publishKeyed stores a new message of tenant with ordering key okey and one delivery per endpoint, due at due.
func publishKeyed(t testing.TB, s Store, tenant, okey string, due time.Time, eps ...string) []*delivery.Delivery {
	t.Helper()
	m := message(tenant, base)
	m.OrderingKey = okey
	ds := make([]*delivery.Delivery, len(eps))
	for i, ep := range eps {
		ds[i] = deliveryOf(m, ep, due)
		ds[i].OrderingKey = okey
	}
	if _, _, _, err := s.Publish(context.Background(), m, ds, time.Time{}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	return ds
}

// line publishes n messages with key okey to ep, all due at base, and returns their deliveries in publish order.
func line(t testing.TB, s Store, okey, ep string, n int) []*delivery.Delivery {
	t.Helper()
	out := make([]*delivery.Delivery, n)
	for i := range n {
		out[i] = publishKeyed(t, s, "ten_a", okey, base, ep)[0]
	}
	return out
}

func wantTasks(t testing.TB, what string, ts []delivery.Task, want ...*delivery.Delivery) {
	t.Helper()
	ids := make([]string, len(want))
	for i, d := range want {
		ids[i] = d.ID
	}
	same(t, what, sorted(taskIDs(ts)), sorted(ids))
}

func testOrderHeadOnly(t *testing.T, s Store) {
	ctx := t.Context()
	k := line(t, s, "device-1", "ep_1", 3)
	_, free := publish(t, s, "ten_a", base, base, "ep_1")
	ts := claim(t, s, at(time.Minute), 10, 0)
	wantTasks(t, "first claim", ts, k[0], free[0])
	wantTasks(t, "claim while the head is in flight", claim(t, s, at(time.Minute), 10, 0))
	head := taskOf(t, ts, k[0])
	for i := 1; i < len(k); i++ {
		noErr(t, "Ack", s.Ack(ctx, head, attempt(at(time.Minute), 200)))
		ts = claim(t, s, at(time.Minute), 10, 0)
		wantTasks(t, "claim after the head ended", ts, k[i])
		head = ts[0]
	}
	noErr(t, "Ack", s.Ack(ctx, head, attempt(at(time.Minute), 200)))
	wantTasks(t, "claim after the line ended", claim(t, s, at(time.Hour), 10, 0))
}

func taskOf(t testing.TB, ts []delivery.Task, d *delivery.Delivery) delivery.Task {
	t.Helper()
	for _, tk := range ts {
		if tk.DeliveryID == d.ID {
			return tk
		}
	}
	t.Fatalf("no task of %s in %v", d.ID, taskIDs(ts))
	return delivery.Task{}
}

// A retried head keeps its key: the next delivery of the key waits through the backoff, another key does not.
func testOrderRetryHoldsKey(t *testing.T, s Store) {
	ctx := t.Context()
	k := line(t, s, "device-1", "ep_1", 2)
	tk := claimOne(t, s, base)
	same(t, "head", tk.DeliveryID, k[0].ID)
	noErr(t, "Nack", s.Nack(ctx, tk, delivery.Attempt{At: base, StatusCode: 503, Outcome: "retry"}, at(10*time.Second)))
	other := line(t, s, "device-2", "ep_1", 1)
	wantTasks(t, "claim during the backoff", claim(t, s, at(5*time.Second), 10, 0), other[0])
	ts := claim(t, s, at(10*time.Second), 10, 0)
	wantTasks(t, "claim at the retry", ts, k[0])
	if ts[0].Attempt != 2 {
		t.Fatalf("retry attempt = %d, want 2", ts[0].Attempt)
	}
	noErr(t, "Release", s.Release(ctx, ts[0], at(20*time.Second)))
	wantTasks(t, "claim after a release", claim(t, s, at(15*time.Second), 10, 0))
	tk = claimOne(t, s, at(20*time.Second))
	same(t, "released head", tk.DeliveryID, k[0].ID)
	noErr(t, "Ack", s.Ack(ctx, tk, attempt(at(20*time.Second), 200)))
	wantTasks(t, "claim after the head succeeded", claim(t, s, at(20*time.Second), 10, 0), k[1])
}

// A head that ends failed or dead lets the next delivery of its key go.
func testOrderFailedReleasesKey(t *testing.T, s Store) {
	ctx := t.Context()
	k := line(t, s, "device-1", "ep_1", 3)
	tk := claimOne(t, s, base)
	noErr(t, "Fail dead", s.Fail(ctx, tk, attempt(base, 500), delivery.StatusDead))
	tk = claimOne(t, s, base)
	same(t, "after dead", tk.DeliveryID, k[1].ID)
	noErr(t, "Fail failed", s.Fail(ctx, tk, attempt(base, 400), delivery.StatusFailed))
	tk = claimOne(t, s, base)
	same(t, "after failed", tk.DeliveryID, k[2].ID)
}

// After a lease expires the head is delivered again (same delivery), and nothing behind it goes first; when the
// reclaim spends its last attempt the head is dead and the next goes.
func testOrderLeaseExpiry(t *testing.T, s Store) {
	ctx := t.Context()
	k := line(t, s, "device-1", "ep_1", 2)
	tk := claimOne(t, s, base)
	n, _, err := s.Reclaim(ctx, at(lease+time.Second), 3, 100)
	noErr(t, "Reclaim", err)
	same(t, "reclaimed", n, 1)
	ts := claim(t, s, at(lease+time.Second), 10, 0)
	wantTasks(t, "claim after the reclaim", ts, k[0])
	if ts[0].Attempt != tk.Attempt+1 {
		t.Fatalf("attempt after reclaim = %d", ts[0].Attempt)
	}
	n, _, err = s.Reclaim(ctx, at(3*lease), 2, 100) // the second attempt was the last
	noErr(t, "Reclaim", err)
	same(t, "reclaimed", n, 1)
	same(t, "head status", getDelivery(t, s, "ten_a", k[0].ID).Status, delivery.StatusDead)
	wantTasks(t, "claim after the head died", claim(t, s, at(3*lease), 10, 0), k[1])
}

// A replay of a message joins the back of its key's line.
func testOrderReplayJoinsBack(t *testing.T, s Store) {
	ctx := t.Context()
	k := line(t, s, "device-1", "ep_1", 2)
	tk := claimOne(t, s, base)
	noErr(t, "Fail", s.Fail(ctx, tk, attempt(base, 500), delivery.StatusDead))
	m, err := s.GetMessage(ctx, "ten_a", k[0].MessageID)
	noErr(t, "GetMessage", err)
	replay := deliveryOf(m, "ep_1", base)
	replay.OrderingKey = m.OrderingKey
	noErr(t, "Enqueue", s.Enqueue(ctx, []*delivery.Delivery{replay}))
	ts := claim(t, s, base, 10, 0)
	wantTasks(t, "claim with the replay queued", ts, k[1])
	same(t, "replay waits on", getDelivery(t, s, "ten_a", replay.ID).WaitingOn, k[1].ID)
	noErr(t, "Ack", s.Ack(ctx, ts[0], attempt(base, 200)))
	wantTasks(t, "claim after the second", claim(t, s, base, 10, 0), replay)
}

// A waiting delivery names the delivery it waits on, in GetDelivery and ListDeliveries; the head names none.
func testOrderWaitingOn(t *testing.T, s Store) {
	ctx := t.Context()
	k := line(t, s, "device-1", "ep_1", 3)
	for i, d := range k {
		want := ""
		if i > 0 {
			want = k[0].ID
		}
		same(t, "waiting_on", getDelivery(t, s, "ten_a", d.ID).WaitingOn, want)
	}
	list, err := s.ListDeliveries(ctx, "ten_a", delivery.Filter{EndpointID: "ep_1"})
	noErr(t, "ListDeliveries", err)
	for _, d := range list {
		if d.ID != k[0].ID && d.WaitingOn != k[0].ID {
			t.Fatalf("listed %s waiting on %q, want %s", d.ID, d.WaitingOn, k[0].ID)
		}
		if d.OrderingKey != "device-1" {
			t.Fatalf("listed %s with ordering key %q", d.ID, d.OrderingKey)
		}
	}
	if hk, ok := s.(delivery.HeldKeysReporter); ok {
		held, err := hk.HeldKeys(ctx)
		noErr(t, "HeldKeys", err)
		same(t, "held keys", held, map[string]int{"ep_1": 1})
	}
	tk := claimOne(t, s, base)
	noErr(t, "Ack", s.Ack(ctx, tk, attempt(base, 200)))
	same(t, "waiting_on after the head", getDelivery(t, s, "ten_a", k[1].ID).WaitingOn, "")
	same(t, "waiting_on of the third", getDelivery(t, s, "ten_a", k[2].ID).WaitingOn, k[1].ID)
	same(t, "head's waiting_on once ended", getDelivery(t, s, "ten_a", k[0].ID).WaitingOn, "")
}

// A key orders per endpoint: the same key on two endpoints has a head on each.
func testOrderPerEndpoint(t *testing.T, s Store) {
	a := publishKeyed(t, s, "ten_a", "device-1", base, "ep_1", "ep_2")
	b := publishKeyed(t, s, "ten_a", "device-1", base, "ep_1", "ep_2")
	wantTasks(t, "claim", claim(t, s, base, 10, 0), a[0], a[1])
	wantTasks(t, "claim again", claim(t, s, base, 10, 0))
	same(t, "second on ep_2 waits on", getDelivery(t, s, "ten_a", b[1].ID).WaitingOn, a[1].ID)
}

// Many keys on one endpoint (spread over Cluster slots when the store has them) each go in publish order, one at a
// time, with retries, failures and the in-flight cap.
func testOrderManyKeys(t *testing.T, s Store) {
	ctx := t.Context()
	const keys, per = 20, 5
	want := make(map[string][]string) // key → delivery ids in publish order
	okeyOf := make(map[string]string)
	for range per {
		for k := range keys {
			okey := "dev-" + string(rune('a'+k))
			ep := "ep_" + string(rune('1'+k%3))
			d := publishKeyed(t, s, "ten_a", okey+ep, base, ep)[0]
			want[okey+ep] = append(want[okey+ep], d.ID)
			okeyOf[d.ID] = okey + ep
		}
	}
	got := make(map[string][]string)
	inFlight := make(map[string]bool)
	now := base
	for step := 0; len(okeyOf) > 0 && step < 1000; step++ {
		now = now.Add(time.Second)
		ts := claim(t, s, now, 7, 4)
		for _, tk := range ts {
			okey := okeyOf[tk.DeliveryID]
			if inFlight[okey] {
				t.Fatalf("two deliveries of %s in flight", okey)
			}
			inFlight[okey] = true
		}
		for i, tk := range ts {
			okey := okeyOf[tk.DeliveryID]
			inFlight[okey] = false
			switch {
			case (step+i)%4 == 0 && tk.Attempt < 3:
				noErr(t, "Nack", s.Nack(ctx, tk, attempt(now, 503), now.Add(2*time.Second)))
			default:
				if n := len(got[okey]); n > 0 && got[okey][n-1] == tk.DeliveryID {
					t.Fatalf("%s acked twice", tk.DeliveryID)
				}
				got[okey] = append(got[okey], tk.DeliveryID)
				delete(okeyOf, tk.DeliveryID)
				noErr(t, "Ack", s.Ack(ctx, tk, attempt(now, 200)))
			}
		}
	}
	same(t, "deliveries by key in the order they ended", got, want)
}
