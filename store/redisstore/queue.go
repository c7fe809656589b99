package redisstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/store/internal/recjson"
)

// defaultLease applies when ClaimOptions.Lease is zero.
const defaultLease = 30 * time.Second

// Enqueue schedules deliveries at their NextAttemptAt (now when zero) and writes their records and log indexes:
// replays, new deliveries of a stored message. A delivery whose message the tenant does not have is refused with
// delivery.ErrNotFound (and nothing is written). It is idempotent: a delivery whose record exists is left alone.
func (s *Store) Enqueue(ctx context.Context, ds []*delivery.Delivery) error {
	if len(ds) == 0 {
		return nil
	}
	if err := s.checkMessages(ctx, ds); err != nil {
		return err
	}
	// enqueueScript tells an existing delivery by its endpoint's own index, which does not list the deliveries a
	// publish script enqueued itself: those are found by their records here (not a hot path: replays, and the
	// completion of a retried publish).
	pipe := s.rdb.Pipeline()
	exists := make([]*redis.IntCmd, len(ds))
	for i, d := range ds {
		exists[i] = pipe.Exists(ctx, s.k.shardOf(d.EndpointID).record(d.ID))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("redisstore: enqueue: look for records: %w", err)
	}
	fresh := ds[:0:0]
	for i, d := range ds {
		if exists[i].Val() == 0 {
			fresh = append(fresh, d)
		}
	}
	if ds = fresh; len(ds) == 0 {
		return nil
	}
	pipe = s.rdb.Pipeline()
	for _, d := range ds {
		pipe.ZAdd(ctx, s.k.tenantDeliveries(d.TenantID), redis.Z{Member: pair(d.ID, d.EndpointID)})
		pipe.ZAdd(ctx, s.k.msgShardOf(d.MessageID).messageDeliveries(d.MessageID), redis.Z{Member: pair(d.ID, d.EndpointID)})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("redisstore: enqueue: index: %w", err)
	}
	return s.enqueue(ctx, ds)
}

