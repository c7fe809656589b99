package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/webhookd/webhookd/wire"
)

// plainEvents are publish bodies in the form clients send, each of which decodeFast must read itself.
var plainEvents = []string{
	`{"type":"device.enrolled","data":{"device_id":"d1","n":1},"id":"evt-1"}`,
	`{"type":"a.b"}`,
	`{}`,
	" \n{ \"type\" : \"a.b\" ,\n \"data\" : [1, \"x\", {\"y\": null}] , \"id\":\"k\" } \n",
	`{"type":"a.b","data":"text","timestamp":"2026-12-05T10:00:00Z","schema_version":3,"ordering_key":"dev-7"}`,
	`{"type":"a.b","data":-1.5e3,"schema_version":0}`,
	`{"type":"caf` + "\u00e9" + `","data":{"name":"日本"}}`,
	`{"type":"a.b","data":true}`,
}

// otherBodies are bodies decodeFast leaves to json.Decoder: valid ones in a form it does not read, and invalid ones.
var otherBodies = []string{
	`{"type":"a\u002eb"}`, `{"Type":"a.b"}`, `{"type":null}`, `{"data":null}`, `{"type":"a.b","extra":1}`,
	`{"type":"a.b"} {}`, `{"type":"a.b"`, `{"type":"a.b",}`, `{"schema_version":1.0}`, `{"schema_version":1e2}`,
	`{"schema_version":01}`, `{"schema_version":12345678901}`, `{"timestamp":null}`, `{"data":{"a":}}`, `[]`, ``,
	"{\"type\":\"a\xffb\"}", "{\"type\":\"a\tb\"}", `{"type":1}`, `{"data":[1,2}`,
}

// slowDecode is decodeBody's general path, which decodeFast must agree with.
func slowDecode[T any](raw []byte) (T, error) {
	var v T
	err := decodeJSON(raw, &v)
	return v, err
}

// agree checks decodeFast against json.Decoder on raw and reports whether decodeFast read it.
func agree[T any](t *testing.T, raw []byte) bool {
	t.Helper()
	var fast T
	if !decodeFast(raw, &fast) {
		if !reflect.ValueOf(fast).IsZero() {
			t.Fatalf("decodeFast(%q) reported false but wrote %+v", raw, fast)
		}
		return false
	}
	slow, err := slowDecode[T](raw)
	if err != nil {
		t.Fatalf("decodeFast read %q, which json.Decoder refuses: %v", raw, err)
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Fatalf("decodeFast(%q)\n = %+v\nwant %+v", raw, fast, slow)
	}
	return true
}

func TestDecodeFastReadsPlainBodies(t *testing.T) {
	for _, s := range plainEvents {
		if !agree[wire.Event](t, []byte(s)) {
			t.Errorf("decodeFast left a plain body to json.Decoder: %s", s)
		}
	}
	// What the Go client sends.
	ts := "2026-12-05T10:00:00.123Z"
	b, _ := json.Marshal(wire.Event{Type: "device.enrolled", Data: json.RawMessage(`{"a":[1,2]}`), ID: "evt-9", Timestamp: &ts, SchemaVersion: 2, OrderingKey: "dev-1"})
	if !agree[wire.Event](t, b) {
		t.Errorf("decodeFast left the client's body to json.Decoder: %s", b)
	}
	batch := `{"events":[` + strings.Join(plainEvents[:3], ",") + `]}`
	if !agree[wire.Batch](t, []byte(batch)) {
		t.Errorf("decodeFast left a plain batch to json.Decoder: %s", batch)
	}
	if !agree[wire.Batch](t, []byte(` { "events" : [ ] } `)) {
		t.Error("decodeFast left an empty batch to json.Decoder")
	}
}

func TestDecodeFastLeavesTheRest(t *testing.T) {
	for _, s := range otherBodies {
		if agree[wire.Event](t, []byte(s)) {
			t.Errorf("decodeFast read %q", s)
		}
	}
	for _, s := range []string{`{"events":null}`, `{"events":[{"type":"a"}],"x":1}`, `{"events":[{"type":"a"},]}`, `{"Events":[]}`} {
		if agree[wire.Batch](t, []byte(s)) {
			t.Errorf("decodeFast read %q", s)
		}
	}
}

// FuzzDecodeEvent: wherever decodeFast reads a body, json.Decoder reads the same event from it.
func FuzzDecodeEvent(f *testing.F) {
	for _, s := range append(plainEvents, otherBodies...) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		agree[wire.Event](t, raw)
	})
}

// FuzzDecodeBatch is FuzzDecodeEvent for batch bodies.
func FuzzDecodeBatch(f *testing.F) {
	for _, s := range append(plainEvents, otherBodies...) {
		f.Add([]byte(`{"events":[` + s + `]}`))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		agree[wire.Batch](t, raw)
	})
}

func BenchmarkDecodePublishBody(b *testing.B) {
	raw := []byte(`{"type":"device.enrolled","id":"evt-000123","data":{"device_id":"dev_01j9zq3k8m","serial":"C02XK1ABJG5J","model":"iPhone 16","os":{"name":"iOS","version":"18.2"},"tags":["kiosk","retail"],"battery":0.87,"compliant":true}}`)
	b.Run("json.Decoder", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var ev wire.Event
			if err := decodeJSON(raw, &ev); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decodeFast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var ev wire.Event
			if !decodeFast(raw, &ev) {
				b.Fatal("not read")
			}
		}
	})
}

// TestWritePublishedIsWriteJSON: the publish answer has the bytes and headers writeJSON gives it, for ids that are
// written as they are and for one that needs escaping.
func TestWritePublishedIsWriteJSON(t *testing.T) {
	for _, p := range []wire.Published{
		{ID: "msg_2qXzJ8d9Hk3LmN4pQr5sTu6vWx7", Fanout: 3},
		{ID: "msg_a", Fanout: 0, Duplicate: true},
		{ID: "m<&>\"\\\x01é", Fanout: -1},
		{ID: "", Fanout: 1 << 40},
	} {
		want, got := httptest.NewRecorder(), httptest.NewRecorder()
		writeJSON(want, http.StatusAccepted, p)
		writePublished(got, p)
		if got.Code != want.Code || got.Body.String() != want.Body.String() || !reflect.DeepEqual(got.Header(), want.Header()) {
			t.Errorf("writePublished(%+v) = %d %v %q, want %d %v %q", p, got.Code, got.Header(), got.Body,
				want.Code, want.Header(), want.Body)
		}
	}
}
