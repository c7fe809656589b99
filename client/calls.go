package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/http"
	"time"

	"github.com/webhookd/webhookd/wire"
)

// Call makes one management call to a calls endpoint of the tenant and returns its result, whatever the outcome
// (ok, typed_error, timeout, unreachable, bad_response, circuit_open): switch on Outcome. in.Body is sent to the
// backend byte for byte, and the result's Body is the backend's answer byte for byte. An error means the call could
// not be made (an *Error with code not_found, wrong_endpoint_kind, validation_failed, …) and nothing was logged.
func (c *Client) Call(ctx context.Context, tenant string, in wire.CallRequest) (*wire.CallResult, error) {
	body, err := encodeCall(in)
	if err != nil {
		return nil, err
	}
	return call[wire.CallResult](ctx, c, http.MethodPost, path("tenants", tenant, "calls"), nil, body)
}

// CallRequest builds a call request: body must be JSON; timeout 0 means the endpoint's.
func CallRequest(endpointID, callPath string, body []byte, timeout time.Duration) wire.CallRequest {
	in := wire.CallRequest{EndpointID: endpointID, Path: callPath, Body: body}
	if timeout > 0 {
		in.Timeout = wire.Duration(timeout)
	}
	return in
}

// ListCalls returns one page of a calls endpoint's call log, oldest first.
func (c *Client) ListCalls(ctx context.Context, tenant, endpoint string, p Page) (*wire.List[wire.Call], error) {
	return call[wire.List[wire.Call]](ctx, c, http.MethodGet, path("tenants", tenant, "endpoints", endpoint, "calls"), p.query(), nil)
}

// Calls iterates over a calls endpoint's whole call log, oldest first.
func (c *Client) Calls(ctx context.Context, tenant, endpoint string) iter.Seq2[wire.Call, error] {
	return all[wire.Call](ctx, c, path("tenants", tenant, "endpoints", endpoint, "calls"), nil)
}

// encodeCall encodes in with its body spliced in as given.
func encodeCall(in wire.CallRequest) (json.RawMessage, error) {
	body := bytes.TrimSpace(in.Body)
	if !json.Valid(body) {
		return nil, fmt.Errorf("call %s: the body is not JSON", in.Path)
	}
	in.Body = nil
	head, err := json.Marshal(struct {
		wire.CallRequest
		Body *struct{} `json:"body,omitempty"` // shadows the raw body, spliced in below
	}{CallRequest: in})
	if err != nil {
		return nil, fmt.Errorf("call %s: encode the request: %w", in.Path, err)
	}
	out := append(head[:len(head)-1:len(head)-1], `,"body":`...)
	out = append(out, body...)
	return append(out, '}'), nil
}
