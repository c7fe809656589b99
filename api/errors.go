package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/egress"
	"github.com/webhookd/webhookd/endpoints"
	"github.com/webhookd/webhookd/events"
	"github.com/webhookd/webhookd/tenants"
	"github.com/webhookd/webhookd/wire"
)

// Error codes: the stable "code" member of every error response, as package wire declares them. Clients branch on
// these, never on messages.
const (
	CodeInvalidJSON      = wire.CodeInvalidJSON
	CodeInvalidParameter = wire.CodeInvalidParameter
	CodeUnauthorized     = wire.CodeUnauthorized
	CodeForbidden        = wire.CodeForbidden
	CodeNotFound         = wire.CodeNotFound
	CodeMethodNotAllowed = wire.CodeMethodNotAllowed
	CodeConflict         = wire.CodeConflict
	CodeBodyTooLarge     = wire.CodeBodyTooLarge
	CodeValidation       = wire.CodeValidation
	CodeForbiddenURL     = wire.CodeForbiddenURL
	CodeHandshakeFailed  = wire.CodeHandshakeFailed
	CodeInternal         = wire.CodeInternal
	CodeRateLimited      = wire.CodeRateLimited
	CodeEndpointLimit    = wire.CodeEndpointLimit
	CodeRecoverPending   = wire.CodeRecoverPending
	CodeRequestTimeout   = wire.CodeRequestTimeout
)

// apiError is an error with its HTTP form. Handlers return it directly for request-level problems; domain errors
// are translated by toAPIError.
type apiError struct {
	Status  int
	Code    string
	Message string
	Field   string
	Details json.RawMessage
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

// MarshalJSON encodes e as the error body, wire.Error.
func (e *apiError) MarshalJSON() ([]byte, error) {
	return json.Marshal(wire.Error{Code: e.Code, Message: e.Message, Field: e.Field, Details: e.Details})
}

func newError(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func errInvalidJSON(field, format string, args ...any) *apiError {
	e := newError(http.StatusBadRequest, CodeInvalidJSON, format, args...)
	e.Field = field
	return e
}

func errParam(field, format string, args ...any) *apiError {
	e := newError(http.StatusBadRequest, CodeInvalidParameter, format, args...)
	e.Field = field
	return e
}

func errValidation(field, format string, args ...any) *apiError {
	e := newError(http.StatusUnprocessableEntity, CodeValidation, format, args...)
	e.Field = field
	return e
}

var (
	errUnauthorized = newError(http.StatusUnauthorized, CodeUnauthorized, "a valid bearer token is required")
	errForbidden    = newError(http.StatusForbidden, CodeForbidden, "this action needs the operator token")
	errNoRoute      = newError(http.StatusNotFound, CodeNotFound, "no such route")
	errNoMethod     = newError(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "method not allowed on this route")
)

// toAPIError maps any error to its HTTP form. It is the one place where errors become status codes.
func toAPIError(err error) *apiError {
	var (
		ae  *apiError
		mbe *http.MaxBytesError
		he  *endpoints.HandshakeError
		efe *endpoints.FieldError
		tfe *tenants.FieldError
		vfe *events.FieldError
		vde *events.DataError
		vse *events.SchemaError
		rle *rateLimitedError
	)
	if ce, ok := callsAPIError(err); ok {
		return ce
	}
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &rle):
		return rle.apiError()
	case errors.Is(err, events.ErrRecoverPending):
		return newError(http.StatusConflict, CodeRecoverPending,
			"deliveries made by an earlier recover or replay of this window are still pending; try again once they have finished")
	case errors.As(err, &mbe):
		return newError(http.StatusRequestEntityTooLarge, CodeBodyTooLarge, "request body is larger than %d bytes", mbe.Limit)
	case errors.Is(err, egress.ErrForbiddenAddress), errors.Is(err, egress.ErrScheme):
		e := newError(http.StatusUnprocessableEntity, CodeForbiddenURL, "the URL policy refuses this URL")
		e.Field = "url"
		if errors.As(err, &efe) {
			e.Message = efe.Message
		}
		return e
	case errors.As(err, &he):
		d := wire.HandshakeDetails{Status: he.Status, Allow: he.Allow}
		if he.Err != nil {
			d.Error = he.Err.Error()
		}
		details, _ := json.Marshal(d) // a struct of strings and an int always encodes
		return &apiError{Status: http.StatusUnprocessableEntity, Code: CodeHandshakeFailed, Message: he.Error(),
			Field: "url", Details: details}
	case errors.As(err, &efe):
		return errValidation(efe.Field, "%s: %s", efe.Field, efe.Message)
	case errors.As(err, &tfe):
		return errValidation(tfe.Field, "%s: %s", tfe.Field, tfe.Message)
	case errors.As(err, &vfe):
		return errValidation(vfe.Field, "%s: %s", vfe.Field, vfe.Message)
	case errors.As(err, &vse):
		return schemaAPIError(vse)
	case errors.Is(err, events.ErrExpunged):
		return newError(http.StatusConflict, CodeMessageExpunged, "the message's payload was expunged: it is never sent again")
	case errors.As(err, &vde):
		return errInvalidJSON(vde.Field, "%s: %s at byte %d of the data", vde.Field, vde.Message, vde.Offset)
	case errors.Is(err, tenants.ErrNotFound):
		return newError(http.StatusNotFound, CodeNotFound, "tenant not found")
	case errors.Is(err, endpoints.ErrNotFound):
		return newError(http.StatusNotFound, CodeNotFound, "endpoint not found")
	case errors.Is(err, events.ErrNotFound):
		return newError(http.StatusNotFound, CodeNotFound, "event type not found")
	case errors.Is(err, delivery.ErrNotBlocked):
		return newError(http.StatusConflict, wire.CodeNotBlocked,
			"the delivery does not hold its ordering key: it is not a failed or dead delivery of a block endpoint")
	case errors.Is(err, delivery.ErrNotFound):
		return newError(http.StatusNotFound, CodeNotFound, "not found")
	case errors.Is(err, tenants.ErrDeletionDisabled):
		return newError(http.StatusForbidden, wire.CodeTenantDeletionDisabled,
			"tenant deletion is disabled: the operator starts webhookd with --allow-tenant-deletion to allow it")
	case errors.Is(err, tenants.ErrExists):
		return newError(http.StatusConflict, CodeConflict, "a tenant with this id exists")
	case errors.Is(err, tenants.ErrToken):
		return errUnauthorized
	}
	return newError(http.StatusInternalServerError, CodeInternal, "internal error")
}

