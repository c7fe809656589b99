package redisstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/internal/testredis"
)

// TestChaos: six workers on three Stores share one Redis. On each task a worker may crash (abandon it), release it,
// nack it, stall and ack it late (a zombie), or ack it; a reaper reclaims expired leases all along. Time is a logical
// clock every claim advances by 1ms. In the end every delivery succeeded exactly once, no ack with a superseded
// fence was accepted, and the in-flight cap held.
func TestChaos(t *testing.T) {
	srv := testredis.Start(t)
	testChaos(t, redisURL(srv), srv.Prefix)
}

func testChaos(t *testing.T, url, prefix string) {
	first := openOn(t, url, prefix, Options{Shards: 8})
	defer first.Close()
	stores := []*Store{first}
	for range 2 {
		s, err := Open(t.Context(), url, first.opt)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		stores = append(stores, s)
	}
	const (
		total = 600
		nEP   = 20
		cap   = 2
		lease = 20 * time.Millisecond
	)
	eps := make([]string, nEP)
	for i := range eps {
		eps[i] = fmt.Sprintf("ep_%02d", i)
	}
	ds := publishN(t, first, "ten_a", total, base, eps...)

	var clock atomic.Int64 // ms after base
	now := func() time.Time { return base.Add(time.Duration(clock.Load()) * time.Millisecond) }
	var (
		mu        sync.Mutex
		succeeded = map[string]int{}
		lastFence = map[string]uint64{} // the latest fence handed out per delivery
		staleOK   []string              // accepted results whose fence had been superseded
		out       = map[string]int{}
		overCap   int
	)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	fail := func(err error) {
		select {
		case errs <- err:
		default:
		}
		cancel()
	}
	// superseded reports whether a later fence was handed out for the task's delivery before a call with it began:
	// a result accepted then is a zombie's that got through. (A fence handed out after the call began proves nothing.)
	superseded := func(tk delivery.Task) bool {
		mu.Lock()
		defer mu.Unlock()
		return lastFence[tk.DeliveryID] != tk.Fence
	}
	accepted := func(tk delivery.Task, what string, stale bool) {
		if stale {
			mu.Lock()
			staleOK = append(staleOK, fmt.Sprintf("%s %s fence %d", what, tk.DeliveryID, tk.Fence))
			mu.Unlock()
		}
	}
	done := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(succeeded) == total
	}

	wg.Go(func() { // the reaper
		for ctx.Err() == nil && !done() {
			if _, _, err := stores[0].Reclaim(ctx, now(), 0, 50); err != nil && ctx.Err() == nil {
				fail(fmt.Errorf("Reclaim: %w", err))
			}
		}
	})
	for w := range 6 {
		s := stores[w%len(stores)]
		rng := rand.New(rand.NewPCG(uint64(w), 7))
		wg.Go(func() {
			var zombies []delivery.Task
			for ctx.Err() == nil && !done() {
				n := clock.Add(1)
				at := base.Add(time.Duration(n) * time.Millisecond)
				ts, err := s.Claim(ctx, at, delivery.ClaimOptions{Max: 4, Lease: lease, MaxInFlight: cap})
				if err != nil {
					if ctx.Err() == nil {
						fail(fmt.Errorf("Claim: %w", err))
					}
					return
				}
				mu.Lock()
				for _, tk := range ts {
					lastFence[tk.DeliveryID] = max(lastFence[tk.DeliveryID], tk.Fence)
					out[tk.EndpointID]++
					if out[tk.EndpointID] > cap {
						overCap++
					}
				}
				mu.Unlock()
				for _, tk := range ts {
					var err error
					what := ""
					mu.Lock()
					out[tk.EndpointID]-- // before the result lands, so this count never overstates
					mu.Unlock()
					stale := superseded(tk)
					switch r := rng.IntN(100); {
					case r < 5: // crash: the lease expires and the reaper takes it back
						continue
					case r < 8:
						what, err = "release", s.Release(ctx, tk, now())
					case r < 22:
						what, err = "nack", s.Nack(ctx, tk, delivery.Attempt{At: now(), StatusCode: 503}, now().Add(3*time.Millisecond))
					case r < 27: // stall: ack much later
						zombies = append(zombies, tk)
						continue
					default:
						what, err = "ack", s.Ack(ctx, tk, delivery.Attempt{At: now(), StatusCode: 200})
					}
					if errors.Is(err, delivery.ErrLeaseLost) {
						continue // reclaimed meanwhile: fine
					}
					if err != nil {
						if ctx.Err() == nil {
							fail(fmt.Errorf("%s: %w", what, err))
						}
						return
					}
					accepted(tk, what, stale)
					if what == "ack" {
						mu.Lock()
						succeeded[tk.DeliveryID]++
						mu.Unlock()
					}
				}
				if len(zombies) > 3 { // the zombies wake up, their leases long gone (or not: then it is fine)
					for _, z := range zombies {
						stale := superseded(z)
						err := s.Ack(ctx, z, delivery.Attempt{At: now(), StatusCode: 200})
						if errors.Is(err, delivery.ErrLeaseLost) {
							continue
						}
						if err != nil {
							if ctx.Err() == nil {
								fail(fmt.Errorf("zombie ack: %w", err))
							}
							return
						}
						accepted(z, "zombie ack", stale)
						mu.Lock()
						succeeded[z.DeliveryID]++
						mu.Unlock()
					}
					zombies = zombies[:0]
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(staleOK) > 0 {
		t.Fatalf("%d results accepted with a superseded fence, e.g. %s", len(staleOK), staleOK[0])
	}
	if overCap > 0 {
		t.Fatalf("the in-flight cap was exceeded %d times", overCap)
	}
	for _, d := range ds {
		if n := succeeded[d.ID]; n != 1 {
			t.Fatalf("delivery %s succeeded %d times", d.ID, n)
		}
		got, err := first.GetDelivery(t.Context(), "ten_a", d.ID)
		if err != nil || got.Status != delivery.StatusSucceeded {
			t.Fatalf("delivery %s: %+v, %v", d.ID, got, err)
		}
	}
	assertQueueEmpty(t, first)
	t.Logf("%d deliveries acked exactly once in %dms of logical time", total, clock.Load())
}
