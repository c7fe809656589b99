package delivery

import (
	"context"
	"time"

	"github.com/webhookd/webhookd/endpoints"
)

// The failing notice is given when an attempt fails and the endpoint's failing spell has lasted Config.FailingAfter.
// An endpoint that failed and then has nothing to send, or whose next retry is hours away, would get it late or
// never; RunFailingCheck looks at the failing endpoints periodically and gives the notice when the spell is long
// enough, once per spell in this process like the attempt path (both claim the same spell).

// CheckFailing gives ep's failing notice if its failing spell has lasted FailingAfter by now and the notice is still
// to be given in this process. lastError says why no attempt names the failure.
func (e *Engine) CheckFailing(ctx context.Context, ep *endpoints.Endpoint, now time.Time) {
	if ep == nil || ep.Disabled || ep.FailingSince.IsZero() {
		return
	}
	e.notifyFailing(ctx, ep, OutcomeRetry, Attempt{At: now,
		Error: "no successful delivery since " + ep.FailingSince.UTC().Format(time.RFC3339)})
}

// RunFailingCheck calls CheckFailing on every endpoint list returns, now and then every every (FailingAfter/5,
// between 1s and 1m, when ≤ 0), until ctx ends; it returns nil. It does nothing when failing notices are off.
func (e *Engine) RunFailingCheck(ctx context.Context, every time.Duration, list func(context.Context) ([]*endpoints.Endpoint, error)) error {
	if e.cfg.FailingAfter < 0 || e.healthNotifier() == nil {
		return nil
	}
	if every <= 0 {
		every = min(time.Minute, max(e.cfg.FailingAfter/5, time.Second))
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		eps, err := list(ctx)
		if err != nil && ctx.Err() == nil {
			e.log.Warn("failing check: list endpoints", "err", err)
		}
		now := time.Now()
		for _, ep := range eps {
			e.CheckFailing(ctx, ep, now)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
