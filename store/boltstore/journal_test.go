package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/events"
)

// noTimer keeps checkpoints to those a test asks for: reads, other writes, Close.
const noTimer = time.Hour

func openWith(t *testing.T, dir string, opts Options) *Store {
	t.Helper()
	s, err := Open(dir, opts)
	must(t, err)
	return s
}

// crash closes s the way kill -9 would leave it: the open transaction is never committed, the journal stays.
func crash(t *testing.T, s *Store) {
	t.Helper()
	s.crashAtClose.Store(true)
	must(t, s.Close())
}

// committedMessages counts the messages in the bbolt file itself, without the journal: what the last commit holds.
func committedMessages(t *testing.T, dir string) int {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	must(t, err)
	defer db.Close()
	n := 0
	must(t, db.View(func(tx *bolt.Tx) error { n = tx.Bucket(bMessages).Stats().KeyN; return nil }))
	return n
}

// publishKeyed publishes a message of ten_a with one delivery to ep_1, due at t0, under idempotency key k ("" for
// none), and returns it.
func publishKeyed(t *testing.T, s *Store, k string) (*delivery.Message, *delivery.Delivery) {
	t.Helper()
	m := newMsg("ten_a")
	m.IdempotencyKey = k
	d := newDlv(m, "ep_1", t0)
	_, _, existing, err := s.Publish(t.Context(), m, []*delivery.Delivery{d}, time.Time{})
	must(t, err)
	if existing {
		t.Fatalf("publish under key %q found an earlier message", k)
	}
	return m, d
}

// TestJournalRecoversAbandonedWrites: publishes answered but never committed to bbolt (the process died with the
// transaction open) come back at Open from the journal, idempotency keys included, exactly once; results that were
// not committed are lost, so their deliveries are pending again.
func TestJournalRecoversAbandonedWrites(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	s := openWith(t, dir, Options{CheckpointEvery: noTimer})

	// Committed before the crash: published, then a read of a delivery checkpoints them.
	var early []*delivery.Message
	var d0 *delivery.Delivery
	for i := range 5 {
		m, d := publishKeyed(t, s, fmt.Sprintf("early-%d", i))
		early, d0 = append(early, m), d
	}
	if _, err := s.GetDelivery(ctx, "ten_a", d0.ID); err != nil {
		t.Fatal(err)
	}
	// Journaled only: ten publishes, and acks of three deliveries in the open transaction.
	var late []*delivery.Message
	var lateDlv []*delivery.Delivery
	for i := range 10 {
		m, d := publishKeyed(t, s, fmt.Sprintf("late-%d", i))
		late, lateDlv = append(late, m), append(lateDlv, d)
	}
	tasks := claimAll(t, s, t0)
	if len(tasks) != 15 {
		t.Fatalf("claimed %d, want 15", len(tasks))
	}
	for _, d := range lateDlv[:3] {
		must(t, s.Ack(ctx, tasks[d.ID], delivery.Attempt{At: t0, StatusCode: 200}))
	}
	crash(t, s)

	if n := committedMessages(t, dir); n != 5 {
		t.Fatalf("the bbolt file holds %d messages, want the 5 checkpointed: the rest must come from the journal", n)
	}
	s = openWith(t, dir, Options{CheckpointEvery: noTimer})
	for _, m := range append(early, late...) {
		if _, err := s.GetMessage(ctx, "ten_a", m.ID); err != nil {
			t.Fatalf("message %s after the crash: %v", m.ID, err)
		}
	}
	// Every delivery is pending: the acks were lost with the transaction, the deliveries are sent again.
	if got := claimAll(t, s, t0); len(got) != 15 {
		t.Fatalf("after the crash %d deliveries are due, want 15", len(got))
	}
	// The journaled idempotency keys hold.
	for i, want := range late {
		m := newMsg("ten_a")
		m.IdempotencyKey = fmt.Sprintf("late-%d", i)
		stored, fanout, existing, err := s.Publish(ctx, m, []*delivery.Delivery{newDlv(m, "ep_1", t0)}, time.Time{})
		must(t, err)
		if !existing || stored.ID != want.ID || fanout != 1 {
			t.Fatalf("key late-%d: existing %v, message %s fan-out %d; want %s, 1", i, existing, stored.ID, fanout, want.ID)
		}
	}
	must(t, s.Close())
	if fi, err := os.Stat(filepath.Join(dir, FileName+JournalSuffix)); err != nil || fi.Size() != 0 {
		t.Fatalf("journal after a clean Close: %v, %v; want empty", fi, err)
	}
	if n := committedMessages(t, dir); n != 15 {
		t.Fatalf("after a clean Close the file holds %d messages, want 15", n)
	}
	// Applied once: a second Open finds nothing more to apply and the same 15 due.
	s = openWith(t, dir, Options{CheckpointEvery: noTimer})
	defer s.Close()
	if got := claimAll(t, s, t0); len(got) != 15 {
		t.Fatalf("second reopen: %d due, want 15", len(got))
	}
}

