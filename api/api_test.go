package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/egress"
	"github.com/webhookd/webhookd/signing"
)

func TestNewConfig(t *testing.T) {
	if _, err := New(Config{}, Deps{}); err == nil {
		t.Error("New without an operator token: no error")
	}
	if _, err := New(Config{OperatorToken: "x"}, Deps{}); err == nil {
		t.Error("New without stores: no error")
	}
}

func TestEndpointHandshake(t *testing.T) {
	e := newEnv(t)
	tok := e.tenant("acme")
	eps := "/v1/tenants/acme/endpoints"

	ok := newReceiver(t, http.StatusNoContent, "OPTIONS, POST")
	ep := e.endpoint("acme", tok, map[string]any{"url": ok.URL})

	for _, c := range []struct {
		name   string
		rc     *receiver
		status float64
		allow  string
	}{
		{"405", newReceiver(t, http.StatusMethodNotAllowed, "GET"), 405, "GET"},
		{"200 without POST", newReceiver(t, http.StatusOK, "GET, HEAD"), 200, "GET, HEAD"},
		{"204 without Allow", newReceiver(t, http.StatusNoContent, ""), 204, ""},
		{"redirect", newReceiver(t, http.StatusFound, "POST"), 302, "POST"},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, body := e.do("POST", eps, tok, map[string]any{"url": c.rc.URL})
			code, _, m := errorOf(t, body)
			if status != 422 || code != "handshake_failed" {
				t.Fatalf("got %d %s: %s", status, code, body)
			}
			d, _ := m["details"].(map[string]any)
			if d["status"] != c.status || (d["allow"] != nil && d["allow"] != c.allow) || (c.allow != "" && d["allow"] != c.allow) {
				t.Errorf("details %v, want status %v allow %q", d, c.status, c.allow)
			}
		})
	}

	t.Run("no answer", func(t *testing.T) {
		dead := httptest.NewServer(http.NotFoundHandler())
		url := dead.URL
		dead.Close()
		status, body := e.do("POST", eps, tok, map[string]any{"url": url})
		code, _, m := errorOf(t, body)
		d, _ := m["details"].(map[string]any)
		if status != 422 || code != "handshake_failed" || d["error"] == nil || d["error"] == "" {
			t.Fatalf("got %d %s %v", status, code, d)
		}
	})

	t.Run("patch to failing URL keeps the old one", func(t *testing.T) {
		bad := newReceiver(t, http.StatusMethodNotAllowed, "GET")
		status, body := e.do("PATCH", eps+"/"+ep, tok, map[string]any{"url": bad.URL, "description": "new"})
		if code, _, _ := errorOf(t, body); status != 422 || code != "handshake_failed" {
			t.Fatalf("got %d %s", status, body)
		}
		cur := e.must(200, "GET", eps+"/"+ep, tok, nil)
		if cur["url"] != ok.URL || cur["description"] != "" {
			t.Errorf("endpoint changed by a failed PATCH: %v", cur)
		}
		other := okReceiver(t)
		got := e.must(200, "PATCH", eps+"/"+ep, tok, map[string]any{"url": other.URL, "timeout": 2500, "events": []string{"a.*"}})
		if got["url"] != other.URL || got["timeout"] != "2.5s" || got["events"].([]any)[0] != "a.*" {
			t.Errorf("PATCH answer %v", got)
		}
	})

	if got := e.must(200, "GET", eps, tok, nil)["data"].([]any); len(got) != 1 {
		t.Errorf("%d endpoints, want 1", len(got))
	}
}