// checkMessages makes sure every delivery's message exists and is its tenant's (one pipelined round).
func (s *Store) checkMessages(ctx context.Context, ds []*delivery.Delivery) error {
	pipe := s.rdb.Pipeline()
	owners := map[string]*redis.StringCmd{}
	inline := map[[2]string]*redis.StringSliceCmd{} // tenant and message → its inline member
	for _, d := range ds {
		if d == nil {
			return fmt.Errorf("redisstore: enqueue: nil delivery")
		}
		if _, ok := owners[d.MessageID]; !ok && validID(d.MessageID) {
			owners[d.MessageID] = pipe.HGet(ctx, s.k.msgShardOf(d.MessageID).message(d.MessageID), "tenant")
		}
		if k := [2]string{d.TenantID, d.MessageID}; inline[k] == nil && validID(d.MessageID) {
			inline[k] = s.readInline(ctx, pipe, d.TenantID, d.MessageID)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("redisstore: enqueue: check messages: %w", err)
	}
	for _, d := range ds {
		if inlineOf(inline[[2]string{d.TenantID, d.MessageID}]) != nil {
			continue // kept inline in its tenant's index: the tenant's
		}
		if c := owners[d.MessageID]; c == nil || c.Val() != d.TenantID {
			return fmt.Errorf("redisstore: enqueue %s: message %s of tenant %s: %w", d.ID, d.MessageID, d.TenantID, delivery.ErrNotFound)
		}
	}
	return nil
}

// enqueueArgs are a delivery's 10 arguments to enqueueScript and publishScript: id, endpoint, tenant, message, event
// type, attempts, due ms (an int64: NextAttemptAt, else CreatedAt, else now), next ns, created ns, updated ns.
func enqueueArgs(d *delivery.Delivery, now time.Time) [10]any {
	due := cmp.Or(d.NextAttemptAt, d.CreatedAt, now)
	return [10]any{d.ID, d.EndpointID, d.TenantID, d.MessageID, d.EventType, d.Attempts, ms(due),
		nsString(d.NextAttemptAt), nsString(d.CreatedAt), nsString(cmp.Or(d.UpdatedAt, d.CreatedAt))}
}

// enqueue runs enqueueScript for ds, batched with concurrent publishes' enqueues: one call per shard (batch.go).
func (s *Store) enqueue(ctx context.Context, ds []*delivery.Delivery) error {
	ds, ordered := splitOrdered(ds)
	if len(ordered) > 0 {
		if err := s.enqueueOrdered(ctx, ordered); err != nil {
			return err
		}
		if len(ds) == 0 {
			return nil
		}
	}
	now := s.now()
	items := make([]*batchItem, len(ds))
	for i, d := range ds {
		if !validID(d.ID) || !validID(d.EndpointID) || !validID(d.MessageID) || !validID(d.TenantID) {
			return fmt.Errorf("redisstore: enqueue: delivery %q: ids must be 1 to 64 of [A-Za-z0-9_-]", d.ID)
		}
		sk := s.k.shardOf(d.EndpointID)
		items[i] = &batchItem{shard: sk.num, keys: [3]string{sk.record(d.ID), sk.endpointDeliveries(d.EndpointID)}}
		a := enqueueArgs(d, now)
		copy(items[i].args[:], a[:])
	}
	err := s.enqueues.run(ctx, items...)
	// Announced even after an error: some scripts may have run, and a wake-up for nothing costs one look.
	first := map[int]int64{}
	for i, d := range ds {
		s.queued.mark(d.EndpointID, now)
		num := items[i].shard
		at := ms(cmp.Or(d.NextAttemptAt, d.CreatedAt, now))
		if f, ok := first[num]; !ok || at < f {
			first[num] = at
		}
		if err == nil {
			err = items[i].err
		}
	}
	for num, at := range first {
		s.madeDue(num, at, true)
	}
	if err != nil {
		return fmt.Errorf("redisstore: enqueue: %w", err)
	}
	return nil
}

// Claim leases up to opt.Max due deliveries. It runs claimScript on the shards whose hint says work is due (see
// wake.go), in a random order with the budget split among them by their due endpoint counts, in one pipelined round,
// so that no shard starves and one claim can span shards; each reply updates its shard's hint. Without trusted hints
// (no Wakeups running, or the last probe is older than Options.RescanEvery) one more pipelined round first probes
// every shard. Tasks that publishes leased on the spot (Options.LeaseOnPublish) come first, from memory.
func (s *Store) Claim(ctx context.Context, now time.Time, opt delivery.ClaimOptions) ([]delivery.Task, error) {
	if opt.Max <= 0 {
		return nil, nil
	}
	lease := cmp.Or(opt.Lease, defaultLease)
	s.horizons.noteLease(max(lease.Milliseconds(), 1))
	pre, stale := s.pre.claim(now, opt, lease)
	if len(stale) > 0 {
		s.releaseAll(ctx, stale, now)
	}
	if len(pre) == 0 {
		return s.claim(ctx, now, opt)
	}
	opt.Max -= len(pre)
	if opt.Max == 0 {
		return pre, nil
	}
	tasks, err := s.claim(ctx, now, opt)
	if err != nil && len(tasks) == 0 {
		return pre, nil // the tasks in hand go now; the next claim meets the error again
	}
	return append(pre, tasks...), err
}

// claim is Claim from the queue in Redis.
func (s *Store) claim(ctx context.Context, now time.Time, opt delivery.ClaimOptions) ([]delivery.Task, error) {
	lease := cmp.Or(opt.Lease, defaultLease)
	leaseMS := max(lease.Milliseconds(), 1)
	nowMS := ms(now)

	var (
		shards []int
		due    []int64
		gens   []uint64
	)
	switch {
	case len(s.k.shards) == 1 && !s.hintsTrusted():
		shards, due, gens = []int{0}, []int64{int64(opt.Max)}, []uint64{s.hints.beginGen(0)}
	default:
		if !s.hintsTrusted() {
			if err := s.probe(ctx, nowMS, opt.MaxInFlight); err != nil {
				return nil, fmt.Errorf("redisstore: claim: %w", err)
			}
		}
		shards, due, gens = s.hints.dueBy(nowMS)
	}
	if len(shards) == 0 {
		return nil, nil
	}

	// Split the budget: each shard in random order gets up to its due endpoint count, and what is left goes round
	// robin to the shards with due work (their endpoints may have more than one due item).
	order := rand.Perm(len(shards))
	alloc := make([]int, len(shards))
	left := opt.Max
	var active []int // indexes into shards
	for _, i := range order {
		if left == 0 {
			break
		}
		a := int(min(due[i], int64(left)))
		alloc[i], left = a, left-a
		active = append(active, i)
	}
	for j := 0; left > 0 && len(active) > 0; j++ {
		alloc[active[j%len(active)]]++
		left--
	}

	// The claimer's lower limits (opt.Limits) go to the shards of their endpoints, as endpoint and limit pairs.
	var limits map[int][]any
	for ep, n := range opt.Limits {
		if opt.MaxInFlight > 0 && n >= opt.MaxInFlight {
			continue
		}
		if limits == nil {
			limits = make(map[int][]any)
		}
		num := s.k.shardOf(ep).num
		limits[num] = append(limits[num], ep, max(n, 1))
	}
	calls := make([]scriptCall, len(active))
	for j, i := range active {
		sk := &s.k.shards[shards[i]]
		args := []any{nowMS, alloc[i], leaseMS, max(opt.MaxInFlight, 0), 4*alloc[i] + 32, sk.recordPrefix()}
		calls[j] = scriptCall{claimScript, sk.queue(sk.rates, sk.gcra), append(args, limits[sk.num]...)}
	}
	cmds, err := s.runScripts(ctx, calls)
	if err != nil {
		s.hints.invalidate() // Redis may have lost or restored state: probe before trusting the hints again
		return nil, fmt.Errorf("redisstore: claim: %w", err)
	}
	until := now.Add(lease)
	marked := s.now() // the Store's clock, as the acks that read the marks use it, not the caller's now
	var tasks []delivery.Task
	for j, c := range cmds {
		i := active[j]
		vals, err := c.StringSlice()
		if err != nil || len(vals) < 2 || (len(vals)-2)%6 != 0 {
			s.hints.invalidate()
			return tasks, fmt.Errorf("redisstore: claim: reply %q: %v", vals, err)
		}
		n := len(vals) - 2
		for k := 0; k < n; k += 6 {
			att, err1 := strconv.Atoi(vals[k+4])
			fence, err2 := strconv.ParseUint(vals[k+5], 10, 64)
			if err1 != nil || err2 != nil {
				return tasks, fmt.Errorf("redisstore: claim: bad reply %q", vals[k:k+6])
			}
			s.queued.mark(vals[k+1], marked)
			tasks = append(tasks, delivery.Task{
				DeliveryID: vals[k], EndpointID: vals[k+1], TenantID: vals[k+2], MessageID: vals[k+3],
				Attempt: att, Fence: fence, LeaseUntil: until,
			})
		}
		dueLeft, _ := strconv.ParseInt(vals[n], 10, 64)
		s.hints.set(shards[i], gens[i], parseHint(vals[n+1]), dueLeft)
	}
	s.prefetch(ctx, tasks)
	return tasks, nil
}

// prefetch loads, in one pipelined round, the messages of claimed tasks that neither cache holds, into the claimed
// cache: the workers that attempt these tasks call GetMessage moments later, and a round trip each was the largest
// cost of a deep backlog's delivery (when every message is older than the publish cache). Best effort: what it
// cannot load, GetMessage reads itself.
func (s *Store) prefetch(ctx context.Context, tasks []delivery.Task) {
	tasks = s.uncached(tasks)
	if s.onePublish && len(tasks) > 0 {
		// Where publishes keep most messages inline (inline.go): read those first, and the rest from their hashes.
		tasks = s.prefetchInline(ctx, tasks)
	}
	if len(tasks) == 0 {
		return
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.SliceCmd, len(tasks))
	for i, t := range tasks {
		cmds[i] = pipe.HMGet(ctx, s.k.msgShardOf(t.MessageID).message(t.MessageID), "m", "data")
	}
	_, _ = pipe.Exec(ctx) // errors are per command: a failed one is left to GetMessage
	for i, c := range cmds {
		if vals, err := c.Result(); err == nil && len(vals) == 2 {
			if m, err := decodeMessage(tasks[i].MessageID, vals[0], vals[1]); err == nil {
				s.claimed.Keep(m)
			}
		}
	}
}

// uncached returns one task per message of tasks that neither message cache holds.
func (s *Store) uncached(tasks []delivery.Task) []delivery.Task {
	var (
		out  []delivery.Task
		seen map[string]bool
	)
	for _, t := range tasks {
		id := t.MessageID
		if seen[id] || s.recent.Has(id) || s.claimed.Has(id) {
			continue
		}
		if seen == nil {
			seen = map[string]bool{}
		}
		seen[id] = true
		out = append(out, t)
	}
	return out
}

// prefetchInline is prefetch for the messages kept inline: it returns the tasks whose message it did not find so.
func (s *Store) prefetchInline(ctx context.Context, tasks []delivery.Task) []delivery.Task {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringSliceCmd, len(tasks))
	for i, t := range tasks {
		cmds[i] = s.readInline(ctx, pipe, t.TenantID, t.MessageID)
	}
	_, _ = pipe.Exec(ctx)
	var rest []delivery.Task
	for i, t := range tasks {
		if im := inlineOf(cmds[i]); im != nil {
			if m, err := decodeMessage(im.id, im.mj, im.data); err == nil {
				s.claimed.Keep(m)
				continue
			}
		}
		rest = append(rest, t)
	}
	return rest
}

