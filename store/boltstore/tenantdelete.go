package boltstore

import (
	"bytes"
	"container/heap"
	"context"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/webhookd/webhookd/calls"
	"github.com/webhookd/webhookd/tenants"
)

// Tenant deletion (tenants.Deleter). MarkTenantDeleting writes the tenant's deleting time and deletes its tokens and
// portal sessions in one commit, and takes its deliveries out of the lanes. PurgeTenant then deletes its records in
// transactions of at most PruneBatch records, every tenant-prefixed bucket in turn, each record with the index
// entries that name it, and the tenant record in a transaction of its own once one finds nothing left. Every step is
// idempotent, so a purge interrupted anywhere (a crash included) is finished by the next.

var _ tenants.Deleter = (*Store)(nil)

// MarkTenantDeleting marks a tenant deleting at at (a tenant already deleting keeps its first time), deletes its
// tokens and portal sessions, and cancels its queued deliveries; tenants.ErrNotFound when absent.
func (s *Store) MarkTenantDeleting(ctx context.Context, id string, at time.Time) (*tenants.Tenant, error) {
	var out *tenants.Tenant
	err := s.write(ctx, func(tx *bolt.Tx) error {
		t, err := updateTenant(tx, id, func(t *tenants.Tenant) (bool, error) {
			if !t.DeletingAt.IsZero() {
				return false, nil
			}
			t.DeletingAt = at.UTC()
			return true, nil
		})
		if err != nil {
			return err
		}
		out = t
		_, err = dropCredentials(tx, id, 0)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: mark tenant %s deleting: %w", id, err)
	}
	s.mu.Lock()
	s.sched.deleting[id] = struct{}{}
	s.sched.cancelTenant(id)
	s.mu.Unlock()
	return out, nil
}

// DeletingTenants lists the tenants marked deleting.
func (s *Store) DeletingTenants(ctx context.Context) ([]string, error) {
	var out []string
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bTenants).ForEach(func(k, v []byte) error {
			t, err := decodeTenant(v)
			if err != nil {
				return err
			}
			if t.Deleting() {
				out = append(out, t.ID)
			}
			return nil
		})
	})
	return out, err
}

// PurgeTenant deletes a deleting tenant's data in at most steps transactions (all it takes when steps ≤ 0) and
// reports whether the tenant is gone; tenants.ErrNotDeleting when the tenant is not marked.
func (s *Store) PurgeTenant(ctx context.Context, id string, steps int) (bool, error) {
	for n := 0; steps <= 0 || n < steps; n++ {
		var t *tenants.Tenant
		err := s.view(ctx, func(tx *bolt.Tx) error {
			if v := tx.Bucket(bTenants).Get([]byte(id)); v != nil {
				var err error
				t, err = decodeTenant(v)
				return err
			}
			return nil
		})
		if err != nil {
			return false, fmt.Errorf("boltstore: purge tenant %s: %w", id, err)
		}
		if t == nil {
			return true, nil
		}
		if !t.Deleting() {
			return false, fmt.Errorf("boltstore: purge tenant %s: %w", id, tenants.ErrNotDeleting)
		}
		s.recent.ForgetTenant(id) // at every step: nothing of a deleting tenant is published, but one may have been just before
		s.mu.Lock()
		s.sched.deleting[id] = struct{}{}
		busy := s.sched.cancelTenant(id)
		s.mu.Unlock()
		var deleted int
		err = s.update(ctx, func(tx *bolt.Tx) error {
			var err error
			deleted, err = s.purgeStep(tx, id)
			if err != nil || deleted > 0 || busy > 0 {
				return err
			}
			return tx.Bucket(bTenants).Delete([]byte(id)) // nothing left: the record goes last
		})
		if err != nil {
			return false, fmt.Errorf("boltstore: purge tenant %s: %w", id, err)
		}
		if deleted == 0 && busy == 0 {
			s.mu.Lock()
			delete(s.sched.deleting, id)
			s.mu.Unlock()
			return true, nil
		}
	}
	return false, nil
}