// writeError answers with err's HTTP form; internal errors are logged with the request id, never returned.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := toAPIError(err)
	if he, ok := errors.AsType[*endpoints.HandshakeError](err); ok {
		s.obs.HandshakeFailed(handshakeReason(he))
	}
	if e.Status >= 500 {
		level := slog.LevelError
		if errors.Is(err, context.Canceled) {
			level = slog.LevelInfo // the client went away
		} else {
			s.obs.InternalError()
		}
		s.log.Log(r.Context(), level, "request failed", "request_id", requestIDFrom(r.Context()),
			"method", r.Method, "path", r.URL.Path, "error", err.Error())
	}
	if rle, ok := errors.AsType[*rateLimitedError](err); ok {
		w.Header().Set("Retry-After", retryAfter(rle.wait))
	}
	if closesConnection(e) {
		// An early answer: the body is not wanted, and reading what is left of it (net/http drains up to 256 KiB
		// to keep the connection) would let a client drip it for as long as the read timeout allows.
		w.Header().Set("Connection", "close")
		_ = http.NewResponseController(w).SetReadDeadline(time.Now())
	}
	writeJSON(w, e.Status, e)
}

// closesConnection: the answers given before (or instead of) reading a body close the connection.
func closesConnection(e *apiError) bool {
	switch e.Status {
	case http.StatusUnauthorized, http.StatusRequestTimeout, http.StatusRequestEntityTooLarge, http.StatusTooManyRequests:
		return true
	}
	return e == errNoRoute || e == errNoMethod
}
