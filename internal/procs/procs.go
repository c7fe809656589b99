// Package procs fits the Go scheduler's processor count (GOMAXPROCS) to the process's load: one processor while the
// process uses little CPU, all of them as soon as it needs more.
//
// A network service at a light, steady load spends much of its CPU on the scheduler rather than on its work: each
// packet that readies a goroutine wakes a second thread to look for more work, which spins briefly, finds none and
// sleeps again (futex, nanosleep and epoll calls for every request). With one processor there is no second thread to
// wake. At full load every processor is needed, so Run gives them back within one window of the load rising: when
// the process uses more CPU than one processor should, or when goroutines start to wait for the one processor (a
// process that waits on its network peers can be short of processors while using well under a core).
//
// ExecPollingMonitor (monitor.go) is the other half of a cheap light load: it keeps the runtime's monitor thread
// from the sleep-and-wake cycle that every idle moment costs.
package procs

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"runtime/metrics"
	"time"
)

// Defaults of Config.
const (
	DefaultWindow = 50 * time.Millisecond
	DefaultLow    = 0.55 // cores
	DefaultHigh   = 0.6  // cores
	DefaultCalm   = 20   // windows

	// slowWait is a wait to be scheduled that counts as slow; with one processor, more than slowShare of a window's
	// waits being slow (and at least slowMin of them) means goroutines queue for it.
	slowWait  = time.Millisecond
	slowShare = 0.01
	slowMin   = 10
)

// ErrUnsupported is Run's answer where the process's CPU time cannot be read.
var ErrUnsupported = errors.New("procs: the process's CPU time is not available on this system")

// Config tunes Run. Low is below High: the gap is what keeps a load near either from switching back and forth, since
// the same work costs more CPU with every processor (the spinning above) than with one.
type Config struct {
	Max    int           // processors at full load; 0: GOMAXPROCS as Run finds it
	Window time.Duration // how often the CPU use is read; 0: DefaultWindow
	Low    float64       // with Max processors, a use below Low cores on average ...; 0: DefaultLow
	Calm   int           // ... over the last Calm windows goes to one processor; 0: DefaultCalm
	// With one processor, a use above High cores in one window goes back to Max, as do slow waits to be scheduled
	// (more than 1 % of a window's took 1 ms or more); 0: DefaultHigh.
	High   float64
	Logger *slog.Logger // switches are logged at debug level; nil: slog.Default()
}

func (c Config) withDefaults() Config {
	if c.Max <= 0 {
		c.Max = runtime.GOMAXPROCS(0)
	}
	if c.Window <= 0 {
		c.Window = DefaultWindow
	}
	if c.Low <= 0 {
		c.Low = DefaultLow
	}
	if c.High <= 0 {
		c.High = DefaultHigh
	}
	if c.Calm <= 0 {
		c.Calm = DefaultCalm
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Run sets GOMAXPROCS by the process's CPU use until ctx ends, then sets it back to cfg.Max and returns nil. It
// returns at once when Max is 1 (nothing to choose), and ErrUnsupported where CPU time cannot be read. GOMAXPROCS is
// the whole process's: run one Run at a time, and none in a program that sets GOMAXPROCS itself.
func Run(ctx context.Context, cfg Config) error {
	cfg = cfg.withDefaults()
	if cfg.Max <= 1 {
		return nil
	}
	last, err := CPUTime()
	if err != nil {
		return err
	}
	waits := newWaitCounter()
	g := governor{cfg: cfg, procs: cfg.Max}
	runtime.GOMAXPROCS(cfg.Max)
	defer runtime.GOMAXPROCS(cfg.Max)
	t := time.NewTicker(cfg.Window)
	defer t.Stop()
	at := time.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			used, err := CPUTime()
			if err != nil {
				return err
			}
			cores := float64(used-last) / float64(now.Sub(at))
			last, at = used, now
			slow, all := waits.read()
			if n, changed := g.step(cores, slow, all); changed {
				runtime.GOMAXPROCS(n)
				cfg.Logger.LogAttrs(ctx, slog.LevelDebug, "procs: GOMAXPROCS changed", slog.Int("procs", n),
					slog.Float64("cores_used", cores), slog.Uint64("slow_waits", slow), slog.Uint64("waits", all))
			}
		}
	}
}

// governor decides the processor count from one window's CPU use at a time.
type governor struct {
	cfg    Config
	procs  int       // the count in force
	recent []float64 // a ring of the cores used in the last Calm windows at Max
	n      int       // windows in recent since the count went to Max
	sum    float64   // of those windows
}

// step takes the cores used over the last window and how many of its waits to be scheduled were slow (of all), and
// returns the count for the next window, and whether it changed.
func (g *governor) step(cores float64, slow, all uint64) (int, bool) {
	if g.procs == 1 {
		if cores > g.cfg.High || slow >= slowMin && float64(slow) > slowShare*float64(all) {
			g.procs = g.cfg.Max
			return g.procs, true
		}
		return 1, false
	}
	if g.recent == nil {
		g.recent = make([]float64, g.cfg.Calm)
	}
	i := g.n % g.cfg.Calm
	if g.n >= g.cfg.Calm {
		g.sum -= g.recent[i]
	}
	g.recent[i] = cores
	g.sum += cores
	g.n++
	if g.n < g.cfg.Calm || g.sum >= g.cfg.Low*float64(g.cfg.Calm) {
		return g.procs, false
	}
	g.procs, g.n, g.sum = 1, 0, 0
	return 1, true
}

// waitCounter reads the runtime's histogram of how long goroutines waited to be scheduled, as counts since the
// last read.
type waitCounter struct {
	sample    []metrics.Sample
	slow, all uint64
}

func newWaitCounter() *waitCounter {
	w := &waitCounter{sample: []metrics.Sample{{Name: "/sched/latencies:seconds"}}}
	w.read()
	return w
}

// read returns the slow waits (slowWait or longer) and all waits since the last read.
func (w *waitCounter) read() (slow, all uint64) {
	metrics.Read(w.sample)
	if w.sample[0].Value.Kind() != metrics.KindFloat64Histogram {
		return 0, 0
	}
	s, a := countWaits(w.sample[0].Value.Float64Histogram())
	slow, all = s-w.slow, a-w.all
	w.slow, w.all = s, a
	return slow, all
}

// countWaits sums a cumulative latency histogram: the waits in buckets from slowWait up, and all of them.
func countWaits(h *metrics.Float64Histogram) (slow, all uint64) {
	for i, n := range h.Counts {
		all += n
		if h.Buckets[i] >= slowWait.Seconds() {
			slow += n
		}
	}
	return slow, all
}
