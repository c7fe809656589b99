package boltstore

import (
	"cmp"
	"container/heap"
	"slices"
	"time"

	"github.com/webhookd/webhookd/delivery"
)

// The scheduler is the in-memory half of the queue: per-endpoint lanes ordered by due time, a ready index of
// endpoints ordered by when each is next eligible, leases, fences and per-endpoint in-flight counts. It is rebuilt
// at Open from the pending deliveries and is guarded by Store.mu; no method here does I/O.

type itemState uint8

const (
	queued    itemState = iota // in its lane, waiting to be due
	leased                     // claimed by a worker
	finishing                  // a result is being committed; no other call may touch it until it is settled
	waiting                    // behind an earlier delivery of its ordering key: out of its lane (ordering.go)
	blocked                    // ended failed or dead, holding its ordering key: the head of its line only (ordering.go)
)

// An item's in-flight slot is its lane's busy count, which MaxInFlight caps. The slot is freed when a result is
// handed in (begin), not when it is committed: the endpoint's request is over, so another may go out while the
// result waits for its fsync, and results of many workers share one group commit instead of each holding a slot
// through it. The item itself stays finishing (neither claimable, reclaimable nor ackable) until the commit is done;
// a failed commit takes the slot back (abort), which may put the lane briefly one above its cap.

// item is one pending delivery.
type item struct {
	id, tenant, msg string
	lane            *lane
	due             time.Time
	attempts        int    // spent attempts, as stored
	fence           uint64 // identity of the current lease
	leaseUntil      time.Time
	claimedAt       time.Time // now of the claim that leased it
	state           itemState
	idx             int // position in lane.items while queued
	// deferred is set while the item's due time was set by a Release (held back unspent), not by a retry's backoff:
	// a change of its endpoint's rate re-times it (retime.go).
	deferred bool
	okey     string // ordering key, "" for none
}

// itemRef is what a write reads of an item: a copy, safe to read while the scheduler moves on.
type itemRef struct {
	id, tenant, endpoint, okey string
}

// ref copies what writes read of it; the caller holds the store's lock.
func (it *item) ref() itemRef {
	return itemRef{id: it.id, tenant: it.tenant, endpoint: it.lane.endpoint, okey: it.okey}
}

// lane is one endpoint's queue.
type lane struct {
	key      string // tenant 0 endpoint
	endpoint string
	items    itemHeap
	busy     int       // leased items: the endpoint's in-flight slots in use
	closing  int       // finishing items: results being committed, holding no slot
	releases int       // of them, releases (retime waits for these: they were spaced by the old rate)
	score    time.Time // when the lane is next eligible; ≥ its earliest due
	seq      uint64    // tie-break: a lane re-scored later sorts behind lanes with the same score
	idx      int       // position in sched.ready; -1 when not there (empty or parked)
	parked   bool      // at its in-flight cap: out of the ready index until a task settles or the cap changes
}

type sched struct {
	items  map[string]*item // by delivery id
	lanes  map[string]*lane // by lane key
	ready  readyHeap
	leased map[*item]struct{}
	parked map[*lane]struct{}
	holds  map[string]time.Time // endpoint → until when it is held to one task in flight (Store.HoldSlow)
	lines  map[string]*line     // lane key 0 ordering key → the key's deliveries in publish order (ordering.go)
	// blocked holds, by delivery id, the ended deliveries that hold their key's line (ordering.go): not in items.
	blocked map[string]*item
	// deleting holds the tenants being deleted (tenantdelete.go): their deliveries are never queued again.
	deleting map[string]struct{}
	cap      int // the MaxInFlight lanes were parked under
	seq      uint64
	fence    uint64 // last fence handed out; strictly increases
}

func newSched(fenceBase uint64) *sched {
	return &sched{
		items:  make(map[string]*item),
		lanes:  make(map[string]*lane),
		leased: make(map[*item]struct{}),
		parked: make(map[*lane]struct{}),
		holds:  make(map[string]time.Time),
		lines:  make(map[string]*line),
		fence:  fenceBase,

		blocked:  make(map[string]*item),
		deleting: make(map[string]struct{}),
	}
}

