package storetest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/internal/procs"
)

// Bench measures a backend's hot paths with 1 and 16 concurrent goroutines and reports ops/s besides ns/op:
//
//   - Publish: one message with one delivery, durably stored and queued.
//   - ClaimAck: claim in batches of 16 (over 200 endpoints) and ack each task; one op is one delivery.
//
// open returns a fresh, empty store; Bench closes it.
func Bench(b *testing.B, open func(b *testing.B) Store) {
	for _, g := range []int{1, 16} {
		b.Run(fmt.Sprintf("Publish/g=%d", g), func(b *testing.B) { benchPublish(b, open(b), g) })
		b.Run(fmt.Sprintf("ClaimAck/g=%d", g), func(b *testing.B) { benchClaimAck(b, open(b), g) })
	}
}

func closeStore(b *testing.B, s Store) {
	b.Cleanup(func() {
		if err := s.Close(); err != nil {
			b.Errorf("Close: %v", err)
		}
	})
}

func opsPerSec(b *testing.B) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s, "ops/s")
	}
}

// CPUPerOp starts counting the process's CPU time (every goroutine's, the store's own committers and the garbage
// collector included); the returned func reports it per op as cpu-µs/op. Where CPU time cannot be read it reports
// nothing.
func CPUPerOp(b *testing.B) (stop func()) {
	start, err := procs.CPUTime()
	return func() {
		end, err2 := procs.CPUTime()
		if err != nil || err2 != nil || b.N == 0 {
			return
		}
		b.ReportMetric(float64(end-start)/float64(time.Microsecond)/float64(b.N), "cpu-µs/op")
	}
}

// parallel runs fn n times spread over g goroutines.
func parallel(b *testing.B, g, n int, fn func(i int) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, g)
	for range g {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

func benchPublish(b *testing.B, s Store, g int) {
	closeStore(b, s)
	ctx := context.Background()
	b.ResetTimer()
	stop := CPUPerOp(b)
	parallel(b, g, b.N, func(i int) error {
		m := message("ten_bench", base)
		ds := []*delivery.Delivery{deliveryOf(m, fmt.Sprintf("ep_%03d", i%200), base)}
		_, _, _, err := s.Publish(ctx, m, ds, time.Time{})
		return err
	})
	b.StopTimer()
	stop()
	opsPerSec(b)
}

func benchClaimAck(b *testing.B, s Store, g int) {
	closeStore(b, s)
	ctx := context.Background()
	for left, i := b.N, 0; left > 0; i++ {
		m := message("ten_bench", base)
		ds := make([]*delivery.Delivery, min(left, 500))
		for j := range ds {
			ds[j] = deliveryOf(m, fmt.Sprintf("ep_%03d", j%200), base)
		}
		if _, _, _, err := s.Publish(ctx, m, ds, time.Time{}); err != nil {
			b.Fatal(err)
		}
		left -= len(ds)
	}
	var acked atomic.Int64
	b.ResetTimer()
	stop := CPUPerOp(b)
	parallel(b, g, g, func(int) error {
		for {
			ts, err := s.Claim(ctx, base, delivery.ClaimOptions{Max: 16, Lease: time.Minute})
			if err != nil {
				return err
			}
			if len(ts) == 0 {
				return nil // the rest is leased to other goroutines
			}
			for _, t := range ts {
				if err := s.Ack(ctx, t, delivery.Attempt{At: base, StatusCode: 200}); err != nil {
					return err
				}
				acked.Add(1)
			}
		}
	})
	b.StopTimer()
	stop()
	if int(acked.Load()) != b.N {
		b.Fatalf("acked %d of %d", acked.Load(), b.N)
	}
	opsPerSec(b)
}
