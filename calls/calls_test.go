package calls

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhookd/webhookd/egress"
	"github.com/webhookd/webhookd/endpoints"
	"github.com/webhookd/webhookd/profiles"
	"github.com/webhookd/webhookd/signing"
	"github.com/webhookd/webhookd/verifier"
)

// These tests drive the Service directly over an in-memory endpoint lookup and log; gateway/calls_test.go runs the
// same paths end to end.

type memEndpoints map[string]*endpoints.Endpoint

func (m memEndpoints) GetEndpoint(_ context.Context, tenant, id string) (*endpoints.Endpoint, error) {
	if e, ok := m[id]; ok && e.TenantID == tenant {
		return e, nil
	}
	return nil, endpoints.ErrNotFound
}

type memLog struct {
	mu sync.Mutex
	cs []*Call
}

func (l *memLog) AddCalls(_ context.Context, cs []*Call) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cs = append(l.cs, cs...)
	return nil
}
func (l *memLog) ListCalls(context.Context, string, string, string, int) ([]*Call, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*Call(nil), l.cs...), nil
}
func (l *memLog) PruneCalls(context.Context, time.Time) (int, error) { return 0, nil }

func callsEndpoint(t testing.TB, url string) (*endpoints.Endpoint, string) {
	t.Helper()
	sec, _, err := profiles.Standard.GenerateKey(signing.HMAC)
	if err != nil {
		t.Fatal(err)
	}
	return &endpoints.Endpoint{ID: "ep_1", TenantID: "acme", URL: url, Kind: endpoints.KindCalls, Profile: "standard",
		Algorithm: "hmac", Keys: []endpoints.Key{{Secret: sec}}, Timeout: time.Second}, sec
}

// A call to an address the policy forbids never leaves the process: unreachable, and nothing reaches the backend,
// even when the endpoint's URL was registered under a laxer policy (or its name resolves elsewhere now).
func TestCallForbiddenAddress(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { hits.Add(1) }))
	defer srv.Close()
	for _, c := range []struct {
		policy egress.Policy
		why    string
	}{
		{egress.Policy{AllowHTTP: true}, "forbidden address"}, // refused when dialling 127.0.0.1
		{egress.Policy{}, "scheme not allowed"},               // refused before: http
	} {
		policy := c.policy
		ep, _ := callsEndpoint(t, srv.URL)
		log := &memLog{}
		s := New(memEndpoints{"ep_1": ep}, log, Config{Policy: policy})
		res, err := s.Call(t.Context(), "acme", Request{EndpointID: "ep_1", Path: "/checkin", Body: []byte(`{}`)})
		s.Close()
		if err != nil || res.Outcome != Unreachable || !strings.Contains(res.Error, c.why) {
			t.Fatalf("policy %+v: %+v, %v", policy, res, err)
		}
		if len(log.cs) != 1 || log.cs[0].Outcome != Unreachable {
			t.Fatalf("policy %+v: the refused call is not logged as unreachable: %+v", policy, log.cs)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the backend was reached %d times", n)
	}
}

// failFirst fails the first request before anything is written, as a refused or reset connection does.
type failFirst struct {
	base  http.RoundTripper
	calls atomic.Int32
}

func (f *failFirst) RoundTrip(r *http.Request) (*http.Response, error) {
	if f.calls.Add(1) == 1 {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	}
	return f.base.RoundTrip(r)
}

func TestIdempotentRetry(t *testing.T) {
	ep0, sec := callsEndpoint(t, "")
	v, err := verifier.New(verifier.Config{Keys: []string{sec}})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	var mu sync.Mutex
	srv := httptest.NewServer(v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ids = append(ids, r.Header.Get("webhook-id"))
		mu.Unlock()
		io.WriteString(w, `{"_tag":"Idle"}`)
	})))
	defer srv.Close()
	ep0.URL = srv.URL
	for _, idem := range []bool{false, true} {
		rt := &failFirst{base: http.DefaultTransport}
		s := New(memEndpoints{"ep_1": ep0}, &memLog{}, Config{Policy: egress.Policy{AllowHTTP: true, AllowPrivate: true},
			Client: &http.Client{Transport: rt}})
		res, err := s.Call(t.Context(), "acme", Request{EndpointID: "ep_1", Path: "/checkin", Body: []byte(`{}`), Idempotent: idem})
		s.Close()
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case !idem && (res.Outcome != Unreachable || res.Attempts != 1 || rt.calls.Load() != 1):
			t.Fatalf("not idempotent: %+v after %d requests; want unreachable, no retry", res, rt.calls.Load())
		case idem && (res.Outcome != OK || res.Attempts != 2 || rt.calls.Load() != 2):
			t.Fatalf("idempotent: %+v after %d requests; want ok on the retry", res, rt.calls.Load())
		}
	}
	if len(ids) != 1 || ids[0] == "" {
		t.Fatalf("the backend saw %v; want exactly the retried call", ids)
	}
}

// A call whose request went out is never retried, idempotent or not: the backend may have acted on it.
func TestNoRetryAfterSending(t *testing.T) {
	ep, _ := callsEndpoint(t, "")
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.ReadAll(r.Body)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close() // read the request, then hang up without an answer
		}
	}))
	defer srv.Close()
	ep.URL = srv.URL
	s := New(memEndpoints{"ep_1": ep}, &memLog{}, Config{Policy: egress.Policy{AllowHTTP: true, AllowPrivate: true}})
	defer s.Close()
	res, err := s.Call(t.Context(), "acme", Request{EndpointID: "ep_1", Path: "/x", Body: []byte(`{}`), Idempotent: true})
	if err != nil || res.Outcome != Unreachable || res.Attempts != 1 || hits.Load() != 1 {
		t.Fatalf("%+v, %v after %d hits; want unreachable after one request", res, err, hits.Load())
	}
}

