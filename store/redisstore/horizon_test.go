package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/internal/testredis"
)

// TestReclaimSkipsShardsWithinHorizon: once a Store has claimed with a lease, a Reclaim reads no shard again before
// seven eighths of that lease have gone by, or before the earliest lease it saw there expires, whichever comes first; the lease is
// taken back on time all the same. Counted with INFO commandstats on a private server.
func TestReclaimSkipsShardsWithinHorizon(t *testing.T) {
	srv := testredis.StartServer(t)
	const shards = 8
	s := openOn(t, redisURL(srv), "", Options{Shards: shards})
	defer s.Close()
	ctx := t.Context()
	reads := func(now time.Time, wantMoved int) int64 {
		t.Helper()
		before := commandCalls(t, srv, "zrange")
		n, _, err := s.Reclaim(ctx, now, 6, 100)
		if err != nil || n != wantMoved {
			t.Fatalf("Reclaim at %v: %d, %v; want %d", now.Sub(base), n, err, wantMoved)
		}
		return commandCalls(t, srv, "zrange") - before
	}

	// Before any claim the Store knows no lease length: every Reclaim reads every shard.
	for range 2 {
		if n := reads(base, 0); n != shards {
			t.Fatalf("Reclaim before any claim read %d shards, want %d", n, shards)
		}
	}
	publishN(t, s, "ten_a", 1, base, "ep_1")
	const lease = 40 * time.Second
	opt := delivery.ClaimOptions{Max: 1, Lease: lease, MaxInFlight: 1}
	mustClaim(t, s, base, opt, 1) // leased until base + 40s

	if n := reads(base, 0); n != shards {
		t.Fatalf("first Reclaim after the claim read %d shards, want %d", n, shards)
	}
	if n := reads(base.Add(34*time.Second), 0); n != 0 {
		t.Fatalf("Reclaim within 7/8 of a lease read %d shards, want 0", n)
	}
	// At 7/8 of a lease: every shard again; the one with the lease stays off until that lease's expiry, the others
	// for 7/8 of a lease more.
	if n := reads(base.Add(35*time.Second), 0); n != shards {
		t.Fatalf("Reclaim after 7/8 of a lease read %d shards, want %d", n, shards)
	}
	if n := reads(base.Add(39*time.Second), 0); n != 0 {
		t.Fatalf("Reclaim before the lease's expiry read %d shards, want 0", n)
	}
	// At the expiry the shard is read (the earliest lease, then the expired ones) and the task goes back.
	if n := reads(base.Add(lease+time.Millisecond), 1); n != 2 {
		t.Fatalf("Reclaim at the lease's expiry read %d times, want 2 (one shard, twice)", n)
	}
	// A clock that goes back vouches for nothing: every shard is read.
	if n := reads(base, 0); n != shards {
		t.Fatalf("Reclaim with an earlier now read %d shards, want %d", n, shards)
	}
	// Nor does a new Wakeups subscription (Redis may have restarted and restored leases no scan saw).
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	waitWake(t, s.Wakeups(wctx), "subscription confirmed")
	if n := reads(base.Add(time.Second), 0); n != shards {
		t.Fatalf("Reclaim after a new subscription read %d shards, want %d", n, shards)
	}
}

// TestReclaimHorizonBound: a lease written by another replica after a scan, shorter than this Store's horizon (7/8
// of its lease), is taken back when the horizon ends, and no later.
func TestReclaimHorizonBound(t *testing.T) {
	srv := testredis.Start(t)
	a := openOn(t, redisURL(srv), srv.Prefix, Options{Shards: 4})
	defer a.Close()
	ctx := t.Context()
	b, err := Open(ctx, redisURL(srv), a.opt) // another replica: the same keys
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	mustClaim(t, a, base, delivery.ClaimOptions{Max: 1, Lease: time.Minute, MaxInFlight: 1}, 0)
	if n, _, err := a.Reclaim(ctx, base, 6, 100); err != nil || n != 0 {
		t.Fatalf("Reclaim: %d, %v", n, err)
	}
	publishN(t, b, "ten_a", 1, base, "ep_1")
	mustClaim(t, b, base, delivery.ClaimOptions{Max: 1, Lease: 5 * time.Second, MaxInFlight: 1}, 1)
	if n, _, err := a.Reclaim(ctx, base.Add(52499*time.Millisecond), 6, 100); err != nil || n != 0 {
		t.Fatalf("Reclaim within a's horizon: %d, %v; want 0", n, err)
	}
	if n, _, err := a.Reclaim(ctx, base.Add(52500*time.Millisecond), 6, 100); err != nil || n != 1 {
		t.Fatalf("Reclaim at the end of a's horizon: %d, %v; want the lease b wrote", n, err)
	}
}

// TestProbeEmptyShards: the full probe behind the shard hints costs a single server one command while no shard has
// anything queued, and one more per shard (the EXISTS of its probe script) plus the reads of those that have.
func TestProbeEmptyShards(t *testing.T) {
	srv := testredis.StartServer(t)
	const shards = 8
	s := openOn(t, redisURL(srv), "", Options{Shards: shards})
	defer s.Close()
	opt := delivery.ClaimOptions{Max: 4, Lease: time.Minute, MaxInFlight: 4}
	probes := func() (exists, zcard int64) {
		e0, z0 := commandCalls(t, srv, "exists"), commandCalls(t, srv, "zcard")
		if err := s.probe(t.Context(), ms(base), 4); err != nil {
			t.Fatal(err)
		}
		return commandCalls(t, srv, "exists") - e0, commandCalls(t, srv, "zcard") - z0
	}
	if e, z := probes(); e != 1 || z != 0 {
		t.Fatalf("probe of empty shards: %d EXISTS and %d ZCARD, want 1 and 0", e, z)
	}
	publishN(t, s, "ten_a", 1, base, "ep_1")
	if e, z := probes(); e != 1+shards || z != 2 {
		t.Fatalf("probe with one shard queued: %d EXISTS and %d ZCARD, want %d and 2 (its turns and parked)", e, z,
			1+shards)
	}
	if shards, _, _ := s.hints.dueBy(ms(base)); len(shards) != 1 {
		t.Fatalf("after the probe %d shards are due, want 1", len(shards))
	}
	mustClaim(t, s, base, opt, 1)
}
