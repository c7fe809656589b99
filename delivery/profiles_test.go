package delivery_test

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/egress"
	"github.com/webhookd/webhookd/endpoints"
	"github.com/webhookd/webhookd/profiles"
	"github.com/webhookd/webhookd/signing"
	"github.com/webhookd/webhookd/verifier"
)

// acme is a throwaway fourth profile, registered only in this test binary: X-Acme-Id and X-Acme-Signature (hex
// HMAC-SHA256 of the body under the first key), "acme_" secrets, body {"event","payload"}, and a policy of its own:
// 418 means the receiver is gone.
type acme struct{}

func (acme) Name() string                    { return "acme" }
func (acme) MetricLabel() string             { return "acme" }
func (acme) HeaderPrefix() string            { return "x-acme-" }
func (acme) Algorithms() []signing.Algorithm { return []signing.Algorithm{signing.HMAC} }
func (acme) Timestamp() profiles.Timestamp   { return profiles.NoTimestamp }

func (acme) AppendBody(dst []byte, m *signing.Message) []byte {
	return fmt.Appendf(dst, `{"event":%q,"payload":%s}`, m.Type, m.Data)
}

func (acme) SetHeaders(h http.Header, m *signing.Message, body []byte, _ time.Time, keys []signing.Key) error {
	h.Set("Content-Type", "application/json")
	h.Set("X-Acme-Id", m.ID.String())
	if len(keys) == 0 {
		h.Del("X-Acme-Signature")
		return signing.ErrNoKeys
	}
	h.Set("X-Acme-Signature", hex.EncodeToString(keys[0].HMACSum(nil, body)))
	return nil
}

func (acme) ParseKey(s string) (signing.Key, error) {
	raw, ok := strings.CutPrefix(s, "acme_")
	if !ok {
		return signing.Key{}, fmt.Errorf("%w: want acme_", signing.ErrKeyPrefix)
	}
	if len(raw) < 16 {
		return signing.Key{}, signing.ErrKeyTooShort
	}
	return signing.NewHMACKey([]byte(raw)), nil
}

func (acme) GenerateKey(alg signing.Algorithm) (string, string, error) {
	if alg != signing.HMAC {
		return "", "", signing.ErrAlgorithm
	}
	s, err := signing.GenerateSecret(0) // any random text will do
	return "acme_" + strings.TrimPrefix(s, signing.SecretPrefix), "", err
}

func (p acme) Trust(keys []string) (profiles.Checker, error) {
	var c acmeChecker
	for i, s := range keys {
		k, err := p.ParseKey(s)
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", i, err)
		}
		c = append(c, k)
	}
	return c, nil
}

func (acme) Classify(code int, err error) profiles.Verdict {
	switch {
	case err == nil && code >= 200 && code <= 299:
		return profiles.Delivered
	case code == http.StatusTeapot:
		return profiles.Gone
	}
	return profiles.Retry
}

type acmeChecker []signing.Key

func (c acmeChecker) Verify(h http.Header, body []byte, _ func(string, int64) error) (profiles.Result, error) {
	sig, err := hex.DecodeString(h.Get("X-Acme-Signature"))
	if err != nil || len(sig) == 0 {
		return profiles.Result{}, fmt.Errorf("X-Acme-Signature: %w", profiles.ErrMalformedHeader)
	}
	for i, k := range c {
		if string(k.HMACSum(nil, body)) == string(sig) {
			return profiles.Result{MessageID: h.Get("X-Acme-Id"), KeyIndex: i, Version: "acme"}, nil
		}
	}
	return profiles.Result{}, fmt.Errorf("X-Acme-Signature: %w", profiles.ErrNoMatchingSignature)
}

var registerAcme = sync.OnceValue(func() error { return profiles.Register(acme{}) })

// posts is an httptest receiver that passes the endpoint handshake and records every POST, answering status.
type posts struct {
	srv    *httptest.Server
	status atomic.Int32
	mu     sync.Mutex
	reqs   []request
}

func newPosts(t *testing.T) *posts {
	p := &posts{}
	p.status.Store(http.StatusNoContent)
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			w.Header().Set("Allow", "POST, OPTIONS")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		body, _ := io.ReadAll(r.Body)
		p.mu.Lock()
		p.reqs = append(p.reqs, request{header: r.Header.Clone(), body: body, at: time.Now()})
		p.mu.Unlock()
		w.WriteHeader(int(p.status.Load()))
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *posts) last(t *testing.T) request {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.reqs) == 0 {
		t.Fatal("no request arrived")
	}
	return p.reqs[len(p.reqs)-1]
}

func serviceOn(h *harness, now func() time.Time) *endpoints.Service {
	return endpoints.NewService(h.store, endpoints.Config{Policy: egress.Policy{AllowHTTP: true, AllowPrivate: true}, Now: now})
}

