package secrets

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/webhookd/webhookd/endpoints"
	"github.com/webhookd/webhookd/tenants"
)

var (
	_ endpoints.Store        = (*Endpoints)(nil)
	_ endpoints.FanoutLister = (*Endpoints)(nil)
)

// Endpoints is an endpoints.Store that seals every key's Secret before it reaches the store it wraps and opens it on
// the way back, so that the store (and its files, backups and replicas) never holds a secret in the clear. Callers see
// plaintext secrets exactly as without it.
//
// With a nil keyring it stores plaintext (as the store would alone) and refuses to read a sealed secret (ErrNoKey),
// so that a gateway started without its key fails loudly instead of signing with ciphertext.
type Endpoints struct {
	inner endpoints.Store
	kr    *Keyring
}

// NewEndpoints wraps inner; kr may be nil (no encryption).
func NewEndpoints(inner endpoints.Store, kr *Keyring) *Endpoints {
	return &Endpoints{inner: inner, kr: kr}
}

// ad is the associated data of an endpoint's secrets: a sealed secret opens only for the endpoint it was sealed for.
func ad(tenantID, endpointID string) []byte {
	return []byte("webhookd endpoint secret v1\x00" + tenantID + "\x00" + endpointID)
}

// seal returns a copy of e whose secrets are sealed; e is not changed.
func (s *Endpoints) seal(e *endpoints.Endpoint) (*endpoints.Endpoint, error) {
	c := *e
	c.Keys = slices.Clone(e.Keys)
	for i, k := range c.Keys {
		switch {
		case k.Secret == "":
		case s.kr != nil:
			c.Keys[i].Secret = s.kr.Seal([]byte(k.Secret), ad(e.TenantID, e.ID))
		case strings.HasPrefix(k.Secret, "enc:"):
			// Stored in the clear, it would read back as a sealed value.
			return nil, fmt.Errorf("endpoint %s: a secret may not start with \"enc:\" while no operator key is set: %w",
				e.ID, endpoints.ErrInvalid)
		}
	}
	return &c, nil
}

// open opens e's sealed secrets in place. Plaintext secrets (stored before a key was set) are returned as they are.
func (s *Endpoints) open(e *endpoints.Endpoint) error {
	for i, k := range e.Keys {
		if !IsSealed(k.Secret) {
			continue
		}
		pt, err := s.kr.Open(k.Secret, ad(e.TenantID, e.ID))
		if err != nil {
			return fmt.Errorf("endpoint %s of tenant %s, key %d: %w", e.ID, e.TenantID, i+1, err)
		}
		e.Keys[i].Secret = string(pt)
	}
	return nil
}

// CreateEndpoint stores e with its secrets sealed; e itself keeps its plaintext.
func (s *Endpoints) CreateEndpoint(ctx context.Context, e *endpoints.Endpoint) error {
	sealed, err := s.seal(e)
	if err != nil {
		return err
	}
	return s.inner.CreateEndpoint(ctx, sealed)
}

// UpdateEndpoint replaces the stored endpoint, its secrets sealed under the current key (whatever key sealed them
// before); e itself keeps its plaintext and takes the new Version.
func (s *Endpoints) UpdateEndpoint(ctx context.Context, e *endpoints.Endpoint) error {
	sealed, err := s.seal(e)
	if err != nil {
		return err
	}
	if err := s.inner.UpdateEndpoint(ctx, sealed); err != nil {
		return err
	}
	e.Version = sealed.Version
	return nil
}