// purgeStep deletes up to PruneBatch of the tenant's records, with the index entries that name them, and returns how
// many it deleted: 0 when nothing but the tenant record is left.
func (s *Store) purgeStep(tx *bolt.Tx, tenant string) (int, error) {
	room := s.pruneBatch
	n, err := dropCredentials(tx, tenant, room)
	if err != nil || n >= room {
		return n, err
	}
	pfx := prefix(tenant)
	dls := tx.Bucket(bDeliveries)
	// Each bucket with its companions: what must go with a record of it (keys outside the tenant's prefix).
	type part struct {
		b    *bolt.Bucket
		with func(k, v []byte) error
	}
	parts := []part{
		{tx.Bucket(bEndpoints), nil},
		{dls, func(k, v []byte) error {
			d, err := decodeDelivery(v)
			if err != nil {
				return err
			}
			// Every index entry that names the record goes with it, so that no transaction boundary leaves one
			// behind (Open refuses a pending entry without its record).
			for _, del := range []struct {
				b *bolt.Bucket
				k []byte
			}{
				{tx.Bucket(bTerminal), timeKey(d.CreatedAt, k)},
				{tx.Bucket(bPending), k},
				{tx.Bucket(bDlvByEndpoint), key(d.TenantID, d.EndpointID, d.ID)},
				{tx.Bucket(bDlvByMessage), key(d.TenantID, d.MessageID, d.ID)},
			} {
				if err := del.b.Delete(del.k); err != nil {
					return err
				}
			}
			return deletePrefix(tx.Bucket(bAttempts), append(bytes.Clone(k), sep))
		}},
		{tx.Bucket(bPending), nil},
		{tx.Bucket(bDlvByEndpoint), nil},
		{tx.Bucket(bDlvByMessage), nil},
		{tx.Bucket(bAttempts), nil},
		{tx.Bucket(bMessages), func(k, v []byte) error {
			m, err := decodeMessage(v)
			if err != nil {
				return err
			}
			return tx.Bucket(bMsgByTime).Delete(timeKey(m.CreatedAt, k))
		}},
		{tx.Bucket(bIdem), nil},
		{tx.Bucket(bBlocked), nil}, // keys held behind dead deliveries (ordering.go)
	}
	if b := tx.Bucket(bCalls); b != nil {
		parts = append(parts, part{b, func(k, v []byte) error {
			c, err := decode[calls.Call](v)
			if err != nil {
				return err
			}
			if bt := tx.Bucket(bCallsByTime); bt != nil {
				return bt.Delete(timeKey(c.CreatedAt, k))
			}
			return nil
		}})
	}
	for _, p := range parts {
		type kv struct{ k, v []byte }
		var doomed []kv
		c := p.b.Cursor()
		for k, v := c.Seek(pfx); k != nil && bytes.HasPrefix(k, pfx) && n+len(doomed) < room; k, v = c.Next() {
			doomed = append(doomed, kv{bytes.Clone(k), bytes.Clone(v)})
		}
		for _, d := range doomed {
			if p.with != nil {
				if err := p.with(d.k, d.v); err != nil {
					return n, err
				}
			}
			if err := p.b.Delete(d.k); err != nil {
				return n, err
			}
		}
		if n += len(doomed); n >= room {
			break
		}
	}
	return n, nil
}

