package wire_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/webhookd/webhookd/wire"
)

func TestHelpers(t *testing.T) {
	if got := string(wire.Duration(1500 * time.Millisecond)); got != `"1.5s"` {
		t.Errorf("Duration = %s", got)
	}
	at := time.Date(2026, 4, 15, 12, 0, 0, 500, time.FixedZone("", 2*3600))
	if got := *wire.Time(at); got != "2026-04-15T12:00:00.0000005+02:00" {
		t.Errorf("Time = %s", got)
	}
	b, _ := json.Marshal(wire.NewList[wire.Tenant](nil, ""))
	if string(b) != `{"data":[]}` {
		t.Errorf("an empty list encodes as %s", b)
	}
}

// TestRequestsOmitAbsent: a request built by a client sends only the fields it sets, so that the API's defaults (on
// create) and "unchanged" (on update) apply to the rest.
func TestRequestsOmitAbsent(t *testing.T) {
	desc := ""
	for _, c := range []struct {
		v    any
		want string
	}{
		{wire.EndpointRequest{}, `{}`},
		{wire.EndpointRequest{Description: &desc, Events: &[]string{}}, `{"description":"","events":[]}`},
		{wire.Event{Type: "a"}, `{"type":"a"}`},
		{wire.Rotate{}, `{}`},
		{wire.TestEvent{}, `{}`},
		{wire.CreateTenant{Name: "n"}, `{"name":"n"}`},
	} {
		b, err := json.Marshal(c.v)
		if err != nil || string(b) != c.want {
			t.Errorf("%T: %s, %v; want %s", c.v, b, err, c.want)
		}
	}
}