// attemptJSON renders a for the attempts list, filling what the task knows.
func attemptJSON(t delivery.Task, a delivery.Attempt) (string, error) {
	a.DeliveryID = cmp.Or(a.DeliveryID, t.DeliveryID)
	a.N = cmp.Or(a.N, t.Attempt)
	b, err := recjson.AppendAttempt(nil, &a) // json.Marshal's bytes, without reflection: one is written per attempt
	return string(b), err
}

// leaseResult turns a script's 1/2/0 reply into nil or ErrLeaseLost, and tells whether the script unparked the
// task's endpoint (reply 2: work of that endpoint is due again).
func leaseResult(op string, t delivery.Task, cmd *redis.Cmd) (woke bool, err error) {
	v, err := cmd.Int64()
	return leaseReply(op, t, v, err)
}

// leaseReply is leaseResult for a reply already read.
func leaseReply(op string, t delivery.Task, v int64, err error) (woke bool, _ error) {
	if err != nil {
		return false, fmt.Errorf("redisstore: %s %s: %w", op, t.DeliveryID, err)
	}
	if v != 1 && v != 2 {
		return false, fmt.Errorf("redisstore: %s %s (fence %d): %w", op, t.DeliveryID, t.Fence, delivery.ErrLeaseLost)
	}
	return v == 2, nil
}