// add queues a new pending delivery. A delivery already known is left alone.
func (s *sched) add(tenant, endpoint, id, msg, okey string, due time.Time, attempts int) {
	if _, ok := s.items[id]; ok {
		return
	}
	if _, ok := s.deleting[tenant]; ok {
		return
	}
	it := &item{id: id, tenant: tenant, msg: msg, lane: s.laneOf(tenant, endpoint), attempts: attempts, okey: okey}
	s.items[id] = it
	if okey != "" && !s.enterLine(it, due) {
		return // waits behind an earlier delivery of its key
	}
	s.queue(it, due)
}

// laneOf returns the lane of tenant's endpoint, made when there is none.
func (s *sched) laneOf(tenant, endpoint string) *lane {
	lk := string(key(tenant, endpoint))
	l := s.lanes[lk]
	if l == nil {
		l = &lane{key: lk, endpoint: endpoint, idx: -1}
		s.lanes[lk] = l
	}
	return l
}

// queue puts it in its lane at due and makes the lane eligible no later than due. The ready score only ever goes
// down here (a new item never pushes a lane behind others).
func (s *sched) queue(it *item, due time.Time) {
	l := it.lane
	it.due, it.state, it.fence, it.leaseUntil, it.deferred = due, queued, 0, time.Time{}, false
	heap.Push(&l.items, it)
	switch {
	case l.parked:
	case l.idx < 0:
		s.push(l)
	case due.Before(l.score):
		l.score = due
		heap.Fix(&s.ready, l.idx)
	}
}

// claim leases up to opt.Max due items. It pops the lane that is eligible first; a lane at its in-flight cap is
// parked (taken out of the ready index until one of its tasks settles); otherwise its earliest item is leased and the
// lane re-scored to max(next due, now) with a fresh sequence, which puts it behind every lane already due: each due
// endpoint gets one task per round, and rounds repeat until Max tasks are taken or nothing is due.
func (s *sched) claim(now time.Time, opt delivery.ClaimOptions) []delivery.Task {
	if opt.MaxInFlight != s.cap {
		// Lanes were parked under another cap: let those below this one back in.
		for l := range s.parked {
			if opt.MaxInFlight <= 0 || l.busy < opt.MaxInFlight {
				s.unpark(l)
			}
		}
		s.cap = opt.MaxInFlight
	}
	var out []delivery.Task
	for len(out) < opt.Max && len(s.ready) > 0 {
		l := s.ready[0]
		if l.score.After(now) {
			break
		}
		if opt.MaxInFlight > 0 && l.busy >= opt.MaxInFlight || l.busy >= 1 && s.held(l.endpoint, now) ||
			atLimit(opt.Limits, l.endpoint, l.busy) {
			heap.Pop(&s.ready)
			l.parked = true
			s.parked[l] = struct{}{}
			continue
		}
		it := heap.Pop(&l.items).(*item)
		s.fence++
		it.state, it.fence, it.leaseUntil, it.claimedAt = leased, s.fence, now.Add(opt.Lease), now
		s.leased[it] = struct{}{}
		l.busy++
		if len(l.items) == 0 {
			heap.Pop(&s.ready)
		} else {
			s.seq++
			l.score, l.seq = later(l.items[0].due, now), s.seq
			heap.Fix(&s.ready, 0)
		}
		out = append(out, it.task())
	}
	return out
}

// atLimit reports whether an endpoint with busy tasks out is at its limit in limits (ClaimOptions.Limits).
func atLimit(limits map[string]int, endpoint string, busy int) bool {
	n, ok := limits[endpoint]
	return ok && busy >= n
}

func (it *item) task() delivery.Task {
	return delivery.Task{
		DeliveryID: it.id, TenantID: it.tenant, MessageID: it.msg, EndpointID: it.lane.endpoint,
		Attempt: it.attempts + 1, Fence: it.fence, LeaseUntil: it.leaseUntil,
	}
}

// leasedItem returns the item t leases, or nil when the lease is gone or the fence moved on.
func (s *sched) leasedItem(t delivery.Task) *item {
	it := s.items[t.DeliveryID]
	if it == nil || it.state != leased || it.fence != t.Fence || it.tenant != t.TenantID {
		return nil
	}
	return it
}

