package delivery

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/webhookd/webhookd/endpoints"
)

// Reasons an engine disables an endpoint with (endpoints.Endpoint.DisabledReason).
const (
	ReasonGone    = "gone"    // the receiver answered 410
	ReasonFailing = "failing" // it failed for HealthSpan with no success
)

// healthBurst is how many health writes of one endpoint go at once before Config.HealthWriteEvery paces them. A
// receiver that fails now and then (10 % of requests, say) flips the endpoint between healthy and failing at every
// failure; written each time, that was several store writes per delivery, each dropping the cached endpoint and
// fan-out list, so that at a few thousand deliveries/s the record was rewritten and read back thousands of times a
// second.
const healthBurst = 4

// healthChange is a write to an endpoint's health: its new FailingSince and, when Disable, the reason it is
// disabled.
type healthChange struct {
	FailingSince time.Time
	Disable      bool
	Reason       string
}

// healthAfter returns the health change an attempt's outcome calls for, given the endpoint's FailingSince before it
// (zero: healthy), or ok false when nothing changes. Only transitions change: healthy to failing (FailingSince =
// now), failing for span or longer to disabled, failing to healthy (a success), and any state to disabled on 410.
func healthAfter(since time.Time, o Outcome, now time.Time, span time.Duration) (c healthChange, ok bool) {
	switch o {
	case OutcomeSuccess:
		if since.IsZero() {
			return c, false
		}
		return healthChange{}, true
	case OutcomeGone:
		return healthChange{FailingSince: cmpOrTime(since, now), Disable: true, Reason: ReasonGone}, true
	}
	if since.IsZero() {
		return healthChange{FailingSince: now}, true
	}
	if now.Sub(since) >= span {
		return healthChange{FailingSince: since, Disable: true, Reason: ReasonFailing}, true
	}
	return c, false
}

func cmpOrTime(t, def time.Time) time.Time {
	if t.IsZero() {
		return def
	}
	return t
}

// healthView is what this process knows of an endpoint's FailingSince (guarded by its epState's mu). Outcomes change
// since at once, so that concurrent attempts see one transition, not one each; the store gets since at most at the
// pace of limit (Config.HealthWriteEvery after a burst), so a transition undone before its write is never written.
type healthView struct {
	loaded  bool      // version and stored come from a loaded record
	version int64     // the highest endpoints.Endpoint.Version loaded
	since   time.Time // FailingSince as this process's outcomes left it
	stored  time.Time // FailingSince as last loaded or written
	pending bool      // a write is under way or scheduled: it writes since as it is then
	limit   *rate.Limiter
}

// adopt takes the stored FailingSince from a record newer than any seen; since follows it unless this process has
// a change of its own still to write.
func (h *healthView) adopt(ep *endpoints.Endpoint) {
	if h.loaded && ep.Version <= h.version {
		return
	}
	local := h.loaded && !h.since.Equal(h.stored)
	h.loaded, h.version, h.stored = true, ep.Version, ep.FailingSince
	if !local {
		h.since = ep.FailingSince
	}
}

// reserve returns how long the next write must wait, at one per every after the burst.
func (h *healthView) reserve(now time.Time, every time.Duration) time.Duration {
	if h.limit == nil {
		h.limit = rate.NewLimiter(rate.Every(every), healthBurst)
	}
	return h.limit.ReserveN(now, 1).DelayFrom(now)
}

// updateHealth applies an attempt's outcome to the endpoint's health: a disable is written at once and notified;
// other transitions change this process's view at once and are written now, or, past the burst, by the engine's
// health writer within Config.HealthWriteEvery. It returns the endpoint's FailingSince as this process now sees it.
func (e *Engine) updateHealth(ctx context.Context, ep *endpoints.Endpoint, o Outcome, now time.Time) time.Time {
	st := e.states.get(ep.TenantID, ep.ID)
	st.mu.Lock()
	h := &st.health
	h.adopt(ep)
	prev := h.since
	c, changed := healthAfter(prev, o, now, e.cfg.HealthSpan)
	if changed && c.Disable {
		st.mu.Unlock()
		e.disable(ctx, st, ep, c, now)
		return c.FailingSince
	}
	if changed {
		h.since = c.FailingSince
	}
	since := h.since
	write := !h.pending && !since.Equal(h.stored)
	var wait time.Duration
	if write {
		h.pending = true
		wait = h.reserve(time.Now(), e.cfg.HealthWriteEvery)
	}
	st.mu.Unlock()

	if changed && c.FailingSince.IsZero() {
		spell := *ep
		spell.FailingSince = prev
		e.notifyRecovered(ctx, &spell, now)
	}
	if write && (wait == 0 || !e.writeLater(st, ep.TenantID, ep.ID, wait)) {
		e.writeHealth(ctx, st, ep.TenantID, ep.ID)
	}
	return since
}

// writeLater has the health writer write st's view after wait; false when no writer runs (Run is not running, or
// is returning).
func (e *Engine) writeLater(st *epState, tenantID, id string, wait time.Duration) bool {
	hw := e.healthW.Load()
	return hw != nil && hw.schedule(st, tenantID, id, time.Now().Add(wait))
}

