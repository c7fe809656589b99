package cli

import (
	"fmt"

	"github.com/webhookd/webhookd/wire"
)

// scheduleFields are the label-value pairs of an endpoint's retry schedule overrides and re-check state, when set.
func scheduleFields(e *wire.Endpoint) []string {
	var out []string
	if e.Retries != nil || e.RetryInitial != "" || e.RetryCap != "" {
		v := "the server's"
		if e.Retries != nil {
			v = fmt.Sprint(*e.Retries)
		}
		v += " retries"
		if e.RetryInitial != "" {
			v += ", from " + e.RetryInitial
		}
		if e.RetryCap != "" {
			v += ", at most " + e.RetryCap
		}
		out = append(out, "retry schedule", v)
	}
	if e.OrderingOnFailure == "block" {
		out = append(out, "ordering on failure", "block (a dead delivery holds its ordering key)")
	}
	if e.HandshakeFailures > 0 {
		out = append(out, "re-check", fmt.Sprintf("%d failed in a row: %s", e.HandshakeFailures, e.HandshakeError))
	}
	if !e.HandshakeCheckedAt.IsZero() {
		out = append(out, "re-checked", when(e.HandshakeCheckedAt))
	}
	return out
}
