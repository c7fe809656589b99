package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// recObserver records the Observer calls it gets.
type recObserver struct {
	mu    sync.Mutex
	calls []string
}

func (o *recObserver) add(s string) { o.mu.Lock(); o.calls = append(o.calls, s); o.mu.Unlock() }
func (o *recObserver) Request(route, method string, status int, _ time.Duration) {
	o.add(fmt.Sprintf("request %s %s %d", method, route, status))
}
func (o *recObserver) EventIngested(tenant string, dup bool) {
	o.add(fmt.Sprintf("ingested %s duplicate=%v", tenant, dup))
}
func (o *recObserver) HandshakeFailed(reason string) { o.add("handshake " + reason) }
func (o *recObserver) InternalError()                { o.add("internal") }
func (o *recObserver) get() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.calls)
}

func TestProbes(t *testing.T) {
	var storeDown atomic.Bool
	e := newEnv(t, func(c *testConfig) {
		c.ReadyChecks = []ReadyCheck{
			{Name: "store", Check: func(ctx context.Context) error {
				if storeDown.Load() {
					return errors.New("dial tcp 10.0.0.7:6379: connection refused")
				}
				return nil
			}},
			{Name: "engine", Check: func(context.Context) error { return nil }},
		}
		c.Metrics = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("metric 1\n")) })
	})

	// No token needed on any of them.
	if st, body := e.do("GET", "/healthz", "", nil); st != 200 || string(body) != `{"status":"ok"}`+"\n" {
		t.Fatalf("healthz: %d %s", st, body)
	}
	if st, body := e.do("GET", "/metrics", "", nil); st != 200 || string(body) != "metric 1\n" {
		t.Fatalf("metrics: %d %s", st, body)
	}
	var rr readyResponse
	st, body := e.do("GET", "/readyz", "", nil)
	if err := json.Unmarshal(body, &rr); st != 200 || err != nil || rr.Status != "ready" ||
		rr.Checks["store"] != "ok" || rr.Checks["engine"] != "ok" || rr.Failed != nil {
		t.Fatalf("readyz: %d %s", st, body)
	}

	storeDown.Store(true)
	st, body = e.do("GET", "/readyz", "", nil)
	rr = readyResponse{}
	if err := json.Unmarshal(body, &rr); st != 503 || err != nil || rr.Status != "unavailable" ||
		rr.Checks["store"] != "failed" || rr.Checks["engine"] != "ok" || !slices.Equal(rr.Failed, []string{"store"}) {
		t.Fatalf("readyz with the store down: %d %s", st, body)
	}
	// The unauthenticated answer names the check, not the error (which may name internal addresses).
	if strings.Contains(string(body), "10.0.0.7") || strings.Contains(string(body), "refused") {
		t.Fatalf("readyz leaks the error: %s", body)
	}

	// The API itself still wants a token.
	if st, _ := e.do("GET", "/v1/tenants", "", nil); st != 401 {
		t.Fatalf("GET /v1/tenants without a token: %d", st)
	}
}

func TestProbesWithoutMetrics(t *testing.T) {
	e := newEnv(t)
	if st, _ := e.do("GET", "/metrics", "", nil); st != 404 {
		t.Fatalf("metrics without a handler: %d, want 404", st)
	}
	if st, _ := e.do("GET", "/readyz", "", nil); st != 200 {
		t.Fatalf("readyz with no checks: %d, want 200", st)
	}
}

func TestObserverHooks(t *testing.T) {
	obs := &recObserver{}
	e := newEnv(t, func(c *testConfig) { c.Observer = obs })
	tok := e.tenant("acme")
	e.must(202, "POST", "/v1/tenants/acme/events", opToken, map[string]any{"type": "device.enrolled", "id": "e1"})
	e.must(202, "POST", "/v1/tenants/acme/events", opToken, map[string]any{"type": "device.enrolled", "id": "e1"})
	bad := newReceiver(t, http.StatusNoContent, "GET") // a 2xx handshake without POST
	e.must(422, "POST", "/v1/tenants/acme/endpoints", tok, map[string]any{"url": bad.URL})
	down := newReceiver(t, http.StatusInternalServerError, "POST")
	e.must(422, "POST", "/v1/tenants/acme/endpoints", tok, map[string]any{"url": down.URL})
	e.do("BREW", "/nowhere", "", nil)

	want := []string{
		"request POST /v1/tenants 201",
		"request POST /v1/tenants/{tenant}/tokens 201",
		"ingested acme duplicate=false",
		"request POST /v1/tenants/{tenant}/events 202",
		"ingested acme duplicate=true",
		"request POST /v1/tenants/{tenant}/events 202",
		"handshake no_post",
		"request POST /v1/tenants/{tenant}/endpoints 422",
		"handshake status",
		"request POST /v1/tenants/{tenant}/endpoints 422",
		"request BREW  404",
	}
	if got := obs.get(); !slices.Equal(got, want) {
		t.Fatalf("observer heard\n%q\nwant\n%q", got, want)
	}
}
