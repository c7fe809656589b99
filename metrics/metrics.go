// Package metrics turns the hooks of the delivery engine (delivery.Observer) and of the API (api.Observer) into
// Prometheus metrics on a registry of its own, served by Handler. It is the only package of webhookd that imports
// the Prometheus client; the others report through small interfaces.
//
// Every label has a small, fixed set of values: registered profiles, outcomes, reasons, store operations, route templates,
// HTTP methods and status codes. The one label that grows with the data, tenant, is bounded: the first
// MaxTenantLabels tenants seen by this process get their own value, every later one is counted under "other".
// Endpoint ids, message ids and URLs are never labels, but for webhookd_ordering_held_keys (ordering.go), whose
// endpoint label is bounded to MaxHeldKeyEndpoints values.
//
// # Caveats
//
//   - The tenant label is per process and not persistent: after a restart the first tenants seen may differ, and with
//     several replicas each picks its own.
//   - Queue gauges are read from the store at scrape time, under the scrape's context. A store that cannot count
//     cheaply does not implement delivery.QueueStatsReporter and those gauges are absent; a count it reports as -1 is
//     left out. When the read fails the gauges are dropped from that scrape (never stale) and store_errors counts it.
package metrics

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/profiles"
)

// DefaultMaxTenantLabels is the default of Config.MaxTenantLabels.
const DefaultMaxTenantLabels = 100

// OtherTenant is the tenant label of every tenant beyond the first MaxTenantLabels.
const OtherTenant = "other"

// QueueDepth is what the metrics read of a queue at scrape time. delivery.Queue is one (NextDue gives the lag).
type QueueDepth interface {
	NextDue(ctx context.Context) (time.Time, error)
}

// Config configures Metrics. Every field is optional.
type Config struct {
	// MaxTenantLabels is how many tenants get their own label value; the rest are "other". Defaults to 100.
	MaxTenantLabels int
	// MaxEndpointLabels is how many endpoints get their own label value in the per-endpoint metrics; the rest are
	// "other". Negative leaves the per-endpoint metrics out. Defaults to 100.
	MaxEndpointLabels int
	// Queue, if set, gives webhookd_queue_lag_seconds; if it also implements delivery.QueueStatsReporter, the
	// webhookd_queue_deliveries gauges. Defaults to none.
	Queue QueueDepth
	// InFlight, if set, gives webhookd_delivery_in_flight: attempts under way in this process. Defaults to none; see
	// also WatchInFlight, for an engine built after the Metrics (it takes them as its Observer).
	InFlight func() int
	// ScrapeTimeout bounds the store reads of one scrape. Defaults to 2s.
	ScrapeTimeout time.Duration
	// Now is the clock of the lag gauge. Defaults to time.Now.
	Now func() time.Time
}

// Metrics holds webhookd's registry and implements delivery.Observer and api.Observer. It is safe for concurrent use.
type Metrics struct {
	cfg       Config
	reg       *prometheus.Registry
	tenants   boundedSet
	endpoints *endpointMetrics // nil when MaxEndpointLabels < 0

	eventsIngested  *prometheus.CounterVec
	eventDuplicates prometheus.Counter
	attempts        *prometheus.CounterVec
	attemptLatency  *prometheus.HistogramVec
	disables        *prometheus.CounterVec
	handshakes      *prometheus.CounterVec
	storeErrors     *prometheus.CounterVec
	requests        *prometheus.CounterVec
	requestLatency  *prometheus.HistogramVec
	queue           *prometheus.GaugeVec
	queueLag        prometheus.Gauge
	inFlight        prometheus.Gauge
	inFlightOf      atomic.Pointer[func() int]
	calls           callMetrics // management calls (calls.go)

	schemas schemaMetrics // events accepted in warn mode (schemas.go)
	ops     opsMetrics    // operational events emitted (ops.go)

	handler http.Handler
}

