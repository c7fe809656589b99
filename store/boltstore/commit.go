package boltstore

import (
	"time"

	bolt "go.etcd.io/bbolt"
)

// Group commit. Every durable small write goes to one committer goroutine, which takes whatever is queued (at most
// maxGroup writes) and commits it in one transaction and one fsync. A lone writer commits at once; writers that
// arrive during a commit share the next one, so the group grows with the load without any waiting on a timer.
// bbolt's own Batch waits MaxBatchDelay unless MaxBatchSize writers are already queued, which costs a lone writer
// the delay and many writers a commit that waits for a batch that is never full.
//
// One exception to "at once": a delivery's result (ack, nack, fail, release: writeResult) that would commit alone
// waits up to resultLinger for another write to share its commit, and commits as soon as any write that is not a
// result arrives (a publish never waits). Under a steady trickle of events each delivery would otherwise cost two
// commits of its own, its publish and its result, each two fsyncs and a pwrite per dirty page: most of the
// gateway's CPU per delivery at 200 events/s. Nobody waits for a result's commit but the worker that recorded it
// (the receiver has its request, the endpoint's slot is free already), and a crash before it commits sends the
// delivery again, as for any attempt in flight.
//
// As with Batch, a write's fn may run more than once (when another write in its group fails, the group is rolled
// back and run again without it), so it must be idempotent and touch nothing outside the transaction.

type commitCall struct {
	fn     func(*bolt.Tx) error
	err    chan error
	result bool // a delivery's result, which may wait for company (resultLinger)
}

// resultLinger bounds how long a lone result waits for company.
const resultLinger = 5 * time.Millisecond

// committer runs until s.done is closed; Close waits for it before closing the file.
func (s *Store) committer() {
	defer close(s.committerDone)
	group := make([]commitCall, 0, s.maxGroup)
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	for {
		select {
		case c := <-s.commits:
			group = append(group[:0], c)
		case <-s.done:
			return
		}
	drain:
		for len(group) < s.maxGroup {
			select {
			case c := <-s.commits:
				group = append(group, c)
			default:
				break drain
			}
		}
		if len(group) == 1 && group[0].result && s.maxGroup > 1 {
			// A lone result: wait a moment for company, until a write that is not a result, a full group or the
			// store closing.
			linger.Reset(resultLinger)
		wait:
			for len(group) < s.maxGroup {
				select {
				case c := <-s.commits:
					group = append(group, c)
					if !c.result {
						break wait
					}
				case <-linger.C:
					break wait
				case <-s.done:
					break wait
				}
			}
			linger.Stop()
		}
		s.commitGroup(group)
	}
}

// commitGroup commits calls in one transaction; a call whose fn fails is answered from a transaction of its own and
// the others run again without it.
func (s *Store) commitGroup(calls []commitCall) {
	for len(calls) > 0 {
		failed := -1
		err := s.db.Update(func(tx *bolt.Tx) error {
			fillAppended(tx)
			for i, c := range calls {
				if err := c.fn(tx); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		if failed < 0 {
			for _, c := range calls {
				c.err <- err
			}
			return
		}
		c := calls[failed]
		calls = append(calls[:failed:failed], calls[failed+1:]...)
		c.err <- s.db.Update(func(tx *bolt.Tx) error {
			fillAppended(tx)
			return c.fn(tx)
		})
	}
}
