package delivery_test

import (
	"context"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/egress"
	boltstore "github.com/webhookd/webhookd/store/boltstore"
)

// wakeQueue is a bolt store whose wake-ups the test sends (as another replica's would arrive through Redis), and
// which counts its reclaim calls.
type wakeQueue struct {
	*boltstore.Store
	wakes    chan struct{}
	reclaims atomic.Int64
}

var _ delivery.WakeSource = (*wakeQueue)(nil)

func (q *wakeQueue) Wakeups(ctx context.Context) <-chan struct{} {
	out := make(chan struct{})
	go func() {
		defer close(out)
		for {
			select {
			case <-ctx.Done():
				return
			case <-q.wakes:
				select {
				case out <- struct{}{}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out
}

func (q *wakeQueue) Reclaim(ctx context.Context, now time.Time, maxAttempts, max int) (int, []delivery.Task, error) {
	q.reclaims.Add(1)
	return q.Store.Reclaim(ctx, now, maxAttempts, max)
}

// withWakeQueue replaces the harness's engine by one on a wakeQueue over the same store.
func withWakeQueue(t *testing.T, h *harness, cfg delivery.Config) *wakeQueue {
	t.Helper()
	q := &wakeQueue{Store: h.store, wakes: make(chan struct{})}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	client := egress.NewClient(egress.ClientConfig{Policy: egress.Policy{AllowHTTP: true, AllowPrivate: true}})
	eng, err := delivery.NewEngine(cfg, delivery.Deps{Queue: q, Messages: h.store, Endpoints: h.store, Client: client})
	if err != nil {
		t.Fatal(err)
	}
	h.eng = eng
	return q
}

// TestWakeSourceEndsIdleSleep: with a 10s idle bound, work that "another replica" published goes out as soon as the
// queue's wake-up arrives, though nobody called Wake in this process.
func TestWakeSourceEndsIdleSleep(t *testing.T) {
	h := newHarness(t, delivery.Config{})
	q := withWakeQueue(t, h, delivery.Config{IdleMax: 10 * time.Second, Retry: fastRetry})
	got := make(chan time.Time, 16)
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ int) { got <- time.Now() })
	ep := h.endpoint(rc.srv.URL, "standard")
	h.start()
	for i := range 3 {
		m, ds := newMessage(ep, i)
		if _, _, _, err := h.store.Publish(context.Background(), m, ds, time.Time{}); err != nil {
			t.Fatal(err)
		}
		q.wakes <- struct{}{} // taken by the engine's listener: Run subscribed
		select {
		case <-got:
		case <-time.After(5 * time.Second):
			t.Fatal("event not delivered within 5s of the queue's wake-up (idle bound is 10s)")
		}
		h.waitStatus(delivery.StatusSucceeded, ds[0].ID)
	}
}

// TestReclaimBacksOffWhileIdle: an engine that claims nothing reclaims every ReclaimEvery at first, then less and
// less often, down to every 6 × ReclaimEvery.
func TestReclaimBacksOffWhileIdle(t *testing.T) {
	h := newHarness(t, delivery.Config{})
	q := withWakeQueue(t, h, delivery.Config{ReclaimEvery: 20 * time.Millisecond, Retry: fastRetry})
	h.start()
	// Timers only ever fire late, so a slow machine makes fewer calls, never more: the bound below holds anywhere.
	time.Sleep(720 * time.Millisecond) // the span measured, not synchronisation
	n := q.reclaims.Load()
	// Without back-off: 36 rounds. With it: 0, 20, 60, 140, 260, 380, 500, 620 ms: 8.
	if n > 15 || n < 2 {
		t.Fatalf("%d reclaim rounds in 720ms with ReclaimEvery 20ms; want about 8 (back-off to 120ms)", n)
	}
	t.Logf("%d reclaim rounds in 720ms idle (ReclaimEvery 20ms)", n)
}

// TestDoorbellEndsIdleSleep: with a 10s idle bound, a ring of the doorbell the engine was given (as the events
// service rings it after a publish) sends the work at once, though nobody holds the engine itself.
func TestDoorbellEndsIdleSleep(t *testing.T) {
	h := newHarness(t, delivery.Config{})
	bell := delivery.NewDoorbell()
	client := egress.NewClient(egress.ClientConfig{Policy: egress.Policy{AllowHTTP: true, AllowPrivate: true}})
	eng, err := delivery.NewEngine(delivery.Config{IdleMax: 10 * time.Second, Retry: fastRetry,
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil))},
		delivery.Deps{Queue: h.store, Messages: h.store, Endpoints: h.store, Client: client, Doorbell: bell})
	if err != nil {
		t.Fatal(err)
	}
	h.eng = eng
	got := make(chan string, 16)
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, _ int) { got <- r.Header.Get("User-Agent") })
	ep := h.endpoint(rc.srv.URL, "standard")
	h.start()
	for i := range 3 {
		m, ds := newMessage(ep, i)
		if _, _, _, err := h.store.Publish(context.Background(), m, ds, time.Time{}); err != nil {
			t.Fatal(err)
		}
		bell.Wake()
		select {
		case ua := <-got:
			if ua != egress.DefaultUserAgent {
				t.Errorf("User-Agent %q, want the egress client's %q", ua, egress.DefaultUserAgent)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("event not delivered within 5s of the doorbell (idle bound is 10s)")
		}
		h.waitStatus(delivery.StatusSucceeded, ds[0].ID)
	}
}
