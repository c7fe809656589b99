package boltstore

import (
	"bytes"
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/webhookd/webhookd/delivery"
)

// GetMessage returns a tenant's message; delivery.ErrNotFound when absent or another tenant's.
func (s *Store) GetMessage(ctx context.Context, tenantID, id string) (*delivery.Message, error) {
	if m := s.recent.Get(tenantID, id); m != nil {
		return m, nil
	}
	var m *delivery.Message
	err := s.view(ctx, func(tx *bolt.Tx) error {
		v := tx.Bucket(bMessages).Get(key(tenantID, id))
		if v == nil {
			return fmt.Errorf("message %s: %w", id, delivery.ErrNotFound)
		}
		var err error
		m, err = decodeMessage(v)
		return err
	})
	return m, err
}

// GetDelivery returns a tenant's delivery; delivery.ErrNotFound when absent or another tenant's.
func (s *Store) GetDelivery(ctx context.Context, tenantID, id string) (*delivery.Delivery, error) {
	var d *delivery.Delivery
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		if d, err = getDelivery(tx, tenantID, id); err == nil {
			fillBlocked(tx, tenantID, []*delivery.Delivery{d})
		}
		return err
	})
	if err == nil {
		s.fillWaiting([]*delivery.Delivery{d})
	}
	return d, err
}

// ListDeliveries returns a tenant's deliveries that match f in ascending id order. With f.EndpointID or f.MessageID
// it walks that index; otherwise all the tenant's deliveries. Limit ≤ 0 returns every match.
func (s *Store) ListDeliveries(ctx context.Context, tenantID string, f delivery.Filter) ([]*delivery.Delivery, error) {
	var out []*delivery.Delivery
	err := s.view(ctx, func(tx *bolt.Tx) error {
		dls := tx.Bucket(bDeliveries)
		idx, pfx := dls, prefix(tenantID)
		switch {
		case f.EndpointID != "":
			idx, pfx = tx.Bucket(bDlvByEndpoint), prefix(tenantID, f.EndpointID)
		case f.MessageID != "":
			idx, pfx = tx.Bucket(bDlvByMessage), prefix(tenantID, f.MessageID)
		}
		c := idx.Cursor()
		for k, v := c.Seek(append(bytes.Clone(pfx), f.After...)); k != nil && bytes.HasPrefix(k, pfx); k, v = c.Next() {
			id := string(k[len(pfx):])
			if id <= f.After {
				continue
			}
			if idx != dls {
				if v = dls.Get(key(tenantID, id)); v == nil {
					continue
				}
			}
			d, err := decodeDelivery(v)
			if err != nil {
				return err
			}
			if (f.EndpointID != "" && d.EndpointID != f.EndpointID) || (f.MessageID != "" && d.MessageID != f.MessageID) ||
				(f.Status != "" && d.Status != f.Status) || (!f.Since.IsZero() && d.CreatedAt.Before(f.Since)) ||
				(!f.Until.IsZero() && !d.CreatedAt.Before(f.Until)) {
				continue
			}
			out = append(out, d)
			if f.Limit > 0 && len(out) >= f.Limit {
				break
			}
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		fillBlocked(tx, tenantID, out)
		return nil
	})
	if err == nil {
		s.fillWaiting(out)
	}
	return out, err
}

// ListAttempts returns a tenant's delivery's attempts in the order they were recorded; delivery.ErrNotFound when the
// delivery is absent or another tenant's.
func (s *Store) ListAttempts(ctx context.Context, tenantID, deliveryID string) ([]delivery.Attempt, error) {
	var out []delivery.Attempt
	err := s.view(ctx, func(tx *bolt.Tx) error {
		if tx.Bucket(bDeliveries).Get(key(tenantID, deliveryID)) == nil {
			return fmt.Errorf("delivery %s: %w", deliveryID, delivery.ErrNotFound)
		}
		p := prefix(tenantID, deliveryID)
		c := tx.Bucket(bAttempts).Cursor()
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			a, err := decodeAttempt(v)
			if err != nil {
				return err
			}
			out = append(out, *a)
		}
		return nil
	})
	return out, err
}

// Prune deletes terminal deliveries created before cutoff with their attempts, then messages created before cutoff
// that no stored delivery refers to (with their idempotency keys). It works in transactions of at most PruneBatch
// deliveries or messages, so writers wait at most one of them, and returns how many deliveries it deleted.
func (s *Store) Prune(ctx context.Context, cutoff time.Time) (int, error) {
	return s.PruneBy(ctx, cutoff, func(string) time.Time { return cutoff })
}

var _ delivery.TenantPruner = (*Store)(nil)

// PruneBy is Prune with a cutoff per tenant: it walks the retention indexes up to latest and deletes what is older
// than its tenant's cutoff. A transaction looks at most 8×PruneBatch index entries, so entries kept longer than
// others (a tenant's longer retention) cost a bounded walk.
func (s *Store) PruneBy(ctx context.Context, latest time.Time, cutoff func(tenantID string) time.Time) (int, error) {
	s.recent.Clear() // before and after: a message published meanwhile may be pruned by this very call
	defer s.recent.Clear()
	total := 0
	var from []byte
	for {
		var n int
		var next []byte
		err := s.update(ctx, func(tx *bolt.Tx) error {
			var err error
			n, next, err = s.pruneDeliveries(tx, latest, cutoff, from)
			return err
		})
		total += n
		if err != nil {
			return total, fmt.Errorf("prune: %w", err)
		}
		if next == nil {
			break
		}
		from = next
	}
	from = nil
	for {
		var next []byte
		err := s.update(ctx, func(tx *bolt.Tx) error {
			var err error
			next, err = s.pruneMessages(tx, latest, cutoff, from)
			return err
		})
		if err != nil {
			return total, fmt.Errorf("prune: %w", err)
		}
		if next == nil {
			return total, nil
		}
		from = next
	}
}

