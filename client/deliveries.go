package client

import (
	"context"
	"iter"
	"net/http"
	"net/url"
	"time"

	"github.com/webhookd/webhookd/wire"
)

// DeliveryFilter selects deliveries of the log; zero fields select everything. The log is newest first.
type DeliveryFilter struct {
	Endpoint string    // only deliveries to this endpoint
	Message  string    // only deliveries of this message
	Status   string    // only deliveries in this status: wire.StatusPending, ...
	Since    time.Time // only deliveries created since
	Until    time.Time // only deliveries created before
	Page               // one page (the iterators ignore it)
}

func (f DeliveryFilter) query() url.Values {
	q := f.Page.query()
	for k, v := range map[string]string{"endpoint": f.Endpoint, "message": f.Message, "status": f.Status} {
		if v != "" {
			q.Set(k, v)
		}
	}
	for k, t := range map[string]time.Time{"since": f.Since, "until": f.Until} {
		if !t.IsZero() {
			q.Set(k, t.Format(time.RFC3339Nano))
		}
	}
	return q
}

// all is f's query without its page, for an iterator.
func (f DeliveryFilter) all() url.Values {
	f.Page = Page{}
	return f.query()
}

// ListDeliveries returns one page of the tenant's delivery log.
func (c *Client) ListDeliveries(ctx context.Context, tenant string, f DeliveryFilter) (*wire.List[wire.Delivery], error) {
	return call[wire.List[wire.Delivery]](ctx, c, http.MethodGet, path("tenants", tenant, "deliveries"), f.query(), nil)
}

// Deliveries iterates over every delivery of the tenant's log that f selects.
func (c *Client) Deliveries(ctx context.Context, tenant string, f DeliveryFilter) iter.Seq2[wire.Delivery, error] {
	return all[wire.Delivery](ctx, c, path("tenants", tenant, "deliveries"), f.all())
}

// ListEndpointDeliveries returns one page of the deliveries to one endpoint (f.Endpoint is ignored). Unlike
// ListDeliveries with f.Endpoint, an unknown endpoint is not_found.
func (c *Client) ListEndpointDeliveries(ctx context.Context, tenant, endpoint string, f DeliveryFilter) (*wire.List[wire.Delivery], error) {
	f.Endpoint = ""
	return call[wire.List[wire.Delivery]](ctx, c, http.MethodGet, path("tenants", tenant, "endpoints", endpoint, "deliveries"), f.query(), nil)
}

// EndpointDeliveries iterates over every delivery to one endpoint that f selects (f.Endpoint is ignored).
func (c *Client) EndpointDeliveries(ctx context.Context, tenant, endpoint string, f DeliveryFilter) iter.Seq2[wire.Delivery, error] {
	f.Endpoint = ""
	return all[wire.Delivery](ctx, c, path("tenants", tenant, "endpoints", endpoint, "deliveries"), f.all())
}

// GetDelivery returns a delivery with its attempt log.
func (c *Client) GetDelivery(ctx context.Context, tenant, id string) (*wire.DeliveryDetail, error) {
	return call[wire.DeliveryDetail](ctx, c, http.MethodGet, path("tenants", tenant, "deliveries", id), nil, nil)
}

// GetMessage returns a message with the status of each of its deliveries (at most 1000).
func (c *Client) GetMessage(ctx context.Context, tenant, id string) (*wire.Message, error) {
	return call[wire.Message](ctx, c, http.MethodGet, path("tenants", tenant, "messages", id), nil, nil)
}

// UnblockDelivery ends the hold of a blocked delivery on its ordering key: action is wire.UnblockRetry (it goes
// again, first of its key) or wire.UnblockSkip (the next delivery of its key goes).
func (c *Client) UnblockDelivery(ctx context.Context, tenant, id, action string) (*wire.Delivery, error) {
	return call[wire.Delivery](ctx, c, http.MethodPost, path("tenants", tenant, "deliveries", id, "unblock"), nil,
		wire.Unblock{Action: action})
}

// ReplayMessage delivers a message again to an endpoint of the tenant (any, whatever its filters), with its original
// webhook-id, as a new delivery.
func (c *Client) ReplayMessage(ctx context.Context, tenant, message, endpoint string) (*wire.Delivery, error) {
	return call[wire.Delivery](ctx, c, http.MethodPost, path("tenants", tenant, "messages", message, "replay"), nil,
		wire.Replay{EndpointID: endpoint})
}
