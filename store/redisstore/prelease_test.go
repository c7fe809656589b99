package redisstore

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/internal/testredis"
)

// leaseState reads what Redis holds for a delivery's lease: whether it is in the leases set, its endpoint's
// in-flight count, and whether its endpoint's lane holds an item.
func leaseState(t *testing.T, s *Store, d *delivery.Delivery) (leased bool, busy int64, laned bool) {
	t.Helper()
	ctx := context.Background()
	sk := s.k.shardOf(d.EndpointID)
	fence, _ := s.rdb.HGet(ctx, sk.record(d.ID), "fence").Result()
	_, err := s.rdb.ZScore(ctx, sk.leases, d.ID+" "+fence).Result()
	leased = err == nil
	raw, _ := s.rdb.HGet(ctx, sk.busy, d.EndpointID).Int64()
	busy = busyCount(raw)
	items, err := s.rdb.ZRangeByLex(ctx, sk.lanes, &redis.ZRangeBy{Min: "[" + d.EndpointID + "|", Max: "(" + d.EndpointID + "}"}).Result()
	if err != nil {
		t.Fatal(err)
	}
	return leased, busy, len(items) > 0
}

// busyCount is the in-flight count of a busy value, without its flags (luaLib's count_of).
func busyCount(v int64) int64 { return int64(int32(v)) }

