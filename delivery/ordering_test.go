package delivery_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/endpoints"
)

// On a skip endpoint, when the next delivery of an ordering key goes after a dead one, the log says so, naming both
// deliveries and a hash of the key (not the key); on a block endpoint the key stays held and nothing is logged.
func TestLogKeyMovesOnAfterDead(t *testing.T) {
	for _, mode := range []string{"", endpoints.OrderingBlock} {
		t.Run("mode="+mode, func(t *testing.T) {
			var logs syncBuffer
			h := newHarness(t, delivery.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			var posts atomic.Int32
			rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if posts.Add(1) == 1 {
					w.WriteHeader(http.StatusInternalServerError) // the first event of the key dies
					return
				}
				w.WriteHeader(http.StatusNoContent)
			}))
			t.Cleanup(rcv.Close)
			zero := 0
			ep := h.endpoint(rcv.URL, "standard", func(e *endpoints.Endpoint) { e.Retries, e.OrderingOnFailure = &zero, mode })
			var ids []string
			for i := range 2 {
				m, ds := newMessage(ep, i)
				m.OrderingKey, ds[0].OrderingKey = "device-secret-7", "device-secret-7"
				if _, _, _, err := h.store.Publish(context.Background(), m, ds, time.Time{}); err != nil {
					t.Fatal(err)
				}
				ids = append(ids, ds[0].ID)
			}
			h.start()
			h.eng.Wake()
			h.waitStatus(delivery.StatusDead, ids[0])
			if mode == endpoints.OrderingBlock {
				if d := h.delivery(ids[1]); d.WaitingOn != ids[0] || d.Status != delivery.StatusPending {
					t.Fatalf("behind a block: %s waiting on %q", d.Status, d.WaitingOn)
				}
				if strings.Contains(logs.String(), "ordering key goes on") {
					t.Errorf("a block endpoint logged a key going on:\n%s", logs.String())
				}
				return
			}
			h.waitStatus(delivery.StatusSucceeded, ids[1])
			out := logs.String()
			var line string
			for _, l := range strings.Split(out, "\n") {
				if strings.Contains(l, "ordering key goes on after a dead delivery") {
					line = l
				}
			}
			if !strings.Contains(line, "ended_delivery_id="+ids[0]) || !strings.Contains(line, "next_delivery_id="+ids[1]) ||
				!strings.Contains(line, "endpoint_id="+ep.ID) || !strings.Contains(line, "ordering_key_sha256=") {
				t.Fatalf("no log line naming %s then %s:\n%s", ids[0], ids[1], out)
			}
			if strings.Contains(out, "device-secret-7") {
				t.Error("the ordering key itself was logged")
			}
		})
	}
}

// A keyed head whose lease expires on its last attempt (its process died mid-attempt, every time) dies in the
// engine's reclaim, not in a worker's hands; on a skip endpoint the log still says its key goes on, and the next
// event of the key is delivered.
func TestLogKeyMovesOnAfterReclaimedDeath(t *testing.T) {
	var logs syncBuffer
	h := newHarness(t, delivery.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rcv.Close)
	ep := h.endpoint(rcv.URL, "standard")
	ctx := context.Background()
	var ids []string
	for i := range 2 {
		m, ds := newMessage(ep, i)
		m.OrderingKey, ds[0].OrderingKey = "device-secret-8", "device-secret-8"
		if _, _, _, err := h.store.Publish(ctx, m, ds, time.Time{}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ds[0].ID)
	}
	// Every attempt but the last: leased by a "process" that dies, reclaimed. The last lease expires too, and the
	// engine's reclaim finds it.
	last := max(fastRetry.MaxAttempts(), endpoints.MaxRetries+1)
	now := time.Now()
	for i := 1; i <= last; i++ {
		ts, err := h.store.Claim(ctx, now, delivery.ClaimOptions{Max: 1, Lease: time.Millisecond})
		if err != nil || len(ts) != 1 || ts[0].DeliveryID != ids[0] {
			t.Fatalf("claim %d: %+v, %v; want the head %s", i, ts, err, ids[0])
		}
		if i == last {
			break
		}
		now = now.Add(2 * time.Millisecond) // past the lease, and the time the reclaimed head is due again
		if n, _, err := h.store.Reclaim(ctx, now, last, 10); err != nil || n != 1 {
			t.Fatalf("reclaim %d: %d, %v", i, n, err)
		}
	}
	h.start()
	h.waitStatus(delivery.StatusDead, ids[0])
	h.waitStatus(delivery.StatusSucceeded, ids[1])
	var line string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "ordering key goes on after a dead delivery") {
			line = l
		}
	}
	if !strings.Contains(line, "ended_delivery_id="+ids[0]) || !strings.Contains(line, "next_delivery_id="+ids[1]) {
		t.Fatalf("no log line naming %s then %s:\n%s", ids[0], ids[1], logs.String())
	}
}
