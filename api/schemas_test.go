package api

import (
	"encoding/json"
	"testing"
)

// TestPublishSchemaViolation: data that breaks its type's schema is a 422 schema_violation naming the field, the
// failing path and the rule, in single and batch publish; a bad schema is refused at registration.
func TestPublishSchemaViolation(t *testing.T) {
	e := newEnv(t)
	e.tenant("acme")
	schema := `{"type":"object","required":["device_id"],"properties":{"device_id":{"type":"string"},"imei":{"type":"string","pattern":"^[0-9]{15}$"}}}`
	e.must(201, "POST", "/v1/event-types", opToken, `{"name":"device.enrolled","schema":`+schema+`}`)

	check := func(body []byte, field, path, rule string) {
		t.Helper()
		code, f, m := errorOf(t, body)
		d, _ := m["details"].(map[string]any)
		if code != CodeSchemaViolation || f != field || d == nil || d["path"] != path || d["rule"] != rule ||
			d["type"] != "device.enrolled" || d["version"] != float64(1) || d["message"] == "" {
			t.Fatalf("got %s", body)
		}
	}
	status, body := e.do("POST", "/v1/tenants/acme/events", opToken, `{"type":"device.enrolled","data":{"imei":"12"}}`)
	if status != 422 {
		t.Fatalf("status %d: %s", status, body)
	}
	check(body, "data", "", "required")
	status, body = e.do("POST", "/v1/tenants/acme/events", opToken, `{"type":"device.enrolled","data":{"device_id":"d","imei":"12"}}`)
	if status != 422 {
		t.Fatalf("status %d: %s", status, body)
	}
	check(body, "data", "/imei", "pattern")
	e.must(202, "POST", "/v1/tenants/acme/events", opToken, `{"type":"device.enrolled","schema_version":1,"data":{"device_id":"d","imei":"123456789012345"}}`)

	batch := `{"events":[{"type":"device.enrolled","data":{"device_id":"a"}},{"type":"other"},{"type":"device.enrolled","data":{"device_id":1}}]}`
	status, body = e.do("POST", "/v1/tenants/acme/events/batch", opToken, batch)
	if status != 422 {
		t.Fatalf("status %d: %s", status, body)
	}
	check(body, "events[2].data", "/device_id", "type")
	if n := e.deliveryCount("acme"); n != 0 {
		t.Fatalf("a refused batch left %d deliveries", n)
	}

	status, body = e.do("POST", "/v1/event-types", opToken, `{"name":"bad.one","schema":{"type":"object","minLength":"x"}}`)
	code, field, _ := errorOf(t, body)
	if status != 422 || code != CodeValidation || field != "schema" {
		t.Fatalf("bad schema: %d %s", status, body)
	}
	m := e.must(200, "GET", "/v1/event-types/device.enrolled", opToken, nil)
	vs, _ := json.Marshal(m["schema_versions"])
	if len(m["schema_versions"].([]any)) != 1 {
		t.Fatalf("versions: %s", vs)
	}
}
