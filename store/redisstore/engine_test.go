package redisstore

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/egress"
	"github.com/webhookd/webhookd/endpoints"
	"github.com/webhookd/webhookd/internal/ids"
	"github.com/webhookd/webhookd/internal/testredis"
	"github.com/webhookd/webhookd/profiles"
	"github.com/webhookd/webhookd/signing"
)

// countingStore is the Store, counting the tasks its AckNext chains.
type countingStore struct {
	*Store
	chained atomic.Int64
}

func (c *countingStore) AckNext(ctx context.Context, t delivery.Task, a delivery.Attempt, now time.Time, opt delivery.ClaimOptions) (*delivery.Task, error) {
	next, err := c.Store.AckNext(ctx, t, a, now, opt)
	if next != nil {
		c.chained.Add(1)
	}
	return next, err
}

// TestEngineChainsAcks: the delivery engine on this store, sending a backlog to one endpoint capped at 4 attempts
// in flight. Its workers take the tasks chained to their acks, and the receiver still sees every delivery exactly
// once, never more than 4 at a time; then the queue is empty.
func TestEngineChainsAcks(t *testing.T) {
	srv := testredis.Start(t)
	st := &countingStore{Store: openOn(t, redisURL(srv), srv.Prefix, Options{})}
	defer st.Close()
	ctx := t.Context()
	const total, capacity = 300, 4

	var (
		mu        sync.Mutex
		seen      = map[string]int{}
		in, maxIn int
		all       = make(chan struct{})
	)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		in++
		maxIn = max(maxIn, in)
		id := r.Header.Get("webhook-id")
		seen[id]++
		if len(seen) == total && seen[id] == 1 {
			close(all)
		}
		mu.Unlock()
		time.Sleep(time.Millisecond) // a receiver's work, so that attempts overlap
		w.WriteHeader(http.StatusNoContent)
		mu.Lock()
		in--
		mu.Unlock()
	}))
	defer rcv.Close()

	p := profiles.Standard
	secret, public, err := p.GenerateKey(signing.HMAC)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ep := &endpoints.Endpoint{ID: ids.New("ep"), TenantID: "ten_a", URL: rcv.URL, Events: []string{"*"},
		Profile: p.Name(), Algorithm: "hmac", Keys: []endpoints.Key{{Secret: secret, Public: public, CreatedAt: now}},
		CreatedAt: now, UpdatedAt: now}
	if err := st.CreateEndpoint(ctx, ep); err != nil {
		t.Fatal(err)
	}
	for i := range total {
		m := &delivery.Message{ID: signing.NewMessageID().String(), TenantID: "ten_a", Type: "device.enrolled",
			Timestamp: now.Truncate(time.Second), Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i)), CreatedAt: now}
		d := &delivery.Delivery{ID: ids.New("dlv"), TenantID: "ten_a", MessageID: m.ID, EndpointID: ep.ID,
			EventType: m.Type, Status: delivery.StatusPending, CreatedAt: now, UpdatedAt: now}
		if _, _, _, err := st.Publish(ctx, m, []*delivery.Delivery{d}, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}

	client := egress.NewClient(egress.ClientConfig{Policy: egress.Policy{AllowHTTP: true, AllowPrivate: true}})
	eng, err := delivery.NewEngine(delivery.Config{Workers: 16, MaxInFlightPerEndpoint: capacity,
		Logger: slog.New(slog.DiscardHandler)},
		delivery.Deps{Queue: st, Messages: st, Endpoints: st, Client: client})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- eng.Run(runCtx) }()
	select {
	case <-all:
	case <-time.After(30 * time.Second):
		mu.Lock()
		t.Fatalf("%d of %d deliveries arrived in 30s", len(seen), total)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("%s arrived %d times", id, n)
		}
	}
	if maxIn > capacity {
		t.Fatalf("%d requests at once, cap %d", maxIn, capacity)
	}
	if n := st.chained.Load(); n < total/2 {
		t.Fatalf("%d of %d tasks came chained to an ack; with one endpoint at its cap, most should", n, total)
	}
	t.Logf("%d of %d tasks chained; at most %d requests at once", st.chained.Load(), total, maxIn)
	assertQueueEmpty(t, st.Store)
}
