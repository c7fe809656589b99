package recjson

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the zones below, wherever the tests run

	"github.com/webhookd/webhookd/delivery"
)

// escapes has a string of every kind appendString treats apart.
var escapes = []string{
	"",
	"plain ascii, digits 0123 and punctuation !#$%'()*+,-./:;=?@[]^_`{|}~",
	`quote " and backslash \ and slash /`,
	"<script>alert('x') && 1 > 0</script>",
	"\b\f\n\r\t",
	"\x00\x01\x02\x07\x0b\x0e\x1f\x7f", // \u00XX, and DEL, which is copied
	"clé ✓ 日本語 😀",
	"\xff\xfe bad \xc3 bytes \xe2\x80", // invalid and truncated UTF-8
	"\ufffd as it is",
	"line\u2028separator\u2029paragraph",
	"\u2027\u202a near the separators",
	strings.Repeat("long & <mixed> \u2028 text\n", 20),
}

// zones puts times in UTC, fixed offsets east and west (whole hours, half hours), a named zone, and a historical
// offset with seconds (Amsterdam's +00:19:32 before 1937), which MarshalJSON writes as +00:19.
func zones(t testing.TB) []*time.Location {
	t.Helper()
	out := []*time.Location{time.UTC, time.FixedZone("", 2*3600), time.FixedZone("IST", 5*3600+1800),
		time.FixedZone("", -(9*3600 + 30*60)), time.FixedZone("", -45), time.FixedZone("", 23*3600+59*60+59)}
	for _, name := range []string{"America/New_York", "Europe/Amsterdam"} {
		loc, err := time.LoadLocation(name)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, loc)
	}
	return out
}

// times are instants with and without nanoseconds (and with trailing zeros to trim), in every zone.
func times(t testing.TB) []time.Time {
	t.Helper()
	var out []time.Time
	for _, loc := range zones(t) {
		for _, at := range []time.Time{
			time.Date(2026, 12, 3, 10, 32, 37, 0, time.UTC),
			time.Date(2026, 12, 3, 10, 32, 37, 244299954, time.UTC),
			time.Date(2026, 12, 3, 10, 32, 37, 120000000, time.UTC),
			time.Date(2026, 6, 30, 23, 59, 59, 1, time.UTC),
			time.Date(1900, 1, 1, 0, 0, 0, 500, time.UTC),
			time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
			time.Date(9999, 12, 31, 12, 0, 0, 999999999, time.UTC),
		} {
			out = append(out, at.In(loc))
		}
	}
	return out
}

func deliveries(t testing.TB) []delivery.Delivery {
	t.Helper()
	at := time.Date(2026, 12, 3, 10, 32, 37, 244299954, time.UTC)
	full := delivery.Delivery{ID: "dlv_1", TenantID: "ten_x", MessageID: "msg_1", EndpointID: "ep_1",
		EventType: "device.enrolled", Status: delivery.StatusDead, Attempts: 7, NextAttemptAt: at.Add(time.Minute),
		LastCode: 503, LastError: "503 Service Unavailable", CreatedAt: at, UpdatedAt: at.Add(time.Hour),
		OrderingKey: "device-9", WaitingOn: "dlv_0", Blocked: true}
	out := []delivery.Delivery{
		{},
		{ID: "dlv_1", TenantID: "ten_x", MessageID: "msg_1", EndpointID: "ep_1", EventType: "device.enrolled",
			Status: delivery.StatusPending, NextAttemptAt: at, CreatedAt: at, UpdatedAt: at},
		full,
		// Numbers at their edges; a negative code is not empty.
		{Attempts: -1, LastCode: -1},
		{Attempts: 1<<63 - 1, LastCode: -1 << 63},
		// The zero instant in another zone is still zero to omitzero; one nanosecond later is not.
		{NextAttemptAt: time.Time{}.In(time.FixedZone("", 3600))},
		{NextAttemptAt: time.Time{}.Add(1)},
	}
	// Every optional field alone, set and unset.
	for _, set := range []func(*delivery.Delivery){
		func(d *delivery.Delivery) { d.NextAttemptAt = time.Time{} },
		func(d *delivery.Delivery) { d.LastCode = 0 },
		func(d *delivery.Delivery) { d.LastError = "" },
		func(d *delivery.Delivery) { d.OrderingKey = "" },
		func(d *delivery.Delivery) { d.WaitingOn = "" },
		func(d *delivery.Delivery) { d.Blocked = false },
	} {
		d := full
		set(&d)
		out = append(out, d, onlyCleared(full, d))
	}
	for _, s := range escapes {
		out = append(out, delivery.Delivery{ID: s, TenantID: s, MessageID: s, EndpointID: s, EventType: s,
			Status: delivery.Status(s), LastError: s, OrderingKey: s, WaitingOn: s, CreatedAt: at, UpdatedAt: at})
	}
	for _, tm := range times(t) {
		out = append(out, delivery.Delivery{ID: "dlv_t", NextAttemptAt: tm, CreatedAt: tm, UpdatedAt: tm.Add(1500)})
	}
	return out
}

