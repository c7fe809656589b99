// Package msgcache keeps the messages a store published (or prefetched) in the last few seconds, so that the delivery
// engine of the same process, which attempts a message moments after it was published, reads it from memory instead
// of from the store. Messages are immutable once published; what could make an entry wrong is only a deletion or an
// expunge, and the stores call Forget, ForgetTenant or Clear around those. An entry lives at most TTL, so a deletion
// made by another process (another replica's prune) is seen at most that late. The cache is bounded to MaxEntries
// entries and MaxData bytes of data; when full, the oldest entries make room.
package msgcache

import (
	"sync"
	"time"

	"github.com/webhookd/webhookd/delivery"
)

const (
	TTL        = 5 * time.Second
	MaxEntries = 8192
	MaxData    = 16 << 20
)

// Cache is safe for concurrent use; its zero value is empty and ready.
type Cache struct {
	mu    sync.Mutex
	m     map[string]entry
	fifo  []string // ids in insertion order, for expiry
	bytes int
	clock func() time.Time // nil: time.Now; tests set it
}

type entry struct {
	msg *delivery.Message
	at  time.Time
}

// Keep caches m itself, not a copy: the caller gives it up (a published message is immutable, and one just decoded
// from a reply has no other owner). A message already cached, or larger than MaxData, is not kept.
func (c *Cache) Keep(m *delivery.Message) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expire(now)
	if c.m == nil {
		c.m = make(map[string]entry)
	}
	if _, ok := c.m[m.ID]; ok || len(m.Data) > MaxData {
		return
	}
	// Full: the oldest entries make room (the newest are the ones a worker is about to ask for).
	for len(c.fifo) > 0 && (len(c.m) >= MaxEntries || c.bytes+len(m.Data) > MaxData) {
		c.drop(c.fifo[0])
		c.fifo = c.fifo[1:]
	}
	c.m[m.ID] = entry{m, now}
	c.fifo = append(c.fifo, m.ID)
	c.bytes += len(m.Data)
}

// Has reports whether id is cached and fresh.
func (c *Cache) Has(id string) bool {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[id]
	return ok && now.Sub(e.at) < TTL
}

// Get returns a shallow copy of a fresh cached message of the tenant, or nil. The copy shares Data, which no one
// writes.
func (c *Cache) Get(tenantID, id string) *delivery.Message {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[id]
	if !ok || now.Sub(e.at) >= TTL || e.msg.TenantID != tenantID {
		return nil
	}
	m := *e.msg
	return &m
}

// Forget drops a message (its payload was expunged, or it was deleted). Its id stays in the expiry order until it
// comes up, where a missing entry is skipped.
func (c *Cache) Forget(id string) {
	c.mu.Lock()
	c.drop(id)
	c.mu.Unlock()
}

// ForgetTenant drops every message of a tenant (its data is being deleted).
func (c *Cache) ForgetTenant(tenantID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, e := range c.m {
		if e.msg.TenantID == tenantID {
			c.drop(id)
		}
	}
}

// Clear empties the cache (a prune, which may delete any message).
func (c *Cache) Clear() {
	c.mu.Lock()
	c.m, c.fifo, c.bytes = nil, nil, 0
	c.mu.Unlock()
}

func (c *Cache) now() time.Time {
	if c.clock != nil {
		return c.clock()
	}
	return time.Now()
}

// drop deletes id's entry, if any. c.mu is held.
func (c *Cache) drop(id string) {
	if e, ok := c.m[id]; ok {
		c.bytes -= len(e.msg.Data)
		delete(c.m, id)
	}
}

// expire drops entries older than TTL from the front of the expiry order. c.mu is held.
func (c *Cache) expire(now time.Time) {
	n := 0
	for n < len(c.fifo) {
		if e, ok := c.m[c.fifo[n]]; ok {
			if now.Sub(e.at) < TTL {
				break
			}
			c.drop(c.fifo[n])
		}
		n++
	}
	// Re-sliced, not copied down: append moves the live ids to a new array when the old one fills, so each id is
	// copied a bounded number of times instead of once per Keep.
	c.fifo = c.fifo[n:]
}
