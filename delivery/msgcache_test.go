package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingSource counts loads per message and can hold them until released.
type countingSource struct {
	loads atomic.Int64
	gate  chan struct{} // when set, every load waits for it to close
	err   error
}

func (s *countingSource) GetMessage(_ context.Context, tenant, id string) (*Message, error) {
	s.loads.Add(1)
	if s.gate != nil {
		<-s.gate
	}
	if s.err != nil {
		return nil, s.err
	}
	return &Message{ID: id, TenantID: tenant, Type: "t", Data: json.RawMessage(`{"n":1}`)}, nil
}

func TestMsgCacheFanOutLoadsOnce(t *testing.T) {
	src := &countingSource{gate: make(chan struct{})}
	c := newMsgCache(src, 16, 1<<20)
	const fanout = 10
	var wg sync.WaitGroup
	got := make([]*Message, fanout)
	for i := range fanout {
		wg.Go(func() {
			m, err := c.GetMessage(context.Background(), "tn", "msg_1")
			if err != nil {
				t.Errorf("GetMessage: %v", err)
			}
			got[i] = m
		})
	}
	time.Sleep(20 * time.Millisecond) // let them all ask while the first load is held
	close(src.gate)
	wg.Wait()
	if _, err := c.GetMessage(context.Background(), "tn", "msg_1"); err != nil {
		t.Fatal(err)
	}
	if n := src.loads.Load(); n != 1 {
		t.Fatalf("loads = %d for a fan-out of %d and one more read, want 1", n, fanout)
	}
	for _, m := range got {
		if m != got[0] {
			t.Fatal("callers got different messages")
		}
	}
	// Another tenant's message of the same id is another entry.
	if m, _ := c.GetMessage(context.Background(), "tn2", "msg_1"); m.TenantID != "tn2" || src.loads.Load() != 2 {
		t.Fatalf("other tenant: %+v, loads %d", m, src.loads.Load())
	}
}

func TestMsgCacheBounded(t *testing.T) {
	src := &countingSource{}
	c := newMsgCache(src, 8, 1<<20)
	for i := range 100 {
		if _, err := c.GetMessage(context.Background(), "tn", fmt.Sprintf("msg_%d", i)); err != nil {
			t.Fatal(err)
		}
		if n, _ := c.len(); n > 8 {
			t.Fatalf("%d entries, bound 8", n)
		}
	}
	// The most recent are kept, the oldest evicted.
	before := src.loads.Load()
	c.GetMessage(context.Background(), "tn", "msg_99")
	if src.loads.Load() != before {
		t.Fatal("most recent message was evicted")
	}
	c.GetMessage(context.Background(), "tn", "msg_0")
	if src.loads.Load() != before+1 {
		t.Fatal("oldest message still cached")
	}

	// The byte bound holds too: entries are about 160 bytes here.
	c = newMsgCache(src, 1000, 1000)
	for i := range 100 {
		c.GetMessage(context.Background(), "tn", fmt.Sprintf("msg_%d", i))
		if n, b := c.len(); b > 1000 || n > 7 {
			t.Fatalf("%d entries of %d bytes, bound 1000 bytes", n, b)
		}
	}
}

func TestMsgCacheKeepsNoErrors(t *testing.T) {
	src := &countingSource{err: fmt.Errorf("gone: %w", ErrNotFound)}
	c := newMsgCache(src, 8, 1<<20)
	for range 3 {
		if _, err := c.GetMessage(context.Background(), "tn", "msg_1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("err = %v", err)
		}
	}
	if n := src.loads.Load(); n != 3 {
		t.Fatalf("loads = %d, want 3: errors are not cached", n)
	}
}
