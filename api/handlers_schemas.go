package api

import (
	"encoding/json"
	"net/http"

	"github.com/webhookd/webhookd/events"
	"github.com/webhookd/webhookd/wire"
)

// CodeSchemaViolation is the code of an event refused by its type's schema.
const CodeSchemaViolation = wire.CodeSchemaViolation

// schemaAPIError is the 422 of event data that breaks its type's schema: the field ("data" or "events[i].data") and
// the failing path and rule, in the message and in details.
func schemaAPIError(se *events.SchemaError) *apiError {
	d := wire.SchemaDetails{Type: se.Type, Version: se.Version, Path: se.Path, Rule: se.Rule, Message: se.Message,
		SchemaLocation: se.Location}
	details, _ := json.Marshal(d) // strings and an int always encode
	path := se.Path
	if path == "" {
		path = "/"
	}
	e := newError(http.StatusUnprocessableEntity, CodeSchemaViolation, "%s at %s breaks rule %q of the %s schema (version %d): %s",
		se.Field, path, se.Rule, se.Type, se.Version, se.Message)
	e.Field, e.Details = se.Field, details
	return e
}
