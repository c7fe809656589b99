package redisstore

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/events"
	"github.com/webhookd/webhookd/internal/testredis"
)

// TestBatchedAcks: acks of many concurrent workers, pipelined together, each get their own answer: a stale fence is
// refused (ErrLeaseLost) without failing the others in its batch, and the batch survives a script cache flush.
func TestBatchedAcks(t *testing.T) {
	srv := testredis.Start(t)
	s := openOn(t, redisURL(srv), srv.Prefix, Options{})
	defer s.Close()
	ctx := t.Context()
	const n = 200
	eps := make([]string, 20)
	for i := range eps {
		eps[i] = fmt.Sprintf("ep_%02d", i)
	}
	ds := publishN(t, s, "ten_a", n, base, eps...)
	if len(ds) != n {
		t.Fatalf("published %d deliveries, want %d", len(ds), n)
	}
	tasks := mustClaim(t, s, base, delivery.ClaimOptions{Max: n, Lease: time.Minute}, n)
	if err := s.rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, tk := range tasks {
		if i%10 == 0 {
			tk.Fence-- // a zombie's ack
		}
		wg.Go(func() { errs[i] = s.Ack(ctx, tk, delivery.Attempt{At: base, StatusCode: 200}) })
	}
	wg.Wait()
	for i, tk := range tasks {
		d, err := s.GetDelivery(ctx, "ten_a", tk.DeliveryID)
		if err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			if !errors.Is(errs[i], delivery.ErrLeaseLost) || d.Status == delivery.StatusSucceeded {
				t.Fatalf("stale ack %d: %v, status %s", i, errs[i], d.Status)
			}
			continue
		}
		if errs[i] != nil || d.Status != delivery.StatusSucceeded {
			t.Fatalf("ack %d: %v, status %s", i, errs[i], d.Status)
		}
	}
}

// TestBatchedEnqueues: publishes of many concurrent producers, fanned out to the same endpoints, share enqueue
// calls; every delivery is queued exactly once with its own record, and publishing a message again (same
// deliveries) queues nothing more.
func TestBatchedEnqueues(t *testing.T) {
	srv := testredis.Start(t)
	s := openOn(t, redisURL(srv), srv.Prefix, Options{})
	defer s.Close()
	ctx := t.Context()
	const producers, perProducer = 16, 10
	eps := []string{"ep_a", "ep_b", "ep_c", "ep_d", "ep_e"}
	type pub struct {
		m  *delivery.Message
		ds []*delivery.Delivery
	}
	pubs := make([][]pub, producers)
	errs := make([]error, producers)
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for range perProducer {
				m := newMessage("ten_a", base)
				var ds []*delivery.Delivery
				for _, ep := range eps {
					ds = append(ds, newDelivery(m, ep, base))
				}
				if _, _, _, err := s.Publish(ctx, m, ds, time.Time{}); err != nil {
					errs[p] = err
					return
				}
				pubs[p] = append(pubs[p], pub{m, ds})
			}
		})
	}
	wg.Wait()
	want := map[string]bool{}
	for p := range producers {
		if errs[p] != nil {
			t.Fatalf("producer %d: %v", p, errs[p])
		}
		for _, pb := range pubs[p] {
			for _, d := range pb.ds {
				want[d.ID] = true
			}
		}
	}
	// Publishing the first message again changes nothing: its deliveries exist.
	first := pubs[0][0]
	if _, _, _, err := s.Publish(ctx, first.m, first.ds, time.Time{}); err != nil {
		t.Fatal(err)
	}
	n := producers * perProducer * len(eps)
	tasks := mustClaim(t, s, base, delivery.ClaimOptions{Max: n + 10, Lease: time.Minute}, n)
	for _, tk := range tasks {
		if !want[tk.DeliveryID] {
			t.Fatalf("claimed %s: unknown or claimed twice", tk.DeliveryID)
		}
		delete(want, tk.DeliveryID)
		d, err := s.GetDelivery(ctx, "ten_a", tk.DeliveryID)
		if err != nil || d.Status != delivery.StatusPending || d.EndpointID != tk.EndpointID {
			t.Fatalf("record of %s: %+v, %v", tk.DeliveryID, d, err)
		}
	}
	if len(want) != 0 {
		t.Fatalf("%d deliveries never claimed", len(want))
	}
}

