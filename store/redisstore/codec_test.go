package redisstore

import (
	"encoding/json"
	"reflect"
	"strings"
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

// TestRecordBytes: the plan and the attempt JSON, written without encoding/json, are byte for byte what json.Marshal
// wrote for them.
func TestRecordBytes(t *testing.T) {
	m := newMessage("tn", base)
	a := newDelivery(m, "ep_a", time.Time{})
	b := newDelivery(m, "ep_b", base.Add(time.Hour))
	b.LastError, b.OrderingKey = "<x> & \"y\"\n\xff", "k\u2029"
	c := newDelivery(m, "ep_c", time.Time{})
	s, err := encodePlan([]*delivery.Delivery{a, b, c})
	if err != nil {
		t.Fatal(err)
	}
	tmpl := *a
	tmpl.ID, tmpl.EndpointID = "", ""
	want := []string{marshal(t, &tmpl), a.ID, marshal(t, b), c.ID}
	if got := strings.Split(s, "\n"); !reflect.DeepEqual(got, want) {
		t.Fatalf("plan:\n got %q\nwant %q", got, want)
	}

	task := delivery.Task{DeliveryID: "dlv_1", Attempt: 3}
	at := delivery.Attempt{At: base.In(time.FixedZone("", 3600)), StatusCode: 500, Latency: time.Second,
		Error: "500 <boom>", Outcome: "retry", Request: map[string]string{"webhook-id": m.ID, "content-type": "x"}}
	js, err := attemptJSON(task, at)
	if err != nil {
		t.Fatal(err)
	}
	at.DeliveryID, at.N = task.DeliveryID, task.Attempt
	if want := marshal(t, at); js != want {
		t.Fatalf("attempt:\n got %s\nwant %s", js, want)
	}
}

func marshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
