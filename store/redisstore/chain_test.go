package redisstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/internal/ids"
	"github.com/webhookd/webhookd/internal/testredis"
)

var _ delivery.Chainer = (*Store)(nil)

func ackNext(t *testing.T, s *Store, tk delivery.Task, now time.Time, opt delivery.ClaimOptions) *delivery.Task {
	t.Helper()
	next, err := s.AckNext(context.Background(), tk, delivery.Attempt{At: now, StatusCode: 200, Outcome: "success"}, now, opt)
	if err != nil {
		t.Fatalf("AckNext %s: %v", tk.DeliveryID, err)
	}
	return next
}

func assertStatus(t *testing.T, s *Store, tenant, id string, want delivery.Status, attempts int) {
	t.Helper()
	d, err := s.GetDelivery(context.Background(), tenant, id)
	if err != nil || d.Status != want || d.Attempts != attempts {
		t.Fatalf("delivery %s: %+v, %v; want %s after %d attempts", id, d, err, want, attempts)
	}
}

// TestAckNextChains: an endpoint at its in-flight cap with due work, and nothing else due: each ack hands the worker
// the endpoint's next task, leased as a claim leases it (first attempt, a fence of its own, the lease from now), its
// message already fetched. The cap still holds (no claim gets more), and once the lane is empty the ack chains
// nothing and the queue is empty.
func TestAckNextChains(t *testing.T) {
	srv := testredis.Start(t)
	s := openOn(t, redisURL(srv), srv.Prefix, Options{})
	defer s.Close()
	ds := publishN(t, s, "ten_a", 3, base, "ep_1")
	opt := delivery.ClaimOptions{Max: 10, Lease: time.Minute, MaxInFlight: 1}
	tk := mustClaim(t, s, base, opt, 1)[0]
	var seen []string
	for i := 1; i < 3; i++ {
		now := base.Add(time.Duration(i) * time.Second)
		next := ackNext(t, s, tk, now, opt)
		if next == nil {
			t.Fatalf("ack %d chained nothing; the endpoint has due work and nothing else is due", i)
		}
		assertStatus(t, s, "ten_a", tk.DeliveryID, delivery.StatusSucceeded, 1)
		if next.EndpointID != "ep_1" || next.TenantID != "ten_a" || next.Attempt != 1 || next.Fence == 0 ||
			next.DeliveryID == tk.DeliveryID || !next.LeaseUntil.Equal(now.Add(time.Minute)) {
			t.Fatalf("chained task %+v", next)
		}
		// The lease Redis holds ends exactly when the task says (a reclaim would otherwise come early or late).
		exp, err := s.rdb.ZScore(context.Background(), s.k.shardOf("ep_1").leases,
			fmt.Sprintf("%s %d", next.DeliveryID, next.Fence)).Result()
		if err != nil || int64(exp) != next.LeaseUntil.UnixMilli() {
			t.Fatalf("lease in Redis ends at %v (%v), task says %v", exp, err, next.LeaseUntil.UnixMilli())
		}
		if !s.claimed.Has(next.MessageID) && !s.recent.Has(next.MessageID) {
			t.Fatalf("chained task's message %s was not prefetched", next.MessageID)
		}
		// The chained task holds the endpoint's one slot: a claim gets nothing.
		mustClaim(t, s, now, opt, 0)
		seen = append(seen, tk.DeliveryID)
		tk = *next
	}
	if next := ackNext(t, s, tk, base.Add(3*time.Second), opt); next != nil {
		t.Fatalf("ack of the last task chained %+v", next)
	}
	seen = append(seen, tk.DeliveryID)
	want := []string{ds[0].ID, ds[1].ID, ds[2].ID}
	slices.Sort(seen)
	slices.Sort(want)
	if !slices.Equal(seen, want) {
		t.Fatalf("tasks %v, want each of %v once", seen, want)
	}
	for _, d := range ds {
		assertStatus(t, s, "ten_a", d.ID, delivery.StatusSucceeded, 1)
	}
	assertQueueEmpty(t, s)
}