// TestJournalTornTail: a crash in the middle of a journal write leaves a torn last record; Open applies the records
// before it, drops it (its publish was never answered), and the journal goes on from there.
func TestJournalTornTail(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	jpath := filepath.Join(dir, FileName+JournalSuffix)
	s := openWith(t, dir, Options{CheckpointEvery: noTimer})
	var ms []*delivery.Message
	for range 4 {
		m, _ := publishKeyed(t, s, "")
		ms = append(ms, m)
	}
	crash(t, s)
	fi, err := os.Stat(jpath)
	must(t, err)
	must(t, os.Truncate(jpath, fi.Size()-3))

	s = openWith(t, dir, Options{CheckpointEvery: noTimer})
	for _, m := range ms[:3] {
		if _, err := s.GetMessage(ctx, "ten_a", m.ID); err != nil {
			t.Fatalf("complete record %s: %v", m.ID, err)
		}
	}
	if _, err := s.GetMessage(ctx, "ten_a", ms[3].ID); !errors.Is(err, delivery.ErrNotFound) {
		t.Fatalf("torn record: %v, want not found", err)
	}
	m5, _ := publishKeyed(t, s, "")
	crash(t, s)

	s = openWith(t, dir, Options{CheckpointEvery: noTimer})
	defer s.Close()
	if _, err := s.GetMessage(ctx, "ten_a", m5.ID); err != nil {
		t.Fatalf("publish journaled after the torn tail: %v", err)
	}
	if got := claimAll(t, s, t0); len(got) != 4 {
		t.Fatalf("%d due, want 4", len(got))
	}
}

// TestFailedWriteKeepsOpenWrites: a write that fails inside the open transaction rolls all of it back; the publishes
// and results it held before are applied again, and the failed write leaves nothing.
func TestFailedWriteKeepsOpenWrites(t *testing.T) {
	ctx := t.Context()
	s := openWith(t, t.TempDir(), Options{CheckpointEvery: noTimer})
	defer s.Close()
	m, d := publishKeyed(t, s, "a")
	tk := claimAll(t, s, t0)[d.ID]
	must(t, s.Ack(ctx, tk, delivery.Attempt{At: t0, StatusCode: 204}))

	bad := newMsg("ten_a")
	dup := newDlv(bad, "ep_1", t0)
	dup.ID = d.ID // taken: found only inside the transaction, after bad's message was written
	if _, _, _, err := s.Publish(ctx, bad, []*delivery.Delivery{dup}, time.Time{}); err == nil {
		t.Fatal("a publish with a taken delivery id succeeded")
	}
	if !s.dirty.Load() {
		t.Fatal("the failed write took the open transaction's writes with it")
	}
	got, err := s.GetDelivery(ctx, "ten_a", d.ID)
	must(t, err)
	if got.Status != delivery.StatusSucceeded || got.LastCode != 204 {
		t.Fatalf("acked delivery after the rollback: %s %d", got.Status, got.LastCode)
	}
	if _, err := s.GetMessage(ctx, "ten_a", m.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetMessage(ctx, "ten_a", bad.ID); !errors.Is(err, delivery.ErrNotFound) {
		t.Fatalf("the failed publish's message: %v", err)
	}
	as, err := s.ListAttempts(ctx, "ten_a", d.ID)
	must(t, err)
	if len(as) != 1 {
		t.Fatalf("%d attempts, want 1", len(as))
	}
}

// TestCheckpointOnTimer: with no read and no other write, the open transaction is committed within CheckpointEvery.
func TestCheckpointOnTimer(t *testing.T) {
	dir := t.TempDir()
	s := openWith(t, dir, Options{CheckpointEvery: 20 * time.Millisecond})
	defer s.Close()
	m, _ := publishKeyed(t, s, "")
	deadline := time.Now().Add(5 * time.Second)
	for s.dirty.Load() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // polling an observable condition, bounded by the deadline
	}
	found := false
	must(t, s.viewCommitted(t.Context(), func(tx *bolt.Tx) error {
		found = tx.Bucket(bMessages).Get(key(m.TenantID, m.ID)) != nil
		return nil
	}))
	if !found {
		t.Fatal("the publish was not committed by the timer")
	}
}

