package delivery

import "net/http"

// Outcome is what one attempt's result means for its delivery.
type Outcome uint8

// Outcomes, as Policy.Classify returns them (OutcomeDead is the engine's: a retry the schedule has no room for).
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

// Policy decides what an attempt's result means under one profile: code is the HTTP status (0 when no response
// arrived) and err the transport error (nil when a response arrived). Redirects are never followed, so a 3xx is a
// response like any other.
type Policy interface {
	Classify(code int, err error) Outcome
}

// PolicyFunc adapts a function to Policy.
type PolicyFunc func(code int, err error) Outcome

// Classify calls f.
func (f PolicyFunc) Classify(code int, err error) Outcome { return f(code, err) }

// The profiles' policies.
var (
	// StandardPolicy follows Standard Webhooks: 2xx succeeds; 410 is gone; everything else (3xx, 4xx, 429, 5xx,
	// network errors, timeouts) is retried.
	StandardPolicy Policy = PolicyFunc(classifyStandard)
	// OpenMDMPolicy follows @openmdm/core: 2xx succeeds; 410 is gone; any other 4xx but 429 fails for good; 429,
	// 5xx, network errors and timeouts are retried (so are 1xx and 3xx, which OpenMDM's sender never sees).
	OpenMDMPolicy Policy = PolicyFunc(classifyOpenMDM)
	// MenderPolicy follows Mender's iot-manager: any status of 300 or more fails. Mender does not retry; webhookd
	// retries as for standard, and 410 is gone.
	MenderPolicy Policy = PolicyFunc(classifyStandard)
)

// PolicyFor returns the policy of the named profile; an unknown name gets StandardPolicy.
func PolicyFor(profile string) Policy {
	switch profile {
	case "openmdm":
		return OpenMDMPolicy
	case "mender":
		return MenderPolicy
	}
	return StandardPolicy
}

func classifyStandard(code int, err error) Outcome {
	switch {
	case err != nil || code == 0:
		return OutcomeRetry
	case code >= 200 && code <= 299:
		return OutcomeSuccess
	case code == http.StatusGone:
		return OutcomeGone
	}
	return OutcomeRetry
}

func classifyOpenMDM(code int, err error) Outcome {
	switch {
	case err != nil || code == 0:
		return OutcomeRetry
	case code >= 200 && code <= 299:
		return OutcomeSuccess
	case code == http.StatusGone:
		return OutcomeGone
	case code == http.StatusTooManyRequests:
		return OutcomeRetry
	case code >= 400 && code <= 499:
		return OutcomeFailed
	}
	return OutcomeRetry
}