// TestAckNextOnlyWhenNextClaimWould: an ack chains nothing while another endpoint of its shard waits for its turn,
// while the endpoint's next task is not due, or when the endpoint has a rate limit (claims keep the GCRA); the work
// is then the next claim's, which gets it. One shard, so that every endpoint shares it.
func TestAckNextOnlyWhenNextClaimWould(t *testing.T) {
	srv := testredis.Start(t)
	s := openOn(t, redisURL(srv), srv.Prefix, Options{Shards: 1})
	defer s.Close()
	ctx := t.Context()
	opt := delivery.ClaimOptions{Max: 1, Lease: time.Minute, MaxInFlight: 1}

	t.Run("another endpoint due", func(t *testing.T) {
		publishN(t, s, "ten_a", 4, base, "ep_a", "ep_b") // two each
		first := mustClaim(t, s, base, opt, 1)[0]
		if next := ackNext(t, s, first, base, opt); next != nil {
			t.Fatalf("ack chained %+v while the other endpoint was due", next)
		}
		// Fair: the next claim serves the other endpoint first.
		opt2 := opt
		opt2.Max = 2
		ts := mustClaim(t, s, base, opt2, 2)
		if ts[0].EndpointID == first.EndpointID || ts[1].EndpointID != first.EndpointID {
			t.Fatalf("after %s's ack, claim served %s then %s", first.EndpointID, ts[0].EndpointID, ts[1].EndpointID)
		}
		// Both at their cap, nothing else due: the other endpoint's ack chains its last task; the first endpoint's
		// lane is empty, so its ack chains nothing.
		next := ackNext(t, s, ts[0], base, opt)
		if next == nil || next.EndpointID != ts[0].EndpointID {
			t.Fatalf("ack of %s's task chained %+v", ts[0].EndpointID, next)
		}
		for _, tk := range []delivery.Task{*next, ts[1]} {
			if again := ackNext(t, s, tk, base, opt); again != nil {
				t.Fatalf("ack of %s's last task chained %+v", tk.EndpointID, again)
			}
		}
		assertQueueEmpty(t, s)
	})

	t.Run("next not due", func(t *testing.T) {
		m := newMessage("ten_a", base)
		ds := []*delivery.Delivery{newDelivery(m, "ep_c", base)}
		if _, _, _, err := s.Publish(ctx, m, ds, time.Time{}); err != nil {
			t.Fatal(err)
		}
		later := publishN(t, s, "ten_a", 1, base.Add(time.Hour), "ep_c")[0]
		tk := mustClaim(t, s, base, opt, 1)[0]
		if next := ackNext(t, s, tk, base, opt); next != nil {
			t.Fatalf("ack chained %+v, due in an hour", next)
		}
		mustClaim(t, s, base, opt, 0)
		if got := mustClaim(t, s, base.Add(time.Hour), opt, 1)[0]; got.DeliveryID != later.ID {
			t.Fatalf("claim at its due time got %s, want %s", got.DeliveryID, later.ID)
		}
	})

	t.Run("rate limited", func(t *testing.T) {
		publishN(t, s, "ten_a", 2, base, "ep_d")
		sk := s.k.shardOf("ep_d")
		if err := s.rdb.HSet(ctx, sk.rates, "ep_d", "1000,10").Err(); err != nil {
			t.Fatal(err)
		}
		tk := mustClaim(t, s, base, opt, 1)[0]
		if next := ackNext(t, s, tk, base, opt); next != nil {
			t.Fatalf("ack chained %+v for a rate-limited endpoint", next)
		}
		mustClaim(t, s, base, opt, 1)
	})
}

// TestAckNextLeaseLost: a zombie's AckNext (its lease was reclaimed) is refused and chains nothing; the delivery is
// the next claim's.
func TestAckNextLeaseLost(t *testing.T) {
	srv := testredis.Start(t)
	s := openOn(t, redisURL(srv), srv.Prefix, Options{})
	defer s.Close()
	ds := publishN(t, s, "ten_a", 2, base, "ep_1")
	opt := delivery.ClaimOptions{Max: 1, Lease: 30 * time.Second, MaxInFlight: 1}
	zombie := mustClaim(t, s, base, opt, 1)[0]
	now := base.Add(31 * time.Second)
	if n, _, err := s.Reclaim(t.Context(), now, 6, 100); err != nil || n != 1 {
		t.Fatalf("Reclaim: %d, %v", n, err)
	}
	next, err := s.AckNext(t.Context(), zombie, delivery.Attempt{At: now, StatusCode: 200}, now, opt)
	if !errors.Is(err, delivery.ErrLeaseLost) || next != nil {
		t.Fatalf("zombie AckNext: %+v, %v; want nothing and ErrLeaseLost", next, err)
	}
	got := mustClaim(t, s, now, delivery.ClaimOptions{Max: 2, Lease: time.Minute, MaxInFlight: 2}, 2)
	ids := []string{got[0].DeliveryID, got[1].DeliveryID}
	if !slices.Contains(ids, ds[0].ID) || !slices.Contains(ids, ds[1].ID) {
		t.Fatalf("claim after the zombie got %v, want both deliveries", ids)
	}
}