func TestEndpointDefaultsAndPaging(t *testing.T) {
	e := newEnv(t)
	tok := e.tenant("acme")
	rc := okReceiver(t)
	got := e.must(201, "POST", "/v1/tenants/acme/endpoints", tok, map[string]any{"url": rc.URL})
	if got["profile"] != "standard" || got["signing"] != "hmac" || got["timeout"] != "1s" ||
		fmt.Sprint(got["events"]) != "[*]" || got["rate_limit"] != 0.0 || got["disabled"] != false {
		t.Errorf("defaults: %v", got)
	}
	for range 4 {
		e.endpoint("acme", tok, map[string]any{"url": rc.URL, "timeout": "250ms"})
	}
	var ids []string
	after := ""
	for range 10 {
		p := e.must(200, "GET", "/v1/tenants/acme/endpoints?limit=2&after="+after, tok, nil)
		for _, d := range p["data"].([]any) {
			ids = append(ids, d.(map[string]any)["id"].(string))
		}
		next, _ := p["next"].(string)
		if next == "" {
			break
		}
		after = next
	}
	if len(ids) != 5 {
		t.Errorf("paged through %d endpoints, want 5: %v", len(ids), ids)
	}
	for i := 1; i < len(ids); i++ {
		if ids[i] <= ids[i-1] {
			t.Errorf("ids not ascending: %v", ids)
		}
	}

	// Disable and enable.
	ep := ids[0]
	if d := e.must(200, "POST", "/v1/tenants/acme/endpoints/"+ep+"/disable", tok, nil); d["disabled"] != true || d["disabled_reason"] != "manual" {
		t.Errorf("disable: %v", d)
	}
	if d := e.must(200, "POST", "/v1/tenants/acme/endpoints/"+ep+"/enable", tok, nil); d["disabled"] != false || d["disabled_reason"] != nil {
		t.Errorf("enable: %v", d)
	}
	e.must(204, "DELETE", "/v1/tenants/acme/endpoints/"+ep, tok, nil)
	e.must(404, "GET", "/v1/tenants/acme/endpoints/"+ep, tok, nil)
}

func TestIdempotentIngest(t *testing.T) {
	e := newEnv(t)
	tok := e.tenant("acme")
	e.endpoint("acme", tok, map[string]any{"url": okReceiver(t).URL})
	ev := `{"type":"device.enrolled","id":"evt:42","data":{"b":1,  "a":[true]}}`
	first := e.must(202, "POST", "/v1/tenants/acme/events", opToken, ev)
	second := e.must(202, "POST", "/v1/tenants/acme/events", opToken, ev)
	if first["id"] != second["id"] || first["duplicate"] != false || second["duplicate"] != true || second["fanout"] != 1.0 {
		t.Errorf("first %v, second %v", first, second)
	}
	id := first["id"].(string)
	if !strings.HasPrefix(id, "msg_") {
		t.Errorf("message id %q", id)
	}
	if ds := e.must(200, "GET", "/v1/tenants/acme/deliveries?message="+id, tok, nil)["data"].([]any); len(ds) != 1 {
		t.Errorf("%d deliveries, want 1", len(ds))
	}
	// The data is not re-serialised through a map: key order stays. (The bolt store compacts whitespace; the
	// events service test checks the bytes it hands the store.)
	_, raw := e.do("GET", "/v1/tenants/acme/messages/"+id, tok, nil)
	if !bytes.Contains(raw, []byte(`"data":{"b":1,"a":[true]}`)) {
		t.Errorf("data re-serialised: %s", raw)
	}
	var m struct {
		IdempotencyKey string `json:"idempotency_key"`
		Deliveries     []struct {
			Status string `json:"status"`
		} `json:"deliveries"`
	}
	if err := json.Unmarshal(raw, &m); err != nil || m.IdempotencyKey != "evt:42" || len(m.Deliveries) != 1 || m.Deliveries[0].Status != "pending" {
		t.Errorf("message view %s (%v)", raw, err)
	}
	// No data: {}.
	third := e.must(202, "POST", "/v1/tenants/acme/events", opToken, `{"type":"device.enrolled","timestamp":"2026-01-02T03:04:05Z"}`)
	_, raw = e.do("GET", "/v1/tenants/acme/messages/"+third["id"].(string), tok, nil)
	if !bytes.Contains(raw, []byte(`"data":{}`)) || !bytes.Contains(raw, []byte(`"timestamp":"2026-01-02T03:04:05Z"`)) {
		t.Errorf("defaults: %s", raw)
	}
}

