package gateway

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/egress"
)

// traceReceiver answers 500 to its first failFirst requests and 204 after; each request's traceparent header ("" when
// absent) is sent on got.
type traceReceiver struct {
	*httptest.Server
	got chan string
}

func newTraceReceiver(t *testing.T, failFirst int32) *traceReceiver {
	t.Helper()
	r := &traceReceiver{got: make(chan string, 8)}
	var n atomic.Int32
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodOptions { // the endpoint handshake
			w.Header().Set("Allow", "OPTIONS, POST")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		tp := req.Header.Get("traceparent")
		if n.Add(1) <= failFirst {
			w.WriteHeader(http.StatusInternalServerError)
		} else {
			w.WriteHeader(http.StatusNoContent)
		}
		r.got <- tp
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *traceReceiver) next(t *testing.T) string {
	t.Helper()
	select {
	case tp := <-r.got:
		return tp
	case <-time.After(15 * time.Second):
		t.Fatal("no request within 15s")
		return ""
	}
}

const opToken = "operator-token-for-the-tracing-test-0123456789"

// tracedGateway runs a gateway whose spans go to an in-memory exporter (none when exp is nil), with one tenant whose
// two endpoints take every event: ok answers 204, flaky 500 once and then 204. It returns their ids.
func tracedGateway(t *testing.T, exp *tracetest.InMemoryExporter, propagate bool) (g *gatewayT, ok, flaky *traceReceiver, okID, flakyID string) {
	t.Helper()
	cfg := Config{
		Listen: "127.0.0.1:0", Data: t.TempDir(), OperatorToken: opToken,
		Egress: egress.Policy{AllowPrivate: true, AllowHTTP: true},
		Delivery: delivery.Config{
			Retry: delivery.Retry{Initial: 20 * time.Millisecond, Cap: 50 * time.Millisecond}, ShutdownTimeout: 5 * time.Second,
		},
		TracePropagate: propagate,
		Logger:         slog.New(slog.DiscardHandler),
	}
	if exp != nil {
		cfg.TracerProvider = sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	}
	g = startGateway(t, cfg)
	ok, flaky = newTraceReceiver(t, 0), newTraceReceiver(t, 1)
	g.call(201, "POST", "/v1/tenants", opToken, map[string]any{"id": "acme", "name": "Acme"})
	okID = g.call(201, "POST", "/v1/tenants/acme/endpoints", opToken, map[string]any{"url": ok.URL})["id"].(string)
	flakyID = g.call(201, "POST", "/v1/tenants/acme/endpoints", opToken, map[string]any{"url": flaky.URL})["id"].(string)
	g.token = opToken
	return g, ok, flaky, okID, flakyID
}

// publishWith publishes one event with a traceparent header ("" for none).
func publishWith(t *testing.T, g *gatewayT, traceparent string) {
	t.Helper()
	req, err := http.NewRequest("POST", g.base+"/v1/tenants/acme/events", bytes.NewReader([]byte(`{"type":"device.enrolled","data":{"device":"d1"}}`)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+g.token)
	if traceparent != "" {
		req.Header.Set("traceparent", traceparent)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("publish: %d", resp.StatusCode)
	}
}

// waitSpans waits for n spans of kind k.
func waitSpans(t *testing.T, exp *tracetest.InMemoryExporter, k trace.SpanKind, n int) tracetest.SpanStubs {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		var out tracetest.SpanStubs
		for _, s := range exp.GetSpans() {
			if s.SpanKind == k {
				out = append(out, s)
			}
		}
		if len(out) >= n {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d %v spans within 10s, want %d", len(out), k, n)
		}
		time.Sleep(10 * time.Millisecond) // polling the exporter: the engine ends a span before recording the attempt
	}
}

func attr(s tracetest.SpanStub, key string) attribute.Value {
	for _, kv := range s.Attributes {
		if string(kv.Key) == key {
			return kv.Value
		}
	}
	return attribute.Value{}
}

const (
	producerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	producerSpan  = "00f067aa0ba902b7"
)

// TestTracingSpanTree: one event fanned out to two endpoints, one failing once, makes a server span continuing the
// producer's trace and three http.client attempt spans under it, with their attributes; the receivers get each
// attempt's own traceparent.
func TestTracingSpanTree(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	g, ok, flaky, okID, flakyID := tracedGateway(t, exp, true)
	publishWith(t, g, "00-"+producerTrace+"-"+producerSpan+"-01")
	sent := []string{ok.next(t), flaky.next(t), flaky.next(t)}

	servers := waitSpans(t, exp, trace.SpanKindServer, 1)
	if len(servers) != 1 {
		t.Fatalf("%d server spans, want 1", len(servers))
	}
	pub := servers[0]
	if pub.Name != "POST /v1/tenants/{tenant}/events" || pub.SpanContext.TraceID().String() != producerTrace ||
		pub.Parent.SpanID().String() != producerSpan || !pub.Parent.IsRemote() {
		t.Fatalf("publish span %q trace %s parent %s: want the producer's trace and span as parent",
			pub.Name, pub.SpanContext.TraceID(), pub.Parent.SpanID())
	}
	if got := attr(pub, "http.response.status_code").AsInt64(); got != http.StatusAccepted {
		t.Errorf("publish span status %d, want 202", got)
	}

	attempts := waitSpans(t, exp, trace.SpanKindClient, 3)
	if len(attempts) != 3 {
		t.Fatalf("%d attempt spans, want 3", len(attempts))
	}
	type row struct {
		ep      string
		n, code int64
		outcome string
	}
	var rows []row
	ids := map[string]bool{}
	for _, s := range attempts {
		if s.Name != "POST" || s.SpanContext.TraceID().String() != producerTrace || s.Parent.SpanID() != pub.SpanContext.SpanID() {
			t.Errorf("attempt span %q trace %s parent %s: want POST, a child of the publish span %s",
				s.Name, s.SpanContext.TraceID(), s.Parent.SpanID(), pub.SpanContext.SpanID())
		}
		if p := attr(s, "webhookd.endpoint.profile").AsString(); p != "standard" {
			t.Errorf("profile %q", p)
		}
		if a := attr(s, "server.address").AsString(); a != "127.0.0.1" {
			t.Errorf("server.address %q", a)
		}
		if n, rc := attr(s, "webhookd.attempt").AsInt64(), attr(s, "http.request.resend_count").AsInt64(); rc != n-1 {
			t.Errorf("resend_count %d for attempt %d", rc, n)
		}
		if attr(s, "webhookd.tenant.id").AsString() != "acme" || attr(s, "webhookd.message.id").AsString() == "" ||
			attr(s, "webhookd.delivery.id").AsString() == "" {
			t.Errorf("attempt span lacks tenant, message or delivery: %v", s.Attributes)
		}
		rows = append(rows, row{attr(s, "webhookd.endpoint.id").AsString(), attr(s, "webhookd.attempt").AsInt64(),
			attr(s, "http.response.status_code").AsInt64(), attr(s, "webhookd.outcome").AsString()})
		ids[s.SpanContext.SpanID().String()] = true
	}
	slices.SortFunc(rows, func(a, b row) int {
		if a.ep != b.ep {
			return map[bool]int{true: -1, false: 1}[a.ep == okID]
		}
		return int(a.n - b.n)
	})
	want := []row{{okID, 1, 204, "success"}, {flakyID, 1, 500, "retry"}, {flakyID, 2, 204, "success"}}
	if !slices.Equal(rows, want) {
		t.Errorf("attempts %v, want %v", rows, want)
	}
	// The per-endpoint metrics count the same attempts.
	wantMetrics := []string{
		`webhookd_endpoint_attempts_total{endpoint="` + okID + `",result="success"} 1`,
		`webhookd_endpoint_attempts_total{endpoint="` + flakyID + `",result="failure"} 1`,
		`webhookd_endpoint_attempts_total{endpoint="` + flakyID + `",result="success"} 1`,
		`webhookd_endpoint_attempt_duration_seconds_count{endpoint="` + flakyID + `"} 2`,
		// Each endpoint's adaptive in-flight limit, at its start: one attempt at a time neither grows nor cuts it.
		`webhookd_endpoint_in_flight_limit{endpoint="` + okID + `"} 8`,
		`webhookd_endpoint_in_flight_limit{endpoint="` + flakyID + `"} 8`,
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		text, _ := g.call(200, "GET", "/metrics", "", nil)["text"].(string)
		missing := slices.DeleteFunc(slices.Clone(wantMetrics), func(w string) bool { return strings.Contains(text, w) })
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics lack %q", missing)
		}
		time.Sleep(10 * time.Millisecond) // polling: the engine counts an attempt after the receiver answered
	}
	if got := g.call(200, "GET", "/v1/tenants/acme/endpoints/"+okID, opToken, nil)["in_flight_limit"]; got != 8.0 {
		t.Errorf("endpoint's in_flight_limit %v, want 8", got)
	}
	for _, tp := range sent {
		tid, sid := "", ""
		if len(tp) == 55 {
			tid, sid = tp[3:35], tp[36:52]
		}
		if tid != producerTrace || !ids[sid] {
			t.Errorf("receiver got traceparent %q: want the trace %s and an attempt span's id", tp, producerTrace)
		}
	}
}

