package boltstore

import (
	"context"
	"time"

	"github.com/webhookd/webhookd/delivery"
)

var _ delivery.QueueStatsReporter = (*Store)(nil)

// QueueStats reports the queue's depth from the in-memory scheduler, at the wall clock: Due and Scheduled in one pass
// over the pending deliveries (O(pending), under the scheduler's lock, which claims also take), InFlight from the leases (a task whose result is being written counts as in flight). Dead deliveries have no index
// in this store, so Dead is -1 (unknown).
func (s *Store) QueueStats(ctx context.Context) (delivery.QueueStats, error) {
	if err := ctx.Err(); err != nil {
		return delivery.QueueStats{}, err
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return delivery.QueueStats{}, ErrClosed
	}
	st := delivery.QueueStats{Dead: -1}
	for _, it := range s.sched.items {
		switch {
		case it.state == waiting:
			st.Scheduled++ // behind an earlier delivery of its ordering key
		case it.state != queued:
			st.InFlight++
		case !it.due.After(now):
			st.Due++
		default:
			st.Scheduled++
		}
	}
	return st, nil
}
