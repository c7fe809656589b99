package events_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/endpoints"
	"github.com/webhookd/webhookd/events"
	boltstore "github.com/webhookd/webhookd/store/boltstore"
)

const enrolledV1 = `{"type":"object","required":["device_id"],"properties":{"device_id":{"type":"string"},"imei":{"type":"string","pattern":"^[0-9]{15}$"}}}`

// enrolledV2 adds a required os.
const enrolledV2 = `{"type":"object","required":["device_id","os"],"properties":{"device_id":{"type":"string"},"os":{"enum":["android","ios"]}}}`

type warnings struct {
	mu sync.Mutex
	ws []events.SchemaWarning
}

func (w *warnings) add(x events.SchemaWarning) { w.mu.Lock(); w.ws = append(w.ws, x); w.mu.Unlock() }

type policies map[string]events.SchemaPolicy

func (p policies) SchemaPolicy(t string) events.SchemaPolicy { return p[t] }

// newSchemaService is a Service on the embedded store with device.enrolled in the catalogue (schema versions 1 and
// 2) and one endpoint of tenant "ten" taking everything.
func newSchemaService(t *testing.T, cfg events.Config) (*events.Service, *boltstore.Store) {
	t.Helper()
	st, err := boltstore.Open(t.TempDir(), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.CreateEndpoint(context.Background(), &endpoints.Endpoint{ID: "ep_all", TenantID: "ten", Events: []string{"*"}}); err != nil {
		t.Fatal(err)
	}
	cfg.Endpoints, cfg.Log, cfg.Queue = st, st, st
	s := events.NewService(st, cfg)
	ctx := context.Background()
	for _, sch := range []string{enrolledV1, enrolledV2} {
		if _, _, err := s.PutEventType(ctx, events.EventTypeInput{Name: "device.enrolled", Schema: json.RawMessage(sch)}); err != nil {
			t.Fatal(err)
		}
	}
	return s, st
}

func publish(s *events.Service, tenantID, typ, data string, version int) error {
	_, _, _, err := s.Publish(context.Background(), tenantID, events.PublishInput{Type: typ, Data: json.RawMessage(data), SchemaVersion: version})
	return err
}

func TestSchemaEnforced(t *testing.T) {
	s, st := newSchemaService(t, events.Config{})
	ctx := context.Background()
	et, err := st.GetEventType(ctx, "device.enrolled")
	if err != nil {
		t.Fatal(err)
	}
	if len(et.Schemas) != 2 || et.Schemas[0].Version != 1 || et.Schemas[1].Version != 2 || string(et.Schema) != enrolledV2 {
		t.Fatalf("stored versions: %+v", et.Schemas)
	}
	// The same schema again is no new version.
	if _, _, err := s.PutEventType(ctx, events.EventTypeInput{Name: "device.enrolled", Schema: json.RawMessage(enrolledV2)}); err != nil {
		t.Fatal(err)
	}
	if et, _ := st.GetEventType(ctx, "device.enrolled"); len(et.Schemas) != 2 {
		t.Fatalf("the same schema put again made a version: %+v", et.Schemas)
	}

	for _, c := range []struct {
		name, data    string
		version       int
		path, rule    string
		wantVersion   int
		fieldErrField string
	}{
		{name: "latest, ok", data: `{"device_id":"d1","os":"ios"}`},
		{name: "latest, missing os", data: `{"device_id":"d1"}`, path: "", rule: "required", wantVersion: 2},
		{name: "latest, bad enum", data: `{"device_id":"d1","os":"palm"}`, path: "/os", rule: "enum", wantVersion: 2},
		{name: "v1, ok without os", data: `{"device_id":"d1"}`, version: 1},
		{name: "v1, bad imei", data: `{"device_id":"d1","imei":"12"}`, version: 1, path: "/imei", rule: "pattern", wantVersion: 1},
		{name: "v1, wrong type", data: `{"device_id":7}`, version: 1, path: "/device_id", rule: "type", wantVersion: 1},
		{name: "no such version", data: `{}`, version: 3, fieldErrField: "schema_version"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := publish(s, "ten", "device.enrolled", c.data, c.version)
			switch {
			case c.fieldErrField != "":
				var fe *events.FieldError
				if !errors.As(err, &fe) || fe.Field != c.fieldErrField {
					t.Fatalf("want a field error on %s, got %v", c.fieldErrField, err)
				}
			case c.rule == "":
				if err != nil {
					t.Fatal(err)
				}
			default:
				var se *events.SchemaError
				if !errors.As(err, &se) || !errors.Is(err, events.ErrInvalid) {
					t.Fatalf("want a *SchemaError, got %v", err)
				}
				if se.Field != "data" || se.Path != c.path || se.Rule != c.rule || se.Version != c.wantVersion || se.Type != "device.enrolled" || se.Message == "" {
					t.Fatalf("got %+v, want path %q rule %q version %d", se, c.path, c.rule, c.wantVersion)
				}
			}
		})
	}
	// An unknown type is allowed by default; the gateway's own events are never checked.
	if err := publish(s, "ten", "device.unknown", `{"x":1}`, 0); err != nil {
		t.Fatal(err)
	}
}

