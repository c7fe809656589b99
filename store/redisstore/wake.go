package redisstore

import (
	"context"
	"errors"
	"maps"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/webhookd/webhookd/delivery"
)

// Shard hints and wake-ups: how a Store finds due work without reading every shard at every claim, and how the
// replicas hear of work that another one made due.
//
// A Store keeps a hint per queue shard: when the shard next has work (Unix ms; noWork when none is known) and how
// many endpoints were due there at the last look. Claim runs claimScript only on the shards whose hint has come,
// with its budget split by those counts, and every reply carries the shard's new hint; this Store's own enqueues,
// nacks, releases, reclaims and acks (when an ack unparks an endpoint) lower the hint of their shard. Work that
// another process makes due arrives by a wake message: after an enqueue, a release or a reclaim (never before its
// script returned, so a receiver never looks too early) a Store PUBLISHes "<instance> <shard>:<ms> …" on P+"wake",
// coalescing what piles up while a PUBLISH is under way; Wakeups, which the delivery engine runs, subscribes, lowers
// the hints a message names and wakes the engine. NextDue is then the earliest hint, so an idle replica sends Redis
// nothing between probes.
//
// The hints are trusted only while a Wakeups subscription is confirmed and for Options.RescanEvery after a full
// probe (probeScript on every shard, one pipelined round); otherwise Claim probes first, as if there were no hints.
// A (re)subscription invalidates them, since messages may have been missed while it was down. The periodic probe
// covers what no message announces: a retry nacked by a process that died before the retry came due, an endpoint
// parked under a lower in-flight cap than another replica's, queue state that Redis restored after a crash, a
// PUBLISH that failed.
//
// A claim or probe reply can only raise a hint when nothing lowered that hint since the claim or probe began (a
// generation count per shard), so a wake-up that lands while a claim is under way is never overwritten by the
// claim's older view.

// Compile-time check: the engine listens to the Store's wake-ups.
var _ delivery.WakeSource = (*Store)(nil)

// noWork is the hint of a shard with nothing waiting (as far as the Store knows).
const noWork = math.MaxInt64

// defaultRescanEvery applies when Options.RescanEvery is zero.
const defaultRescanEvery = 15 * time.Second

type hint struct {
	next int64  // ms when the shard next has work; noWork for none
	due  int64  // endpoints due at the last look
	gen  uint64 // bumped by every lower
}

// shardHints are a Store's hints, safe for concurrent use.
type shardHints struct {
	mu    sync.Mutex
	h     []hint
	epoch uint64    // bumped by invalidate: a probe that began before it vouches for nothing
	fresh time.Time // when the last full probe of the current epoch ended (wall clock); zero: none
}

func newShardHints(n int) *shardHints { return &shardHints{h: make([]hint, n)} }

// lower records that shard has work at ms at (or earlier).
func (sh *shardHints) lower(shard int, at int64) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	h := &sh.h[shard]
	h.gen++
	h.next = min(h.next, at)
	h.due = max(h.due, 1)
}

// set records what a claim or probe begun at generation gen saw of shard: it replaces the hint when nothing lowered
// it since, else it may only lower it.
func (sh *shardHints) set(shard int, gen uint64, next, due int64) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.setLocked(shard, gen, next, due)
}

func (sh *shardHints) setLocked(shard int, gen uint64, next, due int64) {
	h := &sh.h[shard]
	if h.gen == gen {
		h.next, h.due = next, due
		return
	}
	h.next = min(h.next, next)
	h.due = max(h.due, due)
}

// dueBy lists the shards whose hint has come by now, with their due counts (at least 1) and generations.
func (sh *shardHints) dueBy(now int64) (shards []int, due []int64, gens []uint64) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for i, h := range sh.h {
		if h.next <= now {
			shards, due, gens = append(shards, i), append(due, max(h.due, 1)), append(gens, h.gen)
		}
	}
	return shards, due, gens
}

// earliest returns the lowest hint (noWork when none).
func (sh *shardHints) earliest() int64 {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	best := int64(noWork)
	for _, h := range sh.h {
		best = min(best, h.next)
	}
	return best
}

