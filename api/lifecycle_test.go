package api

import (
	"bytes"
	"testing"
)

// TestExpungeMessage: DELETE .../messages/{msg}/payload drops the data for good; the log keeps the message's head
// and its deliveries, replays are refused, and another tenant cannot reach it.
func TestExpungeMessage(t *testing.T) {
	e := newEnv(t)
	tok := e.tenant("acme")
	other := e.tenant("globex")
	ep := e.endpoint("acme", tok, map[string]any{"url": okReceiver(t).URL})
	pub := e.must(202, "POST", "/v1/tenants/acme/events", opToken, `{"type":"device.enrolled","data":{"imei":"356938035643809"}}`)
	id := pub["id"].(string)
	keep := e.must(202, "POST", "/v1/tenants/acme/events", opToken, `{"type":"device.enrolled","data":{"imei":"490154203237518"}}`)["id"].(string)

	if status, _ := e.do("DELETE", "/v1/tenants/globex/messages/"+id+"/payload", other, nil); status != 404 {
		t.Fatalf("another tenant's expunge: %d", status)
	}
	m := e.must(200, "DELETE", "/v1/tenants/acme/messages/"+id+"/payload", tok, nil)
	if m["data"] != nil || m["expunged_at"] == nil || m["id"] != id || m["type"] != "device.enrolled" {
		t.Fatalf("expunge answered %v", m)
	}
	got := e.must(200, "GET", "/v1/tenants/acme/messages/"+id, tok, nil)
	if got["data"] != nil || got["expunged_at"] != m["expunged_at"] || len(got["deliveries"].([]any)) != 1 {
		t.Fatalf("after expunge: %v", got)
	}
	_, raw := e.do("GET", "/v1/tenants/acme/messages/"+id, tok, nil)
	if string(raw) == "" || bytes.Contains(raw, []byte("356938035643809")) {
		t.Fatalf("the payload is still readable: %s", raw)
	}
	status, body := e.do("POST", "/v1/tenants/acme/messages/"+id+"/replay", tok, map[string]any{"endpoint_id": ep})
	if code, _, _ := errorOf(t, body); status != 409 || code != CodeMessageExpunged {
		t.Fatalf("replay of an expunged message: %d %s", status, body)
	}
	// Again: the same answer, the first time kept.
	if again := e.must(200, "DELETE", "/v1/tenants/acme/messages/"+id+"/payload", opToken, nil); again["expunged_at"] != m["expunged_at"] {
		t.Fatalf("again: %v", again)
	}
	if k := e.must(200, "GET", "/v1/tenants/acme/messages/"+keep, tok, nil); k["data"] == nil || k["expunged_at"] != nil {
		t.Fatalf("another message lost its data: %v", k)
	}
	e.must(202, "POST", "/v1/tenants/acme/messages/"+keep+"/replay", tok, map[string]any{"endpoint_id": ep})
	if status, _ := e.do("DELETE", "/v1/tenants/acme/messages/msg_nope/payload", tok, nil); status != 404 {
		t.Fatalf("an unknown message: %d", status)
	}
}
