package api

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// batchResults decodes a 202 answer of POST .../events/batch.
func batchResults(t *testing.T, m map[string]any) []map[string]any {
	t.Helper()
	data, ok := m["data"].([]any)
	if !ok {
		t.Fatalf("batch answer without data: %v", m)
	}
	out := make([]map[string]any, len(data))
	for i, d := range data {
		out[i] = d.(map[string]any)
	}
	return out
}

// deliveryCount counts the tenant's deliveries (up to 200).
func (e *env) deliveryCount(tenant string) int {
	e.t.Helper()
	return len(e.must(200, "GET", "/v1/tenants/"+tenant+"/deliveries?limit=200", opToken, nil)["data"].([]any))
}

func TestPublishBatch(t *testing.T) {
	obs := &recObserver{}
	e := newEnv(t, func(c *testConfig) { c.Observer = obs })
	tok := e.tenant("acme")
	url := okReceiver(t).URL
	e.endpoint("acme", tok, map[string]any{"url": url, "events": []string{"*"}})
	e.endpoint("acme", tok, map[string]any{"url": url, "events": []string{"device.*"}})

	body := `{"events": [
		{"type": "device.enrolled", "id": "evt-1", "data": {"device": "d1"}, "timestamp": "2026-01-02T03:04:05Z"},
		{"type": "audit.login"},
		{"type": "device.removed", "id": "evt-2"}
	]}`
	res := batchResults(t, e.must(202, "POST", "/v1/tenants/acme/events/batch", opToken, body))
	wantTypes, wantFanout := []string{"device.enrolled", "audit.login", "device.removed"}, []float64{2, 1, 2}
	if len(res) != len(wantTypes) {
		t.Fatalf("%d results, want %d: %v", len(res), len(wantTypes), res)
	}
	for i, r := range res {
		id, _ := r["id"].(string)
		if !strings.HasPrefix(id, "msg_") || r["fanout"] != wantFanout[i] || r["duplicate"] != false {
			t.Errorf("result %d: %v, want fan-out %v", i, r, wantFanout[i])
			continue
		}
		m := e.must(200, "GET", "/v1/tenants/acme/messages/"+id, tok, nil)
		if m["type"] != wantTypes[i] || len(m["deliveries"].([]any)) != int(wantFanout[i]) {
			t.Errorf("message %d: %v, want type %s", i, m, wantTypes[i])
		}
	}
	_, raw := e.do("GET", "/v1/tenants/acme/messages/"+res[0]["id"].(string), tok, nil)
	if !strings.Contains(string(raw), `"data":{"device":"d1"}`) || !strings.Contains(string(raw), `"timestamp":"2026-01-02T03:04:05Z"`) ||
		!strings.Contains(string(raw), `"idempotency_key":"evt-1"`) {
		t.Errorf("first message: %s", raw)
	}

	// The same batch again: the events with an id are duplicates of the first ones, the other is new.
	again := batchResults(t, e.must(202, "POST", "/v1/tenants/acme/events/batch", opToken, body))
	if again[0]["id"] != res[0]["id"] || again[0]["duplicate"] != true || again[0]["fanout"] != 2.0 ||
		again[2]["id"] != res[2]["id"] || again[2]["duplicate"] != true || again[1]["id"] == res[1]["id"] || again[1]["duplicate"] != false {
		t.Errorf("repeat: %v, first %v", again, res)
	}
	if n := e.deliveryCount("acme"); n != 2+1+2+1 {
		t.Errorf("%d deliveries, want 6", n)
	}

	var ingested []string
	for _, c := range obs.get() {
		if strings.HasPrefix(c, "ingested") {
			ingested = append(ingested, c)
		}
	}
	want := []string{"ingested acme duplicate=false", "ingested acme duplicate=false", "ingested acme duplicate=false",
		"ingested acme duplicate=true", "ingested acme duplicate=false", "ingested acme duplicate=true"}
	if !slices.Equal(ingested, want) {
		t.Errorf("observer heard %q, want %q", ingested, want)
	}
}

func TestPublishBatchDuplicateIDs(t *testing.T) {
	e := newEnv(t)
	tok := e.tenant("acme")
	e.endpoint("acme", tok, map[string]any{"url": okReceiver(t).URL})
	res := batchResults(t, e.must(202, "POST", "/v1/tenants/acme/events/batch", opToken, map[string]any{"events": []any{
		map[string]any{"type": "device.enrolled", "id": "x"},
		map[string]any{"type": "device.enrolled", "id": "y"},
		map[string]any{"type": "device.enrolled", "id": "x"},
	}}))
	if res[0]["id"] != res[2]["id"] || res[0]["duplicate"] != false || res[2]["duplicate"] != true || res[2]["fanout"] != 1.0 ||
		res[1]["id"] == res[0]["id"] {
		t.Errorf("results %v", res)
	}
	if n := e.deliveryCount("acme"); n != 2 {
		t.Errorf("%d deliveries, want 2", n)
	}
}

