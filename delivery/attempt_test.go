package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhookd/webhookd/endpoints"
	"github.com/webhookd/webhookd/signing"
)

// These tests drive Engine.attempt directly against in-memory fakes, for the paths a real store cannot easily
// produce: store errors, missing messages, bad keys, lost leases, what the log line holds.

type call struct {
	op     string // ack, nack, fail, release
	a      Attempt
	status Status
	at     time.Time
}

type fakeQueue struct {
	Queue // unused methods panic via the nil embedded interface
	mu    sync.Mutex
	calls []call
	err   error // returned by every settle call
	keep1 bool  // keep only the last call (benchmarks)
}

func (q *fakeQueue) add(c call) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.keep1 {
		q.calls = q.calls[:0]
	}
	q.calls = append(q.calls, c)
	return q.err
}
func (q *fakeQueue) Ack(_ context.Context, _ Task, a Attempt) error {
	return q.add(call{op: "ack", a: a})
}
func (q *fakeQueue) Nack(_ context.Context, _ Task, a Attempt, at time.Time) error {
	return q.add(call{op: "nack", a: a, at: at})
}
func (q *fakeQueue) Fail(_ context.Context, _ Task, a Attempt, s Status) error {
	return q.add(call{op: "fail", a: a, status: s})
}
func (q *fakeQueue) Release(_ context.Context, _ Task, at time.Time) error {
	return q.add(call{op: "release", at: at})
}

func (q *fakeQueue) last(t *testing.T) call {
	t.Helper()
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.calls) != 1 {
		t.Fatalf("%d queue calls, want 1: %+v", len(q.calls), q.calls)
	}
	return q.calls[0]
}

type fakeSources struct {
	ep      *endpoints.Endpoint
	epErr   error
	msg     *Message
	msgErr  error
	mu      sync.Mutex
	healths []string
}

func (f *fakeSources) GetEndpoint(context.Context, string, string) (*endpoints.Endpoint, error) {
	if f.epErr != nil {
		return nil, f.epErr
	}
	c := *f.ep
	return &c, nil
}

func (f *fakeSources) SetEndpointHealth(_ context.Context, _, _ string, since time.Time, disable bool, reason string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.healths = append(f.healths, fmt.Sprintf("%v %v %s", !since.IsZero(), disable, reason))
	return nil
}

func (f *fakeSources) GetMessage(context.Context, string, string) (*Message, error) {
	if f.msgErr != nil {
		return nil, f.msgErr
	}
	return f.msg, nil
}

// roundTripper answers every request without a network.
type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func okTransport(r *http.Request) (*http.Response, error) {
	io.Copy(io.Discard, r.Body)
	r.Body.Close()
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("ok"))}, nil
}

type fixture struct {
	e   *Engine
	q   *fakeQueue
	src *fakeSources
	log *bytes.Buffer
	t   Task
}

// newFixture builds an engine on a fakeQueue; wrap, when given, puts something around that queue (a queue with
// optional methods).
func newFixture(t testing.TB, rt roundTripper, wrap ...func(*fakeQueue) Queue) *fixture {
	secret, _ := signing.GenerateSecret(0)
	now := time.Now()
	src := &fakeSources{
		ep: &endpoints.Endpoint{ID: "ep_1", TenantID: "tn_1", URL: "http://receiver.test/hook", Profile: "standard",
			Keys: []endpoints.Key{{Secret: secret}}, UpdatedAt: now},
		msg: &Message{ID: signing.NewMessageID().String(), TenantID: "tn_1", Type: "device.enrolled",
			Timestamp: now, Data: json.RawMessage(`{"device":"d1","secret_field":"BODY-MARKER"}`)},
	}
	q := &fakeQueue{}
	var queue Queue = q
	for _, w := range wrap {
		queue = w(q)
	}
	var buf bytes.Buffer
	e, err := NewEngine(Config{
		Retry:  Retry{Initial: 10 * time.Millisecond, Cap: 50 * time.Millisecond},
		Logger: slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}, Deps{Queue: queue, Messages: src, Endpoints: src, Client: &http.Client{Transport: rt}})
	if err != nil {
		t.Fatal(err)
	}
	task := Task{DeliveryID: "dlv_1", TenantID: "tn_1", MessageID: src.msg.ID, EndpointID: "ep_1", Attempt: 1,
		Fence: 1, LeaseUntil: now.Add(time.Minute)}
	return &fixture{e: e, q: q, src: src, log: &buf, t: task}
}

