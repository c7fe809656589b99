package delivery_test

import (
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/egress"
)

// recordingObserver sends every call it gets, as a string, on a channel.
type recordingObserver struct{ calls chan string }

func (o *recordingObserver) AttemptDone(profile string, oc delivery.Outcome, latency time.Duration, sent bool) {
	if sent != (latency > 0) {
		o.calls <- fmt.Sprintf("attempt %s %s: sent=%v but latency %v", profile, oc, sent, latency)
		return
	}
	o.calls <- fmt.Sprintf("attempt %s %s sent=%v", profile, oc, sent)
}
func (o *recordingObserver) EndpointDisabled(reason string) { o.calls <- "disabled " + reason }
func (o *recordingObserver) StoreError(op string)           { o.calls <- "store error " + op }

func (o *recordingObserver) next(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	for range n {
		select {
		case c := <-o.calls:
			out = append(out, c)
		case <-time.After(10 * time.Second):
			t.Fatalf("observer heard %q, then nothing for 10s", out)
		}
	}
	return out
}

func TestObserver(t *testing.T) {
	h := newHarness(t, delivery.Config{})
	obs := &recordingObserver{calls: make(chan string, 16)}
	client := egress.NewClient(egress.ClientConfig{Policy: egress.Policy{AllowHTTP: true, AllowPrivate: true}})
	eng, err := delivery.NewEngine(delivery.Config{
		Retry:   fastRetry,
		IdleMax: 50 * time.Millisecond,
		Logger:  slog.New(slog.NewTextHandler(t.Output(), nil)),
	}, delivery.Deps{Queue: h.store, Messages: h.store, Endpoints: h.store, Client: client, Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	h.eng = eng
	if eng.Running() {
		t.Fatal("Running before Run")
	}

	rc := newReceiver(t, statuses(500, 410))
	ep := h.endpoint(rc.srv.URL, "openmdm")
	h.start()
	h.publish(ep, 1)
	// The disable is reported before the attempt that caused it is settled.
	want := []string{"attempt openmdm retry sent=true", "disabled gone", "attempt openmdm gone sent=true"}
	if got := obs.next(t, 3); !slices.Equal(got, want) {
		t.Fatalf("observer heard %q, want %q", got, want)
	}
	if !eng.Running() {
		t.Fatal("not Running while running")
	}
	// A delivery to the disabled endpoint fails without a request.
	h.publish(ep, 1)
	if got := obs.next(t, 1); got[0] != "attempt openmdm failed sent=false" {
		t.Fatalf("observer heard %q", got)
	}
	h.stop()
	if eng.Running() || eng.InFlight() != 0 {
		t.Fatalf("after Run returned: Running %v, InFlight %d", eng.Running(), eng.InFlight())
	}
	select {
	case c := <-obs.calls:
		t.Fatalf("unexpected call %q", c)
	default:
	}
}
