package endpoints

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/webhookd/webhookd/internal/jsonschemas"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Kinds of endpoint. An events endpoint (the default, "" in older records) receives the events its filters select;
// a calls endpoint is a tenant's management backend: it answers the calls the console makes through package calls
// and never receives an event.
const (
	KindEvents = "events"
	KindCalls  = "calls"
)

// ErrKind is returned when an endpoint of one kind is used as the other: an events endpoint named in a call, or a
// calls endpoint sent an event (test, replay, recover). Test with errors.Is.
var ErrKind = errors.New("wrong endpoint kind")

// Limits on call settings.
const (
	MaxErrorTags   = 50      // declared error tags
	MaxErrorTag    = 128     // bytes of one tag
	MaxSchemas     = 50      // paths with a response schema
	MaxCallPath    = 1 << 10 // bytes of a call path
	MaxSchemaBytes = jsonschemas.MaxBytes
)

// DefaultErrorTags are the typed errors a calls endpoint may answer when it declares none: the answer
// {"_tag": "UnknownDevice"} is then the typed error UnknownDevice, not a bad response.
var DefaultErrorTags = []string{"ManagementNotSupported", "UnknownDevice", "ServerInitiatedUnenrollment", "InternalServerError"}

// CallSettings are the settings of a calls endpoint.
type CallSettings struct {
	// ErrorTags are the "_tag" values of the typed errors the backend may answer; empty means DefaultErrorTags.
	ErrorTags []string `json:"error_tags,omitempty"`
	// Schemas maps a call path ("/webhook/apple/checkin") to the JSON Schema (draft 2020-12 unless it says
	// otherwise) that a successful answer on that path must meet.
	Schemas map[string]json.RawMessage `json:"schemas,omitempty"`
}

// IsCalls reports whether e is a calls endpoint.
func (e *Endpoint) IsCalls() bool { return e.Kind == KindCalls }

// Tags returns the error tags e declares, or DefaultErrorTags.
func (e *Endpoint) Tags() []string {
	if e.Calls != nil && len(e.Calls.ErrorTags) > 0 {
		return e.Calls.ErrorTags
	}
	return DefaultErrorTags
}

// ValidateKind checks an endpoint kind: "", "events" or "calls".
func ValidateKind(kind string) error {
	switch kind {
	case "", KindEvents, KindCalls:
		return nil
	}
	return fieldErr("kind", "%q: want events or calls", clip(kind))
}

// ValidateCallPath checks the path of a call: it starts with "/", has no query or fragment, no "." or ".." segment,
// only printable ASCII, and at most MaxCallPath bytes.
func ValidateCallPath(p string) error {
	switch {
	case p == "" || p[0] != '/':
		return fieldErr("path", "must start with /")
	case len(p) > MaxCallPath:
		return fieldErr("path", "at most %d bytes", MaxCallPath)
	case strings.ContainsAny(p, "?#\\"):
		return fieldErr("path", "must not hold ?, # or \\")
	}
	for i := range len(p) {
		if c := p[i]; c <= 0x20 || c >= 0x7f {
			return fieldErr("path", "must be printable ASCII without spaces")
		}
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." {
			return fieldErr("path", "must not hold . or .. segments")
		}
	}
	return nil
}

// ValidateCallSettings checks call settings: tags are 1 to MaxErrorTag bytes of [A-Za-z0-9_], unique, at most
// MaxErrorTags; each schema key is a valid call path and each schema a JSON Schema object that compiles.
func ValidateCallSettings(c *CallSettings) error {
	if c == nil {
		return nil
	}
	if len(c.ErrorTags) > MaxErrorTags {
		return fieldErr("calls.error_tags", "at most %d tags, got %d", MaxErrorTags, len(c.ErrorTags))
	}
	for i, t := range c.ErrorTags {
		if t == "" || len(t) > MaxErrorTag || strings.Trim(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != "" {
			return fieldErr("calls.error_tags", "%q: tags are 1 to %d bytes of [A-Za-z0-9_]", clip(t), MaxErrorTag)
		}
		if slices.Contains(c.ErrorTags[:i], t) {
			return fieldErr("calls.error_tags", "%q is listed twice", t)
		}
	}
	if len(c.Schemas) > MaxSchemas {
		return fieldErr("calls.schemas", "at most %d paths, got %d", MaxSchemas, len(c.Schemas))
	}
	for p, s := range c.Schemas {
		if err := ValidateCallPath(p); err != nil {
			return fieldErr("calls.schemas", "%q: %s", clip(p), err.(*FieldError).Message)
		}
		if _, err := CompileSchema(s); err != nil {
			return &FieldError{Field: "calls.schemas", Message: fmt.Sprintf("%s: %v", clip(p), err), Err: err}
		}
	}
	return nil
}

// CompileSchema compiles one response schema: a JSON object of at most MaxSchemaBytes, draft 2020-12 unless its
// $schema says otherwise, never loading another document.
func CompileSchema(raw json.RawMessage) (*jsonschema.Schema, error) {
	return jsonschemas.Compile(raw, "urn:webhookd:call-schema")
}

func cloneCallSettings(c *CallSettings) *CallSettings {
	if c == nil {
		return nil
	}
	out := &CallSettings{ErrorTags: slices.Clone(c.ErrorTags)}
	if c.Schemas != nil {
		out.Schemas = make(map[string]json.RawMessage, len(c.Schemas))
		for k, v := range c.Schemas {
			out.Schemas[k] = bytes.Clone(v)
		}
	}
	return out
}

// setKind applies the kind and call settings of a new endpoint.
func setKind(e *Endpoint, in CreateInput) error {
	if err := ValidateKind(in.Kind); err != nil {
		return err
	}
	if in.Kind != KindCalls {
		if in.Calls != nil {
			return fieldErr("calls", "only a calls endpoint (kind \"calls\") takes call settings")
		}
		return nil
	}
	if len(in.Events) > 0 {
		return fieldErr("events", "a calls endpoint receives no events: leave events out")
	}
	e.Kind, e.Events, e.Calls = KindCalls, []string{}, cloneCallSettings(in.Calls)
	return nil
}

// updateCalls applies the call settings of an update; events and call settings each belong to one kind.
func updateCalls(e *Endpoint, in UpdateInput) error {
	switch {
	case e.IsCalls() && in.Events != nil && len(*in.Events) > 0:
		return fieldErr("events", "a calls endpoint receives no events")
	case !e.IsCalls() && in.Calls != nil:
		return fieldErr("calls", "only a calls endpoint (kind \"calls\") takes call settings")
	case in.Calls != nil:
		e.Calls = cloneCallSettings(in.Calls)
	}
	if e.IsCalls() {
		e.Events = []string{}
	}
	return nil
}

// checkCallsProfile refuses a profile other than standard for a calls endpoint: a call's body is the console's JSON
// as given, and only the standard profile signs the body without an envelope of its own (openmdm and mender bind
// the message id in the body they build).
func checkCallsProfile(e *Endpoint, p interface{ Name() string }) error {
	if e.IsCalls() && p.Name() != "standard" {
		return fieldErr("profile", "a calls endpoint signs under the standard profile, not %s", p.Name())
	}
	return nil
}
