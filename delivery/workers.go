package delivery

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"
)

// workerIdle is how long a worker with nothing to do waits for its next task before it exits.
const workerIdle = 5 * time.Second

// workers keeps the goroutines that run attempts alive between tasks, so that a task goes to one whose stack has
// already grown to what an attempt takes (an HTTP exchange and a store round trip): a goroutine started per task
// grew its stack, copying it, on every attempt. The most recently idle worker is handed the next task (its stack and
// caches are the warmest), and one left idle for workerIdle exits, so a burst's workers do not outlive it.
type workers struct {
	wait time.Duration // how long an idle worker waits for a task; workerIdle when 0

	mu   sync.Mutex
	idle []chan Task // waiting workers' hand-off channels, most recently idle last; each has room for one task
}

// handOff gives t to an idle worker and reports whether there was one.
func (w *workers) handOff(t Task) bool {
	w.mu.Lock()
	n := len(w.idle)
	if n == 0 {
		w.mu.Unlock()
		return false
	}
	c := w.idle[n-1]
	w.idle[n-1] = nil
	w.idle = w.idle[:n-1]
	w.mu.Unlock()
	c <- t // its room of one is free: a worker's channel is in idle at most once, and empty while there
	return true
}

// run runs first and every task handed to it after, calling done after each, until ctx is done or no task came for
// the idle wait.
func (w *workers) run(ctx context.Context, first Task, do func(Task), done func()) {
	wait := cmp.Or(w.wait, workerIdle)
	c := make(chan Task, 1)
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for t := first; ; {
		do(t)
		// Idle before done frees the slot: the task dispatch claims for that slot finds this worker waiting.
		w.mu.Lock()
		w.idle = append(w.idle, c)
		w.mu.Unlock()
		done()
		timer.Reset(wait)
		select {
		case t = <-c:
			continue
		case <-ctx.Done():
		case <-timer.C:
		}
		if !w.leave(c) {
			t = <-c // handOff took c before it could leave: the task is on its way, and is this worker's
			continue
		}
		return
	}
}

// leave takes c out of the idle workers, unless handOff already took it.
func (w *workers) leave(c chan Task) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, x := range w.idle {
		if x == c {
			w.idle = slices.Delete(w.idle, i, i+1)
			return true
		}
	}
	return false
}
