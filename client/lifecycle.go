package client

import (
	"context"
	"net/http"

	"github.com/webhookd/webhookd/wire"
)

// ExpungeMessage drops a message's payload for good (the tenant's token or the operator's): the log keeps its id,
// type and times, its data reads null, and it is never sent again. It returns the message as the log now shows it.
func (c *Client) ExpungeMessage(ctx context.Context, tenant, id string) (*wire.Message, error) {
	return call[wire.Message](ctx, c, http.MethodDelete, path("tenants", tenant, "messages", id, "payload"), nil, nil)
}