// TestPublishMany: a batch of publications, each answered as Publish would answer it: new messages stored with every
// delivery queued once (on a single server in one pipeline of scripts, or the Cluster's way), a repeated idempotency
// key answered with the earlier message and nothing new queued, a fan-out past one script taken the general way, and
// an invalid publication refused without failing the others.
func TestPublishMany(t *testing.T) {
	for _, one := range []bool{true, false} {
		t.Run(map[bool]string{true: "one script", false: "three steps"}[one], func(t *testing.T) {
			srv := testredis.Start(t)
			s := openOn(t, redisURL(srv), srv.Prefix, Options{})
			defer s.Close()
			s.onePublish = one
			ctx := t.Context()
			ten := "ten_many"
			earlier := newMessageKeyed(ten, "key-x")
			earlierDs := []*delivery.Delivery{newDelivery(earlier, "ep_a", base), newDelivery(earlier, "ep_b", base)}
			if _, _, _, err := s.Publish(ctx, earlier, earlierDs, time.Time{}); err != nil {
				t.Fatal(err)
			}

			var ps []events.Publication
			add := func(m *delivery.Message, eps ...string) {
				p := events.Publication{Message: m}
				for _, ep := range eps {
					p.Deliveries = append(p.Deliveries, newDelivery(m, ep, base))
				}
				ps = append(ps, p)
			}
			add(newMessageKeyed(ten, "key-0"), "ep_a")
			add(newMessage(ten, base), "ep_a", "ep_b", "ep_c")
			add(newMessageKeyed(ten, "key-x"), "ep_c")                                 // a repeat of earlier
			add(newMessage(ten, base), "ep_a", "ep_b", "ep_c", "ep_d", "ep_e", "ep_f") // past one script
			add(newMessage(ten, base), "ep_a")
			ps[4].Deliveries[0].ID = "bad id" // invalid
			add(newMessage(ten, base))        // no deliveries

			out := s.PublishMany(ctx, ps)
			if len(out) != len(ps) {
				t.Fatalf("%d results for %d publications", len(out), len(ps))
			}
			if !errors.Is(out[4].Err, events.ErrInvalid) {
				t.Errorf("invalid publication: %v, want ErrInvalid", out[4].Err)
			}
			want := map[string]bool{} // deliveries that must be queued
			for _, d := range earlierDs {
				want[d.ID] = true
			}
			for i, p := range ps {
				if i == 4 {
					continue
				}
				r := out[i]
				if r.Err != nil {
					t.Fatalf("publication %d: %v", i, r.Err)
				}
				if i == 2 {
					if !r.Existing || r.Message.ID != earlier.ID || r.Fanout != len(earlierDs) {
						t.Errorf("repeat: %+v, want the earlier message %s with fan-out %d", r, earlier.ID, len(earlierDs))
					}
					continue
				}
				if r.Existing || r.Message.ID != p.Message.ID || r.Fanout != len(p.Deliveries) {
					t.Errorf("publication %d: %+v, want message %s, fan-out %d", i, r, p.Message.ID, len(p.Deliveries))
				}
				got, err := s.GetMessage(ctx, ten, p.Message.ID)
				if err != nil || string(got.Data) != string(p.Message.Data) {
					t.Errorf("publication %d: stored message %+v, %v", i, got, err)
				}
				for _, d := range p.Deliveries {
					want[d.ID] = true
				}
			}
			if _, err := s.GetMessage(ctx, ten, ps[4].Message.ID); !errors.Is(err, delivery.ErrNotFound) {
				t.Errorf("invalid publication's message: %v, want ErrNotFound", err)
			}
			tasks := mustClaim(t, s, base, delivery.ClaimOptions{Max: 100, Lease: time.Minute}, len(want))
			for _, tk := range tasks {
				if !want[tk.DeliveryID] {
					t.Fatalf("claimed %s: unknown or claimed twice", tk.DeliveryID)
				}
				delete(want, tk.DeliveryID)
			}
		})
	}
}

