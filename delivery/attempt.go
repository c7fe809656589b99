package delivery

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/webhookd/webhookd/endpoints"
	"github.com/webhookd/webhookd/profiles"
	"github.com/webhookd/webhookd/signing"
)

// Final writes (ack, nack, fail, release, health) get at least this long, even when the lease is nearly over: the
// store's fence check, not our clock, decides whether the result still counts.
const minWriteTimeout = time.Second

// Errors recorded in attempts that sent no request.
const (
	errEndpointDeleted  = "endpoint deleted"
	errEndpointDisabled = "endpoint disabled"
	errMessageNotFound  = "message not found"
	errMessageExpunged  = "message payload expunged"
	errScheduleSpent    = "retry schedule spent"
)

// scratch is per-attempt working memory, recycled.
type scratch struct {
	keys []signing.Key
	resp []byte // the kept prefix of the response body
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// bodyOverhead is room for what a profile's body adds around the event's data (envelope fields, id, timestamp).
const bodyOverhead = 256

// result is one attempt's raw result.
type result struct {
	code    int
	err     error // transport error, or a RetryAfterError
	resp    string
	latency time.Duration
	sent    map[string]string // the profile's headers of the request (Attempt.Request)
}

// attempt runs one task to its recorded outcome, and returns the task the queue chained to its ack, if any. ctx is
// the work context: cancelled only when shutdown gives up on in-flight attempts.
// streak counts the tasks chained to this worker's acks in a row before t (see mayChain).
func (e *Engine) attempt(ctx context.Context, t Task, streak int) *Task {
	now := e.cfg.Now()
	st := e.states.get(t.TenantID, t.EndpointID)
	if n, fresh := st.begin(e.cfg.limitCap()); fresh {
		e.setLimit(t.EndpointID, n) // so that claims hand out no more than it takes
	}
	if ok, n, at := st.enter(now, e.cfg.limitCap(), e.cfg.attemptTimeout(0)/4); !ok {
		if !at.IsZero() {
			// At its adaptive limit: hand the task back unspent, due about when a slot frees up.
			e.release(ctx, t, at, "concurrency limit")
			return nil
		}
		// Slow (it timed out and has not succeeded since) with an attempt already out: hand the task back unspent
		// rather than let it hold a worker for another timeout.
		e.release(ctx, t, now.Add(e.slowWait(n)), "slow endpoint")
		return nil
	}
	left := false // the attempt's request has ended (see below)
	defer func() {
		if !left {
			st.leave(e.cfg.Now())
		}
	}()
	ep, err := e.eps.GetEndpoint(ctx, t.TenantID, t.EndpointID)
	switch {
	case errors.Is(err, endpoints.ErrNotFound):
		e.final(ctx, t, nil, Attempt{N: t.Attempt, At: now, Error: errEndpointDeleted}, OutcomeFailed)
		return nil
	case err != nil:
		e.retryLater(ctx, t, now, "load endpoint", err)
		return nil
	case ep.Disabled:
		e.final(ctx, t, ep, Attempt{N: t.Attempt, At: now, Error: errEndpointDisabled}, OutcomeFailed)
		return nil
	case t.Attempt > e.retryFor(ep).MaxAttempts():
		// Reclaimed past the endpoint's schedule (Reclaim allows the longest any endpoint may have): dead, unsent.
		e.final(ctx, t, ep, Attempt{N: t.Attempt, At: now, Error: errScheduleSpent}, OutcomeDead)
		return nil
	}

	if wait := st.admit(ep, t.DeliveryID, now); wait > 0 {
		e.release(ctx, t, now.Add(wait), "rate limit")
		return nil
	}

	m, err := e.msgs.GetMessage(ctx, t.TenantID, t.MessageID)
	switch {
	case errors.Is(err, ErrNotFound):
		e.final(ctx, t, ep, Attempt{N: t.Attempt, At: now, Error: errMessageNotFound}, OutcomeFailed)
		return nil
	case err != nil:
		e.retryLater(ctx, t, now, "load message", err)
		return nil
	case !m.ExpungedAt.IsZero():
		e.final(ctx, t, ep, Attempt{N: t.Attempt, At: now, Error: errMessageExpunged}, OutcomeFailed)
		return nil
	}

	var span AttemptSpan
	if e.tracer != nil {
		ctx, span = e.tracer.StartAttempt(ctx, t, ep, m)
	}
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	res, err := e.send(ctx, sc, st, ep, m, now)
	if err != nil {
		// Not the receiver's doing (a bad key or message id): spend the attempt, leave health alone.
		endSpan(span, 0, OutcomeRetry, err)
		e.record(ctx, t, ep, Attempt{N: t.Attempt, At: now, Error: err.Error()}, OutcomeRetry, 0, false, 0)
		return nil
	}
	if ctx.Err() != nil && res.code == 0 {
		// Shutdown aborted the request: the attempt is not spent (the receiver may still have seen it).
		endSpan(span, 0, OutcomeRetry, res.err)
		e.release(context.WithoutCancel(ctx), t, now, "shutdown")
		return nil
	}
	a := Attempt{N: t.Attempt, At: now, StatusCode: res.code, Latency: res.latency, Response: res.resp, Request: res.sent}
	terr, wait := res.err, time.Duration(0)
	if ra, ok := errors.AsType[*RetryAfterError](res.err); ok {
		terr, wait = nil, ra.Delay // it describes a response, not a failure to get one
	}
	if res.err != nil {
		a.Error = res.err.Error()
	}
	o := classify(ep.Profile, res.code, terr)
	endSpan(span, res.code, o, res.err)
	if e.epObs != nil {
		e.epObs.EndpointAttempt(t.TenantID, t.EndpointID, o, res.latency)
	}
	_, timedOut := errors.AsType[*timeoutError](res.err)
	dropped := timedOut || res.code == http.StatusTooManyRequests || res.code == http.StatusServiceUnavailable
	if n, changed := st.observe(e.cfg.Now(), res.latency, o == OutcomeSuccess, dropped); changed {
		e.setLimit(t.EndpointID, n)
		if e.limObs != nil {
			e.limObs.EndpointLimit(t.TenantID, t.EndpointID, n)
		}
	}
	// The hold goes to the queue before the attempt is recorded: recording frees the endpoint's slot, and the next
	// claim should find the endpoint held already.
	if timedOut {
		st.setSlow(true)
		e.holdSlow(ctx, t, now.Add(slowHold))
	} else if o == OutcomeSuccess && st.setSlow(false) {
		e.holdSlow(ctx, t, time.Time{})
	}
	// The request is over: it leaves the endpoint's count before the result is recorded, as the queue's count of
	// the endpoint's tasks in flight drops when it records it. Leaving after would let a claim in between hand out a
	// task that enter then turns away at the limit (a release and another claim, for nothing).
	left = true
	st.leave(e.cfg.Now())
	return e.record(ctx, t, ep, a, o, wait, true, streak)
}

// mayChain reports whether the worker that attempted t, after streak tasks chained in a row, may keep its slot for
// t's endpoint (see record). While some worker is free, always. While every worker is busy the dispatcher waits for
// a slot, and a worker gives its slot back to it, whose claims serve every due endpoint in turn, once the endpoint
// holds more than its fair share of the workers (rounded up), or after maxSaturatedChain tasks in a row: so an
// endpoint with due work and no worker gets one within a bounded number of deliveries, and a saturated engine still
// saves most claims.
func (e *Engine) mayChain(t Task, streak int) bool {
	if e.busy.Load() < int64(e.cfg.Workers) {
		return true
	}
	return streak < maxSaturatedChain && e.states.get(t.TenantID, t.EndpointID).withinShare(e.cfg.Workers)
}

// maxSaturatedChain bounds how many tasks a worker chains in a row while every worker is busy.
const maxSaturatedChain = 16

// endSpan ends an attempt's span, if it has one.
func endSpan(s AttemptSpan, status int, o Outcome, err error) {
	if s != nil {
		s.End(status, o, err)
	}
}

// slowHold is how long a timed-out attempt holds its endpoint to one task in flight in a queue that can
// (SlowHolder). Every further timeout renews it and a success lifts it, so it only bounds a hold whose endpoint is no
// longer tried, or whose lifting failed.
const slowHold = 10 * time.Second

// holdSlow holds t's endpoint to one task in flight until until (the zero time lifts the hold), when the queue can.
// A failure only costs claims that hand out tasks enter then turns away, so it is logged, not returned.
func (e *Engine) holdSlow(ctx context.Context, t Task, until time.Time) {
	if e.holder == nil {
		return
	}
	wctx, cancel := e.writeContext(ctx, t)
	defer cancel()
	if err := e.holder.HoldSlow(wctx, t.EndpointID, until); err != nil {
		e.obs.StoreError("hold")
		e.log.LogAttrs(ctx, slog.LevelWarn, "delivery: hold slow endpoint",
			slog.String("tenant", t.TenantID), slog.String("endpoint_id", t.EndpointID), slog.String("error", err.Error()))
	}
}

// slowSpread bounds how far past one timeout slowWait spreads a slow endpoint's backlog; slowPerTimeout is how many
// turned-away tasks it puts in each further timeout.
const (
	slowSpread     = 10 * time.Second
	slowPerTimeout = 8
)

// slowWait is how long the n-th task (from 0) of a slow endpoint turned away since it became slow waits before it is
// claimed again: about one default attempt timeout, plus one more for every slowPerTimeout tasks turned away before
// it (at most slowSpread more), spread ±25% so that a backlog does not come back all at once. A slow endpoint gets
// one attempt per timeout here, so claiming its whole backlog again every timeout would only churn the queue.
func (e *Engine) slowWait(n int) time.Duration {
	d := e.cfg.attemptTimeout(0)
	extra := min(time.Duration(min(n/slowPerTimeout, 1<<20))*d, slowSpread)
	return d*3/4 + time.Duration(rand.Int64N(int64(d)/2+1)) + extra
}

// send renders, signs and posts m to ep for an attempt made at now. Its error is a failure to build the request;
// the receiver's answer, or the lack of one, is in the result.
func (e *Engine) send(ctx context.Context, sc *scratch, st *epState, ep *endpoints.Endpoint, m *Message, now time.Time) (result, error) {
	p, err := profiles.Lookup(ep.Profile)
	if err != nil {
		return result{}, err
	}
	sm, err := m.Signing()
	if err != nil {
		return result{}, err
	}
	sc.keys, err = st.signingKeys(sc.keys[:0], ep, p, now)
	if err != nil {
		return result{}, err
	}

	// A fresh buffer each time, read through a *bytes.Reader: the transport may still be writing it after Do returns,
	// and only a body it knows to be in memory is written with the headers in one write (one packet) instead of
	// after a separate flush of the headers.
	buf := p.AppendBody(make([]byte, 0, len(sm.Data)+bodyOverhead), &sm)

	// The budget starts with the latency clock, so that an attempt cut off at its deadline never reports a latency
	// shorter than the budget.
	timeout := e.cfg.attemptTimeout(ep.Timeout)
	start := time.Now()
	actx, cancel := context.WithDeadline(ctx, start.Add(timeout))
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, ep.URL, bytes.NewReader(buf))
	if err != nil {
		return result{}, err
	}
	req.Header = make(http.Header, len(ep.Headers)+5)
	for k, v := range ep.Headers { // custom headers first: the profile's then replace any that collide
		req.Header.Set(k, v)
	}
	if _, ok := req.Header["User-Agent"]; !ok && e.ua != nil {
		req.Header["User-Agent"] = e.ua // shared: the transport only reads it
	}
	if e.tracer != nil {
		e.tracer.Inject(actx, req.Header, ep.TracePropagate)
	}
	err = p.SetHeaders(req.Header, &sm, buf, now, sc.keys)
	clear(sc.keys) // drop key references from the pooled scratch
	if err != nil {
		return result{}, err // a profile that never sends unsigned, and no key signs
	}

	sent := profileHeaders(req.Header, ep.Headers)
	resp, err := e.client.Do(req)
	if err != nil {
		res := result{sent: sent}
		res.latency = time.Since(start)
		switch {
		case actx.Err() == context.DeadlineExceeded && ctx.Err() == nil:
			res.err = &timeoutError{timeout}
		default:
			res.err = stripURL(err)
		}
		return res, nil
	}
	res := result{code: resp.StatusCode, latency: time.Since(start), sent: sent}
	res.resp = e.readResponse(sc, resp.Body)
	if honoursRetryAfter(resp.StatusCode) {
		if wait, ok := ParseRetryAfter(resp.Header.Get("Retry-After"), now); ok {
			res.err = &RetryAfterError{Code: resp.StatusCode, Delay: min(wait, e.cfg.RetryAfterCap)}
		}
	}
	return res, nil
}

