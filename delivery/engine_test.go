package delivery_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/egress"
	"github.com/webhookd/webhookd/endpoints"
	"github.com/webhookd/webhookd/internal/ids"
	"github.com/webhookd/webhookd/profiles"
	"github.com/webhookd/webhookd/signing"
	boltstore "github.com/webhookd/webhookd/store/boltstore"
	"github.com/webhookd/webhookd/verifier"
)

const tenant = "tn_test"

// fastRetry keeps retry tests short: 10ms, 20ms, 40ms, 50ms, 50ms (±20%).
var fastRetry = delivery.Retry{Initial: 10 * time.Millisecond, Cap: 50 * time.Millisecond}

// ---- harness ----

type harness struct {
	t      *testing.T
	store  *boltstore.Store
	eng    *delivery.Engine
	cancel context.CancelFunc
	done   chan error
	notes  *notifier
}

// notifier records EndpointDisabled calls.
type notifier struct {
	mu    sync.Mutex
	calls []string // "<endpoint id> <reason>"
}

func (n *notifier) EndpointDisabled(_ context.Context, ep *endpoints.Endpoint, reason string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !ep.Disabled || ep.DisabledReason != reason {
		reason += " (endpoint not marked disabled)"
	}
	n.calls = append(n.calls, ep.ID+" "+reason)
}

func (n *notifier) get() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.calls)
}

// newHarness opens a bolt store in a temporary directory and builds an engine on it with a fast retry schedule
// unless cfg says otherwise. The engine is not started.
func newHarness(t *testing.T, cfg delivery.Config) *harness {
	t.Helper()
	st, err := boltstore.Open(t.TempDir(), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if cfg.Retry == (delivery.Retry{}) {
		cfg.Retry = fastRetry
	}
	cfg.IdleMax = cmpOr(cfg.IdleMax, 50*time.Millisecond)
	cfg.ReclaimEvery = cmpOr(cfg.ReclaimEvery, 50*time.Millisecond)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	n := &notifier{}
	client := egress.NewClient(egress.ClientConfig{Policy: egress.Policy{AllowHTTP: true, AllowPrivate: true}})
	eng, err := delivery.NewEngine(cfg, delivery.Deps{Queue: st, Messages: st, Endpoints: st, Client: client, Notifier: n})
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, store: st, eng: eng, notes: n}
}

func cmpOr[T comparable](a, b T) T {
	var zero T
	if a != zero {
		return a
	}
	return b
}

// start runs the engine until the test ends (or stop), and checks that Run returns nil promptly after cancel.
func (h *harness) start() {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan error, 1)
	go func() { h.done <- h.eng.Run(ctx) }()
	h.t.Cleanup(h.stop)
}

// stop cancels Run and waits for it to return.
func (h *harness) stop() {
	h.t.Helper()
	if h.cancel == nil {
		return
	}
	h.cancel()
	select {
	case err, ok := <-h.done:
		if ok && err != nil {
			h.t.Errorf("Run returned %v", err)
		}
		close(h.done)
		h.cancel = nil
	case <-time.After(15 * time.Second):
		h.t.Fatal("Run did not return after cancel")
	}
}

// endpoint registers an endpoint at url under profile with a fresh key; mod adjusts it first.
func (h *harness) endpoint(url, profile string, mod ...func(*endpoints.Endpoint)) *endpoints.Endpoint {
	h.t.Helper()
	p, err := profiles.Lookup(profile)
	if err != nil {
		h.t.Fatal(err)
	}
	secret, public, err := p.GenerateKey(signing.HMAC)
	if err != nil {
		h.t.Fatal(err)
	}
	now := time.Now()
	ep := &endpoints.Endpoint{
		ID: ids.New("ep"), TenantID: tenant, URL: url, Events: []string{"*"}, Profile: profile, Algorithm: "hmac",
		Keys: []endpoints.Key{{Secret: secret, Public: public, CreatedAt: now}}, CreatedAt: now, UpdatedAt: now,
	}
	for _, f := range mod {
		f(ep)
	}
	if err := h.store.CreateEndpoint(context.Background(), ep); err != nil {
		h.t.Fatal(err)
	}
	return ep
}

// publish stores n messages, each with one delivery to ep, due now, and wakes the engine. It returns the
// deliveries' ids in order.
func (h *harness) publish(ep *endpoints.Endpoint, n int) []string {
	h.t.Helper()
	out := make([]string, n)
	for i := range n {
		m, ds := newMessage(ep, i)
		if _, _, _, err := h.store.Publish(context.Background(), m, ds, time.Time{}); err != nil {
			h.t.Fatal(err)
		}
		out[i] = ds[0].ID
	}
	h.eng.Wake()
	return out
}

var messageSeq atomic.Int64