// TestAckNextConcurrentCap: workers that ack at once, in one batched script call, each get at most one chained task,
// and together never more than the cap allows; every delivery ends exactly once.
func TestAckNextConcurrentCap(t *testing.T) {
	srv := testredis.Start(t)
	s := openOn(t, redisURL(srv), srv.Prefix, Options{})
	defer s.Close()
	const total, cap = 60, 4
	publishN(t, s, "ten_a", total, base, "ep_1")
	opt := delivery.ClaimOptions{Max: 16, Lease: time.Minute, MaxInFlight: cap}
	var (
		mu     sync.Mutex
		acked  = map[string]int{}
		out    = cap
		maxOut = cap
	)
	var wg sync.WaitGroup
	for _, tk := range mustClaim(t, s, base, opt, cap) {
		wg.Go(func() {
			for next := &tk; next != nil; {
				mu.Lock()
				out--
				acked[next.DeliveryID]++
				mu.Unlock()
				var err error
				next, err = s.AckNext(context.Background(), *next, delivery.Attempt{At: base, StatusCode: 200}, base, opt)
				if err != nil {
					t.Error(err)
					return
				}
				if next != nil {
					mu.Lock()
					out++
					maxOut = max(maxOut, out)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if maxOut > cap {
		t.Fatalf("%d tasks out at once, cap %d", maxOut, cap)
	}
	if len(acked) != total {
		t.Fatalf("acked %d distinct deliveries, want %d", len(acked), total)
	}
	for id, n := range acked {
		if n != 1 {
			t.Fatalf("delivery %s acked %d times", id, n)
		}
	}
	assertQueueEmpty(t, s)
}

// TestAckNextCarriesMessage: on a single server, the ack's own script call brings the chained task's message, so
// the worker that attempts it next reads it from memory, and the gateway sends Redis nothing but that call, even for
// messages another replica published (no publish cache to hit).
func TestAckNextCarriesMessage(t *testing.T) {
	srv := testredis.Start(t)
	testAckNextMessage(t, redisURL(srv), srv.Prefix, true)
}

// commandLog is a go-redis hook that records the name of every command a client sends, pipelined or not.
type commandLog struct {
	mu    sync.Mutex
	names []string
}

func (h *commandLog) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *commandLog) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.add(cmd)
		return next(ctx, cmd)
	}
}

func (h *commandLog) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.add(cmds...)
		return next(ctx, cmds)
	}
}

func (h *commandLog) add(cmds ...redis.Cmder) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range cmds {
		h.names = append(h.names, c.Name())
	}
}

// take returns the names recorded since the last take.
func (h *commandLog) take() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := h.names
	h.names = nil
	return n
}

// testAckNextMessage: one replica publishes, another claims and acks with AckNext; each chained task's message is
// in the acking replica's memory, byte for byte as published, when AckNext returns. oneCall: the ack sent nothing
// but its script call (a single server); else the message was fetched after it (a Cluster).
func testAckNextMessage(t *testing.T, url, prefix string, oneCall bool) {
	pub := openOn(t, url, prefix, Options{})
	defer pub.Close()
	s, err := Open(t.Context(), url, pub.opt)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var log commandLog
	s.rdb.AddHook(&log)
	ep := ids.New("ep")
	published := map[string]*delivery.Message{}
	for i := range 3 {
		m := newMessage("ten_a", base)
		m.Data = json.RawMessage(fmt.Sprintf(`{"n":%d,"pad":%q}`, i, strings.Repeat("x", 1000+i)))
		if _, _, _, err := pub.Publish(t.Context(), m, []*delivery.Delivery{newDelivery(m, ep, base)}, time.Time{}); err != nil {
			t.Fatal(err)
		}
		published[m.ID] = m
	}
	opt := delivery.ClaimOptions{Max: 10, Lease: time.Minute, MaxInFlight: 1}
	tk := mustClaim(t, s, base, opt, 1)[0]
	for i := 1; i < 3; i++ {
		log.take()
		next := ackNext(t, s, tk, base, opt)
		if next == nil {
			t.Fatalf("ack %d chained nothing", i)
		}
		sent := log.take()
		if oneCall && slices.ContainsFunc(sent, func(c string) bool { return c != "evalsha" && c != "eval" }) {
			t.Fatalf("AckNext sent %v, want its script call alone (EVAL after NOSCRIPT)", sent)
		}
		if !oneCall && !slices.Contains(sent, "hmget") {
			t.Fatalf("AckNext sent %v, want the message fetched after the script", sent)
		}
		if !s.claimed.Has(next.MessageID) {
			t.Fatalf("chained task's message %s is not in memory", next.MessageID)
		}
		got, err := s.GetMessage(t.Context(), "ten_a", next.MessageID)
		if err != nil {
			t.Fatal(err)
		}
		if sent := log.take(); len(sent) != 0 {
			t.Fatalf("GetMessage of the chained task's message sent %v", sent)
		}
		want := published[next.MessageID]
		if want == nil || got.ID != want.ID || got.TenantID != want.TenantID || got.Type != want.Type ||
			!got.CreatedAt.Equal(want.CreatedAt) || !bytes.Equal(got.Data, want.Data) {
			t.Fatalf("chained task's message %+v, want %+v", got, want)
		}
		if _, err := s.GetMessage(t.Context(), "ten_b", next.MessageID); !errors.Is(err, delivery.ErrNotFound) {
			t.Fatalf("another tenant's GetMessage of it: %v, want ErrNotFound", err)
		}
		tk = *next
	}
}

