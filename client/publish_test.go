package client_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/webhookd/webhookd/client"
	"github.com/webhookd/webhookd/wire"
)

// TestPublishSendsDataUnchanged: Publish sends ev.Data byte for byte (encoding/json would compact it and escape
// <, > and &), and refuses data that is not JSON before sending anything.
func TestPublishSendsDataUnchanged(t *testing.T) {
	var got []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, `{"id":"msg_1","fanout":0,"duplicate":false}`)
	}))
	defer srv.Close()
	c := client.New(srv.URL, "t")
	ts := "2026-04-15T12:00:00Z"
	for _, tt := range []struct {
		ev   wire.Event
		want string
	}{
		{wire.Event{Type: "a.b", ID: "e<1>", Timestamp: &ts, Data: json.RawMessage(`{"html":"<b>&</b>",  "sp" : 1}`)},
			`{"type":"a.b","id":"e\u003c1\u003e","timestamp":"2026-04-15T12:00:00Z","data":{"html":"<b>&</b>",  "sp" : 1}}`},
		{wire.Event{Type: "a.b"}, `{"type":"a.b"}`},
	} {
		got = nil
		if _, err := c.Publish(context.Background(), "acme", tt.ev); err != nil {
			t.Fatal(err)
		}
		if string(got) != tt.want {
			t.Errorf("sent %s\nwant %s", got, tt.want)
		}
	}
	got = nil
	if _, err := c.Publish(context.Background(), "acme", wire.Event{Type: "a.b", Data: json.RawMessage(`{nope`)}); err == nil || got != nil {
		t.Errorf("invalid data: err %v, sent %q", err, got)
	}
}
