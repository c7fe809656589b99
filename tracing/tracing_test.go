package tracing

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/endpoints"
)

func TestEnabled(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		want bool
	}{
		{nil, false},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_TRACES_EXPORTER": "none"}, false},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}, false},
		{map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, false},
	} {
		if got := Enabled(func(k string) string { return c.env[k] }); got != c.want {
			t.Errorf("Enabled(%v) = %v, want %v", c.env, got, c.want)
		}
	}
}

func TestSetupRefusesGRPC(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
	if _, _, err := Setup(context.Background(), Options{}); err == nil {
		t.Fatal("Setup accepted the grpc protocol, which this build does not carry")
	}
}

// TestHandlerPublishOnly: only the publish routes get a server span, and only they see a traceparent for events.
func TestHandlerPublishOnly(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tr := New(sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp)), Options{})
	var seen string
	h := tr.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r.URL.Path
		w.WriteHeader(http.StatusAccepted)
	}))
	for _, c := range []struct {
		method, path, span string
	}{
		{"POST", "/v1/tenants/acme/events", "POST /v1/tenants/{tenant}/events"},
		{"POST", "/v1/tenants/acme/events/batch", "POST /v1/tenants/{tenant}/events/batch"},
		{"GET", "/v1/tenants/acme/events", ""},
		{"POST", "/v1/tenants/acme/endpoints", ""},
		{"POST", "/v1/tenants", ""},
		{"POST", "/v1/tenants/acme/endpoints/ep_1/events", ""},
	} {
		exp.Reset()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(c.method, c.path, nil))
		if seen != c.path {
			t.Errorf("%s %s not passed on", c.method, c.path)
		}
		spans := exp.GetSpans()
		switch {
		case c.span == "" && len(spans) != 0:
			t.Errorf("%s %s: %d spans, want none", c.method, c.path, len(spans))
		case c.span != "" && (len(spans) != 1 || spans[0].Name != c.span):
			t.Errorf("%s %s: spans %v, want one %q", c.method, c.path, spans, c.span)
		}
	}
}

// TestAttemptSpanNoURLSecrets: an attempt's span names the receiver's host, never its path or query.
func TestAttemptSpanNoURLSecrets(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tr := New(sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp)), Options{})
	ep := &endpoints.Endpoint{ID: "ep_1", Profile: "standard", URL: "https://hooks.example.com:8443/in?token=URL-SECRET"}
	_, span := tr.StartAttempt(context.Background(), delivery.Task{Attempt: 1}, ep, &delivery.Message{})
	span.End(http.StatusServiceUnavailable, delivery.OutcomeRetry, nil)
	s := exp.GetSpans()[0]
	for _, kv := range s.Attributes {
		if v := kv.Value.String(); len(v) > 0 && (strings.Contains(v, "URL-SECRET") || strings.Contains(v, "/in")) {
			t.Errorf("attribute %s = %q carries the URL's path or query", kv.Key, v)
		}
	}
	if s.Status.Code.String() != "Error" {
		t.Errorf("a 503 attempt's span status %v, want Error", s.Status.Code)
	}
}

// BenchmarkAttemptSpan is what tracing adds to an attempt when it is on: the span's start with its attributes, the
// traceparent injected on the request, and its end (every span sampled; export, which batches in another
// goroutine, left out).
func BenchmarkAttemptSpan(b *testing.B) {
	tr := New(sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample())), Options{Propagate: true})
	ep := &endpoints.Endpoint{ID: "ep_1", Profile: "standard", URL: "https://hooks.example.com/in"}
	m := &delivery.Message{TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
	task := delivery.Task{DeliveryID: "dlv_1", TenantID: "tn_1", MessageID: "msg_1", EndpointID: "ep_1", Attempt: 2}
	ctx := context.Background()
	h := http.Header{}
	b.ReportAllocs()
	for b.Loop() {
		sctx, span := tr.StartAttempt(ctx, task, ep, m)
		tr.Inject(sctx, h, nil)
		span.End(http.StatusOK, delivery.OutcomeSuccess, nil)
	}
}

// TestInjectPerEndpoint: an endpoint's own choice overrides the operator's, either way.
func TestInjectPerEndpoint(t *testing.T) {
	yes, no := true, false
	for _, c := range []struct {
		operator bool
		endpoint *bool
		want     bool
	}{
		{false, nil, false}, {true, nil, true}, {false, &yes, true}, {true, &no, false}, {true, &yes, true},
	} {
		tr := New(sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample())), Options{Propagate: c.operator})
		ep := &endpoints.Endpoint{ID: "ep_1", Profile: "standard", URL: "https://hooks.example.com/in", TracePropagate: c.endpoint}
		sctx, span := tr.StartAttempt(context.Background(), delivery.Task{DeliveryID: "dlv_1", Attempt: 1}, ep, &delivery.Message{})
		h := http.Header{}
		tr.Inject(sctx, h, ep.TracePropagate)
		span.End(http.StatusOK, delivery.OutcomeSuccess, nil)
		if got := h.Get("Traceparent") != ""; got != c.want {
			t.Errorf("operator %v, endpoint %v: traceparent sent %v, want %v", c.operator, c.endpoint, got, c.want)
		}
	}
}
