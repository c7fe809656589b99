// Package tracing adapts OpenTelemetry to webhookd: a server span for each publish request (continuing the
// producer's W3C traceparent), and an http.client span for each delivery attempt that continues the publish trace
// from the traceparent stored with the message (delivery.Tracer). The OTLP/HTTP exporter is configured by the
// standard OTEL_* environment variables. The delivery and events packages never import OpenTelemetry: without
// tracing they hold no Tracer and pay a nil check.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/endpoints"
	"github.com/webhookd/webhookd/events"
)

// ScopeName is the instrumentation scope of webhookd's spans.
const ScopeName = "github.com/webhookd/webhookd"

// Attribute keys of webhookd's own (no semantic convention names these).
const (
	AttrTenant   = "webhookd.tenant.id"
	AttrEndpoint = "webhookd.endpoint.id"
	AttrProfile  = "webhookd.endpoint.profile"
	AttrMessage  = "webhookd.message.id"
	AttrDelivery = "webhookd.delivery.id"
	AttrAttempt  = "webhookd.attempt"
	AttrOutcome  = "webhookd.outcome"
)

// Options configure a Tracer.
type Options struct {
	// Propagate sends each attempt's traceparent to the receiver. Off by default: receivers verify signatures over
	// the body, not the headers, but may not expect an extra header, and a trace id tells them about the producer's
	// trace.
	Propagate bool
}

// Tracer makes webhookd's spans. It implements delivery.Tracer; Handler traces publish requests.
type Tracer struct {
	tr        trace.Tracer
	prop      propagation.TraceContext
	propagate bool
}

// New returns a Tracer making spans with tp.
func New(tp trace.TracerProvider, opt Options) *Tracer {
	return &Tracer{tr: tp.Tracer(ScopeName), propagate: opt.Propagate}
}

// Enabled reports whether the environment asks for traces to be exported: OTEL_TRACES_EXPORTER=otlp, or an OTLP
// endpoint set (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) with OTEL_TRACES_EXPORTER unset.
// OTEL_SDK_DISABLED=true and OTEL_TRACES_EXPORTER=none turn it off whatever else is set.
func Enabled(getenv func(string) string) bool {
	if strings.EqualFold(getenv("OTEL_SDK_DISABLED"), "true") {
		return false
	}
	switch strings.ToLower(strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER"))) {
	case "otlp":
		return true
	case "":
		return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
	default:
		return false
	}
}

// ErrExporter is wrapped by Setup's errors about the exporter the environment asks for.
var ErrExporter = errors.New("tracing: unsupported exporter")

// Setup builds the OTLP/HTTP exporter and tracer provider the OTEL_* environment describes (endpoint, headers,
// protocol http/protobuf, sampler, service name and resource attributes) and returns a Tracer and the function
// that flushes and stops them. The service name defaults to webhookd.
func Setup(ctx context.Context, opt Options) (*Tracer, func(context.Context) error, error) {
	if p := os.Getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"); p != "" && p != "http/protobuf" {
		return nil, nil, fmt.Errorf("%w: OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=%s (only http/protobuf)", ErrExporter, p)
	} else if p := os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL"); p != "" && p != "http/protobuf" {
		return nil, nil, fmt.Errorf("%w: OTEL_EXPORTER_OTLP_PROTOCOL=%s (only http/protobuf)", ErrExporter, p)
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("tracing: exporter: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", "webhookd")),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override the default name
		resource.WithTelemetrySDK(),
	)
	if err != nil {
		return nil, nil, fmt.Errorf("tracing: resource: %w", err)
	}
	// The sampler comes from OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG (default: parentbased_always_on).
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return New(tp, opt), tp.Shutdown, nil
}

// ---- publish ----