// TestPublishManyAnnounces: what PublishMany queues (small fan-outs in its pipeline, large ones by the enqueue after
// it) is announced to other replicas, which claim it from their shard hints alone.
func TestPublishManyAnnounces(t *testing.T) {
	ctx := t.Context()
	a, b, wake := listeningPair(ctx, t, testredis.Start(t))
	opt := delivery.ClaimOptions{Max: 64, Lease: time.Minute}
	mustClaim(t, b, base, opt, 0) // reads every shard once; from now on B trusts its hints

	var ps []events.Publication
	want := 0
	for i := range 4 {
		m := newMessage("ten_w", base)
		p := events.Publication{Message: m, Deliveries: []*delivery.Delivery{newDelivery(m, fmt.Sprintf("ep_small_%d", i), base)}}
		ps, want = append(ps, p), want+1
	}
	m := newMessage("ten_w", base)
	p := events.Publication{Message: m}
	for i := range 6 {
		p.Deliveries = append(p.Deliveries, newDelivery(m, fmt.Sprintf("ep_large_%d", i), base))
	}
	ps, want = append(ps, p), want+6
	for i, r := range a.PublishMany(ctx, ps) {
		if r.Err != nil {
			t.Fatalf("publication %d: %v", i, r.Err)
		}
	}
	got := 0
	for got < want {
		waitWake(t, wake, fmt.Sprintf("announcements of the %d deliveries not yet claimed", want-got))
		got += len(mustClaim(t, b, base, opt, -1))
	}
	if got != want {
		t.Fatalf("claimed %d, want %d", got, want)
	}
}

