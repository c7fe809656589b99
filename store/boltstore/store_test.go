package boltstore

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/endpoints"
	"github.com/webhookd/webhookd/events"
	"github.com/webhookd/webhookd/internal/ids"
	"github.com/webhookd/webhookd/tenants"

	bolt "go.etcd.io/bbolt"
)

var t0 = time.Date(2090, 1, 1, 0, 0, 0, 0, time.UTC)

func newMsg(tenant string) *delivery.Message {
	return &delivery.Message{ID: ids.New("msg"), TenantID: tenant, Type: "t", Timestamp: t0, Data: []byte(`{}`), CreatedAt: t0}
}

func newDlv(m *delivery.Message, ep string, due time.Time) *delivery.Delivery {
	return &delivery.Delivery{ID: ids.New("dlv"), TenantID: m.TenantID, MessageID: m.ID, EndpointID: ep,
		Status: delivery.StatusPending, NextAttemptAt: due, CreatedAt: m.CreatedAt}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func claimAll(t testing.TB, s *Store, now time.Time) map[string]delivery.Task {
	t.Helper()
	ts, err := s.Claim(context.Background(), now, delivery.ClaimOptions{Max: 100, Lease: time.Minute})
	must(t, err)
	out := make(map[string]delivery.Task, len(ts))
	for _, tk := range ts {
		out[tk.DeliveryID] = tk
	}
	return out
}

// TestReopen: everything durable survives Close and Open; the lanes are rebuilt from the pending deliveries, and a
// lease held at Close is gone (its attempt was not counted: it runs again under the same number).
func TestReopen(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	must(t, err)
	must(t, s.CreateTenant(ctx, &tenants.Tenant{ID: "ten_a", CreatedAt: t0}))
	ep := &endpoints.Endpoint{ID: "ep_1", TenantID: "ten_a", URL: "https://x.example/", Keys: []endpoints.Key{{Secret: "whsec_c2VjcmV0"}}}
	must(t, s.CreateEndpoint(ctx, ep))
	must(t, s.PutEventType(ctx, &events.EventType{Name: "t"}))

	m := newMsg("ten_a")
	acked, nacked, leased, waiting := newDlv(m, "ep_1", t0), newDlv(m, "ep_2", t0), newDlv(m, "ep_3", t0), newDlv(m, "ep_4", t0.Add(time.Hour))
	_, _, _, err = s.Publish(ctx, m, []*delivery.Delivery{acked, nacked, leased, waiting}, time.Time{})
	must(t, err)
	ts := claimAll(t, s, t0)
	if len(ts) != 3 {
		t.Fatalf("claimed %d, want 3", len(ts))
	}
	must(t, s.Ack(ctx, ts[acked.ID], delivery.Attempt{At: t0, StatusCode: 200}))
	must(t, s.Nack(ctx, ts[nacked.ID], delivery.Attempt{At: t0, StatusCode: 500}, t0.Add(time.Minute)))
	must(t, s.Close())
	_, err = s.GetTenant(ctx, "ten_a")
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("GetTenant after Close: %v, want ErrClosed", err)
	}
	if _, err := s.Claim(ctx, t0, delivery.ClaimOptions{Max: 1, Lease: time.Minute}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Claim after Close: %v, want ErrClosed", err)
	}

	s, err = Open(dir, Options{})
	must(t, err)
	defer s.Close()
	got, err := s.GetEndpoint(ctx, "ten_a", "ep_1")
	must(t, err)
	if got.Keys[0].Secret != "whsec_c2VjcmV0" {
		t.Fatalf("endpoint after reopen: %+v", got)
	}
	_, err = s.GetEventType(ctx, "t")
	must(t, err)
	if next, _ := s.NextDue(ctx); !next.Equal(t0) {
		t.Fatalf("NextDue after reopen = %v, want %v (the lease held at close)", next, t0)
	}
	isErr := func(err, want error) {
		t.Helper()
		if !errors.Is(err, want) {
			t.Fatalf("err = %v, want %v", err, want)
		}
	}
	isErr(s.Ack(ctx, ts[leased.ID], delivery.Attempt{At: t0}), delivery.ErrLeaseLost)

	after := claimAll(t, s, t0.Add(time.Minute))
	if len(after) != 2 || after[leased.ID].Attempt != 1 || after[nacked.ID].Attempt != 2 {
		t.Fatalf("claimed after reopen: %+v; want the leased one (attempt 1 again) and the nacked one (attempt 2)", after)
	}
	if after[leased.ID].Fence <= ts[leased.ID].Fence {
		t.Fatalf("fence after reopen %d ≤ before %d", after[leased.ID].Fence, ts[leased.ID].Fence)
	}
	if w := claimAll(t, s, t0.Add(time.Hour)); len(w) != 1 || w[waiting.ID].Attempt != 1 {
		t.Fatalf("claimed at +1h: %+v", w)
	}
	d, err := s.GetDelivery(ctx, "ten_a", acked.ID)
	must(t, err)
	if d.Status != delivery.StatusSucceeded {
		t.Fatalf("acked delivery after reopen: %+v", d)
	}
}

