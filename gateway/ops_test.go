package gateway

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/egress"
	"github.com/webhookd/webhookd/endpoints"
	"github.com/webhookd/webhookd/internal/testredis"
)

// recorder is a receiver that answers POST with status and OPTIONS as the handshake wants while options is set, and
// keeps every event it is sent with the time it came.
type recorder struct {
	*httptest.Server
	status  atomic.Int32
	options atomic.Bool
	mu      sync.Mutex
	got     []map[string]any
	at      []time.Time
}

func newRecorder(t *testing.T) *recorder {
	r := &recorder{}
	r.status.Store(http.StatusNoContent)
	r.options.Store(true)
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodOptions {
			if !r.options.Load() {
				w.WriteHeader(http.StatusMethodNotAllowed)
				return
			}
			w.Header().Set("Allow", "OPTIONS, POST")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		var body map[string]any
		json.NewDecoder(req.Body).Decode(&body)
		status := int(r.status.Load())
		r.mu.Lock()
		r.got, r.at = append(r.got, body), append(r.at, time.Now())
		r.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(r.Close)
	return r
}

// count returns how many events of type typ the recorder got.
func (r *recorder) count(typ string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.got {
		if m["type"] == typ {
			n++
		}
	}
	return n
}

// last returns the last event of type typ (nil for none).
func (r *recorder) last(typ string) map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.got) - 1; i >= 0; i-- {
		if r.got[i]["type"] == typ {
			return r.got[i]
		}
	}
	return nil
}

