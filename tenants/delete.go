package tenants

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Tenant deletion. Delete marks the tenant deleting, a single durable write after which the tenant is gone for every
// tenant-scoped call (Get and Exists answer ErrNotFound, its tokens and portal sessions fail) and its deliveries
// are no longer claimed; the reaper (RunReaper) then purges its data in bounded steps, the tenant record last. The
// reaper resumes every tenant still marked when it starts and periodically, so a deletion interrupted by a crash
// finishes after the restart, and a half-deleted tenant is never visible.

// DefaultReapEvery is how often RunReaper looks for tenants still being deleted, by default.
const DefaultReapEvery = time.Minute

// Delete begins the deletion of a tenant and returns it as marked; the data goes in the background (RunReaper).
// ErrDeletionDisabled unless the operator allowed deletion (or the store cannot delete), ErrNotFound for an unknown
// tenant or one already being deleted.
func (s *Service) Delete(ctx context.Context, id string) (*Tenant, error) {
	d, ok := s.store.(Deleter)
	if !s.allowDeletion || !ok {
		return nil, ErrDeletionDisabled
	}
	if _, err := s.Get(ctx, id); err != nil {
		return nil, err
	}
	t, err := d.MarkTenantDeleting(ctx, id, s.now().UTC())
	if err != nil {
		return nil, fmt.Errorf("delete tenant %s: %w", id, err)
	}
	s.forget(id)
	s.log.Info("tenant deletion begun", "tenant", id)
	select {
	case s.kick <- struct{}{}:
	default:
	}
	return t, nil
}

// RunReaper purges the tenants being deleted: at once, after every Delete, and every every (DefaultReapEvery when
// ≤ 0) until ctx ends; it returns nil. It does nothing when the store cannot delete.
func (s *Service) RunReaper(ctx context.Context, every time.Duration) error {
	if _, ok := s.store.(Deleter); !ok {
		return nil
	}
	if every <= 0 {
		every = DefaultReapEvery
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		s.Reap(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-s.kick:
		}
	}
}

// Reap purges every tenant being deleted to the end and returns how many it finished. A failure is logged and left
// for the next round.
func (s *Service) Reap(ctx context.Context) int {
	d, ok := s.store.(Deleter)
	if !ok {
		return 0
	}
	ids, err := d.DeletingTenants(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("tenant reaper: list", "err", err)
		}
		return 0
	}
	n := 0
	for _, id := range ids {
		start := time.Now()
		done, err := d.PurgeTenant(ctx, id, 0)
		switch {
		case err != nil && !errors.Is(err, ErrNotDeleting):
			if ctx.Err() == nil {
				s.log.Warn("tenant reaper: purge", "tenant", id, "err", err)
			}
		case done:
			n++
			s.forget(id)
			s.log.Info("tenant deleted", "tenant", id, "took", time.Since(start).Round(time.Millisecond))
		}
	}
	return n
}