func TestAttemptMessageNotFound(t *testing.T) {
	f := newFixture(t, okTransport)
	f.src.msgErr = fmt.Errorf("message x: %w", ErrNotFound)
	f.e.attempt(context.Background(), f.t, 0)
	if c := f.q.last(t); c.op != "fail" || c.status != StatusFailed || c.a.Error != "message not found" || c.a.Outcome != "failed" {
		t.Fatalf("call %+v", c)
	}
}

func TestAttemptStoreErrorReleasesUnspent(t *testing.T) {
	for name, set := range map[string]func(*fakeSources){
		"endpoint": func(s *fakeSources) { s.epErr = errors.New("disk on fire") },
		"message":  func(s *fakeSources) { s.msgErr = errors.New("disk on fire") },
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, okTransport)
			set(f.src)
			start := time.Now()
			f.e.attempt(context.Background(), f.t, 0)
			c := f.q.last(t)
			if c.op != "release" || c.at.Before(start.Add(8*time.Millisecond)) || c.at.After(time.Now().Add(time.Second)) {
				t.Fatalf("call %+v, want a release about 10ms out", c)
			}
		})
	}
}

func TestAttemptBadKeySpendsAttemptLeavesHealth(t *testing.T) {
	f := newFixture(t, func(*http.Request) (*http.Response, error) { panic("request sent with a bad key") })
	f.src.ep.Keys = []endpoints.Key{{Secret: "whsec_tooshort"}}
	f.e.attempt(context.Background(), f.t, 0)
	c := f.q.last(t)
	if c.op != "nack" || !strings.Contains(c.a.Error, "key") || c.a.Outcome != "retry" {
		t.Fatalf("call %+v", c)
	}
	if len(f.src.healths) != 0 {
		t.Fatalf("health written for a configuration error: %q", f.src.healths)
	}
}

func TestAttemptStandardWithoutKeys(t *testing.T) {
	f := newFixture(t, func(*http.Request) (*http.Response, error) { panic("unsigned request sent") })
	f.src.ep.Keys = nil
	f.e.attempt(context.Background(), f.t, 0)
	if c := f.q.last(t); c.op != "nack" || c.a.Error != signing.ErrNoKeys.Error() {
		t.Fatalf("call %+v", c)
	}
}

func TestAttemptLeaseLostLoggedAtDebug(t *testing.T) {
	f := newFixture(t, okTransport)
	f.q.err = fmt.Errorf("delivery dlv_1 fence 1: %w", ErrLeaseLost)
	f.e.attempt(context.Background(), f.t, 0)
	var line map[string]any
	if err := json.Unmarshal(bytes.TrimSpace(f.log.Bytes()), &line); err != nil {
		t.Fatalf("log %q: %v", f.log.String(), err)
	}
	if line["level"] != "DEBUG" || line["outcome"] != "success" {
		t.Fatalf("log line %v, want a debug line", line)
	}
}

// TestCanonicalLogLine checks the fixed fields and that no secret, signature or body reaches the log.
func TestCanonicalLogLine(t *testing.T) {
	var sig string
	f := newFixture(t, func(r *http.Request) (*http.Response, error) {
		sig = r.Header.Get(signing.HeaderSignature)
		r.Body.Close()
		return &http.Response{StatusCode: 503, Header: http.Header{"Retry-After": {"2"}},
			Body: io.NopCloser(strings.NewReader("RESPONSE-MARKER"))}, nil
	})
	f.src.ep.URL = "http://receiver.test/hook?token=URL-SECRET"
	f.e.attempt(context.Background(), f.t, 0)
	c := f.q.last(t)
	if c.op != "nack" || c.a.StatusCode != 503 || c.a.Response != "RESPONSE-MARKER" || c.a.Error != "HTTP 503, Retry-After 2s" {
		t.Fatalf("call %+v", c)
	}
	if wait := time.Until(c.at); wait < 1500*time.Millisecond {
		t.Fatalf("retry in %v, want about 2s (Retry-After)", wait)
	}
	var line map[string]any
	if err := json.Unmarshal(bytes.TrimSpace(f.log.Bytes()), &line); err != nil {
		t.Fatalf("log %q: %v", f.log.String(), err)
	}
	for k, want := range map[string]any{
		"msg": "delivery attempt", "tenant": "tn_1", "endpoint_id": "ep_1", "msg_id": f.src.msg.ID,
		"delivery_id": "dlv_1", "attempt": 1.0, "status": 503.0, "outcome": "retry",
	} {
		if line[k] != want {
			t.Errorf("log field %s = %v, want %v", k, line[k], want)
		}
	}
	if _, ok := line["latency_ms"]; !ok {
		t.Error("no latency_ms")
	}
	raw := f.log.String()
	for _, secret := range []string{f.src.ep.Keys[0].Secret, sig, "BODY-MARKER", "RESPONSE-MARKER", "URL-SECRET"} {
		if secret != "" && strings.Contains(raw, secret) {
			t.Errorf("log holds %q: %s", secret, raw)
		}
	}
}