// writeHealth writes the endpoint's FailingSince as this process sees it, if the store holds another, and schedules
// another write when the view changed meanwhile (or the write failed).
func (e *Engine) writeHealth(ctx context.Context, st *epState, tenantID, id string) {
	st.mu.Lock()
	h := &st.health
	want := h.since
	if want.Equal(h.stored) {
		h.pending = false
		st.mu.Unlock()
		return
	}
	st.mu.Unlock()

	err := e.eps.SetEndpointHealth(ctx, tenantID, id, want, false, "")

	st.mu.Lock()
	if err == nil {
		h.stored = want
	}
	again := !h.since.Equal(h.stored) && !errors.Is(err, endpoints.ErrNotFound)
	var wait time.Duration
	if again {
		wait = h.reserve(time.Now(), e.cfg.HealthWriteEvery)
	} else {
		h.pending = false
	}
	st.mu.Unlock()

	if err != nil && !errors.Is(err, endpoints.ErrNotFound) {
		e.healthWriteFailed(ctx, tenantID, id, err)
	}
	if again && !e.writeLater(st, tenantID, id, wait) {
		st.mu.Lock()
		h.pending = false // no writer: the next outcome writes
		st.mu.Unlock()
	}
}

func (e *Engine) healthWriteFailed(ctx context.Context, tenantID, id string, err error) {
	e.obs.StoreError("set_health")
	e.log.LogAttrs(ctx, slog.LevelError, "delivery: set endpoint health",
		slog.String("tenant", tenantID), slog.String("endpoint_id", id), slog.String("error", err.Error()))
}

// disable writes a disable (410, or failing for HealthSpan) at once, and notifies it once.
func (e *Engine) disable(ctx context.Context, st *epState, ep *endpoints.Endpoint, c healthChange, now time.Time) {
	if !st.claimDisable(ep, now) {
		return
	}
	if err := e.eps.SetEndpointHealth(ctx, ep.TenantID, ep.ID, c.FailingSince, true, c.Reason); err != nil {
		st.undoDisable()
		e.healthWriteFailed(ctx, ep.TenantID, ep.ID, err)
		return
	}
	st.mu.Lock()
	st.health.since, st.health.stored = c.FailingSince, c.FailingSince
	st.mu.Unlock()
	e.obs.EndpointDisabled(c.Reason)
	e.log.LogAttrs(ctx, slog.LevelWarn, "delivery: endpoint disabled",
		slog.String("tenant", ep.TenantID), slog.String("endpoint_id", ep.ID), slog.String("reason", c.Reason),
		slog.Time("failing_since", c.FailingSince))
	if e.notifier != nil {
		dis := *ep
		dis.Disabled, dis.DisabledReason, dis.FailingSince = true, c.Reason, c.FailingSince
		e.notifier.EndpointDisabled(ctx, &dis, c.Reason)
	}
}

// healthWriter writes the health changes that had to wait for their endpoint's write pace, each when its time
// comes; Run starts one and, when its workers are done, has it write what is left before returning.
type healthWriter struct {
	mu      sync.Mutex
	due     map[*epState]healthDue
	stopped bool // Run is returning: schedule refuses, and the caller writes at once
	wake    chan struct{}
}

type healthDue struct {
	tenantID, id string
	at           time.Time
}

func newHealthWriter() *healthWriter {
	return &healthWriter{due: make(map[*epState]healthDue), wake: make(chan struct{}, 1)}
}

// schedule has st's change written at at; false when the writer has stopped.
func (w *healthWriter) schedule(st *epState, tenantID, id string, at time.Time) bool {
	w.mu.Lock()
	if w.stopped {
		w.mu.Unlock()
		return false
	}
	w.due[st] = healthDue{tenantID, id, at}
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return true
}

// take removes and returns the writes due by now (all of them when stop, which also stops the writer), and when
// the next one is due.
func (w *healthWriter) take(now time.Time, stop bool) (map[*epState]healthDue, time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = w.stopped || stop
	all := stop
	var out map[*epState]healthDue
	var next time.Time
	for st, d := range w.due {
		if all || !d.at.After(now) {
			if out == nil {
				out = make(map[*epState]healthDue)
			}
			out[st] = d
			delete(w.due, st)
		} else if next.IsZero() || d.at.Before(next) {
			next = d.at
		}
	}
	return out, next
}

// runHealthWriter writes due health changes until stop is closed, then everything still scheduled (with ctx, which
// outlives the engine's).
func (e *Engine) runHealthWriter(ctx context.Context, w *healthWriter, stop <-chan struct{}) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		due, next := w.take(time.Now(), false)
		for st, d := range due {
			e.writeHealth(ctx, st, d.tenantID, d.id)
		}
		if len(due) > 0 {
			continue // a write may have scheduled another
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = max(time.Until(next), 0)
		}
		timer.Reset(wait)
		select {
		case <-w.wake:
		case <-timer.C:
		case <-stop:
			last, _ := w.take(time.Time{}, true) // from here on a change is written by its attempt
			e.healthW.Store(nil)
			for st, d := range last {
				e.writeHealth(ctx, st, d.tenantID, d.id)
			}
			return
		}
	}
}
