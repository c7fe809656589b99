package boltstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/webhookd/webhookd/delivery"
)

func TestQueueStats(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i, due := range []time.Time{now.Add(-time.Second), now.Add(-time.Second), now.Add(time.Hour)} {
		m := newMsg("acme")
		if _, _, _, err := s.Publish(ctx, m, []*delivery.Delivery{newDlv(m, []string{"ep_a", "ep_b", "ep_c"}[i], due)}, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Claim(ctx, now, delivery.ClaimOptions{Max: 1, Lease: time.Minute}); err != nil {
		t.Fatal(err)
	}
	st, err := s.QueueStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := (delivery.QueueStats{Due: 1, InFlight: 1, Scheduled: 1, Dead: -1}); st != want {
		t.Fatalf("QueueStats %+v, want %+v", st, want)
	}
	s.Close()
	if _, err := s.QueueStats(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}