// invalidate makes the hints untrusted until the next full probe that begins after it.
func (sh *shardHints) invalidate() {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.epoch++
	sh.fresh = time.Time{}
}

// trusted reports whether the hints may stand in for a probe: a subscription is live and a probe ended less than
// every ago.
func (sh *shardHints) trusted(live bool, every time.Duration) bool {
	if !live {
		return false
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return !sh.fresh.IsZero() && time.Since(sh.fresh) < every
}

// beginProbe snapshots the epoch and every generation before a full probe.
func (sh *shardHints) beginProbe() (uint64, []uint64) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	gens := make([]uint64, len(sh.h))
	for i, h := range sh.h {
		gens[i] = h.gen
	}
	return sh.epoch, gens
}

// endProbe records a full probe's replies, and makes the hints fresh unless they were invalidated meanwhile.
func (sh *shardHints) endProbe(epoch uint64, gens []uint64, next, due []int64) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for i := range sh.h {
		sh.setLocked(i, gens[i], next[i], due[i])
	}
	if sh.epoch == epoch {
		sh.fresh = time.Now()
	}
}

// hintsTrusted reports whether Claim and NextDue may use the hints alone.
func (s *Store) hintsTrusted() bool {
	return s.hints.trusted(s.live.Load() > 0, s.opt.RescanEvery)
}

// probe runs probeScript on every shard (one pipelined round) and records the replies as the hints.
//
// On a single server one EXISTS of every shard's turns, ready and parked comes first: when none exists (an idle
// queue, or one whose publishes lease their deliveries on the spot) it is the whole probe, one command.
func (s *Store) probe(ctx context.Context, nowMS int64, capPerEndpoint int) error {
	epoch, gens := s.hints.beginProbe()
	if _, one := s.rdb.(*redis.Client); one {
		keys := make([]string, 0, 3*len(s.k.shards))
		for i := range s.k.shards {
			sk := &s.k.shards[i]
			keys = append(keys, sk.turns, sk.ready, sk.parked)
		}
		n, err := s.rdb.Exists(ctx, keys...).Result()
		if err != nil {
			return err
		}
		if n == 0 {
			next, due := make([]int64, len(s.k.shards)), make([]int64, len(s.k.shards))
			for i := range next {
				next[i] = noWork
			}
			s.hints.endProbe(epoch, gens, next, due)
			return nil
		}
	}
	calls := make([]scriptCall, len(s.k.shards))
	for i := range s.k.shards {
		calls[i] = scriptCall{probeScript, s.k.shards[i].queue(), []any{nowMS, max(capPerEndpoint, 0)}}
	}
	cmds, err := s.runScripts(ctx, calls)
	if err != nil {
		return err
	}
	next, due := make([]int64, len(cmds)), make([]int64, len(cmds))
	for i, c := range cmds {
		v, err := c.Slice()
		if err != nil || len(v) != 2 {
			return errors.New("probe: bad reply")
		}
		n, _ := v[0].(int64)
		at, _ := v[1].(string)
		due[i], next[i] = n, parseHint(at)
	}
	s.hints.endProbe(epoch, gens, next, due)
	return nil
}

// parseHint reads a script's "ms when next due" ("" for none).
func parseHint(v string) int64 {
	if v == "" {
		return noWork
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0 // unreadable: look again at the next claim
	}
	return int64(math.Floor(f))
}

