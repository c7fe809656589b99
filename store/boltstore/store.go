package boltstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/endpoints"
	"github.com/webhookd/webhookd/events"
	"github.com/webhookd/webhookd/store/internal/msgcache"
	"github.com/webhookd/webhookd/tenants"
)

// FileName is the database file Open creates inside a directory.
const FileName = "webhookd.db"

// ErrLocked is returned by Open when another process (or another Store in this one) holds the database.
var ErrLocked = errors.New("database is locked by another webhookd")

// ErrClosed is returned by every call after Close.
var ErrClosed = errors.New("boltstore: closed")

var (
	_ tenants.Store   = (*Store)(nil)
	_ endpoints.Store = (*Store)(nil)
	_ events.Store    = (*Store)(nil)
	_ delivery.Queue  = (*Store)(nil)
	_ delivery.Log    = (*Store)(nil)

	// The optional capabilities it has (a Chainer, WakeSource or events.ManyPublisher it is not: one process, one
	// write transaction per publish).
	_ delivery.SlowHolder         = (*Store)(nil)
	_ delivery.QueueStatsReporter = (*Store)(nil)
)

// Options tune a Store. The zero value is ready to use.
type Options struct {
	// LockTimeout is how long Open waits for the file lock before failing with ErrLocked. Defaults to 1s.
	LockTimeout time.Duration
	// MaxGroup is how many concurrent writes one commit (and fsync) takes at most. Defaults to 256.
	MaxGroup int
	// PruneBatch is how many records one Prune transaction deletes at most, so that retention never holds the
	// writer lock for long. Defaults to 1000.
	PruneBatch int
	// CheckpointEvery bounds how long publishes and results wait, journaled or in memory, for their bbolt commit
	// (commit.go). Defaults to 250ms.
	CheckpointEvery time.Duration
	// CheckpointWrites commits the open transaction as soon as it holds this many writes, so that under load a
	// checkpoint stays short and the committer is not held up by it. Defaults to 1024.
	CheckpointWrites int
}

// Store is the embedded store: every webhookd store interface on one bbolt file. It is safe for concurrent use.
type Store struct {
	db         *bolt.DB
	path       string
	pruneBatch int
	maxGroup   int
	ckptEvery  time.Duration
	ckptWrites int

	commits       chan commitCall // to the committer (commit.go)
	done          chan struct{}   // closed by Close
	committerDone chan struct{}

	// The committer's own (commit.go, journal.go): only its goroutine touches them once Open returned.
	jr      *journal
	otx     *bolt.Tx               // the open write transaction, nil when none
	redo    []func(*bolt.Tx) error // the writes otx holds, to apply again after a rollback
	applied []commitCall           // scratch for runGroup
	// dirty is set while otx holds writes: a read that must see them asks for a checkpoint first (view).
	dirty     atomic.Bool
	brokenErr atomic.Pointer[error] // set once the store cannot go on (ErrBroken)
	// crashAtClose (tests) makes Close abandon the open transaction and leave the journal, as kill -9 would.
	crashAtClose atomic.Bool

	recent msgcache.Cache // messages published here in the last seconds, for GetMessage without a transaction

	mu     sync.Mutex // guards sched and closed
	sched  *sched
	closed bool
	// settled (on mu) is broadcast when finishing items settle in sched after their commit, and at Close: a caller
	// that read a result the scheduler has not applied yet waits on it (Unblock).
	settled sync.Cond
}

// Open opens or creates the store. path is a directory (created with mode 0700 if missing) that holds FileName,
// unless it ends in ".db", in which case it names the file itself (its parent directory is created). The file is
// created with mode 0600. Open takes a process-exclusive lock on the file and rebuilds the in-memory queue from the
// pending deliveries.
func Open(path string, opts Options) (*Store, error) {
	if opts.LockTimeout < 0 || opts.MaxGroup < 0 || opts.PruneBatch < 0 || opts.CheckpointEvery < 0 ||
		opts.CheckpointWrites < 0 {
		return nil, fmt.Errorf("boltstore: negative option in %+v", opts)
	}
	file := path
	if !strings.HasSuffix(path, ".db") {
		file = filepath.Join(path, FileName)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return nil, fmt.Errorf("boltstore: %w", err)
	}
	db, err := bolt.Open(file, 0o600, &bolt.Options{
		Timeout:        cmp.Or(opts.LockTimeout, time.Second),
		NoFreelistSync: true, // the freelist is rebuilt at open; data pages are still fsync'd on every commit
		FreelistType:   bolt.FreelistMapType,
	})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("boltstore: open %s: %w", file, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("boltstore: open %s: %w", file, err)
	}
	s := &Store{
		db:            db,
		path:          file,
		pruneBatch:    cmp.Or(opts.PruneBatch, 1000),
		maxGroup:      max(1, cmp.Or(opts.MaxGroup, 256)),
		ckptEvery:     cmp.Or(opts.CheckpointEvery, 250*time.Millisecond),
		ckptWrites:    min(cmp.Or(opts.CheckpointWrites, 1024), maxOpenWrites),
		commits:       make(chan commitCall),
		done:          make(chan struct{}),
		committerDone: make(chan struct{}),
		// Fences start above any handed out by an earlier Store on this file, so a task kept across a reopen in one
		// process is refused too.
		sched: newSched(uint64(time.Now().UnixNano())),
	}
	s.settled.L = &s.mu
	if err := s.init(); err != nil {
		if s.jr != nil {
			s.jr.close()
		}
		db.Close()
		return nil, fmt.Errorf("boltstore: open %s: %w", file, err)
	}
	go s.committer()
	return s, nil
}

