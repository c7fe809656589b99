package verifier_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/profiles"
	"github.com/webhookd/webhookd/signing"
	"github.com/webhookd/webhookd/verifier"
)

// recordingHandler remembers what it was handed and answers with status.
type recordingHandler struct {
	calls  int
	body   []byte
	res    verifier.Result
	hasRes bool
	status int
}

func (h *recordingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.calls++
	h.body, _ = io.ReadAll(r.Body)
	h.res, h.hasRes = verifier.ResultFrom(r.Context())
	if h.status != 0 {
		w.WriteHeader(h.status)
	}
	w.Write([]byte("handled"))
}

func request(method string, m message) *http.Request {
	r := httptest.NewRequest(method, "/webhooks", bytes.NewReader(m.body))
	for k, vs := range m.header {
		r.Header[k] = vs
	}
	return r
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func decodeError(t *testing.T, w *httptest.ResponseRecorder) apiError {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q", ct)
	}
	var e apiError
	dec := json.NewDecoder(w.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil || e.Code == "" || e.Message == "" {
		t.Fatalf("error body %q: %+v, %v", w.Body.String(), e, err)
	}
	return e
}

func TestMiddlewarePassesVerifiedBody(t *testing.T) {
	v := newVerifier(t, verifier.Config{Keys: []string{secretA}})
	next := &recordingHandler{status: http.StatusAccepted}
	h := v.Middleware(next)
	msg := render(t, profiles.Standard, clock, secretA)
	msg.body = append(msg.body, " \r\n\x00\xff"...) // not JSON-normalised: bytes pass through as sent
	k, _ := signing.ParseKey(secretA)
	profiles.Standard.SetHeaders(msg.header, msg.msg, msg.body, clock, []signing.Key{k})

	w := serve(h, request(http.MethodPost, msg))
	if w.Code != http.StatusAccepted || w.Body.String() != "handled" {
		t.Fatalf("status %d, body %q", w.Code, w.Body)
	}
	if next.calls != 1 || !bytes.Equal(next.body, msg.body) {
		t.Fatalf("handler got %q, want %q", next.body, msg.body)
	}
	if !next.hasRes || next.res.MessageID != msg.msg.ID.String() || next.res.Version != "v1" {
		t.Fatalf("ResultFrom = %+v, %v", next.res, next.hasRes)
	}
	if _, ok := verifier.ResultFrom(context.Background()); ok {
		t.Fatal("ResultFrom found a Result in a bare context")
	}
}

func TestMiddlewareRefusesUnverified(t *testing.T) {
	v := newVerifier(t, verifier.Config{Keys: []string{secretA}})
	next := &recordingHandler{}
	h := v.Middleware(next)
	good := render(t, profiles.Standard, clock, secretA)

	tests := []struct {
		name string
		edit func(m *message)
		code string
	}{
		{"missing header", func(m *message) { m.header.Del("Webhook-Id") }, verifier.CodeMissingHeader},
		{"malformed header", func(m *message) { m.header.Set("Webhook-Timestamp", "soon") }, verifier.CodeMalformedHeader},
		{"too old", func(m *message) { *m = render(t, profiles.Standard, clock.Add(-time.Hour), secretA) }, verifier.CodeTimestampTooOld},
		{"too new", func(m *message) { *m = render(t, profiles.Standard, clock.Add(time.Hour), secretA) }, verifier.CodeTimestampTooNew},
		{"forged", func(m *message) { *m = render(t, profiles.Standard, clock, secretB) }, verifier.CodeNoMatchingSignature},
		{"tampered", func(m *message) { m.body = append(m.body, ' ') }, verifier.CodeNoMatchingSignature},
	}
	for _, tt := range tests {
		m := message{good.header.Clone(), good.body, good.msg}
		tt.edit(&m)
		w := serve(h, request(http.MethodPost, m))
		if w.Code != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401", tt.name, w.Code)
			continue
		}
		if e := decodeError(t, w); e.Code != tt.code {
			t.Errorf("%s: code %q, want %q (%s)", tt.name, e.Code, tt.code, e.Message)
		}
	}
	if next.calls != 0 {
		t.Fatalf("handler called %d times for unverified requests", next.calls)
	}
}

