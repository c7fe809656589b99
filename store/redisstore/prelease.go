package redisstore

import (
	"context"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/webhookd/webhookd/delivery"
)

// Leases taken at publish (Options.LeaseOnPublish). At a steady, moderate load most publishes find their endpoint
// idle, and the delivery engine's claim that follows each one costs a round trip and a script of turn keeping for a
// single task. So publishScript, on a single server, leases a due delivery whose endpoint has nothing queued and
// room under the last claim's in-flight cap or limit itself, exactly as a claim would (fence, lease, in-flight
// count), and this Store's next Claim hands it out from memory. Nothing else changes: the lease
// expires and is reclaimed like any other if this process dies, and the engine acks, nacks or releases it as usual.
//
// Publishes lease only while a claimer is around: Claim was called in the last preLeaseFresh, with the lease it
// asked for. At most preLeaseRoom tasks wait here or are offered to publishes under way, and one whose lease is
// half gone when a claim comes is released (due again at once) rather than handed out.
//
// The room is one endpoint's default in-flight cap: a single busy endpoint is then bounded by its cap, not by the
// room, and every delivery of a saturating producer is leased at publish. (With 32, as many as the benchmark's
// publishers, a fifth of the publishes at saturation found the room taken or their endpoint at its cap and queued,
// to be claimed later at about three Redis commands more each.) It also bounds what a replica whose workers are
// all busy holds back from the others: tasks leased here wait for this replica's claims.
const (
	preLeaseFresh = 2 * time.Second
	preLeaseRoom  = delivery.DefaultMaxInFlight
)

// preLeases holds the tasks publishes leased until this Store's next Claim.
type preLeases struct {
	on bool // Options.LeaseOnPublish

	mu      sync.Mutex
	tasks   []delivery.Task
	offered int           // leases that publish scripts in flight may take
	lease   time.Duration // the last claim's lease
	seen    time.Time     // when the last claim came (its now)
	cap     int           // the last claim's in-flight cap per endpoint (0: none)
	limits  map[string]int
}

// offer reserves room for leases of a publish of ds at now and returns until when they would run (Unix ms), or 0
// when the publish must not lease, and the in-flight count below which each of their endpoints may take one: the
// last claim's cap, or the lowest of its lower limits (ClaimOptions.Limits) for these endpoints, as that claim would
// have applied them. Every offer is settled.
func (p *preLeases) offer(now time.Time, ds []*delivery.Delivery) (until int64, cap int) {
	if !p.on || len(ds) == 0 {
		return 0, 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.seen.IsZero() || now.Sub(p.seen) > preLeaseFresh || len(p.tasks)+p.offered+len(ds) > preLeaseRoom {
		return 0, 0
	}
	cap = p.cap
	if cap <= 0 {
		cap = math.MaxInt32
	}
	for _, d := range ds {
		if n, ok := p.limits[d.EndpointID]; ok && n < cap {
			cap = max(n, 1)
		}
	}
	p.offered += len(ds)
	return ms(now.Add(p.lease)), cap
}

// settle ends plan's offer: reply is what publishScript answered after its "+" (the leased deliveries' ids and
// fences), or "" when it leased nothing. The leased tasks wait for the next claim; settle returns their fences by
// delivery id.
func (p *preLeases) settle(plan *publishPlan, reply string) map[string]uint64 {
	if plan.leaseUntil == 0 {
		return nil
	}
	f := strings.Fields(reply)
	var leased map[string]uint64
	var tasks []delivery.Task
	for i := 0; i+1 < len(f); i += 2 {
		fence, err := strconv.ParseUint(f[i+1], 10, 64)
		if err != nil {
			continue // not a reply of ours: the lease expires and is reclaimed
		}
		for _, d := range plan.ds {
			if d.ID != f[i] {
				continue
			}
			if leased == nil {
				leased = make(map[string]uint64, len(f)/2)
			}
			leased[d.ID] = fence
			tasks = append(tasks, delivery.Task{DeliveryID: d.ID, TenantID: plan.tenant, MessageID: plan.msg,
				EndpointID: d.EndpointID, Attempt: d.Attempts + 1, Fence: fence,
				LeaseUntil: time.UnixMilli(plan.leaseUntil).UTC()})
			break
		}
	}
	p.mu.Lock()
	p.offered -= len(plan.ds)
	p.tasks = append(p.tasks, tasks...)
	p.mu.Unlock()
	return leased
}

// claim notes a claim at now and returns up to opt.Max waiting tasks to hand out, and those whose lease is half
// gone, to release.
func (p *preLeases) claim(now time.Time, opt delivery.ClaimOptions, lease time.Duration) (out, stale []delivery.Task) {
	if !p.on {
		return nil, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen, p.lease, p.cap, p.limits = now, lease, opt.MaxInFlight, opt.Limits
	if len(p.tasks) == 0 {
		return nil, nil
	}
	n := 0
	for _, t := range p.tasks {
		if len(out) == opt.Max {
			p.tasks[n] = t
			n++
			continue
		}
		if t.LeaseUntil.Sub(now) < lease/2 {
			stale = append(stale, t)
		} else {
			out = append(out, t)
		}
	}
	clear(p.tasks[n:])
	p.tasks = p.tasks[:n]
	return out, stale
}

// drain takes every waiting task (the Store is closing).
func (p *preLeases) drain() []delivery.Task {
	p.mu.Lock()
	defer p.mu.Unlock()
	ts := p.tasks
	p.tasks = nil
	return ts
}

// releaseAll gives tasks back unspent, due at once, so that a claim anywhere takes them without waiting for their
// leases to expire. A failure leaves them to the reclaim.
func (s *Store) releaseAll(ctx context.Context, ts []delivery.Task, now time.Time) {
	for _, t := range ts {
		_ = s.Release(ctx, t, now)
	}
}
