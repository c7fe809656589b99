package boltstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/endpoints"
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
		s.relane(next)
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

// fillBlocked sets Blocked on the ended deliveries of ds that hold their ordering key, read from bBlocked in the
// transaction that read them: the hold is written in the transaction that ends a delivery, while the scheduler
// learns of it only after that commit, so a reader between the two would see a dead delivery that holds nothing.
func fillBlocked(tx *bolt.Tx, tenantID string, ds []*delivery.Delivery) {
	var b *bolt.Bucket
	for _, d := range ds {
		if d.OrderingKey == "" || (d.Status != delivery.StatusFailed && d.Status != delivery.StatusDead) {
			continue
		}
		if b == nil {
			b = tx.Bucket(bBlocked)
		}
		d.Blocked = string(b.Get(key(tenantID, d.EndpointID, d.OrderingKey))) == d.ID
	}
}

// fillWaiting sets WaitingOn on the pending deliveries of ds that wait behind an earlier one of their key.
func (s *Store) fillWaiting(ds []*delivery.Delivery) {
	var some bool
	for _, d := range ds {
		some = some || (d.OrderingKey != "" && d.Status == delivery.StatusPending)
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

// Blocked keys. On an endpoint whose ordering_on_failure is block, a delivery with a key that ends failed or dead
// stays its line's head, in state blocked (out of items and lanes, in sched.blocked), so the deliveries behind it keep
// waiting on it. The hold is durable: the transaction that ends the delivery writes bBlocked (tenant 0 endpoint 0
// key → delivery), and Open puts each one back at the head of its line before the pending deliveries rejoin their
// lines. Unblock ends a hold: a retry makes the delivery pending again at the head of its line, a skip takes it out.

// blockOnEnd runs in the transaction that ends it failed or dead: when it has an ordering key and its endpoint blocks
// on failure, it records the hold and reports true.
func blockOnEnd(tx *bolt.Tx, it itemRef) (bool, error) {
	if it.okey == "" {
		return false, nil
	}
	e, err := getEndpoint(tx, it.tenant, it.endpoint)
	if errors.Is(err, endpoints.ErrNotFound) {
		return false, nil
	}
	if err != nil || !e.BlocksOnFailure() {
		return false, err
	}
	return true, tx.Bucket(bBlocked).Put(key(it.tenant, it.endpoint, it.okey), []byte(it.id))
}

// end forgets a finishing item whose delivery ended failed or dead, or, with block, keeps it holding its key.
func (s *sched) end(it *item, block bool) {
	if !block {
		s.done(it)
		return
	}
	delete(s.items, it.id)
	it.lane.closing--
	it.state, it.idx = blocked, -1
	s.blocked[it.id] = it
	s.drop(it.lane)
}

// relane gives it the lane now registered for its endpoint, or registers its own: a line behind a blocked head can
// outlive its lane (dropped once nothing was queued, leased or finishing in it).
func (s *sched) relane(it *item) {
	if l := s.lanes[it.lane.key]; l != nil {
		it.lane = l
	} else {
		s.lanes[it.lane.key] = it.lane
	}
}

// restoreBlocked puts every recorded hold back at the head of its line (at Open, before the pending deliveries rejoin
// their lines). A hold whose delivery is gone (pruned) is dropped.
func (s *Store) restoreBlocked() error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bBlocked)
		var stale [][]byte
		err := b.ForEach(func(k, v []byte) error {
			p := splitKey(k)
			if len(p) != 3 {
				return fmt.Errorf("blocked key %q: want tenant, endpoint and ordering key", k)
			}
			id := string(v)
			rec := tx.Bucket(bDeliveries).Get(key(p[0], id))
			if rec == nil {
				stale = append(stale, slices.Clone(k))
				return nil
			}
			d, err := decodeDelivery(rec)
			if err != nil {
				return err
			}
			lk := string(key(p[0], p[1]))
			it := &item{id: id, tenant: p[0], msg: d.MessageID, lane: &lane{key: lk, endpoint: p[1], idx: -1}, okey: p[2],
				state: blocked, idx: -1}
			s.sched.lines[lineKey(it)] = &line{key: lineKey(it), items: []*item{it}}
			s.sched.blocked[id] = it
			return nil
		})
		for _, k := range stale {
			if err == nil {
				err = b.Delete(k)
			}
		}
		return err
	})
}