func TestAttemptTransportErrorHidesURL(t *testing.T) {
	f := newFixture(t, nil)
	f.e.client = &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
		r.Body.Close()
		return nil, errors.New("dial tcp 10.0.0.1:443: connect: connection refused")
	})}
	f.src.ep.URL = "http://receiver.test/hook?token=URL-SECRET"
	f.e.attempt(context.Background(), f.t, 0)
	c := f.q.last(t)
	if c.op != "nack" || strings.Contains(c.a.Error, "URL-SECRET") || !strings.Contains(c.a.Error, "refused") {
		t.Fatalf("call %+v", c)
	}
}

func TestAttemptAbortedByShutdownIsReleased(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	f := newFixture(t, func(r *http.Request) (*http.Response, error) {
		cancel() // shutdown gives up while the request is out
		<-r.Context().Done()
		r.Body.Close()
		return nil, r.Context().Err()
	})
	f.e.attempt(ctx, f.t, 0)
	if c := f.q.last(t); c.op != "release" {
		t.Fatalf("call %+v, want release", c)
	}
}

// BenchmarkAttempt measures the engine's own cost per attempt (load, render, sign, post, record) with an in-memory
// transport and queue: what remains is the engine's and net/http's client-side work.
func BenchmarkAttempt(b *testing.B) {
	f := newFixture(b, okTransport)
	f.e.log = slog.New(slog.DiscardHandler)
	f.q.keep1 = true
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		f.e.attempt(ctx, f.t, 0)
	}
	if len(f.q.calls) != 1 || f.q.calls[0].op != "ack" {
		b.Fatalf("calls %+v", f.q.calls)
	}
}

// BenchmarkAttemptLoopback adds a real keep-alive connection to an httptest receiver.
func BenchmarkAttemptLoopback(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	f := newFixture(b, nil)
	f.e.client = srv.Client()
	f.src.ep.URL = srv.URL
	f.e.log = slog.New(slog.DiscardHandler)
	f.q.keep1 = true
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		f.e.attempt(ctx, f.t, 0)
	}
	if f.q.calls[len(f.q.calls)-1].op != "ack" {
		b.Fatalf("last call %+v", f.q.calls[len(f.q.calls)-1])
	}
}

// writeCounter counts the writes on a connection.
type writeCounter struct {
	net.Conn
	n *atomic.Int32
}

func (c writeCounter) Write(p []byte) (int, error) {
	c.n.Add(1)
	return c.Conn.Write(p)
}

// TestRequestInOneWrite: an attempt's request (headers and a body of a few KiB) goes out in one write, so one packet
// on loopback, rather than headers first and the body after: the transport does that only for a body it knows to be
// in memory.
func TestRequestInOneWrite(t *testing.T) {
	got := make(chan int, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- len(b)
	}))
	defer srv.Close()
	var writes atomic.Int32
	f := newFixture(t, nil)
	f.e.client = &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		return writeCounter{c, &writes}, err
	}}}
	f.src.ep.URL = srv.URL
	f.src.msg.Data = json.RawMessage(`{"pad":"` + strings.Repeat("x", 2000) + `"}`)
	f.e.attempt(context.Background(), f.t, 0)
	if c := f.q.last(t); c.op != "ack" {
		t.Fatalf("call %+v", c)
	}
	if n := <-got; n < 2000 {
		t.Fatalf("receiver got a %d-byte body", n)
	}
	if n := writes.Load(); n != 1 {
		t.Fatalf("the request took %d writes, want 1", n)
	}
}

// holdingQueue is a fakeQueue that can hold slow endpoints (SlowHolder); its holds are recorded with the other calls.
type holdingQueue struct {
	*fakeQueue
	fail error
}