func TestSchemaModes(t *testing.T) {
	var w warnings
	s, _ := newSchemaService(t, events.Config{
		SchemaMode:      events.SchemaWarn,
		Policies:        policies{"strict": {Mode: events.SchemaEnforce, Unknown: events.UnknownRefuse}, "lax": {Mode: events.SchemaOff}},
		OnSchemaWarning: w.add,
	})
	bad := `{"device_id":"d1"}` // no os
	if err := publish(s, "ten", "device.enrolled", bad, 0); err != nil {
		t.Fatalf("warn mode refused: %v", err)
	}
	if s.SchemaWarnings() != 1 || len(w.ws) != 1 || w.ws[0].TenantID != "ten" || w.ws[0].Err.Rule != "required" {
		t.Fatalf("warnings: %d %+v", s.SchemaWarnings(), w.ws)
	}
	if err := publish(s, "lax", "device.enrolled", bad, 0); err != nil || s.SchemaWarnings() != 1 {
		t.Fatalf("off mode: %v, warnings %d", err, s.SchemaWarnings())
	}
	var se *events.SchemaError
	if err := publish(s, "strict", "device.enrolled", bad, 0); !errors.As(err, &se) {
		t.Fatalf("the tenant's enforce: %v", err)
	}
	var fe *events.FieldError
	if err := publish(s, "strict", "device.unknown", `{}`, 0); !errors.As(err, &fe) || fe.Field != "type" {
		t.Fatalf("the tenant refuses unknown types: %v", err)
	}
	if err := publish(s, "ten", "device.unknown", `{}`, 0); err != nil {
		t.Fatalf("others allow unknown types: %v", err)
	}
	// The type's own mode beats the tenant's.
	if _, _, err := s.PutEventType(context.Background(), events.EventTypeInput{Name: "device.enrolled", Schema: json.RawMessage(enrolledV2), SchemaMode: events.SchemaOff}); err != nil {
		t.Fatal(err)
	}
	if err := publish(s, "strict", "device.enrolled", bad, 0); err != nil {
		t.Fatalf("the type's off mode: %v", err)
	}
	if _, _, err := s.PutEventType(context.Background(), events.EventTypeInput{Name: "x", SchemaMode: "loud"}); !errors.As(err, &fe) || fe.Field != "schema_mode" {
		t.Fatalf("a bad mode: %v", err)
	}
}

func TestSchemaBatchRefusedWhole(t *testing.T) {
	s, st := newSchemaService(t, events.Config{})
	ins := make([]events.PublishInput, 5)
	for i := range ins {
		ins[i] = events.PublishInput{Type: "device.enrolled", Data: json.RawMessage(`{"device_id":"d","os":"android"}`)}
	}
	ins[3].Data = json.RawMessage(`{"device_id":"d","os":"palm"}`)
	_, err := s.PublishBatch(context.Background(), "ten", ins)
	var se *events.SchemaError
	if !errors.As(err, &se) || se.Field != "events[3].data" || se.Path != "/os" || se.Rule != "enum" {
		t.Fatalf("got %v", err)
	}
	ds, err := st.ListDeliveries(context.Background(), "ten", delivery.Filter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 0 {
		t.Fatalf("a refused batch stored %d deliveries", len(ds))
	}
	ins[3].Data = json.RawMessage(`{"device_id":"d","os":"ios"}`)
	ins[4].SchemaVersion = 9
	var fe *events.FieldError
	if _, err := s.PublishBatch(context.Background(), "ten", ins); !errors.As(err, &fe) || fe.Field != "events[4].schema_version" {
		t.Fatalf("got %v", err)
	}
	ins[4].SchemaVersion = 1
	if res, err := s.PublishBatch(context.Background(), "ten", ins); err != nil || len(res) != 5 {
		t.Fatalf("a good batch: %v", err)
	}
}

func TestBadSchemaRefusedAtRegistration(t *testing.T) {
	s, _ := newSchemaService(t, events.Config{})
	for _, c := range []struct{ schema, want string }{
		{`{"type": 5}`, "type"},
		{`{"minLength": -1}`, "minLength"},
		{`{"$ref": "https://example.com/other.json"}`, "external references are not loaded"},
		{`{"pattern": "("}`, "pattern"},
		{`[1]`, "must be a JSON object"},
	} {
		_, _, err := s.PutEventType(context.Background(), events.EventTypeInput{Name: "bad.one", Schema: json.RawMessage(c.schema)})
		var fe *events.FieldError
		if !errors.As(err, &fe) || fe.Field != "schema" || !strings.Contains(fe.Message, c.want) {
			t.Errorf("%s: got %v, want a field error on schema mentioning %q", c.schema, err, c.want)
		}
	}
}

// TestSchemaCache: a Service uses the catalogue entry it compiled until its cache TTL runs out, and then sees a
// change another Service (another replica) made.
func TestSchemaCache(t *testing.T) {
	ctx := context.Background()
	cached, st := newSchemaService(t, events.Config{SchemaCacheTTL: time.Hour})
	fresh := events.NewService(st, events.Config{Endpoints: st, Log: st, Queue: st, SchemaCacheTTL: time.Nanosecond})
	other := events.NewService(st, events.Config{Endpoints: st, Log: st, Queue: st, SchemaCacheTTL: time.Hour})
	data := `{"device_id":"d","os":"ios"}`
	for _, s := range []*events.Service{cached, fresh, other} {
		if err := publish(s, "ten", "device.enrolled", data, 0); err != nil {
			t.Fatal(err)
		}
	}
	v3 := `{"type":"object","required":["device_id","os","serial"]}`
	if _, _, err := other.PutEventType(ctx, events.EventTypeInput{Name: "device.enrolled", Schema: json.RawMessage(v3)}); err != nil {
		t.Fatal(err)
	}
	if err := publish(cached, "ten", "device.enrolled", data, 0); err != nil {
		t.Fatalf("within its TTL the cached entry (v2) is used: %v", err)
	}
	var se *events.SchemaError
	if err := publish(fresh, "ten", "device.enrolled", data, 0); !errors.As(err, &se) || se.Version != 3 {
		t.Fatalf("after its TTL v3 is used: %v", err)
	}
	// The Service that made the change sees it at once.
	if err := publish(other, "ten", "device.enrolled", data, 0); !errors.As(err, &se) {
		t.Fatalf("the writer: %v", err)
	}
}
