package redisstore

import "sync"

// Lease horizons: how Reclaim spares the shards where no lease can have expired since it last looked.
//
// The delivery engine calls Reclaim every few seconds, whatever the load, to take back the leases of crashed or
// stalled workers anywhere; reading every shard's leases each time was a fixed cost per second (64 commands every
// 5 s at the defaults), a visible part of a moderate load's commands per delivery. But a lease is always written as
// "now + a lease" (by a claim, a publish, a chained finish; an extend only pushes it later), so a scan that found a
// shard's earliest lease expiring at D (or no lease) at t0 also tells that nothing there expires before
// min(D, t0 + the shortest lease written since). Reclaim then skips the shard until that horizon.
//
// The Store knows the leases it hands out itself (the shortest lease any Claim asked for), not another replica's,
// and a writer's now may lag the scan's by moments (a claim under way, an ack waiting for a publish, clocks apart),
// so the horizon is seven eighths of that lease (52.5 s of the default 60 s): a replica configured with a shorter
// lease than that may see its expired leases taken back up to the difference later, and never later than that.
// Until this Store has claimed, and after anything that may have restored Redis's state (a new Wakeups
// subscription, a failed reclaim), every shard is scanned.
type leaseHorizons struct {
	mu    sync.Mutex
	floor int64   // the shortest lease Claim asked for, ms; 0: none yet
	from  []int64 // ms: shard i needs no scan while from[i] <= now < until[i]
	until []int64
}

func newLeaseHorizons(n int) *leaseHorizons {
	return &leaseHorizons{from: make([]int64, n), until: make([]int64, n)}
}

// noteLease records a lease of leaseMS that this Store hands out.
func (h *leaseHorizons) noteLease(leaseMS int64) {
	h.mu.Lock()
	if h.floor == 0 || leaseMS < h.floor {
		h.floor = leaseMS
	}
	h.mu.Unlock()
}

// due returns the shards to scan at now (ms).
func (h *leaseHorizons) due(now int64) []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]int, 0, len(h.from))
	for i := range h.from {
		if now < h.from[i] || now >= h.until[i] {
			out = append(out, i)
		}
	}
	return out
}

// scanned records that shard's earliest lease, at a scan at now (ms), expires at earliest (noWork: no lease).
func (h *leaseHorizons) scanned(shard int, now, earliest int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.floor == 0 {
		return
	}
	h.from[shard], h.until[shard] = now, min(earliest, now+h.floor-h.floor/8)
}

// reset has every shard scanned at the next Reclaim.
func (h *leaseHorizons) reset() {
	h.mu.Lock()
	clear(h.until)
	h.mu.Unlock()
}
