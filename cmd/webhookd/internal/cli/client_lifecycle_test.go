package cli

import (
	"strings"
	"testing"
)

func TestClientMessages(t *testing.T) {
	a := newClAPI(t)
	a.ok(t, "tenants", "create", "--id", "acme", "--name", "Acme Devices")
	msg := strings.TrimSpace(a.ok(t, "events", "publish", "--tenant", "acme", "--type", "device.located", `{"lat": 48.85}`, "-q"))
	wantFields(t, "messages show", a.ok(t, "messages", "show", "--tenant", "acme", msg), "id", msg, "type", "device.located",
		"data", `{"lat":48.85}`)
	out := a.ok(t, "messages", "expunge", "--tenant", "acme", msg)
	if f := fieldsOf(out); f["id"] != msg || f["expunged"] == "" || f["data"] != "null" {
		t.Errorf("messages expunge: %q", out)
	}
	m := a.okJSON(t, "messages", "show", "--tenant", "acme", msg)
	if m["data"] != nil || m["expunged_at"] == nil {
		t.Errorf("messages show --json after expunge: %v", m)
	}
	if strings.Contains(a.ok(t, "messages", "show", "--tenant", "acme", msg), "48.85") {
		t.Error("the payload is still shown")
	}
}

func TestClientSchemas(t *testing.T) {
	a := newClAPI(t)
	a.ok(t, "tenants", "create", "--id", "acme", "--name", "Acme Devices")
	out := a.ok(t, "events", "put-type", "device.located", "--schema", `{"type":"object","required":["lat"]}`)
	wantFields(t, "events put-type", out, "name", "device.located", "schema versions", "1")
	a.ok(t, "events", "put-type", "device.located", "--schema", `{"type":"object","required":["lat","lon"]}`, "--schema-mode", "enforce")
	wantFields(t, "events types NAME", a.ok(t, "events", "types", "device.located"),
		"schema versions", "2", "schema mode", "enforce")
	code, _, errOut := a.wh(t, "events", "publish", "--tenant", "acme", "--type", "device.located", `{"lat": 1}`)
	if code == 0 || !strings.Contains(errOut, "schema_violation") && !strings.Contains(errOut, "required") {
		t.Errorf("a publish breaking the schema: exit %d, %s", code, errOut)
	}
	a.ok(t, "events", "publish", "--tenant", "acme", "--type", "device.located", "--schema-version", "1", `{"lat": 1}`)
	if code, _, errOut := a.wh(t, "events", "put-type", "bad.one", "--schema", `{"type": 5}`); code == 0 || !strings.Contains(errOut, "schema") {
		t.Errorf("a bad schema: exit %d, %s", code, errOut)
	}
}

func TestClientTenantDelete(t *testing.T) {
	a := newClAPI(t)
	a.ok(t, "tenants", "create", "--id", "acme", "--name", "Acme Devices")
	if code, _, errOut := a.wh(t, "tenants", "delete", "acme"); code != 2 || !strings.Contains(errOut, "--yes") {
		t.Errorf("tenants delete without --yes: exit %d, %s", code, errOut)
	}
	wantFields(t, "tenants show", a.ok(t, "tenants", "show", "acme"), "state", "active")
	out := a.ok(t, "tenants", "delete", "acme", "--yes")
	if f := fieldsOf(out); f["id"] != "acme" || f["state"] != "deleting" || f["deleting since"] == "" {
		t.Errorf("tenants delete: %q", out)
	}
	if code, _, errOut := a.wh(t, "tenants", "show", "acme"); code == 0 || !strings.Contains(errOut, "not_found") && !strings.Contains(errOut, "not found") {
		t.Errorf("tenants show after delete: exit %d, %s", code, errOut)
	}
}

func TestClientTenantRetention(t *testing.T) {
	a := newClAPI(t)
	wantFields(t, "tenants create", a.ok(t, "tenants", "create", "--id", "acme", "--name", "Acme", "--retention", "48h"),
		"retention", "48h0m0s")
	wantFields(t, "tenants update", a.ok(t, "tenants", "update", "acme", "--retention", "720h"), "retention", "720h0m0s")
	wantFields(t, "tenants update 0s", a.ok(t, "tenants", "update", "acme", "--retention", "0s"), "retention", "default")
	if code, _, errOut := a.wh(t, "tenants", "update", "acme", "--retention", "1m"); code == 0 || !strings.Contains(errOut, "retention") {
		t.Errorf("tenants update --retention 1m: exit %d, %s", code, errOut)
	}
}

func TestClientEndpointTracePropagate(t *testing.T) {
	a := newClAPI(t)
	a.ok(t, "tenants", "create", "--id", "acme", "--name", "Acme")
	id := strings.TrimSpace(a.ok(t, "endpoints", "create", "--tenant", "acme", a.rcv.URL+"/hook", "--trace-propagate=false", "-q"))
	wantFields(t, "endpoints show", a.ok(t, "endpoints", "show", "--tenant", "acme", id), "trace propagate", "false")
	a.ok(t, "endpoints", "update", "--tenant", "acme", id, "--trace-propagate")
	wantFields(t, "endpoints show after update", a.ok(t, "endpoints", "show", "--tenant", "acme", id), "trace propagate", "true")
	other := strings.TrimSpace(a.ok(t, "endpoints", "create", "--tenant", "acme", a.rcv.URL+"/other", "-q"))
	if f := fieldsOf(a.ok(t, "endpoints", "show", "--tenant", "acme", other)); f["trace propagate"] != "" {
		t.Errorf("an endpoint without a choice shows %q", f["trace propagate"])
	}
}