func newMessage(ep *endpoints.Endpoint, i int) (*delivery.Message, []*delivery.Delivery) {
	now := time.Now()
	seq := messageSeq.Add(1)
	m := &delivery.Message{
		ID: signing.NewMessageID().String(), TenantID: tenant, Type: "device.status_changed",
		Timestamp: now.Add(-time.Second).Truncate(time.Millisecond),
		Data:      json.RawMessage(fmt.Sprintf(`{"device":"d%d","status":"ok","seq":%d}`, i, seq)), CreatedAt: now,
	}
	d := &delivery.Delivery{
		ID: ids.New("dlv"), TenantID: tenant, MessageID: m.ID, EndpointID: ep.ID, EventType: m.Type,
		Status: delivery.StatusPending, NextAttemptAt: now, CreatedAt: now, UpdatedAt: now,
	}
	return m, []*delivery.Delivery{d}
}

func (h *harness) delivery(id string) *delivery.Delivery {
	h.t.Helper()
	d, err := h.store.GetDelivery(context.Background(), tenant, id)
	if err != nil {
		h.t.Fatal(err)
	}
	return d
}

func (h *harness) attempts(id string) []delivery.Attempt {
	h.t.Helper()
	as, err := h.store.ListAttempts(context.Background(), tenant, id)
	if err != nil {
		h.t.Fatal(err)
	}
	return as
}

func (h *harness) getEndpoint(id string) *endpoints.Endpoint {
	h.t.Helper()
	ep, err := h.store.GetEndpoint(context.Background(), tenant, id)
	if err != nil {
		h.t.Fatal(err)
	}
	return ep
}

// waitStatus waits until every delivery in ids has status s.
func (h *harness) waitStatus(s delivery.Status, ids ...string) {
	h.t.Helper()
	eventually(h.t, fmt.Sprintf("%d deliveries %s", len(ids), s), func() bool {
		for _, id := range ids {
			if h.delivery(id).Status != s {
				return false
			}
		}
		return true
	})
}

// eventually polls cond every few milliseconds for up to 10 seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func outcomes(as []delivery.Attempt) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.Outcome
	}
	return out
}

// ---- receiver ----

type request struct {
	header http.Header
	body   []byte
	at     time.Time
}

// receiver is an httptest server that records every request and answers with handle (200 "ok" when nil).
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	reqs   []request
	handle func(w http.ResponseWriter, r *http.Request, n int) // n: 1-based request number
}

func newReceiver(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, n int)) *receiver {
	rc := &receiver{handle: handle}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, request{header: r.Header.Clone(), body: body, at: time.Now()})
		n := len(rc.reqs)
		rc.mu.Unlock()
		if rc.handle == nil {
			io.WriteString(w, "ok")
			return
		}
		rc.handle(w, r, n)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) requests() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.reqs)
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.reqs)
}

// statuses answers the nth request with codes[n-1] (the last code thereafter).
func statuses(codes ...int) func(http.ResponseWriter, *http.Request, int) {
	return func(w http.ResponseWriter, _ *http.Request, n int) {
		w.WriteHeader(codes[min(n, len(codes))-1])
	}
}

// verifySignature checks a request's signature headers the way a receiver of profile would, independently of the
// profile's SetHeaders.
func verifySignature(profile, secret string, r request) error {
	switch profile {
	case "standard":
		key, err := signing.ParseKey(secret)
		if err != nil {
			return err
		}
		ts, err := strconv.ParseInt(r.header.Get("webhook-timestamp"), 10, 64)
		if err != nil {
			return err
		}
		want, err := signing.Sign(r.header.Get("webhook-id"), ts, r.body, key)
		if err != nil {
			return err
		}
		if got := r.header.Get("webhook-signature"); got != want {
			return fmt.Errorf("webhook-signature %q, want %q", got, want)
		}
	case "openmdm":
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(r.body)
		if got, want := r.header.Get("X-OpenMDM-Signature"), "sha256="+hex.EncodeToString(mac.Sum(nil)); got != want {
			return fmt.Errorf("X-OpenMDM-Signature %q, want %q", got, want)
		}
	case "mender":
		raw, err := hex.DecodeString(secret)
		if err != nil {
			return err
		}
		mac := hmac.New(sha256.New, raw)
		mac.Write(r.body)
		want := hex.EncodeToString(mac.Sum(nil))
		if got := r.header.Get("X-Men-Signature"); got != want {
			return fmt.Errorf("X-Men-Signature %q, want %q", got, want)
		}
	}
	return nil
}

// ---- tests ----

