package boltstore

import (
	"bytes"
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/events"
	"github.com/webhookd/webhookd/internal/ids"
)

// Publish durably stores m, its deliveries, their indexes and m's idempotency key in one transaction, then queues the
// deliveries. See events.Store.
func (s *Store) Publish(ctx context.Context, m *delivery.Message, ds []*delivery.Delivery, idemSince time.Time) (*delivery.Message, int, bool, error) {
	if m == nil {
		return nil, 0, false, fmt.Errorf("nil message: %w", events.ErrInvalid)
	}
	if !ids.Valid(m.TenantID) || !ids.Valid(m.ID) {
		return nil, 0, false, fmt.Errorf("message %q of tenant %q: bad id: %w", m.ID, m.TenantID, events.ErrInvalid)
	}
	recs, err := deliveryRecords(m.TenantID, m.ID, ds)
	if err != nil {
		return nil, 0, false, fmt.Errorf("message %s: %w: %w", m.ID, events.ErrInvalid, err)
	}
	p, err := newPubRecord(m, recs, idemSince)
	if err != nil {
		return nil, 0, false, fmt.Errorf("publish %s: %w", m.ID, err)
	}
	rec, err := appendPub(nil, p)
	if err != nil {
		return nil, 0, false, fmt.Errorf("publish %s: %w", m.ID, err)
	}
	if len(rec) > maxJournalRecord {
		return nil, 0, false, fmt.Errorf("publish %s: %d bytes of records, over the store's %d: %w", m.ID, len(rec),
			maxJournalRecord, events.ErrInvalid)
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, false, fmt.Errorf("publish %s: %w", m.ID, err)
	}
	var (
		stored   *delivery.Message
		fanout   int
		existing bool
	)
	err = s.submit(commitCall{
		fn: func(tx *bolt.Tx) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			var err error
			stored, fanout, existing, err = applyPublish(tx, p)
			return err
		},
		redo: func(tx *bolt.Tx) error {
			_, _, _, err := applyPublish(tx, p)
			return err
		},
		journal: rec,
		err:     make(chan error, 1),
	})
	if err != nil {
		return nil, 0, false, fmt.Errorf("publish %s: %w", m.ID, err)
	}
	if !existing {
		s.recent.Keep(m) // before the deliveries are queued: the worker that claims one reads it from here
		s.queueNew(recs)
	}
	return stored, fanout, existing, nil
}

// applyPublish writes p in tx: the message, its deliveries with their indexes and its idempotency key; or, when the
// key names a message stored after p.idemSince, nothing, and it returns that message with existing set.
func applyPublish(tx *bolt.Tx, p *pubRecord) (stored *delivery.Message, fanout int, existing bool, err error) {
	m := p.m
	if m.IdempotencyKey != "" {
		idem := tx.Bucket(bIdem)
		ik := key(m.TenantID, m.IdempotencyKey)
		if v := idem.Get(ik); v != nil {
			r, err := decodeIdem(v)
			if err != nil {
				return nil, 0, false, err
			}
			if r.CreatedAt.After(p.idemSince) {
				if v := tx.Bucket(bMessages).Get(key(m.TenantID, r.MessageID)); v != nil {
					if stored, err = decodeMessage(v); err != nil {
						return nil, 0, false, err
					}
					return stored, countPrefix(tx.Bucket(bDlvByMessage), prefix(m.TenantID, r.MessageID)), true, nil
				}
			}
		}
		v, err := encodeIdem(&idemRec{MessageID: m.ID, CreatedAt: m.CreatedAt})
		if err != nil {
			return nil, 0, false, err
		}
		if err := idem.Put(ik, v); err != nil {
			return nil, 0, false, err
		}
	}
	if err := putMessage(tx, m, p.mv); err != nil {
		return nil, 0, false, err
	}
	for i, d := range p.recs {
		if err := insertDelivery(tx, d, p.dvs[i]); err != nil {
			return nil, 0, false, err
		}
	}
	return m, len(p.recs), false, nil
}

