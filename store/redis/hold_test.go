package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/internal/testredis"
)

var _ delivery.SlowHolder = (*Store)(nil)

func countBy(ts []delivery.Task) map[string]int {
	n := map[string]int{}
	for _, tk := range ts {
		n[tk.EndpointID]++
	}
	return n
}

// TestHoldSlow: a held endpoint is leased one task at a time while every other endpoint keeps its cap; it stays
// parked (claims do not unpark and re-park it) until its task ends, then gives one more; once the hold expires or is
// lifted it takes up to the cap again. One shard, so that the endpoints share it.
func TestHoldSlow(t *testing.T) {
	srv := testredis.Start(t)
	s := openOn(t, redisURL(srv), srv.Prefix, Options{Shards: 1})
	defer s.Close()
	ctx := t.Context()
	const capN = 4
	opt := delivery.ClaimOptions{Max: 20, Lease: time.Minute, MaxInFlight: capN}
	sk := s.k.shardOf("ep_slow")

	publishN(t, s, "ten_a", 20, base, "ep_slow", "ep_ok") // ten each
	if err := s.HoldSlow(ctx, "ep_slow", base.Add(10*time.Second)); err != nil {
		t.Fatal(err)
	}
	got := mustClaim(t, s, base, opt, -1)
	if n := countBy(got); n["ep_slow"] != 1 || n["ep_ok"] != capN {
		t.Fatalf("held claim leased %v, want ep_slow 1 and ep_ok %d", n, capN)
	}
	score, err := s.rdb.ZScore(ctx, sk.parked, "ep_slow").Result()
	if err != nil || score < capN {
		t.Fatalf("held endpoint parked with score %v (%v); below the cap, every claim would unpark it", score, err)
	}
	if n := countBy(mustClaim(t, s, base.Add(time.Second), opt, -1)); n["ep_slow"] != 0 {
		t.Fatalf("claim while the held endpoint's task is out leased %v", n)
	}
	if _, err := s.rdb.ZScore(ctx, sk.parked, "ep_slow").Result(); err != nil {
		t.Fatalf("a claim unparked the held endpoint: %v", err)
	}

	// Its task times out and is nacked: the endpoint wakes and gives exactly one more.
	var slow delivery.Task
	for _, tk := range got {
		if tk.EndpointID == "ep_slow" {
			slow = tk
		}
	}
	at := base.Add(2 * time.Second)
	if err := s.Nack(ctx, slow, delivery.Attempt{At: at, Error: "timeout after 1s", Outcome: "retry"}, at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	next := mustClaim(t, s, at, opt, -1)
	if n := countBy(next); n["ep_slow"] != 1 {
		t.Fatalf("after the held task ended, claim leased %v, want one of ep_slow", n)
	}

	// Expired: the endpoint takes up to its cap again (one out, so three more).
	if n := countBy(mustClaim(t, s, base.Add(11*time.Second), opt, -1)); n["ep_slow"] != 0 {
		// Still parked: nothing unparks it before its task ends, whatever the hold says.
		t.Fatalf("claim leased %v from an endpoint parked with its task out", n)
	}
	for _, tk := range next {
		if tk.EndpointID == "ep_slow" {
			if err := s.Release(ctx, tk, base); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := countBy(mustClaim(t, s, base.Add(11*time.Second), opt, -1)); n["ep_slow"] != capN {
		t.Fatalf("after the hold expired, claim leased %v, want %d of ep_slow", n, capN)
	}

	// Lifted: a fresh endpoint held and then lifted takes its cap at once.
	publishN(t, s, "ten_a", 6, base, "ep_lift")
	if err := s.HoldSlow(ctx, "ep_lift", base.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.HoldSlow(ctx, "ep_lift", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if n := countBy(mustClaim(t, s, base.Add(12*time.Second), opt, -1)); n["ep_lift"] != capN {
		t.Fatalf("after the hold was lifted, claim leased %v, want %d of ep_lift", n, capN)
	}
	if ok, err := s.rdb.HExists(ctx, sk.rates, holdField("ep_lift")).Result(); err != nil || ok {
		t.Fatalf("lifted hold still stored: %v %v", ok, err)
	}
}

// TestHoldSlowBadRedis: a hold that cannot be written is an error for the caller (the engine logs it).
func TestHoldSlowBadRedis(t *testing.T) {
	srv := testredis.Start(t)
	s := openOn(t, redisURL(srv), srv.Prefix, Options{})
	s.Close()
	if err := s.HoldSlow(context.Background(), "ep_1", base); err == nil {
		t.Fatal("HoldSlow on a closed store: no error")
	}
}
