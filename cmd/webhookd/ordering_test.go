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
