package boltstore

import (
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// txid is the id of the last committed write transaction: one more per commit.
func txid(t *testing.T, s *Store) int {
	t.Helper()
	tx, err := s.db.Begin(false)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	return tx.ID()
}

// TestLoneResultWaitsForCompany: a lone result lingers (resultLinger) so that a write arriving meanwhile shares its
// commit, and a write that is not a result ends the wait; two writes that are not results do not wait for each
// other. Each round sends the second write 1 ms after the committer took the first (the channel is unbuffered):
// traffic arriving within the linger, not synchronisation; without the linger the first is committing or committed
// by then. A few rounds absorb a machine too busy to send it within the linger.
func TestLoneResultWaitsForCompany(t *testing.T) {
	s := open(t)
	nop := func(tx *bolt.Tx) error { _, err := tx.CreateBucketIfNotExists([]byte("commit-test")); return err }
	send := func(result bool) chan error {
		c := commitCall{fn: nop, err: make(chan error, 1), result: result}
		s.commits <- c
		return c.err
	}
	shared := 0
	for range 5 {
		before := txid(t, s)
		a := send(true)
		time.Sleep(time.Millisecond) // the next write's arrival
		b := send(false)
		if err := <-a; err != nil {
			t.Fatal(err)
		}
		if err := <-b; err != nil {
			t.Fatal(err)
		}
		if txid(t, s)-before == 1 {
			shared++
		}
	}
	if shared == 0 {
		t.Fatal("a result and the publish sent while it lingered never shared a commit")
	}
	// A lone result commits on its own once the linger is over.
	before := txid(t, s)
	if err := <-send(true); err != nil {
		t.Fatal(err)
	}
	if n := txid(t, s) - before; n != 1 {
		t.Fatalf("lone result: %d commits, want 1", n)
	}
}
