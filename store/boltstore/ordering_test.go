package boltstore

import (
	"context"
	"testing"
	"time"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/internal/ids"
	"github.com/webhookd/webhookd/store/storetest"
)

func TestOrderingConformance(t *testing.T) {
	storetest.RunOrdering(t, func(t *testing.T) storetest.Store { return open(t) })
}

// A restart rebuilds every key's line in publish order: the head in flight at the crash goes again (same delivery),
// and nothing behind it goes before it ends.
func TestOrderingSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	var want []string
	for i := range 4 {
		m := &delivery.Message{ID: ids.New("msg"), TenantID: "ten_a", Type: "device.x", Timestamp: now,
			Data: []byte(`{"n":` + string(rune('0'+i)) + `}`), CreatedAt: now, OrderingKey: "dev-1"}
		d := &delivery.Delivery{ID: ids.New("dlv"), TenantID: "ten_a", MessageID: m.ID, EndpointID: "ep_1",
			EventType: m.Type, Status: delivery.StatusPending, NextAttemptAt: now, CreatedAt: now, UpdatedAt: now,
			OrderingKey: "dev-1"}
		if _, _, _, err := s.Publish(ctx, m, []*delivery.Delivery{d}, time.Time{}); err != nil {
			t.Fatal(err)
		}
		want = append(want, d.ID)
	}
	opt := delivery.ClaimOptions{Max: 10, Lease: time.Minute}
	ts, err := s.Claim(ctx, now, opt)
	if err != nil || len(ts) != 1 || ts[0].DeliveryID != want[0] {
		t.Fatalf("claim before the crash: %v %v", ts, err)
	}
	if err := s.Close(); err != nil { // the attempt in flight dies with the process
		t.Fatal(err)
	}
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var got []string
	for range len(want) + 1 {
		ts, err := s.Claim(ctx, now, opt)
		if err != nil {
			t.Fatal(err)
		}
		if len(ts) == 0 {
			break
		}
		if len(ts) != 1 {
			t.Fatalf("claimed %d tasks of one key", len(ts))
		}
		got = append(got, ts[0].DeliveryID)
		if err := s.Ack(ctx, ts[0], delivery.Attempt{At: now, StatusCode: 200}); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("after restart delivered %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("after restart delivered %v, want %v", got, want)
		}
	}
}

// A key blocked behind a dead delivery stays blocked across a restart, and a retried head stays first.
func TestOrderingBlockSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	var cur *Store
	open := func() storetest.Store {
		if cur != nil {
			if err := cur.Close(); err != nil {
				t.Fatal(err)
			}
		}
		s, err := Open(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		cur = s
		return s
	}
	t.Cleanup(func() { cur.Close() })
	storetest.RunOrderingRestart(t, func(t *testing.T) (storetest.Store, func() storetest.Store) { return open(), open })
}