func TestHappyPathProfiles(t *testing.T) {
	for _, profile := range []string{"standard", "openmdm", "mender"} {
		t.Run(profile, func(t *testing.T) {
			h := newHarness(t, delivery.Config{})
			rc := newReceiver(t, nil)
			ep := h.endpoint(rc.srv.URL, profile, func(ep *endpoints.Endpoint) {
				// Custom headers go out, but never override the profile's.
				ep.Headers = map[string]string{
					"X-Team": "devices", "webhook-signature": "v1,forged", "x-openmdm-signature": "forged",
					"X-Men-Signature": "forged", "Content-Type": "text/plain",
				}
			})
			h.start()
			ids := h.publish(ep, 1)
			h.waitStatus(delivery.StatusSucceeded, ids...)

			reqs := rc.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			r := reqs[0]
			m, err := h.store.GetMessage(context.Background(), tenant, h.delivery(ids[0]).MessageID)
			if err != nil {
				t.Fatal(err)
			}
			sm, err := m.Signing()
			if err != nil {
				t.Fatal(err)
			}
			p, _ := profiles.Lookup(profile)
			if want := p.AppendBody(nil, &sm); string(r.body) != string(want) {
				t.Fatalf("body %s, want %s", r.body, want)
			}
			as := h.attempts(ids[0])
			if len(as) != 1 || as[0].Outcome != "success" || as[0].StatusCode != 200 || as[0].Response != "ok" || as[0].N != 1 {
				t.Fatalf("attempts %+v", as)
			}

			secret := ep.Keys[0].Secret
			sig := r.header.Values // all values: a forged custom header must not survive beside the real one
			want := map[string]string{"Content-Type": "application/json", "X-Team": "devices"}
			switch profile {
			case "standard":
				want["Webhook-Id"] = m.ID
				want["Webhook-Timestamp"] = strconv.FormatInt(as[0].At.Unix(), 10)
			case "openmdm":
				want["X-Openmdm-Event"] = m.Type
				want["X-Openmdm-Delivery"] = sm.ID.UUID()
				want["X-Openmdm-Timestamp"] = m.Timestamp.UTC().Format("2006-01-02T15:04:05.000Z")
			case "mender":
				want["X-Men-Algorithm"] = "MEN-HMAC-SHA256-Payload"
				want["X-Men-Signature-Payload"] = r.header.Get("X-Men-Signature")
			}
			for k, v := range want {
				if got := sig(k); len(got) != 1 || got[0] != v {
					t.Errorf("header %s = %q, want [%q]", k, got, v)
				}
			}
			own := map[string]string{"standard": "Webhook-Signature", "openmdm": "X-Openmdm-Signature", "mender": "X-Men-Signature"}
			for _, k := range []string{own[profile]} {
				if vs := sig(k); len(vs) != 1 || strings.Contains(vs[0], "forged") {
					t.Errorf("header %s = %q: custom header overrode or joined the profile's", k, vs)
				}
			}
			if err := verifySignature(profile, secret, r); err != nil {
				t.Fatal(err)
			}
			// And as a receiver would, with the verifier package.
			v, err := verifier.New(verifier.Config{Profile: profile, Keys: []string{secret}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.Verify(r.header, r.body); err != nil {
				t.Fatalf("verifier: %v", err)
			}
			if ep := h.getEndpoint(ep.ID); !ep.FailingSince.IsZero() || ep.Disabled {
				t.Fatalf("healthy endpoint marked %+v", ep)
			}
		})
	}
}

func TestStandardRotationAndEd25519(t *testing.T) {
	h := newHarness(t, delivery.Config{})
	rc := newReceiver(t, nil)
	priv, pub, err := signing.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	old, _ := signing.GenerateSecret(0)
	expired, _ := signing.GenerateSecret(0)
	now := time.Now()
	ep := h.endpoint(rc.srv.URL, "standard", func(ep *endpoints.Endpoint) {
		ep.Algorithm = "ed25519"
		ep.Keys = []endpoints.Key{
			{Secret: priv, Public: pub, CreatedAt: now},
			{Secret: old, CreatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(time.Hour)},        // still signing
			{Secret: expired, CreatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(-time.Minute)}, // no longer
		}
	})
	h.start()
	ids := h.publish(ep, 1)
	h.waitStatus(delivery.StatusSucceeded, ids...)
	r := rc.requests()[0]
	sigs := strings.Split(r.header.Get("webhook-signature"), " ")
	if len(sigs) != 2 || !strings.HasPrefix(sigs[0], "v1a,") || !strings.HasPrefix(sigs[1], "v1,") {
		t.Fatalf("webhook-signature %q: want the ed25519 then the rotated HMAC signature", sigs)
	}
	ts, _ := strconv.ParseInt(r.header.Get("webhook-timestamp"), 10, 64)
	kp, _ := signing.ParseKey(priv)
	ko, _ := signing.ParseKey(old)
	want, _ := signing.Sign(r.header.Get("webhook-id"), ts, r.body, kp, ko)
	if r.header.Get("webhook-signature") != want {
		t.Fatalf("signature %q, want %q", r.header.Get("webhook-signature"), want)
	}
}

func TestOutcomes(t *testing.T) {
	t.Run("410 fails and disables the endpoint", func(t *testing.T) {
		h := newHarness(t, delivery.Config{})
		rc := newReceiver(t, statuses(410))
		ep := h.endpoint(rc.srv.URL, "standard")
		h.start()
		ids := h.publish(ep, 1)
		h.waitStatus(delivery.StatusFailed, ids...)
		if as := h.attempts(ids[0]); len(as) != 1 || as[0].Outcome != "gone" || as[0].StatusCode != 410 {
			t.Fatalf("attempts %+v", as)
		}
		got := h.getEndpoint(ep.ID)
		if !got.Disabled || got.DisabledReason != "gone" {
			t.Fatalf("endpoint disabled=%v reason=%q, want gone", got.Disabled, got.DisabledReason)
		}
		if n := h.notes.get(); !slices.Equal(n, []string{ep.ID + " gone"}) {
			t.Fatalf("notifications %q", n)
		}
		// Later deliveries fail without a request.
		ids = h.publish(ep, 1)
		h.waitStatus(delivery.StatusFailed, ids...)
		if as := h.attempts(ids[0]); len(as) != 1 || as[0].Error != "endpoint disabled" || as[0].StatusCode != 0 {
			t.Fatalf("attempts after disable %+v", as)
		}
		if rc.count() != 1 {
			t.Fatalf("%d requests to a disabled endpoint", rc.count()-1)
		}
	})

	t.Run("429 honours Retry-After", func(t *testing.T) {
		h := newHarness(t, delivery.Config{})
		rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, n int) {
			if n == 1 {
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(429)
			}
		})
		ep := h.endpoint(rc.srv.URL, "standard")
		h.start()
		ids := h.publish(ep, 1)
		h.waitStatus(delivery.StatusSucceeded, ids...)
		as := h.attempts(ids[0])
		if !slices.Equal(outcomes(as), []string{"retry", "success"}) {
			t.Fatalf("outcomes %q", outcomes(as))
		}
		if gap := as[1].At.Sub(as[0].At); gap < time.Second {
			t.Fatalf("retried after %v, before the receiver's Retry-After of 1s (backoff was 10ms)", gap)
		}
		if as[0].Error != "HTTP 429, Retry-After 1s" {
			t.Fatalf("attempt error %q", as[0].Error)
		}
	})

	t.Run("503 Retry-After is capped", func(t *testing.T) {
		h := newHarness(t, delivery.Config{RetryAfterCap: 20 * time.Millisecond})
		rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, n int) {
			if n == 1 {
				w.Header().Set("Retry-After", "3600")
				w.WriteHeader(503)
			}
		})
		ep := h.endpoint(rc.srv.URL, "standard")
		h.start()
		ids := h.publish(ep, 1)
		h.waitStatus(delivery.StatusSucceeded, ids...)
		if as := h.attempts(ids[0]); len(as) != 2 || as[1].At.Sub(as[0].At) > 5*time.Second {
			t.Fatalf("attempts %+v: Retry-After not capped", as)
		}
	})

	t.Run("5xx retried then success", func(t *testing.T) {
		h := newHarness(t, delivery.Config{})
		rc := newReceiver(t, statuses(500, 502, 200))
		ep := h.endpoint(rc.srv.URL, "standard")
		h.start()
		ids := h.publish(ep, 1)
		h.waitStatus(delivery.StatusSucceeded, ids...)
		as := h.attempts(ids[0])
		if !slices.Equal(outcomes(as), []string{"retry", "retry", "success"}) || as[0].StatusCode != 500 || as[1].StatusCode != 502 {
			t.Fatalf("attempts %+v", as)
		}
		if d := h.delivery(ids[0]); d.Attempts != 3 {
			t.Fatalf("delivery attempts %d, want 3", d.Attempts)
		}
		// The failure started the endpoint's failing clock; the success stopped it.
		if ep := h.getEndpoint(ep.ID); !ep.FailingSince.IsZero() {
			t.Fatalf("FailingSince %v after a success", ep.FailingSince)
		}
	})

	t.Run("openmdm 4xx is final, 429 retried", func(t *testing.T) {
		h := newHarness(t, delivery.Config{})
		rc400 := newReceiver(t, statuses(400))
		rc429 := newReceiver(t, statuses(429, 200))
		ep400 := h.endpoint(rc400.srv.URL, "openmdm")
		ep429 := h.endpoint(rc429.srv.URL, "openmdm")
		h.start()
		a, b := h.publish(ep400, 1), h.publish(ep429, 1)
		h.waitStatus(delivery.StatusFailed, a...)
		h.waitStatus(delivery.StatusSucceeded, b...)
		if as := h.attempts(a[0]); !slices.Equal(outcomes(as), []string{"failed"}) || as[0].StatusCode != 400 {
			t.Fatalf("400 attempts %+v", as)
		}
		if as := h.attempts(b[0]); !slices.Equal(outcomes(as), []string{"retry", "success"}) {
			t.Fatalf("429 attempts %+v", as)
		}
		if rc400.count() != 1 {
			t.Fatalf("openmdm 400 sent %d times", rc400.count())
		}
	})

	t.Run("mender 4xx retried", func(t *testing.T) {
		h := newHarness(t, delivery.Config{})
		rc := newReceiver(t, statuses(400, 200))
		ep := h.endpoint(rc.srv.URL, "mender")
		h.start()
		ids := h.publish(ep, 1)
		h.waitStatus(delivery.StatusSucceeded, ids...)
		if as := h.attempts(ids[0]); !slices.Equal(outcomes(as), []string{"retry", "success"}) {
			t.Fatalf("attempts %+v", as)
		}
	})

	t.Run("timeout at the endpoint's Timeout is retried", func(t *testing.T) {
		h := newHarness(t, delivery.Config{})
		rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) {
			if n == 1 {
				<-r.Context().Done() // hang until the sender gives up
			}
		})
		ep := h.endpoint(rc.srv.URL, "standard", func(ep *endpoints.Endpoint) { ep.Timeout = 100 * time.Millisecond })
		h.start()
		ids := h.publish(ep, 1)
		h.waitStatus(delivery.StatusSucceeded, ids...)
		as := h.attempts(ids[0])
		if !slices.Equal(outcomes(as), []string{"retry", "success"}) {
			t.Fatalf("outcomes %q", outcomes(as))
		}
		if a := as[0]; a.StatusCode != 0 || a.Error != "timeout after 100ms" || a.Latency < 100*time.Millisecond || a.Latency > 2*time.Second {
			t.Fatalf("timed-out attempt %+v", a)
		}
	})

	t.Run("3xx is not followed and is retried", func(t *testing.T) {
		h := newHarness(t, delivery.Config{})
		target := newReceiver(t, nil)
		rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) {
			if n == 1 {
				http.Redirect(w, r, target.srv.URL, http.StatusTemporaryRedirect)
			}
		})
		ep := h.endpoint(rc.srv.URL, "standard")
		h.start()
		ids := h.publish(ep, 1)
		h.waitStatus(delivery.StatusSucceeded, ids...)
		if as := h.attempts(ids[0]); !slices.Equal(outcomes(as), []string{"retry", "success"}) || as[0].StatusCode != 307 {
			t.Fatalf("attempts %+v", as)
		}
		if target.count() != 0 {
			t.Fatal("redirect followed")
		}
	})
}

