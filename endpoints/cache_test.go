package endpoints_test

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhookd/webhookd/endpoints"
	"github.com/webhookd/webhookd/events"
	"github.com/webhookd/webhookd/profiles"
	"github.com/webhookd/webhookd/secrets"
	"github.com/webhookd/webhookd/signing"
	boltstore "github.com/webhookd/webhookd/store/boltstore"
	"github.com/webhookd/webhookd/tenants"
)

// The cache is tested under the sealing decorator, as the gateway stacks them: the secrets it hands out are opened,
// and fan-out lists through the decorator's ListFanout, which opens none.

func cacheStores(t *testing.T) (*boltstore.Store, *secrets.Keyring) {
	t.Helper()
	st, err := boltstore.Open(t.TempDir(), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	k, err := secrets.GenerateKey("k1")
	if err != nil {
		t.Fatal(err)
	}
	kr, err := secrets.ParseKeyring(k)
	if err != nil {
		t.Fatal(err)
	}
	return st, kr
}

func seed(t *testing.T, st tenants.Store, tenant, id string, keys ...string) *endpoints.Endpoint {
	t.Helper()
	ctx := context.Background()
	if _, err := st.GetTenant(ctx, tenant); err != nil {
		if err := st.CreateTenant(ctx, &tenants.Tenant{ID: tenant, Name: tenant, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	e := &endpoints.Endpoint{ID: id, TenantID: tenant, URL: "https://example.com/hook", Events: []string{"*"},
		Profile: "standard", Algorithm: "hmac", CreatedAt: now, UpdatedAt: now}
	for _, s := range keys {
		e.Keys = append(e.Keys, endpoints.Key{Secret: s, CreatedAt: now})
	}
	return e
}

func newKeySecret(t *testing.T) string {
	t.Helper()
	s, _, err := profiles.Standard.GenerateKey(signing.HMAC)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// countingStore counts the endpoint loads that reach the backend.
type countingStore struct {
	*boltstore.Store
	gets atomic.Int32
}

func (c *countingStore) GetEndpoint(ctx context.Context, tenantID, id string) (*endpoints.Endpoint, error) {
	c.gets.Add(1)
	return c.Store.GetEndpoint(ctx, tenantID, id)
}

// TestCachedStoreReads: GetEndpoint answers from the cache within its TTL, with a copy of its own each time; every write
// through the decorator is seen by the next read; a write that bypasses it is seen after the TTL.
func TestCachedStoreReads(t *testing.T) {
	ctx := context.Background()
	raw, kr := cacheStores(t)
	cs := &countingStore{Store: raw}
	st := endpoints.NewCachedStore(secrets.NewEndpoints(cs, kr), 50*time.Millisecond)
	s1 := newKeySecret(t)
	e := seed(t, raw, "acme", "ep_1", s1)
	e.Headers = map[string]string{"X-A": "1"}
	if err := st.CreateEndpoint(ctx, e); err != nil {
		t.Fatal(err)
	}
	get := func() *endpoints.Endpoint {
		t.Helper()
		got, err := st.GetEndpoint(ctx, "acme", "ep_1")
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	a := get()
	a.Keys[0].Secret, a.Headers["X-A"], a.Events[0] = "changed", "changed", "changed"
	b := get()
	if n := cs.gets.Load(); n != 1 {
		t.Fatalf("%d backend loads for 2 reads", n)
	}
	if b.Keys[0].Secret != s1 || b.Headers["X-A"] != "1" || b.Events[0] != "*" {
		t.Fatalf("a caller's change reached the cache: %+v", b)
	}

	b.URL = "https://example.com/v2"
	if err := st.UpdateEndpoint(ctx, b); err != nil {
		t.Fatal(err)
	}
	if got := get(); got.URL != b.URL || got.Keys[0].Secret != s1 {
		t.Fatalf("after an update: %+v", got)
	}
	if err := st.SetEndpointHealth(ctx, "acme", "ep_1", time.Now(), true, "gone"); err != nil {
		t.Fatal(err)
	}
	if got := get(); !got.Disabled {
		t.Fatal("a health write was not seen by the next read")
	}

	// Another process's write (here: straight to the backend) shows after the TTL.
	c := get()
	c.Disabled, c.Keys = false, nil
	if err := raw.UpdateEndpoint(ctx, c); err != nil {
		t.Fatal(err)
	}
	if !get().Disabled {
		t.Fatal("cache bypassed within the TTL")
	}
	time.Sleep(60 * time.Millisecond)
	if get().Disabled {
		t.Fatal("a bypassing write not seen after the TTL")
	}
	if err := st.DeleteEndpoint(ctx, "acme", "ep_1"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetEndpoint(ctx, "acme", "ep_1"); !errors.Is(err, endpoints.ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
}

// listCountingStore counts the endpoint lists that reach the backend.
type listCountingStore struct {
	*boltstore.Store
	lists atomic.Int32
}

func (c *listCountingStore) ListEndpoints(ctx context.Context, tenantID, after string, limit int) ([]*endpoints.Endpoint, error) {
	c.lists.Add(1)
	return c.Store.ListEndpoints(ctx, tenantID, after, limit)
}

// TestCachedStoreFanout: publish fan-out lists a tenant's endpoints from the cache within its TTL, without their secrets;
// every write through the decorator to one of the tenant's endpoints is in the very next publish's fan-out; a write
// for another tenant keeps this tenant's list.
func TestCachedStoreFanout(t *testing.T) {
	ctx := context.Background()
	raw, kr := cacheStores(t)
	cs := &listCountingStore{Store: raw}
	st := endpoints.NewCachedStore(secrets.NewEndpoints(cs, kr), time.Hour)
	svc := events.NewService(raw, events.Config{Endpoints: st})
	publish := func(tenant string, want int) {
		t.Helper()
		_, n, _, err := svc.Publish(ctx, tenant, events.PublishInput{Type: "order.created"})
		if err != nil {
			t.Fatal(err)
		}
		if n != want {
			t.Fatalf("publish to %s: fan-out %d, want %d", tenant, n, want)
		}
	}
	if err := st.CreateEndpoint(ctx, seed(t, raw, "acme", "ep_1", newKeySecret(t))); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateEndpoint(ctx, seed(t, raw, "other", "ep_9", newKeySecret(t))); err != nil {
		t.Fatal(err)
	}
	publish("acme", 1)
	publish("acme", 1)
	if n := cs.lists.Load(); n != 1 {
		t.Fatalf("%d backend lists for 2 publishes", n)
	}
	es, err := st.ListFanout(ctx, "acme")
	if err != nil || len(es) != 1 || es[0].Keys != nil || cs.lists.Load() != 1 {
		t.Fatalf("ListFanout: %v %+v (%d backend lists)", err, es, cs.lists.Load())
	}

	// Created here: in the very next publish.
	if err := st.CreateEndpoint(ctx, seed(t, raw, "acme", "ep_2", newKeySecret(t))); err != nil {
		t.Fatal(err)
	}
	publish("acme", 2)
	publish("other", 1)
	lists := cs.lists.Load()

	// Another tenant's write keeps acme's list.
	if err := st.CreateEndpoint(ctx, seed(t, raw, "other", "ep_8", newKeySecret(t))); err != nil {
		t.Fatal(err)
	}
	publish("acme", 2)
	if n := cs.lists.Load(); n != lists {
		t.Fatalf("another tenant's write dropped acme's list: %d backend lists, want %d", n, lists)
	}
	publish("other", 2)

	// Disabling (a health write) and deleting are in the next publish too.
	if err := st.SetEndpointHealth(ctx, "acme", "ep_1", time.Now(), true, "gone"); err != nil {
		t.Fatal(err)
	}
	publish("acme", 1)
	if err := st.DeleteEndpoint(ctx, "acme", "ep_2"); err != nil {
		t.Fatal(err)
	}
	publish("acme", 0)

	// A write that bypasses the decorator (another replica) is not seen within the TTL.
	if err := raw.CreateEndpoint(ctx, seed(t, raw, "acme", "ep_3")); err != nil {
		t.Fatal(err)
	}
	publish("acme", 0)
}

// gatedStore holds the first endpoint load and the first list that reach the backend until released, and counts
// every one.
type gatedStore struct {
	*boltstore.Store
	gets, lists            atomic.Int32
	getIn, listIn, release chan struct{}
}

func (g *gatedStore) GetEndpoint(ctx context.Context, tenantID, id string) (*endpoints.Endpoint, error) {
	if g.gets.Add(1) == 1 {
		close(g.getIn)
		<-g.release
	}
	return g.Store.GetEndpoint(ctx, tenantID, id)
}

func (g *gatedStore) ListEndpoints(ctx context.Context, tenantID, after string, limit int) ([]*endpoints.Endpoint, error) {
	if g.lists.Add(1) == 1 {
		close(g.listIn)
		<-g.release
	}
	return g.Store.ListEndpoints(ctx, tenantID, after, limit)
}

// gatedCache is a CachedStore (TTL an hour) over a gatedStore over a fresh store holding endpoint ep_1 of acme.
func gatedCache(t *testing.T) (*boltstore.Store, *gatedStore, *endpoints.CachedStore) {
	t.Helper()
	raw, kr := cacheStores(t)
	g := &gatedStore{Store: raw, getIn: make(chan struct{}), listIn: make(chan struct{}), release: make(chan struct{})}
	if err := raw.CreateEndpoint(context.Background(), seed(t, raw, "acme", "ep_1", newKeySecret(t))); err != nil {
		t.Fatal(err)
	}
	return raw, g, endpoints.NewCachedStore(secrets.NewEndpoints(g, kr), time.Hour)
}

// TestCachedStoreSharesLoads: callers that miss while a load of the same endpoint or list is under way (a hot entry
// expiring under many publishers and workers) wait for it: one backend read for all of them, and each gets the
// endpoint (a copy of its own) or the list.
func TestCachedStoreSharesLoads(t *testing.T) {
	ctx := context.Background()
	_, g, st := gatedCache(t)
	const callers = 16
	type result struct {
		got *endpoints.Endpoint
		n   int
		err error
	}
	results := make(chan result, 2*callers)
	get := func() {
		e, err := st.GetEndpoint(ctx, "acme", "ep_1")
		results <- result{got: e, err: err}
	}
	list := func() {
		es, err := st.ListFanout(ctx, "acme")
		results <- result{n: len(es), err: err}
	}
	go get()
	go list()
	<-g.getIn
	<-g.listIn
	for range callers - 1 {
		go get()
		go list()
	}
	// Every other caller waits for the loads under way before they are let go.
	deadline := time.Now().Add(10 * time.Second)
	for st.Waiting("acme", "ep_1") != callers-1 || st.Waiting("acme", "") != callers-1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d and %d callers wait for the loads, want %d each (backend: %d gets, %d lists)",
				st.Waiting("acme", "ep_1"), st.Waiting("acme", ""), callers-1, g.gets.Load(), g.lists.Load())
		}
		runtime.Gosched()
	}
	close(g.release)
	var seen []*endpoints.Endpoint
	for range 2 * callers {
		r := <-results
		switch {
		case r.err != nil:
			t.Fatal(r.err)
		case r.got != nil:
			if r.got.ID != "ep_1" || len(r.got.Keys) != 1 {
				t.Fatalf("GetEndpoint: %+v", r.got)
			}
			for _, e := range seen {
				if e == r.got {
					t.Fatal("two callers got the same copy")
				}
			}
			seen = append(seen, r.got)
		case r.n != 1:
			t.Fatalf("ListFanout: %d endpoints, want 1", r.n)
		}
	}
	if g.gets.Load() != 1 || g.lists.Load() != 1 {
		t.Fatalf("%d endpoint loads and %d lists reached the backend, want 1 each", g.gets.Load(), g.lists.Load())
	}
}

// TestCachedStoreLoadAfterWrite: a caller that comes after a write does not wait for a list begun before it: it lists
// for itself and sees the write.
func TestCachedStoreLoadAfterWrite(t *testing.T) {
	ctx := context.Background()
	raw, g, st := gatedCache(t)
	first := make(chan int, 1)
	go func() {
		es, _ := st.ListFanout(ctx, "acme")
		first <- len(es)
	}()
	<-g.listIn // the first list is under way, held
	if err := st.CreateEndpoint(ctx, seed(t, raw, "acme", "ep_2", newKeySecret(t))); err != nil {
		t.Fatal(err)
	}
	defer func() {
		close(g.release)
		<-first
	}()
	bounded, cancel := context.WithTimeout(ctx, 10*time.Second) // waiting for the held list would run into this
	defer cancel()
	es, err := st.ListFanout(bounded, "acme")
	if err != nil || len(es) != 2 {
		t.Fatalf("after the write: %d endpoints, %v; want 2", len(es), err)
	}
}
