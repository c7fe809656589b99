// Package msgjson reads the stored head of a message: a delivery.Message without its data, as json.Marshal writes
// it, which both stores keep beside the data bytes. Every delivery of a message the gateway does not hold in memory
// decodes one, so the form the stores write is read without encoding/json (BenchmarkDecode compares the two), and
// anything else still goes through json.Unmarshal.
package msgjson

import (
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/webhookd/webhookd/delivery"
)

// Decode fills m from js, a message's JSON head. Its Data is json.Unmarshal's for the head's "data" field (null:
// the stores keep the data apart and set it after).
func Decode(js string, m *delivery.Message) error {
	if fast(js, m) {
		return nil
	}
	*m = delivery.Message{}
	return json.Unmarshal([]byte(js), m)
}

// fast reads js when it is exactly what json.Marshal writes for a message without data and nothing needs
// unescaping: the fields in their order, data null, the times in their canonical form. It reports false for anything
// else; where it reports true it gives json.Unmarshal's result (FuzzFast).
func fast(js string, m *delivery.Message) bool {
	rest, ok := strings.CutPrefix(js, "{")
	var id, tenant, typ, ts, k, tp, created string
	if id, rest, ok = CutField(rest, `"id":`, ok); !ok {
		return false
	}
	tenant, rest, ok = CutField(rest, `,"tenant_id":`, ok)
	typ, rest, ok = CutField(rest, `,"type":`, ok)
	ts, rest, ok = CutField(rest, `,"timestamp":`, ok)
	if !ok {
		return false
	}
	if rest, ok = strings.CutPrefix(rest, `,"data":null`); !ok {
		return false
	}
	if strings.HasPrefix(rest, `,"idempotency_key":`) {
		k, rest, ok = CutField(rest, `,"idempotency_key":`, ok)
	}
	if strings.HasPrefix(rest, `,"traceparent":`) {
		tp, rest, ok = CutField(rest, `,"traceparent":`, ok)
	}
	if created, rest, ok = CutField(rest, `,"created_at":`, ok); !ok || rest != "}" {
		return false
	}
	t1, ok1 := CanonicalTime(ts)
	t2, ok2 := CanonicalTime(created)
	if !ok1 || !ok2 {
		return false
	}
	*m = delivery.Message{ID: id, TenantID: tenant, Type: typ, Timestamp: t1, Data: json.RawMessage("null"),
		IdempotencyKey: k, TraceParent: tp, CreatedAt: t2}
	return true
}

// CutField reads `<name><JSON string>` at the start of s (CutString), unless ok is false already.
func CutField(s, name string, ok bool) (val, rest string, _ bool) {
	if !ok {
		return "", "", false
	}
	if s, ok = strings.CutPrefix(s, name); !ok {
		return "", "", false
	}
	return CutString(s)
}

// CutString reads a JSON string at the start of s that needs no unescaping: valid UTF-8 (json.Unmarshal would
// replace invalid bytes) without backslashes or control characters, so its text is its value.
func CutString(s string) (val, rest string, ok bool) {
	if len(s) == 0 || s[0] != '"' {
		return "", "", false
	}
	end := strings.IndexByte(s[1:], '"')
	if end < 0 {
		return "", "", false
	}
	val = s[1 : 1+end]
	for i := 0; i < len(val); i++ {
		if c := val[i]; c < 0x20 || c == '\\' {
			return "", "", false
		}
	}
	if !utf8.ValidString(val) {
		return "", "", false
	}
	return val, s[2+end:], true
}

// CanonicalTime parses a time that is exactly as time.Time's MarshalJSON writes it (RFC 3339 with nanoseconds,
// trailing zeros dropped), and reports false for any other form.
func CanonicalTime(s string) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, false
	}
	var buf [40]byte
	if string(t.AppendFormat(buf[:0], time.RFC3339Nano)) != s {
		return time.Time{}, false
	}
	return t, true
}
