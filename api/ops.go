package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/webhookd/webhookd/endpoints"
)

// Observer hears what the API does, for metrics. Its methods are called on the request path: implementations must be
// safe for concurrent use and must not block. metrics implements it; this package imports no metrics
// library.
type Observer interface {
	// Request is called once per request, after the response: route is the route template
	// ("/v1/tenants/{tenant}/events"), "" when no route matched; method is the request's, as sent.
	Request(route, method string, status int, latency time.Duration)
	// EventIngested is called for every event a producer published: duplicate when it repeated an earlier id.
	EventIngested(tenant string, duplicate bool)
	// HandshakeFailed is called when an endpoint URL is refused by the OPTIONS handshake, with one of the Handshake*
	// reasons.
	HandshakeFailed(reason string)
	// InternalError is called for every request answered 500 (in practice: a store call failed).
	InternalError()
}

// Reasons of Observer.HandshakeFailed.
const (
	HandshakeStatus  = "status"  // the receiver answered, not with a 2xx
	HandshakeNoPost  = "no_post" // a 2xx whose Allow header lacks POST
	HandshakeTimeout = "timeout" // no answer within the handshake timeout
	HandshakeNetwork = "network" // DNS, connection or TLS failure
)

type nopObserver struct{}

func (nopObserver) Request(string, string, int, time.Duration) {}
func (nopObserver) EventIngested(string, bool)                 {}
func (nopObserver) HandshakeFailed(string)                     {}
func (nopObserver) InternalError()                             {}

// handshakeReason classifies a handshake failure for Observer.HandshakeFailed.
func handshakeReason(he *endpoints.HandshakeError) string {
	var te interface{ Timeout() bool }
	switch {
	case he.Err != nil && (errors.Is(he.Err, context.DeadlineExceeded) || errors.As(he.Err, &te) && te.Timeout()):
		return HandshakeTimeout
	case he.Err != nil || he.Status == 0:
		return HandshakeNetwork
	case he.Status < 200 || he.Status > 299:
		return HandshakeStatus
	}
	return HandshakeNoPost
}

// ReadyCheck is one dependency GET /readyz checks: Check returns nil when the dependency can serve.
type ReadyCheck struct {
	Name  string // short, stable: "store", "engine"
	Check func(ctx context.Context) error
}

// Probe paths. They need no token: run the API on a private interface, or filter these paths at the proxy, when the
// metrics should not be public.
const (
	HealthPath  = "/healthz"
	ReadyPath   = "/readyz"
	MetricsPath = "/metrics"
)

// healthz answers 200 while the process serves HTTP at all: a liveness probe.
func (s *server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readiness runs the ready checks. It remembers each check's last result so that a failure is logged when it
// starts and when it ends, not on every probe.
type readiness struct {
	checks  []ReadyCheck
	timeout time.Duration
	log     *slog.Logger

	mu     sync.Mutex
	failed map[string]bool
}

// readyResponse is the body of GET /readyz: every check's result ("ok" or "failed") and the names of those that
// failed. Error details go to the log, not to this unauthenticated answer.
type readyResponse struct {
	Status string            `json:"status"` // "ready" or "unavailable"
	Checks map[string]string `json:"checks"`
	Failed []string          `json:"failed,omitempty"`
}

// readyz answers 200 when every check passes, 503 naming the failed checks otherwise. Checks run one after the other,
// each bounded by the ready timeout.
func (s *server) readyz(w http.ResponseWriter, r *http.Request) {
	rd := s.ready
	resp := readyResponse{Status: "ready", Checks: make(map[string]string, len(rd.checks))}
	for _, c := range rd.checks {
		ctx, cancel := context.WithTimeout(r.Context(), rd.timeout)
		err := c.Check(ctx)
		cancel()
		rd.note(r.Context(), c.Name, err)
		if err != nil {
			resp.Checks[c.Name] = "failed"
			resp.Failed = append(resp.Failed, c.Name)
			continue
		}
		resp.Checks[c.Name] = "ok"
	}
	status := http.StatusOK
	if len(resp.Failed) > 0 {
		resp.Status, status = "unavailable", http.StatusServiceUnavailable
	}
	writeJSON(w, status, resp)
}

// note logs a check's change of state.
func (rd *readiness) note(ctx context.Context, name string, err error) {
	rd.mu.Lock()
	was := rd.failed[name]
	rd.failed[name] = err != nil
	rd.mu.Unlock()
	switch {
	case err != nil && !was:
		rd.log.LogAttrs(ctx, slog.LevelWarn, "not ready", slog.String("check", name), slog.String("error", err.Error()))
	case err == nil && was:
		rd.log.LogAttrs(ctx, slog.LevelInfo, "ready again", slog.String("check", name))
	}
}

// setRoute tells the access log, through the response writer it wrapped, which route template serves a request.
func setRoute(w http.ResponseWriter, route string) {
	for {
		switch rw := w.(type) {
		case *recorder:
			rw.route = route
			return
		case interface{ Unwrap() http.ResponseWriter }:
			w = rw.Unwrap()
		default:
			return
		}
	}
}

// withRoute wraps a route's handler so that the access log and metrics know its template.
func withRoute(route string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setRoute(w, route)
		h.ServeHTTP(w, r)
	})
}

// probePath reports whether path is one of the unauthenticated probe paths, logged at debug level only.
func probePath(path string) bool {
	return path == HealthPath || path == ReadyPath || path == MetricsPath
}
