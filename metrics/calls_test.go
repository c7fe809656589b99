package metrics_test

import (
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/calls"
	"github.com/webhookd/webhookd/metrics"
)

func TestCallObserver(t *testing.T) {
	m := metrics.New(metrics.Config{MaxTenantLabels: 1})
	if strings.Contains(scrape(t, m), "webhookd_calls_total") {
		t.Fatal("call metrics registered before the calls service asked for them")
	}
	o := m.CallObserver()
	o.CallDone("acme", calls.OK, 3*time.Millisecond)
	o.CallDone("acme", calls.TypedError, 2*time.Millisecond)
	o.CallDone("globex", calls.CircuitOpen, 0) // beyond MaxTenantLabels: "other"
	o.CallDone("acme", calls.Outcome("made-up"), time.Millisecond)
	m.CallObserver().CallLogDropped() // a second observer shares the metrics
	out := scrape(t, m)
	for _, want := range []string{
		`webhookd_calls_total{outcome="ok",tenant="acme"} 1`,
		`webhookd_calls_total{outcome="typed_error",tenant="acme"} 1`,
		`webhookd_calls_total{outcome="circuit_open",tenant="other"} 1`,
		`webhookd_calls_total{outcome="other",tenant="acme"} 1`,
		`webhookd_call_duration_seconds_bucket{tenant="acme",le="0.0025"} 2`,
		`webhookd_call_duration_seconds_count{tenant="acme"} 3`,
		`webhookd_call_log_dropped_total 1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %s in\n%s", want, grep(out, "call"))
		}
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