// TestDeadAfterSixAttempts also checks, with a clock that jumps 2s at every request, that every attempt carries the
// same webhook-id and a timestamp of its own: the Now of that attempt.
func TestDeadAfterSixAttempts(t *testing.T) {
	var offset atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	h := newHarness(t, delivery.Config{Now: now})
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		offset.Add(int64(2 * time.Second))
		w.WriteHeader(500)
		io.WriteString(w, "boom")
	})
	ep := h.endpoint(rc.srv.URL, "standard")
	h.start()
	ids := h.publish(ep, 1)
	h.waitStatus(delivery.StatusDead, ids...)

	as := h.attempts(ids[0])
	if want := []string{"retry", "retry", "retry", "retry", "retry", "dead"}; !slices.Equal(outcomes(as), want) {
		t.Fatalf("outcomes %q, want %q", outcomes(as), want)
	}
	reqs := rc.requests()
	if len(reqs) != 6 {
		t.Fatalf("%d requests, want 6", len(reqs))
	}
	id := reqs[0].header.Get("webhook-id")
	for i, r := range reqs {
		if r.header.Get("webhook-id") != id {
			t.Fatalf("attempt %d: webhook-id %q, want %q", i+1, r.header.Get("webhook-id"), id)
		}
		if got, want := r.header.Get("webhook-timestamp"), strconv.FormatInt(as[i].At.Unix(), 10); got != want {
			t.Fatalf("attempt %d: webhook-timestamp %s, want the attempt's own %s", i+1, got, want)
		}
		if as[i].N != i+1 || as[i].StatusCode != 500 || as[i].Response != "boom" {
			t.Fatalf("attempt record %d: %+v", i+1, as[i])
		}
		if err := verifySignature("standard", ep.Keys[0].Secret, r); err != nil {
			t.Fatalf("attempt %d: %v", i+1, err)
		}
		if i > 0 && !as[i].At.After(as[i-1].At.Add(time.Second)) {
			t.Fatalf("attempt %d at %v, not after attempt %d at %v", i+1, as[i].At, i, as[i-1].At)
		}
	}
	d := h.delivery(ids[0])
	if d.Attempts != 6 || d.LastCode != 500 {
		t.Fatalf("delivery %+v", d)
	}
	if ep := h.getEndpoint(ep.ID); ep.FailingSince.IsZero() || ep.Disabled {
		t.Fatalf("endpoint after failures: failing since %v, disabled %v", ep.FailingSince, ep.Disabled)
	}
}

