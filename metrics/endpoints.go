package metrics

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/webhookd/webhookd/delivery"
)

// DefaultMaxEndpointLabels is the default of Config.MaxEndpointLabels.
const DefaultMaxEndpointLabels = 100

// endpointMetrics are the per-endpoint attempt metrics (delivery.EndpointObserver), labelled by endpoint id: the
// first MaxEndpointLabels endpoints seen by this process get their own value, the rest count under "other".
type endpointMetrics struct {
	labels   boundedSet
	attempts *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	limit    *prometheus.GaugeVec
}

func newEndpointMetrics(max int) *endpointMetrics {
	return &endpointMetrics{
		labels: boundedSet{max: max, m: make(map[string]struct{})},
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webhookd_endpoint_attempts_total",
			Help: fmt.Sprintf(`Delivery attempts that sent a request, by endpoint id and result (success or failure): the first %d endpoints seen have their own label, the rest are "other".`, max),
		}, []string{"endpoint", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "webhookd_endpoint_attempt_duration_seconds",
			Help:    `Time from sending an attempt's request to its response or transport error, by endpoint id (bounded as for webhookd_endpoint_attempts_total).`,
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"endpoint"}),
		limit: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "webhookd_endpoint_in_flight_limit",
			Help: `Each endpoint's adaptive limit of delivery attempts in flight in this process (within --max-in-flight-per-endpoint), by endpoint id: only endpoints with their own label in webhookd_endpoint_attempts_total have one.`,
		}, []string{"endpoint"}),
	}
}

// EndpointAttempt counts an attempt that sent a request under its endpoint's (bounded) label and observes its
// latency. It implements delivery.EndpointObserver; Metrics built with MaxEndpointLabels < 0 ignore it.
func (m *Metrics) EndpointAttempt(_, endpointID string, o delivery.Outcome, latency time.Duration) {
	em := m.endpoints
	if em == nil {
		return
	}
	ep := em.labels.label(endpointID)
	result := "failure"
	if o == delivery.OutcomeSuccess {
		result = "success"
	}
	em.attempts.WithLabelValues(ep, result).Inc()
	em.latency.WithLabelValues(ep).Observe(latency.Seconds())
}

// EndpointLimit sets the endpoint's in-flight limit gauge. It implements delivery.LimitObserver. An endpoint beyond
// MaxEndpointLabels has no gauge: a limit summed or overwritten under "other" would mean nothing.
func (m *Metrics) EndpointLimit(_, endpointID string, limit int) {
	em := m.endpoints
	if em == nil {
		return
	}
	if ep := em.labels.label(endpointID); ep != OtherTenant {
		em.limit.WithLabelValues(ep).Set(float64(limit))
	}
}