// TestPublishManyEnqueueFails: when enqueueing a large fan-out fails after its message was stored, PublishMany
// reports the failure for it (the producer must not be told it is queued), and other publications are unaffected.
func TestPublishManyEnqueueFails(t *testing.T) {
	srv := testredis.Start(t)
	s := openOn(t, redisURL(srv), srv.Prefix, Options{})
	defer s.Close()
	ctx := t.Context()
	bad := "ep_poisoned"
	// The poisoned endpoint's lanes key holds a string: any enqueue script in its shard fails (WRONGTYPE).
	if err := s.rdb.Set(ctx, s.k.shardOf(bad).lanes, "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	var good string
	for i := 0; good == ""; i++ {
		if ep := fmt.Sprintf("ep_ok_%d", i); s.k.shardOf(ep).num != s.k.shardOf(bad).num {
			good = ep
		}
	}
	large := newMessage("ten_f", base)
	lp := events.Publication{Message: large, Deliveries: []*delivery.Delivery{newDelivery(large, bad, base)}}
	for i := range maxOneScript {
		lp.Deliveries = append(lp.Deliveries, newDelivery(large, fmt.Sprintf("%s_%d", good, i), base))
	}
	small := newMessage("ten_f", base)
	sp := events.Publication{Message: small, Deliveries: []*delivery.Delivery{newDelivery(small, good, base)}}
	out := s.PublishMany(ctx, []events.Publication{lp, sp})
	if out[0].Err == nil || !strings.Contains(out[0].Err.Error(), "WRONGTYPE") {
		t.Errorf("large fan-out whose enqueue failed: %+v, want its WRONGTYPE error", out[0])
	}
	if out[1].Err != nil || out[1].Message == nil || out[1].Message.ID != small.ID {
		t.Errorf("small publication: %+v", out[1])
	}
}

// TestPublishHugeFanout: one script stores the indexes of a fan-out past what Lua's unpack takes at once.
func TestPublishHugeFanout(t *testing.T) {
	srv := testredis.Start(t)
	s := openOn(t, redisURL(srv), srv.Prefix, Options{})
	defer s.Close()
	ctx := t.Context()
	m := newMessage("ten_h", base)
	var ds []*delivery.Delivery
	for i := range 4500 {
		ds = append(ds, newDelivery(m, fmt.Sprintf("ep_%04d", i), base))
	}
	if _, n, _, err := s.Publish(ctx, m, ds, time.Time{}); err != nil || n != len(ds) {
		t.Fatalf("Publish: %d, %v", n, err)
	}
	// Once each: a fan-out this large is enqueued by enqueueScript, which lists them in their endpoints' own
	// indexes, not in the tenant's (endpointMember).
	if n, err := s.rdb.ZCard(ctx, s.k.tenantDeliveries("ten_h")).Result(); err != nil || n != int64(len(ds)) {
		t.Errorf("tenant index: %d members, %v; want %d", n, err, len(ds))
	}
	pipe := s.rdb.Pipeline()
	idx := s.messageIndex(ctx, pipe, "ten_h", m.ID)
	if _, err := pipe.Exec(ctx); err != nil || len(idx.pairs()) != len(ds) {
		t.Errorf("message index: %d members, %v; want %d", len(idx.pairs()), err, len(ds))
	}
	got, err := s.ListDeliveries(ctx, "ten_h", delivery.Filter{MessageID: m.ID, Limit: 10000})
	if err != nil || len(got) != len(ds) {
		t.Fatalf("ListDeliveries: %d, %v; want %d", len(got), err, len(ds))
	}
}

// BenchmarkBatchPublish: 64 publications of 1 KiB to one endpoint per op, as PublishBatch hands them to the store
// now (PublishMany: one pipeline) and as it stored them before (Publish, 16 at once).
func BenchmarkBatchPublish(b *testing.B) {
	srv := testredis.Start(b)
	s := openOn(b, redisURL(srv), srv.Prefix, Options{})
	defer s.Close()
	ctx := b.Context()
	data := []byte(`{"pad":"` + strings.Repeat("x", 1012) + `"}`)
	chunk := func() []events.Publication {
		ps := make([]events.Publication, 64)
		for i := range ps {
			m := newMessage("ten_bench", base)
			m.Data = data
			ps[i] = events.Publication{Message: m, Deliveries: []*delivery.Delivery{newDelivery(m, "ep_bench", base)}}
		}
		return ps
	}
	// report gives the rate, and the CPU this process and the Redis server spent per event since start.
	report := func(b *testing.B, start [2]time.Duration) {
		end := cpuNow(b, srv)
		n := float64(b.N * 64)
		b.ReportMetric(n/b.Elapsed().Seconds(), "events/s")
		b.ReportMetric(float64((end[0]-start[0]).Microseconds())/n, "us-cpu/event")
		b.ReportMetric(float64((end[1]-start[1]).Microseconds())/n, "us-redis-cpu/event")
	}
	b.Run("PublishMany", func(b *testing.B) {
		start := cpuNow(b, srv)
		for b.Loop() {
			for _, r := range s.PublishMany(ctx, chunk()) {
				if r.Err != nil {
					b.Fatal(r.Err)
				}
			}
		}
		report(b, start)
	})
	b.Run("Publish16", func(b *testing.B) {
		start := cpuNow(b, srv)
		for b.Loop() {
			var wg sync.WaitGroup
			sem := make(chan struct{}, 16)
			for _, p := range chunk() {
				sem <- struct{}{}
				wg.Go(func() {
					defer func() { <-sem }()
					if _, _, _, err := s.Publish(ctx, p.Message, p.Deliveries, p.IdemSince); err != nil {
						b.Error(err)
					}
				})
			}
			wg.Wait()
		}
		report(b, start)
	})
}

// cpuNow is the CPU time (user + system) this process and the Redis server have used so far.
func cpuNow(b *testing.B, srv *testredis.Server) [2]time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	self := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	info, err := srv.Client.Info(b.Context(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var redisCPU float64
	for line := range strings.Lines(info) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (k == "used_cpu_sys" || k == "used_cpu_user") {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				b.Fatal(err)
			}
			redisCPU += f
		}
	}
	return [2]time.Duration{self, time.Duration(redisCPU * float64(time.Second))}
}

