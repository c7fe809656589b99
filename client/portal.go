package client

import (
	"context"
	"net/http"

	"github.com/webhookd/webhookd/wire"
)

// OpenPortal opens a tenant console session (operator token or the tenant's token) and returns it with its token and
// URL: open the URL in a browser, as a link or in an iframe. Token and URL are in this answer only.
func (c *Client) OpenPortal(ctx context.Context, tenant string, in wire.CreatePortalSession) (*wire.PortalSession, error) {
	return call[wire.PortalSession](ctx, c, http.MethodPost, path("tenants", tenant, "portal-sessions"), nil, in)
}

// RevokePortal ends a console session at once (operator token or the tenant's token).
func (c *Client) RevokePortal(ctx context.Context, tenant, sessionID string) error {
	_, err := c.do(ctx, http.MethodDelete, path("tenants", tenant, "portal-sessions", sessionID), nil, nil, nil)
	return err
}
