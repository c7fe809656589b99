package redisstore

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/webhookd/webhookd/tenants"
)

// storedPortal keeps the hash, which tenants.PortalSession does not marshal.
type storedPortal struct {
	Session *tenants.PortalSession `json:"session"`
	Hash    string                 `json:"hash"` // hex
}

func encodePortal(p *tenants.PortalSession) (string, error) {
	b, err := json.Marshal(storedPortal{Session: p, Hash: hex.EncodeToString(p.Hash[:])})
	return string(b), err
}

func decodePortal(s string) (*tenants.PortalSession, error) {
	var sp storedPortal
	if err := json.Unmarshal([]byte(s), &sp); err != nil {
		return nil, fmt.Errorf("redisstore: decode portal session: %w", err)
	}
	if sp.Session == nil {
		return nil, fmt.Errorf("redisstore: decode portal session: empty record")
	}
	h, err := hex.DecodeString(sp.Hash)
	if err != nil || len(h) != 32 {
		return nil, fmt.Errorf("redisstore: decode portal session %s: bad hash", sp.Session.ID)
	}
	copy(sp.Session.Hash[:], h)
	return sp.Session, nil
}

// portalKeep is how long a session's keys outlive its expiry, so that the console can still say "expired".
const portalKeep = tenants.MaxPortalTTL

// CreatePortalSession stores a session (its hash, never its text); both keys expire portalKeep after it does.
// tenants.ErrExists when its id or hash is taken.
func (s *Store) CreatePortalSession(ctx context.Context, p *tenants.PortalSession) error {
	if !validID(p.ID) || !validID(p.TenantID) {
		return fmt.Errorf("redisstore: portal session %q of tenant %q: ids must be 1 to 64 of [A-Za-z0-9_-]", p.ID, p.TenantID)
	}
	v, err := encodePortal(p)
	if err != nil {
		return fmt.Errorf("redisstore: encode portal session: %w", err)
	}
	exp := p.ExpiresAt.Add(portalKeep)
	// The record first, so that the lookup never names a missing session.
	ok, err := s.rdb.SetArgs(ctx, s.k.portalSession(p.TenantID, p.ID), v, redis.SetArgs{Mode: "NX", ExpireAt: exp}).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return fmt.Errorf("portal session %s: %w", p.ID, tenants.ErrExists)
	case err != nil:
		return fmt.Errorf("redisstore: create portal session %s: %w", p.ID, err)
	case ok != "OK":
		return fmt.Errorf("portal session %s: %w", p.ID, tenants.ErrExists)
	}
	ok, err = s.rdb.SetArgs(ctx, s.k.portalByHash(p.Hash), p.TenantID+" "+p.ID, redis.SetArgs{Mode: "NX", ExpireAt: exp}).Result()
	if errors.Is(err, redis.Nil) || (err == nil && ok != "OK") {
		s.rdb.Del(ctx, s.k.portalSession(p.TenantID, p.ID))
		return fmt.Errorf("portal session %s: hash: %w", p.ID, tenants.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("redisstore: create portal session %s: %w", p.ID, err)
	}
	return nil
}

// PortalSessionByHash returns the session with that hash, revoked or expired ones it still holds included;
// tenants.ErrToken when there is none.
func (s *Store) PortalSessionByHash(ctx context.Context, hash [32]byte) (*tenants.PortalSession, error) {
	ref, err := s.rdb.Get(ctx, s.k.portalByHash(hash)).Result()
	if errors.Is(err, redis.Nil) {
		return nil, tenants.ErrToken
	}
	if err != nil {
		return nil, fmt.Errorf("redisstore: portal session by hash: %w", err)
	}
	tenantID, id, _ := strings.Cut(ref, " ")
	v, err := s.rdb.Get(ctx, s.k.portalSession(tenantID, id)).Result()
	if errors.Is(err, redis.Nil) {
		return nil, tenants.ErrToken
	}
	if err != nil {
		return nil, fmt.Errorf("redisstore: portal session by hash: %w", err)
	}
	p, err := decodePortal(v)
	if err != nil {
		return nil, err
	}
	if p.Hash != hash {
		return nil, tenants.ErrToken
	}
	return p, nil
}

// RevokePortalSession marks a tenant's session revoked at at (a session already revoked keeps its first time), keeping
// its expiry; tenants.ErrNotFound when it is not the tenant's.
func (s *Store) RevokePortalSession(ctx context.Context, tenantID, id string, at time.Time) error {
	if !validID(tenantID) || !validID(id) {
		return tenants.ErrNotFound
	}
	key := s.k.portalSession(tenantID, id)
	return s.update(ctx, key, func(tx *redis.Tx) (func(redis.Pipeliner), error) {
		v, err := tx.Get(ctx, key).Result()
		if errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("portal session %s: %w", id, tenants.ErrNotFound)
		}
		if err != nil {
			return nil, err
		}
		p, err := decodePortal(v)
		if err != nil {
			return nil, err
		}
		if !p.RevokedAt.IsZero() {
			return func(redis.Pipeliner) {}, nil
		}
		p.RevokedAt = at
		nv, err := encodePortal(p)
		if err != nil {
			return nil, err
		}
		return func(pl redis.Pipeliner) { pl.SetArgs(ctx, key, nv, redis.SetArgs{KeepTTL: true}) }, nil
	})
}
