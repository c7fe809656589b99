package endpoints

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"
)

// FanoutLister lists all of a tenant's endpoints at once for fan-out: without their keys and headers, shared between
// callers and only to be read. CachedStore is one, and so is the sealing decorator of package secrets (which then
// opens no secret).
type FanoutLister interface {
	ListFanout(ctx context.Context, tenantID string) ([]*Endpoint, error)
}

// maxCached bounds the endpoints a CachedStore holds, in each of its two caches; a full cache starts again empty.
const maxCached = 10000

// fanoutPage is how many endpoints ListFanout reads per store call.
const fanoutPage = 100

var (
	_ Store        = (*CachedStore)(nil)
	_ FanoutLister = (*CachedStore)(nil)
)

// CachedStore is a Store that answers GetEndpoint, and the fan-out list of a tenant, from memory for a TTL, so that the
// delivery engine, which loads its endpoint on every attempt, and every publish, which lists the tenant's endpoints,
// do not read (decode, decrypt) them from the store each time. Every write made through it drops what it cached of
// the endpoint and its tenant's list, and a read that began before a write is not cached after it, so the process
// always reads its own writes; writes by other processes sharing the backend (Redis replicas) are seen within the
// TTL. Use one CachedStore for everything in a process that reads and writes endpoints.
type CachedStore struct {
	inner Store
	ttl   time.Duration

	mu  sync.Mutex
	gen uint64 // bumped by every write
	m   map[cacheKey]cacheEntry

	lists  map[string]listEntry // fan-out lists by tenant
	listed int                  // endpoints held in lists

	// Loads under way, so that callers who miss at once share one (when a hot entry expires, every publisher and
	// worker of it misses together): by endpoint, and fan-out lists by tenant.
	getting map[cacheKey]*flight[*Endpoint]
	listing map[string]*flight[[]*Endpoint]
}

// flight is a load under way: callers that miss while it runs wait for its result instead of loading again. gen is
// the write count when it began: a caller that comes after a write loads for itself, so it reads that write.
type flight[V any] struct {
	gen     uint64
	waiters int // callers waiting for it, beside the one loading (for tests)
	done    chan struct{}
	v       V
	err     error
}

// NewCachedStore returns a CachedStore over inner with the given TTL.
func NewCachedStore(inner Store, ttl time.Duration) *CachedStore {
	return &CachedStore{inner: inner, ttl: ttl, m: make(map[cacheKey]cacheEntry), lists: make(map[string]listEntry),
		getting: make(map[cacheKey]*flight[*Endpoint]), listing: make(map[string]*flight[[]*Endpoint])}
}

type cacheKey struct{ tenant, id string }

type cacheEntry struct {
	ep *Endpoint // never handed out: callers get copies
	at time.Time
}

// listEntry is a tenant's endpoints as fan-out reads them: shared by every caller, never changed, no secrets.
type listEntry struct {
	es []*Endpoint
	at time.Time
}

// CreateEndpoint creates e in the inner store.
func (c *CachedStore) CreateEndpoint(ctx context.Context, e *Endpoint) error {
	defer c.invalidate(e.TenantID, e.ID)
	return c.inner.CreateEndpoint(ctx, e)
}

// UpdateEndpoint replaces e in the inner store.
func (c *CachedStore) UpdateEndpoint(ctx context.Context, e *Endpoint) error {
	defer c.invalidate(e.TenantID, e.ID)
	return c.inner.UpdateEndpoint(ctx, e)
}

// DeleteEndpoint deletes the endpoint from the inner store.
func (c *CachedStore) DeleteEndpoint(ctx context.Context, tenantID, id string) error {
	defer c.invalidate(tenantID, id)
	return c.inner.DeleteEndpoint(ctx, tenantID, id)
}

// SetEndpointHealth records a health transition in the inner store.
func (c *CachedStore) SetEndpointHealth(ctx context.Context, tenantID, id string, failingSince time.Time, disable bool, reason string) error {
	defer c.invalidate(tenantID, id)
	return c.inner.SetEndpointHealth(ctx, tenantID, id, failingSince, disable, reason)
}

// ListEndpoints lists from the inner store, uncached.
func (c *CachedStore) ListEndpoints(ctx context.Context, tenantID, after string, limit int) ([]*Endpoint, error) {
	return c.inner.ListEndpoints(ctx, tenantID, after, limit)
}

