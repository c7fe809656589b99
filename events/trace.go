package events

import "context"

// traceParentKey is the context key of WithTraceParent.
type traceParentKey struct{}

// WithTraceParent returns ctx carrying a W3C traceparent that Publish and PublishBatch store with each message they
// write, so that the message's delivery attempts, made later and perhaps by another replica, continue that trace.
// The tracing middleware sets it to the publish request's span; without tracing nothing sets it and nothing is stored.
func WithTraceParent(ctx context.Context, traceparent string) context.Context {
	return context.WithValue(ctx, traceParentKey{}, traceparent)
}

// traceParent returns the traceparent WithTraceParent put in ctx, or "".
func traceParent(ctx context.Context) string {
	tp, _ := ctx.Value(traceParentKey{}).(string)
	return tp
}