func TestFanoutFilters(t *testing.T) {
	e := newEnv(t)
	tok := e.tenant("acme")
	url := okReceiver(t).URL
	all := e.endpoint("acme", tok, map[string]any{"url": url, "events": []string{"*"}})
	dev := e.endpoint("acme", tok, map[string]any{"url": url, "events": []string{"device.*"}})
	exact := e.endpoint("acme", tok, map[string]any{"url": url, "events": []string{"device.enrolled"}})
	app := e.endpoint("acme", tok, map[string]any{"url": url, "events": []string{"app.installed", "app.updated"}})
	off := e.endpoint("acme", tok, map[string]any{"url": url})
	e.must(200, "POST", "/v1/tenants/acme/endpoints/"+off+"/disable", tok, nil)

	for _, c := range []struct {
		typ  string
		want []string
	}{
		{"device.enrolled", []string{all, dev, exact}},
		{"device.status.changed", []string{all, dev}},
		{"device", []string{all}},
		{"app.updated", []string{all, app}},
		{"devices.enrolled", []string{all}},
	} {
		m := e.must(202, "POST", "/v1/tenants/acme/events", opToken, map[string]any{"type": c.typ})
		if int(m["fanout"].(float64)) != len(c.want) {
			t.Errorf("%s: fanout %v, want %d", c.typ, m["fanout"], len(c.want))
		}
		ds := e.must(200, "GET", "/v1/tenants/acme/deliveries?message="+m["id"].(string), tok, nil)["data"].([]any)
		got := map[string]bool{}
		for _, d := range ds {
			d := d.(map[string]any)
			got[d["endpoint_id"].(string)] = true
			if d["event_type"] != c.typ || d["status"] != "pending" {
				t.Errorf("%s: delivery %v", c.typ, d)
			}
		}
		for _, w := range c.want {
			if !got[w] {
				t.Errorf("%s: no delivery to %s", c.typ, w)
			}
		}
	}
	if ds := e.must(200, "GET", "/v1/tenants/acme/endpoints/"+off+"/deliveries", tok, nil)["data"].([]any); len(ds) != 0 {
		t.Errorf("disabled endpoint got %d deliveries", len(ds))
	}
	if ds := e.must(200, "GET", "/v1/tenants/acme/endpoints/"+dev+"/deliveries?limit=1", tok, nil); ds["next"] == nil {
		t.Errorf("endpoint deliveries did not page: %v", ds)
	}
}

