package verifier

import (
	"cmp"
	"container/list"
	"context"
	"sync"
	"time"
)

// DedupStore remembers message ids for Middleware.
type DedupStore interface {
	// Seen records id for ttl and reports whether it was already recorded and unexpired (a duplicate). Checking and
	// recording are one atomic step: of two concurrent calls with the same id, exactly one reports false.
	Seen(ctx context.Context, id string, ttl time.Duration) (dup bool, err error)
}

// Forgetter is implemented by a DedupStore that can drop an id again. Middleware forgets the id of a message whose
// handler did not answer 2xx, so that the sender's retry of it is handled rather than dropped as a duplicate.
type Forgetter interface {
	Forget(ctx context.Context, id string) error
}

// NoDedup is a DedupStore that remembers nothing: with it Middleware hands every verified request to the handler.
type NoDedup struct{}

// Seen always reports false.
func (NoDedup) Seen(context.Context, string, time.Duration) (bool, error) { return false, nil }

// DefaultMemoryDedupEntries is MemoryDedupConfig.MaxEntries's default.
const DefaultMemoryDedupEntries = 100_000

// MemoryDedupConfig configures a MemoryDedup.
type MemoryDedupConfig struct {
	// MaxEntries bounds the ids held; when full, the oldest is dropped to make room. Defaults to 100,000 (about
	// 16 MiB with webhookd's 30-byte ids).
	MaxEntries int
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
}

// MemoryDedup is an in-memory DedupStore for one process: ids expire after their TTL, and the oldest are dropped
// beyond MaxEntries. It is safe for concurrent use. Several replicas of a receiver need a shared store instead
// (verifier/redisdedup).
type MemoryDedup struct {
	mu    sync.Mutex
	max   int
	now   func() time.Time
	ids   map[string]*list.Element // of *memEntry
	order list.List                // oldest first
}

type memEntry struct {
	id      string
	expires time.Time
}

// NewMemoryDedup returns an empty MemoryDedup.
func NewMemoryDedup(cfg MemoryDedupConfig) *MemoryDedup {
	m := &MemoryDedup{max: cmp.Or(max(cfg.MaxEntries, 0), DefaultMemoryDedupEntries), now: cfg.Now, ids: map[string]*list.Element{}}
	if m.now == nil {
		m.now = time.Now
	}
	return m
}

// Seen implements DedupStore. A ttl of zero or less records nothing.
func (m *MemoryDedup) Seen(_ context.Context, id string, ttl time.Duration) (bool, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	// Drop expired ids from the old end. With one TTL for every id this removes all of them; with mixed TTLs a
	// longer-lived id can shield shorter ones behind it, which the lookup below and MaxEntries still handle.
	for e := m.order.Front(); e != nil && !now.Before(e.Value.(*memEntry).expires); e = m.order.Front() {
		m.remove(e)
	}
	if e, ok := m.ids[id]; ok {
		if now.Before(e.Value.(*memEntry).expires) {
			return true, nil
		}
		m.remove(e)
	}
	if ttl <= 0 {
		return false, nil
	}
	for len(m.ids) >= m.max {
		m.remove(m.order.Front())
	}
	m.ids[id] = m.order.PushBack(&memEntry{id: id, expires: now.Add(ttl)})
	return false, nil
}

// Forget implements Forgetter.
func (m *MemoryDedup) Forget(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.ids[id]; ok {
		m.remove(e)
	}
	return nil
}

// Len returns the number of ids held, expired ones included until they are dropped.
func (m *MemoryDedup) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.ids)
}

func (m *MemoryDedup) remove(e *list.Element) {
	delete(m.ids, e.Value.(*memEntry).id)
	m.order.Remove(e)
}

var (
	_ DedupStore = (*MemoryDedup)(nil)
	_ Forgetter  = (*MemoryDedup)(nil)
	_ DedupStore = NoDedup{}
)