// TestMessageKeyScript: the finish script builds a message's key (luaMessageKey) exactly as keys.go does, for
// every shard count's edge and ids of every length and character class.
func TestMessageKeyScript(t *testing.T) {
	srv := testredis.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	script := redis.NewScript(luaMessageKey + `
local out = {}
for i = 4, #ARGV do out[#out + 1] = message_key(ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[i]) end
return out
`)
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
	rng := rand.New(rand.NewPCG(1, 2))
	var idList []string
	for n := 1; n <= 64; n++ {
		b := make([]byte, n)
		for i := range b {
			b[i] = chars[rng.IntN(len(chars))]
		}
		idList = append(idList, string(b), ids.New("msg"))
	}
	for _, n := range []int{1, 2, 7, 64, 999} {
		k := newKeys(srv.Prefix+"wh:", n)
		before, after := k.messageKeyParts()
		args := []any{before, n, after}
		for _, id := range idList {
			args = append(args, id)
		}
		got, err := script.Run(t.Context(), rdb, nil, args...).StringSlice()
		if err != nil {
			t.Fatal(err)
		}
		for i, id := range idList {
			if want := k.msgShardOf(id).message(id); got[i] != want {
				t.Fatalf("shards %d, id %q: script built %q, keys.go %q", n, id, got[i], want)
			}
		}
	}
}

// TestChainFetchFollowsCache: a replica whose chained tasks' messages are already in its memory (here, because it
// published them a moment ago, as a fan-out's siblings have them) stops asking the finish script to read them after
// chainWindow chained tasks: its acks then cost Redis one read fewer each (a ZRANGE: these messages are kept inline,
// inline.go). Counted with INFO commandstats on a private server.
func TestChainFetchFollowsCache(t *testing.T) {
	srv := testredis.StartServer(t)
	s := openOn(t, redisURL(srv), "", Options{})
	defer s.Close()
	const extra = 20
	publishN(t, s, "ten_a", chainWindow+2*extra+1, base, "ep_1")
	opt := delivery.ClaimOptions{Max: 1, Lease: time.Minute, MaxInFlight: 1}
	tk := mustClaim(t, s, base, opt, 1)[0]
	// acks chains n tasks and returns the ZRANGE calls Redis ran meanwhile.
	acks := func(n int) int64 {
		before := commandCalls(t, srv, "zrange")
		for range n {
			next := ackNext(t, s, tk, base, opt)
			if next == nil {
				t.Fatal("the ack chained nothing")
			}
			tk = *next
		}
		return commandCalls(t, srv, "zrange") - before
	}
	reading := acks(extra)
	acks(chainWindow - extra)
	if s.fetches.want() {
		t.Fatalf("after %d chained tasks whose messages were all in memory, finishes still read them", chainWindow)
	}
	skipping := acks(extra)
	if reading-skipping != extra {
		t.Fatalf("%d acks ran %d ZRANGEs while reading messages and %d after, want %d fewer", extra, reading, skipping,
			extra)
	}
}