// profileHeaders returns the headers of h that the profile set: all but the User-Agent and the endpoint's custom
// headers (a custom header the profile replaced counts as the profile's).
func profileHeaders(h http.Header, custom map[string]string) map[string]string {
	out := make(map[string]string, len(h))
next:
	for k, vs := range h {
		if k == "User-Agent" || len(vs) == 0 {
			continue
		}
		for ck, cv := range custom {
			if strings.EqualFold(ck, k) && cv == vs[0] {
				continue next
			}
		}
		out[k] = strings.Join(vs, ", ")
	}
	return out
}

// readResponse reads up to ResponseLimit bytes of body (so the connection can be reused), closes it, and returns the
// first ResponseKeep bytes as valid UTF-8. Read errors are ignored: the status already decided the outcome.
func (e *Engine) readResponse(sc *scratch, body io.ReadCloser) string {
	defer body.Close()
	if cap(sc.resp) < e.cfg.ResponseKeep {
		sc.resp = make([]byte, e.cfg.ResponseKeep)
	}
	n, err := io.ReadFull(body, sc.resp[:e.cfg.ResponseKeep])
	if err == nil {
		_, _ = io.CopyN(io.Discard, body, e.cfg.ResponseLimit-int64(n))
	}
	if n == 0 {
		return ""
	}
	kept := sc.resp[:n]
	if !utf8.Valid(kept) {
		return strings.ToValidUTF8(string(kept), "\uFFFD")
	}
	return string(kept)
}

