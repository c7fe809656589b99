package msgjson

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/webhookd/webhookd/delivery"
)

// messageJSONs are heads as the stores write them, and some they never write.
func messageJSONs(t testing.TB) []string {
	t.Helper()
	at := time.Date(2026, 12, 3, 10, 32, 37, 244299954, time.UTC)
	var out []string
	for _, m := range []delivery.Message{
		{ID: "msg_2abc", TenantID: "ten_x", Type: "device.enrolled", Timestamp: at, CreatedAt: at},
		{ID: "msg_2abc", TenantID: "ten_x", Type: "device.enrolled", Timestamp: at.Truncate(time.Second),
			IdempotencyKey: "order-17", CreatedAt: at.Add(time.Millisecond)},
		{ID: "msg_2abc", TenantID: "ten_x", Type: "a.b", Timestamp: at.In(time.FixedZone("", 2*3600)),
			IdempotencyKey: "clé ✓", CreatedAt: at},
		{ID: "msg_2abc", TenantID: "ten_x", Type: "a.b", Timestamp: at, IdempotencyKey: `k"1<\`, CreatedAt: at},
		{ID: "msg_2abc", TenantID: "ten_x", Type: "a.b", Timestamp: time.Time{}, CreatedAt: at},
		{ID: "msg_2abc", TenantID: "ten_x", Type: "a.b", Timestamp: at, IdempotencyKey: "k1",
			TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", CreatedAt: at},
		{ID: "msg_2abc", TenantID: "ten_x", Type: "a.b", Timestamp: at,
			TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", CreatedAt: at},
	} {
		b, err := json.Marshal(&m)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return append(out,
		`{"id":"msg_1","tenant_id":"t","type":"a","timestamp":"2026-12-03T10:32:37Z","data":{"x":1},"created_at":"2026-12-03T10:32:37Z"}`,
		`{"tenant_id":"t","id":"msg_1","type":"a","timestamp":"2026-12-03T10:32:37Z","data":null,"created_at":"2026-12-03T10:32:37Z"}`,
		`{"id":"msg_1","tenant_id":"t","type":"a","timestamp":"2026-12-03T10:32:37.000Z","data":null,"created_at":"2026-12-03T10:32:37Z"}`,
		`{"id":"msg_1","tenant_id":"t","type":"a","timestamp":"2026-12-03T10:32:37Z","data":null,"created_at":"2026-12-03T10:32:37Z"} `,
	)
}

// TestFast: the fast path reads heads as the stores write them when nothing needs unescaping, leaves the rest
// to json.Unmarshal, and where it reads, it gives exactly json.Unmarshal's message.
func TestFast(t *testing.T) {
	for i, js := range messageJSONs(t) {
		var quick, slow delivery.Message
		ok := fast(js, &quick)
		if want := i != 3 && i < 7; ok != want { // 3 needs unescaping; from 7 on, not what the stores write
			t.Errorf("%s: fast path %v, want %v", js, ok, want)
		}
		if err := json.Unmarshal([]byte(js), &slow); err != nil {
			t.Fatal(err)
		}
		if ok && !reflect.DeepEqual(quick, slow) {
			t.Errorf("%s:\nfast %#v\njson %#v", js, quick, slow)
		}
		var got delivery.Message
		if err := Decode(js, &got); err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		if !reflect.DeepEqual(got, slow) {
			t.Errorf("Decode(%s):\n got %#v\nwant %#v", js, got, slow)
		}
	}
}

// FuzzFast: whatever the fast path accepts, json.Unmarshal reads to the same message.
func FuzzFast(f *testing.F) {
	for _, js := range messageJSONs(f) {
		f.Add(js)
	}
	f.Fuzz(func(t *testing.T, js string) {
		var quick delivery.Message
		if !fast(js, &quick) {
			return
		}
		var slow delivery.Message
		if err := json.Unmarshal([]byte(js), &slow); err != nil {
			t.Fatalf("fast path read %q, json.Unmarshal refused it: %v", js, err)
		}
		if !reflect.DeepEqual(quick, slow) {
			t.Fatalf("%q:\nfast %#v\njson %#v", js, quick, slow)
		}
	})
}

// BenchmarkDecode compares Decode with json.Unmarshal on a head as the stores write it.
func BenchmarkDecode(b *testing.B) {
	js := messageJSONs(b)[1]
	b.Run("msgjson", func(b *testing.B) {
		var m delivery.Message
		for b.Loop() {
			if err := Decode(js, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			var m delivery.Message
			if err := json.Unmarshal([]byte(js), &m); err != nil {
				b.Fatal(err)
			}
		}
	})
}
