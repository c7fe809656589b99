package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/endpoints"
	"github.com/webhookd/webhookd/internal/testredis"
)

const (
	parkedFlag = int64(1) << 32 // luaLib's PARKED
	queuedFlag = int64(1) << 36 // luaLib's QUEUED
	gatedFlag  = int64(1) << 40 // luaLib's GATED
)

func rawBusy(t *testing.T, s *Store, ep string) int64 {
	t.Helper()
	v, err := s.rdb.HGet(context.Background(), s.k.shardOf(ep).busy, ep).Int64()
	if err != nil {
		t.Fatalf("busy value of %s: %v", ep, err)
	}
	return v
}

func createEndpoint(t *testing.T, s *Store, tenant, id string, rate float64) *endpoints.Endpoint {
	t.Helper()
	now := time.Now()
	e := &endpoints.Endpoint{ID: id, TenantID: tenant, URL: "https://example.com/" + id, Events: []string{"*"},
		RateLimit: rate, CreatedAt: now, UpdatedAt: now}
	if err := s.CreateEndpoint(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	return e
}

// TestLeaseOnPublishGates: a publish decides from the busy value alone whether its endpoint may take a lease, so
// that value must say when the endpoint has a rate limit or a hold. A rate limit or a hold closes the gate; lifting
// either opens it again.
func TestLeaseOnPublishGates(t *testing.T) {
	srv := testredis.Start(t)
	s := openOn(t, redisURL(srv), srv.Prefix, Options{LeaseOnPublish: true})
	defer s.Close()
	ctx := context.Background()
	const ten = "ten_gate"
	if _, err := s.Claim(ctx, time.Now(), delivery.ClaimOptions{Max: 8, Lease: time.Minute, MaxInFlight: 4}); err != nil {
		t.Fatal(err) // a claimer is around: publishes may lease
	}

	createEndpoint(t, s, ten, "ep_free", 0)
	createEndpoint(t, s, ten, "ep_rate", 5)
	was := createEndpoint(t, s, ten, "ep_was", 5)
	was.RateLimit = 0
	if err := s.UpdateEndpoint(ctx, was); err != nil {
		t.Fatal(err)
	}
	for _, h := range []struct {
		ep    string
		until time.Time
	}{{"ep_held", time.Now().Add(time.Hour)}, {"ep_lifted", time.Now().Add(time.Hour)}, {"ep_lifted", time.Time{}}} {
		if err := s.HoldSlow(ctx, h.ep, h.until); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		ep     string
		leased bool
	}{{"ep_free", true}, {"ep_rate", false}, {"ep_was", true}, {"ep_held", false}, {"ep_lifted", true}} {
		d := publishTo(t, s, ten, c.ep, "")
		if leased, _, laned := leaseState(t, s, d); leased != c.leased || laned == c.leased {
			t.Errorf("%s: leased %v, in the lane %v; want leased %v", c.ep, leased, laned, c.leased)
		}
	}
	if v := rawBusy(t, s, "ep_rate"); v != gatedFlag+queuedFlag {
		t.Errorf("ep_rate's busy value %d, want one gate and work queued (%d)", v, gatedFlag+queuedFlag)
	}
	// Deleting the endpoint takes its gate with its rate limit.
	if err := s.DeleteEndpoint(ctx, ten, "ep_rate"); err != nil {
		t.Fatal(err)
	}
	if n, err := s.rdb.HExists(ctx, s.k.shardOf("ep_rate").busy, "ep_rate").Result(); err != nil || n {
		t.Errorf("deleted endpoint's busy value still there (%v, %v)", n, err)
	}
}

// TestReconcileFlags: data of a version before the busy flags (a rate limit without its gate, an endpoint parked
// without its flag) is put right by the next Open, so that a publish does not lease past the rate limit and the
// end of the parked endpoint's task unparks it.
func TestReconcileFlags(t *testing.T) {
	srv := testredis.Start(t)
	old := openOn(t, redisURL(srv), srv.Prefix, Options{LeaseOnPublish: true})
	defer old.Close()
	ctx := context.Background()
	const ten = "ten_old"
	createEndpoint(t, old, ten, "ep_r", 5)
	capped := delivery.ClaimOptions{Max: 8, Lease: time.Minute, MaxInFlight: 1}
	d1, d2 := publishTo(t, old, ten, "ep_p", ""), publishTo(t, old, ten, "ep_p", "")
	ts := mustClaim(t, old, time.Now(), capped, 1) // ep_p parks at its cap with d2 queued
	if ts[0].DeliveryID != d1.ID {
		t.Fatalf("claimed %s, want %s", ts[0].DeliveryID, d1.ID)
	}
	if v := rawBusy(t, old, "ep_p"); v != 1+parkedFlag+queuedFlag {
		t.Fatalf("parked endpoint's busy value %d, want 1 + the parked and queued flags", v)
	}
	// What an older version left: the same state without the flags.
	for ep, v := range map[string]int64{"ep_p": 1, "ep_r": 0} {
		if err := old.rdb.HSet(ctx, old.k.shardOf(ep).busy, ep, v).Err(); err != nil {
			t.Fatal(err)
		}
	}

	s, err := Open(ctx, redisURL(srv), Options{Prefix: old.opt.Prefix, LeaseOnPublish: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if p, r := rawBusy(t, s, "ep_p"), rawBusy(t, s, "ep_r"); p != 1+parkedFlag+queuedFlag || r != gatedFlag {
		t.Fatalf("after Open: busy values %d and %d, want %d and %d", p, r, 1+parkedFlag+queuedFlag, gatedFlag)
	}
	if err := s.Ack(ctx, ts[0], delivery.Attempt{At: time.Now(), StatusCode: 200}); err != nil {
		t.Fatal(err)
	}
	if next := mustClaim(t, s, time.Now(), capped, 1); next[0].DeliveryID != d2.ID {
		t.Fatalf("after the ack: claimed %s, want %s", next[0].DeliveryID, d2.ID)
	}
	if leased, _, _ := leaseState(t, s, publishTo(t, s, ten, "ep_r", "")); leased {
		t.Fatal("a publish leased past ep_r's rate limit")
	}
	// Once right, a second Open changes nothing.
	n, err := reconcileScript.Run(ctx, s.rdb, s.k.shardOf("ep_r").queue(s.k.shardOf("ep_r").rates)).Int()
	if err != nil || n != 0 {
		t.Fatalf("reconcile of a shard already right: changed %d (%v)", n, err)
	}
}

// TestOlderLeaseAndAttempts: a lease taken by a version before fences were in lease members (the bare delivery id)
// still ends under its fence and only under it, and attempts an older version appended to the delivery's own list
// come first, before those now kept in its record.
func TestOlderLeaseAndAttempts(t *testing.T) {
	srv := testredis.Start(t)
	s := openOn(t, redisURL(srv), srv.Prefix, Options{})
	defer s.Close()
	ctx := context.Background()
	const ten = "ten_legacy"
	d := publishTo(t, s, ten, "ep_l", "")
	opt := delivery.ClaimOptions{Max: 1, Lease: time.Minute}
	tk := mustClaim(t, s, time.Now(), opt, 1)[0]
	sk := s.k.shardOf("ep_l")
	member := fmt.Sprintf("%s %d", tk.DeliveryID, tk.Fence)
	exp, err := s.rdb.ZScore(ctx, sk.leases, member).Result()
	if err != nil {
		t.Fatalf("lease member %q: %v", member, err)
	}
	// Rewrite it as an older version held it, with an attempt in the old list.
	pipe := s.rdb.TxPipeline()
	pipe.ZRem(ctx, sk.leases, member)
	pipe.ZAdd(ctx, sk.leases, redisZ(exp, tk.DeliveryID))
	pipe.RPush(ctx, sk.attempts(d.ID), `{"delivery_id":"`+d.ID+`","attempt":1,"at":"2026-01-01T00:00:00Z","latency":0,"status_code":500,"outcome":"retry"}`)
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	zombie := tk
	zombie.Fence++
	if err := s.Extend(ctx, zombie, time.Now().Add(time.Hour)); !errors.Is(err, delivery.ErrLeaseLost) {
		t.Fatalf("extend under another fence: %v, want ErrLeaseLost", err)
	}
	if err := s.Extend(ctx, tk, time.Now().Add(2*time.Minute)); err != nil {
		t.Fatalf("extend of the older lease: %v", err)
	}
	if err := s.Nack(ctx, zombie, delivery.Attempt{At: time.Now(), StatusCode: 503}, time.Now()); !errors.Is(err, delivery.ErrLeaseLost) {
		t.Fatalf("nack under another fence: %v, want ErrLeaseLost", err)
	}
	tk.Attempt = 2
	if err := s.Nack(ctx, tk, delivery.Attempt{N: 2, At: time.Now(), StatusCode: 503}, time.Now()); err != nil {
		t.Fatalf("nack of the older lease: %v", err)
	}
	tk = mustClaim(t, s, time.Now(), opt, 1)[0]
	tk.Attempt = 3
	if err := s.Ack(ctx, tk, delivery.Attempt{N: 3, At: time.Now(), StatusCode: 200}); err != nil {
		t.Fatal(err)
	}
	as, err := s.ListAttempts(ctx, ten, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	var codes []int
	for _, a := range as {
		codes = append(codes, a.StatusCode)
	}
	if fmt.Sprint(codes) != "[500 503 200]" {
		js, _ := json.Marshal(as)
		t.Fatalf("attempts %s; want the older list's 500, then 503 and 200", js)
	}
	if n, _ := s.rdb.ZCard(ctx, sk.leases).Result(); n != 0 {
		t.Fatalf("%d leases left after the ack", n)
	}
}

func redisZ(score float64, member string) redis.Z { return redis.Z{Score: score, Member: member} }

// TestQueuedFlagFollowsLane: the queued flag comes with an endpoint's first item in its lane and goes when a claim, a
// chain or an unpark finds the lane empty, so that a publish leases again once the endpoint's queue has drained.
func TestQueuedFlagFollowsLane(t *testing.T) {
	srv := testredis.Start(t)
	s := openOn(t, redisURL(srv), srv.Prefix, Options{LeaseOnPublish: true})
	defer s.Close()
	ctx := context.Background()
	const ten = "ten_q"
	// No claimer yet: both are queued, and the flag is set once.
	d1, d2 := publishTo(t, s, ten, "ep_q", ""), publishTo(t, s, ten, "ep_q", "")
	if v := rawBusy(t, s, "ep_q"); v != queuedFlag {
		t.Fatalf("two queued: busy value %d, want the queued flag alone", v)
	}
	// The claim takes the first (cap 1) and parks the endpoint with the second queued.
	capped := delivery.ClaimOptions{Max: 8, Lease: time.Minute, MaxInFlight: 1}
	t1 := mustClaim(t, s, time.Now(), capped, 1)[0]
	if v := rawBusy(t, s, "ep_q"); v != 1+parkedFlag+queuedFlag {
		t.Fatalf("parked with one queued: busy value %d, want 1 + parked + queued", v)
	}
	// The ack chains the second: the lane is empty, the endpoint leaves parked, the count stays.
	t2, err := s.AckNext(ctx, t1, delivery.Attempt{At: time.Now(), StatusCode: 200}, time.Now(), capped)
	if err != nil || t2 == nil || t2.DeliveryID != d2.ID {
		t.Fatalf("ack of %s chained %+v (%v), want %s", d1.ID, t2, err, d2.ID)
	}
	if v := rawBusy(t, s, "ep_q"); v != 1 {
		t.Fatalf("after the chain emptied the lane: busy value %d, want 1", v)
	}
	if err := s.Ack(ctx, *t2, delivery.Attempt{At: time.Now(), StatusCode: 200}); err != nil {
		t.Fatal(err)
	}
	// Drained: a publish leases at once again.
	d3 := publishTo(t, s, ten, "ep_q", "")
	if leased, busy, laned := leaseState(t, s, d3); !leased || busy != 1 || laned {
		t.Fatalf("after the drain: leased %v, busy %d, in the lane %v; want leased", leased, busy, laned)
	}
	// A claim that empties the lane clears the flag too: queue one behind the lease, then claim it (no cap).
	d4 := publishTo(t, s, ten, "ep_r", "")
	if leased, _, _ := leaseState(t, s, d4); !leased {
		t.Fatal("ep_r's first was not leased")
	}
	if err := s.HoldSlow(ctx, "ep_r", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	publishTo(t, s, ten, "ep_r", "") // held: queued
	if err := s.HoldSlow(ctx, "ep_r", time.Time{}); err != nil {
		t.Fatal(err)
	}
	mustClaim(t, s, time.Now(), delivery.ClaimOptions{Max: 8, Lease: time.Minute}, 3) // with d3 and d4, from memory
	if v := rawBusy(t, s, "ep_r"); v != 2 {
		t.Fatalf("after a claim emptied the lane: busy value %d, want 2 in flight, no flag", v)
	}
	// A nack puts its delivery back in the lane (due later): a publish queues behind it.
	d5 := publishTo(t, s, ten, "ep_n", "")
	ts := mustClaim(t, s, time.Now(), delivery.ClaimOptions{Max: 8, Lease: time.Minute}, 1)
	if ts[0].DeliveryID != d5.ID {
		t.Fatalf("claimed %s, want %s leased at publish", ts[0].DeliveryID, d5.ID)
	}
	if err := s.Nack(ctx, ts[0], delivery.Attempt{At: time.Now(), StatusCode: 503}, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if v := rawBusy(t, s, "ep_n"); v != queuedFlag {
		t.Fatalf("after the nack: busy value %d, want the queued flag alone", v)
	}
	if leased, _, laned := leaseState(t, s, publishTo(t, s, ten, "ep_n", "")); leased || !laned {
		t.Fatalf("behind a retry: leased %v, in the lane %v; want queued", leased, laned)
	}
}

// TestOlderMessageIndex: a one-script publish's message whose delivery index is in its ZSET (as an older version kept
// it; the general way's still is) lists its deliveries, and Prune deletes them and then the message.
func TestOlderMessageIndex(t *testing.T) {
	srv := testredis.Start(t)
	s := openOn(t, redisURL(srv), srv.Prefix, Options{})
	defer s.Close()
	ctx := context.Background()
	const ten = "ten_oldidx"
	d := publishTo(t, s, ten, "ep_o", "")
	mk := s.k.msgShardOf(d.MessageID)
	pipe := s.rdb.TxPipeline()
	pipe.HDel(ctx, mk.message(d.MessageID), messageIndexField(d.ID, d.EndpointID))
	pipe.ZAdd(ctx, mk.messageDeliveries(d.MessageID), redis.Z{Member: pair(d.ID, d.EndpointID)})
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListDeliveries(ctx, ten, delivery.Filter{MessageID: d.MessageID})
	if err != nil || len(got) != 1 || got[0].ID != d.ID {
		t.Fatalf("ListDeliveries of the message: %v, %v; want %s", got, err, d.ID)
	}
	tk := mustClaim(t, s, time.Now(), delivery.ClaimOptions{Max: 1, Lease: time.Minute}, 1)[0]
	if err := s.Ack(ctx, tk, delivery.Attempt{At: time.Now(), StatusCode: 200}); err != nil {
		t.Fatal(err)
	}
	n, err := s.Prune(ctx, time.Now().Add(time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("Prune: %d, %v; want 1", n, err)
	}
	if _, err := s.GetMessage(ctx, ten, d.MessageID); !errors.Is(err, delivery.ErrNotFound) {
		t.Fatalf("the message after its last delivery was pruned: %v, want ErrNotFound", err)
	}
	if n, _ := s.rdb.Exists(ctx, mk.messageDeliveries(d.MessageID)).Result(); n != 0 {
		t.Fatal("the older index is still there")
	}
}

// TestEndpointLogMergesIndexes: an endpoint's log lists, in id order and paged, both the deliveries that a publish
// in one script listed in the tenant's index and those the general way listed in the endpoint's own index.
func TestEndpointLogMergesIndexes(t *testing.T) {
	srv := testredis.Start(t)
	s := openOn(t, redisURL(srv), srv.Prefix, Options{})
	defer s.Close()
	ctx := context.Background()
	const ten = "ten_merge"
	var want []string
	for i := range 6 {
		s.onePublish = i%2 == 0 // alternate the one-script publish and the general way
		want = append(want, publishTo(t, s, ten, "ep_m", "").ID)
	}
	s.onePublish = true
	publishTo(t, s, ten, "ep_m2", "") // another endpoint's, in the same tenant index
	if n, _ := s.rdb.ZCard(ctx, s.k.shardOf("ep_m").endpointDeliveries("ep_m")).Result(); n != 3 {
		t.Fatalf("the endpoint's own index holds %d, want the 3 of the general way", n)
	}
	var got []string
	after := ""
	for range 10 {
		page, err := s.ListDeliveries(ctx, ten, delivery.Filter{EndpointID: "ep_m", Limit: 4, After: after})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range page {
			got = append(got, d.ID)
		}
		if len(page) < 4 {
			break
		}
		after = page[len(page)-1].ID
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("endpoint log %v, want %v", got, want)
	}
	all, err := s.ListDeliveries(ctx, ten, delivery.Filter{})
	if err != nil || len(all) != 7 {
		t.Fatalf("tenant log: %d, %v; want 7, each once", len(all), err)
	}
}

// TestPublishScriptRunTwice: a client that sends a publish script again after losing its answer changes nothing:
// the delivery leased once, one slot taken, one lease, one index entry each.
func TestPublishScriptRunTwice(t *testing.T) {
	srv := testredis.Start(t)
	s := openOn(t, redisURL(srv), srv.Prefix, Options{LeaseOnPublish: true})
	defer s.Close()
	ctx := context.Background()
	now := time.Now()
	if _, err := s.Claim(ctx, now, delivery.ClaimOptions{Max: 8, Lease: time.Minute}); err != nil {
		t.Fatal(err) // a claimer is around: the publish may lease
	}
	m := newMessage("ten_twice", now)
	d := newDelivery(m, "ep_t", now)
	call, plan, err := s.publishCall(m, []*delivery.Delivery{d}, time.Time{})
	if err != nil || plan.leaseUntil == 0 {
		t.Fatalf("publish call: %v, lease until %d; want a lease offered", err, plan.leaseUntil)
	}
	var replies []string
	for i := range 2 {
		cmds, err := s.runScripts(ctx, []scriptCall{call})
		if err != nil || cmds[0].Err() != nil {
			t.Fatalf("run %d: %v %v", i+1, err, cmds[0].Err())
		}
		replies = append(replies, cmds[0].Val().(string))
	}
	if !strings.HasPrefix(replies[0], "+"+d.ID+" ") || replies[1] != "" {
		t.Fatalf("replies %q; want the lease, then nothing", replies)
	}
	sk := s.k.shardOf("ep_t")
	if v := rawBusy(t, s, "ep_t"); v != 1 {
		t.Fatalf("busy value %d, want 1 slot taken", v)
	}
	if n, _ := s.rdb.ZCard(ctx, sk.leases).Result(); n != 1 {
		t.Fatalf("%d leases, want 1", n)
	}
	// The delivery for the tenant's log and its endpoint's, and the message inline with its retention member.
	if n, _ := s.rdb.ZCard(ctx, s.k.tenantDeliveries("ten_twice")).Result(); n != 4 {
		t.Fatalf("tenant index: %d members, want 4", n)
	}
}

// TestRetryAfterAckDoesNotResend: a producer's retry (same idempotency key) of a publish whose deliveries one script
// enqueued with its message, after they were sent and acked, gets the earlier message back and sends nothing again
// (the endpoints' own indexes do not list those deliveries, so the completion must not try).
func TestRetryAfterAckDoesNotResend(t *testing.T) {
	srv := testredis.Start(t)
	s := openOn(t, redisURL(srv), srv.Prefix, Options{})
	defer s.Close()
	ctx := t.Context()
	m1 := newMessage("ten_a", base)
	m1.IdempotencyKey = "order-10"
	ds := []*delivery.Delivery{newDelivery(m1, "ep_1", base), newDelivery(m1, "ep_2", base)}
	if _, _, _, err := s.Publish(ctx, m1, ds, time.Time{}); err != nil {
		t.Fatal(err)
	}
	for _, tk := range mustClaim(t, s, base, delivery.ClaimOptions{Max: 10, Lease: time.Minute}, 2) {
		if err := s.Ack(ctx, tk, delivery.Attempt{At: base, StatusCode: 200}); err != nil {
			t.Fatal(err)
		}
	}
	m2 := newMessageKeyed("ten_a", "order-10")
	stored, fanout, existing, err := s.Publish(ctx, m2, []*delivery.Delivery{newDelivery(m2, "ep_1", base)}, base.Add(-time.Hour))
	if err != nil || !existing || stored.ID != m1.ID || fanout != 2 {
		t.Fatalf("retry: %v fanout %d existing %v err %v", stored, fanout, existing, err)
	}
	mustClaim(t, s, base.Add(time.Hour), delivery.ClaimOptions{Max: 10, Lease: time.Minute}, 0)
	// Nor does an Enqueue of the same deliveries: a delivery whose record exists is left alone.
	if err := s.Enqueue(ctx, ds); err != nil {
		t.Fatal(err)
	}
	mustClaim(t, s, base.Add(time.Hour), delivery.ClaimOptions{Max: 10, Lease: time.Minute}, 0)
	for _, d := range ds {
		assertStatus(t, s, "ten_a", d.ID, delivery.StatusSucceeded, 1)
	}
}
