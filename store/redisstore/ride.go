package redisstore

import (
	"sync"
	"sync/atomic"
	"time"
)

// Acks that ride with publishes (Options.RideWait). At a steady, moderate load on a single server a publish leases
// its delivery on the spot (prelease.go), and the worker's ack a millisecond later was a round trip of its own: one
// more write that wakes Redis and one more read that wakes the gateway, per delivery. An ack or fail whose endpoint
// had nothing queued lately (so it has nothing to chain; lanemarks.go) waits instead, while publishes come at least
// every RideWait, for the next publish's pipeline, where it goes ahead of the publish scripts: one round trip
// carries both, and the publish already sees the endpoint's in-flight count lowered. When no publish comes within
// RideWait it goes alone, as before.
//
// The worker and the delivery log see the ack at most RideWait later; the receiver's request is not delayed. A crash
// in that moment loses the ack, as a crash before any ack does: the lease expires and the delivery is sent again
// under the same webhook-id.
type rides struct {
	wait time.Duration // 0: acks never wait
	last atomic.Int64  // Unix ns of the last publish sent
	gap  atomic.Int64  // moving average of the time between publishes, ns (updates may race: it is a hint)

	mu    sync.Mutex
	items []*batchItem
	timer *time.Timer // sends items alone, RideWait after the first of them came
}

// init sets up r to send what waits with send, wait after the first item came.
func (r *rides) init(wait time.Duration, send func([]*batchItem)) {
	r.wait = wait
	r.timer = time.AfterFunc(time.Hour, func() {
		if items := r.take(); len(items) > 0 {
			send(items)
		}
	})
	r.timer.Stop()
}

// published notes a publish sent at now (Unix ns).
func (r *rides) published(now int64) {
	if r.wait <= 0 {
		return
	}
	prev := r.last.Swap(now)
	if prev == 0 || now <= prev {
		return
	}
	// A pause counts as twice the wait at most, so that the average follows a load that comes back within a few
	// publishes.
	d, g := min(now-prev, 2*int64(r.wait)), r.gap.Load()
	if g == 0 {
		g = d
	} else {
		g += (d - g) / 8
	}
	r.gap.Store(g)
}

// likely tells whether a publish is likely to come within wait of now (Unix ns): they have lately come more often
// than that, and the last one was less than wait ago.
func (r *rides) likely(now int64) bool {
	if r.wait <= 0 {
		return false
	}
	last, gap := r.last.Load(), r.gap.Load()
	return last != 0 && gap > 0 && gap < int64(r.wait) && now-last < int64(r.wait)
}

// add queues it for the next publish, or for the timer.
func (r *rides) add(it *batchItem) {
	r.mu.Lock()
	r.items = append(r.items, it)
	if len(r.items) == 1 {
		r.timer.Reset(r.wait)
	}
	r.mu.Unlock()
}

// take returns what waits and stops the timer.
func (r *rides) take() []*batchItem {
	if r.timer == nil {
		return nil
	}
	r.mu.Lock()
	items := r.items
	r.items = nil
	if len(items) > 0 {
		r.timer.Stop()
	}
	r.mu.Unlock()
	return items
}
