package redisstore

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/webhookd/webhookd/delivery"
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
