package secrets

import (
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/webhookd/webhookd/endpoints"
)

// maxCached bounds the endpoints a read cache holds; when it is full the cache starts again empty.
const maxCached = 10000

// readCache keeps endpoints as GetEndpoint returned them (secrets opened) for ttl, so that the delivery engine, which
// loads its endpoint on every attempt, does not read, decode and decrypt it each time. Every write made through the
// decorator drops the endpoint's entry, and a load that began before a write is not cached after it (gen), so this
// process always reads its own writes; writes by other processes sharing the backend (Redis replicas) are seen within
// ttl.
type readCache struct {
	ttl time.Duration
	mu  sync.Mutex
	gen uint64 // bumped by every write
	m   map[cacheKey]cacheEntry

	lists  map[string]listEntry // fan-out lists by tenant
	listed int                  // endpoints held in lists
}

// listEntry is a tenant's endpoints as fan-out reads them: shared by every caller, never changed, no secrets.
type listEntry struct {
	es []*endpoints.Endpoint
	at time.Time
}

type cacheKey struct{ tenant, id string }

type cacheEntry struct {
	ep *endpoints.Endpoint // never handed out: callers get copies
	at time.Time
}

// get returns a copy of the cached endpoint, or nil and the generation that a load starting now must store under.
func (c *readCache) get(tenantID, id string) (*endpoints.Endpoint, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[cacheKey{tenantID, id}]; ok && time.Since(e.at) < c.ttl {
		return cloneEndpoint(e.ep), 0
	}
	return nil, c.gen
}

// put caches a copy of ep, loaded under generation gen, unless a write came in between.
func (c *readCache) put(ep *endpoints.Endpoint, gen uint64) {
	cp := cloneEndpoint(ep)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if len(c.m) >= maxCached {
		clear(c.m)
	}
	c.m[cacheKey{ep.TenantID, ep.ID}] = cacheEntry{ep: cp, at: time.Now()}
}

// getList returns the tenant's cached fan-out list (shared: not to be changed), or ok false and the generation that
// a load starting now must store under.
func (c *readCache) getList(tenantID string) (es []*endpoints.Endpoint, gen uint64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, hit := c.lists[tenantID]; hit && time.Since(e.at) < c.ttl {
		return e.es, 0, true
	}
	return nil, c.gen, false
}

// putList caches a tenant's fan-out list, loaded under generation gen, unless a write came in between.
func (c *readCache) putList(tenantID string, es []*endpoints.Endpoint, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if old, ok := c.lists[tenantID]; ok {
		c.listed -= len(old.es)
	}
	if c.listed+len(es) > maxCached {
		clear(c.lists)
		c.listed = 0
	}
	c.lists[tenantID] = listEntry{es: es, at: time.Now()}
	c.listed += len(es)
}

// invalidate drops an endpoint that is being written, and its tenant's fan-out list, and keeps loads under way from
// caching what they read.
func (c *readCache) invalidate(tenantID, id string) {
	c.mu.Lock()
	c.gen++
	delete(c.m, cacheKey{tenantID, id})
	if old, ok := c.lists[tenantID]; ok {
		c.listed -= len(old.es)
		delete(c.lists, tenantID)
	}
	c.mu.Unlock()
}

// cloneEndpoint copies e deeply enough that no change to the copy reaches e: its slices and maps are copied too.
func cloneEndpoint(e *endpoints.Endpoint) *endpoints.Endpoint {
	c := *e
	c.Events = slices.Clone(e.Events)
	c.Keys = slices.Clone(e.Keys)
	c.Headers = maps.Clone(e.Headers)
	c.Metadata = maps.Clone(e.Metadata)
	return &c
}
