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

// TestHoldSlow: what the conformance suite (HoldSlow) cannot see. A held endpoint parks scored at the cap, so that
// claims leave it parked (rather than unpark and re-park it on every claim) until its task ends; a lifted hold is
// removed from the rates hash. One shard, so that both endpoints share it.
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
	if n := countBy(mustClaim(t, s, base, opt, -1)); n["ep_slow"] != 1 || n["ep_ok"] != capN {
		t.Fatalf("held claim leased %v, want ep_slow 1 and ep_ok %d", n, capN)
	}
	score, err := s.rdb.ZScore(ctx, sk.parked, "ep_slow").Result()
	if err != nil || score < capN {
		t.Fatalf("held endpoint parked with score %v (%v); below the cap, every claim would unpark it", score, err)
	}
	mustClaim(t, s, base.Add(time.Second), opt, 0)
	if _, err := s.rdb.ZScore(ctx, sk.parked, "ep_slow").Result(); err != nil {
		t.Fatalf("a claim unparked the held endpoint: %v", err)
	}

	if err := s.HoldSlow(ctx, "ep_slow", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.rdb.HExists(ctx, sk.rates, holdField("ep_slow")).Result(); err != nil || ok {
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
