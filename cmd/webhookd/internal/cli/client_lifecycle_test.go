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
