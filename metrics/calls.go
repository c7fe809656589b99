package metrics

import (
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/webhookd/webhookd/calls"
)

// callMetrics are the management calls' metrics, registered by the first CallObserver.
type callMetrics struct {
	once     sync.Once
	total    *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	dropped  prometheus.Counter
	outcomes map[string]bool
}

// CallObserver returns the calls service's Observer: webhookd_calls_total by tenant and outcome,
// webhookd_call_duration_seconds by tenant, and webhookd_call_log_dropped_total. Tenants are bounded as for events.
func (m *Metrics) CallObserver() calls.Observer {
	cm := &m.calls
	cm.once.Do(func() {
		cm.outcomes = make(map[string]bool)
		for _, o := range calls.Outcomes {
			cm.outcomes[string(o)] = true
		}
		cm.total = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webhookd_calls_total",
			Help: fmt.Sprintf(`Management calls by tenant (the first %d tenants seen, then "other") and outcome (ok, typed_error, timeout, unreachable, bad_response, circuit_open).`, m.cfg.MaxTenantLabels),
		}, []string{"tenant", "outcome"})
		cm.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "webhookd_call_duration_seconds",
			Help:    "Time from a management call's start to its outcome, by tenant.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"tenant"})
		cm.dropped = prometheus.NewCounter(prometheus.CounterOpts{
			Name: "webhookd_call_log_dropped_total",
			Help: "Call log entries dropped because the store fell behind the calls.",
		})
		m.reg.MustRegister(cm.total, cm.latency, cm.dropped)
	})
	return callObserver{m: m, cm: cm}
}

type callObserver struct {
	m  *Metrics
	cm *callMetrics
}

func (o callObserver) CallDone(tenant string, out calls.Outcome, latency time.Duration) {
	t := o.m.tenants.label(tenant)
	o.cm.total.WithLabelValues(t, label(o.cm.outcomes, string(out))).Inc()
	o.cm.latency.WithLabelValues(t).Observe(latency.Seconds())
}

func (o callObserver) CallLogDropped() { o.cm.dropped.Inc() }
