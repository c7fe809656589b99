package redisstore

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/internal/testredis"
	"github.com/webhookd/webhookd/store/internal/recjson"
	"github.com/webhookd/webhookd/tenants"
)

// twin opens a second Store on s's data, as another replica: it shares nothing with s but Redis (no caches).
func twin(t *testing.T, srv *testredis.Server, s *Store) *Store {
	t.Helper()
	o, err := Open(t.Context(), redisURL(srv), Options{Prefix: s.opt.Prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

// TestInlineMessageLayout: a publish whose script enqueues the deliveries keeps its message inline in the tenant's
// index (no hash, no retention entry), and another replica reads it back byte for byte, with its delivery index.
func TestInlineMessageLayout(t *testing.T) {
	srv := testredis.Start(t)
	s := openOn(t, redisURL(srv), srv.Prefix, Options{})
	defer s.Close()
	ctx := t.Context()
	m := newMessage("ten_in", base)
	m.Data = json.RawMessage("{ \"spaced\" :\n [1, 2] }") // kept as published, newline and all
	ds := []*delivery.Delivery{newDelivery(m, "ep_1", base), newDelivery(m, "ep_2", base)}
	if _, _, _, err := s.Publish(ctx, m, ds, time.Time{}); err != nil {
		t.Fatal(err)
	}
	mk := s.k.msgShardOf(m.ID)
	if n, _ := s.rdb.Exists(ctx, mk.message(m.ID)).Result(); n != 0 {
		t.Errorf("the message has a hash of its own")
	}
	if n, _ := s.rdb.ZCard(ctx, mk.index).Result(); n != 0 {
		t.Errorf("the message has a retention index entry")
	}
	members, err := s.rdb.ZRange(ctx, s.k.tenantDeliveries("ten_in"), 0, -1).Result()
	if err != nil || len(members) != 6 {
		t.Fatalf("tenant index: %d members %v, want 6 (2 deliveries twice, the message, its retention entry)", len(members), err)
	}
	if want := retentionMember(nsString(base), m.ID); members[5] != want {
		t.Errorf("last member %q, want the retention entry %q", members[5], want)
	}
	if ok, _ := s.rdb.SIsMember(ctx, s.k.publishers(), "ten_in").Result(); !ok {
		t.Errorf("the tenant is not in the publishers set")
	}
	o := twin(t, srv, s)
	got, err := o.GetMessage(ctx, "ten_in", m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Data, m.Data) || got.Type != m.Type || !got.CreatedAt.Equal(m.CreatedAt) {
		t.Errorf("GetMessage: %+v (data %q), want %+v", got, got.Data, m)
	}
	if _, err := o.GetMessage(ctx, "ten_other", m.ID); err == nil {
		t.Errorf("another tenant reads the message")
	}
	byMsg, err := o.ListDeliveries(ctx, "ten_in", delivery.Filter{MessageID: m.ID})
	if err != nil || len(byMsg) != 2 {
		t.Fatalf("ListDeliveries by message: %d, %v; want 2", len(byMsg), err)
	}
	all, err := o.ListDeliveries(ctx, "ten_in", delivery.Filter{})
	if err != nil || len(all) != 2 {
		t.Fatalf("ListDeliveries of the tenant: %d, %v; want 2 (the message's members are not deliveries)", len(all), err)
	}
	// The other replica's claims find the message inline and keep it: GetMessage then needs no Redis.
	tasks := mustClaim(t, o, base, delivery.ClaimOptions{Max: 10, Lease: time.Minute}, 2)
	if c := o.claimed.Get("ten_in", tasks[0].MessageID); c == nil || !bytes.Equal(c.Data, m.Data) {
		t.Errorf("the claim did not prefetch the inline message: %v", c)
	}
}

// TestInlineMessageWithoutData: a message without data reads back without it (null, as from a hash), and one with a
// fan-out larger than a script enqueues keeps its hash; another replica's claim prefetches both.
func TestInlineMessageWithoutData(t *testing.T) {
	srv := testredis.Start(t)
	s := openOn(t, redisURL(srv), srv.Prefix, Options{})
	defer s.Close()
	ctx := t.Context()
	m := newMessage("ten_in", base)
	m.Data = nil
	if _, _, _, err := s.Publish(ctx, m, []*delivery.Delivery{newDelivery(m, "ep_1", base)}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	big := newMessage("ten_in", base)
	var ds []*delivery.Delivery
	for i := range maxOneScript + 1 {
		ds = append(ds, newDelivery(big, "ep_"+string(rune('a'+i)), base))
	}
	if _, _, _, err := s.Publish(ctx, big, ds, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.rdb.Exists(ctx, s.k.msgShardOf(big.ID).message(big.ID)).Result(); n != 1 {
		t.Errorf("a fan-out of %d has no hash", len(ds))
	}
	o := twin(t, srv, s)
	// Another replica's claim prefetches both forms: the inline message and the fan-out's hash.
	mustClaim(t, o, base, delivery.ClaimOptions{Max: 100, Lease: time.Minute}, 1+len(ds))
	for _, want := range []*delivery.Message{m, big} {
		if c := o.claimed.Get("ten_in", want.ID); c == nil || c.Type != want.Type {
			t.Errorf("the claim did not prefetch message %s: %v", want.ID, c)
		}
	}
	got, err := o.GetMessage(ctx, "ten_in", m.ID)
	if err != nil || string(got.Data) != "null" {
		t.Fatalf("GetMessage: %v data %q, want none (null)", err, got.Data)
	}
	if got, err := o.GetMessage(ctx, "ten_in", big.ID); err != nil || !bytes.Equal(got.Data, big.Data) {
		t.Fatalf("GetMessage of the fan-out: %v, %v", got, err)
	}
}

// TestInlineExpunge: expunging an inline message drops its data for every replica and keeps the rest.
func TestInlineExpunge(t *testing.T) {
	srv := testredis.Start(t)
	s := openOn(t, redisURL(srv), srv.Prefix, Options{})
	defer s.Close()
	ctx := t.Context()
	m := newMessage("ten_in", base)
	d := newDelivery(m, "ep_1", base)
	if _, _, _, err := s.Publish(ctx, m, []*delivery.Delivery{d}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ExpungeMessage(ctx, "ten_other", m.ID, base); err == nil {
		t.Fatal("another tenant expunged the message")
	}
	at := base.Add(time.Hour)
	got, err := s.ExpungeMessage(ctx, "ten_in", m.ID, at)
	if err != nil || !got.ExpungedAt.Equal(at) || string(got.Data) != "null" {
		t.Fatalf("ExpungeMessage: %+v, %v", got, err)
	}
	o := twin(t, srv, s)
	read, err := o.GetMessage(ctx, "ten_in", m.ID)
	if err != nil || string(read.Data) != "null" || !read.ExpungedAt.Equal(at) || read.Type != m.Type {
		t.Fatalf("after expunge: %+v, %v", read, err)
	}
	if n, _ := s.rdb.ZCard(ctx, s.k.tenantDeliveries("ten_in")).Result(); n != 4 {
		t.Errorf("tenant index: %d members, want 4 (one message member, swapped)", n)
	}
	byMsg, err := o.ListDeliveries(ctx, "ten_in", delivery.Filter{MessageID: m.ID})
	if err != nil || len(byMsg) != 1 || byMsg[0].ID != d.ID {
		t.Fatalf("the expunged message's deliveries: %v, %v", byMsg, err)
	}
}

// TestInlinePrune: Prune, run by a replica that never published, deletes ended deliveries of inline messages and
// then the messages, keeps a message while any of its deliveries lives (one it was published with, or a replay), and
// leaves the tenant's index empty.
func TestInlinePrune(t *testing.T) {
	srv := testredis.Start(t)
	s := openOn(t, redisURL(srv), srv.Prefix, Options{})
	defer s.Close()
	ctx := t.Context()
	done := newMessage("ten_p", base)
	live := newMessage("ten_p", base)
	replayed := newMessage("ten_p", base)
	for _, m := range []*delivery.Message{done, live, replayed} {
		if _, _, _, err := s.Publish(ctx, m, []*delivery.Delivery{newDelivery(m, "ep_"+m.ID[len(m.ID)-3:], base)}, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	tasks := mustClaim(t, s, base, delivery.ClaimOptions{Max: 10, Lease: time.Minute}, 3)
	for _, tk := range tasks {
		if tk.MessageID == live.ID {
			continue // stays in flight
		}
		if err := s.Ack(ctx, tk, delivery.Attempt{At: base, StatusCode: 200}); err != nil {
			t.Fatal(err)
		}
	}
	// A replay of the acked delivery of replayed: a later delivery of an inline message, in its own index.
	again := newDelivery(replayed, "ep_x", base.Add(time.Hour))
	if err := s.Enqueue(ctx, []*delivery.Delivery{again}); err != nil {
		t.Fatal(err)
	}
	o := twin(t, srv, s)
	n, err := o.Prune(ctx, base.Add(time.Minute))
	if err != nil || n != 2 {
		t.Fatalf("Prune: %d, %v; want the 2 acked deliveries", n, err)
	}
	if _, err := o.GetMessage(ctx, "ten_p", done.ID); err == nil {
		t.Errorf("the message whose delivery ended is still there")
	}
	for _, m := range []*delivery.Message{live, replayed} {
		if _, err := o.GetMessage(ctx, "ten_p", m.ID); err != nil {
			t.Errorf("message %s, which a delivery still needs: %v", m.ID, err)
		}
	}
	// Ending the rest lets the next prune take everything.
	for _, tk := range append(tasks, mustClaim(t, s, base.Add(time.Hour), delivery.ClaimOptions{Max: 10, Lease: time.Minute}, 1)...) {
		if tk.MessageID == live.ID || tk.DeliveryID == again.ID {
			if err := s.Ack(ctx, tk, delivery.Attempt{At: base, StatusCode: 200}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n, err := o.Prune(ctx, base.Add(2*time.Hour)); err != nil || n != 2 {
		t.Fatalf("second Prune: %d, %v; want 2", n, err)
	}
	if n, _ := s.rdb.Exists(ctx, s.k.tenantDeliveries("ten_p"), s.k.msgShardOf(replayed.ID).messageDeliveries(replayed.ID)).Result(); n != 0 {
		members, _ := s.rdb.ZRange(ctx, s.k.tenantDeliveries("ten_p"), 0, -1).Result()
		t.Fatalf("after everything ended and was pruned, %d keys are left (tenant index %q)", n, members)
	}
}

// TestInlinePruneHonoursTenantCutoff: PruneBy keeps an inline message its tenant's cutoff keeps.
func TestInlinePruneHonoursTenantCutoff(t *testing.T) {
	srv := testredis.Start(t)
	s := openOn(t, redisURL(srv), srv.Prefix, Options{})
	defer s.Close()
	ctx := t.Context()
	for _, tenant := range []string{"ten_short", "ten_long"} {
		publishN(t, s, tenant, 1, base, "ep_"+tenant)
	}
	for _, tk := range mustClaim(t, s, base, delivery.ClaimOptions{Max: 10, Lease: time.Minute}, 2) {
		if err := s.Ack(ctx, tk, delivery.Attempt{At: base, StatusCode: 200}); err != nil {
			t.Fatal(err)
		}
	}
	latest := base.Add(time.Hour)
	n, err := s.PruneBy(ctx, latest, func(tenant string) time.Time {
		if tenant == "ten_long" {
			return base.Add(-time.Hour)
		}
		return latest
	})
	if err != nil || n != 1 {
		t.Fatalf("PruneBy: %d, %v; want 1", n, err)
	}
	if got, _ := s.ListDeliveries(ctx, "ten_long", delivery.Filter{}); len(got) != 1 {
		t.Errorf("the long-retention tenant lost its delivery")
	}
	if got, _ := s.ListDeliveries(ctx, "ten_short", delivery.Filter{}); len(got) != 0 {
		t.Errorf("the short-retention tenant kept its delivery")
	}
}

// TestPublishersSetOncePerTenant: a Store adds a tenant to the publishers set with its first publish only, not with
// every publish (the set costs no command per publish).
func TestPublishersSetOncePerTenant(t *testing.T) {
	srv := testredis.StartServer(t)
	s := openOn(t, redisURL(srv), "", Options{})
	defer s.Close()
	before := commandCalls(t, srv, "sadd")
	publishN(t, s, "ten_a", 20, base, "ep_1")
	publishN(t, s, "ten_b", 5, base, "ep_2")
	if n := commandCalls(t, srv, "sadd") - before; n != 2 {
		t.Fatalf("%d SADDs for 25 publishes of 2 tenants, want 2", n)
	}
	// A tenant deletion takes it out, and the Store's next publish for it adds it again.
	s.pubs.forget("ten_a")
	s.rdb.SRem(t.Context(), s.k.publishers(), "ten_a")
	publishN(t, s, "ten_a", 1, base, "ep_1")
	if ok, _ := s.rdb.SIsMember(t.Context(), s.k.publishers(), "ten_a").Result(); !ok {
		t.Fatal("the tenant was not added again")
	}
}

// TestPurgeInlineMessages: deleting a tenant deletes its inline messages, the index of a replayed one's later
// deliveries, and its place in the publishers set.
func TestPurgeInlineMessages(t *testing.T) {
	srv := testredis.Start(t)
	s := openOn(t, redisURL(srv), srv.Prefix, Options{})
	defer s.Close()
	ctx := t.Context()
	if err := s.CreateTenant(ctx, &tenants.Tenant{ID: "ten_del", Name: "Doomed", CreatedAt: base}); err != nil {
		t.Fatal(err)
	}
	ds := publishN(t, s, "ten_del", 2, base, "ep_1")
	again := newDelivery(&delivery.Message{ID: ds[0].MessageID, TenantID: "ten_del", Type: "device.enrolled", CreatedAt: base}, "ep_2", base)
	if err := s.Enqueue(ctx, []*delivery.Delivery{again}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MarkTenantDeleting(ctx, "ten_del", base); err != nil {
		t.Fatal(err)
	}
	if done, err := s.PurgeTenant(ctx, "ten_del", 1000); err != nil || !done {
		t.Fatalf("PurgeTenant: %v, %v", done, err)
	}
	if ok, _ := s.rdb.SIsMember(ctx, s.k.publishers(), "ten_del").Result(); ok {
		t.Error("the deleted tenant is still in the publishers set")
	}
	if n, _ := s.rdb.Exists(ctx, s.k.tenantDeliveries("ten_del"), s.k.msgShardOf(again.MessageID).messageDeliveries(again.MessageID)).Result(); n != 0 {
		t.Errorf("%d of the tenant's index and the replayed message's index are left", n)
	}
}

// TestPruneAfterTenantCreatedAgain: a tenant deleted by another replica and created again is pruned even while this
// Store, which believes it added the tenant to the publishers set, does not add it again: Prune also walks the
// tenant registry.
func TestPruneAfterTenantCreatedAgain(t *testing.T) {
	srv := testredis.Start(t)
	s := openOn(t, redisURL(srv), srv.Prefix, Options{})
	defer s.Close()
	ctx := t.Context()
	publishN(t, s, "ten_re", 1, base, "ep_1")
	// Another replica's purge took it out of the set; then it was created again.
	if err := s.rdb.SRem(ctx, s.k.publishers(), "ten_re").Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTenant(ctx, &tenants.Tenant{ID: "ten_re", Name: "Again", CreatedAt: base}); err != nil {
		t.Fatal(err)
	}
	publishN(t, s, "ten_re", 1, base, "ep_1")
	if ok, _ := s.rdb.SIsMember(ctx, s.k.publishers(), "ten_re").Result(); ok {
		t.Fatal("the Store added the tenant again at once: this test needs it not to")
	}
	for _, tk := range mustClaim(t, s, base, delivery.ClaimOptions{Max: 10, Lease: time.Minute}, 2) {
		if err := s.Ack(ctx, tk, delivery.Attempt{At: base, StatusCode: 200}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.Prune(ctx, base.Add(time.Hour)); err != nil || n != 2 {
		t.Fatalf("Prune: %d, %v; want 2", n, err)
	}
	if n, _ := s.rdb.Exists(ctx, s.k.tenantDeliveries("ten_re")).Result(); n != 0 {
		t.Fatal("the tenant's inline messages are left")
	}
}

func FuzzParseInline(f *testing.F) {
	f.Add("}msg_1 00000000000000000001 1 dlv_1 ep_1 2 1\n{}[1]", []byte(`{"a":1}`), true)
	f.Add("}m 1 0 0 0\n", []byte(nil), false)
	f.Add("}m 1 2 a b 3 1\nxyz", []byte("null"), true)
	f.Fuzz(func(t *testing.T, member string, data []byte, hasData bool) {
		if im, err := parseInline(member); err == nil {
			if !strings.HasPrefix(member, "}"+im.id+" ") || len(im.mj) > len(member) {
				t.Fatalf("parsed %q into %+v", member, im)
			}
		}
		// What inlineMember writes, parseInline reads back.
		m := &delivery.Message{ID: "msg_f", TenantID: "ten_f", Type: "t", CreatedAt: base}
		if hasData {
			m.Data = append(json.RawMessage{}, data...) // never nil: it has data, if empty
		}
		mj, err := recjson.AppendMessage(nil, &delivery.Message{ID: m.ID, Type: string(data)})
		if err != nil {
			return
		}
		im, err := parseInline(inlineMember(m, mj, []string{"dlv_1 ep_1", "dlv_2 ep_2"}))
		if err != nil {
			t.Fatalf("round trip: %v", err)
		}
		gotData, _ := im.data.(string)
		if im.mj != string(mj) || (im.data != nil) != hasData || (hasData && gotData != string(data)) ||
			len(im.pairs) != 2 || im.pairs[1] != "dlv_2 ep_2" || im.createdNS != nsString(base) {
			t.Fatalf("round trip: %+v", im)
		}
	})
}
