package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhookd/webhookd/calls"
	"github.com/webhookd/webhookd/egress"
	"github.com/webhookd/webhookd/verifier"
)

// End-to-end tests of management calls: the real gateway (bolt store on a temp dir, the HTTP API on a port) and
// httptest backends that verify every call with the verifier middleware.

const callsCool = 300 * time.Millisecond

func callsConfig(t *testing.T) Config {
	return Config{
		Listen: "127.0.0.1:0", Data: t.TempDir(), Logger: slog.New(slog.DiscardHandler),
		Egress: egress.Policy{AllowHTTP: true, AllowPrivate: true},
		Calls:  calls.Config{BreakerAfter: 3, BreakerCooldown: callsCool},
	}
}

// backend is a management backend: it verifies each call with the verifier middleware, then answers with the
// handler of the call's path. It records the bodies it verified and the signature headers it saw.
type backend struct {
	*httptest.Server
	mu     sync.Mutex
	bodies map[string][]byte // path → last verified body
	sigs   []string          // webhook-signature headers, in order
	hits   atomic.Int32      // verified calls
}

func newBackend(t *testing.T, keys []string, routes map[string]http.HandlerFunc) *backend {
	t.Helper()
	v, err := verifier.New(verifier.Config{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{bodies: map[string][]byte{}}
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		b.mu.Lock()
		b.bodies[r.URL.Path] = body
		b.mu.Unlock()
		b.hits.Add(1)
		h, ok := routes[r.URL.Path]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"_tag":"ManagementNotSupported"}`)
			return
		}
		h(w, r)
	})
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			b.mu.Lock()
			b.sigs = append(b.sigs, r.Header.Get("webhook-signature"))
			b.mu.Unlock()
		}
		v.Middleware(inner).ServeHTTP(w, r)
	}))
	t.Cleanup(b.Close)
	return b
}

func (b *backend) body(path string) []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.bodies[path]
}

func answer(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// manifestSchema accepts exactly one check-in manifest: Idle, Command or DdmSync.
const manifestSchema = `{"oneOf": [
	{"type": "object", "properties": {"_tag": {"const": "Idle"}}, "required": ["_tag"], "additionalProperties": false},
	{"type": "object", "properties": {"_tag": {"const": "Command"}, "command": {"type": "object"}}, "required": ["_tag", "command"]},
	{"type": "object", "properties": {"_tag": {"const": "DdmSync"}, "serverToken": {"type": "string"}}, "required": ["_tag", "serverToken"]}
]}`

// raw posts a raw body and returns the status and the decoded answer.
func (g *gatewayT) raw(method, path, token string, body []byte) (int, map[string]any) {
	g.t.Helper()
	req, err := http.NewRequest(method, g.base+path, bytes.NewReader(body))
	if err != nil {
		g.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	m := map[string]any{}
	json.Unmarshal(out, &m)
	m["_raw"] = string(out)
	return resp.StatusCode, m
}

// callsEndpoint registers a calls endpoint for tenant at url and returns its id.
func (g *gatewayT) callsEndpoint(tenant, url, secret string, settings map[string]any) string {
	g.t.Helper()
	body := map[string]any{"url": url, "kind": "calls", "secret": secret}
	if settings != nil {
		body["calls"] = settings
	}
	ep := g.call(http.StatusCreated, "POST", "/v1/tenants/"+tenant+"/endpoints", g.token, body)
	if ep["kind"] != "calls" {
		g.t.Fatalf("endpoint kind %v, want calls", ep["kind"])
	}
	return ep["id"].(string)
}

// makeCall makes one call (raw JSON body) and returns the answer; it must be 200.
func (g *gatewayT) makeCall(tenant, ep, path, body string, extra string) map[string]any {
	g.t.Helper()
	req := fmt.Sprintf(`{"endpoint_id": %q, "path": %q, "body": %s%s}`, ep, path, body, extra)
	status, m := g.raw("POST", "/v1/tenants/"+tenant+"/calls", g.token, []byte(req))
	if status != http.StatusOK {
		g.t.Fatalf("call %s: %d: %s", path, status, m["_raw"])
	}
	return m
}

// callLog waits until the endpoint's call log holds n entries and returns them.
func (g *gatewayT) callLog(tenant, ep string, n int) []any {
	g.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		m := g.call(http.StatusOK, "GET", "/v1/tenants/"+tenant+"/endpoints/"+ep+"/calls?limit=200", g.token, nil)
		data := m["data"].([]any)
		if len(data) >= n || time.Now().After(deadline) {
			if len(data) != n {
				g.t.Fatalf("call log of %s holds %d entries, want %d", ep, len(data), n)
			}
			return data
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCallsOutcomes(t *testing.T) {
	cfg := callsConfig(t)
	cfg.Calls.BreakerAfter = 100 // this test's failures are consecutive; TestCallsBreaker covers the breaker
	g := startGateway(t, cfg)
	g.call(http.StatusCreated, "POST", "/v1/tenants", g.token, map[string]any{"id": "acme", "name": "Acme"})
	secret := newSecret(t)
	big := `{"pad":"` + strings.Repeat("x", 1<<20) + `"}`
	slowDone := make(chan struct{})
	b := newBackend(t, []string{secret}, map[string]http.HandlerFunc{
		"/webhook/apple/checkin": answer(200, `{ "_tag" : "Idle" }`),
		"/webhook/apple/command": answer(200, `{"_tag":"Command","command":{"RequestType":"DeviceInformation"}}`),
		"/webhook/apple/broken":  answer(200, `{"_tag":"Command"}`),
		"/webhook/apple/unknown": answer(404, `{"_tag":"UnknownDevice"}`),
		"/custom-tag":            answer(409, `{"_tag":"DeviceLocked"}`),
		"/undeclared":            answer(500, `{"_tag":"Weird"}`),
		"/not-json":              answer(200, `hello`),
		"/too-large":             answer(200, big),
		"/asset":                 answer(200, `null`),
		"/slow": func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done(): // webhookd hung up at its budget
			case <-time.After(5 * time.Second):
			}
			slowDone <- struct{}{}
		},
	})
	schemas := map[string]any{
		"/webhook/apple/checkin": json.RawMessage(manifestSchema),
		"/webhook/apple/command": json.RawMessage(manifestSchema),
		"/webhook/apple/broken":  json.RawMessage(manifestSchema),
	}
	ep := g.callsEndpoint("acme", b.URL+"/", secret, map[string]any{
		"schemas":    schemas,
		"error_tags": []string{"UnknownDevice", "DeviceLocked", "InternalServerError"},
	})

	// ok: the body went byte for byte, the answer came back byte for byte, and the schema accepted it.
	sent := `{"udid": "00008030-001A", "messageType":"TokenUpdate" }`
	m := g.makeCall("acme", ep, "/webhook/apple/checkin", sent, "")
	if m["outcome"] != "ok" || m["status"] != float64(200) || !strings.HasPrefix(m["webhook_id"].(string), "msg_") {
		t.Fatalf("checkin: %s", m["_raw"])
	}
	if !strings.Contains(m["_raw"].(string), `"body":{ "_tag" : "Idle" }`) {
		t.Fatalf("the answer's body was not returned byte for byte: %s", m["_raw"])
	}
	if got := string(b.body("/webhook/apple/checkin")); got != sent {
		t.Fatalf("the backend got %q, want the console's body %q", got, sent)
	}
	first := m["webhook_id"]
	if m := g.makeCall("acme", ep, "/webhook/apple/command", `{}`, ""); m["outcome"] != "ok" || m["webhook_id"] == first {
		t.Fatalf("command (a second call, a fresh webhook-id): %s", m["_raw"])
	}

	for _, c := range []struct {
		path, outcome, tag, errPart string
		status                      float64
	}{
		{"/webhook/apple/broken", "bad_response", "", "does not meet the schema", 200},
		{"/webhook/apple/unknown", "typed_error", "UnknownDevice", "", 404},
		{"/custom-tag", "typed_error", "DeviceLocked", "", 409},
		{"/undeclared", "bad_response", "", "status 500 without a declared error tag", 500},
		{"/not-json", "bad_response", "", "not JSON", 200},
		{"/too-large", "bad_response", "", "larger than 1048576 bytes", 200},
		{"/asset", "ok", "", "", 200},
	} {
		m := g.makeCall("acme", ep, c.path, `{"udid":"d-1"}`, "")
		if m["outcome"] != c.outcome || m["status"] != c.status || (m["tag"] != nil && m["tag"] != c.tag) ||
			(c.tag != "" && m["tag"] != c.tag) || !strings.Contains(fmt.Sprint(m["error"]), c.errPart) {
			t.Errorf("%s: %s", c.path, m["_raw"])
		}
		if c.outcome == "bad_response" && c.path != "/webhook/apple/broken" && c.path != "/undeclared" && m["body"] != nil {
			t.Errorf("%s: a body that is not JSON within the limit was returned: %.200s", c.path, m["_raw"])
		}
	}
	if m := g.makeCall("acme", ep, "/asset", `null`, ""); !strings.Contains(m["_raw"].(string), `"body":null`) {
		t.Errorf("a null answer is returned as null: %s", m["_raw"])
	}

	// timeout: a slow backend is cut at the call's budget.
	start := time.Now()
	m = g.makeCall("acme", ep, "/slow", `{}`, `, "timeout": "200ms"`)
	took := time.Since(start)
	if m["outcome"] != "timeout" || took < 200*time.Millisecond || took > time.Second {
		t.Fatalf("slow backend: %v after %v", m["_raw"], took)
	}
	select {
	case <-slowDone:
	case <-time.After(5 * time.Second):
		t.Fatal("the slow backend's request was not cancelled at the budget")
	}

	// unreachable: the backend went away after registration.
	gone := newBackend(t, []string{secret}, nil)
	ep2 := g.callsEndpoint("acme", gone.URL, secret, nil)
	gone.Close()
	if m := g.makeCall("acme", ep2, "/webhook/apple/checkin", `{}`, ""); m["outcome"] != "unreachable" || m["status"] != float64(0) {
		t.Fatalf("closed backend: %s", m["_raw"])
	}

	// The log: every call, with its outcome, excerpts and latency.
	log := g.callLog("acme", ep, 11)
	first0 := log[0].(map[string]any)
	if first0["outcome"] != "ok" || first0["request"] != sent || first0["response"] != `{ "_tag" : "Idle" }` ||
		first0["path"] != "/webhook/apple/checkin" || first0["webhook_id"] != first || first0["latency_ms"].(float64) <= 0 {
		t.Fatalf("first log entry: %v", first0)
	}
	outcomes := map[string]int{}
	for _, e := range log {
		outcomes[e.(map[string]any)["outcome"].(string)]++
	}
	if want := map[string]int{"ok": 4, "typed_error": 2, "bad_response": 4, "timeout": 1}; fmt.Sprint(outcomes) != fmt.Sprint(want) {
		t.Fatalf("logged outcomes %v, want %v", outcomes, want)
	}
	g.callLog("acme", ep2, 1)
}

func TestCallsBreaker(t *testing.T) {
	g := startGateway(t, callsConfig(t))
	g.call(http.StatusCreated, "POST", "/v1/tenants", g.token, map[string]any{"id": "acme", "name": "Acme"})
	secret := newSecret(t)
	var healthy atomic.Bool
	b := newBackend(t, []string{secret}, map[string]http.HandlerFunc{
		"/checkin": func(w http.ResponseWriter, r *http.Request) {
			if healthy.Load() {
				answer(200, `{"_tag":"Idle"}`)(w, r)
				return
			}
			answer(502, `<html>bad gateway</html>`)(w, r)
		},
	})
	ep := g.callsEndpoint("acme", b.URL, secret, nil)
	outcome := func() string { return g.makeCall("acme", ep, "/checkin", `{}`, "")["outcome"].(string) }

	for i := range 3 {
		if o := outcome(); o != "bad_response" {
			t.Fatalf("failure %d: %s", i+1, o)
		}
	}
	hits := b.hits.Load()
	start := time.Now()
	if o := outcome(); o != "circuit_open" {
		t.Fatalf("after 3 failures: %s, want circuit_open", o)
	}
	if fast := time.Since(start); fast > 100*time.Millisecond || b.hits.Load() != hits {
		t.Fatalf("an open circuit took %v and reached the backend (%d → %d hits)", fast, hits, b.hits.Load())
	}

	// After the cool-down one probe goes through; it fails, so the circuit opens again at once.
	time.Sleep(callsCool)
	if o := outcome(); o != "bad_response" {
		t.Fatalf("probe: %s", o)
	}
	if o := outcome(); o != "circuit_open" {
		t.Fatalf("after a failed probe: %s, want circuit_open", o)
	}

	// The backend recovers: the next probe succeeds and closes the circuit.
	healthy.Store(true)
	time.Sleep(callsCool)
	for i := range 3 {
		if o := outcome(); o != "ok" {
			t.Fatalf("call %d after recovery: %s", i, o)
		}
	}
	g.callLog("acme", ep, 9)
}

func TestCallsBadInput(t *testing.T) {
	g := startGateway(t, callsConfig(t))
	g.call(http.StatusCreated, "POST", "/v1/tenants", g.token, map[string]any{"id": "acme", "name": "Acme"})
	secret := newSecret(t)
	b := newBackend(t, []string{secret}, map[string]http.HandlerFunc{"/checkin": answer(200, `{"_tag":"Idle"}`)})
	ep := g.callsEndpoint("acme", b.URL, secret, nil)
	evb := newBackend(t, []string{secret}, nil)
	events := g.call(http.StatusCreated, "POST", "/v1/tenants/acme/endpoints", g.token,
		map[string]any{"url": evb.URL, "secret": secret})["id"].(string)

	for _, c := range []struct {
		name, body, code, field string
		status                  int
	}{
		{"unknown endpoint", `{"endpoint_id":"ep_nope","path":"/checkin","body":{}}`, "not_found", "", 404},
		{"events endpoint", `{"endpoint_id":"` + events + `","path":"/checkin","body":{}}`, "wrong_endpoint_kind", "endpoint_id", 422},
		{"oversized body", `{"endpoint_id":"` + ep + `","path":"/checkin","body":"` + strings.Repeat("x", 300<<10) + `"}`, "body_too_large", "", 413},
		{"invalid JSON", `{"endpoint_id":"` + ep + `","path":"/checkin","body":{"a":}}`, "invalid_json", "", 400},
		{"no body", `{"endpoint_id":"` + ep + `","path":"/checkin"}`, "validation_failed", "body", 422},
		{"no path", `{"endpoint_id":"` + ep + `","body":{}}`, "validation_failed", "path", 422},
		{"dot segment", `{"endpoint_id":"` + ep + `","path":"/a/../admin","body":{}}`, "validation_failed", "path", 422},
		{"query in path", `{"endpoint_id":"` + ep + `","path":"/a?x=1","body":{}}`, "validation_failed", "path", 422},
		{"budget too long", `{"endpoint_id":"` + ep + `","path":"/checkin","body":{},"timeout":"31s"}`, "validation_failed", "timeout", 422},
		{"unknown field", `{"endpoint_id":"` + ep + `","path":"/checkin","body":{},"retries":3}`, "invalid_json", "retries", 400},
	} {
		status, m := g.raw("POST", "/v1/tenants/acme/calls", g.token, []byte(c.body))
		if status != c.status || m["code"] != c.code || (c.field != "" && m["field"] != c.field) || m["message"] == "" {
			t.Errorf("%s: %d %.300s, want %d %s field %q", c.name, status, m["_raw"], c.status, c.code, c.field)
		}
	}
	if n := b.hits.Load(); n != 0 {
		t.Fatalf("bad input reached the backend %d times", n)
	}
	// Nothing was logged: after one good call, the log holds exactly it.
	g.makeCall("acme", ep, "/checkin", `{}`, "")
	g.callLog("acme", ep, 1)

	// A calls endpoint receives no events: no fan-out, no test event; its events filter is refused.
	if m := g.call(http.StatusAccepted, "POST", "/v1/tenants/acme/events", g.token,
		map[string]any{"type": "device.enrolled", "data": map[string]any{}}); m["fanout"] != float64(1) {
		t.Fatalf("publish fanned out to %v endpoints, want 1 (the events endpoint only)", m["fanout"])
	}
	if m := g.call(422, "POST", "/v1/tenants/acme/endpoints/"+ep+"/test", g.token, nil); m["code"] != "wrong_endpoint_kind" {
		t.Fatalf("test event to a calls endpoint: %v", m)
	}
	if m := g.call(422, "POST", "/v1/tenants/acme/endpoints", g.token,
		map[string]any{"url": b.URL, "kind": "calls", "events": []string{"*"}}); m["field"] != "events" {
		t.Fatalf("calls endpoint with events: %v", m)
	}
	if m := g.call(422, "PATCH", "/v1/tenants/acme/endpoints/"+ep, g.token, map[string]any{"kind": "events"}); m["field"] != "kind" {
		t.Fatalf("kind change: %v", m)
	}
	if m := g.call(422, "POST", "/v1/tenants/acme/endpoints", g.token, map[string]any{"url": b.URL, "kind": "calls",
		"calls": map[string]any{"schemas": map[string]any{"/checkin": map[string]any{"type": 12}}}}); m["field"] != "calls.schemas" {
		t.Fatalf("a schema that does not compile: %v", m)
	}
	if m := g.call(422, "POST", "/v1/tenants/acme/endpoints", g.token,
		map[string]any{"url": b.URL, "kind": "calls", "profile": "mender"}); m["field"] != "profile" {
		t.Fatalf("a calls endpoint under mender: %v", m)
	}
	if m := g.call(422, "GET", "/v1/tenants/acme/endpoints/"+events+"/calls", g.token, nil); m["code"] != "wrong_endpoint_kind" {
		t.Fatalf("call log of an events endpoint: %v", m)
	}
	if n := b.hits.Load(); n != 1 {
		t.Fatalf("the calls backend got %d calls, want 1", n)
	}
}

func TestCallsTenantIsolation(t *testing.T) {
	g := startGateway(t, callsConfig(t))
	for _, id := range []string{"acme", "globex"} {
		g.call(http.StatusCreated, "POST", "/v1/tenants", g.token, map[string]any{"id": id, "name": id})
	}
	globexToken := g.call(http.StatusCreated, "POST", "/v1/tenants/globex/tokens", g.token, map[string]any{"name": "x"})["token"].(string)
	secret := newSecret(t)
	b := newBackend(t, []string{secret}, map[string]http.HandlerFunc{"/checkin": answer(200, `{"_tag":"Idle"}`)})
	ep := g.callsEndpoint("acme", b.URL, secret, nil)
	body := []byte(`{"endpoint_id":"` + ep + `","path":"/checkin","body":{}}`)

	if status, m := g.raw("POST", "/v1/tenants/globex/calls", globexToken, body); status != 404 || m["code"] != "not_found" {
		t.Fatalf("globex calling acme's endpoint under its own tenant: %d %s", status, m["_raw"])
	}
	if status, m := g.raw("POST", "/v1/tenants/acme/calls", globexToken, body); status != 404 {
		t.Fatalf("globex's token under acme: %d %s", status, m["_raw"])
	}
	if status, _ := g.raw("POST", "/v1/tenants/globex/calls", g.token, body); status != 404 {
		t.Fatalf("the operator under globex with acme's endpoint: %d", status)
	}
	if status, _ := g.raw("GET", "/v1/tenants/globex/endpoints/"+ep+"/calls", globexToken, nil); status != 404 {
		t.Fatalf("globex listing acme's call log: %d", status)
	}
	if n := b.hits.Load(); n != 0 {
		t.Fatalf("the backend got %d calls from another tenant", n)
	}
	acmeToken := g.call(http.StatusCreated, "POST", "/v1/tenants/acme/tokens", g.token, map[string]any{"name": "x"})["token"].(string)
	if status, m := g.raw("POST", "/v1/tenants/acme/calls", acmeToken, body); status != 200 || m["outcome"] != "ok" {
		t.Fatalf("acme's own token: %d %s", status, m["_raw"])
	}
}

func TestCallsRotation(t *testing.T) {
	g := startGateway(t, callsConfig(t))
	g.call(http.StatusCreated, "POST", "/v1/tenants", g.token, map[string]any{"id": "acme", "name": "Acme"})
	oldKey, newKey := newSecret(t), newSecret(t)
	// Two backends on the same calls: one trusts only the old key, the other only the new one.
	onlyOld := newBackend(t, []string{oldKey}, map[string]http.HandlerFunc{"/checkin": answer(200, `{"_tag":"Idle"}`)})
	ep := g.callsEndpoint("acme", onlyOld.URL, oldKey, nil)
	g.call(http.StatusOK, "POST", "/v1/tenants/acme/endpoints/"+ep+"/rotate", g.token,
		map[string]any{"secret": newKey, "grace": "1h"})

	if m := g.makeCall("acme", ep, "/checkin", `{}`, ""); m["outcome"] != "ok" {
		t.Fatalf("a receiver trusting only the old key, during the grace: %s", m["_raw"])
	}
	if sigs := onlyOld.sigs[len(onlyOld.sigs)-1]; len(strings.Fields(sigs)) != 2 {
		t.Fatalf("during the grace a call carries two signatures, got %q", sigs)
	}
	onlyNew := newBackend(t, []string{newKey}, map[string]http.HandlerFunc{"/checkin": answer(200, `{"_tag":"Idle"}`)})
	g.call(http.StatusOK, "PATCH", "/v1/tenants/acme/endpoints/"+ep, g.token, map[string]any{"url": onlyNew.URL})
	if m := g.makeCall("acme", ep, "/checkin", `{}`, ""); m["outcome"] != "ok" {
		t.Fatalf("a receiver trusting only the new key: %s", m["_raw"])
	}
	// A rotation without grace drops the key it replaces at once: the receiver trusting only it refuses (401, not
	// a typed answer, so bad_response).
	g.call(http.StatusOK, "POST", "/v1/tenants/acme/endpoints/"+ep+"/rotate", g.token, map[string]any{"grace": "0s"})
	if m := g.makeCall("acme", ep, "/checkin", `{}`, ""); m["outcome"] != "bad_response" || m["status"] != float64(401) {
		t.Fatalf("after a rotation without grace, the receiver of the dropped key: %s", m["_raw"])
	}
}

func TestCallsSSRF(t *testing.T) {
	cfg := callsConfig(t)
	cfg.Egress = egress.Policy{} // production policy: https, public addresses only
	g := startGateway(t, cfg)
	g.call(http.StatusCreated, "POST", "/v1/tenants", g.token, map[string]any{"id": "acme", "name": "Acme"})
	b := newBackend(t, []string{newSecret(t)}, nil)
	for _, url := range []string{b.URL, "https://127.0.0.1:9/", "https://169.254.169.254/latest", "https://10.0.0.1/"} {
		m := g.call(422, "POST", "/v1/tenants/acme/endpoints", g.token, map[string]any{"url": url, "kind": "calls"})
		if m["code"] != "forbidden_url" {
			t.Errorf("%s: %v", url, m)
		}
	}
	if n := b.hits.Load(); n != 0 {
		t.Fatalf("a refused URL was called %d times", n)
	}
}
