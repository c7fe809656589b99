package boltstore

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/webhookd/webhookd/delivery"
)

// TestRecentMessages: a message published here is read back from memory (shown by deleting it from the file), the
// same as the stored one, only by its tenant; an expunge and a prune are seen at once.
func TestRecentMessages(t *testing.T) {
	ctx := t.Context()
	s := open(t)
	defer s.Close()
	m := newMsg("ten_a")
	m.Data = json.RawMessage(`{"device":"d1"}`)
	_, _, _, err := s.Publish(ctx, m, []*delivery.Delivery{newDlv(m, "ep_1", t0)}, time.Time{})
	must(t, err)

	cached, err := s.GetMessage(ctx, "ten_a", m.ID)
	must(t, err)
	s.recent.Clear()
	stored, err := s.GetMessage(ctx, "ten_a", m.ID)
	must(t, err)
	if a, b := mustJSON(t, cached), mustJSON(t, stored); a != b {
		t.Fatalf("the cached message differs from the stored one:\n%s\n%s", a, b)
	}

	m2 := newMsg("ten_a")
	_, _, _, err = s.Publish(ctx, m2, nil, time.Time{})
	must(t, err)
	must(t, s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bMessages).Delete(key("ten_a", m2.ID)) }))
	if got, err := s.GetMessage(ctx, "ten_a", m2.ID); err != nil || got.ID != m2.ID {
		t.Fatalf("GetMessage of a just published message = %+v, %v; want it from memory", got, err)
	}
	if _, err := s.GetMessage(ctx, "ten_b", m2.ID); !errors.Is(err, delivery.ErrNotFound) {
		t.Fatalf("another tenant: err = %v", err)
	}

	m3 := newMsg("ten_a")
	_, _, _, err = s.Publish(ctx, m3, nil, time.Time{})
	must(t, err)
	_, err = s.ExpungeMessage(ctx, "ten_a", m3.ID, t0)
	must(t, err)
	if got, err := s.GetMessage(ctx, "ten_a", m3.ID); err != nil || string(got.Data) != "null" || got.ExpungedAt.IsZero() {
		t.Fatalf("after an expunge GetMessage = %+v, %v; want the expunged record", got, err)
	}

	_, err = s.Prune(ctx, t0.Add(time.Hour))
	must(t, err)
	if _, err := s.GetMessage(ctx, "ten_a", m2.ID); !errors.Is(err, delivery.ErrNotFound) {
		t.Fatalf("after Prune a message deleted from the file was still served: err = %v", err)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	must(t, err)
	return string(b)
}
