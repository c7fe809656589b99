package boltstore

import (
	"bytes"
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/webhookd/webhookd/internal/ids"
	"github.com/webhookd/webhookd/tenants"
)

// portalRec is a portal session as stored: the API form hides Hash.
type portalRec struct {
	tenants.PortalSession
	HashB []byte `json:"hash"`
}

func encodePortal(p *tenants.PortalSession) ([]byte, error) {
	return encode(&portalRec{PortalSession: *p, HashB: p.Hash[:]})
}

func decodePortal(b []byte) (*tenants.PortalSession, error) {
	r, err := decode[portalRec](b)
	if err != nil {
		return nil, err
	}
	p := r.PortalSession
	copy(p.Hash[:], r.HashB)
	return &p, nil
}

// portalKeep is how long a session is kept after it expired, so that the console can still say "expired".
const portalKeep = tenants.MaxPortalTTL

// CreatePortalSession stores a session; tenants.ErrExists when its hash or id is taken. The tenant's sessions that
// expired more than portalKeep before this one was created are deleted in the same commit.
func (s *Store) CreatePortalSession(ctx context.Context, p *tenants.PortalSession) error {
	if p == nil || !ids.Valid(p.ID) || !ids.Valid(p.TenantID) {
		return fmt.Errorf("create portal session: bad id")
	}
	v, err := encodePortal(p)
	if err != nil {
		return err
	}
	return s.write(ctx, func(tx *bolt.Tx) error {
		recs, byTen := tx.Bucket(bPortal), tx.Bucket(bPortalByTen)
		pk := key(p.TenantID, p.ID)
		if recs.Get(p.Hash[:]) != nil || byTen.Get(pk) != nil {
			return fmt.Errorf("portal session %s: %w", p.ID, tenants.ErrExists)
		}
		var stale [][]byte
		pfx := prefix(p.TenantID)
		c := byTen.Cursor()
		for k, h := c.Seek(pfx); k != nil && bytes.HasPrefix(k, pfx); k, h = c.Next() {
			old, err := decodePortal(recs.Get(h))
			if err != nil {
				return err
			}
			if old.ExpiresAt.Add(portalKeep).Before(p.CreatedAt) {
				stale = append(stale, bytes.Clone(k), bytes.Clone(h))
			}
		}
		for i := 0; i < len(stale); i += 2 {
			if err := byTen.Delete(stale[i]); err != nil {
				return err
			}
			if err := recs.Delete(stale[i+1]); err != nil {
				return err
			}
		}
		if err := recs.Put(p.Hash[:], v); err != nil {
			return err
		}
		return byTen.Put(pk, p.Hash[:])
	})
}

// PortalSessionByHash returns the session with this hash, revoked or expired ones included; tenants.ErrToken when
// there is none.
func (s *Store) PortalSessionByHash(ctx context.Context, hash [32]byte) (*tenants.PortalSession, error) {
	var p *tenants.PortalSession
	err := s.viewCommitted(ctx, func(tx *bolt.Tx) error {
		v := tx.Bucket(bPortal).Get(hash[:])
		if v == nil {
			return tenants.ErrToken
		}
		var err error
		p, err = decodePortal(v)
		return err
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// RevokePortalSession marks a tenant's session revoked at at (a session already revoked keeps its first time);
// tenants.ErrNotFound when the session is not the tenant's.
func (s *Store) RevokePortalSession(ctx context.Context, tenantID, id string, at time.Time) error {
	return s.write(ctx, func(tx *bolt.Tx) error {
		h := tx.Bucket(bPortalByTen).Get(key(tenantID, id))
		if h == nil {
			return fmt.Errorf("portal session %s: %w", id, tenants.ErrNotFound)
		}
		h = bytes.Clone(h)
		recs := tx.Bucket(bPortal)
		p, err := decodePortal(recs.Get(h))
		if err != nil {
			return err
		}
		if !p.RevokedAt.IsZero() {
			return nil
		}
		p.RevokedAt = at
		v, err := encodePortal(p)
		if err != nil {
			return err
		}
		return recs.Put(h, v)
	})
}
