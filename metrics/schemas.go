package metrics

import (
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// schemaMetrics counts events accepted in warn mode though their data broke their type's schema.
type schemaMetrics struct {
	once   sync.Once
	warned *prometheus.CounterVec
}

// SchemaWarned counts one event of tenant accepted in warn mode though its data broke its type's schema:
// webhookd_schema_warnings_total by tenant (bounded as for events), registered on first use.
func (m *Metrics) SchemaWarned(tenant string) {
	sm := &m.schemas
	sm.once.Do(func() {
		sm.warned = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webhookd_schema_warnings_total",
			Help: fmt.Sprintf(`Events accepted in warn mode though their data broke their type's schema, by tenant (the first %d tenants seen, then "other").`, m.cfg.MaxTenantLabels),
		}, []string{"tenant"})
		m.reg.MustRegister(sm.warned)
	})
	sm.warned.WithLabelValues(m.tenants.label(tenant)).Inc()
}
