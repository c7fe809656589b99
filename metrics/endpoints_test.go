package metrics_test

import (
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/metrics"
)

// The engine finds the per-endpoint hook on its Observer.
var (
	_ delivery.EndpointObserver = (*metrics.Metrics)(nil)
	_ delivery.LimitObserver    = (*metrics.Metrics)(nil)
)

// TestEndpointLimitGauge: the gauge holds each labelled endpoint's latest limit; endpoints beyond the bound have none.
func TestEndpointLimitGauge(t *testing.T) {
	m := metrics.New(metrics.Config{MaxEndpointLabels: 2})
	m.EndpointLimit("acme", "ep_a", 9)
	m.EndpointLimit("acme", "ep_b", 4)
	m.EndpointLimit("acme", "ep_a", 12)
	m.EndpointLimit("acme", "ep_c", 3)
	out := scrape(t, m)
	for _, want := range []string{
		`webhookd_endpoint_in_flight_limit{endpoint="ep_a"} 12`,
		`webhookd_endpoint_in_flight_limit{endpoint="ep_b"} 4`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	if n := strings.Count(out, "webhookd_endpoint_in_flight_limit{"); n != 2 {
		t.Errorf("%d limit series, want 2 (no other)", n)
	}
}

func TestEndpointLabelsBounded(t *testing.T) {
	m := metrics.New(metrics.Config{MaxEndpointLabels: 2})
	for _, a := range []struct {
		ep string
		o  delivery.Outcome
	}{
		{"ep_a", delivery.OutcomeSuccess}, {"ep_b", delivery.OutcomeRetry}, {"ep_c", delivery.OutcomeSuccess},
		{"ep_a", delivery.OutcomeDead}, {"ep_d", delivery.OutcomeGone}, {"ep_b", delivery.OutcomeSuccess},
	} {
		m.EndpointAttempt("acme", a.ep, a.o, 30*time.Millisecond)
	}
	out := scrape(t, m)
	for _, want := range []string{
		`webhookd_endpoint_attempts_total{endpoint="ep_a",result="success"} 1`,
		`webhookd_endpoint_attempts_total{endpoint="ep_a",result="failure"} 1`,
		`webhookd_endpoint_attempts_total{endpoint="ep_b",result="failure"} 1`,
		`webhookd_endpoint_attempts_total{endpoint="ep_b",result="success"} 1`,
		`webhookd_endpoint_attempts_total{endpoint="other",result="success"} 1`,
		`webhookd_endpoint_attempts_total{endpoint="other",result="failure"} 1`,
		`webhookd_endpoint_attempt_duration_seconds_count{endpoint="ep_a"} 2`,
		`webhookd_endpoint_attempt_duration_seconds_count{endpoint="other"} 2`,
		`webhookd_endpoint_attempt_duration_seconds_bucket{endpoint="ep_b",le="0.05"} 2`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	if n := strings.Count(out, "webhookd_endpoint_attempt_duration_seconds_count{"); n != 3 {
		t.Errorf("%d endpoint series, want 3 (two endpoints and other)", n)
	}
}

func TestEndpointMetricsOff(t *testing.T) {
	m := metrics.New(metrics.Config{MaxEndpointLabels: -1})
	m.EndpointAttempt("acme", "ep_a", delivery.OutcomeSuccess, time.Millisecond)
	if out := scrape(t, m); strings.Contains(out, "webhookd_endpoint_attempt") {
		t.Errorf("per-endpoint metrics exported while off:\n%s", out)
	}
}