// Handler wraps the API handler: a POST publishing events (…/events or …/events/batch) runs in a server span that
// continues the request's traceparent, if any, and the span's traceparent goes to events.Publish to be stored with
// the messages. Other requests pass through untouched.
func (t *Tracer) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route, ok := publishRoute(r)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		ctx := t.prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := t.tr.Start(ctx, r.Method+" "+route, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(
				attribute.String("http.request.method", r.Method),
				attribute.String("http.route", route),
				attribute.String("url.path", r.URL.Path),
			))
		defer span.End()
		if sc := span.SpanContext(); sc.IsValid() {
			ctx = events.WithTraceParent(ctx, traceParent(sc))
		}
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(sw, r.WithContext(ctx))
		span.SetAttributes(attribute.Int("http.response.status_code", sw.code))
		if sw.code >= 500 {
			span.SetStatus(codes.Error, "")
		}
	})
}

// publishRoute names the publish routes' templates.
func publishRoute(r *http.Request) (string, bool) {
	if r.Method != http.MethodPost {
		return "", false
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/v1/tenants/")
	if !ok {
		return "", false
	}
	_, tail, ok := strings.Cut(rest, "/")
	switch {
	case !ok:
		return "", false
	case tail == "events":
		return "/v1/tenants/{tenant}/events", true
	case tail == "events/batch":
		return "/v1/tenants/{tenant}/events/batch", true
	}
	return "", false
}

// statusWriter remembers the status code written.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// traceParent formats sc as a W3C traceparent.
func traceParent(sc trace.SpanContext) string {
	return "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-" + sc.TraceFlags().String()
}

// ---- attempts ----

var _ delivery.Tracer = (*Tracer)(nil)

// StartAttempt starts an attempt's http.client span, a child of the publish span m.TraceParent names (a new trace
// when it names none).
func (t *Tracer) StartAttempt(ctx context.Context, task delivery.Task, ep *endpoints.Endpoint, m *delivery.Message) (context.Context, delivery.AttemptSpan) {
	if m.TraceParent != "" {
		ctx = t.prop.Extract(ctx, propagation.MapCarrier{"traceparent": m.TraceParent})
	}
	attrs := make([]attribute.KeyValue, 0, 12)
	attrs = append(attrs,
		attribute.String("http.request.method", http.MethodPost),
		attribute.String(AttrTenant, task.TenantID),
		attribute.String(AttrEndpoint, ep.ID),
		attribute.String(AttrProfile, ep.Profile),
		attribute.String(AttrMessage, task.MessageID),
		attribute.String(AttrDelivery, task.DeliveryID),
		attribute.Int(AttrAttempt, task.Attempt),
		attribute.Int("http.request.resend_count", task.Attempt-1),
	)
	if u, err := url.Parse(ep.URL); err == nil { // never the path or query: they may carry credentials
		attrs = append(attrs, attribute.String("url.scheme", u.Scheme), attribute.String("server.address", u.Hostname()))
		if port := u.Port(); port != "" {
			if n, err := strconv.Atoi(port); err == nil {
				attrs = append(attrs, attribute.Int("server.port", n))
			}
		}
	}
	ctx, span := t.tr.Start(ctx, http.MethodPost, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	return ctx, attemptSpan{span}
}

// Inject writes ctx's span as the request's traceparent when propagate is true, or when it is nil and
// Options.Propagate is set.
func (t *Tracer) Inject(ctx context.Context, h http.Header, propagate *bool) {
	if propagate != nil && *propagate || propagate == nil && t.propagate {
		t.prop.Inject(ctx, propagation.HeaderCarrier(h))
	}
}

type attemptSpan struct{ s trace.Span }

func (a attemptSpan) End(status int, o delivery.Outcome, err error) {
	a.s.SetAttributes(attribute.String(AttrOutcome, o.String()))
	if status != 0 {
		a.s.SetAttributes(attribute.Int("http.response.status_code", status))
	}
	switch {
	case err != nil && status == 0:
		a.s.SetAttributes(attribute.String("error.type", errorType(err)))
		a.s.SetStatus(codes.Error, err.Error())
	case status >= 400:
		a.s.SetAttributes(attribute.String("error.type", strconv.Itoa(status)))
		a.s.SetStatus(codes.Error, "")
	}
	a.s.End()
}

// errorType is the error.type of a transport error: timeout, or the low-cardinality class of the error.
func errorType(err error) string {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return oe.Op
	}
	return "_OTHER"
}
