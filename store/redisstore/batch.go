package redisstore

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// maxBatch bounds the items one batch carries, and maxPerCall those one script call carries.
const (
	maxBatch   = 512
	maxPerCall = 64
)

// batchTimeout bounds one batch's round trip; a caller whose own context ends first stops waiting for it.
const batchTimeout = 5 * time.Second

// shardBatcher groups per-delivery script work of concurrent callers (finishes of many workers, enqueues of many
// publishes): one call of its script per shard for all of a batch's items in that shard, every call in one pipeline,
// so a busy gateway pays one script invocation and one round trip for many deliveries. Batches form as a
// coalescer's do: a lone call runs at once.
//
// The script's contract: KEYS are prefix(shard) followed by nkeys keys per item; ARGV is nargs values per item, then
// tail's; the reply is one integer per item, in order, followed by chainFields strings for each item whose integer
// is chainedReply (the finish script's chained tasks).
type shardBatcher struct {
	script *redis.Script
	prefix func(*shardKeys) []string
	nkeys  int                                         // KEYS per item, at most len(batchItem.keys)
	nargs  int                                         // ARGV values per item, at most len(batchItem.args)
	tail   func(*Store) []any                          // ARGV values after the items' (nil: none), read per batch
	settle func(context.Context, *Store, []*batchItem) // runs on a batch's answered items before their callers see them, or nil

	q coalescer[*batchItem]
}

// coalescer runs the work of concurrent callers in batches, without a timer: a caller that finds no batch running
// runs one with whatever is pending, its own work included; work that arrives meanwhile goes in the next batch,
// which the first caller's goroutine hands to a new goroutine. A lone caller's work runs at once, so coalescing adds
// no latency at low load and saves round trips under load.
type coalescer[T any] struct {
	max int       // items per batch
	do  func([]T) // runs one batch

	mu      sync.Mutex
	pending []T
	running bool
}

// add queues items and, when no batch is running, runs batches with do until none is pending (the first in the
// calling goroutine). It returns before do has seen items when another caller's batch is running.
func (c *coalescer[T]) add(items ...T) {
	c.mu.Lock()
	c.pending = append(c.pending, items...)
	lead := !c.running
	c.running = true
	c.mu.Unlock()
	if lead && c.flush() {
		go func() {
			for c.flush() {
			}
		}()
	}
}

// flush runs do on one batch of what is pending and reports whether more is pending (the caller then flushes
// again); when nothing is, it ends the running state.
func (c *coalescer[T]) flush() bool {
	c.mu.Lock()
	n := min(len(c.pending), c.max)
	batch := c.pending[:n:n]
	c.pending = c.pending[n:]
	if len(c.pending) == 0 {
		c.pending = nil
	}
	c.mu.Unlock()

	c.do(batch)

	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pending) == 0 {
		c.running = false
		return false
	}
	return true
}

// chainedReply is a finish reply's code for a task that ended and whose worker took its endpoint's next task, whose
// chainFields fields follow the codes.
const (
	chainedReply = 3
	chainFields  = 7
)

// Further finish reply codes (finishScript): idleReply for a task that ended, whose endpoint has nothing queued;
// chainedDueReply for chainedReply whose endpoint the script also made due again (room under a cap that grew).
const (
	idleReply       = 4
	chainedDueReply = 5
)

// isChained tells whether a finish reply code is one of a chained task, whose fields follow the codes.
func isChained(res int64) bool { return res == chainedReply || res == chainedDueReply }

// batchItem is one delivery's share of a script call and, once done is closed, the script's answer for it.
type batchItem struct {
	shard int
	keys  [3]string
	args  [14]any
	res   int64
	next  [chainFields]string // when res is chainedReply: the task chained to this one, and its message (finishScript)
	err   error
	done  chan struct{}
}

// bind has b run its batches on s's server.
func (b *shardBatcher) bind(s *Store) {
	b.q.max = maxBatch
	b.q.do = func(batch []*batchItem) { b.runBatch(s, batch) }
}

