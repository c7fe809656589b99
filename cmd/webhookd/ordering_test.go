package main_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/webhookd/webhookd/client"
	"github.com/webhookd/webhookd/signing"
	"github.com/webhookd/webhookd/verifier"
	"github.com/webhookd/webhookd/wire"
)

// orderedReceiver verifies every request and checks, per ordering key, that the first arrival of each event comes
// after the first arrival of the key's previous event. It fails 30 % of requests at random and hangs on a few.
type orderedReceiver struct {
	srv        *httptest.Server
	mu         sync.Mutex
	first      map[string]bool // webhook-id → arrived
	next       map[string]int  // key → the n its next first arrival must have
	ok         map[string]bool // webhook-id → answered 2xx once
	violations []string
	news       chan struct{}
}

func newOrderedReceiver(t *testing.T, secret string) *orderedReceiver {
	t.Helper()
	v, err := verifier.New(verifier.Config{Keys: []string{secret}, Dedup: verifier.NoDedup{}})
	if err != nil {
		t.Fatal(err)
	}
	r := &orderedReceiver{first: map[string]bool{}, next: map[string]int{}, ok: map[string]bool{}, news: make(chan struct{}, 1)}
	r.srv = httptest.NewServer(v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		res, _ := verifier.ResultFrom(req.Context())
		var ev struct {
			Data struct {
				K string `json:"k"`
				N int    `json:"n"`
			} `json:"data"`
		}
		body, err := io.ReadAll(req.Body)
		if err == nil {
			err = json.Unmarshal(body, &ev)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		k, n := ev.Data.K, ev.Data.N
		r.mu.Lock()
		if !r.first[res.MessageID] {
			r.first[res.MessageID] = true
			if n != r.next[k] {
				r.violations = append(r.violations, fmt.Sprintf("key %s: event %d arrived first when %d was due", k, n, r.next[k]))
			}
			r.next[k] = max(r.next[k], n+1)
		}
		r.mu.Unlock()
		switch x := rand.IntN(1000); {
		case x < 3: // hang past the endpoint's timeout
			select {
			case <-time.After(2 * time.Second):
			case <-req.Context().Done():
			}
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		case x < 300:
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		r.mu.Lock()
		r.ok[res.MessageID] = true
		r.mu.Unlock()
		select {
		case r.news <- struct{}{}:
		default:
		}
		w.WriteHeader(http.StatusNoContent)
	})))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *orderedReceiver) succeeded() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.ok) }

// runOrdered publishes keys × per events, each key's events one after another (the next once the previous was
// answered 202; one whose gateway died under it is sent again, with the same producer id, to the current one), keys
// side by side. With kill set, the gateway is killed with SIGKILL once a third of the events have succeeded and
// restarted by restart. It returns once every event has succeeded at the receiver, or fails the test.
func runOrdered(t *testing.T, g *atomic.Pointer[gateway], rcv *orderedReceiver, kill bool, restart func() *gateway) {
	const keys, per = 100, 50
	var wg sync.WaitGroup
	for k := range keys {
		wg.Go(func() {
			for n := range per {
				ev := wire.Event{Type: "device.status", ID: fmt.Sprintf("k%d-%d", k, n), OrderingKey: fmt.Sprintf("dev-%d", k),
					Data: fmt.Appendf(nil, `{"k":"dev-%d","n":%d}`, k, n)}
				for try := 0; ; try++ {
					_, err := g.Load().api().Publish(context.Background(), "acme", ev)
					if err == nil {
						break
					}
					if _, ok := errors.AsType[*client.Error](err); ok || try > 600 {
						t.Errorf("publish %s: %v", ev.ID, err)
						return
					}
					time.Sleep(50 * time.Millisecond) // the gateway is down: wait for the restart
				}
			}
		})
	}
	if kill {
		if !waitUntil(rcv.news, 40*time.Second, func() bool { return rcv.succeeded() >= keys*per/3 }) {
			t.Fatalf("only %d events succeeded before the kill", rcv.succeeded())
		}
		old := g.Load()
		old.cmd.Process.Signal(syscall.SIGKILL)
		<-old.done
		t.Logf("killed after %d events succeeded", rcv.succeeded())
		g.Store(restart())
	}
	wg.Wait()
	if !waitUntil(rcv.news, 50*time.Second, func() bool { return rcv.succeeded() >= keys*per }) {
		t.Fatalf("%d of %d events succeeded\n%s", rcv.succeeded(), keys*per, g.Load().logs)
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	for _, v := range rcv.violations {
		t.Error(v)
	}
	for k := range keys {
		if got := rcv.next[fmt.Sprintf("dev-%d", k)]; got != per {
			t.Errorf("key dev-%d: %d events arrived, want %d", k, got, per)
		}
	}
}

// waitUntil waits for cond, waking on news, for at most d.
func waitUntil(news chan struct{}, d time.Duration, cond func() bool) bool {
	deadline := time.After(d)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-news:
		case <-tick.C:
		case <-deadline:
			return cond()
		}
	}
	return true
}