func TestConnectionRefusedRetriedUntilDead(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close()
	h := newHarness(t, delivery.Config{})
	ep := h.endpoint(url, "standard")
	h.start()
	ids := h.publish(ep, 1)
	h.waitStatus(delivery.StatusDead, ids...)
	as := h.attempts(ids[0])
	if len(as) != 6 {
		t.Fatalf("%d attempts, want 6", len(as))
	}
	for _, a := range as {
		if a.StatusCode != 0 || !strings.Contains(a.Error, "refused") || strings.Contains(a.Error, url) {
			t.Fatalf("attempt %+v: want a connection refused error without the URL", a)
		}
	}
}

// TestSlowEndpointIsolation: an endpoint that hangs does not hold back a healthy one. With 4 workers and an in-flight
// cap of 2, the slow endpoint's backlog can take at most 2 workers; the healthy endpoint's deliveries all complete
// while the slow requests are still hanging.
func TestSlowEndpointIsolation(t *testing.T) {
	h := newHarness(t, delivery.Config{Workers: 4, MaxInFlightPerEndpoint: 2})
	entered := make(chan struct{}, 10)
	release := make(chan struct{})
	slow := newReceiver(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		entered <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	healthy := newReceiver(t, nil)
	slowEp := h.endpoint(slow.srv.URL, "standard", func(ep *endpoints.Endpoint) { ep.Timeout = 20 * time.Second })
	fastEp := h.endpoint(healthy.srv.URL, "standard")
	h.start()
	slowIDs := h.publish(slowEp, 5)
	<-entered
	<-entered
	fastIDs := h.publish(fastEp, 20)
	h.waitStatus(delivery.StatusSucceeded, fastIDs...)
	if n := slow.count(); n != 2 {
		t.Fatalf("slow endpoint got %d requests, want 2 (its in-flight cap)", n)
	}
	for _, id := range slowIDs {
		if d := h.delivery(id); d.Status != delivery.StatusPending || d.Attempts != 0 {
			t.Fatalf("slow delivery %s finished early: %+v", id, d)
		}
	}
	close(release)
	h.waitStatus(delivery.StatusSucceeded, slowIDs...)
}

// TestConcurrentBodiesIntact: many attempts at once over pooled buffers; every request a receiver gets is signed over
// exactly the body it carries, and every message arrives once.
func TestConcurrentBodiesIntact(t *testing.T) {
	h := newHarness(t, delivery.Config{})
	var eps []*endpoints.Endpoint
	var rcs []*receiver
	for _, profile := range []string{"standard", "openmdm", "mender"} {
		rc := newReceiver(t, nil)
		rcs = append(rcs, rc)
		eps = append(eps, h.endpoint(rc.srv.URL, profile, func(ep *endpoints.Endpoint) {
			ep.Headers = map[string]string{"X-Endpoint": profile}
		}))
	}
	h.start()
	var all []string
	for range 10 {
		for _, ep := range eps {
			all = append(all, h.publish(ep, 3)...)
		}
	}
	h.waitStatus(delivery.StatusSucceeded, all...)
	for i, rc := range rcs {
		seen := map[string]bool{}
		for _, r := range rc.requests() {
			if err := verifySignature(eps[i].Profile, eps[i].Keys[0].Secret, r); err != nil {
				t.Fatalf("%s: %v", eps[i].Profile, err)
			}
			if !json.Valid(r.body) || r.header.Get("X-Endpoint") != eps[i].Profile {
				t.Fatalf("%s: body %q, X-Endpoint %q", eps[i].Profile, r.body, r.header.Get("X-Endpoint"))
			}
			seen[string(r.body)] = true
		}
		if len(seen) != 30 {
			t.Fatalf("%s: %d distinct bodies, want 30", eps[i].Profile, len(seen))
		}
	}
}

// TestRateLimit: an endpoint limited to 5/s (burst 5) gets at most 10 requests in the first second and the rest
// later; every delivery succeeds on its first attempt (waiting for the limiter spends none).
func TestRateLimit(t *testing.T) {
	h := newHarness(t, delivery.Config{})
	rc := newReceiver(t, nil)
	ep := h.endpoint(rc.srv.URL, "standard", func(ep *endpoints.Endpoint) { ep.RateLimit = 5 })
	ids := h.publish(ep, 15)
	h.start()
	h.waitStatus(delivery.StatusSucceeded, ids...)
	reqs := rc.requests()
	if len(reqs) != 15 {
		t.Fatalf("%d requests, want 15", len(reqs))
	}
	first := reqs[0].at
	inFirst := 0
	for _, r := range reqs {
		if r.at.Sub(first) < time.Second {
			inFirst++
		}
	}
	if inFirst > 10 {
		t.Fatalf("%d requests in the first second, want at most 10", inFirst)
	}
	if span := reqs[14].at.Sub(first); span < 1500*time.Millisecond {
		t.Fatalf("15 requests in %v at 5/s with burst 5, want about 2s", span)
	}
	for _, id := range ids {
		if as := h.attempts(id); len(as) != 1 {
			t.Fatalf("delivery %s: %d attempts, want 1", id, len(as))
		}
	}
	t.Logf("15 deliveries at 5/s: %d in the first second, last after %v", inFirst, reqs[14].at.Sub(first))
}

func TestGracefulShutdown(t *testing.T) {
	t.Run("in-flight attempt completes and is acked", func(t *testing.T) {
		h := newHarness(t, delivery.Config{MaxInFlightPerEndpoint: 1})
		entered, proceed := make(chan struct{}), make(chan struct{})
		rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, n int) {
			if n == 1 {
				close(entered)
				<-proceed
			}
		})
		ep := h.endpoint(rc.srv.URL, "standard", func(ep *endpoints.Endpoint) { ep.Timeout = 10 * time.Second })
		h.start()
		ids := h.publish(ep, 3)
		<-entered
		h.cancel() // shut down with the first attempt in flight
		close(proceed)
		if err := <-h.done; err != nil {
			t.Fatalf("Run: %v", err)
		}
		close(h.done)
		h.cancel = nil
		if d := h.delivery(ids[0]); d.Status != delivery.StatusSucceeded || d.Attempts != 1 {
			t.Fatalf("in-flight delivery %+v, want succeeded after 1 attempt", d)
		}
		for _, id := range ids[1:] {
			if d := h.delivery(id); d.Status != delivery.StatusPending || d.Attempts != 0 || len(h.attempts(id)) != 0 {
				t.Fatalf("unclaimed delivery %+v, want pending with no attempt", d)
			}
		}
		if rc.count() != 1 {
			t.Fatalf("%d requests, want 1", rc.count())
		}
	})

	t.Run("attempt still running at ShutdownTimeout is released unspent", func(t *testing.T) {
		h := newHarness(t, delivery.Config{ShutdownTimeout: 100 * time.Millisecond})
		entered := make(chan struct{}, 1)
		rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, _ int) {
			entered <- struct{}{}
			<-r.Context().Done()
		})
		ep := h.endpoint(rc.srv.URL, "standard", func(ep *endpoints.Endpoint) { ep.Timeout = 10 * time.Second })
		h.start()
		ids := h.publish(ep, 1)
		<-entered
		start := time.Now()
		h.stop()
		if took := time.Since(start); took > 5*time.Second {
			t.Fatalf("shutdown took %v with a 100ms ShutdownTimeout", took)
		}
		if d := h.delivery(ids[0]); d.Status != delivery.StatusPending || d.Attempts != 0 || len(h.attempts(ids[0])) != 0 {
			t.Fatalf("aborted delivery %+v, want pending with no attempt spent", d)
		}
	})
}

