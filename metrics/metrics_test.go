package metrics_test

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/metrics"
	"github.com/webhookd/webhookd/profiles"
)

// Compile-time checks: Metrics is the engine's observer.
var _ delivery.Observer = (*metrics.Metrics)(nil)

// fakeQueue reports a fixed next due time and depth, or an error.
type fakeQueue struct {
	next  time.Time
	stats delivery.QueueStats
	err   error
}

func (q *fakeQueue) NextDue(context.Context) (time.Time, error) { return q.next, q.err }
func (q *fakeQueue) QueueStats(context.Context) (delivery.QueueStats, error) {
	return q.stats, q.err
}

// scrape returns the text exposition of m.
func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("GET /metrics: %d", rec.Code)
	}
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

func TestAttempts(t *testing.T) {
	m := metrics.New(metrics.Config{})
	m.AttemptDone("standard", delivery.OutcomeSuccess, 30*time.Millisecond, true)
	m.AttemptDone("standard", delivery.OutcomeRetry, 2*time.Second, true)
	m.AttemptDone("openmdm", delivery.OutcomeFailed, 0, false)
	m.AttemptDone("", delivery.OutcomeFailed, 0, false)      // endpoint deleted
	m.AttemptDone("svix", delivery.OutcomeSuccess, 0, false) // unknown profile: bounded
	m.EndpointDisabled(delivery.ReasonGone)
	m.StoreError("claim")
	m.StoreError("claim")

	out := scrape(t, m)
	for _, want := range []string{
		`webhookd_delivery_attempts_total{outcome="success",profile="standard"} 1`,
		`webhookd_delivery_attempts_total{outcome="retry",profile="standard"} 1`,
		`webhookd_delivery_attempts_total{outcome="failed",profile="openmdm"} 1`,
		`webhookd_delivery_attempts_total{outcome="failed",profile="other"} 1`,
		`webhookd_delivery_attempts_total{outcome="success",profile="other"} 1`,
		`webhookd_delivery_attempt_duration_seconds_count{profile="standard"} 2`,
		`webhookd_delivery_attempt_duration_seconds_bucket{profile="standard",le="0.05"} 1`,
		`webhookd_endpoint_disables_total{reason="gone"} 1`,
		`webhookd_store_errors_total{op="claim"} 2`,
		`go_goroutines `,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	// Attempts that sent nothing have no latency.
	if strings.Contains(out, `webhookd_delivery_attempt_duration_seconds_count{profile="openmdm"}`) {
		t.Error("latency observed for an attempt that sent no request")
	}
	if problems, err := testutil.GatherAndLint(m.Registry()); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

// labelled is a profile registered by this test under another name, with a metric label of its own.
type labelled struct{ profiles.Profile }

func (labelled) Name() string        { return "metrics-test" }
func (labelled) MetricLabel() string { return "metrics_test" }

func TestProfileLabelFromRegistry(t *testing.T) {
	if err := profiles.Register(labelled{profiles.Standard}); err != nil && !errors.Is(err, profiles.ErrRegistered) {
		t.Fatal(err) // ErrRegistered: registered by an earlier run (-count)
	}
	m := metrics.New(metrics.Config{})
	m.AttemptDone("metrics-test", delivery.OutcomeSuccess, time.Millisecond, true)
	m.AttemptDone("unregistered", delivery.OutcomeRetry, 0, false)
	m.AttemptDone("", delivery.OutcomeFailed, 0, false) // the endpoint could not be loaded
	out := scrape(t, m)
	for _, want := range []string{
		`webhookd_delivery_attempts_total{outcome="success",profile="metrics_test"} 1`,
		`webhookd_delivery_attempts_total{outcome="retry",profile="other"} 1`,
		`webhookd_delivery_attempts_total{outcome="failed",profile="other"} 1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
}

func TestTenantLabelsBounded(t *testing.T) {
	m := metrics.New(metrics.Config{MaxTenantLabels: 2})
	for _, tenant := range []string{"acme", "globex", "initech", "acme", "umbrella", "other"} {
		m.EventIngested(tenant, false)
	}
	m.EventIngested("acme", true)
	out := scrape(t, m)
	for _, want := range []string{
		`webhookd_events_ingested_total{tenant="acme"} 2`,
		`webhookd_events_ingested_total{tenant="globex"} 1`,
		`webhookd_events_ingested_total{tenant="other"} 3`,
		`webhookd_events_duplicate_total 1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	if n := strings.Count(out, "webhookd_events_ingested_total{"); n != 3 {
		t.Errorf("%d tenant series, want 3 (two tenants and other)", n)
	}
}

func TestRequestsBounded(t *testing.T) {
	m := metrics.New(metrics.Config{})
	m.Request("/v1/tenants/{tenant}/events", "POST", 202, 5*time.Millisecond)
	m.Request("", "BREW", 404, time.Millisecond)
	m.HandshakeFailed("no_post")
	m.HandshakeFailed("something new")
	m.InternalError()
	out := scrape(t, m)
	for _, want := range []string{
		`webhookd_http_requests_total{code="202",method="POST",route="/v1/tenants/{tenant}/events"} 1`,
		`webhookd_http_requests_total{code="404",method="other",route="unmatched"} 1`,
		`webhookd_endpoint_handshake_failures_total{reason="no_post"} 1`,
		`webhookd_endpoint_handshake_failures_total{reason="other"} 1`,
		`webhookd_store_errors_total{op="api"} 1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
}

func TestQueueGauges(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	q := &fakeQueue{next: now.Add(-1500 * time.Millisecond), stats: delivery.QueueStats{Due: 3, InFlight: 2, Scheduled: 7, Dead: -1}}
	m := metrics.New(metrics.Config{Queue: q, InFlight: func() int { return 4 }, Now: func() time.Time { return now }})
	out := scrape(t, m)
	for _, want := range []string{
		`webhookd_queue_deliveries{state="due"} 3`,
		`webhookd_queue_deliveries{state="in_flight"} 2`,
		`webhookd_queue_deliveries{state="scheduled"} 7`,
		`webhookd_queue_lag_seconds 1.5`,
		`webhookd_delivery_in_flight 4`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	if strings.Contains(out, `state="dead"`) {
		t.Error("a count the store reported as unknown (-1) is exported")
	}

	// Nothing due yet: no lag.
	q.next = now.Add(time.Minute)
	if out := scrape(t, m); !strings.Contains(out, "webhookd_queue_lag_seconds 0\n") {
		t.Error("lag is not 0 when the next due time is in the future")
	}

	// A failing store: the depth gauges go away rather than go stale, and the error is counted.
	q.err = errors.New("store down")
	out = scrape(t, m)
	if strings.Contains(out, "webhookd_queue_deliveries{") {
		t.Error("queue gauges exported after QueueStats failed")
	}
	for _, want := range []string{`webhookd_store_errors_total{op="queue_stats"} 1`, `webhookd_store_errors_total{op="next_due"} 1`} {
		if !strings.Contains(out, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
}

// TestWatchInFlight: the in-flight gauge is absent until an engine is attached, then read at every scrape.
func TestWatchInFlight(t *testing.T) {
	m := metrics.New(metrics.Config{})
	if out := scrape(t, m); strings.Contains(out, "webhookd_delivery_in_flight") {
		t.Fatal("in-flight gauge exported with no source")
	}
	n := 2
	m.WatchInFlight(func() int { return n })
	if out := scrape(t, m); !strings.Contains(out, "webhookd_delivery_in_flight 2\n") {
		t.Fatalf("scrape lacks the in-flight gauge:\n%s", out)
	}
	m.WatchInFlight(func() int { return 5 }) // a second call replaces the source, registering nothing twice
	if out := scrape(t, m); !strings.Contains(out, "webhookd_delivery_in_flight 5\n") {
		t.Fatal("in-flight gauge not read from the new source")
	}
}
