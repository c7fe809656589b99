package gateway

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/webhookd/webhookd/endpoints"
)

// A config file declares a calls endpoint like any other: created once, unchanged when applied again, its call
// settings updated in place; a kind change or events on a calls endpoint are refused.
func TestConfigCallsEndpoint(t *testing.T) {
	c := newConfigEnv(t)
	rc := handshakeOK(t)
	c.env["ACME_SECRET"] = newSecret(t)
	calls := func(tags ...string) func(ep map[string]any) {
		return func(ep map[string]any) {
			delete(ep, "events")
			ep["kind"] = "calls"
			ep["calls"] = map[string]any{"error_tags": tags,
				"schemas": map[string]any{"/webhook/apple/checkin": map[string]any{"type": "object", "required": []string{"_tag"}}}}
		}
	}
	res, err := c.apply(c.write(doc(rc.URL, calls("UnknownDevice"))))
	if err != nil || res.EndpointsCreated != 1 {
		t.Fatalf("first apply: %+v, %v", res, err)
	}
	eps := c.endpoints("acme")
	if len(eps) != 1 || !eps[0].IsCalls() || len(eps[0].Events) != 0 || eps[0].Calls == nil ||
		strings.Join(eps[0].Calls.ErrorTags, ",") != "UnknownDevice" {
		t.Fatalf("stored: %+v", eps[0])
	}
	if res, err := c.apply(c.write(doc(rc.URL, calls("UnknownDevice")))); err != nil || res.Unchanged != 1 {
		t.Fatalf("second apply: %+v, %v", res, err)
	}
	if res, err := c.apply(c.write(doc(rc.URL, calls("UnknownDevice", "Locked")))); err != nil || res.EndpointsUpdated != 1 {
		t.Fatalf("new tags: %+v, %v", res, err)
	}
	if got := c.endpoints("acme")[0].Calls.ErrorTags; strings.Join(got, ",") != "UnknownDevice,Locked" {
		t.Fatalf("tags after the update: %v", got)
	}

	// The same id as an events endpoint: refused, nothing changed.
	if _, err := c.apply(c.write(doc(rc.URL))); err == nil || !strings.Contains(err.Error(), "a kind never changes") {
		t.Fatalf("kind change: %v", err)
	}
	for name, mod := range map[string]func(map[string]any){
		"events on a calls endpoint": func(ep map[string]any) { calls()(ep); ep["events"] = []string{"*"} },
		"calls on an events endpoint": func(ep map[string]any) {
			ep["calls"] = map[string]any{"error_tags": []string{"X"}}
		},
		"unknown kind": func(ep map[string]any) { ep["kind"] = "rpc" },
		"a bad schema": func(ep map[string]any) {
			calls()(ep)
			ep["calls"] = map[string]any{"schemas": map[string]any{"/x": json.RawMessage(`{"type": 5}`)}}
		},
	} {
		if _, err := loadConfigFile(c.write(doc(rc.URL, mod)), testPolicy, c.getenv); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if eps := c.endpoints("acme"); len(eps) != 1 || eps[0].Kind != endpoints.KindCalls {
		t.Fatalf("after the refusals: %+v", eps)
	}
}
