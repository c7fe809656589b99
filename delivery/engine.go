package delivery

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/webhookd/webhookd/egress"
	"github.com/webhookd/webhookd/endpoints"
)

// MessageSource loads the message a task delivers. Log satisfies it.
type MessageSource interface {
	// GetMessage returns ErrNotFound for a message that no longer exists.
	GetMessage(ctx context.Context, tenantID, id string) (*Message, error)
}

// EndpointSource loads endpoints and records their health. endpoints.Store satisfies it.
type EndpointSource interface {
	// GetEndpoint returns endpoints.ErrNotFound for a deleted endpoint.
	GetEndpoint(ctx context.Context, tenantID, id string) (*endpoints.Endpoint, error)
	SetEndpointHealth(ctx context.Context, tenantID, id string, failingSince time.Time, disable bool, reason string) error
}

// Notifier hears about endpoints the engine disables ("gone" or "failing"), so that their owners can be told (the
// server publishes an endpoint.disabled event). It is called once per disable in this process, after the disable is
// stored, with the endpoint as it now stands; it should not block for long. A Notifier that is also a
// HealthNotifier hears of the other transitions too.
type Notifier interface {
	EndpointDisabled(ctx context.Context, ep *endpoints.Endpoint, reason string)
}

var (
	_ MessageSource  = Log(nil)
	_ EndpointSource = endpoints.Store(nil)
)

// Deps are what an Engine works with.
type Deps struct {
	Queue     Queue          // required
	Messages  MessageSource  // required
	Endpoints EndpointSource // required
	// Client sends the requests; required. It must not follow redirects and should refuse internal addresses:
	// use egress.NewClient. Its Timeout is not needed: every attempt has a deadline.
	Client   *http.Client
	Notifier Notifier // optional
	Observer Observer // optional: told of every attempt, disable and store error (metrics)
	Tracer   Tracer   // optional: a span per attempt (tracing)
	// Doorbell, if set, is the doorbell the engine listens on (see Doorbell); Engine.Wake rings it too. Defaults to
	// one of the engine's own.
	Doorbell *Doorbell
}

// ErrRunning is returned by Run when the engine is already running.
var ErrRunning = errors.New("delivery: engine already running")

// Engine delivers due tasks from a Queue: it claims them in batches, sends each attempt from a bounded pool of
// goroutines, and records the outcome. One Engine runs per process; any number of processes can share a queue.
type Engine struct {
	cfg      Config
	q        Queue
	chain    Chainer       // q, when it can chain a worker's next task to its ack; else nil
	holder   SlowHolder    // q, when it can hold a slow endpoint to one task in flight; else nil
	msgs     MessageSource // Deps.Messages behind the message cache (msgcache.go), unless Config.MessageCache < 0
	eps      EndpointSource
	client   *http.Client
	notifier Notifier
	obs      Observer
	epObs    EndpointObserver // obs, when it hears endpoints; else nil
	limObs   LimitObserver    // obs, when it hears limits; else nil
	tracer   Tracer
	log      *slog.Logger

	ua []string // the User-Agent header's value (Config.UserAgent), or nil

	bell    *Doorbell     // Wake: a new task may be due now
	freed   chan struct{} // a worker finished: a slot, and perhaps an endpoint's in-flight cap, is free
	running atomic.Bool
	stopped atomic.Bool  // dispatch has returned: workers take no chained task
	busy    atomic.Int64 // attempts in flight in this process
	claimed atomic.Int64 // tasks claimed since start: reclaimLoop backs off while it stays put

	states epStates

	// limits are the endpoints (by id) whose adaptive limit is below the cap, for ClaimOptions.Limits: a map
	// replaced, never changed, under limitsMu.
	limits   atomic.Pointer[map[string]int]
	limitsMu sync.Mutex

	healthW atomic.Pointer[healthWriter] // while Run runs: writes health changes that wait for their pace (health.go)
}

// NewEngine returns an engine for cfg, with defaults filled in, or an error wrapping ErrConfig.
func NewEngine(cfg Config, d Deps) (*Engine, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	switch {
	case d.Queue == nil:
		return nil, fmt.Errorf("%w: no Queue", ErrConfig)
	case d.Messages == nil:
		return nil, fmt.Errorf("%w: no MessageSource", ErrConfig)
	case d.Endpoints == nil:
		return nil, fmt.Errorf("%w: no EndpointSource", ErrConfig)
	case d.Client == nil:
		return nil, fmt.Errorf("%w: no http.Client", ErrConfig)
	}
	obs := d.Observer
	if obs == nil {
		obs = nopObserver{}
	}
	epObs, _ := obs.(EndpointObserver)
	limObs, _ := obs.(LimitObserver)
	msgs := d.Messages
	if cfg.MessageCache > 0 {
		msgs = newMsgCache(msgs, cfg.MessageCache, DefaultMessageCacheBytes)
	}
	chain, _ := d.Queue.(Chainer)
	holder, _ := d.Queue.(SlowHolder)
	var ua []string
	if agent := cmp.Or(cfg.UserAgent, egress.UserAgent(d.Client)); agent != "" {
		ua = []string{agent}
	}
	bell := d.Doorbell
	if bell == nil {
		bell = NewDoorbell()
	}
	return &Engine{
		cfg:      cfg,
		q:        d.Queue,
		chain:    chain,
		holder:   holder,
		msgs:     msgs,
		eps:      d.Endpoints,
		client:   d.Client,
		notifier: d.Notifier,
		obs:      obs,
		epObs:    epObs,
		limObs:   limObs,
		tracer:   d.Tracer,
		log:      cfg.Logger,
		bell:     bell,
		freed:    make(chan struct{}, 1),
		states:   epStates{m: make(map[epKey]*epState)},
		ua:       ua,
	}, nil
}

