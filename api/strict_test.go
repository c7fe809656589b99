package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/webhookd/webhookd/events"
	"github.com/webhookd/webhookd/wire"
)

// TestStrictJSON: duplicate keys, case variants of field names and invalid UTF-8 are refused with 400 naming the
// field, on every kind of request body, as is event data nested deeper than events.MaxDataDepth; nothing is stored.
func TestStrictJSON(t *testing.T) {
	e := newEnv(t)
	tokA := e.tenant("acme")
	good := okReceiver(t)
	ep := e.endpoint("acme", tokA, map[string]any{"url": good.URL})
	eps := "/v1/tenants/acme/endpoints"
	pub := "/v1/tenants/acme/events"
	deep := strings.Repeat("[", events.MaxDataDepth+1) + strings.Repeat("]", events.MaxDataDepth+1)
	cases := []struct {
		name, path, token, body string
		field, inMessage        string
	}{
		{"duplicate key", "/v1/tenants", opToken, `{"name":"a","name":"b"}`, "name", "duplicate key"},
		{"duplicate id", pub, opToken, `{"type":"a.b","id":"a","id":"b"}`, "id", "duplicate key"},
		{"duplicate key, escaped", "/v1/tenants", opToken, `{"name":"a","\u006eame":"b"}`, "name", "duplicate key"},
		{"case variant", "/v1/tenants", opToken, `{"Name":"a"}`, "Name", `did you mean "name"`},
		{"case variant ID", pub, opToken, `{"type":"a.b","ID":"x"}`, "ID", `did you mean "id"`},
		{"unknown name with a Kelvin sign", "/v1/tenants", opToken, "{\"name\":\"a\",\"\u212a\":1}", "\u212a", "unknown field"},
		{"case variant in batch", pub + "/batch", opToken, `{"events":[{"type":"a"},{"TYPE":"a"}]}`, "events[1].TYPE", "case-sensitive"},
		{"duplicate in batch data", pub + "/batch", opToken, `{"events":[{"type":"a","data":{"x":{"k":1,"k":2}}}]}`, "events[0].data.x.k", "duplicate key"},
		{"duplicate in data", pub, opToken, `{"type":"a.b","data":{"a":1,"a":1}}`, "data.a", "duplicate key"},
		{"duplicate header", eps, tokA, `{"url":"` + good.URL + `","headers":{"X-A":"1","X-A":"2"}}`, "headers.X-A", "duplicate key"},
		{"case variant on PATCH", eps + "/" + ep, tokA, `{"Description":"x"}`, "Description", "case-sensitive"},
		{"invalid UTF-8 in data", pub, opToken, "{\"type\":\"a.b\",\"data\":{\"k\":\"\xff\"}}", "", "at byte 27"},
		{"invalid UTF-8 in a name", "/v1/tenants", opToken, "{\"name\":\"\xc3\"}", "", "at byte 9"},
		{"data too deep", pub, opToken, `{"type":"a.b","data":` + deep + `}`, "data", "deeper than 64"},
		{"data too deep in a batch", pub + "/batch", opToken, `{"events":[{"type":"a"},{"type":"a","data":` + deep + `}]}`, "events[1].data", "at byte 64"},
		{"test event data too deep", eps + "/" + ep + "/test", tokA, `{"data":` + deep + `}`, "data", "deeper than 64"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, body := e.do("POST", c.path, c.token, c.body)
			if strings.HasSuffix(c.path, ep) {
				status, body = e.do("PATCH", c.path, c.token, c.body)
			}
			if status != 400 {
				t.Fatalf("status %d, want 400; body %s", status, body)
			}
			code, field, m := errorOf(t, body)
			if code != CodeInvalidJSON || field != c.field || !strings.Contains(m["message"].(string), c.inMessage) {
				t.Errorf("got %s %q %q, want invalid_json %q with %q", code, field, m["message"], c.field, c.inMessage)
			}
		})
	}
	if got := e.must(200, "GET", "/v1/tenants", opToken, nil)["data"].([]any); len(got) != 1 {
		t.Errorf("%d tenants, want 1", len(got))
	}
	if got := e.must(200, "GET", "/v1/tenants/acme/deliveries", tokA, nil)["data"].([]any); len(got) != 0 {
		t.Errorf("%d deliveries, want none", len(got))
	}
	// What is fine stays fine: the same names in data in any case, data at the depth limit, escapes.
	ok := strings.Repeat("[", events.MaxDataDepth) + strings.Repeat("]", events.MaxDataDepth)
	e.must(202, "POST", pub, opToken, `{"type":"a.b","data":{"id":1,"ID":2,"Id":[],"s":"\u00e9\ud83d\ude00"}}`)
	e.must(202, "POST", pub, opToken, `{"type":"a.b","data":`+ok+`}`)
}