// TestTracingNoPropagation: without the propagation option, or without tracing, receivers get no traceparent; a
// publish without one starts a new trace that its attempts continue.
func TestTracingNoPropagation(t *testing.T) {
	for _, traced := range []bool{true, false} {
		var exp *tracetest.InMemoryExporter
		if traced {
			exp = tracetest.NewInMemoryExporter()
		}
		g, ok, flaky, _, _ := tracedGateway(t, exp, false)
		publishWith(t, g, "00-"+producerTrace+"-"+producerSpan+"-01")
		publishWith(t, g, "")
		for _, tp := range []string{ok.next(t), ok.next(t), flaky.next(t), flaky.next(t), flaky.next(t)} {
			if tp != "" {
				t.Errorf("traced %v: receiver got traceparent %q with propagation off", traced, tp)
			}
		}
		if !traced {
			continue
		}
		servers := waitSpans(t, exp, trace.SpanKindServer, 2)
		attempts := waitSpans(t, exp, trace.SpanKindClient, 5)
		traces := map[trace.TraceID]int{}
		for _, s := range servers {
			traces[s.SpanContext.TraceID()] = 0
		}
		for _, s := range attempts {
			if _, ok := traces[s.SpanContext.TraceID()]; !ok {
				t.Errorf("attempt span in trace %s, not a publish's", s.SpanContext.TraceID())
			}
			traces[s.SpanContext.TraceID()]++
		}
		if len(traces) != 2 {
			t.Errorf("%d traces, want 2 (the producer's and a new one)", len(traces))
		}
	}
}
