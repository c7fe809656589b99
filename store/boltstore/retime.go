package boltstore

import (
	"container/heap"
	"context"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/webhookd/webhookd/endpoints"
)

// retime moves an endpoint's deferred deliveries (held back unspent by a Release: rate limit, slow endpoint) that
// are due after now to the new rate: in due order, the i-th is due at now + i/rate (now for every one when rate is
// 0), or at its old due time when that is earlier. Retries waiting for their backoff are left alone. UpdateEndpoint
// calls it when the endpoint's rate changes, so that a backlog spaced by an old rate (100 s apart at 0.01/s) is not
// left so after the limit is raised or removed, and each record's next_attempt_at stays the time it will go.
func (s *Store) retime(ctx context.Context, tenantID, endpointID string, rate float64) (int, error) {
	if err := s.lockOpen(ctx); err != nil {
		return 0, err
	}
	// A release being committed was spaced by the old rate: let the lane's releases in flight land first, so that
	// they are moved too.
	lk := string(key(tenantID, endpointID))
	s.awaitSettled(func() bool { l := s.sched.lanes[lk]; return l != nil && l.releases > 0 })
	if s.closed {
		s.mu.Unlock()
		return 0, ErrClosed
	}
	now := time.Now().UTC()
	type move struct {
		it       *item
		from, to time.Time
	}
	var moves []move
	if l := s.sched.lanes[lk]; l != nil {
		for _, it := range l.items {
			if it.state == queued && it.deferred && it.due.After(now) {
				moves = append(moves, move{it: it, from: it.due})
			}
		}
	}
	s.mu.Unlock()
	if len(moves) == 0 {
		return 0, nil
	}
	slices.SortFunc(moves, func(a, b move) int { return a.from.Compare(b.from) })
	for i := range moves {
		to := now
		if r := endpoints.EnforcedRate(rate); r > 0 {
			to = now.Add(time.Duration(float64(i) / r * float64(time.Second)))
		}
		moves[i].to = to.Truncate(time.Millisecond)
		if moves[i].from.Before(moves[i].to) {
			moves[i].to = moves[i].from
		}
	}
	err := s.write(ctx, func(tx *bolt.Tx) error {
		for _, m := range moves {
			d, err := getDelivery(tx, tenantID, m.it.id)
			if err != nil || d.Status.Terminal() || !d.NextAttemptAt.Equal(m.from) {
				continue // settled or moved since: not ours to change
			}
			d.NextAttemptAt = m.to
			v, err := encodeDeferred(d)
			if err != nil {
				return err
			}
			if err := tx.Bucket(bDeliveries).Put(key(tenantID, d.ID), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("boltstore: re-time endpoint %s: %w", endpointID, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, m := range moves {
		it := m.it
		if s.sched.items[it.id] != it || it.state != queued || !it.due.Equal(m.from) {
			continue // claimed (and maybe settled) since: its own result decides its time
		}
		it.due = m.to
		heap.Fix(&it.lane.items, it.idx)
		n++
	}
	if l := s.sched.lanes[string(key(tenantID, endpointID))]; l != nil && l.idx >= 0 && len(l.items) > 0 &&
		l.items[0].due.Before(l.score) {
		l.score = l.items[0].due
		heap.Fix(&s.sched.ready, l.idx)
	}
	return n, nil
}
