package delivery

import (
	"context"
	"strconv"
	"time"

	"github.com/webhookd/webhookd/endpoints"
)

// DefaultFailingAfter is how long an endpoint fails with no success before the engine tells a HealthNotifier.
const DefaultFailingAfter = 5 * time.Minute

// HealthNotifier is a Notifier that also hears of the engine's other transitions, for operational events. The engine
// uses these methods when its Deps.Notifier implements them. Each is called once per transition in this process,
// after the transition is stored when it is stored at all; replicas sharing a store each notify what they saw.
type HealthNotifier interface {
	Notifier
	// EndpointFailing is called when an attempt fails and the endpoint has had no success for Config.FailingAfter
	// (since ep.FailingSince), once per failing spell. lastError describes the failed attempt.
	EndpointFailing(ctx context.Context, ep *endpoints.Endpoint, lastError string)
	// EndpointRecovered is called when a success ends a failing spell that lasted FailingAfter or longer.
	// failingSince is when the spell began; ep is the endpoint as loaded before the success.
	EndpointRecovered(ctx context.Context, ep *endpoints.Endpoint, failingSince time.Time)
	// DeliveryExhausted is called when a delivery ends dead (every retry spent) or failed after a request went out,
	// once its final state is stored. a is its last attempt.
	DeliveryExhausted(ctx context.Context, ep *endpoints.Endpoint, t Task, a Attempt)
}

// retryFor returns the retry schedule of ep: the engine's, with the endpoint's overrides (endpoints.Endpoint.Retries,
// RetryInitial, RetryCap) applied. The API keeps overrides within the operator's limits.
func (e *Engine) retryFor(ep *endpoints.Endpoint) Retry {
	r := e.cfg.Retry
	if ep == nil {
		return r
	}
	if ep.Retries != nil {
		r.Count = *ep.Retries
		if r.Count == 0 {
			r.Count = -1 // Retry's "none"
		}
	}
	if ep.RetryInitial > 0 {
		r.Initial = ep.RetryInitial
	}
	if ep.RetryCap > 0 {
		r.Cap = ep.RetryCap
	}
	r.Cap = max(r.Cap, r.Initial)
	return r
}

// reclaimAttempts is the attempt count past which Reclaim kills a task whose lease expired: the most any endpoint's
// schedule allows, so that an endpoint with more retries than the engine's default keeps them.
func (e *Engine) reclaimAttempts() int {
	return max(e.cfg.Retry.MaxAttempts(), endpoints.MaxRetries+1)
}

// healthNotifier returns the engine's notifier as a HealthNotifier, or nil.
func (e *Engine) healthNotifier() HealthNotifier {
	hn, _ := e.notifier.(HealthNotifier)
	return hn
}

// notifyFailing tells the notifier that ep has failed for FailingAfter, once per failing spell in this process.
func (e *Engine) notifyFailing(ctx context.Context, ep *endpoints.Endpoint, o Outcome, a Attempt) {
	hn := e.healthNotifier()
	if hn == nil || e.cfg.FailingAfter < 0 || o == OutcomeSuccess || ep.FailingSince.IsZero() ||
		a.At.Sub(ep.FailingSince) < e.cfg.FailingAfter {
		return
	}
	if !e.states.get(ep.TenantID, ep.ID).claimSpell(&ep.FailingSince, false) {
		return
	}
	lastErr := a.Error
	if lastErr == "" && a.StatusCode != 0 {
		lastErr = "HTTP " + strconv.Itoa(a.StatusCode)
	}
	hn.EndpointFailing(ctx, ep, lastErr)
}

// notifyRecovered tells the notifier that a success ended ep's failing spell, when it lasted FailingAfter.
func (e *Engine) notifyRecovered(ctx context.Context, ep *endpoints.Endpoint, now time.Time) {
	hn := e.healthNotifier()
	if hn == nil || e.cfg.FailingAfter < 0 || ep.FailingSince.IsZero() || now.Sub(ep.FailingSince) < e.cfg.FailingAfter {
		return
	}
	if !e.states.get(ep.TenantID, ep.ID).claimSpell(&ep.FailingSince, true) {
		return
	}
	hn.EndpointRecovered(ctx, ep, ep.FailingSince)
}

// notifyExhausted tells the notifier that t's delivery ended with outcome o, if that is an exhaustion.
func (e *Engine) notifyExhausted(ctx context.Context, ep *endpoints.Endpoint, t Task, a Attempt, o Outcome, sent bool) {
	hn := e.healthNotifier()
	if hn == nil || ep == nil || !(o == OutcomeDead || sent && (o == OutcomeFailed || o == OutcomeGone)) {
		return
	}
	hn.DeliveryExhausted(ctx, ep, t, a)
}

// claimSpell reports whether the failing (recovered false) or recovered notice of the spell that began at *since is
// still to be given in this process, and marks it given.
func (st *epState) claimSpell(since *time.Time, recovered bool) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	at := &st.failingNoticed
	if recovered {
		at = &st.recoveredNoticed
	}
	if at.Equal(*since) {
		return false
	}
	*at = *since
	return true
}
