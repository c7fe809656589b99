package delivery_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/egress"
	boltstore "github.com/webhookd/webhookd/store/boltstore"
)

// TestHTTPEndpointRefusedAtSend: an http:// endpoint stored while plain http was allowed is not sent to by a gateway
// that no longer allows it (the scheme rule holds at send time, like the address rule): every attempt fails with
// the reason recorded, and the receiver sees nothing.
func TestHTTPEndpointRefusedAtSend(t *testing.T) {
	st, err := boltstore.Open(t.TempDir(), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	client := egress.NewClient(egress.ClientConfig{Policy: egress.Policy{AllowPrivate: true}}) // no AllowHTTP
	eng, err := delivery.NewEngine(delivery.Config{
		Retry:   delivery.Retry{Initial: 5 * time.Millisecond, Cap: 10 * time.Millisecond, Count: 1, Jitter: -1},
		IdleMax: 50 * time.Millisecond, ReclaimEvery: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler),
	}, delivery.Deps{Queue: st, Messages: st, Endpoints: st, Client: client, Notifier: &notifier{}})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, store: st, eng: eng, notes: &notifier{}}
	rc := newReceiver(t, nil)
	ep := h.endpoint(rc.srv.URL, "standard") // http://127.0.0.1:…
	ids := h.publish(ep, 1)
	h.start()
	h.waitStatus(delivery.StatusDead, ids...)
	as := h.attempts(ids[0])
	if len(as) != 2 {
		t.Fatalf("%d attempts, want 2 (one retry)", len(as))
	}
	for _, a := range as {
		if !strings.Contains(a.Error, "plain http is not allowed") || a.StatusCode != 0 {
			t.Errorf("attempt %d: %+v, want the scheme refusal recorded", a.N, a)
		}
		if strings.Contains(a.Error, rc.srv.URL) {
			t.Errorf("attempt %d names the URL: %q", a.N, a.Error)
		}
	}
	if n := rc.count(); n != 0 {
		t.Fatalf("the receiver got %d requests over plain http", n)
	}
}
