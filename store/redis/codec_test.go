package redisstore

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/webhookd/webhookd/delivery"
)

func TestPlanRoundTrip(t *testing.T) {
	m := newMessage("tn", base)
	a := newDelivery(m, "ep_a", time.Time{})
	b := newDelivery(m, "ep_b", time.Time{})
	c := newDelivery(m, "ep_c", base.Add(time.Hour)) // differs from the template: kept in full
	d := newDelivery(m, "ep_d", time.Time{})         // no longer indexed: left out, still counted
	s, err := encodePlan([]*delivery.Delivery{a, b, c, d})
	if err != nil {
		t.Fatal(err)
	}
	plan, n, err := decodePlan(s, map[string]string{a.ID: a.EndpointID, b.ID: b.EndpointID, c.ID: c.EndpointID})
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 || len(plan) != 3 {
		t.Fatalf("n = %d, plan %d, want 4 and 3", n, len(plan))
	}
	for i, want := range []*delivery.Delivery{a, b, c} {
		got := *plan[i]
		w := *want
		if !got.CreatedAt.Equal(w.CreatedAt) || !got.UpdatedAt.Equal(w.UpdatedAt) || !got.NextAttemptAt.Equal(w.NextAttemptAt) {
			t.Fatalf("delivery %d times: got %+v want %+v", i, got, w)
		}
		got.CreatedAt, got.UpdatedAt, got.NextAttemptAt = w.CreatedAt, w.UpdatedAt, w.NextAttemptAt
		if !reflect.DeepEqual(got, w) {
			t.Fatalf("delivery %d: got %+v want %+v", i, got, w)
		}
	}
	if len(s) > 800 {
		t.Fatalf("plan of 4 is %d bytes: %s", len(s), s)
	}
}

// messageJSONs are "m" fields as messageArgs writes them, and some it never writes.
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

// TestParseMessageFast: the fast path reads what messageArgs writes when nothing needs unescaping, leaves the rest
// to json.Unmarshal, and where it reads, it gives exactly json.Unmarshal's message.
func TestParseMessageFast(t *testing.T) {
	for i, js := range messageJSONs(t) {
		var fast, slow delivery.Message
		ok := parseMessageFast(js, &fast)
		if want := i != 3 && i < 5; ok != want { // 3 needs unescaping; from 5 on, not what messageArgs writes
			t.Errorf("%s: fast path %v, want %v", js, ok, want)
		}
		if err := json.Unmarshal([]byte(js), &slow); err != nil {
			t.Fatal(err)
		}
		if ok && !reflect.DeepEqual(fast, slow) {
			t.Errorf("%s:\nfast %#v\njson %#v", js, fast, slow)
		}
		got, err := decodeMessage("msg_2abc", js, `{"n":1}`)
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		slow.Data = json.RawMessage(`{"n":1}`)
		if !reflect.DeepEqual(*got, slow) {
			t.Errorf("decodeMessage(%s):\n got %#v\nwant %#v", js, *got, slow)
		}
	}
}

// FuzzParseMessageFast: whatever the fast path accepts, json.Unmarshal reads to the same message.
func FuzzParseMessageFast(f *testing.F) {
	for _, js := range messageJSONs(f) {
		f.Add(js)
	}
	f.Fuzz(func(t *testing.T, js string) {
		var fast delivery.Message
		if !parseMessageFast(js, &fast) {
			return
		}
		var slow delivery.Message
		if err := json.Unmarshal([]byte(js), &slow); err != nil {
			t.Fatalf("fast path read %q, json.Unmarshal refused it: %v", js, err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q:\nfast %#v\njson %#v", js, fast, slow)
		}
	})
}

func BenchmarkDecodeMessage(b *testing.B) {
	js := messageJSONs(b)[1]
	for b.Loop() {
		if _, err := decodeMessage("msg_2abc", js, `{"n":1}`); err != nil {
			b.Fatal(err)
		}
	}
}