// init creates the buckets, checks the format version and rebuilds the lanes.
func (s *Store) init() error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bMeta)
		switch v := meta.Get([]byte("version")); {
		case v == nil:
			return meta.Put([]byte("version"), []byte(formatVersion))
		case string(v) != formatVersion:
			return fmt.Errorf("unsupported format version %q (this build reads %q)", v, formatVersion)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if s.jr, err = s.replayJournal(s.path + JournalSuffix); err != nil {
		return err
	}
	// Deliveries with an ordering key are added after the others, in id (creation) order, so that each key's line is
	// rebuilt in publish order.
	type keyed struct {
		d        *delivery.Delivery
		deferred bool
	}
	var ordered []keyed
	add := func(d *delivery.Delivery, deferred bool) {
		s.sched.add(d.TenantID, d.EndpointID, d.ID, d.MessageID, d.OrderingKey, d.NextAttemptAt, d.Attempts)
		if it := s.sched.items[d.ID]; it != nil {
			it.deferred = deferred
		}
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		// The deliveries of a tenant being deleted are not queued again (tenantdelete.go).
		err := tx.Bucket(bTenants).ForEach(func(k, v []byte) error {
			t, err := decodeTenant(v)
			if err == nil && t.Deleting() {
				s.sched.deleting[t.ID] = struct{}{}
			}
			return err
		})
		if err != nil {
			return err
		}
		dls := tx.Bucket(bDeliveries)
		return tx.Bucket(bPending).ForEach(func(k, _ []byte) error {
			v := dls.Get(k)
			if v == nil {
				return fmt.Errorf("pending delivery %q has no record", k)
			}
			d, deferred, err := decodeDeliveryRec(v)
			if err != nil {
				return err
			}
			if d.OrderingKey != "" {
				ordered = append(ordered, keyed{d, deferred})
				return nil
			}
			add(d, deferred)
			return nil
		})
	})
	if err != nil {
		return err
	}
	if err := s.restoreBlocked(); err != nil {
		return err
	}
	slices.SortFunc(ordered, func(a, b keyed) int { return strings.Compare(a.d.ID, b.d.ID) })
	for _, k := range ordered {
		add(k.d, k.deferred)
	}
	return nil
}

// Path returns the database file's path.
func (s *Store) Path() string { return s.path }

// Close releases the file. Calls after Close fail with ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.settled.Broadcast()
	s.mu.Unlock()
	close(s.done)
	<-s.committerDone
	return errors.Join(s.broken(), s.jr.close(), s.db.Close())
}

// Ping reports whether the store can serve: open and readable.
func (s *Store) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.broken(); err != nil {
		return err
	}
	return s.viewCommitted(ctx, func(*bolt.Tx) error { return nil })
}

func (s *Store) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// view runs fn in a read transaction that sees every write answered before it: when the open transaction holds
// writes, it asks for a checkpoint first.
func (s *Store) view(ctx context.Context, fn func(*bolt.Tx) error) error {
	if s.dirty.Load() {
		if err := s.checkpointNow(ctx); err != nil {
			return err
		}
	}
	return s.viewCommitted(ctx, fn)
}

// viewCommitted runs fn in a read transaction of the last checkpoint: for the registry (tenants, tokens, endpoints,
// event types), which the open transaction never holds.
func (s *Store) viewCommitted(ctx context.Context, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.isClosed() {
		return ErrClosed
	}
	return s.db.View(fn)
}

// checkpointNow commits the open transaction.
func (s *Store) checkpointNow(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.submit(commitCall{sync: true, err: make(chan error, 1)})
}

// write runs fn in a durable read-write transaction: committed and fsync'd, with the open transaction, when write
// returns nil. Concurrent writes share commits (commit.go), so fn must be idempotent (it may run more than once) and
// may only touch state outside the transaction after write returned.
func (s *Store) write(ctx context.Context, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.submit(commitCall{fn: fn, err: make(chan error, 1)})
}

// submit hands c to the committer and waits for its answer.
func (s *Store) submit(c commitCall) error {
	select {
	case s.commits <- c:
		return <-c.err
	case <-s.done:
		return ErrClosed
	}
}

// update runs fn in its own durable read-write transaction, outside any group: for large writes (Prune) that should
// not hold back the small ones.
func (s *Store) update(ctx context.Context, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.submit(commitCall{fn: fn, alone: true, err: make(chan error, 1)})
}
