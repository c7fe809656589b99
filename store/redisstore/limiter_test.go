package redisstore

import (
	"testing"
	"time"

	"github.com/webhookd/webhookd/internal/testredis"
)

// TestLimiterSharedByReplicas: two Stores on one Redis (two replicas) draw from one bucket per key: the burst is
// shared, a look (take false) spends nothing, the wait is what refills one token, and other keys are untouched.
func TestLimiterSharedByReplicas(t *testing.T) {
	srv := testredis.Start(t)
	testLimiterShared(t, redisURL(srv), srv.Prefix)
}

// TestLimiterCluster: the same on a Redis Cluster (one key per bucket, so any slot).
func TestLimiterCluster(t *testing.T) {
	testLimiterShared(t, startCluster(t), "")
}

func testLimiterShared(t *testing.T, url, prefix string) {
	a := openOn(t, url, prefix, Options{})
	defer a.Close()
	b, err := Open(t.Context(), url, a.opt)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := t.Context()
	const rate, burst = 0.5, 4 // a token every 2 s
	for i := range burst {
		s := []*Store{a, b}[i%2]
		if wait, err := s.Reserve(ctx, "tok:x", rate, burst, false); err != nil || wait != 0 {
			t.Fatalf("look %d: %v, %v", i, wait, err)
		}
		if wait, err := s.Reserve(ctx, "tok:x", rate, burst, true); err != nil || wait != 0 {
			t.Fatalf("take %d: %v, %v", i, wait, err)
		}
	}
	for _, s := range []*Store{a, b} {
		for _, take := range []bool{false, true} {
			wait, err := s.Reserve(ctx, "tok:x", rate, burst, take)
			if err != nil || wait < time.Second || wait > 2*time.Second {
				t.Fatalf("burst spent (take %v): wait %v, %v; want up to 2s", take, wait, err)
			}
		}
	}
	if wait, err := b.Reserve(ctx, "tok:y", rate, burst, true); err != nil || wait != 0 {
		t.Fatalf("another key: %v, %v", wait, err)
	}
	ttl, err := a.rdb.PTTL(ctx, a.k.prefix+"rl:tok:x").Result()
	if err != nil || ttl <= 0 || ttl > 8*time.Second+time.Millisecond {
		t.Errorf("state TTL %v, %v; want it gone once the bucket is full again (8 s)", ttl, err)
	}
}