// onlyCleared returns a record with nothing set but the fields that differ between full and cleared, as in full.
func onlyCleared(full, cleared delivery.Delivery) delivery.Delivery {
	var lone delivery.Delivery
	lv, fv, cv := reflect.ValueOf(&lone).Elem(), reflect.ValueOf(full), reflect.ValueOf(cleared)
	for i := range fv.NumField() {
		if !fv.Field(i).Equal(cv.Field(i)) {
			lv.Field(i).Set(fv.Field(i))
		}
	}
	return lone
}

func attempts(t testing.TB) []delivery.Attempt {
	t.Helper()
	at := time.Date(2026, 12, 3, 10, 32, 37, 244299954, time.UTC)
	full := delivery.Attempt{DeliveryID: "dlv_1", N: 3, At: at, StatusCode: 500, Latency: 1234567 * time.Microsecond,
		Error: "500 Internal Server Error", Response: `{"error":"boom"}`, Outcome: "retry",
		Request: map[string]string{"content-type": "application/json", "webhook-id": "msg_1",
			"webhook-timestamp": "1796293957", "webhook-signature": "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4="}}
	out := []delivery.Attempt{
		{},
		full,
		{DeliveryID: "dlv_1", N: 1, At: at, Latency: -time.Second, Outcome: "gone"},
		{N: -1 << 63, StatusCode: 1<<63 - 1, Latency: 1<<63 - 1},
		{Request: map[string]string{}},         // empty: omitted like nil
		{Request: map[string]string{"": ""}},   // one empty key: not empty
		{Request: map[string]string{"a": "1"}}, // one key
		{Request: map[string]string{"b": "2", "a": "1", "B": "3", "ab": "4", "a\x00": "5", "é": "6", "<": ">"}},
	}
	big := map[string]string{}
	for i := range 40 { // more keys than fit on the stack
		big[strings.Repeat("k", i%7)+string(rune('a'+i%26))+string(rune('0'+i/26))] = escapes[i%len(escapes)]
	}
	out = append(out, delivery.Attempt{DeliveryID: "dlv_big", Request: big})
	for _, set := range []func(*delivery.Attempt){
		func(a *delivery.Attempt) { a.StatusCode = 0 },
		func(a *delivery.Attempt) { a.Error = "" },
		func(a *delivery.Attempt) { a.Response = "" },
		func(a *delivery.Attempt) { a.Request = nil },
	} {
		a := full
		set(&a)
		out = append(out, a)
	}
	for _, s := range escapes {
		out = append(out, delivery.Attempt{DeliveryID: s, At: at, Error: s, Response: s, Outcome: s,
			Request: map[string]string{s: s, "x" + s: s + "x"}})
	}
	for _, tm := range times(t) {
		out = append(out, delivery.Attempt{DeliveryID: "dlv_t", N: 1, At: tm, Outcome: "success"})
	}
	return out
}

// TestAppendDelivery compares every table record with json.Marshal, byte for byte, appended to nothing and to
// bytes already there (which must be kept).
func TestAppendDelivery(t *testing.T) {
	for _, d := range deliveries(t) {
		checkSame(t, &d, AppendDelivery)
	}
}

func TestAppendAttempt(t *testing.T) {
	for _, a := range attempts(t) {
		checkSame(t, &a, AppendAttempt)
	}
}