// TestOrderingEndToEnd: 100 keys × 50 events through the real binary to a receiver that fails 30 % of requests and
// hangs on a few: each key's events first arrive in publish order, and every event succeeds; again with a kill -9
// and a restart mid-run; on the embedded store and on Redis.
func TestOrderingEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	flags := []string{"--retries", "20", "--lease", "4s"}
	for _, store := range []string{"bolt", "redis"} {
		for _, kill := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/kill=%v", store, kill), func(t *testing.T) {
				secret, _ := signing.GenerateSecret(0)
				rcv := newOrderedReceiver(t, secret)
				data := t.TempDir()
				extra := flags
				if store == "redis" {
					_, url := redisAOF(t, t.TempDir())
					extra = append([]string{"--store", url}, flags...)
				}
				start := func() *gateway { return startGateway(t, data, extra...) }
				var g atomic.Pointer[gateway]
				g.Store(start())
				createTenant(t, g.Load())
				createEndpoint(t, g.Load(), rcv.srv.URL+"/hook", secret, []string{"device.*"}, 0)
				began := time.Now()
				runOrdered(t, &g, rcv, kill, start)
				t.Logf("%s, kill=%v: 5000 ordered events in %v", store, kill, time.Since(began).Round(time.Millisecond))
			})
		}
	}
}

// TestOrderingBlockEndToEnd: through the real binary, on an endpoint with ordering_on_failure block, a key's first
// event dies and holds the key across a kill -9 and a restart; an unblock retry then delivers it, and the rest of
// the key after it, in order.
func TestOrderingBlockEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	for _, store := range []string{"bolt", "redis"} {
		t.Run(store, func(t *testing.T) {
			var extra []string
			if store == "redis" {
				_, url := redisAOF(t, t.TempDir())
				extra = []string{"--store", url}
			}
			testOrderingBlock(t, extra)
		})
	}
}

func testOrderingBlock(t *testing.T, extra []string) {
	ctx := context.Background()
	var (
		mu   sync.Mutex
		down = true
		got  []string // event ids, in the order they were accepted
	)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			w.Header().Set("Allow", "POST, OPTIONS")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		var body struct {
			Data struct {
				N int `json:"n"`
			} `json:"data"`
		}
		b, _ := io.ReadAll(r.Body)
		json.Unmarshal(b, &body)
		mu.Lock()
		defer mu.Unlock()
		if down {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		got = append(got, fmt.Sprint(body.Data.N))
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rcv.Close)
	secret, _ := signing.GenerateSecret(0)
	data := t.TempDir()
	g := startGateway(t, data, extra...)
	createTenant(t, g)
	createEndpoint(t, g, rcv.URL+"/hook", secret, []string{"device.*"}, 0)
	eps, err := g.api().ListEndpoints(ctx, "acme", client.Page{})
	if err != nil || len(eps.Data) != 1 {
		t.Fatalf("list endpoints: %v %v", eps, err)
	}
	ep, block, zero := eps.Data[0].ID, "block", 0
	if _, err := g.api().UpdateEndpoint(ctx, "acme", ep, wire.EndpointRequest{OrderingOnFailure: &block, Retries: &zero}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for n := range 3 {
		p, err := g.api().Publish(ctx, "acme", wire.Event{Type: "device.status", OrderingKey: "dev-1", Data: fmt.Appendf(nil, `{"n":%d}`, n)})
		if err != nil {
			t.Fatal(err)
		}
		ds, err := g.api().ListDeliveries(ctx, "acme", client.DeliveryFilter{Message: p.ID})
		if err != nil || len(ds.Data) != 1 {
			t.Fatalf("deliveries of %s: %v %v", p.ID, ds, err)
		}
		ids = append(ids, ds.Data[0].ID)
	}
	blocked := func(g *gateway) bool {
		d, err := g.api().GetDelivery(ctx, "acme", ids[0])
		return err == nil && d.Blocked && d.Status == wire.StatusDead
	}
	deadline := time.Now().Add(20 * time.Second)
	for !blocked(g) {
		if time.Now().After(deadline) {
			t.Fatalf("the first event never blocked its key\n%s", g.logs)
		}
		time.Sleep(20 * time.Millisecond) // another process's work: a poll with a deadline
	}
	g.cmd.Process.Signal(syscall.SIGKILL)
	<-g.done
	g = startGateway(t, data, extra...)
	if !blocked(g) {
		t.Fatal("the key is not blocked after the restart")
	}
	for _, id := range ids[1:] {
		if d, err := g.api().GetDelivery(ctx, "acme", id); err != nil || d.Status != wire.StatusPending || d.WaitingOn != ids[0] {
			t.Fatalf("%s after the restart: %+v %v", id, d, err)
		}
	}
	mu.Lock()
	down = false
	mu.Unlock()
	if _, err := g.api().UnblockDelivery(ctx, "acme", ids[0], wire.UnblockRetry); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 3 events arrived after the retry\n%s", n, g.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(got) != "[0 1 2]" {
		t.Fatalf("arrival order %v, want [0 1 2]", got)
	}
}
