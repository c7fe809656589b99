package delivery

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// TestAttemptMessageExpunged: a delivery of a message whose payload was expunged ends failed without a request.
func TestAttemptMessageExpunged(t *testing.T) {
	var sent atomic.Int32
	f := newFixture(t, func(r *http.Request) (*http.Response, error) {
		sent.Add(1)
		return okTransport(r)
	})
	f.src.msg.Data, f.src.msg.ExpungedAt = nil, time.Now()
	f.e.attempt(context.Background(), f.t, 0)
	if c := f.q.last(t); c.op != "fail" || c.status != StatusFailed || c.a.Error != "message payload expunged" || c.a.Outcome != "failed" {
		t.Fatalf("call %+v", c)
	}
	if sent.Load() != 0 {
		t.Fatal("an expunged message was sent")
	}
}

// TestMsgCacheExpires: a cached message older than MessageCacheTTL is loaded again, so that an expunge made through
// another replica is seen.
func TestMsgCacheExpires(t *testing.T) {
	src := &countingSource{}
	c := newMsgCache(src, 16, 1<<20)
	ctx := context.Background()
	for range 3 {
		if _, err := c.GetMessage(ctx, "tn", "msg_1"); err != nil {
			t.Fatal(err)
		}
	}
	if n := src.loads.Load(); n != 1 {
		t.Fatalf("fresh: %d loads, want 1", n)
	}
	c.mu.Lock()
	c.items[msgKey{"tn", "msg_1"}].Value.(*msgEntry).at = time.Now().Add(-MessageCacheTTL)
	c.mu.Unlock()
	if _, err := c.GetMessage(ctx, "tn", "msg_1"); err != nil {
		t.Fatal(err)
	}
	if n := src.loads.Load(); n != 2 {
		t.Fatalf("stale: %d loads, want 2", n)
	}
	if n, _ := c.len(); n != 1 {
		t.Fatalf("%d entries, want 1", n)
	}
}
