package api

import (
	"time"

	"github.com/webhookd/webhookd/wire"
)

// schedule is an endpoint request's retry schedule durations, parsed; nil when absent.
type schedule struct{ initial, cap *time.Duration }

// parseSchedule parses the retry_initial and retry_cap of an endpoint request.
func parseSchedule(req wire.EndpointRequest) (schedule, error) {
	var s schedule
	var err error
	if s.initial, err = parseDuration("retry_initial", req.RetryInitial); err != nil {
		return s, err
	}
	if s.cap, err = parseDuration("retry_cap", req.RetryCap); err != nil {
		return s, err
	}
	return s, nil
}

// durationOrEmpty shows an optional duration: "" for zero.
func durationOrEmpty(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}
