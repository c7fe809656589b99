package tenants

import (
	"context"
	"fmt"
	"time"
)

// A tenant's own retention period: how long its finished deliveries and messages are kept, shorter or longer than
// the operator's default, within the operator's limits (ServiceConfig.RetentionMin and RetentionMax).

// Default limits of a tenant's own retention period.
const (
	DefaultRetentionMin = time.Hour
	DefaultRetentionMax = 365 * 24 * time.Hour
)

// checkRetention refuses a period outside the operator's limits; 0 (the default) always passes.
func (s *Service) checkRetention(keep time.Duration) error {
	if keep == 0 {
		return nil
	}
	if keep < s.retMin || keep > s.retMax {
		return &FieldError{Field: "retention", Message: fmt.Sprintf("must be between %s and %s, or 0 for the default",
			s.retMin, s.retMax)}
	}
	return nil
}

// SetRetention sets a tenant's own retention period; 0 returns it to the operator's default. A period outside the
// operator's limits is a *FieldError (ErrInvalid); an unknown tenant or one being deleted ErrNotFound.
func (s *Service) SetRetention(ctx context.Context, id string, keep time.Duration) (*Tenant, error) {
	if err := s.checkRetention(keep); err != nil {
		return nil, err
	}
	t, err := s.store.SetTenantRetention(ctx, id, keep)
	if err != nil {
		return nil, fmt.Errorf("set tenant %s retention: %w", id, err)
	}
	return t, nil
}

// Retentions lists the tenants with a retention period of their own (not those being deleted), for
// delivery.RetentionConfig.TenantKeep. A period the operator's limits have since narrowed is brought within them.
func (s *Service) Retentions(ctx context.Context) (map[string]time.Duration, error) {
	out := map[string]time.Duration{}
	after := ""
	for {
		ts, err := s.store.ListTenants(ctx, after, 1000)
		if err != nil {
			return nil, fmt.Errorf("list tenants: %w", err)
		}
		for _, t := range ts {
			if t.Retention != 0 && !t.Deleting() {
				out[t.ID] = min(max(t.Retention, s.retMin), s.retMax)
			}
		}
		if len(ts) < 1000 {
			return out, nil
		}
		after = ts[len(ts)-1].ID
	}
}