// waitCount waits until the recorder got n events of type typ.
func (r *recorder) waitCount(t *testing.T, typ string, n int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for r.count(typ) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s: got %d %s events within 15s, want %d", r.URL, r.count(typ), typ, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// deliveryTypes counts an endpoint's deliveries by event type, from the API.
func deliveryTypes(g *gatewayT, tenant, ep string) map[string]int {
	res := g.call(200, "GET", "/v1/tenants/"+tenant+"/endpoints/"+ep+"/deliveries?limit=200", g.token, nil)
	out := map[string]int{}
	for _, d := range res["data"].([]any) {
		out[d.(map[string]any)["event_type"].(string)]++
	}
	return out
}

// onBothStores runs test on the embedded store and on a throwaway Redis.
func onBothStores(t *testing.T, test func(t *testing.T, store string)) {
	t.Run("embedded", func(t *testing.T) { test(t, "") })
	t.Run("redis", func(t *testing.T) { test(t, "redis://"+testredis.StartServer(t).Addr) })
}

func TestOperationalEventsOncePerTransition(t *testing.T) { onBothStores(t, testOperationalEvents) }
func TestPeriodicRecheck(t *testing.T)                    { onBothStores(t, testPeriodicRecheck) }
func TestEndpointRetrySchedule(t *testing.T)              { onBothStores(t, testEndpointRetrySchedule) }

func testOperationalEvents(t *testing.T, store string) {
	const failingAfter = 400 * time.Millisecond
	g := startGateway(t, Config{
		Listen: "127.0.0.1:0", Data: t.TempDir(), Store: store, OperatorTenant: "ops",
		Egress: egress.Policy{AllowPrivate: true, AllowHTTP: true},
		Delivery: delivery.Config{
			Retry:        delivery.Retry{Initial: 30 * time.Millisecond, Cap: 60 * time.Millisecond, Count: 1, Jitter: -1},
			FailingAfter: failingAfter, HealthSpan: time.Hour, ShutdownTimeout: 5 * time.Second,
		},
		Recheck: endpoints.RecheckConfig{Every: -1},
	})
	flaky, watch, legacy, opsWatch, all := newRecorder(t), newRecorder(t), newRecorder(t), newRecorder(t), newRecorder(t)
	g.call(201, "POST", "/v1/tenants", g.token, map[string]any{"id": "acme", "name": "Acme"})
	g.call(201, "POST", "/v1/tenants", g.token, map[string]any{"id": "ops", "name": "Operator"})
	create := func(tenant string, r *recorder, events ...string) string {
		return g.call(201, "POST", "/v1/tenants/"+tenant+"/endpoints", g.token, map[string]any{"url": r.URL, "events": events})["id"].(string)
	}
	// The failing endpoint subscribes to operational events too: it must never hear of its own.
	epFlaky := create("acme", flaky, "device.*", "webhookd.*")
	epWatch := create("acme", watch, "webhookd.*")
	epLegacy := create("acme", legacy, "endpoint.*")
	epAll := create("acme", all, "*") // "*" selects endpoint.disabled, not the webhookd.* events
	epOps := create("ops", opsWatch, "webhookd.endpoint.*", "webhookd.delivery.exhausted")
	publish := func(typ string) {
		g.call(202, "POST", "/v1/tenants/acme/events", g.token, map[string]any{"type": typ, "data": map[string]any{}})
	}

	// Down: the first delivery spends its two attempts and is exhausted.
	flaky.status.Store(http.StatusInternalServerError)
	publish("device.a")
	watch.waitCount(t, "webhookd.delivery.exhausted", 1)
	ex := watch.last("webhookd.delivery.exhausted")["data"].(map[string]any)
	if ex["endpoint_id"] != epFlaky || ex["status"] != "dead" || ex["event_type"] != "device.a" ||
		ex["last_attempt"].(map[string]any)["status_code"] != 500.0 {
		t.Fatalf("exhausted: %v", ex)
	}
	// Still down past the threshold: failing, once, though two attempts fail after it.
	time.Sleep(failingAfter) // the threshold is wall time since the first failure
	publish("device.b")
	watch.waitCount(t, "webhookd.delivery.exhausted", 2)
	watch.waitCount(t, "webhookd.endpoint.failing", 1)
	if d := watch.last("webhookd.endpoint.failing")["data"].(map[string]any); d["endpoint_id"] != epFlaky || d["last_error"] != "HTTP 500" {
		t.Fatalf("failing: %v", d)
	}
	// Back up: recovered.
	flaky.status.Store(http.StatusNoContent)
	publish("device.c")
	watch.waitCount(t, "webhookd.endpoint.recovered", 1)
	// Gone: disabled (under both names) and the delivery exhausted.
	flaky.status.Store(http.StatusGone)
	publish("device.d")
	watch.waitCount(t, "webhookd.endpoint.disabled", 1)
	watch.waitCount(t, "webhookd.delivery.exhausted", 3)
	legacy.waitCount(t, "endpoint.disabled", 1)
	all.waitCount(t, "endpoint.disabled", 1)
	opsWatch.waitCount(t, "webhookd.endpoint.disabled", 1)
	opsWatch.waitCount(t, "webhookd.delivery.exhausted", 3)

	// Every event was stored before the delivery that caused it was settled, so the logs are complete now.
	want := map[string]int{
		"webhookd.delivery.exhausted": 3, "webhookd.endpoint.failing": 1,
		"webhookd.endpoint.recovered": 1, "webhookd.endpoint.disabled": 1,
	}
	for _, c := range []struct{ tenant, ep string }{{"acme", epWatch}, {"ops", epOps}} {
		got := deliveryTypes(g, c.tenant, c.ep)
		for typ, n := range want {
			if got[typ] != n {
				t.Errorf("%s/%s: %d %s deliveries, want %d (all: %v)", c.tenant, c.ep, got[typ], typ, n, got)
			}
		}
	}
	if got := deliveryTypes(g, "acme", epLegacy); got["endpoint.disabled"] != 1 || len(got) != 1 {
		t.Errorf("legacy subscriber's deliveries: %v, want one endpoint.disabled", got)
	}
	for typ := range deliveryTypes(g, "acme", epAll) {
		if strings.HasPrefix(typ, "webhookd.") {
			t.Errorf("an endpoint subscribed to * was sent %s", typ)
		}
	}
	// No loop: the endpoint the events are about got none of them.
	for typ := range deliveryTypes(g, "acme", epFlaky) {
		if typ != "device.a" && typ != "device.b" && typ != "device.c" && typ != "device.d" {
			t.Errorf("the failing endpoint was sent %s about itself", typ)
		}
	}
	// A producer cannot forge one.
	g.call(422, "POST", "/v1/tenants/acme/events", g.token, map[string]any{"type": "webhookd.endpoint.failing"})
	// The catalogue lists them.
	g.call(200, "GET", "/v1/event-types/webhookd.endpoint.failing", g.token, nil)
}

func testPeriodicRecheck(t *testing.T, store string) {
	g := startGateway(t, Config{
		Listen: "127.0.0.1:0", Data: t.TempDir(), Store: store,
		Egress:   egress.Policy{AllowPrivate: true, AllowHTTP: true},
		Delivery: delivery.Config{ShutdownTimeout: 5 * time.Second},
		Recheck:  endpoints.RecheckConfig{Every: 150 * time.Millisecond, PerHost: time.Millisecond, DisableAfter: 2},
	})
	target, watch := newRecorder(t), newRecorder(t)
	g.call(201, "POST", "/v1/tenants", g.token, map[string]any{"id": "acme", "name": "Acme"})
	epTarget := g.call(201, "POST", "/v1/tenants/acme/endpoints", g.token, map[string]any{"url": target.URL})["id"].(string)
	epWatch := g.call(201, "POST", "/v1/tenants/acme/endpoints", g.token, map[string]any{"url": watch.URL, "events": []string{"webhookd.*"}})["id"].(string)

	// The receiver stops answering OPTIONS: two failed re-checks, then the endpoint is disabled.
	target.options.Store(false)
	watch.waitCount(t, "webhookd.endpoint.disabled", 1)
	ep := g.call(200, "GET", "/v1/tenants/acme/endpoints/"+epTarget, g.token, nil)
	if ep["disabled"] != true || ep["disabled_reason"] != "handshake" || ep["handshake_failures"] != 2.0 ||
		ep["handshake_error"] == nil || ep["handshake_checked_at"] == nil {
		t.Fatalf("endpoint after failed re-checks: %v", ep)
	}
	if got := deliveryTypes(g, "acme", epWatch); got["webhookd.endpoint.handshake_failed"] != 2 || got["webhookd.endpoint.disabled"] != 1 {
		t.Fatalf("watcher's deliveries: %v", got)
	}
	d := watch.last("webhookd.endpoint.handshake_failed")["data"].(map[string]any)
	if d["endpoint_id"] != epTarget || d["failures"] != 2.0 || d["disabled"] != true {
		t.Fatalf("handshake_failed: %v", d)
	}
	// The healthy endpoint was re-checked too, and stays enabled with no failure.
	deadline := time.Now().Add(10 * time.Second)
	for {
		w := g.call(200, "GET", "/v1/tenants/acme/endpoints/"+epWatch, g.token, nil)
		if w["handshake_checked_at"] != nil {
			if w["disabled"] != false || w["handshake_failures"] != nil {
				t.Fatalf("healthy endpoint: %v", w)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the healthy endpoint was never re-checked")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func testEndpointRetrySchedule(t *testing.T, store string) {
	g := startGateway(t, Config{
		Listen: "127.0.0.1:0", Data: t.TempDir(), Store: store,
		Egress:   egress.Policy{AllowPrivate: true, AllowHTTP: true},
		Delivery: delivery.Config{Retry: delivery.Retry{Jitter: -1}, ShutdownTimeout: 5 * time.Second},
		Recheck:  endpoints.RecheckConfig{Every: -1},
	})
	r := newRecorder(t)
	g.call(201, "POST", "/v1/tenants", g.token, map[string]any{"id": "acme", "name": "Acme"})
	base := "/v1/tenants/acme/endpoints"
	// Out of the limits: 422 with the field.
	for _, bad := range []map[string]any{
		{"retries": 11}, {"retries": -1}, {"retry_initial": "10ms"}, {"retry_cap": "48h"},
		{"retry_initial": "2s", "retry_cap": "1s"},
	} {
		bad["url"] = r.URL
		if res := g.call(422, "POST", base, g.token, bad); res["code"] != "validation_failed" {
			t.Errorf("%v: %v", bad, res)
		}
	}
	ep := g.call(201, "POST", base, g.token, map[string]any{"url": r.URL, "retries": 3, "retry_initial": "100ms", "retry_cap": "200ms"})
	if ep["retries"] != 3.0 || ep["retry_initial"] != "100ms" || ep["retry_cap"] != "200ms" {
		t.Fatalf("created %v", ep)
	}
	g.call(422, "PATCH", base+"/"+ep["id"].(string), g.token, map[string]any{"retries": 12})

	r.status.Store(http.StatusInternalServerError)
	g.call(202, "POST", "/v1/tenants/acme/events", g.token, map[string]any{"type": "device.a"})
	deadline := time.Now().Add(15 * time.Second)
	for {
		d := deliveryTypes(g, "acme", ep["id"].(string))
		res := g.call(200, "GET", base+"/"+ep["id"].(string)+"/deliveries", g.token, nil)["data"].([]any)
		if d["device.a"] == 1 && res[0].(map[string]any)["status"] == "dead" {
			if n := res[0].(map[string]any)["attempts"]; n != 4.0 {
				t.Fatalf("dead after %v attempts, want 4 (3 retries)", n)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the delivery did not die within 15s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.mu.Lock()
	at := append([]time.Time(nil), r.at...)
	r.mu.Unlock()
	if len(at) != 4 {
		t.Fatalf("the receiver got %d attempts, want 4", len(at))
	}
	// Waits of 100ms, 200ms, then 200ms (capped); no jitter. Allow the engine's polling some lateness, and Redis's
	// millisecond due times a millisecond of earliness.
	for i, want := range []time.Duration{100, 200, 200} {
		want *= time.Millisecond
		if gap := at[i+1].Sub(at[i]); gap < want-time.Millisecond || gap > want+time.Second {
			t.Errorf("wait %d: %v, want %v", i+1, gap, want)
		}
	}
}
