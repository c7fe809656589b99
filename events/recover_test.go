package events

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/webhookd/webhookd/delivery"
)

// TestRecoverSkipsAndRefuses: recover replays only messages whose every delivery in the window failed or died; one
// that since succeeded is skipped; while a redelivery is pending, a second recover is refused and makes nothing; once
// it has died too, a recover replays it again.
func TestRecoverSkipsAndRefuses(t *testing.T) {
	eps := fakeEndpoints{{ID: "ep_1", TenantID: "ten"}}
	s, _, lg, _ := newTestService(eps)
	ctx := context.Background()
	add := func(msg string, st delivery.Status, ago time.Duration) *delivery.Delivery {
		if lg.msgs[msg] == nil {
			lg.msgs[msg] = &delivery.Message{ID: msg, TenantID: "ten", Type: "a"}
		}
		d := &delivery.Delivery{ID: fmt.Sprintf("dlv_%04d", len(lg.ds)), TenantID: "ten", EndpointID: "ep_1",
			MessageID: msg, Status: st, CreatedAt: t0.Add(-ago)}
		lg.ds = append(lg.ds, d)
		return d
	}
	add("msg_dead", delivery.StatusDead, time.Minute)
	add("msg_healed", delivery.StatusFailed, time.Minute)
	add("msg_healed", delivery.StatusSucceeded, 30*time.Second) // replayed by hand since, and delivered
	since := t0.Add(-time.Hour)

	n, err := s.Recover(ctx, "ten", "ep_1", since)
	if err != nil || n != 1 || lg.enqueued[0].MessageID != "msg_dead" {
		t.Fatalf("first recover: %d, %v, enqueued %v; want msg_dead alone", n, err, lg.enqueued)
	}
	// The log now holds the redelivery, pending (the fake's Enqueue does not write the log).
	redo := lg.enqueued[0]
	redo.CreatedAt = t0.Add(-time.Second) // the fake clock stands still; the log's has moved on
	lg.ds = append(lg.ds, redo)
	for range 3 {
		n, err := s.Recover(ctx, "ten", "ep_1", since)
		if !errors.Is(err, ErrRecoverPending) || n != 0 || len(lg.enqueued) != 1 {
			t.Fatalf("recover again while pending: %d, %v, %d enqueued; want ErrRecoverPending and nothing", n, err, len(lg.enqueued))
		}
	}
	// A recover of a window that does not hold the pending redelivery goes ahead.
	if n, err := s.Recover(ctx, "ten", "ep_1", t0.Add(-time.Second/2)); err != nil || n != 0 {
		t.Fatalf("recover of a later window: %d, %v", n, err)
	}
	// The redelivery died as well: recover may try once more.
	redo.Status = delivery.StatusDead
	if n, err := s.Recover(ctx, "ten", "ep_1", since); err != nil || n != 1 || lg.enqueued[1].MessageID != "msg_dead" {
		t.Fatalf("recover after the redelivery died: %d, %v", n, err)
	}
}