func (s *Store) updatedAt(a delivery.Attempt) time.Time {
	if !a.At.IsZero() {
		return a.At.Add(a.Latency)
	}
	return s.now()
}

// Ack records a successful attempt and ends the delivery.
func (s *Store) Ack(ctx context.Context, t delivery.Task, a delivery.Attempt) error {
	_, err := s.finish(ctx, "ack", t, a, delivery.StatusSucceeded, nil)
	return err
}

// AckNext is Ack that may also lease the endpoint's next task due at now to the caller, in the same script call: when
// the next claim would serve this endpoint anyway (nothing else is due, the endpoint is at its in-flight cap
// opt.MaxInFlight, and it has no rate limit; finishScript). The task's message comes back in the same call on a
// single server, and is prefetched like a claim's on a Cluster, so GetMessage finds it in memory. It returns nil
// without a chained task.
func (s *Store) AckNext(ctx context.Context, t delivery.Task, a delivery.Attempt, now time.Time, opt delivery.ClaimOptions) (*delivery.Task, error) {
	return s.finish(ctx, "ack", t, a, delivery.StatusSucceeded, &chainAt{now, opt})
}

// chainAt is what a finish that may chain needs: the claim's now and options.
type chainAt struct {
	now time.Time
	opt delivery.ClaimOptions
}