func TestMiddlewareBodyLimit(t *testing.T) {
	v := newVerifier(t, verifier.Config{Keys: []string{secretA}, MaxBodyBytes: 64})
	next := &recordingHandler{}
	h := v.Middleware(next)
	msg := render(t, profiles.Standard, clock, secretA)
	msg.body = bytes.Repeat([]byte("x"), 65)

	// Declared length over the limit, and an undeclared (chunked) one that turns out to be.
	declared := request(http.MethodPost, msg)
	chunked := request(http.MethodPost, msg)
	chunked.ContentLength = -1
	chunked.Body = io.NopCloser(io.MultiReader(bytes.NewReader(msg.body))) // hides the length
	for name, r := range map[string]*http.Request{"declared": declared, "chunked": chunked} {
		w := serve(h, r)
		if w.Code != http.StatusRequestEntityTooLarge {
			t.Fatalf("%s: status %d, want 413", name, w.Code)
		}
		if e := decodeError(t, w); e.Code != verifier.CodeBodyTooLarge {
			t.Fatalf("%s: code %q", name, e.Code)
		}
	}
	// Exactly at the limit is fine.
	msg.body = msg.body[:64]
	k, _ := signing.ParseKey(secretA)
	profiles.Standard.SetHeaders(msg.header, msg.msg, msg.body, clock, []signing.Key{k})
	if w := serve(h, request(http.MethodPost, msg)); w.Code != http.StatusOK {
		t.Fatalf("body at the limit: status %d (%s)", w.Code, w.Body)
	}
	if next.calls != 1 {
		t.Fatalf("handler called %d times, want 1", next.calls)
	}

	// The default limit is 1 MiB.
	d := newVerifier(t, verifier.Config{Keys: []string{secretA}}).Middleware(next)
	msg.body = make([]byte, verifier.DefaultMaxBodyBytes+1)
	if w := serve(d, request(http.MethodPost, msg)); w.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("1 MiB + 1: status %d", w.Code)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func TestMiddlewareUnreadableBody(t *testing.T) {
	v := newVerifier(t, verifier.Config{Keys: []string{secretA}})
	r := httptest.NewRequest(http.MethodPost, "/", io.NopCloser(failingReader{}))
	w := serve(v.Middleware(&recordingHandler{}), r)
	if w.Code != http.StatusBadRequest || decodeError(t, w).Code != verifier.CodeBodyUnreadable {
		t.Fatalf("status %d, body %s", w.Code, w.Body)
	}
}

func TestMiddlewareMethods(t *testing.T) {
	v := newVerifier(t, verifier.Config{Keys: []string{secretA}})
	next := &recordingHandler{}
	h := v.Middleware(next)

	w := serve(h, httptest.NewRequest(http.MethodOptions, "/webhooks", nil))
	if w.Code != http.StatusNoContent || w.Header().Get("Allow") != "POST, OPTIONS" || w.Body.Len() != 0 {
		t.Fatalf("OPTIONS: status %d, Allow %q, body %q", w.Code, w.Header().Get("Allow"), w.Body)
	}
	if !strings.Contains(w.Header().Get("Allow"), "POST") {
		t.Fatal("Allow must list POST for the endpoint handshake")
	}
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodPatch} {
		w := serve(h, httptest.NewRequest(m, "/webhooks", nil))
		if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "POST, OPTIONS" {
			t.Errorf("%s: status %d, Allow %q", m, w.Code, w.Header().Get("Allow"))
			continue
		}
		if e := decodeError(t, w); e.Code != verifier.CodeMethodNotAllowed {
			t.Errorf("%s: code %q", m, e.Code)
		}
	}
	if next.calls != 0 {
		t.Fatalf("handler called %d times", next.calls)
	}
}