// TestCheckpointAfterWrites: without a timer, the open transaction is committed once it holds CheckpointWrites
// writes, and not before.
func TestCheckpointAfterWrites(t *testing.T) {
	s := openWith(t, t.TempDir(), Options{CheckpointEvery: noTimer, CheckpointWrites: 3})
	defer s.Close()
	committed := func(ms ...*delivery.Message) []bool {
		t.Helper()
		got := make([]bool, len(ms))
		must(t, s.viewCommitted(t.Context(), func(tx *bolt.Tx) error {
			for i, m := range ms {
				got[i] = tx.Bucket(bMessages).Get(key(m.TenantID, m.ID)) != nil
			}
			return nil
		}))
		return got
	}
	m1, _ := publishKeyed(t, s, "")
	m2, _ := publishKeyed(t, s, "")
	if got := committed(m1, m2); got[0] || got[1] {
		t.Fatalf("committed %v after 2 of 3 writes, want neither", got)
	}
	m3, _ := publishKeyed(t, s, "")
	// The committer checkpoints after answering the third write and before it takes the next call, so once a fourth
	// publish is answered the first three are committed and the fourth waits in the open transaction.
	m4, _ := publishKeyed(t, s, "")
	if got := committed(m1, m2, m3, m4); !got[0] || !got[1] || !got[2] || got[3] {
		t.Fatalf("committed %v, want the first three and not the fourth", got)
	}
}

// TestCompactAppliesJournal: Compact of a store that crashed with journaled publishes keeps them.
func TestCompactAppliesJournal(t *testing.T) {
	dir := t.TempDir()
	s := openWith(t, dir, Options{CheckpointEvery: noTimer})
	m, _ := publishKeyed(t, s, "")
	crash(t, s)
	must(t, Compact(dir))
	s = openWith(t, dir, Options{})
	defer s.Close()
	if _, err := s.GetMessage(context.Background(), "ten_a", m.ID); err != nil {
		t.Fatalf("journaled message after Compact: %v", err)
	}
}

// record builds one journal record as journal.add does.
func record(seq uint64, payload []byte) []byte {
	j := &journal{seq: seq - 1}
	j.add(payload)
	return j.buf
}

func TestReadJournal(t *testing.T) {
	var b []byte
	for i := uint64(1); i <= 5; i++ {
		b = append(b, record(i, []byte(fmt.Sprintf("p%d", i)))...)
	}
	collect := func(b []byte, after uint64) (string, uint64) {
		var out []string
		last, err := readJournal(b, nil, after, func(seq uint64, p []byte) error {
			out = append(out, fmt.Sprintf("%d:%s", seq, p))
			return nil
		})
		must(t, err)
		return fmt.Sprint(out), last
	}
	if got, last := collect(b, 2); got != "[3:p3 4:p4 5:p5]" || last != 5 {
		t.Fatalf("after 2: %s, last %d", got, last)
	}
	// Rewritten from the start with a newer record: the older ones beyond it are not read.
	over := append(record(6, []byte("p6")), b[len(record(1, []byte("p1"))):]...)
	if got, last := collect(over, 5); got != "[6:p6]" || last != 6 {
		t.Fatalf("rewritten: %s, last %d", got, last)
	}
	// A flipped byte ends the valid records.
	bad := bytes.Clone(b)
	bad[len(record(1, []byte("p1")))+journalHeader] ^= 1
	if got, last := collect(bad, 0); got != "[1:p1]" || last != 1 {
		t.Fatalf("corrupt second record: %s, last %d", got, last)
	}
	// Nothing readable: last is the checkpoint's.
	if got, last := collect(nil, 9); got != "[]" || last != 9 {
		t.Fatalf("empty: %s, last %d", got, last)
	}
}