// Fail records a final attempt and ends the delivery with status StatusFailed or StatusDead.
func (s *Store) Fail(ctx context.Context, t delivery.Task, a delivery.Attempt, status delivery.Status) error {
	if status != delivery.StatusFailed && status != delivery.StatusDead {
		return fmt.Errorf("redisstore: fail %s: status %q: want failed or dead", t.DeliveryID, status)
	}
	_, err := s.finish(ctx, "fail", t, a, status, nil)
	return err
}

// finish runs finishScript for t, batched with other workers' finishes: one script call per shard, one pipeline
// (batch.go). With chain, the script may lease the endpoint's next task to the caller (finishScript), which finish
// returns.
func (s *Store) finish(ctx context.Context, op string, t delivery.Task, a delivery.Attempt, status delivery.Status, chain *chainAt) (*delivery.Task, error) {
	js, err := attemptJSON(t, a)
	if err != nil {
		return nil, fmt.Errorf("redisstore: %s %s: %w", op, t.DeliveryID, err)
	}
	sk := s.k.shardOf(t.EndpointID)
	upd := s.updatedAt(a)
	var nowMS, leaseMS int64 // nowMS 0: no chaining
	capacity := 0
	now := s.now()
	mark, marked := s.queued.seen(t.EndpointID, now)
	if !marked {
		chain = nil // nothing of the endpoint seen queued lately: nothing to chain (lanemarks.go)
	}
	if chain != nil {
		nowMS = max(ms(chain.now), 1)
		leaseMS = max(cmp.Or(chain.opt.Lease, defaultLease).Milliseconds(), 1)
		capacity = max(chain.opt.MaxInFlight, 0)
	}
	it := &batchItem{shard: sk.num, keys: [3]string{sk.record(t.DeliveryID)},
		args: [14]any{t.DeliveryID, t.Fence, string(status), cmp.Or(a.N, t.Attempt), a.StatusCode, a.Error,
			nsString(upd), js, ms(upd), t.TenantID, nowMS, leaseMS, capacity, t.EndpointID}}
	if chain == nil && !marked && s.ride.likely(now.UnixNano()) {
		it.done = make(chan struct{})
		s.ride.add(it)
		err = wait(ctx, []*batchItem{it})
	} else {
		err = s.finishes.run(ctx, it)
	}
	if err == nil {
		err = it.err
	}
	if err == nil && it.res == idleReply {
		s.queued.clear(t.EndpointID, mark) // its lane is empty: the next acks ride again
		it.res = 1
	}
	if err == nil && it.res == chainedDueReply {
		s.madeDue(sk.num, 0, false) // room under the endpoint's cap: the next claim takes it
	}
	if err == nil && isChained(it.res) {
		s.queued.mark(t.EndpointID, s.now())
		// The script leased it from this finish's now (chain.now), whatever the now of others in its call.
		next, perr := chainedTask(t, it, chain.now, leaseMS)
		if perr != nil {
			return nil, fmt.Errorf("redisstore: %s %s: %w", op, t.DeliveryID, perr)
		}
		return next, nil
	}
	woke, err := leaseReply(op, t, it.res, err)
	if woke {
		// Its endpoint has work due again, at once; the next claim's reply says exactly when.
		s.queued.mark(t.EndpointID, s.now())
		s.madeDue(sk.num, 0, false)
	}
	return nil, err
}

