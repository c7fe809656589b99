package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/endpoints"
	"github.com/webhookd/webhookd/internal/ids"
	"github.com/webhookd/webhookd/internal/testredis"
)

// base is far from the wall clock, like the conformance suite's: nothing here may depend on Redis's clock.
var base = time.Date(2090, 1, 2, 3, 4, 5, 0, time.UTC)

func newMessage(tenant string, created time.Time) *delivery.Message {
	return &delivery.Message{ID: ids.New("msg"), TenantID: tenant, Type: "device.enrolled", Timestamp: created,
		Data: json.RawMessage(`{"n":1}`), CreatedAt: created}
}

func newDelivery(m *delivery.Message, ep string, due time.Time) *delivery.Delivery {
	return &delivery.Delivery{ID: ids.New("dlv"), TenantID: m.TenantID, MessageID: m.ID, EndpointID: ep,
		EventType: m.Type, Status: delivery.StatusPending, NextAttemptAt: due, CreatedAt: m.CreatedAt, UpdatedAt: m.CreatedAt}
}

// publishN publishes n messages of tenant, each with one delivery to an endpoint picked round robin from eps.
func publishN(t testing.TB, s *Store, tenant string, n int, due time.Time, eps ...string) []*delivery.Delivery {
	t.Helper()
	var out []*delivery.Delivery
	for i := range n {
		m := newMessage(tenant, base)
		d := newDelivery(m, eps[i%len(eps)], due)
		if _, _, _, err := s.Publish(context.Background(), m, []*delivery.Delivery{d}, time.Time{}); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		out = append(out, d)
	}
	return out
}