func TestMiddlewareDedup(t *testing.T) {
	clk := &fakeClock{now: clock}
	v := newVerifier(t, verifier.Config{Keys: []string{secretA}, Now: clk.Now, DedupTTL: 10 * time.Minute})
	next := &recordingHandler{}
	h := v.Middleware(next)
	msg := render(t, profiles.Standard, clock, secretA)

	if w := serve(h, request(http.MethodPost, msg)); w.Code != http.StatusOK || next.calls != 1 {
		t.Fatalf("first delivery: status %d, %d calls", w.Code, next.calls)
	}
	// A retry of the same message, with a new timestamp and signature: 200, handler not called.
	clk.Advance(time.Minute)
	retry := message{msg.header.Clone(), msg.body, msg.msg}
	k, _ := signing.ParseKey(secretA)
	profiles.Standard.SetHeaders(retry.header, msg.msg, msg.body, clk.Now(), []signing.Key{k})
	if retry.header.Get("Webhook-Timestamp") == msg.header.Get("Webhook-Timestamp") {
		t.Fatal("test setup: the retry should carry a new timestamp")
	}
	w := serve(h, request(http.MethodPost, retry))
	if w.Code != http.StatusOK || next.calls != 1 || w.Body.Len() != 0 {
		t.Fatalf("duplicate: status %d, body %q, %d calls; want 200, empty, handler not called", w.Code, w.Body, next.calls)
	}
	// Once the TTL has passed the id is new again.
	clk.Advance(10 * time.Minute)
	profiles.Standard.SetHeaders(retry.header, msg.msg, msg.body, clk.Now(), []signing.Key{k})
	if w := serve(h, request(http.MethodPost, retry)); w.Code != http.StatusOK || next.calls != 2 {
		t.Fatalf("after the TTL: status %d, %d calls", w.Code, next.calls)
	}
}

func TestMiddlewareForgedRequestDoesNotPoisonDedup(t *testing.T) {
	store := verifier.NewMemoryDedup(verifier.MemoryDedupConfig{Now: fixedNow})
	v := newVerifier(t, verifier.Config{Keys: []string{secretA}, Dedup: store})
	next := &recordingHandler{}
	h := v.Middleware(next)
	real := render(t, profiles.Standard, clock, secretA)

	// An attacker who knows the next id sends it first, with a bad signature.
	forged := message{real.header.Clone(), real.body, real.msg}
	forged.header.Set("Webhook-Signature", "v1,"+strings.Repeat("A", 43)+"=")
	if w := serve(h, request(http.MethodPost, forged)); w.Code != http.StatusUnauthorized {
		t.Fatalf("forged: status %d", w.Code)
	}
	if store.Len() != 0 {
		t.Fatal("a forged request recorded its id")
	}
	if w := serve(h, request(http.MethodPost, real)); w.Code != http.StatusOK || next.calls != 1 {
		t.Fatalf("the real message after a forgery: status %d, %d calls", w.Code, next.calls)
	}
}

func TestMiddlewareFailedHandlerIsRetried(t *testing.T) {
	v := newVerifier(t, verifier.Config{Keys: []string{secretA}})
	msg := render(t, profiles.Standard, clock, secretA)

	failing := &recordingHandler{status: http.StatusInternalServerError}
	if w := serve(v.Middleware(failing), request(http.MethodPost, msg)); w.Code != http.StatusInternalServerError {
		t.Fatalf("status %d", w.Code)
	}
	// The sender retries; the handler must see it again, not a 200 "duplicate".
	ok := &recordingHandler{}
	if w := serve(v.Middleware(ok), request(http.MethodPost, msg)); w.Code != http.StatusOK || ok.calls != 1 {
		t.Fatalf("retry after a 500: status %d, %d calls", w.Code, ok.calls)
	}
	if w := serve(v.Middleware(ok), request(http.MethodPost, msg)); ok.calls != 1 || w.Code != http.StatusOK {
		t.Fatalf("retry after success: %d calls, want it dropped", ok.calls)
	}

	// A panicking handler also releases the id.
	other := render(t, profiles.Standard, clock, secretA)
	panicking := v.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }))
	func() {
		defer func() { _ = recover() }()
		serve(panicking, request(http.MethodPost, other))
	}()
	if w := serve(v.Middleware(ok), request(http.MethodPost, other)); ok.calls != 2 || w.Code != http.StatusOK {
		t.Fatalf("retry after a panic: %d calls", ok.calls)
	}
}

