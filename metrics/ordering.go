package metrics

import (
	"cmp"
	"context"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/webhookd/webhookd/delivery"
)

// MaxHeldKeyEndpoints bounds the endpoint label of webhookd_ordering_held_keys: the endpoints with the most held keys
// get their own value, the rest are summed under "other". It is the one metric labelled by endpoint id, so that an
// operator can find the endpoint whose ordered traffic is stuck; the bound keeps its series few.
const MaxHeldKeyEndpoints = 20

// WatchHeldKeys adds webhookd_ordering_held_keys: per endpoint, the ordering keys with a delivery waiting behind an
// earlier one, read from r at scrape time.
func (m *Metrics) WatchHeldKeys(r delivery.HeldKeysReporter) {
	m.reg.MustRegister(&heldKeys{r: r, m: m, desc: prometheus.NewDesc("webhookd_ordering_held_keys",
		"Ordering keys with a delivery waiting behind an earlier one, by endpoint (the 20 with the most, then \"other\").",
		[]string{"endpoint"}, nil)})
}

type heldKeys struct {
	r    delivery.HeldKeysReporter
	m    *Metrics
	desc *prometheus.Desc
}

func (h *heldKeys) Describe(ch chan<- *prometheus.Desc) { ch <- h.desc }

func (h *heldKeys) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), h.m.cfg.ScrapeTimeout)
	defer cancel()
	held, err := h.r.HeldKeys(ctx)
	if err != nil {
		h.m.StoreError("held_keys")
		return
	}
	type row struct {
		ep string
		n  int
	}
	rows := make([]row, 0, len(held))
	for ep, n := range held {
		rows = append(rows, row{ep, n})
	}
	slices.SortFunc(rows, func(a, b row) int { return cmp.Or(cmp.Compare(b.n, a.n), cmp.Compare(a.ep, b.ep)) })
	other := 0
	for i, r := range rows {
		if i >= MaxHeldKeyEndpoints {
			other += r.n
			continue
		}
		ch <- prometheus.MustNewConstMetric(h.desc, prometheus.GaugeValue, float64(r.n), r.ep)
	}
	if other > 0 {
		ch <- prometheus.MustNewConstMetric(h.desc, prometheus.GaugeValue, float64(other), OtherTenant)
	}
}