// madeDue lowers shard's hint to at and, when announce is set, queues a wake message for the other Stores.
func (s *Store) madeDue(shard int, at int64, announce bool) {
	s.hints.lower(shard, at)
	if !announce {
		return
	}
	a := &s.ann
	a.mu.Lock()
	if cur, ok := a.pending[shard]; !ok || at < cur {
		a.pending[shard] = at
	}
	a.mu.Unlock()
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// announcer publishes wake messages from one goroutine, so that what piles up during a PUBLISH goes in the next.
type announcer struct {
	mu      sync.Mutex
	pending map[int]int64 // shard → earliest ms announced
	kick    chan struct{}
	quit    chan struct{}
	done    chan struct{}
}

func (a *announcer) init() {
	a.pending = map[int]int64{}
	a.kick = make(chan struct{}, 1)
	a.quit = make(chan struct{})
	a.done = make(chan struct{})
}

// announceLoop publishes until Close, then flushes once more.
func (s *Store) announceLoop() {
	a := &s.ann
	defer close(a.done)
	for {
		select {
		case <-a.kick:
			s.flushAnnouncements()
		case <-a.quit:
			s.flushAnnouncements()
			return
		}
	}
}

// flushAnnouncements publishes what is pending. A failed PUBLISH is dropped: the other Stores' periodic probe finds
// the work (Options.RescanEvery).
func (s *Store) flushAnnouncements() {
	a := &s.ann
	a.mu.Lock()
	pending := a.pending
	a.pending = map[int]int64{}
	a.mu.Unlock()
	if len(pending) == 0 {
		return
	}
	var b strings.Builder
	b.WriteString(s.inst)
	for _, shard := range slices.Sorted(maps.Keys(pending)) {
		b.WriteByte(' ')
		b.WriteString(strconv.Itoa(shard))
		b.WriteByte(':')
		b.WriteString(strconv.FormatInt(pending[shard], 10))
	}
	// Not on a request's path: the write that made the work due has returned already.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = s.rdb.Publish(ctx, s.k.wake(), b.String()).Err()
}

// Wakeups subscribes to the Stores' wake messages until ctx ends, and returns a channel that receives a value (it
// holds at most one) whenever another Store announced work, or the subscription was (re)established and work may
// have been missed; it is closed after ctx ends. While a subscription is confirmed, Claim and NextDue rely on the
// shard hints (see above) instead of reading every shard; when it drops they read every shard again until it is
// back. The delivery engine calls Wakeups when it starts.
func (s *Store) Wakeups(ctx context.Context) <-chan struct{} {
	c := make(chan struct{}, 1)
	go s.listen(ctx, c)
	return c
}

func (s *Store) listen(ctx context.Context, c chan<- struct{}) {
	defer close(c)
	wake := func() {
		select {
		case c <- struct{}{}:
		default:
		}
	}
	ps := s.rdb.Subscribe(ctx, s.k.wake())
	defer ps.Close()
	// A blocked receive does not watch ctx: closing the subscription ends it.
	stop := context.AfterFunc(ctx, func() { ps.Close() })
	defer stop()
	live := false
	setLive := func(v bool) {
		if v != live {
			live = v
			if v {
				s.live.Add(1)
			} else {
				s.live.Add(-1)
			}
		}
	}
	defer setLive(false)
	backoff := 50 * time.Millisecond
	for {
		msg, err := ps.ReceiveTimeout(ctx, 30*time.Second)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
				_ = ps.Ping(ctx) // a dead connection fails here and is redialled by the next receive
				continue
			}
			if errors.Is(err, redis.ErrClosed) {
				return
			}
			setLive(false)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				// Messages may have gone by while there was no subscription: look at every shard before trusting
				// the hints again.
				s.hints.invalidate()
				s.horizons.reset() // and Redis may have restored leases that no scan saw
				setLive(true)
				wake()
			}
		case *redis.Message:
			if s.applyWake(m.Payload) {
				wake()
			}
		}
	}
}

// applyWake lowers the hints a wake message names; it ignores this Store's own messages (its hints are lowered
// already) and reports whether it used the message.
func (s *Store) applyWake(payload string) bool {
	fields := strings.Fields(payload)
	if len(fields) < 2 || fields[0] == s.inst {
		return false
	}
	used := false
	for _, f := range fields[1:] {
		a, b, ok := strings.Cut(f, ":")
		shard, err1 := strconv.Atoi(a)
		at, err2 := strconv.ParseInt(b, 10, 64)
		if !ok || err1 != nil || err2 != nil || shard < 0 || shard >= len(s.k.shards) {
			continue
		}
		s.hints.lower(shard, at)
		used = true
	}
	return used
}

// beginGen returns shard's generation, for a claim that skips dueBy.
func (sh *shardHints) beginGen(shard int) uint64 {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.h[shard].gen
}