type brokenStore struct{}

func (brokenStore) Seen(context.Context, string, time.Duration) (bool, error) {
	return false, errors.New("redis: connection refused")
}

func TestMiddlewareDedupFailure(t *testing.T) {
	v := newVerifier(t, verifier.Config{Keys: []string{secretA}, Dedup: brokenStore{}})
	next := &recordingHandler{}
	w := serve(v.Middleware(next), request(http.MethodPost, render(t, profiles.Standard, clock, secretA)))
	if w.Code != http.StatusServiceUnavailable || next.calls != 0 {
		t.Fatalf("status %d, %d calls", w.Code, next.calls)
	}
	if e := decodeError(t, w); e.Code != verifier.CodeDedupUnavailable || strings.Contains(e.Message, "redis") {
		t.Fatalf("error %+v: want dedup_unavailable without internals", e)
	}
}

func TestMiddlewareDedupKeys(t *testing.T) {
	// Each profile deduplicates on its own id: webhook-id, X-OpenMDM-Delivery, the mender body's "id".
	for _, tt := range []struct {
		p   profiles.Profile
		key string
	}{
		{profiles.Standard, secretA}, {profiles.OpenMDM, openmdmSecret}, {profiles.Mender, menderSecret},
	} {
		v := newVerifier(t, verifier.Config{Profile: tt.p.Name(), Keys: []string{tt.key}})
		next := &recordingHandler{}
		h := v.Middleware(next)
		a := render(t, tt.p, clock, tt.key)
		b := render(t, tt.p, clock, tt.key) // another message
		for _, m := range []message{a, a, b, a, b} {
			if w := serve(h, request(http.MethodPost, m)); w.Code != http.StatusOK {
				t.Fatalf("%s: status %d: %s", tt.p.Name(), w.Code, w.Body)
			}
		}
		if next.calls != 2 {
			t.Errorf("%s: handler called %d times for two distinct messages", tt.p.Name(), next.calls)
		}
	}
}

func TestMiddlewareNoDedup(t *testing.T) {
	v := newVerifier(t, verifier.Config{Keys: []string{secretA}, Dedup: verifier.NoDedup{}})
	next := &recordingHandler{}
	msg := render(t, profiles.Standard, clock, secretA)
	for range 2 {
		serve(v.Middleware(next), request(http.MethodPost, msg))
	}
	if next.calls != 2 {
		t.Fatalf("NoDedup: %d calls, want 2", next.calls)
	}
}

// TestMiddlewareOverHTTP runs the middleware behind a real server, so that net/http's own body handling and
// response writer (Flusher, ResponseController) are in the loop.
func TestMiddlewareOverHTTP(t *testing.T) {
	v := newVerifier(t, verifier.Config{Keys: []string{secretA}})
	srv := httptest.NewServer(v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("Flush through the middleware: %v", err)
		}
		w.Write(body)
	})))
	defer srv.Close()
	msg := render(t, profiles.Standard, clock, secretA)
	req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(msg.body))
	req.Header = msg.header.Clone()
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	echoed, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(echoed, msg.body) {
		t.Fatalf("status %d, echoed %q", resp.StatusCode, echoed)
	}
}