// dropCredentials deletes up to max of a tenant's tokens and portal sessions (all when max ≤ 0) and returns how many.
func dropCredentials(tx *bolt.Tx, tenant string, max int) (int, error) {
	n := 0
	for _, idx := range []struct{ byTen, recs []byte }{{bTokensByTen, bTokens}, {bPortalByTen, bPortal}} {
		byTen, recs := tx.Bucket(idx.byTen), tx.Bucket(idx.recs)
		var doomed [][2][]byte
		pfx := prefix(tenant)
		c := byTen.Cursor()
		for k, h := c.Seek(pfx); k != nil && bytes.HasPrefix(k, pfx) && (max <= 0 || n+len(doomed) < max); k, h = c.Next() {
			doomed = append(doomed, [2][]byte{bytes.Clone(k), bytes.Clone(h)})
		}
		for _, d := range doomed {
			if err := recs.Delete(d[1]); err != nil {
				return n, err
			}
			if err := byTen.Delete(d[0]); err != nil {
				return n, err
			}
		}
		n += len(doomed)
	}
	return n, nil
}

// cancelTenant takes every delivery of tenant out of the scheduler but those whose result is being committed, and
// returns how many of those remain. A lease it drops is lost: its result is refused.
func (s *sched) cancelTenant(tenant string) (busy int) {
	for _, it := range s.items {
		if it.tenant != tenant {
			continue
		}
		if it.state == finishing {
			busy++
			continue
		}
		l := it.lane
		switch it.state {
		case queued:
			heap.Remove(&l.items, it.idx)
			if l.idx >= 0 && len(l.items) == 0 {
				heap.Remove(&s.ready, l.idx)
			}
		case leased:
			delete(s.leased, it)
			l.busy--
			if l.parked {
				s.unpark(l)
			}
		}
		s.forget(it)
	}
	for id, it := range s.blocked { // dead heads holding their keys: in lines, not in items
		if it.tenant == tenant {
			delete(s.blocked, id)
			s.forget(it)
		}
	}
	for lk, ln := range s.lines {
		if strings.HasPrefix(lk, tenant+"\x00") && len(ln.items) == 0 {
			delete(s.lines, lk)
		}
	}
	return busy
}

// forget drops an item that is in no lane, leased or finishing, from the items and its line (promoting nobody: its
// tenant is being deleted) and its lane when that is empty.
func (s *sched) forget(it *item) {
	delete(s.items, it.id)
	if it.okey != "" {
		lk := lineKey(it)
		if ln := s.lines[lk]; ln != nil {
			for i, x := range ln.items {
				if x == it {
					ln.items = append(ln.items[:i], ln.items[i+1:]...)
					break
				}
			}
			if len(ln.items) == 0 {
				delete(s.lines, lk)
			}
		}
	}
	delete(s.holds, it.lane.endpoint)
	s.drop(it.lane)
}

// SetTenantRetention sets a tenant's own retention period (0: the default); tenants.ErrNotFound when absent or being
// deleted.
func (s *Store) SetTenantRetention(ctx context.Context, id string, keep time.Duration) (*tenants.Tenant, error) {
	var out *tenants.Tenant
	err := s.write(ctx, func(tx *bolt.Tx) error {
		t, err := updateTenant(tx, id, func(t *tenants.Tenant) (bool, error) {
			if t.Deleting() {
				return false, fmt.Errorf("tenant %s: being deleted: %w", id, tenants.ErrNotFound)
			}
			t.Retention = keep
			return true, nil
		})
		out = t
		return err
	})
	return out, err
}

// updateTenant reads tenant id in tx, lets change edit it, and writes it back when change reports a change;
// tenants.ErrNotFound when absent. It returns the tenant as change left it.
func updateTenant(tx *bolt.Tx, id string, change func(*tenants.Tenant) (bool, error)) (*tenants.Tenant, error) {
	b := tx.Bucket(bTenants)
	v := b.Get([]byte(id))
	if v == nil {
		return nil, fmt.Errorf("tenant %s: %w", id, tenants.ErrNotFound)
	}
	t, err := decodeTenant(v)
	if err != nil {
		return nil, err
	}
	changed, err := change(t)
	if err != nil || !changed {
		return t, err
	}
	nv, err := encodeTenant(t)
	if err != nil {
		return nil, err
	}
	return t, b.Put([]byte(id), nv)
}