// chainedTask is the task finishScript chained to t's finish (it.next: delivery, tenant, message, attempt, fence),
// leased from now.
func chainedTask(t delivery.Task, it *batchItem, now time.Time, leaseMS int64) (*delivery.Task, error) {
	att, err1 := strconv.Atoi(it.next[3])
	fence, err2 := strconv.ParseUint(it.next[4], 10, 64)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("bad chained task %q", it.next[:5])
	}
	return &delivery.Task{DeliveryID: it.next[0], TenantID: it.next[1], MessageID: it.next[2], EndpointID: t.EndpointID,
		Attempt: att, Fence: fence, LeaseUntil: now.Add(time.Duration(leaseMS) * time.Millisecond)}, nil
}

// settleChained makes sure the messages of the tasks a batch of finishes chained are in memory, since the workers ask
// GetMessage for them next: those already cached stay, those finishScript read (a single server) go in the claimed
// cache, and the rest are prefetched in one pipelined round, as Claim does for the tasks it hands out. Whether each
// was cached already is what decides if the next calls ask the script for them (chainFetch).
func settleChained(ctx context.Context, s *Store, items []*batchItem) {
	var tasks []delivery.Task
	for _, it := range items {
		if it.err != nil || !isChained(it.res) {
			continue
		}
		id := it.next[2]
		cached := s.recent.Has(id) || s.claimed.Has(id)
		s.fetches.observe(cached)
		if cached {
			continue
		}
		if m, err := decodeMessage(id, it.next[5], it.next[6]); err == nil {
			s.claimed.Keep(m)
		} else {
			tasks = append(tasks, delivery.Task{TenantID: it.next[1], MessageID: id})
		}
	}
	if len(tasks) > 0 {
		s.prefetch(ctx, tasks)
	}
}

// finishTail is the finish script's last 5 arguments for a batch: the message key's parts, the shard count and the
// tenant index key's parts when the script is to read the messages of the tasks it chains, else "", 0, "", "", ""
// (always on a Cluster, where messages live in other slots).
func finishTail(s *Store) func(*Store) []any {
	none := []any{"", 0, "", "", ""}
	if !s.onePublish {
		return func(*Store) []any { return none }
	}
	before, after := s.k.messageKeyParts()
	tbefore, tafter := s.k.tenantDeliveriesParts()
	read := []any{before, s.opt.Shards, after, tbefore, tafter}
	return func(s *Store) []any {
		if s.fetches.want() {
			return read
		}
		return none
	}
}

// chainFetch decides whether finish calls ask the script for the messages of the tasks they chain (a single server).
// Reading one there saves a round trip when the gateway does not hold it: one endpoint's backlog, older than the
// publish cache, chains message after message. It is wasted work when the gateway does: a fan-out's deliveries of one
// message chain one after another on their endpoints, and the first read serves the rest. So the decision follows
// what the last chainWindow chained tasks found: read while fewer than half of their messages were in memory.
type chainFetch struct {
	skip       atomic.Bool // false (the start): read
	mu         sync.Mutex
	seen, hits int
}

const chainWindow = 256

func (c *chainFetch) want() bool { return !c.skip.Load() }

// observe counts one chained task whose message was (hit) or was not in memory before its finish returned.
func (c *chainFetch) observe(hit bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen++
	if hit {
		c.hits++
	}
	if c.seen == chainWindow {
		c.skip.Store(2*c.hits >= c.seen)
		c.seen, c.hits = 0, 0
	}
}

