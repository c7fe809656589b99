package procs

import (
	"context"
	"math"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"
)

func TestStep(t *testing.T) {
	cfg := Config{Max: 4, Low: 0.6, High: 0.7, Calm: 3}.withDefaults()
	type want struct {
		cores     float64
		slow, all uint64 // waits to be scheduled in the window
		procs     int
		changed   bool
	}
	for _, tc := range []struct {
		name  string
		steps []want
	}{
		{"busy stays at max", []want{{1.5, 0, 0, 4, false}, {0.9, 0, 0, 4, false}, {0.6, 0, 0, 4, false}}},
		{"a calm average over Calm windows goes to one", []want{{0.1, 0, 0, 4, false}, {0.2, 0, 0, 4, false}, {0.59, 0, 0, 1, true}, {0.1, 0, 0, 1, false}}},
		{"a mean at Low stays at max", []want{{0.1, 0, 0, 4, false}, {0.1, 0, 0, 4, false}, {1.6, 0, 0, 4, false},
			{0.1, 0, 0, 4, false}, {0.1, 0, 0, 4, false}, {0.1, 0, 0, 1, true}}},
		{"a spike does not hold it at max", []want{{0.5, 0, 0, 4, false}, {0.5, 0, 0, 4, false}, {0.7, 0, 0, 1, true}}},
		{"one busy window at one goes back to max", []want{{0, 0, 0, 4, false}, {0, 0, 0, 4, false}, {0, 0, 0, 1, true},
			{0.7, 0, 0, 1, false}, {0.71, 0, 0, 4, true}, {0.65, 0, 0, 4, false}}},
		{"after going back up the calm count starts afresh", []want{{0, 0, 0, 4, false}, {0, 0, 0, 4, false}, {0, 0, 0, 1, true},
			{0.9, 0, 0, 4, true}, {0.1, 0, 0, 4, false}, {0.1, 0, 0, 4, false}, {0.1, 0, 0, 1, true}}},
		{"goroutines waiting for the one processor go back to max", []want{{0, 0, 0, 4, false}, {0, 0, 0, 4, false},
			{0, 0, 0, 1, true}, {0.3, 9, 100, 1, false}, {0.3, 10, 1000, 1, false}, {0.3, 11, 1000, 4, true}}},
		{"slow waits at max change nothing", []want{{0.1, 500, 1000, 4, false}, {0.1, 500, 1000, 4, false},
			{0.1, 500, 1000, 1, true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := governor{cfg: cfg, procs: cfg.Max}
			for i, w := range tc.steps {
				n, changed := g.step(w.cores, w.slow, w.all)
				if n != w.procs || changed != w.changed {
					t.Fatalf("window %d (%.2f cores): got %d, %v; want %d, %v", i, w.cores, n, changed, w.procs, w.changed)
				}
			}
		})
	}
}

// TestRunFollowsTheLoad runs the governor on this test process: idle, it goes to one processor; with two goroutines
// spinning it goes back to Max; when its context ends, Max stays.
func TestRunFollowsTheLoad(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(before) })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	// Low and High sit well apart from an idle process and from two spinning goroutines on a machine busy with
	// other tests, which may give them a fraction of a core.
	go func() { done <- Run(ctx, Config{Max: 2, Window: 20 * time.Millisecond, Calm: 3, Low: 0.1, High: 0.2}) }()

	waitProcs := func(want int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for runtime.GOMAXPROCS(0) != want {
			if time.Now().After(deadline) {
				t.Fatalf("GOMAXPROCS %d, want %d", runtime.GOMAXPROCS(0), want)
			}
			time.Sleep(5 * time.Millisecond) // polling an observable condition
		}
	}
	waitProcs(1)

	var stop atomic.Bool
	spun := make(chan struct{}, 2)
	for range 2 {
		go func() {
			for !stop.Load() {
			}
			spun <- struct{}{}
		}()
	}
	waitProcs(2)
	stop.Store(true)
	<-spun
	<-spun

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if n := runtime.GOMAXPROCS(0); n != 2 {
		t.Errorf("after Run: GOMAXPROCS %d, want 2", n)
	}
}

func TestRunWithOneProcessorReturns(t *testing.T) {
	if err := Run(context.Background(), Config{Max: 1}); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestCountWaits(t *testing.T) {
	inf := math.Inf(1)
	h := &metrics.Float64Histogram{
		Buckets: []float64{math.Inf(-1), 0, 1e-6, 1e-4, 1e-3, 2e-3, 1, inf},
		Counts:  []uint64{0, 100, 50, 7, 3, 2, 1},
	}
	if slow, all := countWaits(h); slow != 6 || all != 163 {
		t.Errorf("countWaits = %d slow of %d, want 6 of 163", slow, all)
	}
}
