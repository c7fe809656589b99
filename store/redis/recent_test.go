package redisstore

import (
	"errors"
	"testing"
	"time"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/internal/testredis"
)

// TestRecentMessages: a message published here is read back without Redis, only by its tenant, and Prune empties the
// cache so that a pruned message is not found.
func TestRecentMessages(t *testing.T) {
	srv := testredis.Start(t)
	s := openOn(t, redisURL(srv), srv.Prefix, Options{})
	defer s.Close()
	ctx := t.Context()
	m := newMessage("tn", base)
	if _, _, _, err := s.Publish(ctx, m, nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	s.rdb.Del(ctx, s.k.msgShardOf(m.ID).message(m.ID)) // served from the cache from now on
	got, err := s.GetMessage(ctx, "tn", m.ID)
	if err != nil || got.ID != m.ID || string(got.Data) != string(m.Data) {
		t.Fatalf("GetMessage = %+v, %v", got, err)
	}
	if _, err := s.GetMessage(ctx, "other", m.ID); !errors.Is(err, delivery.ErrNotFound) {
		t.Fatalf("another tenant: err = %v", err)
	}
	if _, err := s.Prune(ctx, base.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetMessage(ctx, "tn", m.ID); !errors.Is(err, delivery.ErrNotFound) {
		t.Fatalf("after Prune: err = %v", err)
	}
}
