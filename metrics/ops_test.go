package metrics_test

import (
	"strings"
	"testing"

	"github.com/webhookd/webhookd/events"
	"github.com/webhookd/webhookd/metrics"
)

func TestOpsEventCounter(t *testing.T) {
	m := metrics.New(metrics.Config{})
	count := m.OpsEventCounter()
	out := scrape(t, m)
	for _, et := range events.OpsEventTypes() {
		if !strings.Contains(out, `webhookd_ops_events_total{type="`+et.Name+`"} 0`) {
			t.Errorf("%s is not at 0 before any event:\n%s", et.Name, out)
		}
	}
	count(events.EndpointFailingType)
	count(events.EndpointFailingType)
	count(events.HandshakeFailedType)
	count("webhookd.something.new")
	if again := m.OpsEventCounter(); again == nil {
		t.Fatal("a second OpsEventCounter is nil")
	}
	out = scrape(t, m)
	for _, want := range []string{
		`webhookd_ops_events_total{type="webhookd.endpoint.failing"} 2`,
		`webhookd_ops_events_total{type="webhookd.endpoint.handshake_failed"} 1`,
		`webhookd_ops_events_total{type="other"} 1`,
		`webhookd_ops_events_total{type="webhookd.delivery.exhausted"} 0`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %s", want)
		}
	}
}
