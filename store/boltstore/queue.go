package boltstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/webhookd/webhookd/delivery"
)

// Claim leases due deliveries: a memory operation, nothing is written. See sched.claim for the order.
func (s *Store) Claim(ctx context.Context, now time.Time, opt delivery.ClaimOptions) ([]delivery.Task, error) {
	if opt.Lease <= 0 {
		return nil, fmt.Errorf("claim: lease %v must be positive", opt.Lease)
	}
	if err := s.lockOpen(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	if opt.Max <= 0 {
		return nil, nil
	}
	return s.sched.claim(now, opt), nil
}

// Ack records a successful attempt and ends the delivery.
func (s *Store) Ack(ctx context.Context, t delivery.Task, a delivery.Attempt) error {
	return s.settle(ctx, t, func(tx *bolt.Tx, _ itemRef) (bool, error) {
		return false, s.finishAttempt(tx, t, a, delivery.StatusSucceeded, time.Time{}, "success")
	}, func(it *item, _ bool) { s.sched.done(it) })
}

// Nack records a failed attempt and schedules the next at retryAt.
func (s *Store) Nack(ctx context.Context, t delivery.Task, a delivery.Attempt, retryAt time.Time) error {
	return s.settle(ctx, t, func(tx *bolt.Tx, _ itemRef) (bool, error) {
		return false, s.finishAttempt(tx, t, a, delivery.StatusPending, retryAt, "retry")
	}, func(it *item, _ bool) { s.sched.requeue(it, retryAt, t.Attempt) })
}

// Fail records a final attempt and ends the delivery with status, StatusFailed or StatusDead.
func (s *Store) Fail(ctx context.Context, t delivery.Task, a delivery.Attempt, status delivery.Status) error {
	if status != delivery.StatusFailed && status != delivery.StatusDead {
		return fmt.Errorf("fail delivery %s: status %q is not failed or dead", t.DeliveryID, status)
	}
	return s.settle(ctx, t, func(tx *bolt.Tx, ref itemRef) (bool, error) {
		if err := s.finishAttempt(tx, t, a, status, time.Time{}, string(status)); err != nil {
			return false, err
		}
		return blockOnEnd(tx, ref)
	}, func(it *item, block bool) { s.sched.end(it, block) })
}

// Release gives a task back unspent, due again at at. The new due time is stored.
func (s *Store) Release(ctx context.Context, t delivery.Task, at time.Time) error {
	return s.settleAs(ctx, t, true, func(tx *bolt.Tx, _ itemRef) (bool, error) {
		d, err := getDelivery(tx, t.TenantID, t.DeliveryID)
		if err != nil {
			return false, err
		}
		d.NextAttemptAt = at
		v, err := encodeDeferred(d)
		if err != nil {
			return false, err
		}
		return false, tx.Bucket(bDeliveries).Put(key(d.TenantID, d.ID), v) // still pending: the indexes stand
	}, func(it *item, _ bool) {
		s.sched.requeue(it, at, it.attempts)
		it.deferred = true
	})
}

// Extend pushes a task's lease to until; a lease never moves earlier. Leases live in memory only.
func (s *Store) Extend(ctx context.Context, t delivery.Task, until time.Time) error {
	if err := s.lockOpen(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	it := s.sched.leasedItem(t)
	if it == nil {
		return leaseLost(t)
	}
	if until.After(it.leaseUntil) {
		it.leaseUntil = until
	}
	return nil
}

// HoldSlow holds an endpoint to one task in flight until until (delivery.SlowHolder); the zero time lifts the hold.
// Holds live in memory, as leases do: a claim parks a held lane that has a task out, and the end of that task
// unparks it, as at the in-flight cap.
func (s *Store) HoldSlow(ctx context.Context, endpointID string, until time.Time) error {
	if err := s.lockOpen(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if until.IsZero() {
		delete(s.sched.holds, endpointID)
	} else {
		s.sched.holds[endpointID] = until
	}
	return nil
}

// Reclaim puts tasks whose lease expired before now back in their lanes, due at now, counting the attempt as spent
// (an attempt record with the error "lease expired" is written), or ends them dead when that was attempt maxAttempts
// (maxAttempts ≤ 0: never). It moves at most max (all when max ≤ 0), oldest lease first, in one transaction, and
// returns the tasks it ended dead.
func (s *Store) Reclaim(ctx context.Context, now time.Time, maxAttempts int, max int) (int, []delivery.Task, error) {
	if err := s.lockOpen(ctx); err != nil {
		return 0, nil, err
	}
	its := s.sched.expired(now, max)
	type move struct {
		it       *item
		ref      itemRef
		t        delivery.Task
		attempts int
		dead     bool
		block    bool // dead, holding its ordering key (ordering.go)
	}
	moves := make([]move, len(its))
	for i, it := range its {
		n := it.attempts + 1
		moves[i] = move{it: it, ref: it.ref(), t: it.task(), attempts: n, dead: maxAttempts > 0 && n >= maxAttempts}
		s.sched.begin(it)
	}
	s.mu.Unlock()
	if len(moves) == 0 {
		return 0, nil, nil
	}
	err := s.write(context.WithoutCancel(ctx), func(tx *bolt.Tx) error {
		for i := range moves {
			m := &moves[i]
			status, outcome, retry := delivery.StatusPending, "retry", now
			if m.dead {
				status, outcome, retry = delivery.StatusDead, "dead", time.Time{}
			}
			a := delivery.Attempt{At: m.it.claimedAt, Error: "lease expired", Latency: now.Sub(m.it.claimedAt)}
			if err := s.recordAttempt(tx, m.t, a, status, retry, outcome, now); err != nil {
				return err
			}
			if m.dead {
				var err error
				if m.block, err = blockOnEnd(tx, m.ref); err != nil {
					return err
				}
			}
		}
		return nil
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.settled.Broadcast()
	for _, m := range moves {
		switch {
		case err != nil:
			s.sched.abort(m.it)
		case m.dead:
			s.sched.end(m.it, m.block)
		default:
			s.sched.requeue(m.it, now, m.attempts)
		}
	}
	if err != nil {
		return 0, nil, fmt.Errorf("reclaim: %w", err)
	}
	var dead []delivery.Task
	for _, m := range moves {
		if m.dead {
			dead = append(dead, m.t)
		}
	}
	return len(moves), dead, nil
}

// NextDue returns the earliest time a lane that is not at its in-flight cap has work, or the zero time.
func (s *Store) NextDue(ctx context.Context) (time.Time, error) {
	if err := s.lockOpen(ctx); err != nil {
		return time.Time{}, err
	}
	defer s.mu.Unlock()
	return s.sched.nextDue(), nil
}

// settle ends a lease: it checks t's fence, applies the result with commit (durably or in the open transaction,
// shared with concurrent writers: commit.go), then applies it to the lanes with apply, which gets commit's flag. While
// the write runs the item is finishing, so a reclaim, extend or duplicate result cannot race it, but its endpoint's
// in-flight slot is already free; when the write fails the lease stands as it was and takes its slot back. Once
// applied, waiters on s.settled are woken (awaitSettled). commit may run again after a rollback, so it reads the item
// only through ref, a copy.
func (s *Store) settle(ctx context.Context, t delivery.Task, commit func(*bolt.Tx, itemRef) (bool, error), apply func(*item, bool)) error {
	return s.settleAs(ctx, t, false, commit, apply)
}

// settleAs is settle; with release set (Release), the lane counts the result as a release while it is committed
// (retime waits for those).
func (s *Store) settleAs(ctx context.Context, t delivery.Task, release bool, commit func(*bolt.Tx, itemRef) (bool, error), apply func(*item, bool)) error {
	if err := s.lockOpen(ctx); err != nil {
		return err
	}
	it := s.sched.leasedItem(t)
	if it == nil {
		s.mu.Unlock()
		return leaseLost(t)
	}
	s.sched.begin(it)
	l := it.lane
	if release {
		l.releases++
	}
	ref := it.ref()
	s.mu.Unlock()
	var flag bool
	err := s.writeResult(ctx, func(tx *bolt.Tx) error {
		var err error
		flag, err = commit(tx, ref)
		return err
	}, func(tx *bolt.Tx) error {
		_, err := commit(tx, ref)
		return err
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.settled.Broadcast()
	if release {
		l.releases--
	}
	if err != nil {
		s.sched.abort(it)
		return fmt.Errorf("delivery %s: %w", t.DeliveryID, err)
	}
	apply(it, flag)
	return nil
}

// settleWait bounds how long awaitSettled waits: results in flight settle within a commit, normally milliseconds.
const settleWait = 5 * time.Second

// awaitSettled waits, holding s.mu, while inFlight reports results being committed that the caller must see applied
// (a result is committed, and so visible to readers, before the scheduler applies it), at most settleWait and never
// past Close.
func (s *Store) awaitSettled(inFlight func() bool) {
	if !inFlight() {
		return
	}
	deadline := time.Now().Add(settleWait)
	wake := time.AfterFunc(settleWait, func() {
		s.mu.Lock()
		s.settled.Broadcast()
		s.mu.Unlock()
	})
	defer wake.Stop()
	for inFlight() && !s.closed && time.Now().Before(deadline) {
		s.settled.Wait()
	}
}

// lockOpen takes s.mu for an operation under ctx. When ctx is done or the store is closed it returns the error and
// does not hold the lock.
func (s *Store) lockOpen(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	return nil
}

func leaseLost(t delivery.Task) error {
	return fmt.Errorf("delivery %s fence %d: %w", t.DeliveryID, t.Fence, delivery.ErrLeaseLost)
}

// finishAttempt records the attempt a of task t and moves the delivery to status (pending with retryAt, or terminal).
func (s *Store) finishAttempt(tx *bolt.Tx, t delivery.Task, a delivery.Attempt, status delivery.Status, retryAt time.Time, outcome string) error {
	return s.recordAttempt(tx, t, a, status, retryAt, outcome, a.At.Add(a.Latency))
}

func (s *Store) recordAttempt(tx *bolt.Tx, t delivery.Task, a delivery.Attempt, status delivery.Status, retryAt time.Time, outcome string, updated time.Time) error {
	d, err := getDelivery(tx, t.TenantID, t.DeliveryID)
	if err != nil {
		return err
	}
	if d.Status != delivery.StatusPending {
		return errors.New("delivery is not pending")
	}
	a.DeliveryID, a.N = t.DeliveryID, t.Attempt
	if a.Outcome == "" {
		a.Outcome = outcome
	}
	att := tx.Bucket(bAttempts)
	seq, err := att.NextSequence()
	if err != nil {
		return err
	}
	v, err := encodeAttempt(&a)
	if err != nil {
		return err
	}
	if err := att.Put(attemptKey(t.TenantID, t.DeliveryID, seq), v); err != nil {
		return err
	}
	d.Status, d.Attempts, d.NextAttemptAt = status, t.Attempt, retryAt
	d.LastCode, d.LastError = a.StatusCode, a.Error
	if !updated.IsZero() {
		d.UpdatedAt = updated
	}
	return putDelivery(tx, d)
}

// writeResult applies a delivery's result in the committer's open transaction (commit.go): fn once, redo after a
// rollback.
func (s *Store) writeResult(ctx context.Context, fn, redo func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.submit(commitCall{fn: fn, redo: redo, err: make(chan error, 1)})
}
