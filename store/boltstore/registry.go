package boltstore

import (
	"bytes"
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/webhookd/webhookd/endpoints"
	"github.com/webhookd/webhookd/events"
	"github.com/webhookd/webhookd/internal/ids"
	"github.com/webhookd/webhookd/tenants"
)

// Tenants, tokens, endpoints and the event-type catalogue. The store does not check that a record's tenant exists:
// callers hold an authenticated tenant.

// CreateTenant stores a new tenant; tenants.ErrExists when the id is taken.
func (s *Store) CreateTenant(ctx context.Context, t *tenants.Tenant) error {
	if t == nil || !ids.Valid(t.ID) {
		return fmt.Errorf("create tenant: bad id")
	}
	v, err := encodeTenant(t)
	if err != nil {
		return err
	}
	return s.write(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bTenants)
		if b.Get([]byte(t.ID)) != nil {
			return fmt.Errorf("tenant %s: %w", t.ID, tenants.ErrExists)
		}
		return b.Put([]byte(t.ID), v)
	})
}

// GetTenant returns a tenant; tenants.ErrNotFound when absent.
func (s *Store) GetTenant(ctx context.Context, id string) (*tenants.Tenant, error) {
	var t *tenants.Tenant
	err := s.viewCommitted(ctx, func(tx *bolt.Tx) error {
		v := tx.Bucket(bTenants).Get([]byte(id))
		if v == nil {
			return fmt.Errorf("tenant %s: %w", id, tenants.ErrNotFound)
		}
		var err error
		t, err = decodeTenant(v)
		return err
	})
	return t, err
}

// ListTenants returns tenants in ascending id order after the cursor, at most limit (all when limit ≤ 0).
func (s *Store) ListTenants(ctx context.Context, after string, limit int) ([]*tenants.Tenant, error) {
	var out []*tenants.Tenant
	err := s.viewCommitted(ctx, func(tx *bolt.Tx) error {
		return scan(tx.Bucket(bTenants), nil, after, limit, func(_ string, v []byte) error {
			t, err := decodeTenant(v)
			out = append(out, t)
			return err
		})
	})
	return out, err
}

// CreateToken stores a token; tenants.ErrExists when its hash or its id for the tenant is taken.
func (s *Store) CreateToken(ctx context.Context, t *tenants.Token) error {
	if t == nil || !ids.Valid(t.ID) || !ids.Valid(t.TenantID) {
		return fmt.Errorf("create token: bad id")
	}
	v, err := encodeToken(t)
	if err != nil {
		return err
	}
	return s.write(ctx, func(tx *bolt.Tx) error {
		toks, byTen := tx.Bucket(bTokens), tx.Bucket(bTokensByTen)
		tk := key(t.TenantID, t.ID)
		if toks.Get(t.Hash[:]) != nil || byTen.Get(tk) != nil {
			return fmt.Errorf("token %s: %w", t.ID, tenants.ErrExists)
		}
		if err := toks.Put(t.Hash[:], v); err != nil {
			return err
		}
		return byTen.Put(tk, t.Hash[:])
	})
}

