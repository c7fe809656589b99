package delivery

import "github.com/webhookd/webhookd/profiles"

// Outcome is what one attempt's result means for its delivery.
type Outcome uint8

// Outcomes, as a profile's policy decides them (OutcomeDead is the engine's: a retry the schedule has no room for).
const (
	OutcomeSuccess Outcome = iota + 1 // delivered
	OutcomeRetry                      // failed; try again on the retry schedule
	OutcomeFailed                     // failed for good; no retry
	OutcomeGone                       // the receiver answered 410: fail, and disable the endpoint
	OutcomeDead                       // failed, and every retry was spent
)

// String returns the name the delivery log uses: success, retry, failed, gone or dead.
func (o Outcome) String() string {
	switch o {
	case OutcomeSuccess:
		return "success"
	case OutcomeRetry:
		return "retry"
	case OutcomeFailed:
		return "failed"
	case OutcomeGone:
		return "gone"
	case OutcomeDead:
		return "dead"
	}
	return "unknown"
}

// classify returns what an attempt's result means under the outcome policy of the named profile (package profiles
// declares each one's): code is the HTTP status (0 when no response arrived) and err the transport error (nil when
// a response arrived). An unknown profile gets the default profile's policy.
func classify(profile string, code int, err error) Outcome {
	p, lerr := profiles.Lookup(profile)
	if lerr != nil {
		p = profiles.Default()
	}
	switch p.Classify(code, err) {
	case profiles.Delivered:
		return OutcomeSuccess
	case profiles.Fail:
		return OutcomeFailed
	case profiles.Gone:
		return OutcomeGone
	}
	return OutcomeRetry
}
