package redisstore

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/internal/testredis"
	"github.com/webhookd/webhookd/store/storetest"
)

// roundTrips records the scripts each round trip of a client ran, by name, in order: a go-redis hook, so what it
// sees is what went to the real server.
//
// A combo script (combo.go) is recorded as the scripts of its calls, in order.
type roundTrips struct {
	s     *Store
	mu    sync.Mutex
	names map[string]string // script SHA-1 → name
	trips [][]string
	runs  []int // per trip, its EVALSHAs
}

func spyOn(s *Store) *roundTrips {
	r := &roundTrips{s: s, names: map[string]string{finishScript.Hash(): "finish", publishScript.Hash(): "publish"}}
	s.rdb.AddHook(r)
	return r
}

// comboCalls returns the names of the scripts a combo's EVALSHA arguments (args, from "evalsha" on) call, in
// order, or nil when sha is not a combo of s's.
func (r *roundTrips) comboCalls(sha string, args []any) []string {
	r.s.combos.mu.Lock()
	var scripts []*redis.Script
	for _, cb := range r.s.combos.m {
		if cb.script.Hash() == sha {
			scripts = cb.scripts
		}
	}
	r.s.combos.mu.Unlock()
	if scripts == nil {
		return nil
	}
	// evalsha sha numkeys key… n (fn nkeys nargs)…
	nkeys, _ := strconv.Atoi(fmt.Sprint(args[2]))
	argv := args[3+nkeys:]
	n, _ := strconv.Atoi(fmt.Sprint(argv[0]))
	var out []string
	for i := range n {
		fn, _ := strconv.Atoi(fmt.Sprint(argv[1+3*i]))
		name := r.names[scripts[fn-1].Hash()]
		if name == "" {
			name = "other"
		}
		out = append(out, name)
	}
	return out
}

func (r *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (r *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		r.add([]redis.Cmder{cmd})
		return next(ctx, cmd)
	}
}

func (r *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		r.add(cmds)
		return next(ctx, cmds)
	}
}

// add records one round trip's scripts run by EVALSHA (EVAL, the rerun of a script the server did not hold, is
// left out: the round trip that tried it first is recorded).
func (r *roundTrips) add(cmds []redis.Cmder) {
	var trip []string
	runs := 0
	for _, c := range cmds {
		if args := c.Args(); c.Name() == "evalsha" && len(args) > 1 {
			runs++
			if sha, ok := args[1].(string); ok && r.names[sha] != "" {
				trip = append(trip, r.names[sha])
			} else if ok {
				trip = append(trip, r.comboCalls(sha, args)...)
			}
		}
	}
	if len(trip) == 0 {
		return
	}
	r.mu.Lock()
	r.trips = append(r.trips, trip)
	r.runs = append(r.runs, runs)
	r.mu.Unlock()
}

// runsSince returns the script runs of the round trips recorded after the first n.
func (r *roundTrips) runsSince(n int) []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.runs[n:])
}

// since returns the round trips recorded after the first n.
func (r *roundTrips) since(n int) [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.trips[n:])
}

func (r *roundTrips) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.trips)
}