func publishTo(t *testing.T, s *Store, tenant, ep, okey string) *delivery.Delivery {
	t.Helper()
	now := time.Now()
	m := newMessage(tenant, now)
	m.OrderingKey = okey
	d := newDelivery(m, ep, now)
	d.OrderingKey = okey
	if _, _, _, err := s.Publish(context.Background(), m, []*delivery.Delivery{d}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestLeaseOnPublish: with LeaseOnPublish, a publish whose endpoint has nothing queued and room under the last
// claim's cap (or lower limit) leases its delivery in the publish script (nothing in the lane, the lease and the
// in-flight count taken as a claim takes them) once a claimer has been seen, and the next Claim hands it out first;
// an endpoint at its cap, with work queued, or held, and any endpoint before a claimer came, is queued as before.
func TestLeaseOnPublish(t *testing.T) {
	srv := testredis.Start(t)
	s := openOn(t, redisURL(srv), srv.Prefix, Options{LeaseOnPublish: true})
	defer s.Close()
	ctx := context.Background()
	const ten = "ten_pre"

	// No claim seen yet: queued.
	d0 := publishTo(t, s, ten, "ep_a", "")
	if leased, _, laned := leaseState(t, s, d0); leased || !laned {
		t.Fatalf("before any claim: leased %v, in the lane %v; want queued", leased, laned)
	}
	capped := delivery.ClaimOptions{Max: 8, Lease: time.Minute, MaxInFlight: 2, Limits: map[string]int{"ep_l": 1}}
	ts, err := s.Claim(ctx, time.Now(), capped)
	if err != nil || len(ts) != 1 || ts[0].DeliveryID != d0.ID {
		t.Fatalf("claim: %+v, %v; want %s", ts, err, d0.ID)
	}
	if err := s.Ack(ctx, ts[0], delivery.Attempt{At: time.Now(), StatusCode: 200}); err != nil {
		t.Fatal(err)
	}

	// A claimer is around (cap 2) and ep_a has nothing queued: leased at publish while it has room under the cap.
	// The in-flight count is read and taken in one command: one HINCRBY, no HGET.
	before := time.Now()
	hget, hincrby := commandCalls(t, srv, "hget"), commandCalls(t, srv, "hincrby")
	d1 := publishTo(t, s, ten, "ep_a", "")
	hget, hincrby = commandCalls(t, srv, "hget")-hget, commandCalls(t, srv, "hincrby")-hincrby
	leased, busy, laned := leaseState(t, s, d1)
	if !leased || busy != 1 || laned {
		t.Fatalf("idle endpoint: leased %v, busy %d, in the lane %v; want leased, 1, not", leased, busy, laned)
	}
	if hget != 0 || hincrby != 1 {
		t.Fatalf("the leasing publish ran %d HGET and %d HINCRBY, want 0 and 1", hget, hincrby)
	}
	d2 := publishTo(t, s, ten, "ep_a", "")
	if leased, busy, laned := leaseState(t, s, d2); !leased || busy != 2 || laned {
		t.Fatalf("endpoint below its cap: leased %v, busy %d, in the lane %v; want leased, 2, not", leased, busy, laned)
	}
	// At the cap: queued.
	d3 := publishTo(t, s, ten, "ep_a", "")
	if leased, busy, laned := leaseState(t, s, d3); leased || busy != 2 || !laned {
		t.Fatalf("endpoint at its cap: leased %v, busy %d, in the lane %v; want queued", leased, busy, laned)
	}
	// An endpoint with something queued is queued behind it, whatever its room.
	if leased, _, _ := leaseState(t, s, publishTo(t, s, ten, "ep_a", "")); leased {
		t.Fatal("a delivery went ahead of its endpoint's queued one")
	}
	// So is one whose endpoint has room but an item in its lane, due later (a retry waiting for its backoff).
	later := time.Now()
	mf := newMessage(ten, later)
	df := newDelivery(mf, "ep_f", later.Add(time.Hour))
	if _, _, _, err := s.Publish(ctx, mf, []*delivery.Delivery{df}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	dn := publishTo(t, s, ten, "ep_f", "")
	if leased, busy, laned := leaseState(t, s, dn); leased || busy != 0 || !laned {
		t.Fatalf("endpoint with an item due later: leased %v, busy %d, in the lane %v; want queued", leased, busy, laned)
	}
	// A lower limit of the claimer holds as the cap does.
	dl1, dl2 := publishTo(t, s, ten, "ep_l", ""), publishTo(t, s, ten, "ep_l", "")
	if l1, _, _ := leaseState(t, s, dl1); !l1 {
		t.Fatal("ep_l's first delivery was not leased")
	}
	if l2, _, _ := leaseState(t, s, dl2); l2 {
		t.Fatal("ep_l's second delivery was leased beyond its limit of 1")
	}
	// A held endpoint is queued.
	if err := s.HoldSlow(ctx, "ep_h", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	dh := publishTo(t, s, ten, "ep_h", "")
	if leased, _, laned := leaseState(t, s, dh); leased || !laned {
		t.Fatalf("held endpoint: leased %v, in the lane %v; want queued", leased, laned)
	}

	// The claim hands out the leased tasks first, from memory, then claims from Redis, where the cap counts them.
	ts, err = s.Claim(ctx, time.Now(), capped)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, tk := range ts {
		ids = append(ids, tk.DeliveryID)
	}
	if len(ts) != 5 || ts[0].DeliveryID != d1.ID || ts[1].DeliveryID != d2.ID || ts[2].DeliveryID != dl1.ID ||
		!slices.Equal(slices.Sorted(slices.Values(ids[3:])), slices.Sorted(slices.Values([]string{dh.ID, dn.ID}))) {
		t.Fatalf("claim: %v; want %s, %s, %s leased at publish, then the held endpoint's %s and ep_f's due %s",
			ids, d1.ID, d2.ID, dl1.ID, dh.ID, dn.ID)
	}
	t1 := ts[0]
	if t1.Attempt != 1 || t1.Fence == 0 || t1.TenantID != ten || t1.EndpointID != "ep_a" || t1.MessageID != d1.MessageID ||
		t1.LeaseUntil.Before(before.Add(time.Minute-time.Second)) {
		t.Fatalf("leased task %+v: want attempt 1, a fence, its ids and a lease of a minute", t1)
	}
	// It is a lease like any other: acked once, refused after.
	if err := s.Ack(ctx, t1, delivery.Attempt{At: time.Now(), StatusCode: 200}); err != nil {
		t.Fatal(err)
	}
	if err := s.Ack(ctx, t1, delivery.Attempt{At: time.Now(), StatusCode: 200}); err == nil {
		t.Fatal("a second ack of the leased task was accepted")
	}
	got1, err := s.GetDelivery(ctx, ten, d1.ID)
	if err != nil || got1.Status != delivery.StatusSucceeded || got1.Attempts != 1 {
		t.Fatalf("delivery log: %+v, %v; want succeeded after 1 attempt", got1, err)
	}
	// ep_a has room again: its first queued delivery is claimable.
	ts, err = s.Claim(ctx, time.Now(), capped)
	if err != nil || len(ts) != 1 || ts[0].DeliveryID != d3.ID {
		t.Fatalf("claim after the ack: %+v, %v; want %s", ts, err, d3.ID)
	}
}

// TestLeaseOnPublishOrdered: a keyed delivery is leased at publish only as the head of its line; the next of its key
// waits behind it until it ends.
func TestLeaseOnPublishOrdered(t *testing.T) {
	srv := testredis.Start(t)
	s := openOn(t, redisURL(srv), srv.Prefix, Options{LeaseOnPublish: true})
	defer s.Close()
	ctx := context.Background()
	opt := delivery.ClaimOptions{Max: 8, Lease: time.Minute, MaxInFlight: 8}
	if _, err := s.Claim(ctx, time.Now(), opt); err != nil {
		t.Fatal(err)
	}
	first := publishTo(t, s, "ten_pre", "ep_k", "device-1")
	second := publishTo(t, s, "ten_pre", "ep_k", "device-1")
	if leased, _, _ := leaseState(t, s, first); !leased {
		t.Fatal("the key's first delivery was not leased at publish")
	}
	if leased, _, laned := leaseState(t, s, second); leased || laned {
		t.Fatalf("the key's second delivery: leased %v, in the lane %v; want waiting in its line", leased, laned)
	}
	ts, err := s.Claim(ctx, time.Now(), opt)
	if err != nil || len(ts) != 1 || ts[0].DeliveryID != first.ID {
		t.Fatalf("claim: %+v, %v; want only %s", ts, err, first.ID)
	}
	if err := s.Ack(ctx, ts[0], delivery.Attempt{At: time.Now(), StatusCode: 200}); err != nil {
		t.Fatal(err)
	}
	ts, err = s.Claim(ctx, time.Now(), opt)
	if err != nil || len(ts) != 1 || ts[0].DeliveryID != second.ID {
		t.Fatalf("claim after the head ended: %+v, %v; want %s", ts, err, second.ID)
	}
}

// leasedAtPublish has s claim (so that its publishes lease), publishes one event to ep and checks that its delivery
// was leased at publish.
func leasedAtPublish(t *testing.T, s *Store, opt delivery.ClaimOptions, ep string) *delivery.Delivery {
	t.Helper()
	if _, err := s.Claim(t.Context(), time.Now(), opt); err != nil {
		t.Fatal(err)
	}
	d := publishTo(t, s, "ten_pre", ep, "")
	if leased, _, _ := leaseState(t, s, d); !leased {
		t.Fatal("not leased at publish")
	}
	return d
}

// TestLeaseOnPublishAbandoned: a task leased at publish that no claim took is not lost. Close gives it back at once;
// a Store that dies with it leaves it to the reclaim once its lease expires.
func TestLeaseOnPublishAbandoned(t *testing.T) {
	srv := testredis.Start(t)
	ctx := context.Background()
	short := delivery.ClaimOptions{Max: 8, Lease: 300 * time.Millisecond, MaxInFlight: 8}

	t.Run("close", func(t *testing.T) {
		a := openOn(t, redisURL(srv), srv.Prefix, Options{LeaseOnPublish: true})
		d := leasedAtPublish(t, a, short, "ep_c")
		opts := a.opt
		a.Close()
		b, err := Open(ctx, redisURL(srv), opts)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		ts, err := b.Claim(ctx, time.Now(), short)
		if err != nil || len(ts) != 1 || ts[0].DeliveryID != d.ID {
			t.Fatalf("claim by another Store after Close: %+v, %v; want %s", ts, err, d.ID)
		}
	})
	t.Run("crash", func(t *testing.T) {
		a := openOn(t, redisURL(srv), srv.Prefix, Options{LeaseOnPublish: true})
		defer a.Close() // after the test: the "crashed" Store's memory is never claimed from
		d := leasedAtPublish(t, a, short, "ep_d")
		opts := a.opt
		opts.LeaseOnPublish = false
		b, err := Open(ctx, redisURL(srv), opts)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if ts, err := b.Claim(ctx, time.Now(), short); err != nil || len(ts) != 0 {
			t.Fatalf("claim while the lease runs: %+v, %v; want nothing", ts, err)
		}
		later := time.Now().Add(time.Second)
		if n, _, err := b.Reclaim(ctx, later, 6, 100); err != nil || n != 1 {
			t.Fatalf("reclaim after the lease: %d, %v; want 1", n, err)
		}
		ts, err := b.Claim(ctx, later, short)
		if err != nil || len(ts) != 1 || ts[0].DeliveryID != d.ID {
			t.Fatalf("claim after the reclaim: %+v, %v; want %s", ts, err, d.ID)
		}
	})
}

// TestAckNextAsksOnlyAfterQueued: the ack of a task leased at publish, with nothing of its endpoint seen queued,
// does not ask the finish script to chain (the script's chain look, ZCARD of the shard's turns, does not run); once a
// publish of the endpoint queued rather than leased, its acks ask again.
func TestAckNextAsksOnlyAfterQueued(t *testing.T) {
	srv := testredis.Start(t)
	s := openOn(t, redisURL(srv), srv.Prefix, Options{Shards: 1, LeaseOnPublish: true})
	defer s.Close()
	opt := delivery.ClaimOptions{Max: 8, Lease: time.Minute, MaxInFlight: 1}
	mustClaim(t, s, time.Now(), opt, 0) // a claimer is around: publishes lease

	// ack claims d's task and acks it with AckNext; it returns how many chain looks the ack ran and what it chained.
	ack := func(d *delivery.Delivery) (int64, *delivery.Task) {
		t.Helper()
		ts := mustClaim(t, s, time.Now(), opt, 1)
		if ts[0].DeliveryID != d.ID {
			t.Fatalf("claimed %s, want %s", ts[0].DeliveryID, d.ID)
		}
		before := commandCalls(t, srv, "zcard")
		next := ackNext(t, s, ts[0], time.Now(), opt)
		return commandCalls(t, srv, "zcard") - before, next
	}

	d1 := publishTo(t, s, "ten_q", "ep_q", "")
	if leased, _, _ := leaseState(t, s, d1); !leased {
		t.Fatal("the first publish was not leased at publish")
	}
	if n, next := ack(d1); n != 0 || next != nil {
		t.Fatalf("the ack of a task leased at publish looked for a task to chain (%d ZCARD), chained %+v", n, next)
	}
	if _, busy, _ := leaseState(t, s, d1); busy != 0 {
		t.Fatalf("after the ack the endpoint has %d in flight, want 0", busy)
	}

	d2 := publishTo(t, s, "ten_q", "ep_q", "")
	d3 := publishTo(t, s, "ten_q", "ep_q", "") // at the cap of 1: queued
	if leased, _, laned := leaseState(t, s, d3); leased || !laned {
		t.Fatalf("the publish at the cap: leased %v, in the lane %v; want queued", leased, laned)
	}
	n, next := ack(d2)
	if n == 0 {
		t.Fatal("after a publish of the endpoint was queued, its ack did not look for a task to chain")
	}
	// The claim that handed out d2 parked the endpoint at its cap with d3 waiting: the ack chains d3.
	if next == nil || next.DeliveryID != d3.ID {
		t.Fatalf("the ack chained %+v, want %s", next, d3.ID)
	}
}

// TestQueuedPublishReadsFlags: a publish whose lease try failed queues its delivery with the flags that try read
// standing in for the lookups of parked and turns: none for an endpoint with nothing queued (it goes to ready), one
// (turns) for an endpoint with work queued, and one (parked, where it is) for a parked endpoint, which stays parked.
// The queue then serves every delivery in order. Counted with INFO commandstats on a private server.
func TestQueuedPublishReadsFlags(t *testing.T) {
	srv := testredis.StartServer(t)
	s := openOn(t, redisURL(srv), "", Options{LeaseOnPublish: true})
	defer s.Close()
	ctx := t.Context()
	const ten, ep = "ten_f", "ep_f"
	opt := delivery.ClaimOptions{Max: 8, Lease: time.Minute, MaxInFlight: 1}
	mustClaim(t, s, time.Now(), opt, 0) // a claimer is around, with a cap of 1
	sk := s.k.shardOf(ep)
	in := func(key string) bool {
		_, err := s.rdb.ZScore(ctx, key, ep).Result()
		return err == nil
	}
	publish := func(wantZScores int64) *delivery.Delivery {
		t.Helper()
		before := commandCalls(t, srv, "zscore")
		d := publishTo(t, s, ten, ep, "")
		if n := commandCalls(t, srv, "zscore") - before; n != wantZScores {
			t.Fatalf("publish ran %d ZSCOREs, want %d", n, wantZScores)
		}
		return d
	}

	d1 := publish(0)
	if leased, busy, _ := leaseState(t, s, d1); !leased || busy != 1 {
		t.Fatalf("first delivery: leased %v, busy %d; want leased, 1", leased, busy)
	}
	d2 := publish(0) // at its cap, nothing queued: no lookup, straight to ready
	if leased, _, laned := leaseState(t, s, d2); leased || !laned || !in(sk.ready) {
		t.Fatalf("at the cap: leased %v, in the lane %v, in ready %v; want queued and ready", leased, laned, in(sk.ready))
	}
	d3 := publish(1) // work queued, not parked: turns looked up
	if in(sk.turns) || in(sk.parked) || !in(sk.ready) {
		t.Fatal("after the second queued publish the endpoint is not in ready alone")
	}
	// The claim hands out the leased task and parks the endpoint at its cap: the next publish looks at parked, finds
	// it there, and leaves it parked.
	tk1 := mustClaim(t, s, time.Now(), opt, 1)[0]
	if tk1.DeliveryID != d1.ID || !in(sk.parked) {
		t.Fatalf("claim: %s, parked %v; want %s and parked", tk1.DeliveryID, in(sk.parked), d1.ID)
	}
	d4 := publish(1)
	if !in(sk.parked) || in(sk.ready) || in(sk.turns) {
		t.Fatal("a publish to a parked endpoint took it out of parked")
	}
	// Served in order, one at a time.
	tk := tk1
	for _, want := range []*delivery.Delivery{d2, d3, d4} {
		if err := s.Ack(ctx, tk, delivery.Attempt{At: time.Now(), StatusCode: 200}); err != nil {
			t.Fatal(err)
		}
		tk = mustClaim(t, s, time.Now(), opt, 1)[0]
		if tk.DeliveryID != want.ID {
			t.Fatalf("claimed %s, want %s", tk.DeliveryID, want.ID)
		}
	}
	if err := s.Ack(ctx, tk, delivery.Attempt{At: time.Now(), StatusCode: 200}); err != nil {
		t.Fatal(err)
	}
	assertQueueEmpty(t, s)
}

// TestLeaseOnPublishRoom: publishes lease until preLeaseRoom tasks wait for a claim (one endpoint's default
// in-flight cap, so that an endpoint at the defaults is bounded by its cap and not by the room); the next one is
// queued, and a claim hands out the waiting tasks first, in publish order, then the queued one.
func TestLeaseOnPublishRoom(t *testing.T) {
	srv := testredis.Start(t)
	s := openOn(t, redisURL(srv), srv.Prefix, Options{LeaseOnPublish: true})
	defer s.Close()
	opt := delivery.ClaimOptions{Max: 2 * preLeaseRoom, Lease: time.Minute, MaxInFlight: delivery.DefaultMaxInFlight}
	mustClaim(t, s, time.Now(), opt, 0)
	var ds []*delivery.Delivery
	for i := range preLeaseRoom + 1 {
		d := publishTo(t, s, "ten_r", "ep_r", "")
		leased, _, _ := leaseState(t, s, d)
		if want := i < preLeaseRoom; leased != want {
			t.Fatalf("publish %d of %d: leased %v, want %v", i+1, preLeaseRoom+1, leased, want)
		}
		ds = append(ds, d)
	}
	ts := mustClaim(t, s, time.Now(), opt, preLeaseRoom) // the endpoint is at its cap: the queued one waits
	for i, tk := range ts {
		if tk.DeliveryID != ds[i].ID {
			t.Fatalf("claimed task %d is %s, want %s", i, tk.DeliveryID, ds[i].ID)
		}
	}
	if err := s.Ack(t.Context(), ts[0], delivery.Attempt{At: time.Now(), StatusCode: 200}); err != nil {
		t.Fatal(err)
	}
	if got := mustClaim(t, s, time.Now(), opt, 1)[0]; got.DeliveryID != ds[preLeaseRoom].ID {
		t.Fatalf("after an ack claimed %s, want the queued %s", got.DeliveryID, ds[preLeaseRoom].ID)
	}
}
