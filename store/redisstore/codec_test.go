package redisstore

import (
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