// TestChainFetchWindow: the decision changes only at the end of each window of chained tasks, to reading when fewer
// than half of them found their message in memory.
func TestChainFetchWindow(t *testing.T) {
	var c chainFetch
	if !c.want() {
		t.Fatal("a new Store does not read chained tasks' messages")
	}
	window := func(hits int) {
		for i := range chainWindow {
			c.observe(i < hits)
		}
	}
	window(chainWindow / 2)
	if c.want() {
		t.Fatal("still reading after a window in which half the messages were in memory")
	}
	window(chainWindow/2 - 1)
	if !c.want() {
		t.Fatal("not reading after a window in which fewer than half were in memory")
	}
	for range chainWindow - 1 {
		c.observe(true)
	}
	if !c.want() {
		t.Fatal("the decision changed before its window ended")
	}
	c.observe(true)
	if c.want() {
		t.Fatal("still reading after a window of hits")
	}
}

// commandCalls is how many times the server ran cmd (INFO commandstats), those scripts ran included.
func commandCalls(t *testing.T, srv *testredis.Server, cmd string) int64 {
	t.Helper()
	info, err := srv.Client.Info(t.Context(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(info, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_"+cmd+":calls="); ok {
			v, _, _ := strings.Cut(rest, ",")
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	return 0
}

// TestAckNextBelowCap: an endpoint below its in-flight cap (the workers, not the cap, bound it), taking turns alone in
// its shard, has its next task chained to an ack, and leaves turns once its lane is empty; once another endpoint of
// the shard is due, or the endpoint is held to one task in flight, the ack chains nothing and the work is the next
// claim's.
func TestAckNextBelowCap(t *testing.T) {
	srv := testredis.Start(t)
	s := openOn(t, redisURL(srv), srv.Prefix, Options{Shards: 1})
	defer s.Close()
	ctx := t.Context()
	opt := delivery.ClaimOptions{Max: 1, Lease: time.Minute, MaxInFlight: 64}

	publishN(t, s, "ten_a", 3, base, "ep_1")
	tk := mustClaim(t, s, base, opt, 1)[0]
	for i := range 2 {
		next := ackNext(t, s, tk, base, opt)
		if next == nil || next.EndpointID != "ep_1" {
			t.Fatalf("ack %d of an endpoint alone and below its cap chained %+v", i+1, next)
		}
		tk = *next
	}
	if next := ackNext(t, s, tk, base, opt); next != nil {
		t.Fatalf("ack of the last task chained %+v", next)
	}
	assertQueueEmpty(t, s)

	publishN(t, s, "ten_a", 2, base, "ep_1")
	tk = mustClaim(t, s, base, opt, 1)[0]
	publishN(t, s, "ten_a", 1, base, "ep_2")
	if next := ackNext(t, s, tk, base, opt); next != nil {
		t.Fatalf("ack chained %+v while another endpoint of the shard was due", next)
	}
	opt.Max = 10
	if got := mustClaim(t, s, base, opt, 2); got[0].EndpointID == got[1].EndpointID {
		t.Fatalf("the claim after the ack served %s twice", got[0].EndpointID)
	}

	publishN(t, s, "ten_a", 2, base, "ep_3")
	opt.Max = 1
	tk = mustClaim(t, s, base, opt, 1)[0]
	if err := s.HoldSlow(ctx, "ep_3", base.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if next := ackNext(t, s, tk, base, opt); next != nil {
		t.Fatalf("ack chained %+v for an endpoint held to one task in flight", next)
	}
}

// TestAckNextUnparksWhenLimitGrew: an endpoint parked at its adaptive limit (a claimer's lower limit) with work queued
// stays parked while acks chain its next tasks one for one. Once its limit has grown, the ack that chains also makes
// it due again, so that the next claim takes the room; before, it stayed at its old count in flight for as long as
// its lane lasted (a backlog that never caught up). One held to one task in flight stays parked.
func TestAckNextUnparksWhenLimitGrew(t *testing.T) {
	srv := testredis.Start(t)
	s := openOn(t, redisURL(srv), srv.Prefix, Options{Shards: 1})
	defer s.Close()
	ctx := t.Context()
	publishN(t, s, "ten_a", 5, base, "ep_1")
	claimAt := func(limit int) delivery.ClaimOptions {
		return delivery.ClaimOptions{Max: 10, Lease: time.Minute, MaxInFlight: 64, Limits: map[string]int{"ep_1": limit}}
	}
	chainAt := func(limit int) delivery.ClaimOptions {
		return delivery.ClaimOptions{Max: 1, Lease: time.Minute, MaxInFlight: limit} // the engine's endpointCap
	}
	parked := func() bool {
		_, err := s.rdb.ZScore(ctx, s.k.shardOf("ep_1").parked, "ep_1").Result()
		return err == nil
	}
	tk := mustClaim(t, s, base, claimAt(1), 1)[0]
	mustClaim(t, s, base, claimAt(1), 0)
	if !parked() {
		t.Fatal("an endpoint at its limit with work queued is not parked")
	}

	// The limit unchanged: the ack chains one for one, and the endpoint stays parked.
	next := ackNext(t, s, tk, base, chainAt(1))
	if next == nil {
		t.Fatal("the ack chained nothing")
	}
	if !parked() {
		t.Fatal("a chain one for one at the same limit unparked the endpoint")
	}
	mustClaim(t, s, base, claimAt(1), 0)

	// Its limit grew to 3: the ack still chains one, and the next claim takes the room of two.
	next2 := ackNext(t, s, *next, base, chainAt(3))
	if next2 == nil {
		t.Fatal("the ack chained nothing")
	}
	if parked() {
		t.Fatal("with room under its grown limit the endpoint is still parked")
	}
	got := mustClaim(t, s, base, claimAt(3), 2)
	if got[0].DeliveryID == next2.DeliveryID || got[1].DeliveryID == next2.DeliveryID {
		t.Fatalf("the claim handed out the chained task again: %+v", got)
	}
	if _, busy, _ := leaseState(t, s, &delivery.Delivery{ID: next2.DeliveryID, EndpointID: "ep_1"}); busy != 3 {
		t.Fatalf("in flight %d, want 3 (the grown limit)", busy)
	}
	mustClaim(t, s, base, claimAt(3), 0)

	// An endpoint held to one task in flight (HoldSlow) parks at the cap too, and stays parked when an ack chains its
	// next task, whatever room its cap leaves: a claim would only park it again.
	publishN(t, s, "ten_a", 3, base, "ep_h")
	if err := s.HoldSlow(ctx, "ep_h", base.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	th := mustClaim(t, s, base, claimAt(3), 1)[0]
	mustClaim(t, s, base, claimAt(3), 0)
	if next := ackNext(t, s, th, base, chainAt(64)); next == nil || next.EndpointID != "ep_h" {
		t.Fatalf("the held endpoint's ack chained %+v", next)
	}
	if _, err := s.rdb.ZScore(ctx, s.k.shardOf("ep_h").parked, "ep_h").Result(); err != nil {
		t.Fatalf("a held endpoint left parked after a chain: %v", err)
	}
	mustClaim(t, s, base, claimAt(3), 0)
}

// TestAckNextKeepsLaneBehindRecordless: a chain that drops an item without a record and leases the next one has read
// all it asked for, not the whole lane: the endpoint stays parked with its queued flag, so the ack of the chained task
// unparks it and the item behind is claimed (it was stranded when the chain called the lane empty).
func TestAckNextKeepsLaneBehindRecordless(t *testing.T) {
	srv := testredis.Start(t)
	s := openOn(t, redisURL(srv), srv.Prefix, Options{})
	defer s.Close()
	ds := publishN(t, s, "ten_a", 4, base, "ep_1")
	opt := delivery.ClaimOptions{Max: 10, Lease: time.Minute, MaxInFlight: 1}
	tk := mustClaim(t, s, base, opt, 1)[0] // ds[0]; ep_1 parks with three queued
	if err := s.rdb.Del(t.Context(), s.k.shardOf("ep_1").record(ds[1].ID)).Err(); err != nil {
		t.Fatal(err)
	}
	next := ackNext(t, s, tk, base.Add(time.Second), opt)
	if next == nil || next.DeliveryID != ds[2].ID {
		t.Fatalf("chained %+v, want %s (past the item without a record)", next, ds[2].ID)
	}
	if v := rawBusy(t, s, "ep_1"); v != 1+parkedFlag+queuedFlag {
		t.Fatalf("busy value %d, want 1 in flight, parked, work queued", v)
	}
	if err := s.Ack(t.Context(), *next, delivery.Attempt{At: base.Add(2 * time.Second), StatusCode: 200}); err != nil {
		t.Fatal(err)
	}
	if got := mustClaim(t, s, base.Add(3*time.Second), opt, 1); got[0].DeliveryID != ds[3].ID {
		t.Fatalf("claimed %s, want %s", got[0].DeliveryID, ds[3].ID)
	}
}
