package boltstore

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/webhookd/webhookd/delivery"
)

// The journal makes a publish durable without a bbolt commit of its own. A bbolt commit writes every page the
// transaction touched (twenty or so for one publish) and fsyncs twice; a journal record is one write, and a group of
// them shares one fdatasync. The committer keeps a bbolt write transaction open, applies publishes and results to it
// as they come, journals the publishes, and commits the transaction (a checkpoint) on a timer, before a read that
// must see it, and before any other write. The checkpoint stores the sequence number of the last record it covers in
// the meta bucket, in the same transaction, so a record is applied exactly once: at Open, the records past the stored
// number are applied again in one transaction before the lanes are rebuilt.
//
// Results (acks, retries, failures, releases) are not journaled: a crash before the checkpoint loses them, and the
// delivery is sent again with the same webhook-id, as for an attempt in flight.
//
// The file is written in place from its start after every checkpoint, never truncated on the hot path (an fdatasync
// that must also record a new file size costs a metadata flush). A record is
//
//	length uint32 | crc uint32 (CRC-32C of the store's id, sequence and payload) | sequence uint64 | payload
//
// and a reader stops at the first record that is short, fails its checksum or does not raise the sequence: the torn
// tail of a crash, or the older records beyond the last write. The store's id is 8 random bytes kept in the meta
// bucket, so the journal of another store (a directory copied over another) fails every checksum and is never
// applied.

// JournalSuffix names the journal: the database file's name with this appended, in the same directory.
const JournalSuffix = ".journal"

const journalHeader = 16

// maxJournalRecord bounds a record's payload, far above any publish (an event's data is at most 256 KiB by default,
// a delivery record a few hundred bytes); Publish refuses a larger one rather than journal what the reader would stop
// at.
const maxJournalRecord = 64 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errJournalBad is returned by decodePub for a payload that does not decode.
var errJournalBad = errors.New("bad journal record")

// journal appends records to the journal file. Only the committer goroutine uses it.
type journal struct {
	f   *os.File
	off int64  // where the next flush writes
	buf []byte // records added since the last flush
	seq uint64 // sequence of the last record added
	id  []byte // the store's id (metaJournalID), in every record's checksum
}

func openJournal(path string) (*journal, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	return &journal{f: f}, nil
}

// add appends a record with payload to the buffer and returns its sequence number.
func (j *journal) add(payload []byte) uint64 {
	j.seq++
	var h [journalHeader]byte
	binary.LittleEndian.PutUint32(h[0:], uint32(len(payload)))
	binary.LittleEndian.PutUint64(h[8:], j.seq)
	crc := recordCRC(j.id, h[8:16], payload)
	binary.LittleEndian.PutUint32(h[4:], crc)
	j.buf = append(append(j.buf, h[:]...), payload...)
	return j.seq
}

// flush writes the buffered records and fdatasyncs them: the data is what matters, and once the file has grown to its
// working size, its size no longer changes.
func (j *journal) flush() error {
	if len(j.buf) == 0 {
		return nil
	}
	_, err := j.f.WriteAt(j.buf, j.off)
	if err == nil {
		err = fdatasync(j.f)
	}
	if err != nil {
		j.buf = j.buf[:0]
		return fmt.Errorf("journal: %w", err)
	}
	j.off += int64(len(j.buf))
	j.buf = j.buf[:0]
	return nil
}

// drop forgets the buffered records that were not flushed, and their sequence numbers.
func (j *journal) drop(seq uint64) {
	j.buf = j.buf[:0]
	j.seq = seq
}

// rewind starts the next flush at the file's start: a checkpoint covers every record written.
func (j *journal) rewind() { j.off = 0 }

func (j *journal) close() error { return j.f.Close() }

// recordCRC is the checksum of a record of the store with id: CRC-32C of id, the encoded sequence and the payload.
func recordCRC(id, seq, payload []byte) uint32 {
	return crc32.Update(crc32.Update(crc32.Checksum(id, castagnoli), castagnoli, seq), castagnoli, payload)
}

// readJournal calls fn with each record of b, written by the store with id, in order whose sequence is above after,
// and returns the last sequence it read (after when none). It stops at the end of the valid records; an error from fn
// stops it too.
func readJournal(b, id []byte, after uint64, fn func(seq uint64, payload []byte) error) (uint64, error) {
	last := uint64(0)
	for len(b) >= journalHeader {
		n := binary.LittleEndian.Uint32(b[0:])
		if n > maxJournalRecord || uint64(n) > uint64(len(b)-journalHeader) {
			break
		}
		seq := binary.LittleEndian.Uint64(b[8:])
		payload := b[journalHeader : journalHeader+int(n)]
		if recordCRC(id, b[8:16], payload) != binary.LittleEndian.Uint32(b[4:]) {
			break
		}
		if seq <= last {
			break // an older record, beyond the last write
		}
		last = seq
		if seq > after {
			if err := fn(seq, payload); err != nil {
				return last, err
			}
		}
		b = b[journalHeader+int(n):]
	}
	return max(last, after), nil
}