// checkSame fails t unless appendRec writes v as json.Marshal does, or fails where it fails.
func checkSame[T any](t *testing.T, v *T, appendRec func([]byte, *T) ([]byte, error)) {
	t.Helper()
	want, wantErr := json.Marshal(v)
	for _, prefix := range []string{"", "prefix "} {
		got, err := appendRec([]byte(prefix), v)
		if (err != nil) != (wantErr != nil) || err != nil && err.Error() != wantErr.Error() {
			t.Fatalf("%+v: error %v, json.Marshal's %v", v, err, wantErr)
		}
		if err != nil {
			continue
		}
		if !bytes.Equal(got, append([]byte(prefix), want...)) {
			t.Fatalf("%+v:\n got %s\nwant %s%s", v, got, prefix, want)
		}
	}
}

// TestEveryField sets every field of both types by reflection: a field added to delivery.Delivery or
// delivery.Attempt that this package does not write fails here (TestAppendMessage does the same for a message).
func TestEveryField(t *testing.T) {
	var d delivery.Delivery
	fill(t, reflect.ValueOf(&d).Elem())
	checkSame(t, &d, AppendDelivery)
	var a delivery.Attempt
	fill(t, reflect.ValueOf(&a).Elem())
	checkSame(t, &a, AppendAttempt)
}

func fill(t *testing.T, v reflect.Value) {
	t.Helper()
	timeType := reflect.TypeFor[time.Time]()
	for i := range v.NumField() {
		f, name := v.Field(i), v.Type().Field(i).Name
		switch {
		case f.Type() == timeType:
			f.Set(reflect.ValueOf(time.Date(2026, 1, 2, 3, 4, 5, 6+i, time.FixedZone("", 3600*i))))
		case f.Kind() == reflect.String:
			f.SetString("v-" + name)
		case f.Kind() == reflect.Int || f.Kind() == reflect.Int64:
			f.SetInt(int64(100 + i))
		case f.Kind() == reflect.Bool:
			f.SetBool(true)
		case f.Type() == reflect.TypeFor[json.RawMessage]():
			// a message's data: the stores write the head without it (AppendMessage takes nil data itself)
		case f.Type() == reflect.TypeFor[map[string]string]():
			f.Set(reflect.ValueOf(map[string]string{"k-" + name: "v", "a-" + name: "w"}))
		default:
			t.Fatalf("%s.%s is a %s: teach recjson to write it", v.Type(), name, f.Type())
		}
	}
}

// unwritable are times json.Marshal refuses.
func unwritable() []time.Time {
	ok := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return []time.Time{
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		ok.In(time.FixedZone("", 24*3600)),
		ok.In(time.FixedZone("", -24*3600)),
		ok.In(time.FixedZone("", 100*3600)),
		time.Date(9999, 12, 31, 23, 0, 0, 0, time.FixedZone("", -2*3600)).UTC(), // the year turns in UTC
	}
}

// TestUnwritableTimes: where json.Marshal fails (a time RFC 3339 has no room for), the error is its error.
func TestUnwritableTimes(t *testing.T) {
	ok := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tm := range unwritable() {
		if _, err := json.Marshal(tm); err == nil {
			t.Fatalf("json.Marshal(%v) did not fail: pick another time", tm)
		}
		for _, d := range []delivery.Delivery{{NextAttemptAt: tm, CreatedAt: ok}, {CreatedAt: tm}, {UpdatedAt: tm}} {
			checkSame(t, &d, AppendDelivery)
		}
		checkSame(t, &delivery.Attempt{At: tm}, AppendAttempt)
	}
}

// raceEnabled is set under the race detector (race_test.go).
var raceEnabled bool

// TestOneAllocation: a usual record appended to nil costs one allocation, the record's own bytes.
func TestOneAllocation(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	d, a := benchDelivery(), benchAttempt()
	if n := testing.AllocsPerRun(100, func() { _, _ = AppendDelivery(nil, &d) }); n != 1 {
		t.Errorf("AppendDelivery: %v allocations, want 1", n)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = AppendAttempt(nil, &a) }); n != 1 {
		t.Errorf("AppendAttempt: %v allocations, want 1", n)
	}
}