// TokenByHash returns the live token with this hash; tenants.ErrToken when it is unknown or revoked.
func (s *Store) TokenByHash(ctx context.Context, hash [32]byte) (*tenants.Token, error) {
	var t *tenants.Token
	err := s.viewCommitted(ctx, func(tx *bolt.Tx) error {
		v := tx.Bucket(bTokens).Get(hash[:])
		if v == nil {
			return tenants.ErrToken
		}
		var err error
		if t, err = decodeToken(v); err != nil {
			return err
		}
		if !t.RevokedAt.IsZero() {
			return fmt.Errorf("token %s revoked: %w", t.ID, tenants.ErrToken)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// ListTokens returns a tenant's tokens, revoked ones included, in ascending id order.
func (s *Store) ListTokens(ctx context.Context, tenantID string) ([]*tenants.Token, error) {
	var out []*tenants.Token
	err := s.viewCommitted(ctx, func(tx *bolt.Tx) error {
		toks := tx.Bucket(bTokens)
		return scan(tx.Bucket(bTokensByTen), prefix(tenantID), "", 0, func(id string, h []byte) error {
			v := toks.Get(h)
			if v == nil {
				return fmt.Errorf("token %s: index without record", id)
			}
			t, err := decodeToken(v)
			out = append(out, t)
			return err
		})
	})
	return out, err
}

// RevokeToken marks a tenant's token revoked at at (a token already revoked keeps its first time);
// tenants.ErrNotFound when the token is not the tenant's.
func (s *Store) RevokeToken(ctx context.Context, tenantID, tokenID string, at time.Time) error {
	return s.write(ctx, func(tx *bolt.Tx) error {
		h := tx.Bucket(bTokensByTen).Get(key(tenantID, tokenID))
		if h == nil {
			return fmt.Errorf("token %s: %w", tokenID, tenants.ErrNotFound)
		}
		h = bytes.Clone(h)
		toks := tx.Bucket(bTokens)
		t, err := decodeToken(toks.Get(h))
		if err != nil {
			return err
		}
		if !t.RevokedAt.IsZero() {
			return nil
		}
		t.RevokedAt = at
		v, err := encodeToken(t)
		if err != nil {
			return err
		}
		return toks.Put(h, v)
	})
}

// CreateEndpoint stores a new endpoint; endpoints.ErrInvalid when its id is bad or taken.
func (s *Store) CreateEndpoint(ctx context.Context, e *endpoints.Endpoint) error {
	if e == nil || !ids.Valid(e.ID) || !ids.Valid(e.TenantID) {
		return fmt.Errorf("create endpoint: bad id: %w", endpoints.ErrInvalid)
	}
	v, err := encodeEndpoint(e)
	if err != nil {
		return err
	}
	return s.write(ctx, func(tx *bolt.Tx) error {
		b, k := tx.Bucket(bEndpoints), key(e.TenantID, e.ID)
		if b.Get(k) != nil {
			return fmt.Errorf("endpoint %s already exists: %w", e.ID, endpoints.ErrInvalid)
		}
		return b.Put(k, v)
	})
}

// GetEndpoint returns a tenant's endpoint; endpoints.ErrNotFound when absent or another tenant's.
func (s *Store) GetEndpoint(ctx context.Context, tenantID, id string) (*endpoints.Endpoint, error) {
	var e *endpoints.Endpoint
	err := s.viewCommitted(ctx, func(tx *bolt.Tx) error {
		var err error
		e, err = getEndpoint(tx, tenantID, id)
		return err
	})
	return e, err
}

func getEndpoint(tx *bolt.Tx, tenantID, id string) (*endpoints.Endpoint, error) {
	v := tx.Bucket(bEndpoints).Get(key(tenantID, id))
	if v == nil {
		return nil, fmt.Errorf("endpoint %s: %w", id, endpoints.ErrNotFound)
	}
	return decodeEndpoint(v)
}

// ListEndpoints returns a tenant's endpoints in ascending id order after the cursor, at most limit (all when ≤ 0).
func (s *Store) ListEndpoints(ctx context.Context, tenantID, after string, limit int) ([]*endpoints.Endpoint, error) {
	var out []*endpoints.Endpoint
	err := s.viewCommitted(ctx, func(tx *bolt.Tx) error {
		return scan(tx.Bucket(bEndpoints), prefix(tenantID), after, limit, func(_ string, v []byte) error {
			e, err := decodeEndpoint(v)
			out = append(out, e)
			return err
		})
	})
	return out, err
}

// UpdateEndpoint replaces a stored endpoint whose version is still e.Version, in one transaction, and bumps the
// version; endpoints.ErrNotFound when absent, endpoints.ErrConflict when another write came in between. A change of
// its rate limit re-times the deliveries held back under the old one (retime).
func (s *Store) UpdateEndpoint(ctx context.Context, e *endpoints.Endpoint) error {
	if e == nil {
		return fmt.Errorf("update endpoint: nil: %w", endpoints.ErrInvalid)
	}
	next := *e
	next.Version = e.Version + 1
	v, err := encodeEndpoint(&next)
	if err != nil {
		return err
	}
	rateChanged, unblock := false, false
	err = s.write(ctx, func(tx *bolt.Tx) error {
		cur, err := getEndpoint(tx, e.TenantID, e.ID)
		if err != nil {
			return err
		}
		if cur.Version != e.Version {
			return fmt.Errorf("endpoint %s: version %d, stored %d: %w", e.ID, e.Version, cur.Version, endpoints.ErrConflict)
		}
		rateChanged = cur.RateLimit != e.RateLimit
		unblock = cur.BlocksOnFailure() && !e.BlocksOnFailure()
		return tx.Bucket(bEndpoints).Put(key(e.TenantID, e.ID), v)
	})
	if err != nil {
		return err
	}
	e.Version = next.Version
	if unblock {
		if err := s.releaseBlocked(ctx, e.TenantID, e.ID); err != nil {
			return err
		}
	}
	if rateChanged {
		if _, err := s.retime(ctx, e.TenantID, e.ID, e.RateLimit); err != nil {
			return err
		}
	}
	return nil
}

// DeleteEndpoint deletes a tenant's endpoint; endpoints.ErrNotFound when absent. Its deliveries stay in the log and
// its pending ones stay queued (the engine ends them when it finds the endpoint gone).
func (s *Store) DeleteEndpoint(ctx context.Context, tenantID, id string) error {
	err := s.write(ctx, func(tx *bolt.Tx) error {
		b, k := tx.Bucket(bEndpoints), key(tenantID, id)
		if b.Get(k) == nil {
			return fmt.Errorf("endpoint %s: %w", id, endpoints.ErrNotFound)
		}
		return b.Delete(k)
	})
	if err != nil {
		return err
	}
	// Release the keys it holds, so the deliveries behind them go (and end: the endpoint is gone).
	return s.releaseBlocked(ctx, tenantID, id)
}

// SetEndpointHealth records failingSince and, when disable is true, disables the endpoint with reason (UpdatedAt
// now). It bumps the version, so a read-modify-write that read before it fails with endpoints.ErrConflict.
func (s *Store) SetEndpointHealth(ctx context.Context, tenantID, id string, failingSince time.Time, disable bool, reason string) error {
	now := time.Now().UTC()
	return s.write(ctx, func(tx *bolt.Tx) error {
		e, err := getEndpoint(tx, tenantID, id)
		if err != nil {
			return err
		}
		e.FailingSince = failingSince
		if disable {
			e.Disabled, e.DisabledReason, e.UpdatedAt = true, reason, now
		}
		e.Version++
		v, err := encodeEndpoint(e)
		if err != nil {
			return err
		}
		return tx.Bucket(bEndpoints).Put(key(tenantID, id), v)
	})
}

// PutEventType creates or replaces a catalogue entry.
func (s *Store) PutEventType(ctx context.Context, t *events.EventType) error {
	if t == nil || t.Name == "" {
		return fmt.Errorf("put event type: no name: %w", events.ErrInvalid)
	}
	v, err := encodeEventType(t)
	if err != nil {
		return err
	}
	return s.write(ctx, func(tx *bolt.Tx) error { return tx.Bucket(bEventTypes).Put([]byte(t.Name), v) })
}

// GetEventType returns a catalogue entry; events.ErrNotFound when absent.
func (s *Store) GetEventType(ctx context.Context, name string) (*events.EventType, error) {
	var t *events.EventType
	err := s.viewCommitted(ctx, func(tx *bolt.Tx) error {
		v := tx.Bucket(bEventTypes).Get([]byte(name))
		if v == nil {
			return fmt.Errorf("event type %q: %w", name, events.ErrNotFound)
		}
		var err error
		t, err = decodeEventType(v)
		return err
	})
	return t, err
}

// ListEventTypes returns catalogue entries in ascending name order after the cursor, at most limit (all when ≤ 0).
func (s *Store) ListEventTypes(ctx context.Context, after string, limit int) ([]*events.EventType, error) {
	var out []*events.EventType
	err := s.viewCommitted(ctx, func(tx *bolt.Tx) error {
		return scan(tx.Bucket(bEventTypes), nil, after, limit, func(_ string, v []byte) error {
			t, err := decodeEventType(v)
			out = append(out, t)
			return err
		})
	})
	return out, err
}

// DeleteEventType deletes a catalogue entry; events.ErrNotFound when absent.
func (s *Store) DeleteEventType(ctx context.Context, name string) error {
	return s.write(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bEventTypes)
		if b.Get([]byte(name)) == nil {
			return fmt.Errorf("event type %q: %w", name, events.ErrNotFound)
		}
		return b.Delete([]byte(name))
	})
}

// scan calls fn for the keys of b under pfx whose remainder (the id) sorts after the cursor, in order, at most limit
// (all when limit ≤ 0).
func scan(b *bolt.Bucket, pfx []byte, after string, limit int, fn func(id string, v []byte) error) error {
	c := b.Cursor()
	n := 0
	for k, v := c.Seek(append(bytes.Clone(pfx), after...)); k != nil && bytes.HasPrefix(k, pfx); k, v = c.Next() {
		id := string(k[len(pfx):])
		if id <= after {
			continue
		}
		if err := fn(id, v); err != nil {
			return err
		}
		if n++; limit > 0 && n >= limit {
			break
		}
	}
	return nil
}