func TestHealthSpanDisables(t *testing.T) {
	// Attempts fail at about 0, 10, 30, 70 and 120ms (±20%): the fourth comes after the 50ms span, before the last.
	h := newHarness(t, delivery.Config{HealthSpan: 50 * time.Millisecond})
	rc := newReceiver(t, statuses(500))
	ep := h.endpoint(rc.srv.URL, "standard")
	h.start()
	ids := h.publish(ep, 3)
	eventually(t, "endpoint disabled", func() bool { return h.getEndpoint(ep.ID).Disabled })
	got := h.getEndpoint(ep.ID)
	if got.DisabledReason != "failing" || got.FailingSince.IsZero() {
		t.Fatalf("endpoint %+v, want disabled as failing", got)
	}
	h.waitStatus(delivery.StatusFailed, ids...) // the remaining attempts find it disabled
	if n := h.notes.get(); !slices.Equal(n, []string{ep.ID + " failing"}) {
		t.Fatalf("notifications %q, want one", n)
	}
	for _, id := range ids {
		as := h.attempts(id)
		if last := as[len(as)-1]; last.Error != "endpoint disabled" || last.Outcome != "failed" {
			t.Fatalf("last attempt %+v", last)
		}
	}
}

func TestDeletedEndpointAndMissingMessage(t *testing.T) {
	h := newHarness(t, delivery.Config{})
	rc := newReceiver(t, nil)
	ep := h.endpoint(rc.srv.URL, "standard")
	ids := h.publish(ep, 1)
	if err := h.store.DeleteEndpoint(context.Background(), tenant, ep.ID); err != nil {
		t.Fatal(err)
	}
	h.start()
	h.waitStatus(delivery.StatusFailed, ids...)
	if as := h.attempts(ids[0]); len(as) != 1 || as[0].Error != "endpoint deleted" {
		t.Fatalf("attempts %+v", as)
	}
	if rc.count() != 0 {
		t.Fatal("request sent to a deleted endpoint")
	}
}

