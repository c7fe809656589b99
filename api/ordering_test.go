package api

import (
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/delivery"
)

// An ordering key on publish (single and batch) or from the catalogue's ordering_key_path shows on the message and
// its deliveries; a delivery behind an earlier one of its key names it in waiting_on; a bad key is a 422.
func TestOrderingKeyAPI(t *testing.T) {
	e := newEnv(t)
	tok := e.tenant("acme")
	ep := e.endpoint("acme", tok, map[string]any{"url": okReceiver(t).URL})
	first := e.must(202, "POST", "/v1/tenants/acme/events", opToken,
		map[string]any{"type": "device.enrolled", "ordering_key": "dev-1"})["id"].(string)
	batch := e.must(202, "POST", "/v1/tenants/acme/events/batch", opToken, map[string]any{"events": []any{
		map[string]any{"type": "device.status", "ordering_key": "dev-1"},
		map[string]any{"type": "device.status", "ordering_key": "dev-2"},
	}})["data"].([]any)
	second := batch[0].(map[string]any)["id"].(string)

	m := e.must(200, "GET", "/v1/tenants/acme/messages/"+second, tok, nil)
	if m["ordering_key"] != "dev-1" {
		t.Fatalf("message ordering_key = %v", m["ordering_key"])
	}
	head := m["deliveries"].([]any)[0].(map[string]any)
	ds := e.must(200, "GET", "/v1/tenants/acme/deliveries?message="+first, tok, nil)["data"].([]any)
	headID := ds[0].(map[string]any)["id"].(string)
	if head["waiting_on"] != headID || head["ordering_key"] != "dev-1" {
		t.Fatalf("second delivery: waiting_on %v, want %s; key %v", head["waiting_on"], headID, head["ordering_key"])
	}
	d := e.must(200, "GET", "/v1/tenants/acme/deliveries/"+head["id"].(string), tok, nil)
	if d["waiting_on"] != headID {
		t.Fatalf("delivery detail waiting_on = %v", d["waiting_on"])
	}
	for _, x := range e.must(200, "GET", "/v1/tenants/acme/endpoints/"+ep+"/deliveries", tok, nil)["data"].([]any) {
		x := x.(map[string]any)
		if x["id"] != head["id"] && x["waiting_on"] != nil {
			t.Errorf("%v waits on %v", x["id"], x["waiting_on"])
		}
	}

	for _, bad := range []string{strings.Repeat("k", 129), "a\tb", ""} {
		status, body := e.do("POST", "/v1/tenants/acme/events", opToken, map[string]any{"type": "device.enrolled", "ordering_key": bad})
		if bad == "" {
			if status != 202 {
				t.Errorf("empty key: %d %s", status, body)
			}
			continue
		}
		code, field, _ := errorOf(t, body)
		if status != 422 || code != "validation_failed" || field != "ordering_key" {
			t.Errorf("key %q: %d %s %s", bad, status, code, field)
		}
	}
	status, body := e.do("POST", "/v1/tenants/acme/events/batch", opToken, map[string]any{"events": []any{
		map[string]any{"type": "device.status"}, map[string]any{"type": "device.status", "ordering_key": "a\nb"}}})
	if _, field, _ := errorOf(t, body); status != 422 || field != "events[1].ordering_key" {
		t.Errorf("batch bad key: %d %s", status, body)
	}

	e.must(201, "POST", "/v1/event-types", opToken, map[string]any{"name": "device.decommissioned", "ordering_key_path": "/device_id"})
	if g := e.must(200, "GET", "/v1/event-types/device.decommissioned", tok, nil); g["ordering_key_path"] != "/device_id" {
		t.Fatalf("event type = %v", g)
	}
	id := e.must(202, "POST", "/v1/tenants/acme/events", opToken,
		map[string]any{"type": "device.decommissioned", "data": map[string]any{"device_id": "dev-2"}})["id"].(string)
	if m := e.must(200, "GET", "/v1/tenants/acme/messages/"+id, tok, nil); m["ordering_key"] != "dev-2" {
		t.Fatalf("key from the path = %v", m["ordering_key"])
	}
	status, body = e.do("POST", "/v1/event-types", opToken, map[string]any{"name": "device.x", "ordering_key_path": "device_id"})
	if _, field, _ := errorOf(t, body); status != 422 || field != "ordering_key_path" {
		t.Errorf("bad path: %d %s", status, body)
	}
}

