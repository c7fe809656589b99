package boltstore

import (
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Group commit. Every write goes to one committer goroutine, which takes whatever is queued (at most maxGroup
// writes) and handles it as one group, so the group grows with the load without any waiting on a timer.
//
// Publishes and results (ack, nack, fail, release) are applied to a bbolt write transaction that the committer keeps
// open across groups; a group's publishes are made durable by one journal write and fdatasync (journal.go) before
// any of them is answered, and its results are answered at once. The open transaction is committed (a checkpoint)
// Options.CheckpointEvery after it took its first write, once it holds Options.CheckpointWrites, before a read that
// must see it (Store.view), before any other write, and at Close. A checkpoint costs about the same whatever it
// holds (two fdatasyncs and the pages its writes share), so at a light load a longer wait spreads it over more
// writes, and under load the write count keeps each one short. Every other write (the registry, replays, reclaims,
// deletions) is committed, with the open transaction, before it is answered; a group of them shares one commit, and a
// call whose fn fails is answered from a transaction of its own while the others run again without it.
//
// bbolt has no savepoints, so a write that fails inside the open transaction rolls all of it back; the committer
// then applies again, from their redo functions, the writes it held. A redo function repeats its write from
// arguments captured when it was made and touches nothing outside the transaction; a write's fn, which also hands
// its outputs to its caller, runs once.

type commitCall struct {
	fn  func(*bolt.Tx) error
	err chan error
	// redo, when set, marks a write that may wait in the open transaction: a publish or a result. It applies the
	// write again after a rollback.
	redo func(*bolt.Tx) error
	// journal is a publish's journal record, durable before the publish is answered.
	journal []byte
	// alone runs fn in a transaction of its own after a checkpoint (Store.update: large writes such as Prune).
	alone bool
	// sync asks only for a checkpoint (fn is nil).
	sync bool
}

const (
	// maxOpenWrites bounds Options.CheckpointWrites, and so the work of a rollback and of a replay.
	maxOpenWrites = 8192
)

// ErrBroken is returned by every call once the store could not apply again, after a rollback, the writes it had
// answered. The journal still holds every acknowledged publish, and opening the store again recovers them.
var ErrBroken = errors.New("boltstore: store failed; restart the gateway to recover from the journal")

// committer runs until s.done is closed; Close waits for it before closing the file.
func (s *Store) committer() {
	defer close(s.committerDone)
	group := make([]commitCall, 0, s.maxGroup)
	tick := time.NewTimer(time.Hour)
	tick.Stop()
	armed := false
	for {
		select {
		case c := <-s.commits:
			group = append(group[:0], c)
		drain:
			for len(group) < s.maxGroup {
				select {
				case c := <-s.commits:
					group = append(group, c)
				default:
					break drain
				}
			}
			s.runGroup(group)
			clear(group) // the calls' closures hold their callers' values
			if len(s.redo) >= s.ckptWrites {
				s.checkpoint()
			}
		case <-tick.C:
			armed = false
			s.checkpoint() // on failure the writes stay open, and the timer runs again
		case <-s.done:
			tick.Stop()
			if !s.crashAtClose.Load() && s.checkpoint() == nil {
				s.jr.f.Truncate(0) // tidy: a stopped store leaves an empty journal (its records would be skipped anyway)
			}
			if s.otx != nil { // a crash (tests), or a checkpoint that failed: the journal has the publishes
				s.otx.Rollback()
				s.otx = nil
			}
			return
		}
		switch {
		case s.otx != nil && !armed:
			tick.Reset(s.ckptEvery)
			armed = true
		case s.otx == nil && armed:
			tick.Stop()
			armed = false
		}
	}
}

// runGroup applies, journals, commits and answers one group of calls.
func (s *Store) runGroup(group []commitCall) {
	if err := s.broken(); err != nil {
		for _, c := range group {
			c.err <- err
		}
		return
	}
	var direct, syncs []commitCall
	applied := s.applied[:0]
	base, seq := len(s.redo), s.jr.seq
	journaled := false
	for _, c := range group {
		switch {
		case c.sync:
			syncs = append(syncs, c)
		case c.redo == nil:
			direct = append(direct, c)
		default:
			if err := s.broken(); err != nil {
				c.err <- err
				continue
			}
			if err := s.apply(c); err != nil {
				c.err <- err
				continue
			}
			applied = append(applied, c)
			if c.journal != nil {
				s.jr.add(c.journal)
				journaled = true
			}
		}
	}
	if err := s.broken(); err != nil {
		s.jr.drop(seq)
		for _, cs := range [][]commitCall{applied, direct, syncs} {
			for _, c := range cs {
				c.err <- err
			}
		}
		clear(applied)
		return
	}
	if journaled {
		if err := s.jr.flush(); err != nil {
			// Not durable: take this group's publishes out of the open transaction, keep its results.
			s.jr.drop(seq)
			clear(s.redo[base:])
			s.redo = s.redo[:base]
			for _, c := range applied {
				if c.journal == nil {
					s.redo = append(s.redo, c.redo)
				}
			}
			rerr := s.rebuild()
			for _, c := range applied {
				switch {
				case c.journal != nil:
					c.err <- err
				default:
					c.err <- rerr
				}
			}
			applied = applied[:0]
		}
	}
	if len(s.redo) > 0 {
		s.dirty.Store(true)
	}
	for _, c := range applied {
		c.err <- nil
	}
	clear(applied)
	s.applied = applied
	if len(direct) == 0 && len(syncs) == 0 {
		return
	}
	err := s.checkpoint()
	for _, c := range syncs {
		c.err <- err
	}
	if err != nil {
		for _, c := range direct {
			c.err <- err
		}
		return
	}
	var shared []commitCall
	for _, c := range direct {
		if c.alone {
			c.err <- s.db.Update(c.fn)
			continue
		}
		shared = append(shared, c)
	}
	s.commitGroup(shared)
}

// apply runs c's fn in the open transaction, beginning one when none is open. When fn fails, the transaction is
// rolled back and the writes it held are applied again.
func (s *Store) apply(c commitCall) error {
	if s.otx == nil {
		tx, err := s.db.Begin(true)
		if err != nil {
			return err
		}
		fillAppended(tx)
		s.otx = tx
	}
	if err := c.fn(s.otx); err != nil {
		if rerr := s.rebuild(); rerr != nil {
			return rerr
		}
		return err
	}
	s.redo = append(s.redo, c.redo)
	return nil
}

// rebuild rolls the open transaction back and applies s.redo to a new one. When that fails the store is broken.
func (s *Store) rebuild() error {
	if s.otx != nil {
		s.otx.Rollback() // a transaction whose Commit failed is closed already
		s.otx = nil
	}
	if len(s.redo) == 0 {
		return nil
	}
	tx, err := s.db.Begin(true)
	if err == nil {
		fillAppended(tx)
		for _, r := range s.redo {
			if err = r(tx); err != nil {
				tx.Rollback()
				break
			}
		}
		if err == nil {
			s.otx = tx
			return nil
		}
	}
	clear(s.redo)
	s.redo = s.redo[:0]
	s.dirty.Store(false)
	return s.fail(err)
}

// checkpoint commits the open transaction with the journal's sequence, and starts the journal over.
func (s *Store) checkpoint() error {
	if err := s.broken(); err != nil {
		return err
	}
	if s.otx == nil {
		return nil
	}
	err := putJournalSeq(s.otx, s.jr.seq)
	if err == nil {
		err = s.otx.Commit()
		if err == nil {
			s.otx = nil
		}
	}
	if err != nil {
		// The writes are applied again to a new transaction, which the next checkpoint commits.
		if rerr := s.rebuild(); rerr != nil {
			return rerr
		}
		return fmt.Errorf("checkpoint: %w", err)
	}
	clear(s.redo)
	s.redo = s.redo[:0]
	s.jr.rewind()
	s.dirty.Store(false)
	return nil
}

// fail marks the store broken by err and returns the error every call gets from now on.
func (s *Store) fail(err error) error {
	err = fmt.Errorf("%w: %w", ErrBroken, err)
	s.brokenErr.Store(&err)
	return err
}

// broken returns the error that broke the store, or nil.
func (s *Store) broken() error {
	if p := s.brokenErr.Load(); p != nil {
		return *p
	}
	return nil
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
