package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/internal/ids"
	"github.com/webhookd/webhookd/signing"
	redisstore "github.com/webhookd/webhookd/store/redisstore"
)

// runBacklog schedules opt.backlog deliveries in a throwaway Redis through Store.Publish, opt.backlogDue of them due
// now and the rest in an hour, measures Redis memory per pending delivery, then claims and acks the due ones as the
// engine would.
//
// Memory per delivery beyond its body: the same number of messages, with the same 1 KiB data, is published twice,
// first with no deliveries (the bodies and message records alone), then with backlogFanout deliveries each. The
// difference between the two used_memory deltas, divided by the deliveries, is what a pending delivery costs: its
// record, queue entries, log indexes and its share of the message's delivery plan.
func (b *bench) runBacklog(ctx context.Context) *backlogResult {
	res := &backlogResult{perMessage: backlogFanout, endpoints: backlogEndpoints}
	if b.redisBin == "" {
		res.na = "redis-server not found"
		return res
	}
	start := time.Now()
	defer func() { res.elapsed = time.Since(start) }()
	ctx, cancel := context.WithTimeout(ctx, b.opt.backlogTimeout)
	defer cancel()

	dir, err := os.MkdirTemp("", "webhookd-bench-backlog-")
	if err != nil {
		res.err = err
		return res
	}
	defer os.RemoveAll(dir)
	rds, err := startRedis(b.redisBin, dir)
	if err != nil {
		res.err = err
		return res
	}
	defer rds.stop()
	st, err := redisstore.Open(ctx, rds.url(), redisstore.Options{})
	if err != nil {
		res.err = err
		return res
	}
	defer st.Close()

	res.messages = max(1, b.opt.backlog/backlogFanout)
	res.pending = res.messages * backlogFanout
	dueMsgs := min(res.messages, max(1, b.opt.backlogDue/backlogFanout))
	res.due = dueMsgs * backlogFanout
	eps := make([]string, backlogEndpoints)
	for i := range eps {
		eps[i] = ids.New("ep")
	}
	data := newEventBody("", false).data
	const tenant = "bench"

	settle := func() (int64, error) {
		time.Sleep(1200 * time.Millisecond) // the AOF buffer is flushed every second
		return rds.usedMemory(ctx)
	}
	publishAll := func(fanout int, dueNow int) (time.Duration, error) {
		var next atomic.Int64
		var firstErr atomic.Pointer[error]
		var wg sync.WaitGroup
		t0 := time.Now()
		later := t0.Add(time.Hour)
		for range 16 {
			wg.Go(func() {
				for ctx.Err() == nil && firstErr.Load() == nil {
					i := int(next.Add(1)) - 1
					if i >= res.messages {
						return
					}
					now := time.Now().UTC()
					m := &delivery.Message{ID: signing.NewMessageID().String(), TenantID: tenant,
						Type: "bench.event", Timestamp: now, Data: data, CreatedAt: now}
					ds := make([]*delivery.Delivery, fanout)
					for k := range ds {
						due := now
						if i >= dueNow {
							due = later
						}
						ds[k] = &delivery.Delivery{ID: ids.New("dlv"), TenantID: tenant, MessageID: m.ID,
							EndpointID: eps[(i*37+k)%len(eps)], EventType: m.Type, Status: delivery.StatusPending,
							NextAttemptAt: due, CreatedAt: now, UpdatedAt: now}
					}
					if _, _, _, err := st.Publish(ctx, m, ds, time.Time{}); err != nil {
						firstErr.CompareAndSwap(nil, &err)
					}
				}
			})
		}
		wg.Wait()
		if e := firstErr.Load(); e != nil {
			return 0, *e
		}
		return time.Since(t0), ctx.Err()
	}

	b.progress("redis     backlog: %d messages without deliveries ...", res.messages)
	u0, err := settle()
	if err != nil {
		res.err = err
		return res
	}
	if _, err := publishAll(0, 0); err != nil {
		res.err = fmt.Errorf("publish bodies: %w", err)
		return res
	}
	u1, err := settle()
	if err != nil {
		res.err = err
		return res
	}
	b.progress("redis     backlog: %d deliveries (%d due now) ...", res.pending, res.due)
	took, err := publishAll(backlogFanout, dueMsgs)
	if err != nil {
		res.err = fmt.Errorf("schedule deliveries: %w", err)
		return res
	}
	res.enqueueRate = float64(res.pending) / took.Seconds()
	u2, err := settle()
	if err != nil {
		res.err = err
		return res
	}
	res.usedMemory = u2
	res.bodyPerMsg = float64(u1-u0) / float64(res.messages)
	res.perDelivery = float64((u2-u1)-(u1-u0)) / float64(res.pending)

	// Claim and ack the due deliveries.
	b.progress("redis     backlog: claiming %d due deliveries ...", res.due)
	cpu0, _ := procCPU(rds.pid())
	var (
		mu                 sync.Mutex
		claims, acks       []int64
		acked, calls, full atomic.Int64
		firstErr           atomic.Pointer[error]
		wg                 sync.WaitGroup
	)
	opt := delivery.ClaimOptions{Max: backlogClaimBatch, Lease: delivery.DefaultLease, MaxInFlight: delivery.DefaultMaxInFlight}
	t0 := time.Now()
	for range backlogClaimers {
		wg.Go(func() {
			var lc, la []int64
			defer func() { mu.Lock(); claims, acks = append(claims, lc...), append(acks, la...); mu.Unlock() }()
			empty := 0
			for ctx.Err() == nil && firstErr.Load() == nil && acked.Load() < int64(res.due) {
				c0 := time.Now()
				tasks, err := st.Claim(ctx, c0, opt)
				if err != nil {
					firstErr.CompareAndSwap(nil, &err)
					return
				}
				lc = append(lc, time.Since(c0).Nanoseconds())
				calls.Add(1)
				if len(tasks) == 0 {
					if empty++; empty > 200 {
						return // the rest is held by the other claimers
					}
					continue
				}
				empty = 0
				full.Add(1)
				for _, t := range tasks {
					a0 := time.Now()
					err := st.Ack(ctx, t, delivery.Attempt{DeliveryID: t.DeliveryID, N: t.Attempt, At: a0,
						StatusCode: 204, Latency: time.Millisecond, Outcome: "success"})
					if err != nil {
						firstErr.CompareAndSwap(nil, &err)
						return
					}
					la = append(la, time.Since(a0).Nanoseconds())
					acked.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(t0)
	cpu1, _ := procCPU(rds.pid())
	if e := firstErr.Load(); e != nil {
		res.err = fmt.Errorf("claim/ack: %w", *e)
		return res
	}
	res.acked = int(acked.Load())
	res.claimRate = float64(res.acked) / elapsed.Seconds()
	res.claimCall = summarize(claims)
	res.ack = summarize(acks)
	if n := full.Load(); n > 0 {
		res.tasksPer = float64(res.acked) / float64(n)
	}
	if res.acked > 0 {
		res.redisCPUk = (cpu1 - cpu0).Seconds() * 1000 / float64(res.acked)
	}

	// An idle claim with the whole backlog scheduled in the future: the engine's polling cost when nothing is due.
	var idle []int64
	for range 500 {
		c0 := time.Now()
		tasks, err := st.Claim(ctx, c0, opt)
		if err != nil {
			res.err = fmt.Errorf("idle claim: %w", err)
			return res
		}
		if len(tasks) > 0 {
			res.err = fmt.Errorf("idle claim: %d tasks due that should not be (first %s)", len(tasks), tasks[0].DeliveryID)
			return res
		}
		idle = append(idle, time.Since(c0).Nanoseconds())
	}
	res.emptyClaim = summarize(idle)
	if res.acked < res.due {
		res.err = fmt.Errorf("claimed and acked %d of %d due deliveries", res.acked, res.due)
	}
	return res
}