// ordering_on_failure: skip by default, block on create or patch, back to skip; anything else is a 422 naming the
// field, and the endpoint is left as it was.
func TestOrderingOnFailureField(t *testing.T) {
	e := newEnv(t)
	tok := e.tenant("acme")
	url := okReceiver(t).URL
	ep := e.endpoint("acme", tok, map[string]any{"url": url})
	path := "/v1/tenants/acme/endpoints/" + ep
	if got := e.must(200, "GET", path, tok, nil)["ordering_on_failure"]; got != "skip" {
		t.Fatalf("default ordering_on_failure = %v", got)
	}
	if got := e.must(200, "PATCH", path, tok, map[string]any{"ordering_on_failure": "block"})["ordering_on_failure"]; got != "block" {
		t.Fatalf("patched ordering_on_failure = %v", got)
	}
	status, body := e.do("PATCH", path, tok, map[string]any{"ordering_on_failure": "stop"})
	if code, field, _ := errorOf(t, body); status != 422 || code != "validation_failed" || field != "ordering_on_failure" {
		t.Errorf("patch stop: %d %s", status, body)
	}
	if got := e.must(200, "GET", path, tok, nil)["ordering_on_failure"]; got != "block" {
		t.Fatalf("after a refused patch ordering_on_failure = %v", got)
	}
	if got := e.must(200, "PATCH", path, tok, map[string]any{"ordering_on_failure": "skip"})["ordering_on_failure"]; got != "skip" {
		t.Fatalf("patched back ordering_on_failure = %v", got)
	}
	blocked := e.endpoint("acme", tok, map[string]any{"url": url, "ordering_on_failure": "block"})
	if got := e.must(200, "GET", "/v1/tenants/acme/endpoints/"+blocked, tok, nil)["ordering_on_failure"]; got != "block" {
		t.Fatalf("created ordering_on_failure = %v", got)
	}
	status, body = e.do("POST", "/v1/tenants/acme/endpoints", tok, map[string]any{"url": url, "ordering_on_failure": "Block"})
	if code, field, _ := errorOf(t, body); status != 422 || code != "validation_failed" || field != "ordering_on_failure" {
		t.Errorf("create Block: %d %s", status, body)
	}
}

// A failed or dead delivery of a block endpoint shows blocked and holds its key; POST …/unblock retries or skips it,
// only for its tenant, only while it is blocked; a replay's answer names what it waits on.
func TestUnblockDeliveryAPI(t *testing.T) {
	e := newEnv(t)
	tok := e.tenant("acme")
	other := e.tenant("other")
	ep := e.endpoint("acme", tok, map[string]any{"url": okReceiver(t).URL, "ordering_on_failure": "block"})
	var msgs []string
	for range 2 {
		msgs = append(msgs, e.must(202, "POST", "/v1/tenants/acme/events", opToken,
			map[string]any{"type": "device.enrolled", "ordering_key": "dev-1"})["id"].(string))
	}
	ctx := t.Context()
	now := time.Now()
	ts, err := e.store.Claim(ctx, now, delivery.ClaimOptions{Max: 10, Lease: time.Minute})
	if err != nil || len(ts) != 1 {
		t.Fatalf("claim: %v %v", ts, err)
	}
	if err := e.store.Fail(ctx, ts[0], delivery.Attempt{At: now, StatusCode: 500}, delivery.StatusDead); err != nil {
		t.Fatal(err)
	}
	head, second := ts[0].DeliveryID, ""
	for _, x := range e.must(200, "GET", "/v1/tenants/acme/endpoints/"+ep+"/deliveries", tok, nil)["data"].([]any) {
		if x := x.(map[string]any); x["id"] != head {
			second = x["id"].(string)
		}
	}
	if d := e.must(200, "GET", "/v1/tenants/acme/deliveries/"+head, tok, nil); d["blocked"] != true || d["status"] != "dead" {
		t.Fatalf("dead head: %v", d)
	}
	if d := e.must(200, "GET", "/v1/tenants/acme/deliveries/"+second, tok, nil); d["waiting_on"] != head {
		t.Fatalf("second waits on %v, want %s", d["waiting_on"], head)
	}
	path := "/v1/tenants/acme/deliveries/" + head + "/unblock"
	status, body := e.do("POST", path, tok, map[string]any{"action": "resume"})
	if code, field, _ := errorOf(t, body); status != 422 || code != "validation_failed" || field != "action" {
		t.Errorf("bad action: %d %s", status, body)
	}
	if status, body := e.do("POST", path, other, map[string]any{"action": "retry"}); status != 404 {
		t.Errorf("another tenant's token: %d %s", status, body)
	}
	if status, body := e.do("POST", "/v1/tenants/other/deliveries/"+head+"/unblock", other, map[string]any{"action": "retry"}); status != 404 {
		t.Errorf("another tenant's delivery: %d %s", status, body)
	}
	d := e.must(200, "POST", path, tok, map[string]any{"action": "retry"})
	if d["status"] != "pending" || d["attempts"] != 0.0 || d["blocked"] != nil {
		t.Fatalf("retried: %v", d)
	}
	status, body = e.do("POST", path, tok, map[string]any{"action": "skip"})
	if code, _, _ := errorOf(t, body); status != 409 || code != "not_blocked" {
		t.Errorf("unblock of a pending delivery: %d %s", status, body)
	}
	r := e.must(202, "POST", "/v1/tenants/acme/messages/"+msgs[0]+"/replay", tok, map[string]any{"endpoint_id": ep})
	if r["waiting_on"] != head {
		t.Errorf("replay answer waiting_on = %v, want %s", r["waiting_on"], head)
	}
}