// Nack records a failed attempt and schedules the next at retryAt.
func (s *Store) Nack(ctx context.Context, t delivery.Task, a delivery.Attempt, retryAt time.Time) error {
	js, err := attemptJSON(t, a)
	if err != nil {
		return fmt.Errorf("redisstore: nack %s: %w", t.DeliveryID, err)
	}
	sk := s.k.shardOf(t.EndpointID)
	upd := s.updatedAt(a)
	cmd := nackScript.Run(ctx, s.rdb,
		sk.queue(sk.record(t.DeliveryID)),
		t.DeliveryID, t.Fence, ms(retryAt), cmp.Or(a.N, t.Attempt), a.StatusCode, a.Error, nsString(upd), js,
		nsString(retryAt), t.TenantID, t.EndpointID)
	woke, err := leaseResult("nack", t, cmd)
	switch {
	case woke:
		s.queued.mark(t.EndpointID, s.now()) // its endpoint has work due again
		s.madeDue(sk.num, 0, false)
	case err == nil:
		s.madeDue(sk.num, ms(retryAt), false)
	}
	return err
}

// Release gives a task back unspent, due again at at.
func (s *Store) Release(ctx context.Context, t delivery.Task, at time.Time) error {
	sk := s.k.shardOf(t.EndpointID)
	cmd := releaseScript.Run(ctx, s.rdb,
		sk.queue(sk.record(t.DeliveryID)),
		t.DeliveryID, t.Fence, ms(at), nsString(at), nsString(s.now()), t.TenantID, t.EndpointID)
	woke, err := leaseResult("release", t, cmd)
	if err == nil {
		s.queued.mark(t.EndpointID, s.now())
	}
	// Announced: the releasing process may be shutting down, and another must take the task.
	switch {
	case woke:
		s.madeDue(sk.num, 0, true)
	case err == nil:
		s.madeDue(sk.num, ms(at), true)
	}
	return err
}

// HoldSlow holds an endpoint to one task in flight until until, across every replica (delivery.SlowHolder): the
// claim script reads the hold beside the endpoint's rate limit, in the same command. The zero time lifts it. An
// endpoint parked under a hold wakes as any parked endpoint does, when its task ends.
func (s *Store) HoldSlow(ctx context.Context, endpointID string, until time.Time) error {
	value := ""
	if !until.IsZero() {
		value = strconv.FormatInt(ms(until), 10)
	}
	if err := s.setGate(ctx, endpointID, holdField(endpointID), value); err != nil {
		return fmt.Errorf("redisstore: hold endpoint %s: %w", endpointID, err)
	}
	return nil
}

// Extend pushes a task's lease to until (never back).
func (s *Store) Extend(ctx context.Context, t delivery.Task, until time.Time) error {
	sk := s.k.shardOf(t.EndpointID)
	cmd := extendScript.Run(ctx, s.rdb, sk.queue(sk.record(t.DeliveryID)), t.DeliveryID, t.Fence, ms(until), t.TenantID)
	_, err := leaseResult("extend", t, cmd)
	return err
}