// TestReclaimExpiredLease: a task claimed by a worker that died is reclaimed after its lease, counted as spent, and
// delivered on the next attempt.
func TestReclaimExpiredLease(t *testing.T) {
	h := newHarness(t, delivery.Config{})
	rc := newReceiver(t, nil)
	ep := h.endpoint(rc.srv.URL, "standard")
	ids := h.publish(ep, 1)
	tasks, err := h.store.Claim(context.Background(), time.Now(), delivery.ClaimOptions{Max: 1, Lease: 50 * time.Millisecond})
	if err != nil || len(tasks) != 1 {
		t.Fatalf("claim: %v, %v", tasks, err)
	}
	h.start() // the dead worker's lease expires; the engine's reclaim loop hands the task back
	h.waitStatus(delivery.StatusSucceeded, ids...)
	as := h.attempts(ids[0])
	if len(as) != 2 || as[0].Error != "lease expired" || as[1].N != 2 || as[1].Outcome != "success" {
		t.Fatalf("attempts %+v", as)
	}
	// The dead worker's late result is refused.
	if err := h.store.Ack(context.Background(), tasks[0], delivery.Attempt{At: time.Now()}); !errors.Is(err, delivery.ErrLeaseLost) {
		t.Fatalf("zombie ack: %v, want ErrLeaseLost", err)
	}
}