// record settles an attempt with outcome o: ack, nack on the retry schedule, or fail (dead when the schedule is
// spent). A retry waits at least wait (the receiver's Retry-After). health says whether the outcome reflects on the
// endpoint. An ack may come back with the endpoint's next task chained to it (Chainer), which record returns.
func (e *Engine) record(ctx context.Context, t Task, ep *endpoints.Endpoint, a Attempt, o Outcome, wait time.Duration, health bool, streak int) *Task {
	now := a.At
	var retryAt time.Time
	if o == OutcomeRetry {
		var ok bool
		if retryAt, ok = e.retryFor(ep).Next(e.cfg.Now(), a.N, wait, rand.Float64()); !ok {
			o = OutcomeDead
		}
	}
	a.Outcome = o.String()
	wctx, cancel := e.writeContext(ctx, t)
	defer cancel()
	if health {
		// Before settling the delivery, so that whoever sees it settled also sees what it did to the endpoint.
		if since := e.updateHealth(wctx, ep, o, now); !since.Equal(ep.FailingSince) {
			seen := *ep // the record as loaded, with this process's view of its health
			seen.FailingSince = since
			ep = &seen
		}
		e.notifyFailing(wctx, ep, o, a)
	}
	var (
		err  error
		op   string
		next *Task
	)
	switch {
	case o == OutcomeSuccess && e.chain != nil && !e.stopped.Load() && e.mayChain(t, streak):
		// Chaining keeps this worker's slot for its endpoint. While every worker is busy, only up to the endpoint's
		// fair share: past it the slot goes back to the dispatcher, whose claims serve every due endpoint in turn.
		op = "ack"
		next, err = e.chain.AckNext(wctx, t, a, e.cfg.Now(), ClaimOptions{Max: 1, Lease: e.cfg.Lease, MaxInFlight: e.endpointCap(t.EndpointID)})
	case o == OutcomeSuccess:
		op, err = "ack", e.q.Ack(wctx, t, a)
	case o == OutcomeRetry:
		op, err = "nack", e.q.Nack(wctx, t, a, retryAt)
	case o == OutcomeDead:
		op, err = "fail", e.q.Fail(wctx, t, a, StatusDead)
	default: // failed, gone
		op, err = "fail", e.q.Fail(wctx, t, a, StatusFailed)
	}
	if err != nil && !errors.Is(err, ErrLeaseLost) {
		e.obs.StoreError(op)
	}
	if err == nil && op == "fail" {
		e.notifyExhausted(wctx, ep, t, a, o, health)
		st := StatusFailed
		if o == OutcomeDead {
			st = StatusDead
		}
		e.logKeyMovesOn(wctx, t, ep, st)
	}
	profile := ""
	if ep != nil {
		profile = ep.Profile
	}
	e.obs.AttemptDone(profile, o, a.Latency, health)
	e.logAttempt(ctx, t, a, o, err)
	return next
}

