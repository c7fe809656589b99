package redisstore

import (
	"sync"
	"time"

	"github.com/webhookd/webhookd/delivery"
)

// recentMessages keeps the messages this Store published in the last few seconds (and, in a second instance, those
// of the tasks its Claim handed out: queue.go), so that the delivery engine of
// the same process, which attempts a message moments after it was published, reads it without a round trip. Messages
// are immutable; what could make an entry wrong is its deletion, which only Prune does, and only long after
// creation: Prune in this Store empties the cache, and an entry lives at most recentTTL, so another replica's prune
// is seen at most that late (with a retention of seconds, not the days it is meant for). A publish that lost its
// idempotency key to an earlier message caches nothing. Bounded to recentMax entries and recentMaxData bytes of data;
// when full, the oldest entries make room.
type recentMessages struct {
	mu    sync.Mutex
	m     map[string]recentEntry
	fifo  []string // ids in insertion order, for expiry
	bytes int
}

type recentEntry struct {
	msg *delivery.Message
	at  time.Time
}

const (
	recentTTL     = 5 * time.Second
	recentMax     = 8192
	recentMaxData = 16 << 20
)

// keep keeps m itself, not a copy: messages are immutable (events.Store.Publish), and one just decoded from a reply
// has no other owner.
func (r *recentMessages) keep(m *delivery.Message) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.expire(now)
	if r.m == nil {
		r.m = make(map[string]recentEntry)
	}
	if _, ok := r.m[m.ID]; ok || len(m.Data) > recentMaxData {
		return
	}
	// Full: the oldest entries make room (the newest are the ones a worker is about to ask for).
	for len(r.fifo) > 0 && (len(r.m) >= recentMax || r.bytes+len(m.Data) > recentMaxData) {
		if e, ok := r.m[r.fifo[0]]; ok {
			r.bytes -= len(e.msg.Data)
			delete(r.m, r.fifo[0])
		}
		r.fifo = r.fifo[1:]
	}
	r.m[m.ID] = recentEntry{m, now}
	r.fifo = append(r.fifo, m.ID)
	r.bytes += len(m.Data)
}

// has reports whether id is cached (and fresh).
func (r *recentMessages) has(id string) bool {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.m[id]
	return ok && now.Sub(e.at) < recentTTL
}

// get returns a copy of a cached message of the tenant, or nil.
func (r *recentMessages) get(tenantID, id string) *delivery.Message {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.m[id]
	if !ok || now.Sub(e.at) >= recentTTL || e.msg.TenantID != tenantID {
		return nil
	}
	c := *e.msg
	return &c
}

// expire drops entries older than recentTTL. r.mu is held.
func (r *recentMessages) expire(now time.Time) {
	n := 0
	for n < len(r.fifo) {
		e, ok := r.m[r.fifo[n]]
		if ok && now.Sub(e.at) < recentTTL {
			break
		}
		if ok {
			r.bytes -= len(e.msg.Data)
			delete(r.m, r.fifo[n])
		}
		n++
	}
	if n > 0 {
		r.fifo = append(r.fifo[:0], r.fifo[n:]...)
	}
}

// clear empties the cache (Prune).
func (r *recentMessages) clear() {
	r.mu.Lock()
	r.m, r.fifo, r.bytes = nil, nil, 0
	r.mu.Unlock()
}
