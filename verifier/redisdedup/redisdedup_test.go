package redisdedup_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/webhookd/webhookd/internal/testredis"
	"github.com/webhookd/webhookd/profiles"
	"github.com/webhookd/webhookd/signing"
	"github.com/webhookd/webhookd/verifier"
	"github.com/webhookd/webhookd/verifier/redisdedup"
)

func TestSeen(t *testing.T) {
	srv := testredis.Start(t)
	ctx := context.Background()
	s := redisdedup.New(srv.Client, redisdedup.Config{Prefix: srv.Prefix + "dedup:"})

	dup, err := s.Seen(ctx, "msg_a", time.Minute)
	if err != nil || dup {
		t.Fatalf("first sighting: %v, %v", dup, err)
	}
	// State: one key, under the prefix, expiring after the TTL.
	key := srv.Prefix + "dedup:msg_a"
	if s.Key("msg_a") != key {
		t.Fatalf("Key = %q, want %q", s.Key("msg_a"), key)
	}
	pttl, err := srv.Client.PTTL(ctx, key).Result()
	if err != nil || pttl <= 0 || pttl > time.Minute {
		t.Fatalf("PTTL(%s) = %v, %v; want within (0, 1m]", key, pttl, err)
	}
	if dup, err := s.Seen(ctx, "msg_a", time.Minute); err != nil || !dup {
		t.Fatalf("second sighting: %v, %v", dup, err)
	}
	if pttl2, _ := srv.Client.PTTL(ctx, key).Result(); pttl2 > pttl {
		t.Fatalf("a duplicate extended the TTL from %v to %v", pttl, pttl2)
	}
	if dup, err := s.Seen(ctx, "msg_b", time.Minute); err != nil || dup {
		t.Fatalf("another id: %v, %v", dup, err)
	}

	// Sub-second and odd TTLs are kept to the millisecond.
	if _, err := s.Seen(ctx, "msg_short", 1500*time.Microsecond); err != nil {
		t.Fatal(err)
	}
	// PTTL is -2 if the key has already expired on a slow machine, 0 in its last millisecond; anything else must be
	// within 2 ms (-1, no expiry, would be the bug this guards against).
	if pttl, _ := srv.Client.PTTL(ctx, srv.Prefix+"dedup:msg_short").Result(); pttl > 2*time.Millisecond || pttl < 0 && pttl != -2 {
		t.Fatalf("PTTL of a 1.5ms record = %v", pttl)
	}
	// A non-positive TTL records nothing (SET without an expiry would remember the id forever).
	if dup, err := s.Seen(ctx, "msg_z", 0); err != nil || dup {
		t.Fatal(dup, err)
	}
	if n, _ := srv.Client.Exists(ctx, srv.Prefix+"dedup:msg_z").Result(); n != 0 {
		t.Fatal("zero TTL wrote a key")
	}
}

func TestForget(t *testing.T) {
	srv := testredis.Start(t)
	ctx := context.Background()
	s := redisdedup.New(srv.Client, redisdedup.Config{Prefix: srv.Prefix})
	s.Seen(ctx, "msg_a", time.Minute)
	if err := s.Forget(ctx, "msg_a"); err != nil {
		t.Fatal(err)
	}
	if n, _ := srv.Client.Exists(ctx, srv.Prefix+"msg_a").Result(); n != 0 {
		t.Fatal("Forget left the key")
	}
	if dup, err := s.Seen(ctx, "msg_a", time.Minute); err != nil || dup {
		t.Fatalf("after Forget: %v, %v", dup, err)
	}
}

func TestPrefixes(t *testing.T) {
	srv := testredis.Start(t)
	ctx := context.Background()
	a := redisdedup.New(srv.Client, redisdedup.Config{Prefix: srv.Prefix + "a:"})
	b := redisdedup.New(srv.Client, redisdedup.Config{Prefix: srv.Prefix + "b:"})
	a.Seen(ctx, "msg_1", time.Minute)
	if dup, _ := b.Seen(ctx, "msg_1", time.Minute); dup {
		t.Fatal("stores with different prefixes share ids")
	}
	if d := redisdedup.New(srv.Client, redisdedup.Config{}); d.Key("x") != redisdedup.DefaultPrefix+"x" {
		t.Fatalf("default key %q", d.Key("x"))
	}
}

// TestConcurrentReplicas races several clients (replicas) on the same ids: exactly one wins each.
func TestConcurrentReplicas(t *testing.T) {
	srv := testredis.Start(t)
	const ids, replicas = 50, 4
	var firsts [ids]atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range replicas {
		c := redis.NewClient(&redis.Options{Addr: srv.Addr})
		if srv.Shared {
			c = srv.Client
		} else {
			t.Cleanup(func() { c.Close() })
		}
		s := redisdedup.New(c, redisdedup.Config{Prefix: srv.Prefix})
		wg.Go(func() {
			<-start
			for i := range ids {
				dup, err := s.Seen(context.Background(), strconv.Itoa(i), time.Minute)
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
			t.Fatalf("id %d won by %d replicas, want 1", i, n)
		}
	}
}

func TestErrors(t *testing.T) {
	srv := testredis.Start(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr})
	c.Close()
	s := redisdedup.New(c, redisdedup.Config{Prefix: srv.Prefix})
	if _, err := s.Seen(context.Background(), "msg_a", time.Minute); !errors.Is(err, redis.ErrClosed) {
		t.Fatalf("Seen on a closed client: %v", err)
	}
	if err := s.Forget(context.Background(), "msg_a"); !errors.Is(err, redis.ErrClosed) {
		t.Fatalf("Forget on a closed client: %v", err)
	}
}

// TestMiddlewareAcrossReplicas puts two verifiers (two replicas of a receiver) on one Redis: a retry that lands on
// the other replica is still dropped.
func TestMiddlewareAcrossReplicas(t *testing.T) {
	srv := testredis.Start(t)
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	calls := 0
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls++ })
	var replicas []http.Handler
	for range 2 {
		v, err := verifier.New(verifier.Config{Keys: []string{secret}, Dedup: redisdedup.New(srv.Client, redisdedup.Config{Prefix: srv.Prefix})})
		if err != nil {
			t.Fatal(err)
		}
		replicas = append(replicas, v.Middleware(handler))
	}
	key, _ := signing.ParseKey(secret)
	now := time.Now()
	m := &signing.Message{ID: signing.NewMessageID(), Type: "a.b", Timestamp: now}
	body := profiles.Standard.AppendBody(nil, m)
	for i, h := range []http.Handler{replicas[0], replicas[1], replicas[0]} {
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		profiles.Standard.SetHeaders(r.Header, m, body, now, []signing.Key{key})
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			t.Fatalf("delivery %d: status %d: %s", i, w.Code, w.Body)
		}
	}
	if calls != 1 {
		t.Fatalf("handler called %d times across replicas, want 1", calls)
	}
}
