package delivery_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/webhookd/webhookd/delivery"
)

// TestFlappingEndpointHealthIsPaced: a receiver that fails one first attempt in three flips its endpoint between
// healthy and failing about two hundred times in 300 deliveries. The record is written at most a burst of 4 and then
// once a second, not at every flip, and the last state (healthy: every delivery ended with a success) reaches the
// store without another attempt to carry it.
func TestFlappingEndpointHealthIsPaced(t *testing.T) {
	h := newHarness(t, delivery.Config{})
	var failed sync.Map // webhook-ids whose first attempt failed
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if _, again := failed.Load(r.Header.Get("webhook-id")); !again && n%3 == 1 {
			failed.Store(r.Header.Get("webhook-id"), true)
			w.WriteHeader(http.StatusInternalServerError)
		}
	})
	ep := h.endpoint(rc.srv.URL, "standard")
	v0 := h.getEndpoint(ep.ID).Version
	ids := h.publish(ep, 300)
	start := time.Now()
	h.start()
	h.waitStatus(delivery.StatusSucceeded, ids...)
	elapsed := time.Since(start)

	flips := 0
	failed.Range(func(any, any) bool { flips += 2; return true })
	eventually(t, "the endpoint's record to say healthy", func() bool { return h.getEndpoint(ep.ID).FailingSince.IsZero() })
	writes := h.getEndpoint(ep.ID).Version - v0
	if most := int64(4 + elapsed/time.Second + 2); writes > most {
		t.Fatalf("%d health writes for %d flips in %v; want at most %d", writes, flips, elapsed, most)
	}
	if flips < 100 {
		t.Fatalf("only %d flips: the receiver did not fail as planned", flips)
	}
	t.Logf("%d flips, %d writes in %v", flips, writes, elapsed)
}

// TestPacedHealthWrittenAtStop: past the burst a transition waits for its turn (here an hour), the record keeps the
// last written state meanwhile, and Run writes what is waiting before it returns.
func TestPacedHealthWrittenAtStop(t *testing.T) {
	h := newHarness(t, delivery.Config{HealthWriteEvery: time.Hour})
	rc := newReceiver(t, statuses(500, 200, 500, 200, 500))
	ep := h.endpoint(rc.srv.URL, "standard")
	v0 := h.getEndpoint(ep.ID).Version
	h.start()
	for range 2 { // failing, healthy; twice: the burst of 4 writes
		ids := h.publish(ep, 1)
		h.waitStatus(delivery.StatusSucceeded, ids...)
	}
	if got := h.getEndpoint(ep.ID); got.Version != v0+4 || !got.FailingSince.IsZero() {
		t.Fatalf("after two failing spells: version %d (want %d), failing since %v", got.Version, v0+4, got.FailingSince)
	}
	ids := h.publish(ep, 1) // fails from now on
	eventually(t, "the third spell's first attempt", func() bool { return len(h.attempts(ids[0])) > 0 })
	first := h.attempts(ids[0])[0]
	if got := h.getEndpoint(ep.ID); got.Version != v0+4 || !got.FailingSince.IsZero() {
		t.Fatalf("a transition past the burst was written at once: version %d, failing since %v", got.Version, got.FailingSince)
	}
	h.stop()
	got := h.getEndpoint(ep.ID)
	if got.Version != v0+5 || !got.FailingSince.Equal(first.At) {
		t.Fatalf("after Run returned: version %d (want %d), failing since %v (want %v, the spell's first failure)",
			got.Version, v0+5, got.FailingSince, first.At)
	}
}
