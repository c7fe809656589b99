package boltstore

import (
	"context"
	"time"

	"github.com/webhookd/webhookd/delivery"
)

// Ordering keys. A delivery with an ordering key joins its (endpoint, key) line at the back; only the line's head is
// in the lane, so at most one delivery of a key is claimable or in flight at a time, and retries of the head keep the
// key held (a Nack, Release or Reclaim requeues the head, which stays the head). When the head ends (succeeded,
// failed or dead) the next delivery of the line enters the lane at its own due time. Lines live in memory like the
// lanes and are rebuilt at Open from the pending deliveries in id order (ids sort in creation order).

// line is one (endpoint, ordering key)'s pending deliveries, head first.
type line struct {
	key   string
	items []*item
}

func lineKey(it *item) string { return it.lane.key + "\x00" + it.okey }

// enterLine appends it to its key's line and tells whether it is the head (and so goes to its lane); otherwise it
// waits, due at due once it is promoted.
func (s *sched) enterLine(it *item, due time.Time) bool {
	lk := lineKey(it)
	ln := s.lines[lk]
	if ln == nil {
		ln = &line{key: lk}
		s.lines[lk] = ln
	}
	ln.items = append(ln.items, it)
	if len(ln.items) == 1 {
		return true
	}
	it.due, it.state, it.idx = due, waiting, -1
	return false
}

// leaveLine takes an ended delivery out of its line and puts the next one, if any, in its lane.
func (s *sched) leaveLine(it *item) {
	lk := lineKey(it)
	ln := s.lines[lk]
	if ln == nil {
		return
	}
	for i, x := range ln.items {
		if x == it {
			ln.items = append(ln.items[:i], ln.items[i+1:]...)
			break
		}
	}
	if len(ln.items) == 0 {
		delete(s.lines, lk)
		return
	}
	if next := ln.items[0]; next.state == waiting {
		s.queue(next, next.due)
	}
}

// waitingOn returns the id of the delivery the pending delivery id waits behind, or "".
func (s *sched) waitingOn(id string) string {
	it := s.items[id]
	if it == nil || it.state != waiting {
		return ""
	}
	if ln := s.lines[lineKey(it)]; ln != nil && len(ln.items) > 0 {
		return ln.items[0].id
	}
	return ""
}

// heldKeys counts, per endpoint, the ordering keys with a delivery waiting behind another.
func (s *sched) heldKeys() map[string]int {
	out := make(map[string]int)
	for _, ln := range s.lines {
		if len(ln.items) > 1 {
			out[ln.items[0].lane.endpoint]++
		}
	}
	return out
}

// fillWaiting sets WaitingOn on the pending deliveries of ds that wait behind an earlier one of their key.
func (s *Store) fillWaiting(ds []*delivery.Delivery) {
	var some bool
	for _, d := range ds {
		some = some || d.OrderingKey != "" && d.Status == delivery.StatusPending
	}
	if !some {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range ds {
		if d.OrderingKey != "" && d.Status == delivery.StatusPending {
			d.WaitingOn = s.sched.waitingOn(d.ID)
		}
	}
}

// HeldKeys counts, per endpoint id, the ordering keys whose line has a delivery waiting behind its head
// (delivery.HeldKeysReporter).
func (s *Store) HeldKeys(ctx context.Context) (map[string]int, error) {
	if err := s.lockOpen(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	return s.sched.heldKeys(), nil
}