func TestPubRecordRoundTrip(t *testing.T) {
	m := newMsg("ten_a")
	m.IdempotencyKey = "k ✓"
	p, err := newPubRecord(m, []*delivery.Delivery{newDlv(m, "ep_1", t0), newDlv(m, "ep_2", t0.Add(time.Second))},
		t0.Add(-time.Hour))
	must(t, err)
	b, err := appendPub(nil, p)
	must(t, err)
	q, err := decodePub(b)
	must(t, err)
	// What was decoded encodes to the records as stored, and the stored forms came through whole.
	r, err := newPubRecord(q.m, q.recs, q.idemSince)
	must(t, err)
	same := bytes.Equal(r.mv, p.mv) && bytes.Equal(q.mv, p.mv) && len(r.dvs) == 2 && len(q.dvs) == 2
	for i := range min(len(r.dvs), len(q.dvs)) {
		same = same && bytes.Equal(r.dvs[i], p.dvs[i]) && bytes.Equal(q.dvs[i], p.dvs[i])
	}
	if !same || !q.idemSince.Equal(p.idemSince) || q.m.IdempotencyKey != m.IdempotencyKey {
		t.Fatalf("round trip changed the record:\n%s\n%s", r.mv, p.mv)
	}
}

// FuzzReadJournal: any bytes read as a journal give records in ascending sequence whose checksums hold, never a panic;
// records written by journal.add are read back whole, whatever follows them.
func FuzzReadJournal(f *testing.F) {
	f.Add([]byte("p1"), []byte{})
	f.Add([]byte{}, record(9, []byte("old")))
	f.Add([]byte("x"), []byte{0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, payload, tail []byte) {
		j := &journal{}
		j.add(payload)
		j.add(payload)
		b := append(bytes.Clone(j.buf), tail...)
		var seqs []uint64
		last, err := readJournal(b, nil, 0, func(seq uint64, p []byte) error {
			if len(seqs) < 2 && !bytes.Equal(p, payload) {
				t.Fatalf("record %d: payload %q, want %q", seq, p, payload)
			}
			if len(seqs) > 0 && seq <= seqs[len(seqs)-1] {
				t.Fatalf("sequence %d after %d", seq, seqs[len(seqs)-1])
			}
			seqs = append(seqs, seq)
			return nil
		})
		if err != nil || len(seqs) < 2 || seqs[0] != 1 || seqs[1] != 2 || last != seqs[len(seqs)-1] {
			t.Fatalf("read %v, last %d, err %v", seqs, last, err)
		}
		// The tail alone, as bytes left of an older write.
		readJournal(tail, nil, 0, func(uint64, []byte) error { return nil })
	})
}

// FuzzDecodePub: a payload that passed its checksum but does not decode is an error, never a panic.
func FuzzDecodePub(f *testing.F) {
	m := newMsg("ten_a")
	p, _ := newPubRecord(m, []*delivery.Delivery{newDlv(m, "ep_1", t0)}, time.Time{})
	good, _ := appendPub(nil, p)
	f.Add(good)
	f.Add(binary.LittleEndian.AppendUint32(nil, 1<<31))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodePub(b)
		if err == nil && p.m == nil {
			t.Fatal("decoded a record without its message")
		}
		if err != nil && !errors.Is(err, errJournalBad) {
			t.Fatalf("error %v is not errJournalBad", err)
		}
	})
}

// TestBrokenStoreStopsAndRecovers: when the writes the open transaction held cannot be applied again after a
// rollback, the store stops: every call and Ping fail with ErrBroken, Close returns, and the next Open recovers the
// acknowledged publishes from the journal.
func TestBrokenStoreStopsAndRecovers(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	s := openWith(t, dir, Options{CheckpointEvery: noTimer})
	m, _ := publishKeyed(t, s, "")
	// A write that succeeds once and cannot be applied again, then a write that fails and forces the rollback.
	once := commitCall{fn: func(tx *bolt.Tx) error { return tx.Bucket(bMeta).Put([]byte("t"), []byte("1")) },
		redo: func(*bolt.Tx) error { return errors.New("cannot apply again") }, err: make(chan error, 1)}
	must(t, s.submit(once))
	failing := commitCall{fn: func(*bolt.Tx) error { return errors.New("refused") },
		redo: func(*bolt.Tx) error { return nil }, err: make(chan error, 1)}
	if err := s.submit(failing); !errors.Is(err, ErrBroken) {
		t.Fatalf("the write that broke the store: %v, want ErrBroken", err)
	}
	if _, _, _, err := s.Publish(ctx, newMsg("ten_a"), nil, time.Time{}); !errors.Is(err, ErrBroken) {
		t.Fatalf("Publish on a broken store: %v", err)
	}
	if err := s.Ping(ctx); !errors.Is(err, ErrBroken) {
		t.Fatalf("Ping on a broken store: %v", err)
	}
	if err := s.Close(); !errors.Is(err, ErrBroken) {
		t.Fatalf("Close of a broken store: %v", err)
	}
	s = openWith(t, dir, Options{})
	defer s.Close()
	if _, err := s.GetMessage(ctx, "ten_a", m.ID); err != nil {
		t.Fatalf("the acknowledged publish after the restart: %v", err)
	}
}

