package calls

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// logWriter writes call log entries in the background, in batches, so that a call's answer never waits for the
// store's commit. A batch is what queued while the previous one was written and in the logLinger after its first
// entry (at most maxBatch): under load one commit (an fsync on the embedded store) takes many calls.
type logWriter struct {
	log   Log
	q     chan *Call
	obs   Observer
	lg    *slog.Logger
	done  chan struct{}
	mu    sync.RWMutex // held for reading by add, for writing by close
	shut  bool
	close func()
}

const (
	maxBatch  = 256
	logLinger = 5 * time.Millisecond
)

func newLogWriter(log Log, size int, obs Observer, lg *slog.Logger) *logWriter {
	w := &logWriter{log: log, q: make(chan *Call, size), obs: obs, lg: lg, done: make(chan struct{})}
	var once sync.Once
	w.close = func() {
		once.Do(func() {
			w.mu.Lock()
			w.shut = true
			close(w.q)
			w.mu.Unlock()
			<-w.done
		})
	}
	go w.run()
	return w
}

// add queues c; when the queue is full (the store is slower than the calls) c is dropped and counted.
func (w *logWriter) add(c *Call) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.shut {
		return
	}
	select {
	case w.q <- c:
	default:
		w.obs.CallLogDropped()
	}
}

func (w *logWriter) run() {
	defer close(w.done)
	batch := make([]*Call, 0, maxBatch)
	for c := range w.q {
		batch = append(batch[:0], c)
		linger := time.NewTimer(logLinger)
	fill:
		for len(batch) < maxBatch {
			select {
			case c, ok := <-w.q:
				if !ok {
					break fill // closing: write what there is
				}
				batch = append(batch, c)
			case <-linger.C:
				break fill
			}
		}
		linger.Stop()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := w.log.AddCalls(ctx, batch); err != nil {
			w.lg.Warn("call log write failed", "calls", len(batch), "err", err)
		}
		cancel()
	}
}
