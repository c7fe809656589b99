package delivery

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webhookd/webhookd/endpoints"
)

type spanKey struct{}

// fakeTracer records the spans the engine starts and ends; Inject writes the span's name on the request.
type fakeTracer struct {
	mu    sync.Mutex
	spans []*fakeSpan
}

type fakeSpan struct {
	task   Task
	ep     string
	tp     string
	ended  bool
	status int
	o      Outcome
	err    error
}

func (f *fakeTracer) StartAttempt(ctx context.Context, t Task, ep *endpoints.Endpoint, m *Message) (context.Context, AttemptSpan) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := &fakeSpan{task: t, ep: ep.ID, tp: m.TraceParent}
	f.spans = append(f.spans, s)
	return context.WithValue(ctx, spanKey{}, s), s
}

func (f *fakeTracer) Inject(ctx context.Context, h http.Header, propagate *bool) {
	if propagate != nil && !*propagate {
		return
	}
	if s, ok := ctx.Value(spanKey{}).(*fakeSpan); ok {
		h.Set("Traceparent", "span-of-"+s.task.DeliveryID)
	}
}

func (s *fakeSpan) End(status int, o Outcome, err error) {
	s.ended, s.status, s.o, s.err = true, status, o, err
}

type fakeEndpointObserver struct {
	nopObserver
	got []string
}

func (f *fakeEndpointObserver) EndpointAttempt(tenantID, endpointID string, o Outcome, _ time.Duration) {
	f.got = append(f.got, tenantID+"/"+endpointID+"/"+o.String())
}

// TestAttemptTraced: an attempt runs in the tracer's span, which continues the message's traceparent, reaches the
// request (Inject) and ends with the attempt's status and outcome; the endpoint observer hears it.
func TestAttemptTraced(t *testing.T) {
	var sentHeader string
	f := newFixture(t, func(r *http.Request) (*http.Response, error) {
		sentHeader = r.Header.Get("Traceparent")
		io.Copy(io.Discard, r.Body)
		return &http.Response{StatusCode: 503, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(""))}, nil
	})
	tr := &fakeTracer{}
	obs := &fakeEndpointObserver{}
	f.e.tracer, f.e.epObs = tr, obs
	f.src.msg.TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	f.e.attempt(context.Background(), f.t, 0)

	if len(tr.spans) != 1 {
		t.Fatalf("%d spans, want 1", len(tr.spans))
	}
	s := tr.spans[0]
	if s.task != f.t || s.ep != "ep_1" || s.tp != f.src.msg.TraceParent {
		t.Errorf("span started for %+v, endpoint %s, traceparent %q", s.task, s.ep, s.tp)
	}
	if !s.ended || s.status != 503 || s.o != OutcomeRetry {
		t.Errorf("span ended %v with %d %v, want 503 retry", s.ended, s.status, s.o)
	}
	if sentHeader != "span-of-dlv_1" {
		t.Errorf("request carried traceparent %q, want the span's", sentHeader)
	}
	if want := []string{"tn_1/ep_1/retry"}; len(obs.got) != 1 || obs.got[0] != want[0] {
		t.Errorf("endpoint observer heard %v, want %v", obs.got, want)
	}
	if c := f.q.last(t); c.op != "nack" {
		t.Errorf("call %+v, want nack", c)
	}
}

// TestAttemptUntracedWhenNothingSent: an attempt that sends no request (endpoint disabled) makes no span.
func TestAttemptUntracedWhenNothingSent(t *testing.T) {
	f := newFixture(t, okTransport)
	tr := &fakeTracer{}
	f.e.tracer = tr
	f.src.ep.Disabled = true
	f.e.attempt(context.Background(), f.t, 0)
	if len(tr.spans) != 0 {
		t.Errorf("%d spans for an attempt that sent nothing", len(tr.spans))
	}
}