// TestRepublishKeepsFinished: publishing a message again, with the same deliveries, neither requeues nor rewrites a
// delivery that already ended, through either way of enqueueing (the one-script publish of a small fan-out, the
// shared enqueue calls of a larger one): the endpoint's delivery index, which lists a delivery while its record
// exists, is the existence check.
func TestRepublishKeepsFinished(t *testing.T) {
	srv := testredis.Start(t)
	s := openOn(t, redisURL(srv), srv.Prefix, Options{})
	defer s.Close()
	ctx := t.Context()
	for _, n := range []int{2, maxOneScript + 3} {
		m := newMessage("ten_a", base)
		var ds []*delivery.Delivery
		for i := range n {
			ds = append(ds, newDelivery(m, fmt.Sprintf("ep_%d", i), base))
		}
		if _, _, _, err := s.Publish(ctx, m, ds, time.Time{}); err != nil {
			t.Fatal(err)
		}
		for _, tk := range mustClaim(t, s, base, delivery.ClaimOptions{Max: 100, Lease: time.Minute}, n) {
			if err := s.Ack(ctx, tk, delivery.Attempt{At: base, StatusCode: 200}); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, _, err := s.Publish(ctx, m, ds, time.Time{}); err != nil {
			t.Fatal(err)
		}
		mustClaim(t, s, base.Add(time.Hour), delivery.ClaimOptions{Max: 100, Lease: time.Minute}, 0)
		for _, d := range ds {
			got, err := s.GetDelivery(ctx, "ten_a", d.ID)
			if err != nil || got.Status != delivery.StatusSucceeded {
				t.Fatalf("fan-out %d: delivery %s after publishing again: %+v, %v", n, d.ID, got, err)
			}
		}
		assertQueueEmpty(t, s)
	}
}

// TestPublishManyOrdered: a batch with several events of each ordering key (the first of each key in the pipeline on
// a single server, the rest one at a time after it) queues every delivery, only the head of each key's line is ever
// claimable, and the events of a key are claimed in publish order. An event whose key's earlier event was refused is
// refused too, so nothing of that key goes ahead of what the producer will publish again.
func TestPublishManyOrdered(t *testing.T) {
	for _, one := range []bool{true, false} {
		t.Run(map[bool]string{true: "one script", false: "three steps"}[one], func(t *testing.T) {
			srv := testredis.Start(t)
			s := openOn(t, redisURL(srv), srv.Prefix, Options{})
			defer s.Close()
			s.onePublish = one
			ctx := t.Context()
			ten := "ten_ordered"
			var ps []events.Publication
			order := map[string][]string{} // key → its deliveries at ep_a, in publish order
			for i := range 12 {
				key := fmt.Sprintf("device-%d", i%3)
				m := newMessage(ten, base)
				m.OrderingKey = key
				p := events.Publication{Message: m}
				for _, ep := range []string{"ep_a", "ep_b"} {
					d := newDelivery(m, ep, base)
					d.OrderingKey = key
					p.Deliveries = append(p.Deliveries, d)
				}
				order[key] = append(order[key], p.Deliveries[0].ID)
				ps = append(ps, p)
				if i%4 == 1 { // unkeyed publications in between
					u := newMessage(ten, base)
					ps = append(ps, events.Publication{Message: u, Deliveries: []*delivery.Delivery{newDelivery(u, "ep_a", base)}})
				}
			}
			bad := newMessage(ten, base)
			bad.OrderingKey = "device-bad"
			badD := newDelivery(bad, "bad id", base)
			badD.OrderingKey = bad.OrderingKey
			later := newMessage(ten, base)
			later.OrderingKey = bad.OrderingKey
			laterD := newDelivery(later, "ep_a", base)
			laterD.OrderingKey = later.OrderingKey
			ps = append(ps, events.Publication{Message: bad, Deliveries: []*delivery.Delivery{badD}},
				events.Publication{Message: later, Deliveries: []*delivery.Delivery{laterD}})

			out := s.PublishMany(ctx, ps)
			for i, r := range out[:len(out)-2] {
				if r.Err != nil {
					t.Fatalf("publication %d: %v", i, r.Err)
				}
			}
			if !errors.Is(out[len(out)-2].Err, events.ErrInvalid) {
				t.Errorf("invalid keyed publication: %v, want ErrInvalid", out[len(out)-2].Err)
			}
			if out[len(out)-1].Err == nil {
				t.Errorf("the event after a refused one of its key was stored")
			}

			// Claim and ack ep_a's deliveries until none is left: every claim sees at most one delivery per key, and
			// each key's come in publish order.
			next := map[string]int{}
			keyOf := map[string]string{}
			for key, dids := range order {
				for _, id := range dids {
					keyOf[id] = key
				}
			}
			unkeyed := 0
			for round := 0; ; round++ {
				if round > 100 {
					t.Fatal("deliveries still claimable after 100 rounds")
				}
				tasks := mustClaim(t, s, base, delivery.ClaimOptions{Max: 100, Lease: time.Minute}, -1)
				if len(tasks) == 0 {
					break
				}
				seen := map[string]bool{}
				for _, tk := range tasks {
					if tk.EndpointID != "ep_a" {
						if err := s.Ack(ctx, tk, delivery.Attempt{At: base, StatusCode: 200}); err != nil {
							t.Fatal(err)
						}
						continue
					}
					key, ok := keyOf[tk.DeliveryID]
					if !ok {
						unkeyed++
					} else {
						if seen[key] {
							t.Fatalf("two deliveries of key %s claimable at once", key)
						}
						seen[key] = true
						if want := order[key][next[key]]; tk.DeliveryID != want {
							t.Fatalf("key %s: claimed %s, want %s (event %d)", key, tk.DeliveryID, want, next[key])
						}
						next[key]++
					}
					if err := s.Ack(ctx, tk, delivery.Attempt{At: base, StatusCode: 200}); err != nil {
						t.Fatal(err)
					}
				}
			}
			for key, dids := range order {
				if next[key] != len(dids) {
					t.Errorf("key %s: %d of %d deliveries claimed", key, next[key], len(dids))
				}
			}
			if unkeyed != 3 {
				t.Errorf("%d unkeyed deliveries claimed, want 3", unkeyed)
			}
		})
	}
}

// TestCoalescer: work added while a batch runs waits for it and then goes together, in batches of at most max, in
// arrival order; a lone add runs at once in its caller's goroutine.
func TestCoalescer(t *testing.T) {
	release := make(chan struct{})
	batches := make(chan []int, 8)
	var c coalescer[int]
	c.max = 4
	c.do = func(b []int) {
		batches <- append([]int(nil), b...)
		if b[0] == 0 {
			<-release // the first batch runs until the test lets it go
		}
	}
	go c.add(0)
	if got := <-batches; fmt.Sprint(got) != "[0]" {
		t.Fatalf("first batch %v, want [0]", got)
	}
	for i := 1; i <= 10; i++ {
		c.add(i) // returns at once: a batch is running
	}
	close(release)
	var got []string
	for range 3 {
		got = append(got, fmt.Sprint(<-batches))
	}
	if want := "[[1 2 3 4] [5 6 7 8] [9 10]]"; fmt.Sprint(got) != want {
		t.Fatalf("batches %v, want %s", got, want)
	}

	// Idle again: the next add runs in this goroutine, before add returns.
	c.add(11)
	select {
	case b := <-batches:
		if fmt.Sprint(b) != "[11]" {
			t.Fatalf("lone batch %v, want [11]", b)
		}
	default:
		t.Fatal("a lone add did not run its batch before returning")
	}
}

// pipeCount is a go-redis hook that counts single EVALSHAs and pipelines of them, and holds the first single one
// until gate closes.
type pipeCount struct {
	singles, pipes, piped atomic.Int64
	gate                  chan struct{}
	held                  atomic.Bool
}

func (h *pipeCount) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *pipeCount) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if strings.EqualFold(cmd.Name(), "evalsha") {
			h.singles.Add(1)
			if h.held.CompareAndSwap(false, true) {
				<-h.gate
			}
		}
		return next(ctx, cmd)
	}
}