// fuzzTime builds a time from fuzzed parts: seconds from the Unix epoch and nanoseconds (any: time.Unix
// normalizes), and a fixed zone of any offset, in seconds; sec 0 is the zero time.
func fuzzTime(sec, nsec int64, offset int32) time.Time {
	if sec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, nsec).In(time.FixedZone("", int(offset)))
}

func FuzzAppendDelivery(f *testing.F) {
	for _, d := range deliveries(f) {
		_, off := d.CreatedAt.Zone()
		f.Add(d.ID, d.TenantID, d.EventType, string(d.Status), d.LastError, d.OrderingKey, d.Attempts, d.LastCode,
			d.Blocked, d.CreatedAt.Unix(), int64(d.CreatedAt.Nanosecond()), int32(off), d.NextAttemptAt.Unix())
	}
	f.Add("x", "y", "z", "pending", "", "", 0, 0, false, int64(-62135596800), int64(0), int32(0), int64(0))
	for _, tm := range unwritable() {
		_, off := tm.Zone()
		f.Add("x", "", "", "", "", "", 1, 0, false, tm.Unix(), int64(tm.Nanosecond()), int32(off), int64(0))
	}
	f.Fuzz(func(t *testing.T, id, tenant, typ, status, lastErr, key string, attempts, code int, blocked bool,
		sec, nsec int64, offset int32, nextSec int64) {
		created := fuzzTime(sec, nsec, offset)
		d := delivery.Delivery{ID: id, TenantID: tenant, MessageID: typ + id, EndpointID: tenant + key, EventType: typ,
			Status: delivery.Status(status), Attempts: attempts, NextAttemptAt: fuzzTime(nextSec, nsec/3, offset/7),
			LastCode: code, LastError: lastErr, CreatedAt: created, UpdatedAt: created.Add(time.Duration(nsec)),
			OrderingKey: key, WaitingOn: lastErr + key, Blocked: blocked}
		checkSame(t, &d, AppendDelivery)
	})
}

func FuzzAppendAttempt(f *testing.F) {
	for _, a := range attempts(f) {
		_, off := a.At.Zone()
		var req []string
		for k, v := range a.Request {
			req = append(req, k, v)
		}
		f.Add(a.DeliveryID, a.Error, a.Response, a.Outcome, strings.Join(req, "\x00"), a.N, a.StatusCode,
			int64(a.Latency), a.At.Unix(), int64(a.At.Nanosecond()), int32(off))
	}
	for _, tm := range unwritable() {
		_, off := tm.Zone()
		f.Add("x", "", "", "", "", 1, 0, int64(0), tm.Unix(), int64(tm.Nanosecond()), int32(off))
	}
	f.Fuzz(func(t *testing.T, id, errText, resp, outcome, request string, n, code int, latency, sec, nsec int64,
		offset int32) {
		a := delivery.Attempt{DeliveryID: id, N: n, At: fuzzTime(sec, nsec, offset), StatusCode: code,
			Latency: time.Duration(latency), Error: errText, Response: resp, Outcome: outcome}
		if request != "" { // NUL-separated keys and values; an odd one out is a key with an empty value
			a.Request = map[string]string{}
			parts := strings.Split(request, "\x00")
			for i := 0; i < len(parts); i += 2 {
				if i+1 < len(parts) {
					a.Request[parts[i]] = parts[i+1]
				} else {
					a.Request[parts[i]] = ""
				}
			}
		}
		checkSame(t, &a, AppendAttempt)
	})
}

// benchDelivery and benchAttempt are records as the engine writes them.
func benchDelivery() delivery.Delivery {
	at := time.Date(2026, 12, 3, 10, 32, 37, 244299954, time.UTC)
	return delivery.Delivery{ID: "dlv_06f3ksz8q1e7gj2k9x4m0v5n3r", TenantID: "ten_06f3ks0a1b2c3d4e5f6g7h8j9k",
		MessageID: "msg_06f3ksz8q0y5w4v3u2t1s0r9q8", EndpointID: "ep_06f3kr9z8y7x6w5v4u3t2s1r0q",
		EventType: "device.enrolled", Status: delivery.StatusPending, Attempts: 2,
		NextAttemptAt: at.Add(30 * time.Second), LastCode: 503, LastError: "503 Service Unavailable",
		CreatedAt: at, UpdatedAt: at.Add(2*time.Second + 417*time.Microsecond)}
}