func TestRotationAndReveal(t *testing.T) {
	e := newEnv(t)
	tok := e.tenant("acme")
	url := okReceiver(t).URL
	const given = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	eps := "/v1/tenants/acme/endpoints"
	ep := e.endpoint("acme", tok, map[string]any{"url": url, "secret": given})

	reveal := func() []map[string]any {
		var out []map[string]any
		for _, k := range e.must(200, "GET", eps+"/"+ep+"/secret", tok, nil)["keys"].([]any) {
			out = append(out, k.(map[string]any))
		}
		return out
	}
	if ks := reveal(); len(ks) != 1 || ks[0]["secret"] != given {
		t.Fatalf("reveal: %v", ks)
	}
	rot := e.must(200, "POST", eps+"/"+ep+"/rotate", tok, nil)
	ks := reveal()
	if len(ks) != 2 || ks[1]["secret"] != given || ks[0]["secret"] == given || ks[0]["expires_at"] != nil || ks[1]["expires_at"] == nil {
		t.Fatalf("after rotate: %v", ks)
	}
	if len(rot["keys"].([]any)) != 2 {
		t.Errorf("rotate answer keys: %v", rot["keys"])
	}
	newSecret := ks[0]["secret"].(string)
	if _, err := signing.ParseSecret(newSecret); err != nil {
		t.Errorf("generated secret %q: %v", newSecret, err)
	}
	exp, _ := time.Parse(time.RFC3339, ks[1]["expires_at"].(string))
	if d := time.Until(exp); d < 23*time.Hour || d > 25*time.Hour {
		t.Errorf("old key expires in %s, want about 24h", d)
	}

	// Secrets appear in no other answer.
	for _, p := range []string{eps, eps + "/" + ep, "/v1/tenants/acme/endpoints?limit=1"} {
		_, body := e.do("GET", p, tok, nil)
		for _, s := range []string{given, newSecret, strings.TrimPrefix(given, "whsec_"), strings.TrimPrefix(newSecret, "whsec_")} {
			if bytes.Contains(body, []byte(s)) {
				t.Errorf("GET %s shows a secret: %s", p, body)
			}
		}
	}
	_, body := e.do("PATCH", eps+"/"+ep, tok, map[string]any{"description": "x"})
	if bytes.Contains(body, []byte(newSecret)) {
		t.Errorf("PATCH shows the secret")
	}

	// Grace 0 drops the old key at once; a given secret becomes current.
	const third = "whsec_dGhpcmQtc2VjcmV0LXRoaXJkLXNlY3JldC0wMTIzNDU="
	e.must(200, "POST", eps+"/"+ep+"/rotate", tok, map[string]any{"grace": 0, "secret": third})
	if ks := reveal(); len(ks) != 2 || ks[0]["secret"] != third || ks[1]["secret"] != given {
		t.Errorf("after grace-0 rotation: %v", ks)
	}
	e.must(200, "POST", eps+"/"+ep+"/rotate", tok, map[string]any{"grace": "0s"})
	if ks := reveal(); len(ks) != 2 || ks[1]["secret"] != given {
		t.Errorf("after second grace-0 rotation: %v", ks)
	}

	// ed25519: the private key never comes back, the public key does.
	priv, pub, err := signing.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	_, created := e.do("POST", eps, tok, map[string]any{"url": url, "secret": priv})
	var ed map[string]any
	if err := json.Unmarshal(created, &ed); err != nil || ed["signing"] != "ed25519" {
		t.Fatalf("ed25519 create: %s", created)
	}
	edID := ed["id"].(string)
	_, revealed := e.do("GET", eps+"/"+edID+"/secret", tok, nil)
	_, got := e.do("GET", eps+"/"+edID, tok, nil)
	for name, b := range map[string][]byte{"create": created, "reveal": revealed, "get": got} {
		if bytes.Contains(b, []byte(strings.TrimPrefix(priv, "whsk_")[:40])) {
			t.Errorf("%s shows the ed25519 private key", name)
		}
		if !bytes.Contains(b, []byte(pub)) {
			t.Errorf("%s lacks the public key: %s", name, b)
		}
	}
	// Generated ed25519 keys too.
	gen := e.must(201, "POST", eps, tok, map[string]any{"url": url, "signing": "ed25519"})
	if k := gen["keys"].([]any)[0].(map[string]any); !strings.HasPrefix(k["public_key"].(string), "whpk_") {
		t.Errorf("generated ed25519 key: %v", k)
	}
	// Profiles generate keys in their own form.
	for profile, check := range map[string]func(string) bool{
		"mender":  func(s string) bool { return len(s) == 64 && strings.Trim(s, "0123456789abcdef") == "" },
		"openmdm": func(s string) bool { return len(s) >= 16 },
	} {
		id := e.endpoint("acme", tok, map[string]any{"url": url, "profile": profile})
		if ks := e.must(200, "GET", eps+"/"+id+"/secret", tok, nil)["keys"].([]any); !check(ks[0].(map[string]any)["secret"].(string)) {
			t.Errorf("%s key %v", profile, ks)
		}
	}
	// A change of profile replaces a key the new profile cannot use.
	e.must(200, "PATCH", eps+"/"+ep, tok, map[string]any{"profile": "mender"})
	if ks := reveal(); len(ks) != 1 || strings.HasPrefix(ks[0]["secret"].(string), "whsec_") {
		t.Errorf("after profile change: %v", ks)
	}
}

