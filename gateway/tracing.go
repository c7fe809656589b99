package gateway

import (
	"context"
	"fmt"

	"github.com/webhookd/webhookd/tracing"
)

// setupTracing builds the tracer cfg asks for: nil when tracing is off, over cfg.TracerProvider when set, else the
// OTLP/HTTP exporter the OTEL_* environment configures (its shutdown, which flushes the spans left, is kept for
// Close).
func (g *Gateway) setupTracing(ctx context.Context) (*tracing.Tracer, error) {
	cfg := g.cfg
	opt := tracing.Options{Propagate: cfg.TracePropagate}
	switch {
	case cfg.TracerProvider != nil:
		return tracing.New(cfg.TracerProvider, opt), nil
	case !cfg.Tracing:
		return nil, nil
	}
	tr, shutdown, err := tracing.Setup(ctx, opt)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	g.stopTracing = shutdown
	return tr, nil
}
