package delivery_test

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/endpoints"
)

// concurrency counts a receiver's requests in progress and the most there were at once.
type concurrency struct{ now, peak atomic.Int64 }

func (c *concurrency) enter() {
	n := c.now.Add(1)
	for p := c.peak.Load(); n > p && !c.peak.CompareAndSwap(p, n); p = c.peak.Load() {
	}
}

func (c *concurrency) leave() { c.now.Add(-1) }

// TestAdaptiveLimitGrowsToCap: against a receiver that answers every request in 40 ms whatever the
// load, an endpoint's limit grows past the old fixed 8 up to the cap, and neither the limit nor the requests in
// flight at the receiver ever exceed the cap.
func TestAdaptiveLimitGrowsToCap(t *testing.T) {
	const limCap = 24
	h := newHarness(t, delivery.Config{Workers: 64, MaxInFlightPerEndpoint: limCap})
	var c concurrency
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		c.enter()
		defer c.leave()
		time.Sleep(40 * time.Millisecond) // the receiver's service time, not synchronisation
		w.WriteHeader(http.StatusOK)
	})
	ep := h.endpoint(rc.srv.URL, "standard")
	if n := h.eng.EndpointLimit(tenant, ep.ID); n != 8 {
		t.Fatalf("limit before any attempt: %d, want 8", n)
	}
	h.start()
	ids := h.publish(ep, 800)
	peakLimit := 0
	eventually(t, "the limit to pass 8", func() bool {
		peakLimit = max(peakLimit, h.eng.EndpointLimit(tenant, ep.ID))
		return peakLimit > 8
	})
	h.waitStatus(delivery.StatusSucceeded, ids...)
	peakLimit = max(peakLimit, h.eng.EndpointLimit(tenant, ep.ID))
	if peakLimit > limCap {
		t.Fatalf("limit reached %d, above the cap %d", peakLimit, limCap)
	}
	if p := c.peak.Load(); p <= 8 || p > limCap {
		t.Fatalf("at most %d requests in flight at the receiver, want 9..%d", p, limCap)
	}
	t.Logf("peak limit %d, peak in flight %d", peakLimit, c.peak.Load())
}

// TestAdaptiveLimitShrinks: an endpoint answering 503, 429 or timing out has its limit cut from 8 towards 1.
func TestAdaptiveLimitShrinks(t *testing.T) {
	for _, c := range []struct {
		name string
		code int // 0: hang until the attempt times out
	}{
		{"503", http.StatusServiceUnavailable},
		{"429", http.StatusTooManyRequests},
		{"timeout", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, delivery.Config{})
			rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, _ int) {
				if c.code == 0 {
					<-r.Context().Done()
					return
				}
				w.WriteHeader(c.code)
			})
			ep := h.endpoint(rc.srv.URL, "standard", func(ep *endpoints.Endpoint) { ep.Timeout = 50 * time.Millisecond })
			h.start()
			h.publish(ep, 40)
			eventually(t, "the limit to fall to 2 or less", func() bool {
				return h.eng.EndpointLimit(tenant, ep.ID) <= 2
			})
		})
	}
}