// TestJournalOfAnotherStoreIsRefused: a journal copied beside another store's file (a directory copied over
// another) fails every checksum there, so none of its publishes is applied to the wrong file.
func TestJournalOfAnotherStoreIsRefused(t *testing.T) {
	ctx := t.Context()
	a, b := t.TempDir(), t.TempDir()
	s := openWith(t, a, Options{CheckpointEvery: noTimer})
	m, _ := publishKeyed(t, s, "")
	crash(t, s)
	s = openWith(t, b, Options{})
	must(t, s.Close())
	j, err := os.ReadFile(filepath.Join(a, FileName+JournalSuffix))
	must(t, err)
	if len(j) == 0 {
		t.Fatal("the crashed store left no journal")
	}
	must(t, os.WriteFile(filepath.Join(b, FileName+JournalSuffix), j, 0o600))
	s = openWith(t, b, Options{})
	if _, err := s.GetMessage(ctx, "ten_a", m.ID); !errors.Is(err, delivery.ErrNotFound) {
		t.Fatalf("another store's journaled message: %v, want not found", err)
	}
	must(t, s.Close())
	s = openWith(t, a, Options{})
	defer s.Close()
	if _, err := s.GetMessage(ctx, "ten_a", m.ID); err != nil {
		t.Fatalf("its own store: %v", err)
	}
}

// TestJournalWriteFails: when the journal cannot be written, the group's publishes are answered with the error and
// taken out of the open transaction, while the results applied with them and the writes before them stand.
func TestJournalWriteFails(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	s := openWith(t, dir, Options{CheckpointEvery: noTimer})
	defer s.Close()
	a, da := publishKeyed(t, s, "a")
	tk := claimAll(t, s, t0)[da.ID]

	// The committer's next flush writes to a read-only handle. Swapped between calls: each call's answer orders it
	// after the committer's last use and before its next.
	ro, err := os.Open(filepath.Join(dir, FileName+JournalSuffix))
	must(t, err)
	rw := s.jr.f
	s.jr.f = ro
	b := newMsg("ten_a")
	b.IdempotencyKey = "b"
	if _, _, _, err := s.Publish(ctx, b, []*delivery.Delivery{newDlv(b, "ep_1", t0)}, time.Time{}); err == nil {
		t.Fatal("a publish whose journal write failed succeeded")
	}
	must(t, s.Ack(ctx, tk, delivery.Attempt{At: t0, StatusCode: 200}))
	s.jr.f = rw
	ro.Close()

	if _, err := s.GetMessage(ctx, "ten_a", b.ID); !errors.Is(err, delivery.ErrNotFound) {
		t.Fatalf("the refused publish's message: %v", err)
	}
	if _, err := s.GetMessage(ctx, "ten_a", a.ID); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetDelivery(ctx, "ten_a", da.ID)
	must(t, err)
	if got.Status != delivery.StatusSucceeded {
		t.Fatalf("the ack applied after the failed write: %s", got.Status)
	}
	publishKeyed(t, s, "b") // the key was not taken: the producer's retry is a new publish
}

// TestPublishOverJournalLimit: a publish whose records would not fit in a journal record is refused as invalid
// before anything is written, rather than journaled where Open would stop reading.
func TestPublishOverJournalLimit(t *testing.T) {
	ctx := t.Context()
	s := openWith(t, t.TempDir(), Options{})
	defer s.Close()
	m := newMsg("ten_a")
	m.Data = []byte(`"` + strings.Repeat("a", maxJournalRecord) + `"`)
	_, _, _, err := s.Publish(ctx, m, []*delivery.Delivery{newDlv(m, "ep_1", t0)}, time.Time{})
	if !errors.Is(err, events.ErrInvalid) {
		t.Fatalf("oversize publish: %v, want events.ErrInvalid", err)
	}
	if _, err := s.GetMessage(ctx, "ten_a", m.ID); !errors.Is(err, delivery.ErrNotFound) {
		t.Fatalf("the refused message: %v", err)
	}
}
