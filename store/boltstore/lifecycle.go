package boltstore

import (
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/webhookd/webhookd/delivery"
)

// ExpungeMessage drops the payload of a tenant's message: the record keeps its id, type and times, its data reads
// as null and ExpungedAt is set (to at, or kept from an earlier expunge). delivery.ErrNotFound when absent or
// another tenant's.
func (s *Store) ExpungeMessage(ctx context.Context, tenantID, id string, at time.Time) (*delivery.Message, error) {
	var out *delivery.Message
	err := s.write(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bMessages)
		k := key(tenantID, id)
		v := b.Get(k)
		if v == nil {
			return fmt.Errorf("message %s: %w", id, delivery.ErrNotFound)
		}
		m, err := decodeMessage(v)
		if err != nil {
			return err
		}
		if m.ExpungedAt.IsZero() {
			m.ExpungedAt = at.UTC()
		}
		m.Data = nil
		nv, err := encodeMessage(m)
		if err != nil {
			return err
		}
		if err := b.Put(k, nv); err != nil {
			return err
		}
		out = m
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: expunge message %s: %w", id, err)
	}
	s.recent.Forget(id)
	return out, nil
}
