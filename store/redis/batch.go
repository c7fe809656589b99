package redisstore

import (
	"context"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// maxBatch bounds the script calls one batch pipelines.
const maxBatch = 64

// batchTimeout bounds one batch's round trip; a caller whose own context ends first stops waiting for it.
const batchTimeout = 5 * time.Second

// batcher pipelines script calls made concurrently (acks from many workers) into one round trip: a call that finds no
// batch running runs one with whatever is pending, itself included; calls that arrive meanwhile go in the next batch,
// which the first caller's goroutine hands to a new goroutine. No call waits for a timer: a lone call runs at once.
type batcher struct {
	mu      sync.Mutex
	pending []*batched
	running bool
}

type batched struct {
	call scriptCall
	cmd  *redis.Cmd
	done chan struct{}
}

// run runs call in a batch and returns its reply.
func (b *batcher) run(ctx context.Context, s *Store, call scriptCall) *redis.Cmd {
	c := &batched{call: call, done: make(chan struct{})}
	b.mu.Lock()
	b.pending = append(b.pending, c)
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
	case <-c.done:
		return c.cmd
	case <-ctx.Done():
		cmd := redis.NewCmd(ctx)
		cmd.SetErr(ctx.Err())
		return cmd
	}
}

// flush runs one batch of what is pending and reports whether more is pending (the caller then flushes again); when
// nothing is, it ends the running state.
func (b *batcher) flush(s *Store) bool {
	b.mu.Lock()
	n := min(len(b.pending), maxBatch)
	batch := b.pending[:n:n]
	b.pending = b.pending[n:]
	if len(b.pending) == 0 {
		b.pending = nil
	}
	b.mu.Unlock()

	calls := make([]scriptCall, len(batch))
	for i, c := range batch {
		calls[i] = c.call
	}
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	cmds, err := s.runScripts(ctx, calls)
	cancel()
	for i, c := range batch {
		if i < len(cmds) && cmds[i] != nil {
			c.cmd = cmds[i]
		} else {
			c.cmd = redis.NewCmd(ctx)
			c.cmd.SetErr(err)
		}
		close(c.done)
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.pending) == 0 {
		b.running = false
		return false
	}
	return true
}
