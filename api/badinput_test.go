package api

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/webhookd/webhookd/egress"
)

// TestBadInput sends bad input to every route and checks each answer's status and {code, message, field}; then that
// no failed write left anything behind.
func TestBadInput(t *testing.T) {
	e := newEnv(t)
	tokA := e.tenant("acme")
	good := okReceiver(t)
	refusing := newReceiver(t, http.StatusMethodNotAllowed, "GET")
	ep := e.endpoint("acme", tokA, map[string]any{"url": good.URL})
	msg := e.must(202, "POST", "/v1/tenants/acme/events", opToken, map[string]any{"type": "device.enrolled"})["id"].(string)
	e.must(201, "POST", "/v1/event-types", opToken, map[string]any{"name": "device.enrolled"})

	manyHeaders := map[string]string{}
	manyMeta := map[string]string{}
	for i := range 21 {
		manyHeaders[fmt.Sprintf("X-H%d", i)] = "v"
		manyMeta[fmt.Sprintf("k%d", i)] = "v"
	}
	bigEvent := `{"type":"a.b","data":{"pad":"` + strings.Repeat("x", 300<<10) + `"}}`
	url := func(extra string) string { return `{"url":"` + good.URL + `"` + extra + `}` }
	eps := "/v1/tenants/acme/endpoints"
	epp := eps + "/" + ep

	cases := []struct {
		name         string
		method, path string
		token        string
		body         any
		status       int
		code, field  string
	}{
		// Authentication.
		{"no token", "GET", eps, "", nil, 401, "unauthorized", ""},
		{"bad token", "GET", eps, "wht_nope", nil, 401, "unauthorized", ""},
		{"wrong scheme", "GET", eps, "raw:Basic " + opToken, nil, 401, "unauthorized", ""},
		{"tenant token on operator route", "POST", "/v1/tenants", tokA, `{"name":"x"}`, 403, "forbidden", ""},
		{"tenant token publishing", "POST", "/v1/tenants/acme/events", tokA, `{"type":"a"}`, 403, "forbidden", ""},
		// Routing.
		{"unknown route", "GET", "/v1/nope", opToken, nil, 404, "not_found", ""},
		{"wrong method", "PUT", eps, opToken, nil, 405, "method_not_allowed", ""},
		{"unknown tenant", "GET", "/v1/tenants/ghost/endpoints", opToken, nil, 404, "not_found", ""},
		{"invalid id in path", "GET", eps + "/bad%20id", opToken, nil, 404, "not_found", ""},
		// Tenants.
		{"malformed JSON", "POST", "/v1/tenants", opToken, `{"name":`, 400, "invalid_json", ""},
		{"syntax error", "POST", "/v1/tenants", opToken, `{"name" "x"}`, 400, "invalid_json", ""},
		{"empty body", "POST", "/v1/tenants", opToken, ``, 400, "invalid_json", ""},
		{"array body", "POST", "/v1/tenants", opToken, `[]`, 400, "invalid_json", ""},
		{"wrong type", "POST", "/v1/tenants", opToken, `{"name":5}`, 400, "invalid_json", "name"},
		{"unknown field", "POST", "/v1/tenants", opToken, `{"name":"x","color":"red"}`, 400, "invalid_json", "color"},
		{"trailing data", "POST", "/v1/tenants", opToken, `{"name":"x"}{}`, 400, "invalid_json", ""},
		{"no name", "POST", "/v1/tenants", opToken, `{"id":"t2"}`, 422, "validation_failed", "name"},
		{"long name", "POST", "/v1/tenants", opToken, `{"name":"` + strings.Repeat("n", 201) + `"}`, 422, "validation_failed", "name"},
		{"bad tenant id", "POST", "/v1/tenants", opToken, `{"id":"a b","name":"x"}`, 422, "validation_failed", "id"},
		{"taken tenant id", "POST", "/v1/tenants", opToken, `{"id":"acme","name":"x"}`, 409, "conflict", ""},
		{"oversize body", "POST", "/v1/tenants", opToken, `{"name":"` + strings.Repeat("n", 70<<10) + `"}`, 413, "body_too_large", ""},
		{"bad limit", "GET", "/v1/tenants?limit=0", opToken, nil, 400, "invalid_parameter", "limit"},
		{"huge limit", "GET", "/v1/tenants?limit=1000", opToken, nil, 400, "invalid_parameter", "limit"},
		// Tokens.
		{"token name type", "POST", "/v1/tenants/acme/tokens", opToken, `{"name":1}`, 400, "invalid_json", "name"},
		{"revoke unknown token", "DELETE", "/v1/tenants/acme/tokens/tok_nope", opToken, nil, 404, "not_found", ""},
		// Events.
		{"event malformed", "POST", "/v1/tenants/acme/events", opToken, `{"type":"a",`, 400, "invalid_json", ""},
		{"event no type", "POST", "/v1/tenants/acme/events", opToken, `{"data":{}}`, 422, "validation_failed", "type"},
		{"event bad type", "POST", "/v1/tenants/acme/events", opToken, `{"type":"device enrolled"}`, 422, "validation_failed", "type"},
		{"event empty segment", "POST", "/v1/tenants/acme/events", opToken, `{"type":"device..x"}`, 422, "validation_failed", "type"},
		{"event bad id", "POST", "/v1/tenants/acme/events", opToken, `{"type":"a","id":"a/b"}`, 422, "validation_failed", "id"},
		{"event long id", "POST", "/v1/tenants/acme/events", opToken, `{"type":"a","id":"` + strings.Repeat("i", 256) + `"}`, 422, "validation_failed", "id"},
		{"event bad timestamp", "POST", "/v1/tenants/acme/events", opToken, `{"type":"a","timestamp":"yesterday"}`, 422, "validation_failed", "timestamp"},
		{"event timestamp type", "POST", "/v1/tenants/acme/events", opToken, `{"type":"a","timestamp":5}`, 400, "invalid_json", "timestamp"},
		{"event unknown field", "POST", "/v1/tenants/acme/events", opToken, `{"type":"a","payload":{}}`, 400, "invalid_json", "payload"},
		{"event too large", "POST", "/v1/tenants/acme/events", opToken, bigEvent, 413, "body_too_large", ""},
		// Catalogue.
		{"type bad name", "POST", "/v1/event-types", opToken, `{"name":"a b"}`, 422, "validation_failed", "name"},
		{"type schema not object", "POST", "/v1/event-types", opToken, `{"name":"a.b","schema":[1]}`, 422, "validation_failed", "schema"},
		{"type schema type", "POST", "/v1/event-types", opToken, `{"name":"a.b","description":7}`, 400, "invalid_json", "description"},
		{"type unknown", "GET", "/v1/event-types/no.such", opToken, nil, 404, "not_found", ""},
		{"type delete unknown", "DELETE", "/v1/event-types/no.such", opToken, nil, 404, "not_found", ""},
		{"type write with tenant token", "POST", "/v1/event-types", tokA, `{"name":"a.b"}`, 403, "forbidden", ""},
		// Endpoint create.
		{"ep no url", "POST", eps, tokA, `{}`, 422, "validation_failed", "url"},
		{"ep url type", "POST", eps, tokA, `{"url":5}`, 400, "invalid_json", "url"},
		{"ep relative url", "POST", eps, tokA, `{"url":"/hook"}`, 422, "validation_failed", "url"},
		{"ep ftp url", "POST", eps, tokA, `{"url":"ftp://example.com/"}`, 422, "forbidden_url", "url"},
		{"ep userinfo", "POST", eps, tokA, `{"url":"http://u:p@127.0.0.1/"}`, 422, "validation_failed", "url"},
		{"ep unspecified address", "POST", eps, tokA, `{"url":"http://0.0.0.0:1/"}`, 422, "forbidden_url", "url"},
		{"ep handshake refused", "POST", eps, tokA, `{"url":"` + refusing.URL + `"}`, 422, "handshake_failed", "url"},
		{"ep unknown field", "POST", eps, tokA, url(`,"secrets":"x"`), 400, "invalid_json", "secrets"},
		{"ep events empty", "POST", eps, tokA, url(`,"events":[]`), 422, "validation_failed", "events"},
		{"ep events bad", "POST", eps, tokA, url(`,"events":["device.*.x"]`), 422, "validation_failed", "events"},
		{"ep events type", "POST", eps, tokA, url(`,"events":"*"`), 400, "invalid_json", "events"},
		{"ep profile", "POST", eps, tokA, url(`,"profile":"svix"`), 422, "validation_failed", "profile"},
		{"ep signing", "POST", eps, tokA, url(`,"signing":"rsa"`), 422, "validation_failed", "signing"},
		{"ep ed25519 mender", "POST", eps, tokA, url(`,"profile":"mender","signing":"ed25519"`), 422, "validation_failed", "signing"},
		{"ep secret short", "POST", eps, tokA, url(`,"secret":"whsec_c2hvcnQ="`), 422, "validation_failed", "secret"},
		{"ep secret mender not hex", "POST", eps, tokA, url(`,"profile":"mender","secret":"xyz1"`), 422, "validation_failed", "secret"},
		{"ep secret kind", "POST", eps, tokA, url(`,"signing":"hmac","secret":"whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg=="`), 422, "validation_failed", "secret"},
		{"ep header webhook", "POST", eps, tokA, url(`,"headers":{"Webhook-Signature":"x"}`), 422, "validation_failed", "headers"},
		{"ep header openmdm", "POST", eps, tokA, url(`,"headers":{"x-openmdm-event":"x"}`), 422, "validation_failed", "headers"},
		{"ep header mender", "POST", eps, tokA, url(`,"headers":{"X-Men-Signature":"x"}`), 422, "validation_failed", "headers"},
		{"ep header host", "POST", eps, tokA, url(`,"headers":{"Host":"evil"}`), 422, "validation_failed", "headers"},
		{"ep header proxy", "POST", eps, tokA, url(`,"headers":{"Proxy-Authorization":"x"}`), 422, "validation_failed", "headers"},
		{"ep header content-type", "POST", eps, tokA, url(`,"headers":{"content-type":"text/plain"}`), 422, "validation_failed", "headers"},
		{"ep header te", "POST", eps, tokA, url(`,"headers":{"TE":"trailers"}`), 422, "validation_failed", "headers"},
		{"ep header crlf", "POST", eps, tokA, url(`,"headers":{"X-A":"a\r\nX-B: b"}`), 422, "validation_failed", "headers"},
		{"ep header name", "POST", eps, tokA, url(`,"headers":{"X A":"a"}`), 422, "validation_failed", "headers"},
		{"ep header case dup", "POST", eps, tokA, url(`,"headers":{"X-A":"a","x-a":"b"}`), 422, "validation_failed", "headers"},
		{"ep header value type", "POST", eps, tokA, url(`,"headers":{"X-A":1}`), 400, "invalid_json", "headers"},
		{"ep too many headers", "POST", eps, tokA, map[string]any{"url": good.URL, "headers": manyHeaders}, 422, "validation_failed", "headers"},
		{"ep rate negative", "POST", eps, tokA, url(`,"rate_limit":-1`), 422, "validation_failed", "rate_limit"},
		{"ep rate below one per hour", "POST", eps, tokA, url(`,"rate_limit":1e-300`), 422, "validation_failed", "rate_limit"},
		{"ep rate above max", "POST", eps, tokA, url(`,"rate_limit":10001`), 422, "validation_failed", "rate_limit"},
		{"ep rate type", "POST", eps, tokA, url(`,"rate_limit":"fast"`), 400, "invalid_json", "rate_limit"},
		{"ep timeout small", "POST", eps, tokA, url(`,"timeout":"10ms"`), 422, "validation_failed", "timeout"},
		{"ep timeout large", "POST", eps, tokA, url(`,"timeout":31000`), 422, "validation_failed", "timeout"},
		{"ep timeout syntax", "POST", eps, tokA, url(`,"timeout":"soon"`), 422, "validation_failed", "timeout"},
		{"ep timeout type", "POST", eps, tokA, url(`,"timeout":true`), 400, "invalid_json", "timeout"},
		{"ep too much metadata", "POST", eps, tokA, map[string]any{"url": good.URL, "metadata": manyMeta}, 422, "validation_failed", "metadata"},
		{"ep description", "POST", eps, tokA, url(`,"description":"` + strings.Repeat("d", 1025) + `"`), 422, "validation_failed", "description"},
		// Endpoint update and actions.
		{"patch malformed", "PATCH", epp, tokA, `{`, 400, "invalid_json", ""},
		{"patch unknown field", "PATCH", epp, tokA, `{"id":"x"}`, 400, "invalid_json", "id"},
		{"patch events empty", "PATCH", epp, tokA, `{"events":[]}`, 422, "validation_failed", "events"},
		{"patch bad header", "PATCH", epp, tokA, `{"headers":{"Connection":"close"}}`, 422, "validation_failed", "headers"},
		{"patch secret alone", "PATCH", epp, tokA, `{"secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}`, 422, "validation_failed", "secret"},
		{"patch url refused", "PATCH", epp, tokA, `{"url":"` + refusing.URL + `"}`, 422, "handshake_failed", "url"},
		{"patch unknown endpoint", "PATCH", eps + "/ep_nope", tokA, `{}`, 404, "not_found", ""},
		{"rotate grace negative", "POST", epp + "/rotate", tokA, `{"grace":"-1s"}`, 422, "validation_failed", "grace"},
		{"rotate grace syntax", "POST", epp + "/rotate", tokA, `{"grace":"later"}`, 422, "validation_failed", "grace"},
		{"rotate bad secret", "POST", epp + "/rotate", tokA, `{"secret":"nope"}`, 422, "validation_failed", "secret"},
		{"rotate unknown field", "POST", epp + "/rotate", tokA, `{"key":"x"}`, 400, "invalid_json", "key"},
		{"test data type", "POST", epp + "/test", tokA, `{"data":`, 400, "invalid_json", ""},
		{"recover no since", "POST", epp + "/recover", tokA, `{}`, 422, "validation_failed", "since"},
		{"recover bad since", "POST", epp + "/recover", tokA, `{"since":"last week"}`, 422, "validation_failed", "since"},
		{"enable with body", "POST", epp + "/enable", tokA, `{"force":true}`, 400, "invalid_json", "force"},
		{"secret unknown endpoint", "GET", eps + "/ep_nope/secret", tokA, nil, 404, "not_found", ""},
		// Log.
		{"replay no endpoint", "POST", "/v1/tenants/acme/messages/" + msg + "/replay", tokA, `{}`, 422, "validation_failed", "endpoint_id"},
		{"replay unknown endpoint", "POST", "/v1/tenants/acme/messages/" + msg + "/replay", tokA, `{"endpoint_id":"ep_nope"}`, 404, "not_found", ""},
		{"replay unknown message", "POST", "/v1/tenants/acme/messages/msg_nope/replay", tokA, `{"endpoint_id":"` + ep + `"}`, 404, "not_found", ""},
		{"message unknown", "GET", "/v1/tenants/acme/messages/msg_nope", tokA, nil, 404, "not_found", ""},
		{"delivery unknown", "GET", "/v1/tenants/acme/deliveries/dlv_nope", tokA, nil, 404, "not_found", ""},
		{"deliveries bad status", "GET", "/v1/tenants/acme/deliveries?status=lost", tokA, nil, 400, "invalid_parameter", "status"},
		{"deliveries bad since", "GET", "/v1/tenants/acme/deliveries?since=yesterday", tokA, nil, 400, "invalid_parameter", "since"},
		{"deliveries bad endpoint", "GET", "/v1/tenants/acme/deliveries?endpoint=a%00b", tokA, nil, 400, "invalid_parameter", "endpoint"},
		{"endpoint deliveries bad until", "GET", epp + "/deliveries?until=x", tokA, nil, 400, "invalid_parameter", "until"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, body := e.do(c.method, c.path, c.token, c.body)
			if status != c.status {
				t.Fatalf("status %d, want %d; body %s", status, c.status, body)
			}
			code, field, _ := errorOf(t, body)
			if code != c.code || field != c.field {
				t.Errorf("code %q field %q, want %q %q; body %s", code, field, c.code, c.field, body)
			}
		})
	}

	// Nothing half-written: only the one good endpoint, the one message, the one tenant and type exist.
	if got := e.must(200, "GET", eps, tokA, nil)["data"].([]any); len(got) != 1 {
		t.Errorf("after failed creates, %d endpoints listed, want 1", len(got))
	}
	cur := e.must(200, "GET", epp, tokA, nil)
	if cur["url"] != good.URL || len(cur["headers"].(map[string]any)) != 0 {
		t.Errorf("failed updates changed the endpoint: %v", cur)
	}
	if got := e.must(200, "GET", "/v1/tenants", opToken, nil)["data"].([]any); len(got) != 1 {
		t.Errorf("%d tenants, want 1", len(got))
	}
	if got := e.must(200, "GET", "/v1/tenants/acme/deliveries", tokA, nil)["data"].([]any); len(got) != 1 {
		t.Errorf("%d deliveries, want 1", len(got))
	}
	if got := e.must(200, "GET", "/v1/event-types", tokA, nil)["data"].([]any); len(got) != 1 {
		t.Errorf("%d event types, want 1", len(got))
	}
}

// TestURLPolicy checks that the configured policy decides which URLs an endpoint may have.
func TestURLPolicy(t *testing.T) {
	rc := okReceiver(t) // http://127.0.0.1:port
	for _, c := range []struct {
		name   string
		policy egress.Policy
		code   string
	}{
		{"private forbidden", egress.Policy{AllowHTTP: true}, "forbidden_url"},
		{"https only (default)", egress.Policy{}, "forbidden_url"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, func(cfg *testConfig) { cfg.URLPolicy = c.policy })
			tok := e.tenant("acme")
			status, body := e.do("POST", "/v1/tenants/acme/endpoints", tok, map[string]any{"url": rc.URL})
			code, field, _ := errorOf(t, body)
			if status != 422 || code != c.code || field != "url" {
				t.Fatalf("got %d %s %s, want 422 %s url; %s", status, code, field, c.code, body)
			}
			if got := e.must(200, "GET", "/v1/tenants/acme/endpoints", tok, nil)["data"].([]any); len(got) != 0 {
				t.Errorf("a refused endpoint was stored")
			}
		})
	}
	if n := len(rc.posts); n != 0 {
		t.Errorf("receiver got %d POSTs", n)
	}
}