// final settles a task that sent no request with a final failure.
func (e *Engine) final(ctx context.Context, t Task, ep *endpoints.Endpoint, a Attempt, o Outcome) {
	e.record(ctx, t, ep, a, o, 0, false, 0) // a final failure is no ack: nothing is chained to it
}

// retryLater hands a task back unspent after a store error, due again after the schedule's first wait.
func (e *Engine) retryLater(ctx context.Context, t Task, now time.Time, what string, err error) {
	if ctx.Err() != nil { // shutdown aborted the load
		e.release(context.WithoutCancel(ctx), t, now, "shutdown")
		return
	}
	e.obs.StoreError(strings.ReplaceAll(what, " ", "_"))
	e.log.LogAttrs(ctx, slog.LevelWarn, "delivery: "+what,
		slog.String("tenant", t.TenantID), slog.String("endpoint_id", t.EndpointID),
		slog.String("delivery_id", t.DeliveryID), slog.String("error", err.Error()))
	e.release(context.WithoutCancel(ctx), t, now.Add(e.cfg.Retry.Backoff(1, rand.Float64())), what)
}

// release gives a task back unspent, due at at.
func (e *Engine) release(ctx context.Context, t Task, at time.Time, why string) {
	wctx, cancel := e.writeContext(ctx, t)
	defer cancel()
	err := e.q.Release(wctx, t, at)
	level := slog.LevelDebug
	if err != nil && !errors.Is(err, ErrLeaseLost) {
		level = slog.LevelError
		e.obs.StoreError("release")
	}
	if e.log.Enabled(ctx, level) {
		attrs := []slog.Attr{
			slog.String("tenant", t.TenantID), slog.String("endpoint_id", t.EndpointID),
			slog.String("msg_id", t.MessageID), slog.String("delivery_id", t.DeliveryID),
			slog.String("reason", why), slog.Time("due", at),
		}
		if err != nil {
			attrs = append(attrs, slog.String("error", err.Error()))
		}
		e.log.LogAttrs(ctx, level, "delivery: released", attrs...)
	}
}