func (h *pipeCount) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) > 0 && strings.EqualFold(cmds[0].Name(), "evalsha") { // not a new connection's set-up
			h.pipes.Add(1)
			h.piped.Add(int64(len(cmds)))
		}
		return next(ctx, cmds)
	}
}

// TestConcurrentPublishesSharePipeline: publishes that arrive while one publish's script runs go to Redis together,
// one pipeline, and each is stored and queued as if alone.
func TestConcurrentPublishesSharePipeline(t *testing.T) {
	srv := testredis.Start(t)
	s := openOn(t, redisURL(srv), srv.Prefix, Options{})
	defer s.Close()
	if !s.onePublish {
		t.Fatal("a single server should publish in one script")
	}
	hook := &pipeCount{gate: make(chan struct{})}
	s.rdb.(*redis.Client).AddHook(hook)
	spy := spyOn(s)
	if err := s.rdb.ScriptFlush(t.Context()).Err(); err != nil { // the pipeline must survive NOSCRIPT too
		t.Fatal(err)
	}
	const n = 40
	ctx := t.Context()
	ten := "ten_pipe"
	msgs := make([]*delivery.Message, n)
	errs := make(chan error, n)
	publish := func(i int) {
		msgs[i] = newMessage(ten, base)
		_, _, _, err := s.Publish(ctx, msgs[i], []*delivery.Delivery{newDelivery(msgs[i], "ep_a", base)}, time.Time{})
		errs <- err
	}
	go publish(0)
	for !hook.held.Load() { // the first publish's script is on its way, held in the hook
		runtime.Gosched()
	}
	for i := 1; i < n; i++ {
		go publish(i)
	}
	deadline := time.Now().Add(10 * time.Second)
	for { // every other publish waits for the batch after the first
		s.publishes.mu.Lock()
		waiting := len(s.publishes.pending)
		s.publishes.mu.Unlock()
		if waiting == n-1 {
			break
		}
		if time.Now().After(deadline) {
			close(hook.gate)
			t.Fatalf("%d of %d publishes wait for the running one's batch after 10s, want all", waiting, n-1)
		}
		runtime.Gosched()
	}
	close(hook.gate)
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	// The first publish alone (EVALSHA, then EVAL after the flush), then the other 39 in one round trip: one combo
	// script on a single server (combo.go), which also meets NOSCRIPT and runs again by EVAL.
	if p, singles := hook.pipes.Load(), hook.singles.Load(); p != 0 || singles != 2 {
		t.Errorf("%d pipelines and %d single EVALSHAs for %d publishes, want 0 and 2", p, singles, n)
	}
	want := [][]string{{"publish"}, slices.Repeat([]string{"publish"}, n-1)}
	if got := spy.since(0); !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("round trips: %v, want one publish, then a combo of %d", got, n-1)
	}
	for _, m := range msgs {
		if got, err := s.GetMessage(ctx, ten, m.ID); err != nil || string(got.Data) != string(m.Data) {
			t.Fatalf("message %s: %+v, %v", m.ID, got, err)
		}
	}
	mustClaim(t, s, base, delivery.ClaimOptions{Max: 100, Lease: time.Minute}, n)
}