// tenantOfTimeKey returns the tenant of a retention index key: timeKey(created) tenant 0 ….
func tenantOfTimeKey(k []byte) string {
	rest := k[timeKeyLen:]
	if i := bytes.IndexByte(rest, sep); i >= 0 {
		return string(rest[:i])
	}
	return string(rest)
}

// pruneDeliveries deletes up to PruneBatch terminal deliveries created before their tenant's cutoff, looking at most
// 8×PruneBatch index entries from the key from, none at or after latest. It returns where to resume, nil when done.
func (s *Store) pruneDeliveries(tx *bolt.Tx, latest time.Time, cutoff func(string) time.Time, from []byte) (n int, next []byte, err error) {
	term, dls, att := tx.Bucket(bTerminal), tx.Bucket(bDeliveries), tx.Bucket(bAttempts)
	var keys [][]byte
	c := term.Cursor()
	holds, _ := tx.Bucket(bBlocked).Cursor().First()
	k, _ := c.First()
	if from != nil {
		k, _ = c.Seek(from)
	}
	for seen := 0; k != nil && timeOfKey(k).Before(latest); k, _ = c.Next() {
		if seen++; len(keys) == s.pruneBatch || seen > 8*s.pruneBatch {
			next = bytes.Clone(k)
			break
		}
		if holds != nil && holdsKey(tx, k[timeKeyLen:]) {
			continue // it is kept while it holds its ordering key (ordering.go)
		}
		if timeOfKey(k).Before(cutoff(tenantOfTimeKey(k))) {
			keys = append(keys, bytes.Clone(k))
		}
	}
	for _, tk := range keys {
		if err := term.Delete(tk); err != nil {
			return n, nil, err
		}
		dk := tk[timeKeyLen:]
		v := dls.Get(dk)
		if v == nil {
			continue
		}
		d, err := decodeDelivery(v)
		if err != nil {
			return n, nil, err
		}
		if !d.Status.Terminal() { // a stale index entry; the record is live
			continue
		}
		for _, del := range []struct {
			b *bolt.Bucket
			k []byte
		}{
			{tx.Bucket(bDlvByEndpoint), key(d.TenantID, d.EndpointID, d.ID)},
			{tx.Bucket(bDlvByMessage), key(d.TenantID, d.MessageID, d.ID)},
			{dls, dk},
		} {
			if err := del.b.Delete(del.k); err != nil {
				return n, nil, err
			}
		}
		if err := deletePrefix(att, prefix(d.TenantID, d.ID)); err != nil {
			return n, nil, err
		}
		n++
	}
	return n, next, nil
}

// pruneMessages deletes up to PruneBatch unreferenced messages created before their tenant's cutoff, looking at most
// 8×PruneBatch index entries from the key from, none at or after latest. It returns where to resume, nil when done.
func (s *Store) pruneMessages(tx *bolt.Tx, latest time.Time, cutoff func(string) time.Time, from []byte) (next []byte, err error) {
	byTime, msgs, byMsg, idem := tx.Bucket(bMsgByTime), tx.Bucket(bMessages), tx.Bucket(bDlvByMessage), tx.Bucket(bIdem)
	var doomed [][]byte
	c := byTime.Cursor()
	k, _ := c.First()
	if from != nil {
		k, _ = c.Seek(from)
	}
	for seen := 0; k != nil && timeOfKey(k).Before(latest); k, _ = c.Next() {
		if seen++; len(doomed) == s.pruneBatch || seen > 8*s.pruneBatch {
			next = bytes.Clone(k)
			break
		}
		parts := splitKey(k[timeKeyLen:])
		if len(parts) != 2 || !timeOfKey(k).Before(cutoff(parts[0])) || countPrefix(byMsg, prefix(parts[0], parts[1])) > 0 {
			continue
		}
		doomed = append(doomed, bytes.Clone(k))
	}
	for _, tk := range doomed {
		if err := byTime.Delete(tk); err != nil {
			return nil, err
		}
		mk := tk[timeKeyLen:]
		v := msgs.Get(mk)
		if v == nil {
			continue
		}
		m, err := decodeMessage(v)
		if err != nil {
			return nil, err
		}
		if m.IdempotencyKey != "" {
			ik := key(m.TenantID, m.IdempotencyKey)
			if iv := idem.Get(ik); iv != nil {
				if r, err := decodeIdem(iv); err == nil && r.MessageID == m.ID {
					if err := idem.Delete(ik); err != nil {
						return nil, err
					}
				}
			}
		}
		if err := msgs.Delete(mk); err != nil {
			return nil, err
		}
	}
	return next, nil
}

// deletePrefix deletes every key of b under p.
func deletePrefix(b *bolt.Bucket, p []byte) error {
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