func TestShardCountMismatchRefused(t *testing.T) {
	srv := testredis.Start(t)
	opts := Options{Prefix: srv.Prefix + "wh:", Shards: 8}
	s, err := Open(t.Context(), redisURL(srv), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	s.Close()
	opts.Shards = 16
	_, err = Open(t.Context(), redisURL(srv), opts)
	if !errors.Is(err, ErrShardMismatch) {
		t.Fatalf("Open with another shard count: err = %v, want ErrShardMismatch", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "8 shards") || !strings.Contains(msg, "Shards is 16") {
		t.Fatalf("error does not name both counts: %s", msg)
	}
	opts.Shards = 8
	s, err = Open(t.Context(), redisURL(srv), opts)
	if err != nil {
		t.Fatalf("Open with the recorded count: %v", err)
	}
	s.Close()
}

// TestZombieAckRefused: a worker that stalls past its lease (a zombie) cannot record any result once the lease was
// reclaimed, whether or not another worker has claimed the delivery since; the delivery ends exactly once.
func TestZombieAckRefused(t *testing.T) {
	srv := testredis.Start(t)
	s := openOn(t, redisURL(srv), srv.Prefix, Options{})
	defer s.Close()
	ctx := t.Context()
	ds := publishN(t, s, "ten_a", 1, base, "ep_1")
	opt := delivery.ClaimOptions{Max: 1, Lease: 30 * time.Second, MaxInFlight: 1}

	zombie := mustClaim(t, s, base, opt, 1)[0]
	if n, _, err := s.Reclaim(ctx, base.Add(31*time.Second), 6, 100); err != nil || n != 1 {
		t.Fatalf("Reclaim: %d, %v", n, err)
	}
	// Reclaimed, not yet claimed again.
	if err := s.Ack(ctx, zombie, delivery.Attempt{At: base, StatusCode: 200}); !errors.Is(err, delivery.ErrLeaseLost) {
		t.Fatalf("zombie Ack after reclaim: %v, want ErrLeaseLost", err)
	}
	if err := s.Extend(ctx, zombie, base.Add(time.Hour)); !errors.Is(err, delivery.ErrLeaseLost) {
		t.Fatalf("zombie Extend after reclaim: %v, want ErrLeaseLost", err)
	}
	// Claimed by a live worker: the zombie still cannot ack, nack or release it.
	live := mustClaim(t, s, base.Add(31*time.Second), opt, 1)[0]
	if live.Attempt != 2 || live.Fence <= zombie.Fence {
		t.Fatalf("live task: attempt %d fence %d, zombie fence %d", live.Attempt, live.Fence, zombie.Fence)
	}
	for name, err := range map[string]error{
		"Ack":     s.Ack(ctx, zombie, delivery.Attempt{At: base, StatusCode: 200}),
		"Nack":    s.Nack(ctx, zombie, delivery.Attempt{At: base, StatusCode: 500}, base.Add(time.Hour)),
		"Release": s.Release(ctx, zombie, base),
		"Fail":    s.Fail(ctx, zombie, delivery.Attempt{At: base}, delivery.StatusFailed),
	} {
		if !errors.Is(err, delivery.ErrLeaseLost) {
			t.Fatalf("zombie %s: %v, want ErrLeaseLost", name, err)
		}
	}
	if err := s.Ack(ctx, live, delivery.Attempt{At: base.Add(32 * time.Second), StatusCode: 200, Outcome: "success"}); err != nil {
		t.Fatalf("live Ack: %v", err)
	}
	d, err := s.GetDelivery(ctx, "ten_a", ds[0].ID)
	if err != nil || d.Status != delivery.StatusSucceeded || d.Attempts != 2 {
		t.Fatalf("delivery: %+v, %v", d, err)
	}
	atts, _ := s.ListAttempts(ctx, "ten_a", ds[0].ID)
	if len(atts) != 2 || atts[0].Outcome != "retry" || atts[1].Outcome != "success" {
		t.Fatalf("attempts: %+v; want the expired lease logged, then the success", atts)
	}
	assertQueueEmpty(t, s)
}

func mustClaim(t testing.TB, s *Store, now time.Time, opt delivery.ClaimOptions, want int) []delivery.Task {
	t.Helper()
	ts, err := s.Claim(context.Background(), now, opt)
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	if want >= 0 && len(ts) != want {
		t.Fatalf("Claim: %d tasks, want %d", len(ts), want)
	}
	return ts
}

// assertQueueEmpty checks that no queue structure of any shard holds anything (everything ended).
func assertQueueEmpty(t testing.TB, s *Store) {
	t.Helper()
	for i := range s.k.shards {
		sk := &s.k.shards[i]
		for _, key := range sk.queue() {
			if key == sk.busy { // an endpoint's in-flight count stays, at 0
				counts, err := s.rdb.HGetAll(context.Background(), key).Result()
				for ep, n := range counts {
					if n != "0" {
						t.Fatalf("%s: %s has %s in flight", key, ep, n)
					}
				}
				if err != nil {
					t.Fatal(err)
				}
				continue
			}
			n, err := s.rdb.Exists(context.Background(), key).Result()
			if err != nil || n != 0 {
				t.Fatalf("%s still exists (%v)", key, err)
			}
		}
	}
}

// TestConcurrentClaimers: 8 goroutines claim and ack 2,000 deliveries over 50 endpoints, half of them also taking the
// tasks chained to their acks. Every delivery is claimed (or chained) and acked exactly once, and no endpoint ever
// has more tasks out than the cap.
func TestConcurrentClaimers(t *testing.T) {
	srv := testredis.Start(t)
	testConcurrentClaimers(t, func() *Store { return openOn(t, redisURL(srv), srv.Prefix, Options{}) })
}

func testConcurrentClaimers(t *testing.T, open func() *Store) {
	const (
		total   = 2000
		nEP     = 50
		workers = 8
		cap     = 3
	)
	s := open()
	defer s.Close()
	ctx := t.Context()
	eps := make([]string, nEP)
	for i := range eps {
		eps[i] = fmt.Sprintf("ep_%02d", i)
	}
	// Publish in batches of 50 deliveries (one message each), as a fan-out would.
	for i := 0; i < total; i += nEP {
		m := newMessage("ten_a", base)
		ds := make([]*delivery.Delivery, nEP)
		for j := range ds {
			ds[j] = newDelivery(m, eps[j], base)
		}
		if _, _, _, err := s.Publish(ctx, m, ds, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}

	var (
		mu       sync.Mutex
		claimed  = map[string]int{}
		acked    = map[string]int{}
		out      = map[string]int{} // tasks out per endpoint: +1 when a claim returns, −1 just before the ack
		maxOut   int
		badClaim string
		done     int
		chained  int // tasks that came chained to an ack rather than from a claim
	)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	opt := delivery.ClaimOptions{Max: 16, Lease: time.Minute, MaxInFlight: cap}
	for w := range workers {
		chain := w%2 == 1 // half the workers take the tasks chained to their acks (AckNext)
		wg.Go(func() {
			for {
				mu.Lock()
				finished := done == total || badClaim != ""
				mu.Unlock()
				if finished {
					return
				}
				ts, err := s.Claim(ctx, base, opt)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				for _, tk := range ts {
					claimed[tk.DeliveryID]++
					if claimed[tk.DeliveryID] > 1 {
						badClaim = tk.DeliveryID
					}
					out[tk.EndpointID]++
					maxOut = max(maxOut, out[tk.EndpointID])
				}
				mu.Unlock()
				for _, tk := range ts {
					for cur := &tk; cur != nil; {
						mu.Lock()
						out[cur.EndpointID]--
						mu.Unlock()
						var (
							next *delivery.Task
							err  error
						)
						if chain {
							next, err = s.AckNext(ctx, *cur, delivery.Attempt{At: base, StatusCode: 200}, base, opt)
						} else {
							err = s.Ack(ctx, *cur, delivery.Attempt{At: base, StatusCode: 200})
						}
						if err != nil {
							errs <- fmt.Errorf("Ack %s: %w", cur.DeliveryID, err)
							return
						}
						mu.Lock()
						acked[cur.DeliveryID]++
						done++
						if next != nil {
							chained++
							claimed[next.DeliveryID]++
							if claimed[next.DeliveryID] > 1 {
								badClaim = next.DeliveryID
							}
							out[next.EndpointID]++
							maxOut = max(maxOut, out[next.EndpointID])
						}
						mu.Unlock()
						cur = next
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if badClaim != "" {
		t.Fatalf("delivery %s was claimed twice", badClaim)
	}
	if len(acked) != total || done != total {
		t.Fatalf("acked %d distinct deliveries (%d acks), want %d", len(acked), done, total)
	}
	for id, n := range acked {
		if n != 1 {
			t.Fatalf("delivery %s acked %d times", id, n)
		}
	}
	if maxOut > cap {
		t.Fatalf("an endpoint had %d tasks out, cap %d", maxOut, cap)
	}
	t.Logf("max tasks out per endpoint: %d (cap %d); %d of %d tasks came chained to an ack", maxOut, cap, chained, total)
	assertQueueEmpty(t, s)
}

// TestRateLimitAcrossReplicas: two Stores ("replicas") on one Redis claim an endpoint limited to 10/s during one
// second of claim time. The GCRA state lives in Redis, so together they get at most 10 + burst, not twice that.
func TestRateLimitAcrossReplicas(t *testing.T) {
	srv := testredis.Start(t)
	const burst = 3
	a := openOn(t, redisURL(srv), srv.Prefix, Options{RateBurst: burst})
	defer a.Close()
	bOpts := a.opt // same prefix, another client: a second replica
	b, err := Open(t.Context(), redisURL(srv), bOpts)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := t.Context()

	ep := &endpoints.Endpoint{ID: "ep_limited", TenantID: "ten_a", URL: "https://example.com/", RateLimit: 10,
		CreatedAt: base, UpdatedAt: base}
	if err := a.CreateEndpoint(ctx, ep); err != nil {
		t.Fatal(err)
	}
	publishN(t, a, "ten_a", 100, base, "ep_limited")
	publishN(t, a, "ten_a", 5, base, "ep_free") // an unlimited endpoint beside it is not held back

	perReplica := map[string]int{}
	free := 0
	opt := delivery.ClaimOptions{Max: 4, Lease: time.Minute}
	for i := range 143 { // claim time 0, 7, …, 994 ms: the replicas alternate, so either may find a slot free
		now := base.Add(time.Duration(i) * 7 * time.Millisecond)
		name, s := "a", a
		if i%2 == 1 {
			name, s = "b", b
		}
		for _, tk := range mustClaim(t, s, now, opt, -1) {
			if tk.EndpointID == "ep_free" {
				free++
			} else {
				perReplica[name]++
			}
			if err := s.Ack(ctx, tk, delivery.Attempt{At: now, StatusCode: 200}); err != nil {
				t.Fatal(err)
			}
		}
	}
	got := perReplica["a"] + perReplica["b"]
	if got > 10+burst || got < 10 {
		t.Fatalf("claims of a 10/s endpoint in 1s over two replicas: %d (%v), want 10 to %d", got, perReplica, 10+burst)
	}
	if perReplica["a"] == 0 || perReplica["b"] == 0 {
		t.Fatalf("one replica got nothing: %v", perReplica)
	}
	if free != 5 {
		t.Fatalf("unlimited endpoint: %d of 5 claimed", free)
	}
	t.Logf("10/s, burst %d, 1s of claims over two replicas: %d (%v)", burst, got, perReplica)

	// A limited endpoint waits in ready until it may go: NextDue says when, no claim blocks.
	next, err := a.NextDue(ctx)
	if err != nil || !next.After(base.Add(994*time.Millisecond)) || next.After(base.Add(1100*time.Millisecond)) {
		t.Fatalf("NextDue = %v, %v; want the next slot of the limited endpoint, just after 1s", next, err)
	}

	// Lifting the limit (UpdateEndpoint) takes effect at the next claim.
	ep.RateLimit = 0
	if err := b.UpdateEndpoint(ctx, ep); err != nil {
		t.Fatal(err)
	}
	if ts := mustClaim(t, a, base.Add(time.Second), delivery.ClaimOptions{Max: 50, Lease: time.Minute}, -1); len(ts) < 50 {
		t.Fatalf("after lifting the limit: %d tasks, want 50", len(ts))
	}
}

// TestHalfDonePublishCompleted: a publish that stored its message and took the idempotency key, then crashed before
// enqueueing, is completed (not lost, not duplicated) by the producer's retry with the same key.
func TestHalfDonePublishCompleted(t *testing.T) {
	srv := testredis.Start(t)
	s := openOn(t, redisURL(srv), srv.Prefix, Options{})
	defer s.Close()
	ctx := t.Context()

	m1 := newMessage("ten_a", base)
	m1.IdempotencyKey = "order-7"
	ds1 := []*delivery.Delivery{newDelivery(m1, "ep_1", base), newDelivery(m1, "ep_2", base)}
	// Steps 1 and 2 of Publish, then the "crash".
	if err := s.writeMessage(ctx, m1, ds1); err != nil {
		t.Fatal(err)
	}
	if prev, err := s.claimIdempotencyKey(ctx, m1, base.Add(-time.Hour)); err != nil || prev != nil {
		t.Fatalf("claim key: %v, %v", prev, err)
	}
	if ts := mustClaim(t, s, base, delivery.ClaimOptions{Max: 10, Lease: time.Minute}, -1); len(ts) != 0 {
		t.Fatalf("half-done publish enqueued %d", len(ts))
	}

	// The retry (new ids, as an API would make) completes the first attempt.
	m2 := newMessage("ten_a", base.Add(time.Second))
	m2.IdempotencyKey = "order-7"
	ds2 := []*delivery.Delivery{newDelivery(m2, "ep_1", base), newDelivery(m2, "ep_2", base)}
	stored, fanout, existing, err := s.Publish(ctx, m2, ds2, base.Add(-time.Hour))
	if err != nil || !existing || fanout != 2 || stored.ID != m1.ID {
		t.Fatalf("retry: stored %v fanout %d existing %v err %v", stored, fanout, existing, err)
	}
	ts := mustClaim(t, s, base, delivery.ClaimOptions{Max: 10, Lease: time.Minute}, 2)
	for _, tk := range ts {
		if tk.MessageID != m1.ID {
			t.Fatalf("claimed a delivery of %s, want only %s", tk.MessageID, m1.ID)
		}
	}
	// A second retry adds nothing.
	if _, _, existing, err := s.Publish(ctx, newMessageKeyed("ten_a", "order-7"), nil, base.Add(-time.Hour)); err != nil || !existing {
		t.Fatalf("second retry: existing %v, %v", existing, err)
	}
	mustClaim(t, s, base.Add(time.Hour), delivery.ClaimOptions{Max: 10, Lease: time.Minute}, 0)
	if _, err := s.GetMessage(ctx, "ten_a", m2.ID); !errors.Is(err, delivery.ErrNotFound) {
		t.Fatalf("the retry's own message: %v, want ErrNotFound", err)
	}
}

// TestLargeFanoutOneServer: on a single server, a publish to more endpoints than one script enqueues stores its
// message and idempotency key in one script, then enqueues every delivery once; when it crashes between the two, the
// producer's retry with the same key completes it (every delivery once, none of the retry's own).
func TestLargeFanoutOneServer(t *testing.T) {
	srv := testredis.Start(t)
	s := openOn(t, redisURL(srv), srv.Prefix, Options{})
	defer s.Close()
	ctx := t.Context()
	if !s.onePublish {
		t.Fatal("a single server should publish in one script")
	}
	var eps []string
	for i := range maxOneScript + 2 {
		eps = append(eps, fmt.Sprintf("ep_%d", i+1))
	}
	fanout := func(m *delivery.Message) []*delivery.Delivery {
		var ds []*delivery.Delivery
		for _, ep := range eps {
			ds = append(ds, newDelivery(m, ep, base))
		}
		return ds
	}
	claimOf := func(m *delivery.Message, ds []*delivery.Delivery) {
		t.Helper()
		want := map[string]bool{}
		for _, d := range ds {
			want[d.ID] = true
		}
		for _, tk := range mustClaim(t, s, base, delivery.ClaimOptions{Max: 100, Lease: time.Minute}, len(ds)) {
			if !want[tk.DeliveryID] || tk.MessageID != m.ID {
				t.Fatalf("claimed %s of %s: not one of %s's, or twice", tk.DeliveryID, tk.MessageID, m.ID)
			}
			delete(want, tk.DeliveryID)
		}
	}

	m := newMessageKeyed("ten_a", "big-1")
	ds := fanout(m)
	stored, n, existing, err := s.Publish(ctx, m, ds, base.Add(-time.Hour))
	if err != nil || existing || n != len(eps) || stored.ID != m.ID {
		t.Fatalf("Publish: %v %d %v %v", stored, n, existing, err)
	}
	claimOf(m, ds)

	// Message and key stored, then the "crash" before the deliveries were enqueued.
	m1 := newMessageKeyed("ten_a", "big-2")
	ds1 := fanout(m1)
	if ok, err := s.publishOne(ctx, m1, ds1, base.Add(-time.Hour)); err != nil || !ok {
		t.Fatalf("publishOne: %v, %v", ok, err)
	}
	mustClaim(t, s, base, delivery.ClaimOptions{Max: 100, Lease: time.Minute}, 0)
	m2 := newMessageKeyed("ten_a", "big-2")
	stored, n, existing, err = s.Publish(ctx, m2, fanout(m2), base.Add(-time.Hour))
	if err != nil || !existing || n != len(eps) || stored.ID != m1.ID {
		t.Fatalf("retry: %v %d %v %v, want %s existing", stored, n, existing, err, m1.ID)
	}
	claimOf(m1, ds1)
	if _, err := s.GetMessage(ctx, "ten_a", m2.ID); !errors.Is(err, delivery.ErrNotFound) {
		t.Fatalf("the retry's own message: %v, want ErrNotFound", err)
	}
}

func newMessageKeyed(tenant, key string) *delivery.Message {
	m := newMessage(tenant, base.Add(2*time.Second))
	m.IdempotencyKey = key
	return m
}

// TestDueOrderAcrossShards: NextDue and claims see every shard (one pipelined round each).
func TestNextDueAcrossShards(t *testing.T) {
	srv := testredis.Start(t)
	s := openOn(t, redisURL(srv), srv.Prefix, Options{Shards: 16})
	defer s.Close()
	shards := map[int]bool{}
	var eps []string
	for i := 0; len(shards) < 16; i++ {
		ep := fmt.Sprintf("ep_%d", i)
		if n := s.k.shardOf(ep).num; !shards[n] {
			shards[n] = true
			eps = append(eps, ep)
		}
	}
	for i, ep := range eps {
		publishN(t, s, "ten_a", 1, base.Add(time.Duration(16-i)*time.Second), ep)
	}
	next, err := s.NextDue(t.Context())
	if err != nil || !next.Equal(base.Add(time.Second)) {
		t.Fatalf("NextDue = %v, %v; want base+1s", next, err)
	}
	ts := mustClaim(t, s, base.Add(time.Minute), delivery.ClaimOptions{Max: 16, Lease: time.Minute}, 16)
	seen := map[int]bool{}
	for _, tk := range ts {
		seen[s.k.shardOf(tk.EndpointID).num] = true
	}
	if len(seen) != 16 {
		t.Fatalf("one claim of 16 spanned %d shards, want 16", len(seen))
	}
}

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		url     string
		addrs   []string
		user    string
		pass    string
		tls     bool
		wantErr bool
	}{
		{url: "redis+cluster://127.0.0.1:7000,127.0.0.1:7001,10.0.0.3:7002", addrs: []string{"127.0.0.1:7000", "127.0.0.1:7001", "10.0.0.3:7002"}},
		{url: "rediss+cluster://u:p%40ss@h1:7000,h2:7001/?dial_timeout=2s", addrs: []string{"h1:7000", "h2:7001"}, user: "u", pass: "p@ss", tls: true},
		{url: "redis+cluster://h1:7000", addrs: []string{"h1:7000"}},
		{url: "redis+cluster://h1:7000,,h2:1", wantErr: true},
		{url: "redis+cluster://h1:7000/3", wantErr: true},
	} {
		scheme, rest, _ := strings.Cut(tc.url, "://")
		o, err := parseClusterURL(strings.TrimSuffix(scheme, "+cluster"), rest)
		if tc.wantErr {
			if err == nil {
				t.Errorf("%s: no error", tc.url)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.url, err)
			continue
		}
		if strings.Join(o.Addrs, " ") != strings.Join(tc.addrs, " ") || o.Username != tc.user || o.Password != tc.pass ||
			(o.TLSConfig != nil) != tc.tls {
			t.Errorf("%s: addrs %v user %q pass %q tls %v", tc.url, o.Addrs, o.Username, o.Password, o.TLSConfig != nil)
		}
	}
	if got := redact("redis://user:secret@h:1/0"); strings.Contains(got, "secret") {
		t.Errorf("redact kept the password: %s", got)
	}
	if _, err := newClient("http://h:1", Options{}); err == nil {
		t.Error("http:// accepted")
	}
}

// TestRetryAfterPruneDoesNotResend: a producer's retry completes an earlier message from its plan, but never brings
// back a delivery that already ended and was pruned (its message lives on for another delivery still pending).
func TestRetryAfterPruneDoesNotResend(t *testing.T) {
	srv := testredis.Start(t)
	s := openOn(t, redisURL(srv), srv.Prefix, Options{})
	defer s.Close()
	ctx := t.Context()
	m1 := newMessage("ten_a", base)
	m1.IdempotencyKey = "order-9"
	ds := []*delivery.Delivery{newDelivery(m1, "ep_1", base), newDelivery(m1, "ep_2", base.Add(time.Hour))}
	if _, _, _, err := s.Publish(ctx, m1, ds, time.Time{}); err != nil {
		t.Fatal(err)
	}
	tk := mustClaim(t, s, base, delivery.ClaimOptions{Max: 10, Lease: time.Minute}, 1)[0]
	if err := s.Ack(ctx, tk, delivery.Attempt{At: base, StatusCode: 200}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Prune(ctx, base.Add(time.Minute)); err != nil || n != 1 {
		t.Fatalf("Prune: %d, %v", n, err)
	}
	m2 := newMessageKeyed("ten_a", "order-9")
	stored, fanout, existing, err := s.Publish(ctx, m2, []*delivery.Delivery{newDelivery(m2, "ep_1", base)}, base.Add(-time.Hour))
	if err != nil || !existing || stored.ID != m1.ID || fanout != 2 {
		t.Fatalf("retry: %v fanout %d existing %v err %v", stored, fanout, existing, err)
	}
	ts := mustClaim(t, s, base.Add(2*time.Hour), delivery.ClaimOptions{Max: 10, Lease: time.Minute}, 1)
	if ts[0].DeliveryID != ds[1].ID {
		t.Fatalf("claimed %s, want only the pending %s (the pruned one must not come back)", ts[0].DeliveryID, ds[1].ID)
	}
}

// TestPruneWithoutDoneSet: Prune finds terminal deliveries through their messages' delivery indexes (nothing lists
// them per shard any more), drops index entries whose record is already gone, and deletes the done sets older
// versions kept.
func TestPruneWithoutDoneSet(t *testing.T) {
	srv := testredis.Start(t)
	s := openOn(t, redisURL(srv), srv.Prefix, Options{})
	defer s.Close()
	ctx := t.Context()
	ds := publishN(t, s, "ten_a", 3, base, "ep_1", "ep_2", "ep_3")
	for _, tk := range mustClaim(t, s, base, delivery.ClaimOptions{Max: 3, Lease: time.Minute}, 3) {
		if err := s.Ack(ctx, tk, delivery.Attempt{At: base, StatusCode: 200}); err != nil {
			t.Fatal(err)
		}
	}
	legacy := s.k.shardOf("ep_1").done
	if err := s.rdb.ZAdd(ctx, legacy, redis.Z{Score: 1, Member: "dlv_x|ep_1|ten_a|msg_x"}).Err(); err != nil {
		t.Fatal(err)
	}
	// One record vanished behind the store's back: its index entries are stale.
	gone := ds[2]
	if err := s.rdb.Del(ctx, s.k.shardOf(gone.EndpointID).record(gone.ID)).Err(); err != nil {
		t.Fatal(err)
	}
	n, err := s.Prune(ctx, base.Add(time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("Prune: %d, %v; want 2 (the stale entries are dropped, not counted)", n, err)
	}
	for _, d := range ds {
		if _, err := s.GetDelivery(ctx, "ten_a", d.ID); !errors.Is(err, delivery.ErrNotFound) {
			t.Fatalf("GetDelivery %s after prune: %v", d.ID, err)
		}
		if _, err := s.GetMessage(ctx, "ten_a", d.MessageID); !errors.Is(err, delivery.ErrNotFound) {
			t.Fatalf("GetMessage %s after prune: %v", d.MessageID, err)
		}
	}
	if left, _ := s.ListDeliveries(ctx, "ten_a", delivery.Filter{}); len(left) != 0 {
		t.Fatalf("tenant still lists %d deliveries", len(left))
	}
	if n, err := s.rdb.Exists(ctx, legacy).Result(); err != nil || n != 0 {
		t.Fatalf("legacy done set still there: %d, %v", n, err)
	}
}

// TestProtocol: the store speaks RESP2 unless the URL asks for RESP3, which still works.
func TestProtocol(t *testing.T) {
	srv := testredis.Start(t)
	for _, c := range []struct {
		query string
		want  string
	}{{"", "resp=2"}, {"?protocol=3", "resp=3"}} {
		s := openOn(t, redisURL(srv)+c.query, srv.Prefix, Options{})
		info, err := s.rdb.ClientInfo(t.Context()).Result()
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprintf("resp=%d", info.Resp); got != c.want {
			t.Fatalf("URL query %q: CLIENT INFO says %s, want %s", c.query, got, c.want)
		}
		publishN(t, s, "ten_a", 2, base, "ep_1")
		tk := mustClaim(t, s, base, delivery.ClaimOptions{Max: 1, Lease: time.Minute, MaxInFlight: 1}, 1)[0]
		if next := ackNext(t, s, tk, base, delivery.ClaimOptions{Max: 1, Lease: time.Minute, MaxInFlight: 1}); next == nil {
			t.Fatalf("URL query %q: the ack chained nothing", c.query)
		}
		s.Close()
	}
}

// TestDuplicatePublishKeepsKey: the one-script publish takes the idempotency key and reads what it held in one
// command; a duplicate within the window puts the earlier message's value back, with a TTL, and stores nothing.
func TestDuplicatePublishKeepsKey(t *testing.T) {
	srv := testredis.Start(t)
	s := openOn(t, redisURL(srv), srv.Prefix, Options{IdempotencyTTL: time.Hour})
	defer s.Close()
	ctx := t.Context()
	created := time.Now().Add(-10 * time.Minute)
	m1 := newMessage("ten_a", created)
	m1.IdempotencyKey = "order-11"
	if _, _, existing, err := s.Publish(ctx, m1, []*delivery.Delivery{newDelivery(m1, "ep_1", created)}, created.Add(-time.Hour)); err != nil || existing {
		t.Fatalf("first publish: existing %v, %v", existing, err)
	}
	key := s.k.idempotency("ten_a", "order-11")
	want, err := s.rdb.Get(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	m2 := newMessage("ten_a", time.Now())
	m2.IdempotencyKey = "order-11"
	stored, _, existing, err := s.Publish(ctx, m2, []*delivery.Delivery{newDelivery(m2, "ep_1", time.Now())}, created.Add(-time.Hour))
	if err != nil || !existing || stored.ID != m1.ID {
		t.Fatalf("duplicate: %v existing %v err %v; want m1", stored, existing, err)
	}
	if got, err := s.rdb.Get(ctx, key).Result(); err != nil || got != want {
		t.Fatalf("key after the duplicate: %q, %v; want %q", got, err, want)
	}
	if ttl := s.rdb.PTTL(ctx, key).Val(); ttl < 59*time.Minute || ttl > 2*time.Hour {
		t.Fatalf("key's TTL after the duplicate: %v, want the idempotency TTL (1h) or a little more", ttl)
	}
	if _, err := s.GetMessage(ctx, "ten_a", m2.ID); !errors.Is(err, delivery.ErrNotFound) {
		t.Fatalf("the duplicate's message was stored: %v", err)
	}
}

// TestDeleteEndpointDropsItsCount: an endpoint's in-flight count stays at 0 between tasks and goes with the
// endpoint; a task still in flight when it is deleted leaves no count behind when it ends.
func TestDeleteEndpointDropsItsCount(t *testing.T) {
	srv := testredis.Start(t)
	s := openOn(t, redisURL(srv), srv.Prefix, Options{})
	defer s.Close()
	ctx := t.Context()
	ep := &endpoints.Endpoint{ID: "ep_gone", TenantID: "ten_a", URL: "https://example.com/", CreatedAt: base, UpdatedAt: base}
	if err := s.CreateEndpoint(ctx, ep); err != nil {
		t.Fatal(err)
	}
	busy := s.k.shardOf(ep.ID).busy
	count := func() (string, error) { return s.rdb.HGet(ctx, busy, ep.ID).Result() }
	publishN(t, s, "ten_a", 2, base, ep.ID)
	opt := delivery.ClaimOptions{Max: 1, Lease: time.Minute}
	tk := mustClaim(t, s, base, opt, 1)[0]
	if err := s.Ack(ctx, tk, delivery.Attempt{At: base, StatusCode: 200}); err != nil {
		t.Fatal(err)
	}
	if n, err := count(); n != strconv.FormatInt(queuedFlag, 10) || err != nil {
		t.Fatalf("in flight after the ack: %q, %v; want 0 (and the flag of the delivery still queued)", n, err)
	}
	tk = mustClaim(t, s, base, opt, 1)[0]
	if err := s.DeleteEndpoint(ctx, "ten_a", ep.ID); err != nil {
		t.Fatal(err)
	}
	if n, err := count(); !errors.Is(err, redis.Nil) {
		t.Fatalf("in flight after the delete: %q, %v; want no count", n, err)
	}
	if err := s.Ack(ctx, tk, delivery.Attempt{At: base, StatusCode: 200}); err != nil {
		t.Fatal(err)
	}
	if n, err := count(); !errors.Is(err, redis.Nil) {
		t.Fatalf("in flight after the last task of the deleted endpoint ended: %q, %v; want no count", n, err)
	}
}
