package gateway

import (
	"context"

	"github.com/webhookd/webhookd/endpoints"
)

// tenantIDs lists every tenant's id, for the endpoint re-check.
func (g *Gateway) tenantIDs(ctx context.Context) ([]string, error) {
	var out []string
	after := ""
	for {
		page, next, err := g.tenants.List(ctx, after, 500)
		if err != nil {
			return nil, err
		}
		for _, t := range page {
			if !t.Deleting() { // its endpoints are going
				out = append(out, t.ID)
			}
		}
		if next == "" {
			return out, nil
		}
		after = next
	}
}

// allEndpoints lists every endpoint of every tenant (not those being deleted), for the engine's failing check.
func (g *Gateway) allEndpoints(ctx context.Context) ([]*endpoints.Endpoint, error) {
	ids, err := g.tenantIDs(ctx)
	if err != nil {
		return nil, err
	}
	var out []*endpoints.Endpoint
	for _, id := range ids {
		after := ""
		for {
			page, next, err := g.endpoints.List(ctx, id, after, 500)
			if err != nil {
				return out, err
			}
			out = append(out, page...)
			if next == "" {
				break
			}
			after = next
		}
	}
	return out, nil
}
