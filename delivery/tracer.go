package delivery

import (
	"context"
	"net/http"
	"time"

	"github.com/webhookd/webhookd/endpoints"
)

// Tracer follows each attempt as a span (package tracing adapts OpenTelemetry to it). The engine holds none unless
// Deps.Tracer is set, so that an engine without tracing pays one nil check per attempt. Implementations must be safe
// for concurrent use.
type Tracer interface {
	// StartAttempt starts the span of the attempt of t about to be sent to ep, continuing the trace m.TraceParent
	// names (the publish request's), and returns ctx carrying it. It must not
	// record ep's URL path or query, which may carry credentials.
	StartAttempt(ctx context.Context, t Task, ep *endpoints.Endpoint, m *Message) (context.Context, AttemptSpan)
	// Inject writes the span of ctx on the attempt's request headers when propagate says so: nil for the
	// operator's choice, else the endpoint's own (endpoints.Endpoint.TracePropagate); otherwise it does nothing.
	Inject(ctx context.Context, h http.Header, propagate *bool)
}

// AttemptSpan is one attempt's span.
type AttemptSpan interface {
	// End records the attempt's result (status 0: no response; err: the transport error, if any) and ends the span.
	End(status int, o Outcome, err error)
}

// EndpointObserver is an Observer that also hears each sent attempt's endpoint, for per-endpoint metrics. Its
// implementation must bound the label values it makes of the ids. The engine uses it when its Observer has it.
type EndpointObserver interface {
	EndpointAttempt(tenantID, endpointID string, o Outcome, latency time.Duration)
}

// LimitObserver is an Observer that also hears an endpoint's adaptive concurrency limit (Engine.EndpointLimit)
// whenever it changes, for a per-endpoint gauge. Like EndpointObserver it must bound its labels. The engine uses it
// when its Observer has it.
type LimitObserver interface {
	EndpointLimit(tenantID, endpointID string, limit int)
}
