package redisstore

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/internal/testredis"
)

// commandsProcessed reads the server's total_commands_processed (the INFO that reads it is counted by the next).
func commandsProcessed(t *testing.T, srv *testredis.Server) int64 {
	t.Helper()
	info, err := srv.Client.Info(t.Context(), "stats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "total_commands_processed:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no total_commands_processed in INFO stats")
	return 0
}

func waitWake(t *testing.T, c <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(5 * time.Second):
		t.Fatalf("no wake-up within 5s: %s", what)
	}
}

// listeningPair opens two stores of 16 shards on srv, b listening for wake-ups until ctx ends, and returns once b's
// subscription is confirmed.
func listeningPair(ctx context.Context, t *testing.T, srv *testredis.Server) (a, b *Store, wake <-chan struct{}) {
	t.Helper()
	a = openOn(t, redisURL(srv), srv.Prefix, Options{Shards: 16})
	t.Cleanup(func() { a.Close() })
	b, err := Open(t.Context(), redisURL(srv), a.opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	wake = b.Wakeups(ctx)
	waitWake(t, wake, "subscription confirmed")
	return a, b, wake
}

// TestWakeupsAcrossStores: a Store that listens sends Redis nothing while nothing is due, hears of another Store's
// publish and release at once, and claims them from its hints alone.
func TestWakeupsAcrossStores(t *testing.T) {
	srv := testredis.StartServer(t) // a private server: the test counts its commands
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	a, b, wake := listeningPair(ctx, t, srv)
	opt := delivery.ClaimOptions{Max: 16, Lease: time.Minute, MaxInFlight: 8}

	// The first claim after subscribing reads every shard; after that, idle claims and NextDue cost nothing.
	mustClaim(t, b, base, opt, 0)
	before := commandsProcessed(t, srv)
	for range 20 {
		mustClaim(t, b, base, opt, 0)
		if next, err := b.NextDue(ctx); err != nil || !next.IsZero() {
			t.Fatalf("NextDue = %v, %v; want zero", next, err)
		}
	}
	if n := commandsProcessed(t, srv) - before - 1; n != 0 {
		t.Fatalf("20 idle claims and NextDue calls sent Redis %d commands, want 0", n)
	}

	// A's publish reaches B's hints: B claims it without reading every shard.
	d := publishN(t, a, "ten_a", 1, base, "ep_1")[0]
	waitWake(t, wake, "A's publish")
	if next, err := b.NextDue(ctx); err != nil || !next.Equal(base) {
		t.Fatalf("NextDue after A's publish = %v, %v; want base", next, err)
	}
	tk := mustClaim(t, b, base, opt, 1)[0]
	if tk.DeliveryID != d.ID || tk.Attempt != 1 {
		t.Fatalf("claimed %+v, want %s attempt 1", tk, d.ID)
	}
	mustClaim(t, b, base, opt, 0) // the claim's reply lowered nothing: the shard is empty

	// B releases it (as at shutdown); A, which does not listen, finds it by reading every shard. Then A releases
	// it and B, hearing of it, takes it with the attempt still unspent.
	if err := b.Release(ctx, tk, base); err != nil {
		t.Fatal(err)
	}
	tk = mustClaim(t, a, base, opt, 1)[0]
	if err := a.Release(ctx, tk, base); err != nil {
		t.Fatal(err)
	}
	var got []delivery.Task
	for len(got) == 0 { // the wake-up for A's publish may still have been in the channel: wait for the next one
		waitWake(t, wake, "A's release")
		var err error
		got, err = b.Claim(ctx, base, opt)
		if err != nil {
			t.Fatal(err)
		}
	}
	if got[0].DeliveryID != d.ID || got[0].Attempt != 1 {
		t.Fatalf("after release claimed %+v, want %s attempt 1", got[0], d.ID)
	}
	if err := b.Ack(ctx, got[0], delivery.Attempt{At: base, StatusCode: 200}); err != nil {
		t.Fatal(err)
	}
	assertQueueEmpty(t, b)

	// The listener stops with its context, at once (a blocked receive is interrupted): the engine waits for it.
	cancel()
	deadline := time.After(2 * time.Second)
	for {
		select {
		case _, open := <-wake:
			if !open {
				return
			}
		case <-deadline:
			t.Fatal("Wakeups channel still open 2s after its context ended")
		}
	}
}

// TestHintsKeepLaterWake: a claim's reply, begun before a wake-up landed, cannot raise the hint the wake-up
// lowered; a reply with nothing in between can.
func TestHintsKeepLaterWake(t *testing.T) {
	h := newShardHints(3)
	shards, _, gens := h.dueBy(100) // all three: never looked at
	if !slices.Equal(shards, []int{0, 1, 2}) {
		t.Fatalf("due shards %v, want all", shards)
	}
	for i, s := range shards {
		h.set(s, gens[i], 300, 1) // every shard has work at 300
	}
	shards, _, gens = h.dueBy(300) // a claim at 300 begins
	h.lower(1, 50)                 // a wake-up for shard 1 lands while the claim is under way
	for i, s := range shards {
		h.set(s, gens[i], noWork, 0) // the claim saw nothing anywhere
	}
	if shards, due, _ := h.dueBy(300); !slices.Equal(shards, []int{1}) || due[0] != 1 {
		t.Fatalf("due shards %v (%v), want [1] (1)", shards, due)
	}
	if at := h.earliest(); at != 50 {
		t.Fatalf("earliest %d, want 50", at)
	}
	_, _, gens = h.dueBy(100)
	h.set(1, gens[0], 200, 0)
	if at := h.earliest(); at != 200 {
		t.Fatalf("earliest %d after a clean reply, want 200", at)
	}
}
