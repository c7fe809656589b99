package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/webhookd/webhookd/internal/jsonschemas"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/webhookd/webhookd/delivery"
)

// Schema enforcement: a catalogue entry may carry a JSON Schema of its data (draft 2020-12 unless the schema's
// $schema says otherwise), in several versions. Publishing checks the event's data against the version it names, or
// the latest, as the mode in force says. Schemas are compiled once, when first used after they change, and kept.

// MaxSchemaVersions is how many schema versions a catalogue entry keeps; putting one more drops the oldest.
const MaxSchemaVersions = 20

// MaxSchemaBytes is the largest schema a catalogue entry takes.
const MaxSchemaBytes = jsonschemas.MaxBytes

// DefaultSchemaCacheTTL is how long a catalogue entry read for enforcement is used before it is read again, so that
// a change made through another process (a shared Redis) is seen; changes made through this Service are seen at once.
const DefaultSchemaCacheTTL = 5 * time.Second

// SchemaMode says what publishing does with data that does not meet its type's schema.
type SchemaMode string

// Schema modes.
const (
	SchemaEnforce SchemaMode = "enforce" // refuse the event: a *SchemaError (422)
	SchemaWarn    SchemaMode = "warn"    // accept it, count it and log it
	SchemaOff     SchemaMode = "off"     // do not check
)

// ValidSchemaMode reports whether m is a mode ("" is not).
func ValidSchemaMode(m SchemaMode) bool {
	return m == SchemaEnforce || m == SchemaWarn || m == SchemaOff
}

// UnknownTypes says what publishing does with an event whose type is not in the catalogue.
type UnknownTypes string

// Unknown-type policies.
const (
	UnknownAllow  UnknownTypes = "allow"  // publish it, unchecked (the default)
	UnknownRefuse UnknownTypes = "refuse" // refuse it with a *FieldError on "type"
)

// ValidUnknownTypes reports whether u is a policy ("" is not).
func ValidUnknownTypes(u UnknownTypes) bool { return u == UnknownAllow || u == UnknownRefuse }

// SchemaVersion is one version of a catalogue entry's schema.
type SchemaVersion struct {
	Version   int             `json:"version"` // 1, 2, …
	Schema    json.RawMessage `json:"schema"`
	CreatedAt time.Time       `json:"created_at"`
}

// SchemaPolicy is a tenant's schema settings; zero fields take the operator's defaults.
type SchemaPolicy struct {
	Mode    SchemaMode   `json:"schema_mode,omitempty"`
	Unknown UnknownTypes `json:"unknown_event_types,omitempty"`
}

// Policies gives a tenant's schema settings. The gateway's is built from the config file.
type Policies interface {
	SchemaPolicy(tenantID string) SchemaPolicy
}

// SchemaError is event data that does not meet its type's schema. It matches ErrInvalid with errors.Is; the API
// answers it with 422.
type SchemaError struct {
	Field    string // the input field, "data" or "events[i].data"
	Type     string // the event type
	Version  int    // the schema version checked
	Path     string // JSON pointer to the failing value in data, "" for data itself
	Rule     string // the schema keyword that failed, e.g. "required" or "properties/serial/pattern"
	Message  string // what the validator says
	Location string // the keyword's location in the schema, a JSON pointer
}

func (e *SchemaError) Error() string {
	return fmt.Sprintf("invalid event: %s: at %q: %s: %s (schema %s v%d)", e.Field, e.Path, e.Rule, e.Message, e.Type, e.Version)
}

// Unwrap returns ErrInvalid.
func (e *SchemaError) Unwrap() error { return ErrInvalid }

// SchemaWarning is reported, through Config.OnSchemaWarning, for an event accepted in warn mode.
type SchemaWarning struct {
	TenantID string
	Err      *SchemaError
}

// compiled is a catalogue entry read for enforcement, with its schema versions compiled.
type compiled struct {
	t        *EventType // nil: not in the catalogue
	versions map[int]*jsonschema.Schema
	latest   int
	read     time.Time
}

// maxSchemaCache bounds the entries a schemaCache holds (types published, known or not); beyond it the cache starts
// again empty.
const maxSchemaCache = 10_000

// schemaCache keeps compiled catalogue entries by name.
type schemaCache struct {
	mu       sync.RWMutex
	entries  map[string]*compiled
	warnings atomic.Int64
}

var schemaPrinter = message.NewPrinter(language.English)