// Label values.
var (
	methods       = set("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
	disableReason = set(delivery.ReasonGone, delivery.ReasonFailing)
	// handshakeReasons are api.Handshake* reasons.
	handshakeReasons = set("status", "no_post", "timeout", "network")
)

// New returns Metrics with every metric registered on a new registry, with the Go runtime and process collectors.
func New(cfg Config) *Metrics {
	cfg.MaxTenantLabels = cmp.Or(cfg.MaxTenantLabels, DefaultMaxTenantLabels)
	cfg.ScrapeTimeout = cmp.Or(cfg.ScrapeTimeout, 2*time.Second)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m := &Metrics{
		cfg:     cfg,
		reg:     prometheus.NewRegistry(),
		tenants: boundedSet{max: cfg.MaxTenantLabels, m: make(map[string]struct{})},
		eventsIngested: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webhookd_events_ingested_total",
			Help: fmt.Sprintf(`Events accepted by POST /v1/tenants/{tenant}/events (idempotent repeats excluded), by tenant: the first %d tenants seen have their own label, the rest are "other".`, cfg.MaxTenantLabels),
		}, []string{"tenant"}),
		eventDuplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "webhookd_events_duplicate_total",
			Help: "Events answered as an idempotent repeat of an earlier one (nothing written).",
		}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webhookd_delivery_attempts_total",
			Help: "Delivery attempts by endpoint profile and outcome (success, retry, failed, gone, dead). Every outcome but retry ends a delivery.",
		}, []string{"profile", "outcome"}),
		attemptLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "webhookd_delivery_attempt_duration_seconds",
			Help:    "Time from sending an attempt's request to its response or transport error, by endpoint profile. Attempts that sent no request are not observed.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"profile"}),
		disables: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webhookd_endpoint_disables_total",
			Help: `Endpoints the engine disabled, by reason: "gone" (the receiver answered 410) or "failing" (failing for the health span).`,
		}, []string{"reason"}),
		handshakes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webhookd_endpoint_handshake_failures_total",
			Help: `Endpoint URLs refused because the OPTIONS handshake failed, by reason: status (not 2xx), no_post (Allow lacks POST), timeout, network.`,
		}, []string{"reason"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webhookd_store_errors_total",
			Help: "Failed store calls, by operation (engine: claim, next_due, reclaim, ack, nack, fail, release, load_endpoint, load_message, set_health; also prune, ping, queue_stats, and api for an API request answered 500).",
		}, []string{"op"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webhookd_http_requests_total",
			Help: `API requests by route template (e.g. /v1/tenants/{tenant}/events; "unmatched" for no route), method and status code.`,
		}, []string{"route", "method", "code"}),
		requestLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "webhookd_http_request_duration_seconds",
			Help:    "API request latency by route template.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
		queue: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "webhookd_queue_deliveries",
			Help: "Deliveries in the queue by state: due (due now, waiting for a worker), in_flight (leased), scheduled (due later: retries, rate-limited), dead (dead-lettered, kept until retention). Read from the store at scrape time; absent when the store cannot count.",
		}, []string{"state"}),
		queueLag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "webhookd_queue_lag_seconds",
			Help: "How long the earliest due delivery has been waiting past its due time (0 when nothing is overdue). Read from the store at scrape time.",
		}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "webhookd_delivery_in_flight",
			Help: "Delivery attempts under way in this process.",
		}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.eventsIngested, m.eventDuplicates, m.attempts, m.attemptLatency, m.disables, m.handshakes, m.storeErrors,
		m.requests, m.requestLatency, m.queue,
	)
	if cfg.MaxEndpointLabels >= 0 {
		m.endpoints = newEndpointMetrics(cmp.Or(cfg.MaxEndpointLabels, DefaultMaxEndpointLabels))
		m.reg.MustRegister(m.endpoints.attempts, m.endpoints.latency, m.endpoints.limit)
	}
	if cfg.Queue != nil {
		m.reg.MustRegister(m.queueLag)
	}
	if cfg.InFlight != nil {
		m.WatchInFlight(cfg.InFlight)
	}
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	return m
}

// WatchInFlight makes f the source of webhookd_delivery_in_flight, read at every scrape: the delivery engine's
// InFlight. The engine takes the Metrics as its Observer, so it is built after them and attached here. A later call
// replaces f.
func (m *Metrics) WatchInFlight(f func() int) {
	if f == nil {
		return
	}
	if m.inFlightOf.Swap(&f) == nil {
		m.reg.MustRegister(m.inFlight)
	}
}

// Registry returns the registry every metric is on.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus text format. It reads the queue gauges from the store first, under the
// request's context bounded by ScrapeTimeout.
func (m *Metrics) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), m.cfg.ScrapeTimeout)
		m.refresh(ctx)
		cancel()
		m.handler.ServeHTTP(w, r)
	})
}