// waitRiders returns once n acks wait for a publish in s.
func waitRiders(t *testing.T, s *Store, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.ride.mu.Lock()
		got := len(s.ride.items)
		s.ride.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d acks wait for a publish, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func ack(s *Store, tk delivery.Task) error {
	return s.Ack(context.Background(), tk, delivery.Attempt{At: time.Now(), StatusCode: 200, Outcome: "success"})
}

func statusOf(t *testing.T, s *Store, d *delivery.Delivery) delivery.Status {
	t.Helper()
	got, err := s.GetDelivery(context.Background(), d.TenantID, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	return got.Status
}

// TestAckRidesWithPublish: while publishes come more often than RideWait, an ack of an endpoint with nothing queued
// waits for the next publish and goes in its round trip, ahead of it, so that the publish sees the in-flight count
// the ack lowered; Close sends an ack that still waits. Before publishes come that often, an ack goes at once.
func TestAckRidesWithPublish(t *testing.T) {
	srv := testredis.Start(t)
	// A wait far beyond the test: an ack that rides can only have gone with a publish (or Close).
	s := openOn(t, redisURL(srv), srv.Prefix, Options{Shards: 1, LeaseOnPublish: true, RideWait: time.Hour})
	spy := spyOn(s)
	const ten, ep = "ten_ride", "ep_ride"
	opt := delivery.ClaimOptions{Max: 8, Lease: time.Minute, MaxInFlight: 2}
	mustClaim(t, s, time.Now(), opt, 0) // a claimer is around: publishes lease

	// One publish so far: no pace of publishes to count on, so its ack goes alone, at once.
	d0 := publishTo(t, s, ten, ep, "")
	t0 := mustClaim(t, s, time.Now(), opt, 1)[0]
	n := spy.count()
	if err := ack(s, t0); err != nil {
		t.Fatal(err)
	}
	if got := spy.since(n); !slices.EqualFunc(got, [][]string{{"finish"}}, slices.Equal) {
		t.Fatalf("the first ack's round trips: %v, want one of its own", got)
	}
	if st := statusOf(t, s, d0); st != delivery.StatusSucceeded {
		t.Fatalf("after the first ack: %s", st)
	}

	// Two more publishes: now they come often. Both are leased, which puts the endpoint at its cap of 2.
	d1, d2 := publishTo(t, s, ten, ep, ""), publishTo(t, s, ten, ep, "")
	ts := mustClaim(t, s, time.Now(), opt, 2)
	done := make(chan error, 1)
	n = spy.count()
	go func() { done <- ack(s, ts[0]) }()
	waitRiders(t, s, 1)
	if st := statusOf(t, s, d1); st != delivery.StatusPending {
		t.Fatalf("while its ack waits for a publish, the delivery is %s, want pending", st)
	}
	if leased, busy, _ := leaseState(t, s, d1); !leased || busy != 2 {
		t.Fatalf("while its ack waits: leased %v, in flight %d; want leased, 2", leased, busy)
	}

	// The next publish carries the ack, ahead of itself: it finds room under the cap and is leased.
	d3 := publishTo(t, s, ten, ep, "")
	if err := <-done; err != nil {
		t.Fatalf("the riding ack: %v", err)
	}
	if got := spy.since(n); !slices.EqualFunc(got, [][]string{{"finish", "publish"}}, slices.Equal) {
		t.Fatalf("round trips of the ack and the next publish: %v, want one, the ack first", got)
	}
	if runs := spy.runsSince(n); !slices.Equal(runs, []int{1}) {
		t.Fatalf("script runs of that round trip: %v, want 1 (one combo script)", runs)
	}
	if st := statusOf(t, s, d1); st != delivery.StatusSucceeded {
		t.Fatalf("after the ack rode: %s", st)
	}
	if leased, busy, laned := leaseState(t, s, d3); !leased || busy != 2 || laned {
		t.Fatalf("the publish that carried the ack: leased %v, in flight %d, in the lane %v; want leased, 2, not",
			leased, busy, laned)
	}

	// An ack still waiting at Close is sent before the connections close.
	go func() { done <- ack(s, ts[1]) }()
	waitRiders(t, s, 1)
	opts := s.opt
	s.Close()
	if err := <-done; err != nil {
		t.Fatalf("the ack waiting at Close: %v", err)
	}
	b, err := Open(context.Background(), redisURL(srv), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if st := statusOf(t, b, d2); st != delivery.StatusSucceeded {
		t.Fatalf("the ack waiting at Close left the delivery %s", st)
	}
}

// TestAckRideAlone: an ack that waited RideWait without a publish coming goes alone.
func TestAckRideAlone(t *testing.T) {
	srv := testredis.Start(t)
	s := openOn(t, redisURL(srv), srv.Prefix, Options{Shards: 1, LeaseOnPublish: true, RideWait: 50 * time.Millisecond})
	defer s.Close()
	spy := spyOn(s)
	opt := delivery.ClaimOptions{Max: 8, Lease: time.Minute, MaxInFlight: 8}
	mustClaim(t, s, time.Now(), opt, 0)
	d1, _ := publishTo(t, s, "ten_ride", "ep_ride", ""), publishTo(t, s, "ten_ride", "ep_ride", "")
	ts := mustClaim(t, s, time.Now(), opt, 2)
	n := spy.count()
	start := time.Now()
	if err := ack(s, ts[0]); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < 50*time.Millisecond {
		t.Fatalf("the ack returned after %v: it did not wait for a publish", waited)
	}
	if got := spy.since(n); !slices.EqualFunc(got, [][]string{{"finish"}}, slices.Equal) {
		t.Fatalf("round trips of the ack that found no publish: %v, want one of its own", got)
	}
	if st := statusOf(t, s, d1); st != delivery.StatusSucceeded {
		t.Fatalf("after the ack went alone: %s", st)
	}
}

// TestAckDoesNotRideWithQueuedWork: an ack of an endpoint whose work was seen queued lately goes at once, however
// often publishes come: its endpoint's next delivery (a keyed one's next in line, say) waits for it.
func TestAckDoesNotRideWithQueuedWork(t *testing.T) {
	srv := testredis.Start(t)
	s := openOn(t, redisURL(srv), srv.Prefix, Options{Shards: 1, LeaseOnPublish: true, RideWait: time.Hour})
	defer s.Close()
	opt := delivery.ClaimOptions{Max: 8, Lease: time.Minute, MaxInFlight: 1}
	mustClaim(t, s, time.Now(), opt, 0)
	publishTo(t, s, "ten_ride", "ep_busy", "")
	publishTo(t, s, "ten_ride", "ep_busy", "") // at the cap of 1: queued
	ts := mustClaim(t, s, time.Now(), opt, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Ack(ctx, ts[0], delivery.Attempt{At: time.Now(), StatusCode: 200}); err != nil {
		t.Fatalf("the ack of an endpoint with work queued: %v", err)
	}
}

// TestAckRidesAgainOnceLaneEmpty: after a moment of backlog (a publish that found its endpoint at its cap, and
// queued), acks ask to chain and go at once; the first one that finds its endpoint's lane empty says so, and from
// the next ack on they ride with publishes again, instead of going alone for the rest of the mark's second.
func TestAckRidesAgainOnceLaneEmpty(t *testing.T) {
	srv := testredis.Start(t)
	s := openOn(t, redisURL(srv), srv.Prefix, Options{Shards: 1, LeaseOnPublish: true, RideWait: time.Hour})
	defer s.Close()
	spy := spyOn(s)
	const ten, ep = "ten_ride", "ep_ride"
	opt := delivery.ClaimOptions{Max: 8, Lease: time.Minute, MaxInFlight: 1}
	mustClaim(t, s, time.Now(), opt, 0) // a claimer is around: publishes lease

	publishTo(t, s, ten, ep, "")
	publishTo(t, s, ten, ep, "") // at the cap of 1: queued, and the endpoint marked
	if !s.queued.recent(ep, time.Now()) {
		t.Fatal("a publish that queued did not mark its endpoint")
	}
	t1 := mustClaim(t, s, time.Now(), opt, 1)[0]
	t2 := ackNext(t, s, t1, time.Now(), opt) // chains the queued one
	if t2 == nil {
		t.Fatal("the ack chained nothing; the endpoint had work queued")
	}
	n := spy.count()
	if next := ackNext(t, s, *t2, time.Now(), opt); next != nil {
		t.Fatalf("the last ack chained %+v", next)
	}
	if got := spy.since(n); !slices.EqualFunc(got, [][]string{{"finish"}}, slices.Equal) {
		t.Fatalf("round trips of the ack that asked to chain: %v, want one of its own", got)
	}
	if s.queued.recent(ep, time.Now()) {
		t.Fatal("the ack found the lane empty, and the endpoint is still marked")
	}

	// The endpoint is idle now: a publish leases, and its ack waits for the next publish and rides with it.
	publishTo(t, s, ten, ep, "")
	t3 := mustClaim(t, s, time.Now(), opt, 1)[0]
	done := make(chan *delivery.Task, 1)
	n = spy.count()
	go func() {
		next, err := s.AckNext(context.Background(), t3, delivery.Attempt{At: time.Now(), StatusCode: 200}, time.Now(), opt)
		if err != nil {
			t.Error(err)
		}
		done <- next
	}()
	waitRiders(t, s, 1)
	publishTo(t, s, ten, ep, "")
	if next := <-done; next != nil {
		t.Fatalf("the riding ack chained %+v", next)
	}
	if got := spy.since(n); !slices.EqualFunc(got, [][]string{{"finish", "publish"}}, slices.Equal) {
		t.Fatalf("round trips of the ack and the next publish: %v, want one, the ack first", got)
	}
}

// TestConformanceRide runs the suite with acks that may ride with publishes.
func TestConformanceRide(t *testing.T) {
	srv := testredis.Start(t)
	storetest.Run(t, func(t *testing.T) storetest.Store {
		return openOn(t, redisURL(srv), srv.Prefix, Options{LeaseOnPublish: true, RideWait: 5 * time.Millisecond})
	})
}

// TestRidePace: acks wait only while publishes come more often than the wait, and the last was less than the wait
// ago; after a pause the pace is back within a few publishes.
func TestRidePace(t *testing.T) {
	const ms = int64(time.Millisecond)
	r := rides{wait: 10 * time.Millisecond}
	if r.likely(0) {
		t.Fatal("likely before any publish")
	}
	r.published(1_000 * ms)
	if r.likely(1_001 * ms) {
		t.Fatal("likely after one publish: no pace yet")
	}
	at := int64(1_000 * ms)
	for range 5 {
		at += 5 * ms
		r.published(at)
	}
	if !r.likely(at + 2*ms) {
		t.Fatal("not likely 2 ms after publishes 5 ms apart")
	}
	if r.likely(at + 10*ms) {
		t.Fatal("likely a whole wait after the last publish")
	}
	// An hour's pause, then publishes 5 ms apart again.
	at += 3_600_000 * ms
	r.published(at)
	n := 0
	for !r.likely(at + ms) {
		at += 5 * ms
		r.published(at)
		if n++; n > 5 {
			t.Fatalf("still not likely %d publishes after a pause", n)
		}
	}
	// Publishes 20 ms apart: acks do not wait.
	for range 30 {
		at += 20 * ms
		r.published(at)
	}
	if r.likely(at + ms) {
		t.Fatal("likely with publishes 20 ms apart, beyond the wait")
	}
	off := rides{}
	off.published(at)
	off.published(at + ms)
	if off.likely(at + 2*ms) {
		t.Fatal("likely with no wait set")
	}
}
