package client

import (
	"context"
	"iter"
	"net/http"

	"github.com/webhookd/webhookd/wire"
)

// CreateTenant creates a tenant (operator token). A taken id is a conflict ([IsConflict]).
func (c *Client) CreateTenant(ctx context.Context, in wire.CreateTenant) (*wire.Tenant, error) {
	return call[wire.Tenant](ctx, c, http.MethodPost, path("tenants"), nil, in)
}

// GetTenant returns a tenant. A tenant token may read its own.
func (c *Client) GetTenant(ctx context.Context, tenant string) (*wire.Tenant, error) {
	return call[wire.Tenant](ctx, c, http.MethodGet, path("tenants", tenant), nil, nil)
}

// ListTenants returns one page of tenants (operator token).
func (c *Client) ListTenants(ctx context.Context, p Page) (*wire.List[wire.Tenant], error) {
	return call[wire.List[wire.Tenant]](ctx, c, http.MethodGet, path("tenants"), p.query(), nil)
}

// Tenants iterates over every tenant (operator token).
func (c *Client) Tenants(ctx context.Context) iter.Seq2[wire.Tenant, error] {
	return all[wire.Tenant](ctx, c, path("tenants"), nil)
}

// UpdateTenant changes a tenant (operator token): its own retention period, within the operator's limits.
func (c *Client) UpdateTenant(ctx context.Context, tenant string, in wire.UpdateTenant) (*wire.Tenant, error) {
	return call[wire.Tenant](ctx, c, http.MethodPatch, path("tenants", tenant), nil, in)
}

// DeleteTenant begins the deletion of a tenant and all its data (operator token; the server must run with
// --allow-tenant-deletion, else a 403 tenant_deletion_disabled). It returns the tenant in state deleting: from then
// on it is gone for every call, and its data is removed in the background.
func (c *Client) DeleteTenant(ctx context.Context, tenant string) (*wire.Tenant, error) {
	return call[wire.Tenant](ctx, c, http.MethodDelete, path("tenants", tenant), nil, nil)
}

// CreateToken issues a tenant token (operator token). Its text, in Token, is shown only in this answer.
func (c *Client) CreateToken(ctx context.Context, tenant string, in wire.CreateToken) (*wire.Token, error) {
	return call[wire.Token](ctx, c, http.MethodPost, path("tenants", tenant, "tokens"), nil, in)
}

// ListTokens returns a tenant's tokens, revoked ones included, without their text (operator token).
func (c *Client) ListTokens(ctx context.Context, tenant string) ([]wire.Token, error) {
	l, err := call[wire.List[wire.Token]](ctx, c, http.MethodGet, path("tenants", tenant, "tokens"), nil, nil)
	if err != nil {
		return nil, err
	}
	return l.Data, nil
}

// RevokeToken revokes a tenant token: it stops authenticating at once (operator token).
func (c *Client) RevokeToken(ctx context.Context, tenant, tokenID string) error {
	_, err := c.do(ctx, http.MethodDelete, path("tenants", tenant, "tokens", tokenID), nil, nil, nil)
	return err
}