// CompileEventSchema compiles one schema of the catalogue: a JSON object of at most MaxSchemaBytes, draft 2020-12
// unless its $schema says otherwise, never loading another document. The error is the compiler's.
func CompileEventSchema(raw json.RawMessage) (*jsonschema.Schema, error) {
	return jsonschemas.Compile(raw, "urn:webhookd:event-schema")
}

// ValidateData checks data (valid JSON) against sch and returns the first failure as a *SchemaError with Field "data",
// or nil.
func ValidateData(sch *jsonschema.Schema, data []byte) *SchemaError {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return &SchemaError{Field: "data", Message: err.Error()}
	}
	err = sch.Validate(inst)
	if err == nil {
		return nil
	}
	ve, ok := errors.AsType[*jsonschema.ValidationError](err)
	if !ok {
		return &SchemaError{Field: "data", Message: err.Error()}
	}
	leaf := ve
	for len(leaf.Causes) > 0 {
		leaf = leaf.Causes[0]
	}
	kw := leaf.ErrorKind.KeywordPath()
	if _, ok := leaf.ErrorKind.(*kind.Not); ok && len(kw) == 0 {
		kw = []string{"not"} // the validator names no keyword for a failed not
	}
	loc := schemaLocation(leaf.SchemaURL, kw)
	rule := strings.Join(kw, "/")
	if rule == "" {
		rule = "schema" // a failure of a whole (sub)schema, such as false
	}
	return &SchemaError{
		Field:    "data",
		Path:     pointer(leaf.InstanceLocation),
		Rule:     rule,
		Message:  leaf.ErrorKind.LocalizedString(schemaPrinter),
		Location: loc,
	}
}

func pointer(tokens []string) string {
	var sb strings.Builder
	for _, t := range tokens {
		sb.WriteByte('/')
		sb.WriteString(strings.ReplaceAll(strings.ReplaceAll(t, "~", "~0"), "/", "~1"))
	}
	return sb.String()
}

// schemaLocation is the JSON pointer in the schema of a failing keyword: the fragment of the subschema's URL and the
// keyword path.
func schemaLocation(url string, kw []string) string {
	_, frag, _ := strings.Cut(url, "#")
	return frag + pointer(kw)
}

// putSchema returns t's schema versions after in's schema is put: a schema equal to the latest keeps the versions,
// a different one is appended as the next version (dropping the oldest beyond MaxSchemaVersions), no schema clears
// them. A schema that does not compile is a *FieldError on "schema" with the compiler's error.
func putSchema(old *EventType, schema json.RawMessage, now time.Time) ([]SchemaVersion, error) {
	if len(schema) == 0 {
		return nil, nil
	}
	if _, err := CompileEventSchema(schema); err != nil {
		return nil, &FieldError{Field: "schema", Message: err.Error()}
	}
	var vs []SchemaVersion
	if old != nil {
		vs = old.versions()
	}
	if n := len(vs); n > 0 && bytes.Equal(vs[n-1].Schema, schema) {
		return vs, nil
	}
	next := 1
	if n := len(vs); n > 0 {
		next = vs[n-1].Version + 1
	}
	vs = append(vs, SchemaVersion{Version: next, Schema: bytes.Clone(schema), CreatedAt: now})
	if len(vs) > MaxSchemaVersions {
		vs = vs[len(vs)-MaxSchemaVersions:]
	}
	return vs, nil
}

// versions returns t's schema versions; an entry stored before versions existed has its one schema as version 1.
func (t *EventType) versions() []SchemaVersion {
	if len(t.Schemas) > 0 {
		return append([]SchemaVersion(nil), t.Schemas...)
	}
	if len(t.Schema) > 0 {
		return []SchemaVersion{{Version: 1, Schema: t.Schema, CreatedAt: t.UpdatedAt}}
	}
	return nil
}

// policy returns the settings in force for a tenant's events of type t (t nil: not in the catalogue).
func (s *Service) policy(tenantID string, t *EventType) (SchemaMode, UnknownTypes) {
	mode, unknown := s.cfg.SchemaMode, s.cfg.UnknownTypes
	if s.cfg.Policies != nil {
		p := s.cfg.Policies.SchemaPolicy(tenantID)
		if p.Mode != "" {
			mode = p.Mode
		}
		if p.Unknown != "" {
			unknown = p.Unknown
		}
	}
	if t != nil && t.SchemaMode != "" {
		mode = t.SchemaMode
	}
	if mode == "" {
		mode = SchemaEnforce
	}
	if unknown == "" {
		unknown = UnknownAllow
	}
	return mode, unknown
}