// Config returns the engine's configuration, defaults filled in.
func (e *Engine) Config() Config { return e.cfg }

// Running reports whether Run is under way (it has started and not yet returned).
func (e *Engine) Running() bool { return e.running.Load() }

// InFlight returns the number of attempts this engine is making at the moment.
func (e *Engine) InFlight() int { return int(e.busy.Load()) }

// EndpointLimit returns the endpoint's adaptive limit of attempts in flight in this process: it starts at 8 (or
// MaxInFlightPerEndpoint, if lower), grows while attempts succeed fast and shrinks on timeouts, 429, 503 and rising
// latency, within [1, MaxInFlightPerEndpoint]. An endpoint this process has not attempted yet has the starting
// value.
func (e *Engine) EndpointLimit(tenantID, endpointID string) int {
	e.states.mu.Lock()
	st := e.states.m[epKey{tenantID, endpointID}]
	e.states.mu.Unlock()
	if st != nil {
		if n, ok := st.limit(); ok {
			return n
		}
	}
	return min(initialLimit, e.cfg.limitCap())
}

// claimLimits is ClaimOptions.Limits: the endpoints whose adaptive limit is below the cap (nil for none).
func (e *Engine) claimLimits() map[string]int {
	if m := e.limits.Load(); m != nil {
		return *m
	}
	return nil
}

