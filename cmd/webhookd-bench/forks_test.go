package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestAnalyzeSeparatesForks: with Redis's fork spans known, the quiet e2e summary leaves out every event whose wait
// met a span or the forkTail after it, and keeps the rest; the summary of all is unchanged.
func TestAnalyzeSeparatesForks(t *testing.T) {
	ms := int64(time.Millisecond)
	pr := pubResult{recs: []pubRecord{
		{id: "before", origin: 0}, {id: "through", origin: 90 * ms}, {id: "during", origin: 150 * ms},
		{id: "tail", origin: 300 * ms}, {id: "after", origin: 500 * ms},
	}, start: 0, end: 500 * ms}
	rs := []receipt{
		{at: 2 * ms, id: "before"}, {at: 140 * ms, id: "through"}, {at: 180 * ms, id: "during"},
		{at: 303 * ms, id: "tail"}, {at: 504 * ms, id: "after"},
	}
	res := runResult{forks: []span{{from: 100 * ms, to: 200 * ms}}}
	analyze(&res, pr, rs, nil)
	if res.e2e.N != 5 || res.e2e.Max != 50*time.Millisecond {
		t.Fatalf("all: %+v, want 5 samples, max 50ms", res.e2e)
	}
	if res.e2eQuiet.N != 2 || res.e2eQuiet.Max != 4*time.Millisecond {
		t.Fatalf("quiet: %+v, want the 2 events that met no fork (2ms and 4ms)", res.e2eQuiet)
	}
	var none runResult
	analyze(&none, pr, rs, nil)
	if none.e2eQuiet.N != 0 || quietP99(&none) != "—" {
		t.Fatalf("without forks: quiet %+v, column %q", none.e2eQuiet, quietP99(&none))
	}
}

// TestWatchForks: a real redis-server's AOF rewrite, slowed to about 200 ms by rdb-key-save-delay, is recorded as one
// span that covers it.
func TestWatchForks(t *testing.T) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server is not on PATH; in CI the Redis tests must run")
		}
		t.Skip("no redis-server on PATH")
	}
	r, err := startRedis(bin, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer r.stop()
	ctx := t.Context()
	if err := r.client.ConfigSet(ctx, "rdb-key-save-delay", "2000").Err(); err != nil { // µs per key written by the child
		t.Fatal(err)
	}
	pipe := r.client.Pipeline()
	for i := range 100 {
		pipe.Set(ctx, "k"+strings.Repeat("x", i), i, 0)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	base := time.Now()
	stop := make(chan struct{})
	got := r.watchForks(ctx, base, stop)
	if err := r.client.BgRewriteAOF(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	started := time.Since(base) // the child is at work when BGREWRITEAOF answers
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := r.client.Info(ctx, "persistence").Result()
		if err != nil {
			t.Fatal(err)
		}
		if !parseForking(info) && strings.Contains(info, "aof_rewrites:1") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the rewrite did not end:\n%s", info)
		}
		time.Sleep(10 * time.Millisecond)
	}
	end := time.Since(base)
	close(stop)
	spans := <-got
	if len(spans) != 1 {
		t.Fatalf("spans %v, want one", spans)
	}
	s := spans[0]
	if d := time.Duration(s.to - s.from); d < 150*time.Millisecond || time.Duration(s.from) > started ||
		time.Duration(s.to) > end+100*time.Millisecond {
		t.Fatalf("span %v–%v (%v) for a rewrite started by %v and seen ended at %v", time.Duration(s.from),
			time.Duration(s.to), d, started, end)
	}
}