// entry returns the compiled catalogue entry of a type, reading and compiling it when it is not cached or older
// than the cache TTL.
func (s *Service) entry(ctx context.Context, name string) (*compiled, error) {
	now := time.Now()
	c := &s.schemas
	c.mu.RLock()
	e, ok := c.entries[name]
	c.mu.RUnlock()
	if ok && now.Sub(e.read) < s.schemaTTL() {
		return e, nil
	}
	t, err := s.store.GetEventType(ctx, name)
	switch {
	case isNotFound(err):
		t = nil
	case err != nil:
		return nil, fmt.Errorf("read event type %s: %w", name, err)
	}
	if ok && t != nil && e.t != nil && t.UpdatedAt.Equal(e.t.UpdatedAt) && t.SchemaMode == e.t.SchemaMode {
		e = &compiled{t: t, versions: e.versions, latest: e.latest, read: now} // unchanged: keep the compiled schemas
	} else {
		e = &compiled{t: t, read: now}
		if t != nil {
			for _, v := range t.versions() {
				sch, err := CompileEventSchema(v.Schema)
				if err != nil {
					return nil, fmt.Errorf("event type %s schema v%d: %w", name, v.Version, err)
				}
				if e.versions == nil {
					e.versions = map[int]*jsonschema.Schema{}
				}
				e.versions[v.Version], e.latest = sch, v.Version
			}
		}
	}
	c.mu.Lock()
	if c.entries == nil || len(c.entries) >= maxSchemaCache {
		c.entries = map[string]*compiled{}
	}
	c.entries[name] = e
	c.mu.Unlock()
	return e, nil
}

func (s *Service) schemaTTL() time.Duration {
	if s.cfg.SchemaCacheTTL > 0 {
		return s.cfg.SchemaCacheTTL
	}
	return DefaultSchemaCacheTTL
}

// forget drops a type's cached entry after this Service changed it.
func (s *Service) forget(name string) {
	s.schemas.mu.Lock()
	delete(s.schemas.entries, name)
	s.schemas.mu.Unlock()
}

// SchemaWarnings returns how many events were accepted in warn mode though their data did not meet the schema.
func (s *Service) SchemaWarnings() int64 { return s.schemas.warnings.Load() }

// checkSchema checks m against its type's schema as the settings in force say: nil to publish it, else a
// *FieldError (an unknown type refused, an unknown schema version) or a *SchemaError (enforce mode).
func (s *Service) checkSchema(ctx context.Context, m *delivery.Message, version int) error {
	if strings.HasPrefix(m.Type, "webhookd.") && version == 0 {
		return nil // the gateway's own events
	}
	e, err := s.entry(ctx, m.Type)
	if err != nil {
		return err
	}
	mode, unknown := s.policy(m.TenantID, e.t)
	if e.t == nil {
		if unknown == UnknownRefuse {
			return &FieldError{Field: "type", Message: fmt.Sprintf("%q is not in the event-type catalogue, and this tenant refuses unknown types", m.Type)}
		}
		if version != 0 {
			return &FieldError{Field: "schema_version", Message: fmt.Sprintf("%q is not in the event-type catalogue", m.Type)}
		}
		return nil
	}
	if mode == SchemaOff {
		return nil
	}
	v := version
	if v == 0 {
		v = e.latest
	}
	sch := e.versions[v]
	if sch == nil {
		if version == 0 {
			return nil // no schema
		}
		return &FieldError{Field: "schema_version", Message: fmt.Sprintf("event type %s has no schema version %d", m.Type, version)}
	}
	se := ValidateData(sch, m.Data)
	if se == nil {
		return nil
	}
	se.Type, se.Version = m.Type, v
	if mode == SchemaWarn {
		s.schemas.warnings.Add(1)
		if s.cfg.OnSchemaWarning != nil {
			s.cfg.OnSchemaWarning(SchemaWarning{TenantID: m.TenantID, Err: se})
		}
		return nil
	}
	return se
}

// batchSchemaError prefixes the field of event i's schema failure with "events[i].".
func batchSchemaError(i int, err error) error {
	if fe, ok := errors.AsType[*FieldError](err); ok {
		return &FieldError{Field: fmt.Sprintf("events[%d].%s", i, fe.Field), Message: fe.Message}
	}
	if se, ok := errors.AsType[*SchemaError](err); ok {
		c := *se
		c.Field = fmt.Sprintf("events[%d].%s", i, se.Field)
		return &c
	}
	return fmt.Errorf("publish batch: event %d: %w", i, err)
}
