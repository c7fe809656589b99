package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/webhookd/webhookd/calls"
	"github.com/webhookd/webhookd/endpoints"
	"github.com/webhookd/webhookd/wire"
)

// errNoCalls answers the calls routes of an API built without a calls service.
var errNoCalls = newError(http.StatusNotFound, CodeNotFound, "management calls are not enabled on this server")

// makeCall is POST /v1/tenants/{tenant}/calls: one synchronous call to a calls endpoint. A call that was made answers
// 200 whatever its outcome; only a call that could not be made (bad input, unknown or events endpoint, disabled)
// answers an error, and is not logged.
func (s *server) makeCall(w http.ResponseWriter, r *http.Request, c *call) error {
	if s.calls == nil {
		return errNoCalls
	}
	var req wire.CallRequest
	if err := decodeBody(w, r, s.cfg.MaxEventBytes, &req, false); err != nil {
		return err
	}
	switch {
	case req.EndpointID == "":
		return errValidation("endpoint_id", "endpoint_id is required")
	case req.Body == nil:
		return errValidation("body", "body is required: the JSON to send (null is allowed)")
	}
	timeout, err := parseDuration("timeout", req.Timeout)
	if err != nil {
		return err
	}
	// A call may take up to calls.MaxTimeout, as long as the server's write timeout: give the answer room.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(calls.MaxTimeout + 10*time.Second))
	res, err := s.calls.Call(r.Context(), c.tenant, calls.Request{
		EndpointID: req.EndpointID, Path: req.Path, Body: req.Body, Timeout: deref(timeout), Idempotent: req.Idempotent,
	})
	if err != nil {
		return err
	}
	writeCallResult(w, wire.CallResult{
		ID: res.ID, Outcome: string(res.Outcome), Status: res.Status, Tag: res.Tag,
		Error: res.Error, LatencyMS: ms(res.Latency), WebhookID: res.WebhookID, Attempts: res.Attempts,
	}, res.Body)
	return nil
}

// writeCallResult answers 200 with v and the backend's body spliced in as it came: json.Marshal would compact and
// HTML-escape it, and the console must get the answer byte for byte.
func writeCallResult(w http.ResponseWriter, v wire.CallResult, body []byte) {
	out, _ := json.Marshal(v) // strings and numbers always encode
	if body != nil {
		out = append(append(append(out[:len(out)-1], `,"body":`...), body...), '}')
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(out, '\n'))
}

// listCalls is GET .../endpoints/{id}/calls: one page of a calls endpoint's call log, oldest first.
func (s *server) listCalls(w http.ResponseWriter, r *http.Request, c *call) error {
	if s.calls == nil {
		return errNoCalls
	}
	after, limit, err := page(r)
	if err != nil {
		return err
	}
	cs, next, err := s.calls.List(r.Context(), c.tenant, mux.Vars(r)["id"], after, limit)
	if err != nil {
		return err
	}
	out := make([]wire.Call, len(cs))
	for i, x := range cs {
		out[i] = wire.Call{
			ID: x.ID, EndpointID: x.EndpointID, WebhookID: x.WebhookID, Path: x.Path, Request: x.Request,
			Response: x.Response, Status: x.Status, Outcome: string(x.Outcome), Tag: x.Tag, Error: x.Error,
			LatencyMS: ms(x.Latency), Attempts: x.Attempts, CreatedAt: x.CreatedAt,
		}
	}
	writeJSON(w, http.StatusOK, newList(out, next))
	return nil
}

// ms is d in milliseconds, to the microsecond.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// callsAPIError maps the errors of package calls and endpoint kinds; ok is false for any other error.
func callsAPIError(err error) (*apiError, bool) {
	var fe *calls.FieldError
	switch {
	case errors.As(err, &fe):
		return errValidation(fe.Field, "%s: %s", fe.Field, fe.Message), true
	case errors.Is(err, endpoints.ErrKind):
		e := newError(http.StatusUnprocessableEntity, wire.CodeEndpointKind, "%s", kindMessage(err))
		e.Field = "endpoint_id"
		return e, true
	case errors.Is(err, calls.ErrDisabled):
		return newError(http.StatusConflict, CodeConflict, "the calls endpoint is disabled: enable it first"), true
	}
	return nil, false
}

func kindMessage(err error) string {
	var fe *endpoints.FieldError
	if errors.As(err, &fe) {
		return fe.Message
	}
	return err.Error()
}

// viewCallSettings shows a calls endpoint's settings.
func viewCallSettings(c *endpoints.CallSettings) *wire.CallSettings {
	if c == nil {
		return nil
	}
	return &wire.CallSettings{ErrorTags: c.ErrorTags, Schemas: c.Schemas}
}

// callSettings reads a request's call settings.
func callSettings(c *wire.CallSettings) *endpoints.CallSettings {
	if c == nil {
		return nil
	}
	return &endpoints.CallSettings{ErrorTags: c.ErrorTags, Schemas: c.Schemas}
}

// endpointKind is what an endpoint shows as its kind.
func endpointKind(e *endpoints.Endpoint) string {
	if e.IsCalls() {
		return endpoints.KindCalls
	}
	return endpoints.KindEvents
}
