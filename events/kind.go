package events

import (
	"context"
	"fmt"

	"github.com/webhookd/webhookd/endpoints"
)

// eventsEndpoint checks that endpointID is one of the tenant's endpoints that receives events: a calls endpoint is
// refused with endpoints.ErrKind (it never receives an event, not even a test, a replay or a recovery).
func (s *Service) eventsEndpoint(ctx context.Context, tenantID, endpointID string) error {
	ep, err := s.cfg.Endpoints.GetEndpoint(ctx, tenantID, endpointID)
	if err != nil {
		return err
	}
	if ep.IsCalls() {
		return fmt.Errorf("endpoint %s takes calls, not events: %w", endpointID, endpoints.ErrKind)
	}
	return nil
}