// Enqueue durably stores new deliveries of messages already stored (a replay) and queues them. It fails with
// delivery.ErrNotFound when a delivery's message is not stored for its tenant, and writes nothing then.
func (s *Store) Enqueue(ctx context.Context, ds []*delivery.Delivery) error {
	recs := make([]*delivery.Delivery, 0, len(ds))
	for _, d := range ds {
		if d == nil {
			return fmt.Errorf("enqueue: nil delivery")
		}
		r, err := deliveryRecords(d.TenantID, d.MessageID, []*delivery.Delivery{d})
		if err != nil {
			return fmt.Errorf("enqueue: %w", err)
		}
		recs = append(recs, r[0])
	}
	err := s.write(ctx, func(tx *bolt.Tx) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		msgs := tx.Bucket(bMessages)
		for _, d := range recs {
			if msgs.Get(key(d.TenantID, d.MessageID)) == nil {
				return fmt.Errorf("delivery %s: message %s: %w", d.ID, d.MessageID, delivery.ErrNotFound)
			}
			v, err := encodeDelivery(d)
			if err != nil {
				return err
			}
			if err := insertDelivery(tx, d, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("enqueue: %w", err)
	}
	s.queueNew(recs)
	return nil
}

// queueNew puts committed pending deliveries in their lanes.
func (s *Store) queueNew(ds []*delivery.Delivery) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	for _, d := range ds {
		s.sched.add(d.TenantID, d.EndpointID, d.ID, d.MessageID, d.OrderingKey, d.NextAttemptAt, d.Attempts)
	}
}

// deliveryRecords checks new deliveries of message msg of tenant and returns copies to store, status pending.
func deliveryRecords(tenant, msg string, ds []*delivery.Delivery) ([]*delivery.Delivery, error) {
	if !ids.Valid(tenant) || !ids.Valid(msg) {
		return nil, fmt.Errorf("message %q of tenant %q: bad id", msg, tenant)
	}
	seen := make(map[string]bool, len(ds))
	out := make([]*delivery.Delivery, len(ds))
	for i, d := range ds {
		switch {
		case d == nil:
			return nil, fmt.Errorf("delivery %d is nil", i)
		case !ids.Valid(d.ID) || !ids.Valid(d.EndpointID):
			return nil, fmt.Errorf("delivery %q to endpoint %q: bad id", d.ID, d.EndpointID)
		case d.TenantID != tenant || d.MessageID != msg:
			return nil, fmt.Errorf("delivery %s belongs to message %q of tenant %q", d.ID, d.MessageID, d.TenantID)
		case d.Status != "" && d.Status != delivery.StatusPending:
			return nil, fmt.Errorf("delivery %s: new deliveries are pending, not %q", d.ID, d.Status)
		case d.Attempts < 0:
			return nil, fmt.Errorf("delivery %s: negative attempts", d.ID)
		case seen[d.ID]:
			return nil, fmt.Errorf("delivery %s appears twice", d.ID)
		}
		seen[d.ID] = true
		c := *d
		c.Status = delivery.StatusPending
		out[i] = &c
	}
	return out, nil
}

// putMessage stores a new message, encoded as v, and its retention index entry.
func putMessage(tx *bolt.Tx, m *delivery.Message, v []byte) error {
	mk := key(m.TenantID, m.ID)
	msgs := tx.Bucket(bMessages)
	if msgs.Get(mk) != nil {
		return fmt.Errorf("message %s already exists", m.ID)
	}
	if err := msgs.Put(mk, v); err != nil {
		return err
	}
	return tx.Bucket(bMsgByTime).Put(timeKey(m.CreatedAt, mk), nil)
}

// insertDelivery stores a new delivery, encoded as v, with its index entries.
func insertDelivery(tx *bolt.Tx, d *delivery.Delivery, v []byte) error {
	dk := key(d.TenantID, d.ID)
	if tx.Bucket(bDeliveries).Get(dk) != nil {
		return fmt.Errorf("delivery %s already exists", d.ID)
	}
	if err := tx.Bucket(bDlvByEndpoint).Put(key(d.TenantID, d.EndpointID, d.ID), nil); err != nil {
		return err
	}
	if err := tx.Bucket(bDlvByMessage).Put(key(d.TenantID, d.MessageID, d.ID), nil); err != nil {
		return err
	}
	return putDeliveryValue(tx, d, v)
}

// putDelivery writes a delivery record and keeps the pending and terminal indexes in step with its status.
func putDelivery(tx *bolt.Tx, d *delivery.Delivery) error {
	v, err := encodeDelivery(d)
	if err != nil {
		return err
	}
	return putDeliveryValue(tx, d, v)
}

// putDeliveryValue is putDelivery with the record encoded already, as v.
func putDeliveryValue(tx *bolt.Tx, d *delivery.Delivery, v []byte) error {
	dk := key(d.TenantID, d.ID)
	if err := tx.Bucket(bDeliveries).Put(dk, v); err != nil {
		return err
	}
	if d.Status.Terminal() {
		if err := tx.Bucket(bPending).Delete(dk); err != nil {
			return err
		}
		return tx.Bucket(bTerminal).Put(timeKey(d.CreatedAt, dk), nil)
	}
	return tx.Bucket(bPending).Put(dk, nil)
}

// getDelivery reads a delivery of tenant, wrapping delivery.ErrNotFound.
func getDelivery(tx *bolt.Tx, tenant, id string) (*delivery.Delivery, error) {
	v := tx.Bucket(bDeliveries).Get(key(tenant, id))
	if v == nil {
		return nil, fmt.Errorf("delivery %s: %w", id, delivery.ErrNotFound)
	}
	return decodeDelivery(v)
}

// countPrefix counts the keys of b under p.
func countPrefix(b *bolt.Bucket, p []byte) int {
	n := 0
	c := b.Cursor()
	for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
		n++
	}
	return n
}
