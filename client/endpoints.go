package client

import (
	"context"
	"iter"
	"net/http"
	"time"

	"github.com/webhookd/webhookd/wire"
)

// CreateEndpoint registers an endpoint. The server checks the URL with its URL policy (code forbidden_url) and an
// OPTIONS handshake (code handshake_failed) before storing anything. Read its keys with EndpointSecret.
func (c *Client) CreateEndpoint(ctx context.Context, tenant string, in wire.EndpointRequest) (*wire.Endpoint, error) {
	return call[wire.Endpoint](ctx, c, http.MethodPost, path("tenants", tenant, "endpoints"), nil, in)
}

// GetEndpoint returns an endpoint.
func (c *Client) GetEndpoint(ctx context.Context, tenant, id string) (*wire.Endpoint, error) {
	return call[wire.Endpoint](ctx, c, http.MethodGet, path("tenants", tenant, "endpoints", id), nil, nil)
}

// ListEndpoints returns one page of the tenant's endpoints.
func (c *Client) ListEndpoints(ctx context.Context, tenant string, p Page) (*wire.List[wire.Endpoint], error) {
	return call[wire.List[wire.Endpoint]](ctx, c, http.MethodGet, path("tenants", tenant, "endpoints"), p.query(), nil)
}

// Endpoints iterates over every endpoint of the tenant.
func (c *Client) Endpoints(ctx context.Context, tenant string) iter.Seq2[wire.Endpoint, error] {
	return all[wire.Endpoint](ctx, c, path("tenants", tenant, "endpoints"), nil)
}

// UpdateEndpoint changes the fields set in in; nil fields stay as they are.
func (c *Client) UpdateEndpoint(ctx context.Context, tenant, id string, in wire.EndpointRequest) (*wire.Endpoint, error) {
	return call[wire.Endpoint](ctx, c, http.MethodPatch, path("tenants", tenant, "endpoints", id), nil, in)
}

// DeleteEndpoint deletes an endpoint.
func (c *Client) DeleteEndpoint(ctx context.Context, tenant, id string) error {
	_, err := c.do(ctx, http.MethodDelete, path("tenants", tenant, "endpoints", id), nil, nil, nil)
	return err
}

// EnableEndpoint enables an endpoint and resets its health; its URL is checked again.
func (c *Client) EnableEndpoint(ctx context.Context, tenant, id string) (*wire.Endpoint, error) {
	return call[wire.Endpoint](ctx, c, http.MethodPost, path("tenants", tenant, "endpoints", id, "enable"), nil, nil)
}

// DisableEndpoint disables an endpoint (reason "manual"): it gets no new deliveries.
func (c *Client) DisableEndpoint(ctx context.Context, tenant, id string) (*wire.Endpoint, error) {
	return call[wire.Endpoint](ctx, c, http.MethodPost, path("tenants", tenant, "endpoints", id, "disable"), nil, nil)
}

// RotateEndpoint makes a new signing key; the old one keeps signing beside it for the grace period.
func (c *Client) RotateEndpoint(ctx context.Context, tenant, id string, in wire.Rotate) (*wire.Endpoint, error) {
	return call[wire.Endpoint](ctx, c, http.MethodPost, path("tenants", tenant, "endpoints", id, "rotate"), nil, in)
}

// TestEndpoint sends a webhookd.test event to this endpoint alone, whatever its filters.
func (c *Client) TestEndpoint(ctx context.Context, tenant, id string, in wire.TestEvent) (*wire.TestSent, error) {
	return call[wire.TestSent](ctx, c, http.MethodPost, path("tenants", tenant, "endpoints", id, "test"), nil, in)
}

// EndpointSecret returns the keys signing now, newest first: what the receiver must trust.
func (c *Client) EndpointSecret(ctx context.Context, tenant, id string) (*wire.Secret, error) {
	return call[wire.Secret](ctx, c, http.MethodGet, path("tenants", tenant, "endpoints", id, "secret"), nil, nil)
}

// RecoverEndpoint delivers again, once each, every message whose delivery to the endpoint failed or died since then.
func (c *Client) RecoverEndpoint(ctx context.Context, tenant, id string, since time.Time) (*wire.Recovered, error) {
	return call[wire.Recovered](ctx, c, http.MethodPost, path("tenants", tenant, "endpoints", id, "recover"), nil,
		wire.Recover{Since: wire.Time(since)})
}