func benchAttempt() delivery.Attempt {
	at := time.Date(2026, 12, 3, 10, 32, 37, 244299954, time.UTC)
	return delivery.Attempt{DeliveryID: "dlv_06f3ksz8q1e7gj2k9x4m0v5n3r", N: 1, At: at, StatusCode: 200,
		Latency: 41*time.Millisecond + 317*time.Microsecond, Response: `{"ok":true}`, Outcome: "success",
		Request: map[string]string{"content-type": "application/json", "webhook-id": "msg_06f3ksz8q0y5w4v3u2t1s0r9q8",
			"webhook-timestamp": "1796293957", "webhook-signature": "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4="}}
}

func BenchmarkAppendDelivery(b *testing.B) {
	d := benchDelivery()
	benchBoth(b, &d, AppendDelivery)
}

func BenchmarkAppendAttempt(b *testing.B) {
	a := benchAttempt()
	benchBoth(b, &a, AppendAttempt)
}

// benchBoth measures json.Marshal against appendRec writing to a fresh slice, as the stores do.
func benchBoth[T any](b *testing.B, v *T, appendRec func([]byte, *T) ([]byte, error)) {
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("recjson", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := appendRec(nil, v); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// messages are message heads as the Redis store writes them (no data), plus one with data, which goes through
// json.Marshal.
func messages(t testing.TB) []delivery.Message {
	at := time.Date(2026, 12, 5, 10, 0, 0, 123456789, time.UTC)
	out := []delivery.Message{
		{},
		{ID: "msg_1", TenantID: "acme", Type: "device.enrolled", Timestamp: at, CreatedAt: at},
		{ID: "msg_2", TenantID: "acme", Type: "a.b", Timestamp: at.In(time.FixedZone("", -5*3600)), CreatedAt: at,
			IdempotencyKey: "evt-1", TraceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
			OrderingKey: "dev-7", ExpungedAt: at.Add(time.Hour)},
		{ID: "msg_3", Type: "a", Data: []byte(` {"a": [1, 2]} `), CreatedAt: at},
	}
	for _, s := range escapes {
		out = append(out, delivery.Message{ID: s, TenantID: s, Type: s, IdempotencyKey: s, TraceParent: s, OrderingKey: s})
	}
	for _, tm := range times(t) {
		out = append(out, delivery.Message{ID: "msg_t", Timestamp: tm, CreatedAt: tm})
	}
	for _, tm := range unwritable() {
		out = append(out, delivery.Message{ID: "msg_u", Timestamp: at, CreatedAt: tm}, delivery.Message{ExpungedAt: tm})
	}
	return out
}

func TestAppendMessage(t *testing.T) {
	for _, m := range messages(t) {
		checkSame(t, &m, AppendMessage)
	}
	var m delivery.Message
	fill(t, reflect.ValueOf(&m).Elem())
	checkSame(t, &m, AppendMessage)
}

func FuzzAppendMessage(f *testing.F) {
	for _, m := range messages(f) {
		_, off := m.CreatedAt.Zone()
		f.Add(m.ID, m.Type, m.IdempotencyKey, m.OrderingKey, m.CreatedAt.Unix(), int64(m.CreatedAt.Nanosecond()), int32(off), int64(0))
	}
	f.Fuzz(func(t *testing.T, id, typ, idem, key string, sec, nsec int64, offset int32, expSec int64) {
		m := delivery.Message{ID: id, TenantID: key + id, Type: typ, Timestamp: fuzzTime(sec+1, nsec/5, offset/3),
			IdempotencyKey: idem, TraceParent: typ + idem, CreatedAt: fuzzTime(sec, nsec, offset), OrderingKey: key,
			ExpungedAt: fuzzTime(expSec, nsec, offset)}
		checkSame(t, &m, AppendMessage)
	})
}

func BenchmarkAppendMessage(b *testing.B) {
	at := time.Date(2026, 12, 5, 10, 0, 0, 123456789, time.UTC)
	m := delivery.Message{ID: "msg_2qXzJ8d9Hk3LmN4pQr5sTu6vWx7", TenantID: "acme", Type: "device.enrolled",
		Timestamp: at, IdempotencyKey: "evt-000123", CreatedAt: at}
	benchBoth(b, &m, AppendMessage)
}