// Reclaim moves deliveries whose lease expired before now back to their lanes (or dead after maxAttempts), at most
// max of them. One pipelined round reads the earliest lease of each shard past its lease horizon (horizon.go); where
// that one has expired, a second lists the candidates and a third runs reclaimScript. It returns the tasks it ended
// dead.
func (s *Store) Reclaim(ctx context.Context, now time.Time, maxAttempts int, max int) (int, []delivery.Task, error) {
	if max <= 0 {
		return 0, nil, nil
	}
	nowMS := ms(now)
	scan := s.horizons.due(nowMS)
	if len(scan) == 0 {
		return 0, nil, nil
	}
	pipe := s.rdb.Pipeline()
	earliest := make([]*redis.ZSliceCmd, len(scan))
	for j, i := range scan {
		earliest[j] = pipe.ZRangeWithScores(ctx, s.k.shards[i].leases, 0, 0)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		s.horizons.reset()
		return 0, nil, fmt.Errorf("redisstore: reclaim: read: %w", err)
	}
	var expired []int
	for j, i := range scan {
		switch z := earliest[j].Val(); {
		case len(z) == 0:
			s.horizons.scanned(i, nowMS, noWork)
		case z[0].Score < float64(nowMS):
			expired = append(expired, i)
		default:
			s.horizons.scanned(i, nowMS, int64(z[0].Score))
		}
	}
	if len(expired) == 0 {
		return 0, nil, nil
	}
	pipe = s.rdb.Pipeline()
	lists := make(map[int]*redis.StringSliceCmd, len(expired))
	for _, i := range expired {
		lists[i] = pipe.ZRangeArgs(ctx, redis.ZRangeArgs{Key: s.k.shards[i].leases, ByScore: true,
			Start: "-inf", Stop: "(" + strconv.FormatInt(nowMS, 10), Count: int64(max)})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		s.horizons.reset()
		return 0, nil, fmt.Errorf("redisstore: reclaim: list: %w", err)
	}
	left := max
	var (
		calls []scriptCall
		nums  []int
	)
	rand.Shuffle(len(expired), func(a, b int) { expired[a], expired[b] = expired[b], expired[a] })
	for _, i := range expired {
		ids := lists[i].Val()
		if len(ids) == 0 || left == 0 {
			continue
		}
		ids = ids[:min(len(ids), left)]
		left -= len(ids)
		sk := &s.k.shards[i]
		keys := sk.queue(sk.dead)
		args := []any{nowMS, maxAttempts, nsString(now), now.UTC().Format(time.RFC3339Nano)}
		for _, member := range ids { // "<delivery> <fence>" (an older version's lease: the bare id)
			id, _, _ := strings.Cut(member, " ")
			keys = append(keys, sk.record(id))
			args = append(args, member)
		}
		calls = append(calls, scriptCall{reclaimScript, keys, args})
		nums = append(nums, i)
	}
	cmds, err := s.runScripts(ctx, calls)
	moved := 0
	var dead []delivery.Task
	for j, c := range cmds {
		vals, cerr := c.Slice()
		if cerr != nil || len(vals) == 0 {
			continue
		}
		if v, ok := vals[0].(int64); ok && v > 0 {
			moved += int(v)
			s.madeDue(nums[j], nowMS, true) // the crashed process's work is anyone's now
		}
		for k := 1; k+4 < len(vals); k += 5 {
			f := make([]string, 5)
			for i := range f {
				f[i], _ = vals[k+i].(string)
			}
			att, _ := strconv.Atoi(f[4])
			dead = append(dead, delivery.Task{DeliveryID: f[0], TenantID: f[1], MessageID: f[2], EndpointID: f[3], Attempt: att})
		}
	}
	if err != nil {
		s.horizons.reset()
		return moved, dead, fmt.Errorf("redisstore: reclaim: %w", err)
	}
	return moved, dead, nil
}

// NextDue returns the earliest time any shard has work, or the zero time: the earliest shard hint while the hints
// are trusted (no Redis command), else nextDueScript on every shard in one pipelined round.
func (s *Store) NextDue(ctx context.Context) (time.Time, error) {
	if s.hintsTrusted() {
		if at := s.hints.earliest(); at != noWork {
			return time.UnixMilli(at).UTC(), nil
		}
		return time.Time{}, nil
	}
	calls := make([]scriptCall, len(s.k.shards))
	for i := range s.k.shards {
		calls[i] = scriptCall{nextDueScript, s.k.shards[i].queue(), nil}
	}
	cmds, err := s.runScripts(ctx, calls)
	if err != nil {
		return time.Time{}, fmt.Errorf("redisstore: next due: %w", err)
	}
	best := math.Inf(1)
	for _, c := range cmds {
		v, err := c.Text()
		if err != nil {
			continue // nil: nothing waiting in this shard
		}
		if f, err := strconv.ParseFloat(v, 64); err == nil && f < best {
			best = f
		}
	}
	if math.IsInf(best, 1) {
		return time.Time{}, nil
	}
	return time.UnixMilli(int64(math.Floor(best))).UTC(), nil
}