// setLimit records an endpoint's adaptive limit n for the claims (claimLimits).
func (e *Engine) setLimit(endpointID string, n int) {
	e.limitsMu.Lock()
	defer e.limitsMu.Unlock()
	old := e.claimLimits()
	if cur, ok := old[endpointID]; !ok && n >= e.cfg.limitCap() || ok && cur == n {
		return
	}
	m := make(map[string]int, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	if n < e.cfg.limitCap() {
		m[endpointID] = n
	} else {
		delete(m, endpointID)
	}
	if len(m) == 0 {
		m = nil
	}
	e.limits.Store(&m)
}

// endpointCap is the in-flight cap a chained claim for the endpoint uses: MaxInFlightPerEndpoint, or the endpoint's
// adaptive limit when lower.
func (e *Engine) endpointCap(endpointID string) int {
	c := e.cfg.maxInFlight()
	if n, ok := e.claimLimits()[endpointID]; ok && (c == 0 || n < c) {
		return n
	}
	return c
}

// Wake tells a running engine that a task may be due now (ingest calls it after a publish), ending its idle sleep.
// It never blocks and is safe to call at any time, from any goroutine.
// It rings the engine's Doorbell.
func (e *Engine) Wake() { e.bell.Wake() }

// Run delivers until ctx is cancelled. Then it stops claiming, gives in-flight attempts up to ShutdownTimeout to
// finish and record their outcome, aborts the rest and releases their tasks unspent, and returns nil. Store errors
// are logged and retried, never returned.
func (e *Engine) Run(ctx context.Context) error {
	if !e.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer e.running.Store(false)
	e.stopped.Store(false)

	// Attempts run under work, which outlives ctx by up to ShutdownTimeout.
	work, abort := context.WithCancel(context.WithoutCancel(ctx))
	defer abort()

	hw, stopHealth, healthDone := newHealthWriter(), make(chan struct{}), make(chan struct{})
	e.healthW.Store(hw)
	go func() {
		defer close(healthDone)
		e.runHealthWriter(context.WithoutCancel(ctx), hw, stopHealth)
	}()
	defer func() { close(stopHealth); <-healthDone }() // after the workers: what they changed is written

	var wg sync.WaitGroup
	wg.Go(func() { e.reclaimLoop(ctx) })
	if ws, ok := e.q.(WakeSource); ok { // work another process made due wakes this one
		wg.Go(func() {
			for range ws.Wakeups(ctx) {
				e.Wake()
			}
		})
	}
	e.dispatch(ctx, work, &wg)
	e.stopped.Store(true)

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(e.cfg.ShutdownTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		e.log.LogAttrs(ctx, slog.LevelWarn, "delivery: shutdown timeout, aborting in-flight attempts",
			slog.Duration("timeout", e.cfg.ShutdownTimeout))
		abort()
		<-done
	}
	return nil
}

// dispatch claims due tasks and gives each to a worker (workers.go), never more than Workers tasks at once, until ctx
// is done.
func (e *Engine) dispatch(ctx, work context.Context, wg *sync.WaitGroup) {
	slots := make(chan struct{}, e.cfg.Workers)
	idle := time.NewTimer(0)
	<-idle.C
	defer idle.Stop()
	sleep := func(d time.Duration, wakeOnFree bool) bool {
		idle.Reset(d)
		free := e.freed
		if !wakeOnFree {
			free = nil
		}
		select {
		case <-ctx.Done():
			return false
		case <-e.bell.c:
		case <-free:
		case <-idle.C:
		}
		return true
	}
	// A worker runs a task and the tasks the queue chains to its acks (Chainer), keeping its slot for them.
	run := func(t Task) {
		for next, streak := &t, 0; next != nil; streak++ {
			next = e.attempt(work, *next, streak)
			if next != nil {
				e.claimed.Add(1)
				if e.stopped.Load() { // shutting down: hand it back, as dispatch does a claim's
					e.release(work, *next, e.cfg.Now(), "shutdown")
					next = nil
				}
			}
		}
	}
	free := func() {
		e.busy.Add(-1)
		<-slots
		signal(e.freed)
	}
	var pool workers
	for ctx.Err() == nil {
		n := min(e.cfg.ClaimBatch, cap(slots)-len(slots))
		if n == 0 {
			select { // every worker busy: wait for one
			case <-ctx.Done():
				return
			case <-e.freed:
			}
			continue
		}
		now := e.cfg.Now()
		tasks, err := e.q.Claim(ctx, now, ClaimOptions{Max: n, Lease: e.cfg.Lease, MaxInFlight: e.cfg.maxInFlight(),
			Limits: e.claimLimits()})
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			e.obs.StoreError("claim")
			e.log.LogAttrs(ctx, slog.LevelError, "delivery: claim", slog.String("error", err.Error()))
			if !sleep(e.cfg.IdleMax, false) {
				break
			}
			continue
		}
		if ctx.Err() != nil { // shutting down: hand back what the claim took
			for _, t := range tasks {
				e.release(work, t, now, "shutdown")
			}
			break
		}
		e.claimed.Add(int64(len(tasks)))
		for _, t := range tasks {
			slots <- struct{}{}
			e.busy.Add(1)
			if !pool.handOff(t) {
				wg.Go(func() { pool.run(ctx, t, run, free) })
			}
		}
		if len(tasks) > 0 {
			continue // more may be due: claims are fair, so one claim may leave due work behind
		}
		// Nothing claimable. Sleep until the next due time, bounded by IdleMax; a wake-up, or a worker finishing
		// (which may lift an endpoint's in-flight cap), ends the sleep early.
		wait := e.cfg.IdleMax
		next, err := e.q.NextDue(ctx)
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			e.obs.StoreError("next_due")
			e.log.LogAttrs(ctx, slog.LevelError, "delivery: next due", slog.String("error", err.Error()))
		case next.IsZero():
		case next.After(now):
			// Became due after this claim's now (or will): no need to wait longer than that.
			wait = min(wait, max(next.Sub(e.cfg.Now()), 0))
		default:
			// Due at claim time yet not claimed: held back by in-flight caps, which only a finishing attempt (here or
			// in another process, bounded by IdleMax) lifts.
		}
		if wait == 0 {
			continue
		}
		if !sleep(wait, true) {
			return
		}
	}
}

// reclaimLoop puts expired leases back every ReclaimEvery and prunes idle per-endpoint state, until ctx is done.
// While this engine claims nothing and finds nothing to reclaim, the interval doubles each round up to
// 6 × ReclaimEvery, so an idle replica costs its store little; a claim or a reclaimed task brings it back.
func (e *Engine) reclaimLoop(ctx context.Context) {
	every := e.cfg.ReclaimEvery
	t := time.NewTimer(every)
	defer t.Stop()
	claimed := e.claimed.Load()
	for {
		now := e.cfg.Now()
		const batch = 1000
		reclaimed := 0
		for range 10 { // at most 10 batches a round, so one round stays short
			n, dead, err := e.q.Reclaim(ctx, now, e.reclaimAttempts(), batch)
			if err != nil {
				if ctx.Err() == nil {
					e.obs.StoreError("reclaim")
					e.log.LogAttrs(ctx, slog.LevelError, "delivery: reclaim", slog.String("error", err.Error()))
				}
				break
			}
			reclaimed += n
			for _, t := range dead {
				// An endpoint deleted meanwhile has no key to hold (logKeyMovesOn skips a nil endpoint).
				ep, _ := e.eps.GetEndpoint(ctx, t.TenantID, t.EndpointID)
				e.logKeyMovesOn(ctx, t, ep, StatusDead)
			}
			if n > 0 {
				e.log.LogAttrs(ctx, slog.LevelInfo, "delivery: reclaimed expired leases", slog.Int("tasks", n))
				e.Wake()
			}
			if n < batch {
				break
			}
		}
		e.states.prune(now, e.cfg.Lease, func(endpointID string) { e.setLimit(endpointID, e.cfg.limitCap()) })
		if c := e.claimed.Load(); c != claimed || reclaimed > 0 {
			claimed, every = c, e.cfg.ReclaimEvery
		} else {
			every = min(2*every, 6*e.cfg.ReclaimEvery)
		}
		t.Reset(every)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