// writeContext bounds a write that settles t by what is left of its lease (at least minWriteTimeout), and is not
// cancelled with ctx: a result, once known, is recorded.
func (e *Engine) writeContext(ctx context.Context, t Task) (context.Context, context.CancelFunc) {
	left := max(t.LeaseUntil.Sub(e.cfg.Now()), minWriteTimeout)
	return context.WithTimeout(context.WithoutCancel(ctx), left)
}

// logAttempt writes the canonical line of one attempt. It never carries a secret, a signature or a body.
func (e *Engine) logAttempt(ctx context.Context, t Task, a Attempt, o Outcome, err error) {
	level := slog.LevelInfo
	switch {
	case errors.Is(err, ErrLeaseLost):
		level = slog.LevelDebug // another worker owns the task now; our result is moot
	case err != nil:
		level = slog.LevelError
	case o == OutcomeDead || o == OutcomeGone || o == OutcomeFailed:
		level = slog.LevelWarn
	}
	if !e.log.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 10)
	attrs = append(attrs,
		slog.String("tenant", t.TenantID),
		slog.String("endpoint_id", t.EndpointID),
		slog.String("msg_id", t.MessageID),
		slog.String("delivery_id", t.DeliveryID),
		slog.Int("attempt", a.N),
		slog.Int("status", a.StatusCode),
		slog.Int64("latency_ms", a.Latency.Milliseconds()),
		slog.String("outcome", a.Outcome),
	)
	if a.Error != "" {
		attrs = append(attrs, slog.String("error", a.Error))
	}
	if err != nil {
		attrs = append(attrs, slog.String("record_error", err.Error()))
	}
	e.log.LogAttrs(ctx, level, "delivery attempt", attrs...)
}

// timeoutError is an attempt that hit its deadline.
type timeoutError struct{ d time.Duration }

func (e *timeoutError) Error() string { return "timeout after " + e.d.String() }
func (e *timeoutError) Timeout() bool { return true }

// stripURL drops the URL that *url.Error carries: endpoint URLs may hold credentials in their query, and the
// attempt record and log already name the endpoint.
func stripURL(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err
	}
	return err
}
