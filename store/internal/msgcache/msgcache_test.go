package msgcache

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/webhookd/webhookd/delivery"
)

func msg(tenant string, i, size int) *delivery.Message {
	return &delivery.Message{ID: fmt.Sprintf("msg_%06d", i), TenantID: tenant, Data: bytes.Repeat([]byte("x"), size)}
}

// TestGetOnlyForItsTenant: a kept message is returned as a copy, and only to its own tenant.
func TestGetOnlyForItsTenant(t *testing.T) {
	var c Cache
	m := msg("tn_a", 1, 10)
	c.Keep(m)
	got := c.Get("tn_a", m.ID)
	if got == nil || got == m || got.ID != m.ID || string(got.Data) != string(m.Data) {
		t.Fatalf("Get = %+v; want a copy of %+v", got, m)
	}
	got.Type = "changed"
	if m.Type == "changed" {
		t.Fatal("Get returned the cached message itself")
	}
	if c.Get("tn_b", m.ID) != nil {
		t.Fatal("another tenant read the message")
	}
	if !c.Has(m.ID) || c.Has("msg_other") {
		t.Fatal("Has is wrong")
	}
}

// TestEntriesExpire: an entry older than TTL is neither returned nor counted.
func TestEntriesExpire(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	c := Cache{clock: func() time.Time { return now }}
	old := msg("tn", 1, 100)
	c.Keep(old)
	now = now.Add(TTL - time.Millisecond)
	if c.Get("tn", old.ID) == nil {
		t.Fatal("a fresh entry was not returned")
	}
	now = now.Add(time.Millisecond)
	if c.Get("tn", old.ID) != nil || c.Has(old.ID) {
		t.Fatal("an entry TTL old was returned")
	}
	c.Keep(msg("tn", 2, 1))
	if len(c.m) != 1 || c.bytes != 1 {
		t.Fatalf("after a Keep the expired entry is still held: %d entries, %d bytes", len(c.m), c.bytes)
	}
}

// TestFullCacheEvictsOldest: at MaxEntries entries, or MaxData bytes, the oldest make room for the newest.
func TestFullCacheEvictsOldest(t *testing.T) {
	var c Cache
	for i := range MaxEntries + 1 {
		c.Keep(msg("tn", i, 0))
	}
	if c.Get("tn", msg("tn", 0, 0).ID) != nil {
		t.Fatal("the oldest entry survived a full cache")
	}
	if c.Get("tn", msg("tn", MaxEntries, 0).ID) == nil || c.Get("tn", msg("tn", 1, 0).ID) == nil {
		t.Fatal("a newer entry was evicted")
	}

	var d Cache
	big := MaxData / 4
	for i := range 5 {
		d.Keep(msg("tn", i, big))
	}
	if d.Get("tn", msg("tn", 0, 0).ID) != nil || d.Get("tn", msg("tn", 4, 0).ID) == nil {
		t.Fatal("the byte bound did not evict the oldest")
	}
	if d.bytes > MaxData {
		t.Fatalf("%d bytes held, over MaxData", d.bytes)
	}
	d.Keep(msg("tn", 9, MaxData+1))
	if d.Has(msg("tn", 9, 0).ID) {
		t.Fatal("a message larger than MaxData was kept")
	}
}

// TestForget: Forget drops one message, ForgetTenant a tenant's, Clear all; the byte count follows.
func TestForget(t *testing.T) {
	var c Cache
	a1, a2, b1 := msg("tn_a", 1, 3), msg("tn_a", 2, 5), msg("tn_b", 3, 7)
	for _, m := range []*delivery.Message{a1, a2, b1} {
		c.Keep(m)
	}
	c.Forget(a1.ID)
	if c.Has(a1.ID) || !c.Has(a2.ID) || c.bytes != 12 {
		t.Fatalf("after Forget: has a1 %v, has a2 %v, %d bytes", c.Has(a1.ID), c.Has(a2.ID), c.bytes)
	}
	c.Keep(a1) // kept again after a Forget
	c.ForgetTenant("tn_a")
	if c.Has(a1.ID) || c.Has(a2.ID) || !c.Has(b1.ID) || c.bytes != 7 {
		t.Fatalf("after ForgetTenant: %d entries, %d bytes", len(c.m), c.bytes)
	}
	c.Clear()
	if c.Has(b1.ID) || c.bytes != 0 {
		t.Fatal("Clear left an entry")
	}
	c.Keep(b1)
	if c.Get("tn_b", b1.ID) == nil {
		t.Fatal("the cache does not work after Clear")
	}
}

// BenchmarkKeepSteady: Keep at a steady 1,000 messages a second, so that each Keep expires the oldest of about
// TTL × 1,000 entries.
func BenchmarkKeepSteady(b *testing.B) {
	now := time.Unix(1_700_000_000, 0)
	c := Cache{clock: func() time.Time { return now }}
	const every = time.Millisecond
	n := int(TTL / every)
	msgs := make([]*delivery.Message, 2*n)
	for i := range msgs {
		msgs[i] = msg("tn", i, 64)
	}
	for i := range n {
		c.Keep(msgs[i])
		now = now.Add(every)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		m := msgs[i%len(msgs)]
		c.Forget(m.ID) // a message id comes back only in this benchmark
		c.Keep(m)
		now = now.Add(every)
	}
	if len(c.m) > n+1 {
		b.Fatalf("%d entries held, want at most %d", len(c.m), n+1)
	}
}