func TestReplayAndRecover(t *testing.T) {
	e := newEnv(t)
	tok := e.tenant("acme")
	url := okReceiver(t).URL
	ep := e.endpoint("acme", tok, map[string]any{"url": url, "events": []string{"device.*"}})
	other := e.endpoint("acme", tok, map[string]any{"url": url, "events": []string{"app.*"}})
	since := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	var msgs []string
	for i := range 3 {
		msgs = append(msgs, e.must(202, "POST", "/v1/tenants/acme/events", opToken, map[string]any{"type": "device.enrolled", "data": map[string]int{"n": i}})["id"].(string))
	}

	// Fail the first two deliveries (one dead, one failed) as the engine would.
	ctx := context.Background()
	tasks, err := e.store.Claim(ctx, time.Now().Add(time.Minute), delivery.ClaimOptions{Max: 10, Lease: time.Minute})
	if err != nil || len(tasks) != 3 {
		t.Fatalf("claim: %v, %d tasks", err, len(tasks))
	}
	failed := map[string]bool{}
	for i, task := range tasks[:2] {
		st := []delivery.Status{delivery.StatusDead, delivery.StatusFailed}[i]
		if err := e.store.Fail(ctx, task, delivery.Attempt{DeliveryID: task.DeliveryID, N: 1, At: time.Now(), StatusCode: 500, Outcome: string(st)}, st); err != nil {
			t.Fatal(err)
		}
		failed[task.MessageID] = true
	}
	if err := e.store.Ack(ctx, tasks[2], delivery.Attempt{DeliveryID: tasks[2].DeliveryID, N: 1, At: time.Now(), StatusCode: 200, Outcome: "success"}); err != nil {
		t.Fatal(err)
	}

	// The log shows the attempts.
	d := e.must(200, "GET", "/v1/tenants/acme/deliveries/"+tasks[0].DeliveryID, tok, nil)
	if log := d["attempt_log"].([]any); len(log) != 1 || log[0].(map[string]any)["status_code"] != 500.0 {
		t.Errorf("delivery detail %v", d)
	}
	if ds := e.must(200, "GET", "/v1/tenants/acme/deliveries?status=dead", tok, nil)["data"].([]any); len(ds) != 1 {
		t.Errorf("%d dead deliveries, want 1", len(ds))
	}

	// Recover: one new delivery per failed message, same message ids.
	r := e.must(202, "POST", "/v1/tenants/acme/endpoints/"+ep+"/recover", tok, map[string]any{"since": since})
	if r["replayed"] != 2.0 {
		t.Fatalf("recover: %v", r)
	}
	for _, m := range msgs {
		ds := e.must(200, "GET", "/v1/tenants/acme/deliveries?message="+m, tok, nil)["data"].([]any)
		want := 1
		if failed[m] {
			want = 2
		}
		if len(ds) != want {
			t.Errorf("message %s: %d deliveries, want %d", m, len(ds), want)
		}
		for _, d := range ds {
			if d.(map[string]any)["message_id"] != m {
				t.Errorf("delivery of another message: %v", d)
			}
		}
	}
	// Recover again while those redeliveries are pending: refused, nothing made.
	status, body := e.do("POST", "/v1/tenants/acme/endpoints/"+ep+"/recover", tok, map[string]any{"since": since})
	if code, _, _ := errorOf(t, body); status != 409 || code != CodeRecoverPending {
		t.Errorf("second recover: %d %s, want 409 recover_pending", status, body)
	}
	// Recover since now finds nothing.
	if r := e.must(202, "POST", "/v1/tenants/acme/endpoints/"+ep+"/recover", tok, map[string]any{"since": time.Now().UTC().Format(time.RFC3339Nano)}); r["replayed"] != 0.0 {
		t.Errorf("recover since now: %v", r)
	}

	// Replay to an endpoint whose filter does not match: a new delivery, same message.
	rep := e.must(202, "POST", "/v1/tenants/acme/messages/"+msgs[2]+"/replay", tok, map[string]any{"endpoint_id": other})
	if rep["message_id"] != msgs[2] || rep["endpoint_id"] != other || rep["status"] != "pending" {
		t.Errorf("replay: %v", rep)
	}
	m := e.must(200, "GET", "/v1/tenants/acme/messages/"+msgs[2], tok, nil)
	if n := len(m["deliveries"].([]any)); n != 2 {
		t.Errorf("message shows %d deliveries, want 2", n)
	}

	// Test event: to exactly this endpoint, type webhookd.test.
	te := e.must(202, "POST", "/v1/tenants/acme/endpoints/"+other+"/test", tok, nil)
	tm := e.must(200, "GET", "/v1/tenants/acme/messages/"+te["message_id"].(string), tok, nil)
	if tm["type"] != "webhookd.test" || len(tm["deliveries"].([]any)) != 1 || tm["deliveries"].([]any)[0].(map[string]any)["endpoint_id"] != other {
		t.Errorf("test message %v", tm)
	}
}

func TestCatalogue(t *testing.T) {
	e := newEnv(t)
	tok := e.tenant("acme")
	c := e.must(201, "POST", "/v1/event-types", opToken, map[string]any{"name": "device.enrolled", "description": "d", "schema": map[string]any{"type": "object"}})
	u := e.must(200, "POST", "/v1/event-types", opToken, map[string]any{"name": "device.enrolled", "description": "d2"})
	if c["created_at"] != u["created_at"] || u["description"] != "d2" || u["schema"] != nil {
		t.Errorf("create %v, update %v", c, u)
	}
	if g := e.must(200, "GET", "/v1/event-types/device.enrolled", tok, nil); g["name"] != "device.enrolled" {
		t.Errorf("get %v", g)
	}
	e.must(204, "DELETE", "/v1/event-types/device.enrolled", opToken, nil)
	e.must(404, "GET", "/v1/event-types/device.enrolled", tok, nil)
}

