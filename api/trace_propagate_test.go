package api

import (
	"net/http"
	"testing"
)

// TestEndpointTracePropagate: the endpoint's own trace propagation choice is stored, shown and changed; absent it
// is not shown (the gateway's choice applies).
func TestEndpointTracePropagate(t *testing.T) {
	e := newEnv(t)
	tok := e.tenant("acme")
	rc := newReceiver(t, http.StatusNoContent, "OPTIONS, POST")
	plain := e.endpoint("acme", tok, map[string]any{"url": rc.URL + "/a"})
	if got := e.must(200, "GET", "/v1/tenants/acme/endpoints/"+plain, tok, nil); got["trace_propagate"] != nil {
		t.Errorf("an endpoint without a choice shows %v", got["trace_propagate"])
	}
	id := e.endpoint("acme", tok, map[string]any{"url": rc.URL + "/b", "trace_propagate": false})
	if got := e.must(200, "GET", "/v1/tenants/acme/endpoints/"+id, tok, nil); got["trace_propagate"] != false {
		t.Errorf("created with false: %v", got["trace_propagate"])
	}
	e.must(200, "PATCH", "/v1/tenants/acme/endpoints/"+id, tok, map[string]any{"trace_propagate": true})
	if got := e.must(200, "GET", "/v1/tenants/acme/endpoints/"+id, tok, nil); got["trace_propagate"] != true {
		t.Errorf("patched to true: %v", got["trace_propagate"])
	}
	e.must(200, "PATCH", "/v1/tenants/acme/endpoints/"+id, tok, map[string]any{"description": "x"})
	if got := e.must(200, "GET", "/v1/tenants/acme/endpoints/"+id, tok, nil); got["trace_propagate"] != true {
		t.Errorf("a PATCH without it changed it: %v", got["trace_propagate"])
	}
}