// A profile registered from outside package profiles works end to end: the endpoints service accepts it (and
// reserves its headers), the engine renders, signs and classifies by it, and the verifier checks its requests.
func TestRegisteredProfileEndToEnd(t *testing.T) {
	if err := registerAcme(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	h := newHarness(t, delivery.Config{})
	rc := newPosts(t)
	svc := serviceOn(h, nil)

	if _, err := svc.Create(ctx, tenant, endpoints.CreateInput{URL: rc.srv.URL, Profile: "acme", Headers: map[string]string{"X-Acme-Trace": "1"}}); !errors.Is(err, endpoints.ErrInvalid) {
		t.Fatalf("a custom header under the profile's prefix: %v, want ErrInvalid", err)
	}
	if _, err := svc.Create(ctx, tenant, endpoints.CreateInput{URL: rc.srv.URL, Profile: "acme", Signing: "ed25519"}); !errors.Is(err, endpoints.ErrInvalid) {
		t.Fatalf("ed25519 under a profile that signs with hmac only: %v, want ErrInvalid", err)
	}
	ep, err := svc.Create(ctx, tenant, endpoints.CreateInput{URL: rc.srv.URL, Profile: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if ep.Profile != "acme" || ep.Algorithm != "hmac" || !strings.HasPrefix(ep.Keys[0].Secret, "acme_") {
		t.Fatalf("created %+v", ep)
	}

	h.start()
	ids := h.publish(ep, 1)
	h.waitStatus(delivery.StatusSucceeded, ids...)
	r := rc.last(t)
	if got := string(r.body); !strings.HasPrefix(got, `{"event":"device.status_changed","payload":{"device":"d0"`) {
		t.Fatalf("body %s: not the acme envelope", got)
	}
	v, err := verifier.New(verifier.Config{Profile: "acme", Keys: []string{ep.Keys[0].Secret}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := v.Verify(r.header, r.body)
	if err != nil || res.Version != "acme" || res.MessageID != h.delivery(ids[0]).MessageID {
		t.Fatalf("verify: %+v, %v", res, err)
	}
	if _, err := verifier.New(verifier.Config{Profile: "acme", Keys: []string{ep.Keys[0].Secret}, Timestamps: verifier.TimestampEnforce}); !errors.Is(err, verifier.ErrConfig) {
		t.Fatalf("a timestamp check under a profile without one: %v, want ErrConfig", err)
	}

	// The profile's own policy: 418 means gone, so the delivery fails and the endpoint is disabled.
	rc.status.Store(http.StatusTeapot)
	ids = h.publish(ep, 1)
	h.waitStatus(delivery.StatusFailed, ids...)
	if got := outcomes(h.attempts(ids[0])); len(got) != 1 || got[0] != "gone" {
		t.Fatalf("outcomes %v, want [gone]", got)
	}
	if got := h.getEndpoint(ep.ID); !got.Disabled || got.DisabledReason != delivery.ReasonGone {
		t.Fatalf("endpoint after 418: disabled %v (%q)", got.Disabled, got.DisabledReason)
	}
}

// offsetClock is time.Now moved by a settable offset, shared by the engine, the endpoints service and the verifier.
type offsetClock struct{ d atomic.Int64 }

func (c *offsetClock) now() time.Time          { return time.Now().Add(time.Duration(c.d.Load())) }
func (c *offsetClock) advance(d time.Duration) { c.d.Add(int64(d)) }

// Changing an endpoint from hmac to ed25519 keeps the HMAC key signing for the grace: receivers get a v1 and a v1a
// signature side by side, each verifying on its own, and only the v1a one after the grace.
func TestChangeSchemeSignsWithBothDuringGrace(t *testing.T) {
	ctx := context.Background()
	clk := &offsetClock{}
	h := newHarness(t, delivery.Config{Now: clk.now})
	rc := newPosts(t)
	svc := serviceOn(h, clk.now)
	ep, err := svc.Create(ctx, tenant, endpoints.CreateInput{URL: rc.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	oldSecret := ep.Keys[0].Secret
	grace, ed := time.Hour, "ed25519"
	ep, err = svc.Update(ctx, tenant, ep.ID, endpoints.UpdateInput{Signing: &ed, Grace: &grace})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := svc.Reveal(ctx, tenant, ep.ID)
	if err != nil || len(keys) != 2 || keys[1].Secret != oldSecret || keys[0].Public == "" {
		t.Fatalf("reveal: %+v, %v", keys, err)
	}
	hmacOnly := newTestVerifier(t, clk, oldSecret)
	edOnly := newTestVerifier(t, clk, keys[0].Public)

	h.start()
	ids := h.publish(ep, 1)
	h.waitStatus(delivery.StatusSucceeded, ids...)
	r := rc.last(t)
	sigs := strings.Fields(r.header.Get("webhook-signature"))
	if len(sigs) != 2 || !strings.HasPrefix(sigs[0], "v1a,") || !strings.HasPrefix(sigs[1], "v1,") {
		t.Fatalf("webhook-signature %q: want the new v1a signature, then the old v1 one", sigs)
	}
	if res, err := hmacOnly.Verify(r.header, r.body); err != nil || res.Version != "v1" || res.SignatureIndex != 1 {
		t.Fatalf("a receiver holding the old secret: %+v, %v", res, err)
	}
	if res, err := edOnly.Verify(r.header, r.body); err != nil || res.Version != "v1a" || res.SignatureIndex != 0 {
		t.Fatalf("a receiver holding the new public key: %+v, %v", res, err)
	}

	clk.advance(grace + time.Minute)
	ids = h.publish(ep, 1)
	h.waitStatus(delivery.StatusSucceeded, ids...)
	r = rc.last(t)
	if sigs := strings.Fields(r.header.Get("webhook-signature")); len(sigs) != 1 || !strings.HasPrefix(sigs[0], "v1a,") {
		t.Fatalf("webhook-signature after the grace %q: want the v1a signature alone", sigs)
	}
	if _, err := edOnly.Verify(r.header, r.body); err != nil {
		t.Fatalf("new key after the grace: %v", err)
	}
	if _, err := hmacOnly.Verify(r.header, r.body); !errors.Is(err, verifier.ErrNoMatchingSignature) {
		t.Fatalf("old secret after the grace: %v, want ErrNoMatchingSignature", err)
	}
}

func newTestVerifier(t *testing.T, clk *offsetClock, keys ...string) *verifier.Verifier {
	t.Helper()
	v, err := verifier.New(verifier.Config{Keys: keys, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	return v
}
