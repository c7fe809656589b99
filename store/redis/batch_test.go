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