// GetEndpoint returns the endpoint with its secrets opened.
func (s *Endpoints) GetEndpoint(ctx context.Context, tenantID, id string) (*endpoints.Endpoint, error) {
	e, err := s.inner.GetEndpoint(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	if err := s.open(e); err != nil {
		return nil, err
	}
	return e, nil
}

// ListEndpoints returns the endpoints with their secrets opened.
func (s *Endpoints) ListEndpoints(ctx context.Context, tenantID, after string, limit int) ([]*endpoints.Endpoint, error) {
	es, err := s.inner.ListEndpoints(ctx, tenantID, after, limit)
	if err != nil {
		return nil, err
	}
	for _, e := range es {
		if err := s.open(e); err != nil {
			return nil, err
		}
	}
	return es, nil
}

// ListFanout returns every endpoint of the tenant in id order for fan-out, without their keys and headers: no secret
// is opened. endpoints.CachedStore lists through it when it wraps this decorator.
func (s *Endpoints) ListFanout(ctx context.Context, tenantID string) ([]*endpoints.Endpoint, error) {
	return endpoints.ListFanout(ctx, s.inner, tenantID)
}

// DeleteEndpoint deletes the endpoint.
func (s *Endpoints) DeleteEndpoint(ctx context.Context, tenantID, id string) error {
	return s.inner.DeleteEndpoint(ctx, tenantID, id)
}

// SetEndpointHealth records a health transition; the stored secrets are left as they are.
func (s *Endpoints) SetEndpointHealth(ctx context.Context, tenantID, id string, failingSince time.Time, disable bool, reason string) error {
	return s.inner.SetEndpointHealth(ctx, tenantID, id, failingSince, disable, reason)
}

// TenantLister lists tenants. tenants.Store is one.
type TenantLister interface {
	ListTenants(ctx context.Context, after string, limit int) ([]*tenants.Tenant, error)
}

// Census counts the stored secrets of every endpoint by how they are kept.
type Census struct {
	Endpoints int            // endpoints seen
	Plain     int            // secrets stored in the clear
	Sealed    map[string]int // secrets sealed, by key id
}

// Walk calls fn with every endpoint of every tenant, as stored in raw (secrets as the backend holds them).
func Walk(ctx context.Context, tl TenantLister, raw endpoints.Store, fn func(*endpoints.Endpoint) error) error {
	const page = 100
	for after := ""; ; {
		ts, err := tl.ListTenants(ctx, after, page)
		if err != nil {
			return fmt.Errorf("list tenants: %w", err)
		}
		for _, t := range ts {
			for epAfter := ""; ; {
				es, err := raw.ListEndpoints(ctx, t.ID, epAfter, page)
				if err != nil {
					return fmt.Errorf("list endpoints of tenant %s: %w", t.ID, err)
				}
				for _, e := range es {
					if err := fn(e); err != nil {
						return err
					}
				}
				if len(es) < page {
					break
				}
				epAfter = es[len(es)-1].ID
			}
		}
		if len(ts) < page {
			return nil
		}
		after = ts[len(ts)-1].ID
	}
}

// Count takes a census of raw's secrets.
func Count(ctx context.Context, tl TenantLister, raw endpoints.Store) (Census, error) {
	c := Census{Sealed: make(map[string]int)}
	err := Walk(ctx, tl, raw, func(e *endpoints.Endpoint) error {
		c.Endpoints++
		for _, k := range e.Keys {
			switch {
			case k.Secret == "":
			case IsSealed(k.Secret):
				c.Sealed[SealedWith(k.Secret)]++
			default:
				c.Plain++
			}
		}
		return nil
	})
	return c, err
}

// ResealMode says which endpoints Reseal rewrites.
type ResealMode int

const (
	// SealPlain rewrites only endpoints with a secret in the clear (the migration a gateway runs at start).
	SealPlain ResealMode = iota
	// SealAll rewrites every endpoint with a secret not sealed under the current key (key rotation).
	SealAll
)

// Reseal walks every endpoint of raw, opens every sealed secret (so that a missing or wrong operator key is found
// now, not at the next delivery), and rewrites the endpoints mode selects with their secrets sealed under kr's
// current key. It returns how many endpoints it rewrote. The first endpoint that cannot be opened stops it with an
// error naming the endpoint and wrapping ErrNoKey or ErrOpen; endpoints rewritten before stay rewritten (running it
// again is safe).
//
// Each rewrite is conditional on the record's version (endpoints.ErrConflict): an endpoint changed by another
// process between the read and the write is read again and resealed, so no change is lost.
func Reseal(ctx context.Context, tl TenantLister, raw endpoints.Store, kr *Keyring, mode ResealMode) (int, error) {
	if kr == nil {
		return 0, fmt.Errorf("%w: reseal needs a keyring", ErrNoKey)
	}
	s := NewEndpoints(raw, kr)
	n := 0
	var one func(e *endpoints.Endpoint, tries int) error
	one = func(e *endpoints.Endpoint, tries int) error {
		rewrite := false
		for _, k := range e.Keys {
			switch {
			case k.Secret == "":
			case !IsSealed(k.Secret):
				rewrite = true
			case mode == SealAll && SealedWith(k.Secret) != kr.CurrentID():
				rewrite = true
			}
		}
		if err := s.open(e); err != nil {
			return err
		}
		if !rewrite {
			return nil
		}
		err := s.UpdateEndpoint(ctx, e)
		if errors.Is(err, endpoints.ErrConflict) && tries < 8 {
			// Changed since it was read: read it again and redo it, so that nothing written in between is lost.
			fresh, gerr := raw.GetEndpoint(ctx, e.TenantID, e.ID)
			if errors.Is(gerr, endpoints.ErrNotFound) {
				return nil
			}
			if gerr != nil {
				return fmt.Errorf("endpoint %s of tenant %s: %w", e.ID, e.TenantID, gerr)
			}
			return one(fresh, tries+1)
		}
		if err != nil {
			return fmt.Errorf("endpoint %s of tenant %s: %w", e.ID, e.TenantID, err)
		}
		n++
		return nil
	}
	err := Walk(ctx, tl, raw, func(e *endpoints.Endpoint) error { return one(e, 0) })
	return n, err
}