// begin marks a leased item as finishing so that no reclaim, extend or second result can touch it while its result
// is being committed, and frees its in-flight slot at once: the lane may be claimed again (and is unparked) before
// the commit.
func (s *sched) begin(it *item) {
	it.state = finishing
	delete(s.leased, it)
	l := it.lane
	l.busy--
	l.closing++
	if l.parked {
		s.unpark(l)
	}
}

// abort undoes begin after the commit failed: the lease stands as it was and holds its slot again.
func (s *sched) abort(it *item) {
	it.state = leased
	s.leased[it] = struct{}{}
	it.lane.busy++
	it.lane.closing--
}

// done forgets a finishing item whose delivery ended.
func (s *sched) done(it *item) {
	delete(s.items, it.id)
	it.lane.closing--
	if it.okey != "" {
		s.leaveLine(it)
	}
	s.drop(it.lane)
}

// requeue puts a finishing item back in its lane at due with attempts spent.
func (s *sched) requeue(it *item, due time.Time, attempts int) {
	it.attempts = attempts
	it.lane.closing--
	if _, ok := s.deleting[it.tenant]; ok {
		s.forget(it) // its tenant is being deleted: the delivery is cancelled, not retried
		return
	}
	s.queue(it, due)
}

// drop forgets l when nothing refers to it any more: no items queued, leased or finishing, and not parked.
func (s *sched) drop(l *lane) {
	if l.idx < 0 && !l.parked && len(l.items) == 0 && l.busy == 0 && l.closing == 0 {
		delete(s.lanes, l.key)
	}
}

// push enters l, which has items, in the ready index at its earliest due.
func (s *sched) push(l *lane) {
	s.seq++
	l.score, l.seq = l.items[0].due, s.seq
	heap.Push(&s.ready, l)
}

// held tells whether endpoint is held to one task in flight at now, and forgets a hold that has expired.
func (s *sched) held(endpoint string, now time.Time) bool {
	until, ok := s.holds[endpoint]
	if !ok {
		return false
	}
	if !until.After(now) {
		delete(s.holds, endpoint)
		return false
	}
	return true
}

// unpark lets a parked lane back into the ready index.
func (s *sched) unpark(l *lane) {
	l.parked = false
	delete(s.parked, l)
	if len(l.items) > 0 {
		s.push(l)
	} else {
		s.drop(l)
	}
}

// expired returns leased items whose lease ended before now, earliest first, at most max (all when max ≤ 0).
func (s *sched) expired(now time.Time, max int) []*item {
	var out []*item
	for it := range s.leased {
		if it.leaseUntil.Before(now) {
			out = append(out, it)
		}
	}
	slices.SortFunc(out, func(a, b *item) int {
		return cmp.Or(a.leaseUntil.Compare(b.leaseUntil), cmp.Compare(a.id, b.id))
	})
	if max > 0 && len(out) > max {
		out = out[:max]
	}
	return out
}

// nextDue is the earliest time a lane in the ready index is eligible, or the zero time.
func (s *sched) nextDue() time.Time {
	if len(s.ready) == 0 {
		return time.Time{}
	}
	return s.ready[0].score
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// itemHeap orders a lane by due time, then id.
type itemHeap []*item

func (h itemHeap) Len() int { return len(h) }
func (h itemHeap) Less(i, j int) bool {
	if c := h[i].due.Compare(h[j].due); c != 0 {
		return c < 0
	}
	return h[i].id < h[j].id
}
func (h itemHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i]; h[i].idx = i; h[j].idx = j }
func (h *itemHeap) Push(x any)   { it := x.(*item); it.idx = len(*h); *h = append(*h, it) }
func (h *itemHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	it.idx = -1
	return it
}

// readyHeap orders lanes by score, then sequence.
type readyHeap []*lane

func (h readyHeap) Len() int { return len(h) }
func (h readyHeap) Less(i, j int) bool {
	if c := h[i].score.Compare(h[j].score); c != 0 {
		return c < 0
	}
	return h[i].seq < h[j].seq
}
func (h readyHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i]; h[i].idx = i; h[j].idx = j }
func (h *readyHeap) Push(x any)   { l := x.(*lane); l.idx = len(*h); *h = append(*h, l) }
func (h *readyHeap) Pop() any {
	old := *h
	l := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	l.idx = -1
	return l
}
