package delivery

import (
	"testing"
	"time"

	"github.com/webhookd/webhookd/endpoints"
)

// A Retry taken from a Config with its defaults keeps "none" when defaulted again (Next and Backoff do).
func TestRetryNoneSurvivesDefaults(t *testing.T) {
	c := Config{Retry: Retry{Count: -1, Jitter: -1}}.withDefaults()
	if n := c.Retry.MaxAttempts(); n != 1 {
		t.Errorf("MaxAttempts %d, want 1", n)
	}
	for _, u := range []float64{0, 0.99} {
		if w := c.Retry.Backoff(1, u); w != time.Second {
			t.Errorf("Backoff(1, %v) = %v, want 1s (no jitter)", u, w)
		}
	}
}

func TestRetryForEndpoint(t *testing.T) {
	e := &Engine{cfg: Config{Retry: Retry{Jitter: -1}}.withDefaults()}
	zero, three := 0, 3
	for _, c := range []struct {
		ep       *endpoints.Endpoint
		attempts int
		waits    []time.Duration
	}{
		{&endpoints.Endpoint{}, 6, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}},
		{&endpoints.Endpoint{Retries: &zero}, 1, nil},
		{&endpoints.Endpoint{Retries: &three, RetryInitial: 100 * time.Millisecond, RetryCap: 300 * time.Millisecond}, 4,
			[]time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond}},
		{&endpoints.Endpoint{RetryInitial: 2 * time.Hour}, 6, []time.Duration{2 * time.Hour, 2 * time.Hour}}, // cap lifted to initial
	} {
		r := e.retryFor(c.ep)
		if n := r.MaxAttempts(); n != c.attempts {
			t.Errorf("%+v: %d attempts, want %d", c.ep, n, c.attempts)
		}
		for i, want := range c.waits {
			if w := r.Backoff(i+1, 0.5); w != want {
				t.Errorf("%+v: wait %d %v, want %v", c.ep, i+1, w, want)
			}
		}
	}
}