func (q holdingQueue) HoldSlow(_ context.Context, endpointID string, until time.Time) error {
	q.add(call{op: "hold " + endpointID, at: until})
	return q.fail
}

// TestSlowEndpointHeld: with a queue that can hold, a timed-out attempt holds its endpoint for slowHold before the
// attempt is recorded (recording frees the slot a claim would fill), a further timeout renews the hold, and the first
// success lifts it before the ack; successes of an endpoint that was not slow write nothing more. A hold that fails is
// logged and the attempt is still recorded.
func TestSlowEndpointHeld(t *testing.T) {
	var timeout atomic.Bool
	timeout.Store(true)
	f := newFixture(t, func(r *http.Request) (*http.Response, error) {
		if timeout.Load() {
			<-r.Context().Done()
			r.Body.Close()
			return nil, r.Context().Err()
		}
		return okTransport(r)
	}, func(q *fakeQueue) Queue { return holdingQueue{fakeQueue: q} })
	f.src.ep.Timeout = 20 * time.Millisecond
	ctx := context.Background()
	ops := func() []string {
		f.q.mu.Lock()
		defer f.q.mu.Unlock()
		var out []string
		for _, c := range f.q.calls {
			out = append(out, c.op)
		}
		f.q.calls = f.q.calls[:0]
		return out
	}

	before := time.Now()
	f.e.attempt(ctx, f.t, 0)
	f.q.mu.Lock()
	hold := f.q.calls[0]
	f.q.mu.Unlock()
	if got := ops(); !slices.Equal(got, []string{"hold ep_1", "nack"}) {
		t.Fatalf("timed-out attempt: queue calls %q, want the hold, then the nack", got)
	}
	if d := hold.at.Sub(before); d < slowHold || d > slowHold+time.Second {
		t.Fatalf("held until %v after the attempt began, want about %v", d, slowHold)
	}
	f.e.attempt(ctx, f.t, 0) // nothing else in flight here, so it goes out, and times out again
	if got := ops(); !slices.Equal(got, []string{"hold ep_1", "nack"}) {
		t.Fatalf("second timeout: queue calls %q, want the hold renewed, then the nack", got)
	}

	timeout.Store(false)
	f.e.attempt(ctx, f.t, 0)
	if got := ops(); !slices.Equal(got, []string{"hold ep_1", "ack"}) {
		t.Fatalf("first success: queue calls %q, want the hold lifted, then the ack", got)
	}
	f.e.attempt(ctx, f.t, 0)
	if got := ops(); !slices.Equal(got, []string{"ack"}) {
		t.Fatalf("success of an endpoint that was not slow: queue calls %q", got)
	}

	// The lift above carried the zero time.
	timeout.Store(true)
	f.e.attempt(ctx, f.t, 0)
	timeout.Store(false)
	f.e.attempt(ctx, f.t, 0)
	f.q.mu.Lock()
	lift := f.q.calls[2]
	f.q.mu.Unlock()
	if lift.op != "hold ep_1" || !lift.at.IsZero() {
		t.Fatalf("lift %+v, want a hold until the zero time", lift)
	}
}

// TestSlowEndpointHoldFails: a hold the queue refuses is logged at warn, and the attempt is recorded all the same.
func TestSlowEndpointHoldFails(t *testing.T) {
	f := newFixture(t, func(r *http.Request) (*http.Response, error) {
		<-r.Context().Done()
		r.Body.Close()
		return nil, r.Context().Err()
	}, func(q *fakeQueue) Queue { return holdingQueue{fakeQueue: q, fail: errors.New("redis down")} })
	f.src.ep.Timeout = 20 * time.Millisecond
	f.e.attempt(context.Background(), f.t, 0)
	f.q.mu.Lock()
	n := len(f.q.calls)
	op := f.q.calls[n-1].op
	f.q.mu.Unlock()
	if n != 2 || op != "nack" {
		t.Fatalf("%d calls, last %q; want the hold, then the nack", n, op)
	}
	if !strings.Contains(f.log.String(), `"msg":"delivery: hold slow endpoint"`) || !strings.Contains(f.log.String(), "redis down") {
		t.Fatalf("log does not tell of the failed hold:\n%s", f.log.String())
	}
}

