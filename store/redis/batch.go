package redisstore

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// maxBatch bounds the finishes one batch carries, and maxPerFinish those one finish script call carries.
const (
	maxBatch     = 256
	maxPerFinish = 64
)

// batchTimeout bounds one batch's round trip; a caller whose own context ends first stops waiting for it.
const batchTimeout = 5 * time.Second

// finishBatcher groups the finishes (acks and fails) of concurrent workers: one finish script call per shard for all
// of a batch's finishes in that shard, every call in one pipeline, so a busy gateway pays one script invocation and
// one round trip for many deliveries. A call that finds no batch running runs one with whatever is pending, itself
// included; calls that arrive meanwhile go in the next batch, which the first caller's goroutine hands to a new
// goroutine. No call waits for a timer: a lone call runs at once.
type finishBatcher struct {
	mu      sync.Mutex
	pending []*pendingFinish
	running bool
}

// pendingFinish is one delivery's finish: its shard, record and attempts keys and its 10 script arguments
// (finishScript), and, once done is closed, the script's answer for it.
type pendingFinish struct {
	shard     int
	rec, atts string
	args      [10]any
	res       int64
	err       error
	done      chan struct{}
}

// run finishes f in a batch and returns the script's answer for it: 1, 2 (its endpoint was unparked) or 0 (lease
// lost).
func (b *finishBatcher) run(ctx context.Context, s *Store, f *pendingFinish) (int64, error) {
	f.done = make(chan struct{})
	b.mu.Lock()
	b.pending = append(b.pending, f)
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
	select {
	case <-f.done:
		return f.res, f.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// flush runs one batch of what is pending and reports whether more is pending (the caller then flushes again); when
// nothing is, it ends the running state.
func (b *finishBatcher) flush(s *Store) bool {
	b.mu.Lock()
	n := min(len(b.pending), maxBatch)
	batch := b.pending[:n:n]
	b.pending = b.pending[n:]
	if len(b.pending) == 0 {
		b.pending = nil
	}
	b.mu.Unlock()

	// Group by shard, in arrival order, at most maxPerFinish per call.
	var groups [][]*pendingFinish
	open := map[int]int{} // shard → index in groups of its call being filled
	for _, f := range batch {
		g, ok := open[f.shard]
		if !ok || len(groups[g]) == maxPerFinish {
			g = len(groups)
			groups = append(groups, nil)
			open[f.shard] = g
		}
		groups[g] = append(groups[g], f)
	}
	calls := make([]scriptCall, len(groups))
	for i, g := range groups {
		sk := &s.k.shards[g[0].shard]
		keys := sk.queue(sk.done, sk.dead)
		args := make([]any, 0, 10*len(g))
		for _, f := range g {
			keys = append(keys, f.rec, f.atts)
			args = append(args, f.args[:]...)
		}
		calls[i] = scriptCall{finishScript, keys, args}
	}
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	cmds, err := s.runScripts(ctx, calls)
	cancel()
	for i, g := range groups {
		var (
			vals []int64
			cerr = err
		)
		if i < len(cmds) && cmds[i] != nil {
			vals, cerr = cmds[i].Int64Slice()
			if cerr == nil && len(vals) != len(g) {
				cerr = fmt.Errorf("finish: %d answers for %d deliveries", len(vals), len(g))
			}
		}
		for j, f := range g {
			if cerr != nil {
				f.err = cerr
			} else {
				f.res = vals[j]
			}
			close(f.done)
		}
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.pending) == 0 {
		b.running = false
		return false
	}
	return true
}
