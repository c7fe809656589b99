package verifier_test

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhookd/webhookd/verifier"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func seen(t *testing.T, s verifier.DedupStore, id string, ttl time.Duration) bool {
	t.Helper()
	dup, err := s.Seen(context.Background(), id, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return dup
}

func TestMemoryDedupExpiry(t *testing.T) {
	clk := &fakeClock{now: clock}
	m := verifier.NewMemoryDedup(verifier.MemoryDedupConfig{Now: clk.Now})
	if seen(t, m, "a", time.Minute) {
		t.Fatal("first sighting reported as a duplicate")
	}
	if !seen(t, m, "a", time.Minute) {
		t.Fatal("second sighting not reported")
	}
	if seen(t, m, "b", time.Minute) {
		t.Fatal("another id reported as a duplicate")
	}
	clk.Advance(time.Minute - time.Nanosecond)
	if !seen(t, m, "a", time.Minute) {
		t.Fatal("forgotten before its TTL")
	}
	clk.Advance(time.Nanosecond)
	if seen(t, m, "a", time.Minute) {
		t.Fatal("remembered past its TTL")
	}
	if m.Len() != 1 { // b expired and was dropped; a was recorded afresh
		t.Fatalf("Len() = %d, want 1", m.Len())
	}
	if !seen(t, m, "a", time.Minute) {
		t.Fatal("re-recorded id not remembered")
	}
	if first, again := seen(t, m, "z", 0), seen(t, m, "z", 0); first || again {
		t.Fatal("a zero TTL recorded the id")
	}
}

func TestMemoryDedupBounded(t *testing.T) {
	m := verifier.NewMemoryDedup(verifier.MemoryDedupConfig{MaxEntries: 3, Now: fixedNow})
	for _, id := range []string{"1", "2", "3", "4"} {
		seen(t, m, id, time.Hour)
	}
	if m.Len() != 3 {
		t.Fatalf("Len() = %d, want the bound 3", m.Len())
	}
	if seen(t, m, "1", time.Hour) { // the oldest was dropped to make room (and is now recorded again)
		t.Fatal("oldest id survived past MaxEntries")
	}
	if !seen(t, m, "4", time.Hour) || !seen(t, m, "3", time.Hour) {
		t.Fatal("newest ids were dropped")
	}
}

func TestMemoryDedupForget(t *testing.T) {
	m := verifier.NewMemoryDedup(verifier.MemoryDedupConfig{Now: fixedNow})
	seen(t, m, "a", time.Hour)
	if err := m.Forget(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	if err := m.Forget(context.Background(), "never-seen"); err != nil {
		t.Fatal(err)
	}
	if seen(t, m, "a", time.Hour) || m.Len() != 1 {
		t.Fatal("forgotten id still reported")
	}
}

// TestMemoryDedupConcurrent races goroutines on the same ids: exactly one of them sees each id first.
func TestMemoryDedupConcurrent(t *testing.T) {
	m := verifier.NewMemoryDedup(verifier.MemoryDedupConfig{})
	const ids, workers = 100, 8
	var firsts [ids]atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range workers {
		wg.Go(func() {
			<-start
			for i := range ids {
				dup, err := m.Seen(context.Background(), strconv.Itoa(i), time.Hour)
				if err == nil && !dup {
					firsts[i].Add(1)
				}
			}
		})
	}
	close(start)
	wg.Wait()
	for i := range firsts {
		if n := firsts[i].Load(); n != 1 {
			t.Fatalf("id %d was a first sighting %d times, want exactly 1", i, n)
		}
	}
}

func TestNoDedup(t *testing.T) {
	var s verifier.NoDedup
	if first, again := seen(t, s, "a", time.Hour), seen(t, s, "a", time.Hour); first || again {
		t.Fatal("NoDedup reported a duplicate")
	}
}