// TestWakeEndsIdleSleep: with a 10s idle bound, a published event still goes out at once because ingest calls Wake.
func TestWakeEndsIdleSleep(t *testing.T) {
	h := newHarness(t, delivery.Config{IdleMax: 10 * time.Second})
	got := make(chan time.Time, 16)
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ int) { got <- time.Now() })
	ep := h.endpoint(rc.srv.URL, "standard")
	h.start()
	var worst time.Duration
	for i := range 5 {
		m, ds := newMessage(ep, i)
		if _, _, _, err := h.store.Publish(context.Background(), m, ds, time.Time{}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		h.eng.Wake()
		select {
		case at := <-got:
			worst = max(worst, at.Sub(start))
		case <-time.After(5 * time.Second):
			t.Fatal("event not delivered within 5s of Wake (idle bound is 10s)")
		}
		h.waitStatus(delivery.StatusSucceeded, ds[0].ID) // and the engine goes back to sleep
	}
	t.Logf("Wake to request at the receiver, worst of 5: %v", worst)
}

func TestRunTwice(t *testing.T) {
	h := newHarness(t, delivery.Config{})
	rc := newReceiver(t, nil)
	ep := h.endpoint(rc.srv.URL, "standard")
	h.start()
	h.waitStatus(delivery.StatusSucceeded, h.publish(ep, 1)...) // running for sure
	if err := h.eng.Run(context.Background()); !errors.Is(err, delivery.ErrRunning) {
		t.Fatalf("second Run: %v, want ErrRunning", err)
	}
	h.stop()
	// A stopped engine can run again.
	h.start()
	h.waitStatus(delivery.StatusSucceeded, h.publish(ep, 1)...)
	h.stop()
}

// TestUserAgent: Config.UserAgent goes with every attempt unless the endpoint's custom headers set one; without it
// the client's own default applies.
func TestUserAgent(t *testing.T) {
	for _, tt := range []struct {
		name, cfg, custom, want string
	}{
		{"config", "webhookd-test/9", "", "webhookd-test/9"},
		{"custom header wins", "webhookd-test/9", "acme-hooks/2", "acme-hooks/2"},
		{"client default", "", "", egress.DefaultUserAgent},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, delivery.Config{UserAgent: tt.cfg})
			rc := newReceiver(t, nil)
			ep := h.endpoint(rc.srv.URL, "standard", func(ep *endpoints.Endpoint) {
				if tt.custom != "" {
					ep.Headers = map[string]string{"User-Agent": tt.custom}
				}
			})
			h.start()
			h.waitStatus(delivery.StatusSucceeded, h.publish(ep, 2)...)
			for _, r := range rc.requests() {
				if got := r.header.Values("User-Agent"); len(got) != 1 || got[0] != tt.want {
					t.Errorf("User-Agent %q, want %q", got, tt.want)
				}
			}
		})
	}
}