// TestSlowEndpointOneInFlight: after an attempt times out, the endpoint gets one attempt in flight at a time (a second
// task is released unspent, due about one attempt timeout later, without a request) until an attempt succeeds.
func TestSlowEndpointOneInFlight(t *testing.T) {
	var (
		mode    sync.Map // "mode" → "timeout", "hang" or "ok"
		entered = make(chan struct{}, 1)
		gate    = make(chan struct{})
		sent    atomic.Int32
	)
	mode.Store("mode", "timeout")
	f := newFixture(t, func(r *http.Request) (*http.Response, error) {
		sent.Add(1)
		m, _ := mode.Load("mode")
		switch m {
		case "timeout":
			<-r.Context().Done()
			r.Body.Close()
			return nil, r.Context().Err()
		case "hang":
			entered <- struct{}{}
			<-gate
		}
		return okTransport(r)
	})
	f.src.ep.Timeout = 20 * time.Millisecond
	f.q.keep1 = true
	ctx := context.Background()

	f.e.attempt(ctx, f.t, 0)
	if c := f.q.last(t); c.op != "nack" || !strings.Contains(c.a.Error, "timeout") {
		t.Fatalf("first attempt %+v, want a timeout", c)
	}

	// Slow now: one attempt goes out and hangs; a second is handed back unspent, with no request.
	mode.Store("mode", "hang")
	done := make(chan struct{})
	go func() { defer close(done); f.e.attempt(ctx, f.t, 0) }()
	<-entered
	mode.Store("mode", "ok")
	before, start := sent.Load(), time.Now()
	f.e.attempt(ctx, f.t, 0)
	c := f.q.last(t)
	if c.op != "release" || sent.Load() != before {
		t.Fatalf("second attempt while one is out: %+v, %d requests", c, sent.Load()-before)
	}
	if d := c.at.Sub(start); d < 700*time.Millisecond || d > 1300*time.Millisecond {
		t.Errorf("released for %v, want about the default attempt timeout", d)
	}
	close(gate)
	<-done
	if c := f.q.last(t); c.op != "ack" {
		t.Fatalf("hanging attempt ended with %+v", c)
	}

	// A success ends it: two attempts may be out at once again.
	mode.Store("mode", "hang")
	gate = make(chan struct{})
	done = make(chan struct{})
	go func() { defer close(done); f.e.attempt(ctx, f.t, 0) }()
	<-entered
	mode.Store("mode", "ok")
	f.e.attempt(ctx, f.t, 0)
	if c := f.q.last(t); c.op != "ack" {
		t.Fatalf("attempt beside another after a success: %+v", c)
	}
	close(gate)
	<-done
}

// TestSlowSpread: a slow endpoint's turned-away tasks are spread one more timeout per slowPerTimeout of them, at most
// slowSpread further, and the count starts again when the endpoint succeeds.
func TestSlowSpread(t *testing.T) {
	e := &Engine{cfg: Config{Lease: time.Minute}}
	d := e.cfg.attemptTimeout(0)
	for _, c := range []struct{ n, extra int }{{0, 0}, {slowPerTimeout - 1, 0}, {slowPerTimeout, 1}, {3 * slowPerTimeout, 3}, {1 << 40, -1}} {
		extra := time.Duration(c.extra) * d
		if c.extra < 0 {
			extra = slowSpread
		}
		for range 20 {
			if w := e.slowWait(c.n); w < d*3/4+extra || w > d*5/4+extra {
				t.Fatalf("slowWait(%d) = %v, want %v ± 25%% of %v", c.n, w, d+extra, d)
			}
		}
	}

	st := &epState{}
	now := time.Now()
	if ok, _, _ := st.enter(now, 8, time.Second); !ok {
		t.Fatal("first attempt refused")
	}
	st.setSlow(true)
	for i := range 3 {
		if ok, n, _ := st.enter(now, 8, time.Second); ok || n != i {
			t.Fatalf("slow endpoint, attempt out: enter = %v, %d; want false, %d", ok, n, i)
		}
	}
	st.setSlow(true) // another timeout: still the same slow spell
	if _, n, _ := st.enter(now, 8, time.Second); n != 3 {
		t.Fatalf("after a second timeout: %d turned away before, want 3", n)
	}
	st.setSlow(false)
	st.setSlow(true)
	if _, n, _ := st.enter(now, 8, time.Second); n != 0 {
		t.Fatalf("after a success: %d turned away before, want 0", n)
	}
}
