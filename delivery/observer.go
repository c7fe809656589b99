package delivery

import (
	"context"
	"time"
)

// Observer hears what the engine does, for metrics. The engine calls it from its workers: implementations must be
// safe for concurrent use and must not block. Every argument is from a small fixed set (a profile name, an outcome,
// a reason, an operation), never an id or a URL, so that an implementation can use them as metric labels.
type Observer interface {
	// AttemptDone is called once per attempt, after its result was written (or the write failed). profile is the
	// endpoint's profile, "" when the endpoint could not be loaded. sent reports whether a request went out; latency
	// is then the time to the response (or to the transport error).
	AttemptDone(profile string, o Outcome, latency time.Duration, sent bool)
	// EndpointDisabled is called once per endpoint the engine disables, with ReasonGone or ReasonFailing.
	EndpointDisabled(reason string)
	// StoreError is called when a store call of the engine fails (a lost lease is not a failure). op is one of
	// claim, next_due, reclaim, ack, nack, fail, release, load_endpoint, load_message, set_health.
	StoreError(op string)
}

// nopObserver is the Observer of an engine given none.
type nopObserver struct{}

func (nopObserver) AttemptDone(string, Outcome, time.Duration, bool) {}
func (nopObserver) EndpointDisabled(string)                          {}
func (nopObserver) StoreError(string)                                {}

// QueueStats is a snapshot of a queue's depth. A count the store cannot get cheaply is -1.
type QueueStats struct {
	Due       int64 // pending deliveries due now and not leased
	InFlight  int64 // leased to a worker (in any process sharing the queue)
	Scheduled int64 // pending deliveries due later: retries waiting for their time, rate-limited tasks
	Dead      int64 // dead-lettered deliveries still in the log (retention prunes them)
}

// QueueStatsReporter is implemented by a Queue that can report its depth cheaply (without scanning the delivery
// log). It is optional: metrics export what a store reports and leave out the rest.
type QueueStatsReporter interface {
	QueueStats(ctx context.Context) (QueueStats, error)
}