// run runs items in a batch and returns when each has its answer (or ctx ends).
func (b *shardBatcher) run(ctx context.Context, items ...*batchItem) error {
	for _, it := range items {
		it.done = make(chan struct{})
	}
	b.q.add(items...)
	return wait(ctx, items)
}

// wait returns when each of items has its answer, or ctx ends.
func wait(ctx context.Context, items []*batchItem) error {
	for _, it := range items {
		select {
		case <-it.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// runBatch runs batch's items, one script call per shard (at most maxPerCall items each) in one pipeline, and closes
// each item's done.
func (b *shardBatcher) runBatch(s *Store, batch []*batchItem) {
	groups, calls := b.calls(s, batch)
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	cmds, err := s.runScripts(ctx, calls)
	b.answer(ctx, s, batch, groups, cmds, err)
}

// calls groups batch's items by shard, in arrival order, at most maxPerCall per group, and returns the groups with
// their script calls.
func (b *shardBatcher) calls(s *Store, batch []*batchItem) ([][]*batchItem, []scriptCall) {
	var groups [][]*batchItem
	open := map[int]int{} // shard → index in groups of its call being filled
	for _, it := range batch {
		g, ok := open[it.shard]
		if !ok || len(groups[g]) == maxPerCall {
			g = len(groups)
			groups = append(groups, nil)
			open[it.shard] = g
		}
		groups[g] = append(groups[g], it)
	}
	var tail []any
	if b.tail != nil {
		tail = b.tail(s)
	}
	calls := make([]scriptCall, len(groups))
	for i, g := range groups {
		keys := b.prefix(&s.k.shards[g[0].shard])
		args := make([]any, 0, b.nargs*len(g)+len(tail))
		for _, it := range g {
			keys = append(keys, it.keys[:b.nkeys]...)
			args = append(args, it.args[:b.nargs]...)
		}
		args = append(args, tail...)
		calls[i] = scriptCall{b.script, keys, args}
	}
	return groups, calls
}

// answer reads the replies of groups' calls (cmds, in the same order; err the pipeline's first failure) into their
// items, settles the batch and closes each item's done.
func (b *shardBatcher) answer(ctx context.Context, s *Store, batch []*batchItem, groups [][]*batchItem, cmds []*redis.Cmd, err error) {
	for i, g := range groups {
		cerr := err
		if i < len(cmds) && cmds[i] != nil {
			cerr = parseBatchReply(cmds[i], g)
		}
		for _, it := range g {
			if cerr != nil {
				it.err = cerr
			}
		}
	}
	if b.settle != nil {
		b.settle(ctx, s, batch)
	}
	for _, it := range batch {
		close(it.done)
	}
}

// parseBatchReply reads one script call's reply into its items: an integer each, then chainFields strings for each
// item whose integer is chainedReply.
func parseBatchReply(cmd *redis.Cmd, g []*batchItem) error {
	vals, err := cmd.Slice()
	if err != nil {
		return err
	}
	if len(vals) < len(g) {
		return fmt.Errorf("%d answers for %d deliveries", len(vals), len(g))
	}
	rest := vals[len(g):]
	for j, it := range g {
		v, ok := vals[j].(int64)
		if !ok {
			return fmt.Errorf("answer %d: %T, want an integer", j, vals[j])
		}
		it.res = v
		if !isChained(v) {
			continue
		}
		if len(rest) < chainFields {
			return fmt.Errorf("answer %d: chained task without its fields", j)
		}
		for f := range chainFields {
			if it.next[f], ok = rest[f].(string); !ok {
				return fmt.Errorf("answer %d: field %d: %T, want a string", j, f, rest[f])
			}
		}
		rest = rest[chainFields:]
	}
	if len(rest) != 0 {
		return fmt.Errorf("%d values past the chained tasks", len(rest))
	}
	return nil
}
