package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/webhookd/webhookd/events"
)

// opsMetrics counts the operational events emitted.
type opsMetrics struct {
	once    sync.Once
	emitted *prometheus.CounterVec
	types   map[string]bool
}

// OpsEventCounter registers webhookd_ops_events_total{type} (every operational type at 0) and returns what counts
// one event of a type: events.OpsNotifier's CountWith. A type it does not know is counted as "other".
func (m *Metrics) OpsEventCounter() func(eventType string) {
	om := &m.ops
	om.once.Do(func() {
		om.emitted = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webhookd_ops_events_total",
			Help: "Operational events emitted (webhookd.*), by type, whether or not an endpoint subscribes to them.",
		}, []string{"type"})
		om.types = map[string]bool{}
		for _, t := range events.OpsEventTypes() {
			om.types[t.Name] = true
			om.emitted.WithLabelValues(t.Name)
		}
		m.reg.MustRegister(om.emitted)
	})
	return func(eventType string) {
		if !om.types[eventType] {
			eventType = "other"
		}
		om.emitted.WithLabelValues(eventType).Inc()
	}
}