// refresh reads the gauges that come from the store and the engine.
func (m *Metrics) refresh(ctx context.Context) {
	if f := m.inFlightOf.Load(); f != nil {
		m.inFlight.Set(float64((*f)()))
	}
	if m.cfg.Queue == nil {
		return
	}
	if next, err := m.cfg.Queue.NextDue(ctx); err != nil {
		m.StoreError("next_due")
	} else {
		lag := 0.0
		if now := m.cfg.Now(); !next.IsZero() && next.Before(now) {
			lag = now.Sub(next).Seconds()
		}
		m.queueLag.Set(lag)
	}
	qs, ok := m.cfg.Queue.(delivery.QueueStatsReporter)
	if !ok {
		return
	}
	st, err := qs.QueueStats(ctx)
	if err != nil {
		m.queue.Reset()
		m.StoreError("queue_stats")
		return
	}
	for _, g := range []struct {
		state string
		n     int64
	}{{"due", st.Due}, {"in_flight", st.InFlight}, {"scheduled", st.Scheduled}, {"dead", st.Dead}} {
		if g.n < 0 {
			m.queue.DeleteLabelValues(g.state)
			continue
		}
		m.queue.WithLabelValues(g.state).Set(float64(g.n))
	}
}

// ---- delivery.Observer ----

// AttemptDone counts an attempt and, when it sent a request, observes its latency.
func (m *Metrics) AttemptDone(profile string, o delivery.Outcome, latency time.Duration, sent bool) {
	p := profileLabel(profile)
	m.attempts.WithLabelValues(p, o.String()).Inc()
	if sent {
		m.attemptLatency.WithLabelValues(p).Observe(latency.Seconds())
	}
}

// EndpointDisabled counts an endpoint the engine disabled.
func (m *Metrics) EndpointDisabled(reason string) {
	m.disables.WithLabelValues(label(disableReason, reason)).Inc()
}

// StoreError counts a failed store call.
func (m *Metrics) StoreError(op string) { m.storeErrors.WithLabelValues(op).Inc() }

// ---- api.Observer ----

// Request counts an API request and observes its latency. route is the route template, "" when none matched.
func (m *Metrics) Request(route, method string, status int, latency time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	m.requests.WithLabelValues(route, label(methods, method), strconv.Itoa(status)).Inc()
	m.requestLatency.WithLabelValues(route).Observe(latency.Seconds())
}

// EventIngested counts an event a producer published: a new one under its (bounded) tenant label, a repeat as a
// duplicate.
func (m *Metrics) EventIngested(tenant string, duplicate bool) {
	if duplicate {
		m.eventDuplicates.Inc()
		return
	}
	m.eventsIngested.WithLabelValues(m.tenants.label(tenant)).Inc()
}

// HandshakeFailed counts an endpoint URL refused by the handshake.
func (m *Metrics) HandshakeFailed(reason string) {
	m.handshakes.WithLabelValues(label(handshakeReasons, reason)).Inc()
}

// InternalError counts an API request answered 500: in practice a failed store call.
func (m *Metrics) InternalError() { m.StoreError("api") }

// ---- labels ----

func set(vs ...string) map[string]bool {
	m := make(map[string]bool, len(vs))
	for _, v := range vs {
		m[v] = true
	}
	return m
}

// profileLabel returns the metric label of a registered profile (package profiles), else "other".
func profileLabel(name string) string {
	if name == "" {
		return "other" // the endpoint could not be loaded
	}
	p, err := profiles.Lookup(name)
	if err != nil {
		return "other"
	}
	return p.MetricLabel()
}

// label returns v when it is one of known, else "other".
func label(known map[string]bool, v string) string {
	if known[v] {
		return v
	}
	return "other"
}

// boundedSet hands out label values to the first max distinct names it sees, and OtherTenant to the rest.
type boundedSet struct {
	mu  sync.Mutex
	max int
	m   map[string]struct{}
}

func (s *boundedSet) label(v string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[v]; ok {
		return v
	}
	if len(s.m) >= s.max || v == OtherTenant {
		return OtherTenant
	}
	s.m[v] = struct{}{}
	return v
}
