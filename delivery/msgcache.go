package delivery

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// msgCache keeps recently loaded messages, so that the attempts of one message (a fan-out to N endpoints, retries)
// load it from the store once rather than once per attempt. Messages are immutable, and the store deletes one only
// when no delivery refers to it any more, so an entry is never stale for a task that still names it. The cache is
// bounded by entries and by bytes of data (least recently used out first), and concurrent misses for one message
// share a single load. Errors are not kept: the next attempt asks the store again.
type msgCache struct {
	src      MessageSource
	maxItems int
	maxBytes int

	mu      sync.Mutex
	lru     *list.List // of *msgEntry, most recent first
	items   map[msgKey]*list.Element
	loading map[msgKey]*msgLoad
	bytes   int
}

type msgKey struct{ tenant, id string }

type msgEntry struct {
	key  msgKey
	m    *Message
	size int
	at   time.Time // when loaded: an entry older than MessageCacheTTL is loaded again
}

// MessageCacheTTL bounds how long a cached message is used: a message's payload may be expunged, and every replica's
// engine must stop sending it within this time.
const MessageCacheTTL = 5 * time.Second

// msgLoad is one load in flight; waiters block on done.
type msgLoad struct {
	done chan struct{}
	m    *Message
	err  error
}

// Default bounds of the message cache: fan-out and retries hit recent messages, so a few thousand cover a burst.
const (
	DefaultMessageCacheItems = 4096
	DefaultMessageCacheBytes = 16 << 20
)

func newMsgCache(src MessageSource, maxItems, maxBytes int) *msgCache {
	return &msgCache{src: src, maxItems: maxItems, maxBytes: maxBytes, lru: list.New(),
		items: make(map[msgKey]*list.Element), loading: make(map[msgKey]*msgLoad)}
}

// GetMessage returns the message from the cache, or loads it (once, however many callers ask at the same time).
// The returned message is shared: callers must not modify it.
func (c *msgCache) GetMessage(ctx context.Context, tenantID, id string) (*Message, error) {
	k := msgKey{tenantID, id}
	c.mu.Lock()
	if el, ok := c.items[k]; ok && time.Since(el.Value.(*msgEntry).at) < MessageCacheTTL {
		c.lru.MoveToFront(el)
		m := el.Value.(*msgEntry).m
		c.mu.Unlock()
		return m, nil
	} else if ok {
		c.remove(el)
	}
	if l, ok := c.loading[k]; ok {
		c.mu.Unlock()
		select {
		case <-l.done:
			if l.err == nil {
				return l.m, nil
			}
			// The leader's failure may be its own context's: try for ourselves.
			return c.src.GetMessage(ctx, tenantID, id)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	l := &msgLoad{done: make(chan struct{})}
	c.loading[k] = l
	c.mu.Unlock()

	l.m, l.err = c.src.GetMessage(ctx, tenantID, id)

	c.mu.Lock()
	delete(c.loading, k)
	if l.err == nil {
		c.add(k, l.m)
	}
	c.mu.Unlock()
	close(l.done)
	return l.m, l.err
}

// add stores m and evicts the least recently used entries beyond the bounds; a message larger than the byte bound is
// not kept. c.mu is held.
func (c *msgCache) add(k msgKey, m *Message) {
	size := len(m.Data) + len(m.ID) + len(m.TenantID) + len(m.Type) + len(m.IdempotencyKey) + 128
	if size > c.maxBytes || c.maxItems <= 0 {
		return
	}
	if _, ok := c.items[k]; ok {
		return
	}
	c.items[k] = c.lru.PushFront(&msgEntry{key: k, m: m, size: size, at: time.Now()})
	c.bytes += size
	for c.lru.Len() > c.maxItems || c.bytes > c.maxBytes {
		el := c.lru.Back()
		e := el.Value.(*msgEntry)
		c.lru.Remove(el)
		delete(c.items, e.key)
		c.bytes -= e.size
	}
}

// remove drops one entry. c.mu is held.
func (c *msgCache) remove(el *list.Element) {
	e := el.Value.(*msgEntry)
	c.lru.Remove(el)
	delete(c.items, e.key)
	c.bytes -= e.size
}

// len returns the number of cached messages and their accounted bytes.
func (c *msgCache) len() (int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len(), c.bytes
}