// pubRecord is a publish as journaled: the message and delivery records, decoded and as stored (each is encoded
// once, for the journal and the transaction alike), and the idempotency horizon.
type pubRecord struct {
	m         *delivery.Message
	recs      []*delivery.Delivery
	mv        []byte   // m as stored
	dvs       [][]byte // recs as stored
	idemSince time.Time
}

// newPubRecord encodes a publish's records.
func newPubRecord(m *delivery.Message, recs []*delivery.Delivery, idemSince time.Time) (*pubRecord, error) {
	p := &pubRecord{m: m, recs: recs, idemSince: idemSince, dvs: make([][]byte, len(recs))}
	var err error
	if p.mv, err = encodeMessage(m); err != nil {
		return nil, err
	}
	for i, d := range recs {
		if p.dvs[i], err = encodeDelivery(d); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// appendPub appends p's journal payload: idemSince (time.Time binary form), the message record, then each delivery
// record, each length-prefixed.
func appendPub(b []byte, p *pubRecord) ([]byte, error) {
	since, err := p.idemSince.MarshalBinary()
	if err != nil {
		return nil, err
	}
	b = appendChunk(appendChunk(b, since), p.mv)
	for _, dv := range p.dvs {
		b = appendChunk(b, dv)
	}
	return b, nil
}

func appendChunk(b, c []byte) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(c)))
	return append(b, c...)
}

// decodePub reverses appendPub.
func decodePub(b []byte) (*pubRecord, error) {
	chunk := func() ([]byte, error) {
		if len(b) < 4 {
			return nil, io.ErrUnexpectedEOF
		}
		n := binary.LittleEndian.Uint32(b)
		if uint64(n) > uint64(len(b)-4) {
			return nil, io.ErrUnexpectedEOF
		}
		c := b[4 : 4+n]
		b = b[4+n:]
		return c, nil
	}
	p := new(pubRecord)
	c, err := chunk()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errJournalBad, err)
	}
	if err := p.idemSince.UnmarshalBinary(c); err != nil {
		return nil, fmt.Errorf("%w: %w", errJournalBad, err)
	}
	if c, err = chunk(); err != nil {
		return nil, fmt.Errorf("%w: %w", errJournalBad, err)
	}
	if p.m, err = decodeMessage(c); err != nil {
		return nil, fmt.Errorf("%w: %w", errJournalBad, err)
	}
	p.mv = c
	for len(b) > 0 {
		if c, err = chunk(); err != nil {
			return nil, fmt.Errorf("%w: %w", errJournalBad, err)
		}
		d, err := decodeDelivery(c)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errJournalBad, err)
		}
		p.recs, p.dvs = append(p.recs, d), append(p.dvs, c)
	}
	return p, nil
}

// metaJournalSeq is the meta key under which a checkpoint stores the sequence of the last record it covers;
// metaJournalID holds the store's id, made when the store is first opened with a journal.
var (
	metaJournalSeq = []byte("journal_seq")
	metaJournalID  = []byte("journal_id")
)

// journalID returns the store's id, making it when there is none.
func journalID(tx *bolt.Tx) ([]byte, error) {
	meta := tx.Bucket(bMeta)
	if v := meta.Get(metaJournalID); len(v) == 8 {
		return bytes.Clone(v), nil
	}
	id := make([]byte, 8)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	return id, meta.Put(metaJournalID, id)
}

func storedJournalSeq(tx *bolt.Tx) uint64 {
	if v := tx.Bucket(bMeta).Get(metaJournalSeq); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func putJournalSeq(tx *bolt.Tx, seq uint64) error {
	return tx.Bucket(bMeta).Put(metaJournalSeq, binary.BigEndian.AppendUint64(nil, seq))
}

// replayJournal applies the records of the journal at path past the checkpoint's sequence in one transaction, and
// returns the journal open for writing, its sequence set to the last record's.
func (s *Store) replayJournal(path string) (*journal, error) {
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("journal: %w", err)
	}
	var last uint64
	var id []byte
	err = s.db.Update(func(tx *bolt.Tx) error {
		fillAppended(tx)
		stored := storedJournalSeq(tx)
		var err error
		if id, err = journalID(tx); err != nil {
			return err
		}
		last, err = readJournal(b, id, stored, func(_ uint64, payload []byte) error {
			p, err := decodePub(payload)
			if err != nil {
				return err
			}
			if tx.Bucket(bMessages).Get(key(p.m.TenantID, p.m.ID)) != nil {
				return nil // applied already
			}
			_, _, _, err = applyPublish(tx, p)
			return err
		})
		if err != nil {
			return fmt.Errorf("journal: %w", err)
		}
		if last == stored {
			return nil
		}
		return putJournalSeq(tx, last)
	})
	if err != nil {
		return nil, err
	}
	j, err := openJournal(path)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	j.seq, j.id = last, id
	return j, nil
}