func TestTokens(t *testing.T) {
	e := newEnv(t)
	tok := e.tenant("acme")
	if !strings.HasPrefix(tok, "wht_") || len(tok) != 4+43 {
		t.Errorf("token %q", tok)
	}
	list := e.must(200, "GET", "/v1/tenants/acme/tokens", opToken, nil)["data"].([]any)
	_, raw := e.do("GET", "/v1/tenants/acme/tokens", opToken, nil)
	if len(list) != 1 || bytes.Contains(raw, []byte(tok[4:])) {
		t.Fatalf("tokens: %s", raw)
	}
	e.must(200, "GET", "/v1/tenants/acme", tok, nil)
	e.must(204, "DELETE", "/v1/tenants/acme/tokens/"+list[0].(map[string]any)["id"].(string), opToken, nil)
	e.must(401, "GET", "/v1/tenants/acme", tok, nil)
	if l := e.must(200, "GET", "/v1/tenants/acme/tokens", opToken, nil)["data"].([]any); l[0].(map[string]any)["revoked_at"] == nil {
		t.Errorf("revoked token not marked: %v", l)
	}
}

func TestRequestIDAndPanic(t *testing.T) {
	e := newEnv(t)
	req, _ := http.NewRequest("GET", e.srv.URL+"/v1/tenants", nil)
	req.Header.Set("Authorization", "Bearer "+opToken)
	req.Header.Set(RequestIDHeader, "abc-123")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get(RequestIDHeader); got != "abc-123" {
		t.Errorf("request id %q, want the caller's", got)
	}
	req.Header.Set(RequestIDHeader, "bad id\x01")
	resp, err = http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
		if got := resp.Header.Get(RequestIDHeader); !strings.HasPrefix(got, "req_") {
			t.Errorf("generated request id %q", got)
		}
	}

	h := e.s.requestID(e.s.accessLog(e.s.recoverPanic(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("secret internals")
	}))))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/x", nil))
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "secret") {
		t.Errorf("panic answer %d %s", rec.Code, rec.Body)
	}
	if code, _, _ := errorOf(t, rec.Body.Bytes()); code != "internal" {
		t.Errorf("panic code %q", code)
	}
}

// TestDeliveredEndToEnd runs the delivery engine behind the API: a published event reaches the receiver, signed, with
// the message id as webhook-id.
func TestDeliveredEndToEnd(t *testing.T) {
	st := newEnv(t) // for the store and helpers; a second server wires in the engine as waker
	eng, err := delivery.NewEngine(delivery.Config{Workers: 2, Logger: st.s.log}, delivery.Deps{
		Queue: st.store, Messages: st.store, Endpoints: st.store,
		Client: egress.NewClient(egress.ClientConfig{Policy: testPolicy}),
	})
	if err != nil {
		t.Fatal(err)
	}
	s, err := newServer(Config{OperatorToken: opToken, Logger: st.s.log}, testDeps(st.store, testPolicy, eng))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.handler())
	defer srv.Close()
	e := &env{t: t, srv: srv, s: s, store: st.store}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	defer func() { cancel(); <-done }()

	tok := e.tenant("acme")
	rc := okReceiver(t)
	ep := e.endpoint("acme", tok, map[string]any{"url": rc.URL, "headers": map[string]string{"X-Team": "blue"}})
	secret := e.must(200, "GET", "/v1/tenants/acme/endpoints/"+ep+"/secret", tok, nil)["keys"].([]any)[0].(map[string]any)["secret"].(string)
	id := e.must(202, "POST", "/v1/tenants/acme/events", opToken, `{"type":"device.enrolled","data":{"device":"d1"}}`)["id"].(string)

	select {
	case r := <-rc.got:
		if got := r.Header.Get("Webhook-Id"); got != id {
			t.Errorf("webhook-id %q, want %q", got, id)
		}
		if r.Header.Get("X-Team") != "blue" {
			t.Errorf("custom header missing")
		}
		key, err := signing.ParseSecret(secret)
		if err != nil {
			t.Fatal(err)
		}
		var body bytes.Buffer
		body.ReadFrom(r.Body)
		var ts int64
		fmt.Sscan(r.Header.Get("Webhook-Timestamp"), &ts)
		want, _ := signing.Sign(id, ts, body.Bytes(), key)
		if r.Header.Get("Webhook-Signature") != want {
			t.Errorf("signature %q, want %q", r.Header.Get("Webhook-Signature"), want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery within 10s")
	}
}