// Unblock ends the hold of tenant's blocked delivery id (delivery.Unblocker): with retry it is pending again, due at
// now with its attempts at 0, at the head of its line; without, the next delivery of its key goes.
func (s *Store) Unblock(ctx context.Context, tenantID, id string, retry bool, now time.Time) (*delivery.Delivery, error) {
	if err := s.lockOpen(ctx); err != nil {
		return nil, err
	}
	// Its end may be committed, and so read by the caller (fillBlocked), before the scheduler applies it.
	s.awaitSettled(func() bool { return s.sched.ending(id) })
	it := s.sched.blocked[id]
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	if it != nil && it.tenant == tenantID {
		delete(s.sched.blocked, id) // ours while the write runs
	} else {
		it = nil
	}
	s.mu.Unlock()
	if it == nil {
		if _, err := s.GetDelivery(ctx, tenantID, id); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("delivery %s: %w", id, delivery.ErrNotBlocked)
	}
	var d *delivery.Delivery
	err := s.write(ctx, func(tx *bolt.Tx) error {
		if err := tx.Bucket(bBlocked).Delete(key(it.tenant, it.lane.endpoint, it.okey)); err != nil {
			return err
		}
		var err error
		if d, err = getDelivery(tx, tenantID, id); err != nil || !retry {
			return err
		}
		if err := tx.Bucket(bTerminal).Delete(timeKey(d.CreatedAt, key(d.TenantID, d.ID))); err != nil {
			return err
		}
		d.Status, d.Attempts, d.NextAttemptAt, d.UpdatedAt = delivery.StatusPending, 0, now, now
		return putDelivery(tx, d)
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.sched.blocked[id] = it
		return nil, fmt.Errorf("unblock %s: %w", id, err)
	}
	if retry {
		it.attempts = 0
		s.sched.relane(it)
		s.sched.items[id] = it
		s.sched.queue(it, now)
	} else {
		s.sched.leaveLine(it)
	}
	return d, nil
}

// ending reports whether id's result is being committed and the scheduler does not have it blocked yet: an end,
// perhaps with a hold, that readers of the file may see before the scheduler applies it.
func (s *sched) ending(id string) bool {
	f := s.items[id]
	return s.blocked[id] == nil && f != nil && f.state == finishing
}

// releaseBlocked ends every hold of tenant's endpoint, as a skip does (its ordering_on_failure went back to skip).
func (s *Store) releaseBlocked(ctx context.Context, tenantID, endpointID string) error {
	var ids []string
	err := s.write(ctx, func(tx *bolt.Tx) error {
		ids = ids[:0]
		b, p := tx.Bucket(bBlocked), prefix(tenantID, endpointID)
		c := b.Cursor()
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Seek(p) {
			ids = append(ids, string(v))
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("endpoint %s: release blocked keys: %w", endpointID, err)
	}
	if err := s.lockOpen(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	// A hold whose end is committed but not yet applied would be applied after this release, and hold its key in
	// memory only: let those settle first.
	s.awaitSettled(func() bool { return slices.ContainsFunc(ids, s.sched.ending) })
	for _, id := range ids {
		if it := s.sched.blocked[id]; it != nil {
			delete(s.sched.blocked, id)
			s.sched.leaveLine(it)
		}
	}
	return nil
}

// LineHead returns the delivery at the head of an ordering key's line at tenant's endpoint, "" when there is none
// (delivery.LineReader).
func (s *Store) LineHead(ctx context.Context, tenantID, endpointID, okey string) (string, error) {
	if err := s.lockOpen(ctx); err != nil {
		return "", err
	}
	defer s.mu.Unlock()
	if ln := s.sched.lines[string(key(tenantID, endpointID))+"\x00"+okey]; ln != nil && len(ln.items) > 0 {
		return ln.items[0].id, nil
	}
	return "", nil
}

// holdsKey reports whether the delivery stored under dk (tenant 0 delivery) holds its ordering key: Prune keeps it,
// so that a retry or skip can still name it.
func holdsKey(tx *bolt.Tx, dk []byte) bool {
	v := tx.Bucket(bDeliveries).Get(dk)
	if v == nil {
		return false
	}
	d, err := decodeDelivery(v)
	if err != nil || d.OrderingKey == "" {
		return false
	}
	return string(tx.Bucket(bBlocked).Get(key(d.TenantID, d.EndpointID, d.OrderingKey))) == d.ID
}