// GetEndpoint returns a copy of the endpoint, from the cache when it was read less than the TTL ago. Callers that
// miss while another loads it wait for that load.
func (c *CachedStore) GetEndpoint(ctx context.Context, tenantID, id string) (*Endpoint, error) {
	key := cacheKey{tenantID, id}
	c.mu.Lock()
	if e, ok := c.m[key]; ok && time.Since(e.at) < c.ttl {
		c.mu.Unlock()
		return cloneEndpoint(e.ep), ctx.Err()
	}
	f, leader := joinFlight(c.getting, key, c.gen)
	c.mu.Unlock()
	if !leader {
		if cp, err := f.wait(ctx); err == nil {
			return cloneEndpoint(cp), nil
		} else if ctx.Err() != nil {
			return nil, err
		}
		// The load failed: try for ourselves, alone.
		e, err := c.inner.GetEndpoint(ctx, tenantID, id)
		return e, err
	}

	e, err := c.inner.GetEndpoint(ctx, tenantID, id)
	var cp *Endpoint
	if err == nil {
		cp = cloneEndpoint(e)
	}
	c.mu.Lock()
	if err == nil && c.gen == f.gen { // no write came in between
		if len(c.m) >= maxCached {
			clear(c.m)
		}
		c.m[cacheKey{e.TenantID, e.ID}] = cacheEntry{ep: cp, at: time.Now()}
	}
	land(c.getting, key, f, cp, err)
	c.mu.Unlock()
	return e, err
}

// ListFanout returns every endpoint of the tenant in id order for fan-out, without their keys and headers, shared
// between callers and not to be changed: from the cache when listed less than the TTL ago, else from the inner
// store's ListFanout when it has one, else page by page. Callers that miss while another lists wait for that list.
func (c *CachedStore) ListFanout(ctx context.Context, tenantID string) ([]*Endpoint, error) {
	c.mu.Lock()
	if e, ok := c.lists[tenantID]; ok && time.Since(e.at) < c.ttl {
		c.mu.Unlock()
		return e.es, ctx.Err()
	}
	f, leader := joinFlight(c.listing, tenantID, c.gen)
	c.mu.Unlock()
	if !leader {
		if all, err := f.wait(ctx); err == nil {
			return all, nil
		} else if ctx.Err() != nil {
			return nil, err
		}
		return ListFanout(ctx, c.inner, tenantID) // the list failed: try for ourselves, alone
	}

	all, err := ListFanout(ctx, c.inner, tenantID)
	c.mu.Lock()
	defer c.mu.Unlock()
	land(c.listing, tenantID, f, all, err)
	if err != nil || c.gen != f.gen {
		return all, err
	}
	if old, ok := c.lists[tenantID]; ok {
		c.listed -= len(old.es)
	}
	if c.listed+len(all) > maxCached {
		clear(c.lists)
		c.listed = 0
	}
	c.lists[tenantID] = listEntry{es: all, at: time.Now()}
	c.listed += len(all)
	return all, nil
}

// joinFlight returns the load of key under way since the gen-th write, to wait for, or starts one (leader: the
// caller loads). The caller holds c.mu.
func joinFlight[K comparable, V any](m map[K]*flight[V], key K, gen uint64) (f *flight[V], leader bool) {
	if f := m[key]; f != nil && f.gen == gen {
		f.waiters++
		return f, false
	}
	f = &flight[V]{gen: gen, done: make(chan struct{})}
	m[key] = f // a load begun before a write, still under way, is no longer joined
	return f, true
}

// land ends the load f of key with its result and wakes its waiters. The caller holds c.mu.
func land[K comparable, V any](m map[K]*flight[V], key K, f *flight[V], v V, err error) {
	if m[key] == f {
		delete(m, key)
	}
	f.v, f.err = v, err
	close(f.done)
}

// wait returns the load's result once it ended, or ctx's error first.
func (f *flight[V]) wait(ctx context.Context) (V, error) {
	select {
	case <-f.done:
		return f.v, f.err
	case <-ctx.Done():
		var zero V
		return zero, ctx.Err()
	}
}

// ListFanout lists the tenant's endpoints for fan-out from s, without keys or headers: through its ListFanout when
// it has one, else page by page with keys and headers dropped.
func ListFanout(ctx context.Context, s Store, tenantID string) ([]*Endpoint, error) {
	if fl, ok := s.(FanoutLister); ok {
		return fl.ListFanout(ctx, tenantID)
	}
	var all []*Endpoint
	for after := ""; ; {
		page, err := s.ListEndpoints(ctx, tenantID, after, fanoutPage)
		if err != nil {
			return nil, err
		}
		for _, e := range page {
			e.Keys, e.Headers = nil, nil
			all = append(all, e)
		}
		if len(page) < fanoutPage {
			return all, nil
		}
		after = page[len(page)-1].ID
	}
}

// invalidate drops an endpoint that is being written, and its tenant's fan-out list, and keeps reads under way from
// caching what they read.
func (c *CachedStore) invalidate(tenantID, id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.m, cacheKey{tenantID, id})
	if old, ok := c.lists[tenantID]; ok {
		c.listed -= len(old.es)
		delete(c.lists, tenantID)
	}
}

// cloneEndpoint copies e deeply enough that no change to the copy reaches e: its slices and maps are copied too.
func cloneEndpoint(e *Endpoint) *Endpoint {
	c := *e
	c.Events = slices.Clone(e.Events)
	c.Keys = slices.Clone(e.Keys)
	c.Headers = maps.Clone(e.Headers)
	c.Metadata = maps.Clone(e.Metadata)
	return &c
}