func TestOpenLocked(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	must(t, err)
	defer s.Close()
	start := time.Now()
	s2, err := Open(dir, Options{LockTimeout: 50 * time.Millisecond})
	if err == nil {
		s2.Close()
		t.Fatal("second Open succeeded")
	}
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("second Open took %v", d)
	}
	t.Log(err)
}

func TestOpenPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	s, err := Open(dir, Options{})
	must(t, err)
	must(t, s.Close())
	fi, err := os.Stat(filepath.Join(dir, FileName))
	must(t, err)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	file := filepath.Join(t.TempDir(), "c", "custom.db")
	s, err = Open(file, Options{})
	must(t, err)
	if s.Path() != file {
		t.Fatalf("Path = %s, want %s", s.Path(), file)
	}
	must(t, s.Ping(t.Context()))
	must(t, s.Close())
	if err := s.Ping(t.Context()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Ping after Close: %v", err)
	}
}

// TestPublishFailsMidway: a Publish whose transaction fails after writing part of its records leaves nothing behind.
func TestPublishFailsMidway(t *testing.T) {
	ctx := t.Context()
	s := open(t)
	defer s.Close()
	m0 := newMsg("ten_a")
	taken := newDlv(m0, "ep_1", t0)
	_, _, _, err := s.Publish(ctx, m0, []*delivery.Delivery{taken}, time.Time{})
	must(t, err)

	m := newMsg("ten_a")
	m.IdempotencyKey = "k"
	first := newDlv(m, "ep_2", t0)
	dup := newDlv(m, "ep_3", t0)
	dup.ID = taken.ID // collides with a stored delivery: found only inside the transaction
	if _, _, _, err := s.Publish(ctx, m, []*delivery.Delivery{first, dup}, time.Time{}); err == nil {
		t.Fatal("Publish with a taken delivery id succeeded")
	}
	if _, err := s.GetMessage(ctx, "ten_a", m.ID); !errors.Is(err, delivery.ErrNotFound) {
		t.Fatalf("GetMessage: %v", err)
	}
	if _, err := s.GetDelivery(ctx, "ten_a", first.ID); !errors.Is(err, delivery.ErrNotFound) {
		t.Fatalf("GetDelivery: %v", err)
	}
	if d, _ := s.GetDelivery(ctx, "ten_a", taken.ID); d.EndpointID != "ep_1" {
		t.Fatalf("the stored delivery changed: %+v", d)
	}
	ts := claimAll(t, s, t0)
	if len(ts) != 1 {
		t.Fatalf("claimed %d, want only the first message's delivery", len(ts))
	}
	publishKeyed(t, s, "k") // the idempotency key was not taken
}

func TestPruneBatches(t *testing.T) {
	ctx := t.Context()
	s, err := Open(t.TempDir(), Options{PruneBatch: 2})
	must(t, err)
	defer s.Close()
	var msgs []*delivery.Message
	for range 4 {
		m := newMsg("ten_a")
		msgs = append(msgs, m)
		_, _, _, err := s.Publish(ctx, m, []*delivery.Delivery{newDlv(m, "ep_1", t0), newDlv(m, "ep_2", t0)}, time.Time{})
		must(t, err)
	}
	for _, tk := range claimAll(t, s, t0) {
		must(t, s.Ack(ctx, tk, delivery.Attempt{At: t0, StatusCode: 200}))
	}
	n, err := s.Prune(ctx, t0.Add(time.Hour))
	must(t, err)
	if n != 8 {
		t.Fatalf("pruned %d, want 8", n)
	}
	for _, m := range msgs {
		if _, err := s.GetMessage(ctx, "ten_a", m.ID); !errors.Is(err, delivery.ErrNotFound) {
			t.Fatalf("message %s after prune: %v", m.ID, err)
		}
	}
	must(t, s.db.View(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if n := tx.Bucket(b).Stats().KeyN; n != 0 && string(b) != "meta" {
				t.Errorf("bucket %s has %d keys after prune", b, n)
			}
		}
		return nil
	}))
}

