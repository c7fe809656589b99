package boltstore

import (
	"bytes"
	"testing"
	"time"

	"github.com/webhookd/webhookd/delivery"
)

// TestRecordBytes: deliveries and attempts, written without encoding/json, are stored exactly as encode (json.Marshal)
// stores them, the deferred form included; where encode fails, they fail with its error.
func TestRecordBytes(t *testing.T) {
	at := time.Date(2026, 12, 3, 10, 32, 37, 244299954, time.FixedZone("", -5*3600))
	ds := []delivery.Delivery{
		{},
		{ID: "dlv_1", TenantID: "ten_a", MessageID: "msg_1", EndpointID: "ep_1", EventType: "a.b",
			Status: delivery.StatusPending, NextAttemptAt: at, CreatedAt: at, UpdatedAt: at},
		{ID: "dlv_2", Status: delivery.StatusDead, Attempts: 9, LastCode: 502, LastError: "bad <gateway> \"x\"\n\xff",
			CreatedAt: at.UTC(), UpdatedAt: at, OrderingKey: "k\u2028", WaitingOn: "dlv_1", Blocked: true},
		{ID: "dlv_3", CreatedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, // json.Marshal refuses it
	}
	for _, d := range ds {
		same(t, "delivery", encodeDelivery, encode, &d)
		same(t, "deferred delivery", encodeDeferred, func(v any) ([]byte, error) {
			return encode(&deliveryRec{Delivery: *v.(*delivery.Delivery), Deferred: true})
		}, &d)
	}
	as := []delivery.Attempt{
		{},
		{DeliveryID: "dlv_1", N: 2, At: at, StatusCode: 503, Latency: 1500 * time.Millisecond, Error: "503 & <down>",
			Response: "{\"e\":\"\t\"}", Outcome: "retry", Request: map[string]string{"webhook-id": "msg_1", "content-type": "x"}},
		{DeliveryID: "dlv_1", N: 1, At: at.In(time.FixedZone("", 25*3600))}, // json.Marshal refuses it
	}
	for _, a := range as {
		same(t, "attempt", encodeAttempt, encode, &a)
	}
}

func same[T any](t *testing.T, what string, got func(*T) ([]byte, error), want func(any) ([]byte, error), v *T) {
	t.Helper()
	g, gErr := got(v)
	w, wErr := want(v)
	if (gErr != nil) != (wErr != nil) || gErr != nil && gErr.Error() != wErr.Error() {
		t.Fatalf("%s %+v: error %v, want %v", what, v, gErr, wErr)
	}
	if !bytes.Equal(g, w) {
		t.Fatalf("%s %+v:\n got %s\nwant %s", what, v, g, w)
	}
}
