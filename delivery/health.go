package delivery

import (
	"time"

	"github.com/webhookd/webhookd/endpoints"
)

// Reasons an engine disables an endpoint with (endpoints.Endpoint.DisabledReason).
const (
	ReasonGone    = "gone"    // the receiver answered 410
	ReasonFailing = "failing" // it failed for HealthSpan with no success
)

// healthChange is a write to an endpoint's health: its new FailingSince and, when Disable, the reason it is
// disabled.
type healthChange struct {
	FailingSince time.Time
	Disable      bool
	Reason       string
}

// healthAfter returns the health write an attempt's outcome calls for, given the endpoint as loaded before the
// attempt, or ok false when nothing changes. Only transitions write: healthy to failing (FailingSince = now), failing
// for span or longer to disabled, failing to healthy (a success), and any state to disabled on 410.
func healthAfter(ep *endpoints.Endpoint, o Outcome, now time.Time, span time.Duration) (c healthChange, ok bool) {
	switch o {
	case OutcomeSuccess:
		if ep.FailingSince.IsZero() {
			return c, false
		}
		return healthChange{}, true
	case OutcomeGone:
		return healthChange{FailingSince: cmpOrTime(ep.FailingSince, now), Disable: true, Reason: ReasonGone}, true
	}
	if ep.FailingSince.IsZero() {
		return healthChange{FailingSince: now}, true
	}
	if now.Sub(ep.FailingSince) >= span {
		return healthChange{FailingSince: ep.FailingSince, Disable: true, Reason: ReasonFailing}, true
	}
	return c, false
}

func cmpOrTime(t, def time.Time) time.Time {
	if t.IsZero() {
		return def
	}
	return t
}