// FuzzCheckStrict: checkStrict never panics, and whatever it passes is valid UTF-8 without duplicate keys at any
// level, which encoding/json (itself lenient on both) agrees is what it decodes.
func FuzzCheckStrict(f *testing.F) {
	for _, s := range []string{
		`{"events":[{"type":"a","data":{"a":[1,{"b":null}]}}]}`, `{"id":"a","id":"b"}`, `{"ID":1}`, `[]`, `{"a":`,
		`{"url":"x","headers":{"A":"1","a":"2"},"events":["*"]}`, "\"\xff\"", `{"events":[{"TYPE":"a"}]} {}`,
		`{"a":{"b":{"c":[[[{}]]]}}}`, `{"\u0061":1,"a":2}`,
	} {
		f.Add([]byte(s))
	}
	typ := reflect.TypeFor[*wire.Batch]()
	f.Fuzz(func(t *testing.T, body []byte) {
		strictErr := checkStrict(body, typ)
		var v any
		if json.Unmarshal(body, &v) != nil {
			return // malformed: left to the decoder, whatever checkStrict said
		}
		freeErr := checkStrict(body, nil)
		switch dup := hasDuplicate(body); {
		case strictErr == nil && freeErr != nil:
			t.Fatalf("passed against *wire.Batch but not as free-form JSON: %v", freeErr)
		case dup && freeErr == nil:
			t.Fatalf("a duplicate key passed: %q", body)
		case !dup && freeErr != nil && utf8.Valid(body):
			t.Fatalf("refused free-form JSON without a duplicate key: %v: %q", freeErr, body)
		}
	})
}

// hasDuplicate finds duplicate keys the slow way: decoding each object into a list of its key-value pairs.
func hasDuplicate(body []byte) bool {
	dec := json.NewDecoder(strings.NewReader(string(body)))
	var walk func() bool
	walk = func() bool {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				k, _ := dec.Token()
				if seen[k.(string)] {
					return true
				}
				seen[k.(string)] = true
				if walk() {
					return true
				}
			}
			dec.Token()
		case json.Delim('['):
			for dec.More() {
				if walk() {
					return true
				}
			}
			dec.Token()
		}
		return false
	}
	return walk()
}

// BenchmarkStrictDecode: what checkStrict adds to decoding a publish and a batch of 500 (compare strict=false).
func BenchmarkStrictDecode(b *testing.B) {
	one := `{"type":"device.enrolled","id":"console-evt-1","data":{"device_id":"d-42","os":"android","tags":["a","b"],"owner":{"id":7,"name":"Ann"}}}`
	batch := `{"events":[` + strings.TrimSuffix(strings.Repeat(one+",", 500), ",") + `]}`
	for _, c := range []struct {
		name string
		body string
		dst  func() any
	}{
		{"event", one, func() any { return new(wire.Event) }},
		{"batch500", batch, func() any { return new(wire.Batch) }},
	} {
		for _, strict := range []bool{false, true} {
			b.Run(c.name+"/strict="+strconv.FormatBool(strict), func(b *testing.B) {
				body := []byte(c.body)
				b.SetBytes(int64(len(body)))
				for b.Loop() {
					dst := c.dst()
					if strict {
						if err := checkStrict(body, reflect.TypeOf(dst)); err != nil {
							b.Fatal(err)
						}
					}
					dec := json.NewDecoder(bytes.NewReader(body))
					dec.DisallowUnknownFields()
					if err := dec.Decode(dst); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkDecodeBody: a publish request's body, read and decoded as the API does (1 KiB of event data, the length
// given in Content-Length as clients send it).
func BenchmarkDecodeBody(b *testing.B) {
	body := []byte(`{"type":"device.enrolled","id":"console-evt-1","data":{"blob":"` + strings.Repeat("x", 1000) + `"}}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	w := httptest.NewRecorder()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/v1/tenants/t/events", bytes.NewReader(body))
		var ev wire.Event
		if err := decodeBody(w, r, 1<<20, &ev, false); err != nil {
			b.Fatal(err)
		}
	}
}