func TestPublishBatchRefused(t *testing.T) {
	e := newEnv(t, func(c *testConfig) { c.MaxBatchBytes = 1 << 10 })
	tokA := e.tenant("acme")
	tokB := e.tenant("other")
	e.endpoint("acme", tokA, map[string]any{"url": okReceiver(t).URL})
	const path = "/v1/tenants/acme/events/batch"
	valid := `{"events": [{"type": "device.enrolled", "id": "ok-1"}]}`
	for _, c := range []struct {
		name   string
		token  string
		body   string
		status int
		code   string
		field  string
	}{
		{"bad second event", opToken, `{"events": [{"type": "device.enrolled", "id": "ok-1"}, {"type": "a b"}]}`, 422, CodeValidation, "events[1].type"},
		{"second event without type", opToken, `{"events": [{"type": "a"}, {"data": {}}]}`, 422, CodeValidation, "events[1].type"},
		{"bad timestamp", opToken, `{"events": [{"type": "a"}, {"type": "a"}, {"type": "a", "timestamp": "yesterday"}]}`, 422, CodeValidation, "events[2].timestamp"},
		{"bad id", opToken, `{"events": [{"type": "a", "data": "x", "id": "a b"}]}`, 422, CodeValidation, "events[0].id"},
		{"empty list", opToken, `{"events": []}`, 422, CodeValidation, "events"},
		{"no list", opToken, `{}`, 422, CodeValidation, "events"},
		{"oversized", opToken, `{"events": [{"type": "a", "data": "` + strings.Repeat("x", 1<<10) + `"}]}`, 413, CodeBodyTooLarge, ""},
		{"unknown event field", opToken, `{"events": [{"type": "a", "colour": "red"}]}`, 400, CodeInvalidJSON, "colour"},
		{"events not a list", opToken, `{"events": {"type": "a"}}`, 400, CodeInvalidJSON, "events"},
		{"tenant token", tokA, valid, 403, CodeForbidden, ""},
		{"another tenant's token", tokB, valid, 404, CodeNotFound, ""},
	} {
		status, out := e.do("POST", path, c.token, c.body)
		if status != c.status {
			t.Errorf("%s: status %d, want %d: %s", c.name, status, c.status, out)
			continue
		}
		if code, field, _ := errorOf(t, out); code != c.code || field != c.field {
			t.Errorf("%s: code %s field %q, want %s %q", c.name, code, field, c.code, c.field)
		}
	}
	if n := e.deliveryCount("acme"); n != 0 {
		t.Errorf("refused batches stored %d deliveries", n)
	}
	// ok-1 was in a refused batch: it was not stored, so publishing it now is new.
	if r := batchResults(t, e.must(202, "POST", path, opToken, valid)); r[0]["duplicate"] != false {
		t.Errorf("the valid event of a refused batch was stored: %v", r)
	}
}

func TestPublishBatchMaxEvents(t *testing.T) {
	e := newEnv(t)
	e.tenant("acme")
	events := func(n int) string {
		return `{"events": [` + strings.TrimSuffix(strings.Repeat(`{"type":"a"},`, n), ",") + `]}`
	}
	if status, out := e.do("POST", "/v1/tenants/acme/events/batch", opToken, events(501)); status != 422 {
		t.Errorf("501 events: %d %s", status, out)
	} else if _, field, _ := errorOf(t, out); field != "events" {
		t.Errorf("501 events: field %q", field)
	}
	res := batchResults(t, e.must(202, "POST", "/v1/tenants/acme/events/batch", opToken, events(500)))
	if len(res) != 500 || res[499]["fanout"] != 0.0 {
		t.Errorf("500 events: %d results, last %v", len(res), res[len(res)-1])
	}
	seen := map[any]bool{}
	for i, r := range res {
		if seen[r["id"]] {
			t.Fatalf("result %d repeats %v", i, r["id"])
		}
		seen[r["id"]] = true
	}
}

func TestMaxBatchBytesConfig(t *testing.T) {
	e := newEnv(t)
	if e.s.cfg.MaxBatchBytes != DefaultMaxBatchBytes {
		t.Errorf("MaxBatchBytes defaults to %d", e.s.cfg.MaxBatchBytes)
	}
	deps := testDeps(e.store, testPolicy, nil)
	if _, err := New(Config{OperatorToken: "x", MaxBatchBytes: -1}, deps); !errors.Is(err, ErrConfig) {
		t.Errorf("negative MaxBatchBytes: %v", err)
	}
}
