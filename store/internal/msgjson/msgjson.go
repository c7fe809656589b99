// Package msgjson reads the stored head of a message: a delivery.Message without its data, as json.Marshal writes
// it, which both stores keep beside the data bytes. Every delivery of a message the gateway does not hold in memory
// decodes one, so the form the stores write is read without encoding/json (BenchmarkDecode compares the two), and
// anything else still goes through json.Unmarshal.
package msgjson

import (
	"encoding/json"
	"strings"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/internal/jsonscan"
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
	if id, rest, ok = jsonscan.CutField(rest, `"id":`, ok); !ok {
		return false
	}
	tenant, rest, ok = jsonscan.CutField(rest, `,"tenant_id":`, ok)
	typ, rest, ok = jsonscan.CutField(rest, `,"type":`, ok)
	ts, rest, ok = jsonscan.CutField(rest, `,"timestamp":`, ok)
	if !ok {
		return false
	}
	if rest, ok = strings.CutPrefix(rest, `,"data":null`); !ok {
		return false
	}
	if strings.HasPrefix(rest, `,"idempotency_key":`) {
		k, rest, ok = jsonscan.CutField(rest, `,"idempotency_key":`, ok)
	}
	if strings.HasPrefix(rest, `,"traceparent":`) {
		tp, rest, ok = jsonscan.CutField(rest, `,"traceparent":`, ok)
	}
	if created, rest, ok = jsonscan.CutField(rest, `,"created_at":`, ok); !ok || rest != "}" {
		return false
	}
	t1, ok1 := jsonscan.CanonicalTime(ts)
	t2, ok2 := jsonscan.CanonicalTime(created)
	if !ok1 || !ok2 {
		return false
	}
	*m = delivery.Message{ID: id, TenantID: tenant, Type: typ, Timestamp: t1, Data: json.RawMessage("null"),
		IdempotencyKey: k, TraceParent: tp, CreatedAt: t2}
	return true
}
