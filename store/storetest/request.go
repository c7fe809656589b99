package storetest

import (
	"testing"
	"time"

	"github.com/webhookd/webhookd/delivery"
)

// testAttemptRequest checks that an attempt's request headers (Attempt.Request) are kept, through a nack, a fail and
// an ack, exactly.
func testAttemptRequest(t *testing.T, s Store) {
	ctx := t.Context()
	_, ds := publish(t, s, "ten_a", base, base, "ep_1")
	req := func(sig string) map[string]string {
		return map[string]string{"Content-Type": "application/json", "Webhook-Id": "msg_1", "Webhook-Timestamp": "3786840245",
			"Webhook-Signature": sig}
	}
	a1 := delivery.Attempt{At: base, StatusCode: 500, Outcome: "retry", Request: req("v1,one= v1,two=")}
	a2 := delivery.Attempt{At: at(time.Minute), StatusCode: 200, Outcome: "success", Request: req("v1,three=")}
	noErr(t, "Nack", s.Nack(ctx, claimOne(t, s, base), a1, at(time.Minute)))
	noErr(t, "Ack", s.Ack(ctx, claimOne(t, s, at(time.Minute)), a2))
	got, err := s.ListAttempts(ctx, "ten_a", ds[0].ID)
	noErr(t, "ListAttempts", err)
	a1.DeliveryID, a1.N = ds[0].ID, 1
	a2.DeliveryID, a2.N = ds[0].ID, 2
	same(t, "attempts", got, []delivery.Attempt{a1, a2})

	_, ds = publish(t, s, "ten_a", at(2*time.Minute), at(2*time.Minute), "ep_2")
	a3 := delivery.Attempt{At: at(2 * time.Minute), Error: "timeout", Outcome: "dead", Request: req("v1,four=")}
	noErr(t, "Fail", s.Fail(ctx, claimOne(t, s, at(2*time.Minute)), a3, delivery.StatusDead))
	got, err = s.ListAttempts(ctx, "ten_a", ds[0].ID)
	noErr(t, "ListAttempts", err)
	a3.DeliveryID, a3.N = ds[0].ID, 1
	same(t, "failed attempt", got, []delivery.Attempt{a3})
}
