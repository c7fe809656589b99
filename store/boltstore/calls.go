package boltstore

import (
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/webhookd/webhookd/calls"
	"github.com/webhookd/webhookd/internal/ids"
)

// The call log (package calls). Its buckets are created by the first write, so a file written by an older version
// opens as it is:
//
//	calls          tenant 0 endpoint 0 call → Call JSON
//	calls_by_time  timeKey(created) tenant 0 endpoint 0 call → nil (retention)
var (
	bCalls       = []byte("calls")
	bCallsByTime = []byte("calls_by_time")
)

var _ calls.Log = (*Store)(nil)

// AddCalls writes call log entries, all in one transaction.
func (s *Store) AddCalls(ctx context.Context, cs []*calls.Call) error {
	type rec struct {
		k, tk, v []byte
	}
	recs := make([]rec, 0, len(cs))
	for _, c := range cs {
		if c == nil || !ids.Valid(c.ID) || !ids.Valid(c.TenantID) || !ids.Valid(c.EndpointID) {
			return fmt.Errorf("add calls: bad id: %w", calls.ErrInvalid)
		}
		v, err := encode(c)
		if err != nil {
			return err
		}
		k := key(c.TenantID, c.EndpointID, c.ID)
		recs = append(recs, rec{k: k, tk: timeKey(c.CreatedAt, k), v: v})
	}
	return s.write(ctx, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bCalls)
		if err != nil {
			return err
		}
		bt, err := tx.CreateBucketIfNotExists(bCallsByTime)
		if err != nil {
			return err
		}
		for _, r := range recs {
			if err := b.Put(r.k, r.v); err != nil {
				return err
			}
			if err := bt.Put(r.tk, nil); err != nil {
				return err
			}
		}
		return nil
	})
}

// ListCalls returns one endpoint's calls in ascending id order after the cursor, at most limit (all when ≤ 0).
func (s *Store) ListCalls(ctx context.Context, tenantID, endpointID, after string, limit int) ([]*calls.Call, error) {
	var out []*calls.Call
	err := s.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bCalls)
		if b == nil {
			return nil
		}
		return scan(b, prefix(tenantID, endpointID), after, limit, func(_ string, v []byte) error {
			c, err := decode[calls.Call](v)
			out = append(out, c)
			return err
		})
	})
	return out, err
}

// PruneCalls deletes the calls made before cutoff, a batch per transaction.
func (s *Store) PruneCalls(ctx context.Context, cutoff time.Time) (int, error) {
	total := 0
	end := timeKey(cutoff, nil)
	for {
		n := 0
		err := s.update(ctx, func(tx *bolt.Tx) error {
			n = 0
			bt, b := tx.Bucket(bCallsByTime), tx.Bucket(bCalls)
			if bt == nil || b == nil {
				return nil
			}
			c := bt.Cursor()
			var dead [][]byte
			for k, _ := c.First(); k != nil && string(k[:timeKeyLen]) < string(end) && len(dead) < pruneCallsBatch; k, _ = c.Next() {
				dead = append(dead, k)
			}
			for _, k := range dead {
				if err := b.Delete(k[timeKeyLen:]); err != nil {
					return err
				}
				if err := bt.Delete(k); err != nil {
					return err
				}
			}
			n = len(dead)
			return nil
		})
		total += n
		if err != nil || n < pruneCallsBatch {
			return total, err
		}
	}
}

const pruneCallsBatch = 1000
