package redisstore

import (
	"errors"
	"strconv"
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

// TestClaimPrefetchesMessages: a replica that claims a task published by another has its message in memory before
// the worker asks (shown by deleting it from Redis after the claim).
func TestClaimPrefetchesMessages(t *testing.T) {
	srv := testredis.Start(t)
	a := openOn(t, redisURL(srv), srv.Prefix, Options{})
	defer a.Close()
	b, err := Open(t.Context(), redisURL(srv), a.opt)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := t.Context()
	m := newMessage("tn", base)
	if _, _, _, err := a.Publish(ctx, m, []*delivery.Delivery{newDelivery(m, "ep_1", base)}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if b.recent.Has(m.ID) {
		t.Fatal("the other replica should not have published it")
	}
	tk := mustClaim(t, b, base, delivery.ClaimOptions{Max: 1, Lease: time.Minute}, 1)[0]
	b.rdb.Del(ctx, b.k.msgShardOf(m.ID).message(m.ID))
	got, err := b.GetMessage(ctx, "tn", tk.MessageID)
	if err != nil || got.ID != m.ID || string(got.Data) != string(m.Data) {
		t.Fatalf("GetMessage after the claim = %+v, %v; want the prefetched message", got, err)
	}
	if _, err := b.GetMessage(ctx, "other", tk.MessageID); !errors.Is(err, delivery.ErrNotFound) {
		t.Fatalf("another tenant: err = %v", err)
	}
}

// TestPublishedKeepsBeforeHandingOut: the moment a publish's reply hands a leased delivery to the next claim, or
// makes one due, its message is already kept for GetMessage, so that the worker that takes it at once (under load,
// before the publishing goroutine runs on) reads it from memory instead of going to Redis for it.
func TestPublishedKeepsBeforeHandingOut(t *testing.T) {
	srv := testredis.Start(t)
	s := openOn(t, redisURL(srv), srv.Prefix, Options{LeaseOnPublish: true})
	defer s.Close()
	ctx := t.Context()
	now := time.Now()
	mustClaim(t, s, now, delivery.ClaimOptions{Max: 1, Lease: time.Minute}, 0) // a claimer is around: publishes lease

	for _, leased := range []bool{true, false} {
		m := newMessage("tn", now)
		due := now
		if !leased {
			due = now.Add(time.Hour) // not due yet: queued, and its due time announced
		}
		d := newDelivery(m, "ep_"+strconv.FormatBool(leased), due)
		call, plan, err := s.publishCall(m, []*delivery.Delivery{d}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		cmds, err := s.runScripts(ctx, []scriptCall{call})
		if err != nil {
			t.Fatal(err)
		}
		cur, err := cmds[0].Text()
		if leased != (err == nil && len(cur) > 0 && cur[0] == '+') {
			t.Fatalf("leased = %v: reply %q, %v", leased, cur, err)
		}
		if s.recent.Has(m.ID) {
			t.Fatal("kept before the reply was read")
		}
		// Everything published hands out happens inside it; a claim that follows at once finds the message kept.
		if stored, err := s.published(cur, err, plan); !stored || err != nil {
			t.Fatalf("published = %v, %v", stored, err)
		}
		if !s.recent.Has(m.ID) {
			t.Fatalf("leased %v: the message is not kept when its delivery is handed out", leased)
		}
	}
}
