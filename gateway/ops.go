package gateway

import "context"

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
			out = append(out, t.ID)
		}
		if next == "" {
			return out, nil
		}
		after = next
	}
}
