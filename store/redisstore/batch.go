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
// so a busy gateway pays one script invocation and one round trip for many deliveries. A call that finds no batch
// running runs one with whatever is pending, its own items included; calls that arrive meanwhile go in the next
// batch, which the first caller's goroutine hands to a new goroutine. No call waits for a timer: a lone call runs at
// once.
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

	mu      sync.Mutex
	pending []*batchItem
	running bool
}

// chainedReply is a finish reply's code for a task that ended and whose worker took its endpoint's next task, whose
// chainFields fields follow the codes.
const (
	chainedReply = 3
	chainFields  = 7
)

// batchItem is one delivery's share of a script call and, once done is closed, the script's answer for it.
type batchItem struct {
	shard int
	keys  [3]string
	args  [13]any
	res   int64
	next  [chainFields]string // when res is chainedReply: the task chained to this one, and its message (finishScript)
	err   error
	done  chan struct{}
}

// run runs items in a batch and returns when each has its answer (or ctx ends).
func (b *shardBatcher) run(ctx context.Context, s *Store, items ...*batchItem) error {
	for _, it := range items {
		it.done = make(chan struct{})
	}
	b.mu.Lock()
	b.pending = append(b.pending, items...)
	lead := !b.running
	b.running = true
	b.mu.Unlock()
	if lead {
		if b.flush(s) {
			go func() {
				for b.flush(s) {
				}
			}()
		}
	}
	for _, it := range items {
		select {
		case <-it.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// flush runs one batch of what is pending and reports whether more is pending (the caller then flushes again); when
// nothing is, it ends the running state.
func (b *shardBatcher) flush(s *Store) bool {
	b.mu.Lock()
	n := min(len(b.pending), maxBatch)
	batch := b.pending[:n:n]
	b.pending = b.pending[n:]
	if len(b.pending) == 0 {
		b.pending = nil
	}
	b.mu.Unlock()

	// Group by shard, in arrival order, at most maxPerCall per call.
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
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	cmds, err := s.runScripts(ctx, calls)
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

	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.pending) == 0 {
		b.running = false
		return false
	}
	return true
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
		if v != chainedReply {
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