func TestBreakerStates(t *testing.T) {
	b := newBreakers(2, time.Minute)
	t0 := time.Unix(1000, 0)
	for i := range 2 {
		if ok, probe := b.allow("e", t0); !ok || probe {
			t.Fatalf("call %d: allow %v probe %v", i, ok, probe)
		}
		b.done("e", false, true, t0)
	}
	if ok, _ := b.allow("e", t0.Add(59*time.Second)); ok {
		t.Fatal("open circuit let a call through before the cool-down")
	}
	if ok, _ := b.allow("other", t0); !ok {
		t.Fatal("one endpoint's breaker stopped another's calls")
	}
	ok, probe := b.allow("e", t0.Add(time.Minute))
	if !ok || !probe {
		t.Fatalf("after the cool-down: allow %v probe %v, want the probe", ok, probe)
	}
	if ok, _ := b.allow("e", t0.Add(time.Minute)); ok {
		t.Fatal("a second call went through while the probe was out")
	}
	b.abandon("e") // the probe's console went away: another call may probe
	if ok, probe := b.allow("e", t0.Add(time.Minute)); !ok || !probe {
		t.Fatal("no probe after an abandoned one")
	}
	b.done("e", true, false, t0.Add(time.Minute))
	if ok, probe := b.allow("e", t0.Add(time.Minute)); !ok || probe {
		t.Fatal("a successful probe did not close the circuit")
	}
	if len(b.m) != 0 {
		t.Fatalf("a closed breaker without failures is kept: %v", b.m)
	}
}

func TestCheck(t *testing.T) {
	for _, c := range []struct {
		req   Request
		field string
	}{
		{Request{Path: "x", Body: []byte(`{}`)}, "path"},
		{Request{Path: "/a/./b", Body: []byte(`{}`)}, "path"},
		{Request{Path: "/a b", Body: []byte(`{}`)}, "path"},
		{Request{Path: "/a#b", Body: []byte(`{}`)}, "path"},
		{Request{Path: "/a", Body: nil}, "body"},
		{Request{Path: "/a", Body: []byte(`{`)}, "body"},
		{Request{Path: "/a", Body: []byte(`{}`), Timeout: 31 * time.Second}, "timeout"},
		{Request{Path: "/a", Body: []byte(`{}`), Timeout: time.Millisecond}, "timeout"},
		{Request{Path: "/a/b-c_d.e~f", Body: []byte(`null`), Timeout: 30 * time.Second}, ""},
	} {
		err := Check(c.req)
		var fe *FieldError
		switch {
		case c.field == "" && err != nil:
			t.Errorf("%+v: %v", c.req, err)
		case c.field != "" && (!errors.As(err, &fe) || fe.Field != c.field || !errors.Is(err, ErrInvalid)):
			t.Errorf("%+v: %v, want a %s error", c.req, err, c.field)
		}
	}
}

// The default error tags apply when an endpoint declares none; declared tags replace them.
func TestErrorTags(t *testing.T) {
	ep := &endpoints.Endpoint{Kind: endpoints.KindCalls}
	for _, c := range []struct {
		body string
		tag  string
		ok   bool
	}{
		{`{"_tag":"UnknownDevice"}`, "UnknownDevice", true},
		{` {"_tag": "ServerInitiatedUnenrollment", "reason": "x"}`, "ServerInitiatedUnenrollment", true},
		{`{"_tag":"Idle"}`, "", false},
		{`["_tag"]`, "", false},
		{`null`, "", false},
		{`{"_tag":7}`, "", false},
	} {
		if tag, ok := errorTag([]byte(c.body), ep.Tags()); tag != c.tag || ok != c.ok {
			t.Errorf("%s: %q %v", c.body, tag, ok)
		}
	}
	ep.Calls = &endpoints.CallSettings{ErrorTags: []string{"Locked"}}
	if _, ok := errorTag([]byte(`{"_tag":"UnknownDevice"}`), ep.Tags()); ok {
		t.Error("declared tags did not replace the defaults")
	}
}

// gatedLog holds every AddCalls until release is closed.
type gatedLog struct {
	memLog
	release chan struct{}
	entered chan struct{}
}

func (g *gatedLog) AddCalls(ctx context.Context, cs []*Call) error {
	select {
	case g.entered <- struct{}{}:
	default:
	}
	<-g.release
	return g.memLog.AddCalls(ctx, cs)
}

type countDrops struct {
	nopObserver
	drops atomic.Int32
}

func (c *countDrops) CallLogDropped() { c.drops.Add(1) }

// A store slower than the calls never holds a call up: entries beyond the queue are dropped and counted, and Close
// writes what was queued.
func TestLogWriterDropsAndFlushes(t *testing.T) {
	lg := &gatedLog{release: make(chan struct{}), entered: make(chan struct{}, 1)}
	obs := &countDrops{}
	w := newLogWriter(lg, 2, obs, nil)
	w.add(&Call{ID: "call_0"})
	<-lg.entered // the writer holds call_0 in a blocked write
	for i := 1; i <= 5; i++ {
		w.add(&Call{ID: fmt.Sprintf("call_%d", i)}) // two fit in the queue, three are dropped
	}
	if n := obs.drops.Load(); n != 3 {
		t.Fatalf("%d drops, want 3", n)
	}
	close(lg.release)
	w.close()
	w.add(&Call{ID: "call_late"}) // after close: ignored, not a panic
	if len(lg.cs) != 3 || lg.cs[0].ID != "call_0" || lg.cs[2].ID != "call_2" {
		t.Fatalf("written %d entries: %+v", len(lg.cs), lg.cs)
	}
}