// TestConcurrentWorkers is a small chaos run: workers claim under an in-flight cap and ack, nack, release or drop
// (a crash: the lease expires and is reclaimed) at random. Every delivery ends acked exactly once, no result of a
// lost lease is accepted, and the cap is never exceeded.
func TestConcurrentWorkers(t *testing.T) {
	ctx := t.Context()
	s := open(t)
	defer s.Close()
	const endpointsN, perEndpoint, workers, capN = 20, 15, 6, 2
	for e := range endpointsN {
		m := newMsg("ten_a")
		ds := make([]*delivery.Delivery, perEndpoint)
		for i := range ds {
			ds[i] = newDlv(m, "ep_"+string(rune('a'+e)), t0)
		}
		_, _, _, err := s.Publish(ctx, m, ds, time.Time{})
		must(t, err)
	}
	var (
		mu    sync.Mutex
		acked = map[string]int{}
		clock = t0 // advanced by the workers; leases are 1 "minute" of it
	)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); clock = clock.Add(time.Second); return clock }
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for idle := 0; idle < 200; {
				n := now()
				if _, _, err := s.Reclaim(ctx, n, 0, 10); err != nil {
					t.Error(err)
					return
				}
				ts, err := s.Claim(ctx, n, delivery.ClaimOptions{Max: 4, Lease: 30 * time.Second, MaxInFlight: capN})
				if err != nil {
					t.Error(err)
					return
				}
				if len(ts) == 0 {
					idle++
					continue
				}
				idle = 0
				// Leases per endpoint, counted from the items, never exceed the cap and match the lane's count.
				s.mu.Lock()
				busy, closing := map[*lane]int{}, map[*lane]int{}
				for _, it := range s.sched.items {
					if s.sched.lanes[it.lane.key] != it.lane {
						t.Errorf("item %s: its lane %s is gone", it.id, it.lane.endpoint)
					}
					switch it.state {
					case leased:
						busy[it.lane]++
					case finishing:
						closing[it.lane]++
					}
				}
				for _, l := range s.sched.lanes {
					if busy[l] > capN || busy[l] != l.busy || closing[l] != l.closing {
						t.Errorf("lane %s: %d leased (counted %d), %d finishing (counted %d), cap %d",
							l.endpoint, busy[l], l.busy, closing[l], l.closing, capN)
					}
				}
				s.mu.Unlock()
				for _, tk := range ts {
					a := delivery.Attempt{At: n, StatusCode: 200}
					var err error
					switch r := rng.IntN(100); {
					case r < 10: // crash: never answer; the lease stands until a reclaim takes it back
					case r < 25:
						err = s.Nack(ctx, tk, a, n)
					case r < 30:
						err = s.Release(ctx, tk, n)
					default:
						err = s.Ack(ctx, tk, a)
						if err == nil {
							mu.Lock()
							acked[tk.DeliveryID]++
							mu.Unlock()
						}
					}
					if err != nil && !errors.Is(err, delivery.ErrLeaseLost) {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	// Settle what crashed workers left leased.
	for {
		n, _, err := s.Reclaim(ctx, clock.Add(time.Hour), 0, 0)
		must(t, err)
		ts := claimAll(t, s, clock.Add(time.Hour))
		for _, tk := range ts {
			must(t, s.Ack(ctx, tk, delivery.Attempt{At: clock}))
			acked[tk.DeliveryID]++
		}
		if n == 0 && len(ts) == 0 {
			break
		}
	}
	s.mu.Lock()
	if len(s.sched.items) != 0 || len(s.sched.lanes) != 0 || len(s.sched.ready) != 0 || len(s.sched.leased) != 0 || len(s.sched.parked) != 0 {
		t.Errorf("scheduler not empty: %d items, %d lanes, %d ready, %d leased, %d parked",
			len(s.sched.items), len(s.sched.lanes), len(s.sched.ready), len(s.sched.leased), len(s.sched.parked))
	}
	s.mu.Unlock()
	if len(acked) != endpointsN*perEndpoint {
		t.Fatalf("acked %d deliveries, want %d", len(acked), endpointsN*perEndpoint)
	}
	for id, n := range acked {
		if n != 1 {
			t.Fatalf("delivery %s acked %d times", id, n)
		}
	}
	ds, err := s.ListDeliveries(ctx, "ten_a", delivery.Filter{Status: delivery.StatusSucceeded})
	must(t, err)
	if len(ds) != endpointsN*perEndpoint {
		t.Fatalf("%d succeeded deliveries in the log", len(ds))
	}
}

// holdCommits blocks the committer with a write of its own until the returned function is called, so that the
// writes queued meanwhile are pending: handed in, not yet committed.
func holdCommits(t *testing.T, s *Store) (release func()) {
	t.Helper()
	gate, entered := make(chan struct{}), make(chan struct{})
	var once sync.Once
	done := make(chan error, 1)
	go func() {
		done <- s.write(context.Background(), func(*bolt.Tx) error {
			once.Do(func() { close(entered) })
			<-gate
			return nil
		})
	}()
	<-entered
	var released sync.Once
	release = func() { released.Do(func() { close(gate); must(t, <-done) }) }
	t.Cleanup(release) // before the store's Close, which waits for the committer
	return release
}

// TestSlotFreedBeforeCommit: an endpoint's in-flight slot is freed when a result is handed in, so a claim for the
// same endpoint succeeds while the ack waits for its commit; the delivery itself stays held (no second result, not
// reclaimable) until the commit is done.
func TestSlotFreedBeforeCommit(t *testing.T) {
	ctx := t.Context()
	s := open(t)
	m := newMsg("ten_a")
	d1, d2 := newDlv(m, "ep_a", t0), newDlv(m, "ep_a", t0.Add(time.Millisecond))
	_, _, _, err := s.Publish(ctx, m, []*delivery.Delivery{d1, d2}, time.Time{})
	must(t, err)
	opt := delivery.ClaimOptions{Max: 10, Lease: time.Minute, MaxInFlight: 1}
	now := t0.Add(time.Second)
	ts, err := s.Claim(ctx, now, opt)
	must(t, err)
	if len(ts) != 1 || ts[0].DeliveryID != d1.ID {
		t.Fatalf("first claim %+v", ts)
	}
	if more, _ := s.Claim(ctx, now, opt); len(more) != 0 {
		t.Fatalf("claim above the cap: %+v", more)
	}

	release := holdCommits(t, s)
	acked := make(chan error, 1)
	go func() { acked <- s.Ack(ctx, ts[0], delivery.Attempt{At: now, StatusCode: 200}) }()
	var next []delivery.Task
	for deadline := time.Now().Add(5 * time.Second); len(next) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("no claim for the endpoint while its ack was committing")
		}
		time.Sleep(time.Millisecond)
		next, err = s.Claim(ctx, now, opt)
		must(t, err)
	}
	if next[0].DeliveryID != d2.ID {
		t.Fatalf("claim while committing %+v", next)
	}
	select {
	case err := <-acked:
		t.Fatalf("ack returned before its commit: %v", err)
	default:
	}
	s.mu.Lock()
	l := s.sched.lanes[string(key("ten_a", "ep_a"))]
	if l.busy != 1 || l.closing != 1 || s.sched.items[d1.ID].state != finishing {
		t.Errorf("lane busy %d closing %d, first item %v", l.busy, l.closing, s.sched.items[d1.ID].state)
	}
	s.mu.Unlock()
	// The acked delivery is still held: a second result is refused and a reclaim leaves it alone.
	if err := s.Nack(ctx, ts[0], delivery.Attempt{At: now}, now); !errors.Is(err, delivery.ErrLeaseLost) {
		t.Errorf("second result while committing: %v", err)
	}
	s.mu.Lock()
	if exp := s.sched.expired(now.Add(time.Hour), 0); len(exp) != 1 || exp[0].id != d2.ID { // only d2's lease
		t.Errorf("reclaimable while committing: %d items", len(exp))
	}
	s.mu.Unlock()

	release()
	must(t, <-acked)
	got, err := s.GetDelivery(ctx, "ten_a", d1.ID)
	must(t, err)
	if got.Status != delivery.StatusSucceeded {
		t.Fatalf("d1 %s", got.Status)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if l.busy != 1 || l.closing != 0 { // d2 is still leased
		t.Errorf("after the commit: lane busy %d closing %d", l.busy, l.closing)
	}
}
