package endpoints_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/egress"
	"github.com/webhookd/webhookd/endpoints"
	"github.com/webhookd/webhookd/signing"
	boltstore "github.com/webhookd/webhookd/store/boltstore"
)

// clock is a settable test clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newService(t *testing.T) (*endpoints.Service, *boltstore.Store, *clock) {
	t.Helper()
	st, err := boltstore.Open(t.TempDir(), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := &clock{t: time.Date(2026, 4, 15, 12, 0, 0, 0, time.UTC)}
	s := endpoints.NewService(st, endpoints.Config{Policy: egress.Policy{AllowHTTP: true, AllowPrivate: true}, Now: c.now})
	return s, st, c
}

func receiver(t *testing.T, status int, allow string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			w.Header().Set("Allow", allow)
			w.WriteHeader(status)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestCreate(t *testing.T) {
	s, st, _ := newService(t)
	ctx := context.Background()
	ok := receiver(t, 204, "POST")

	e, err := s.Create(ctx, "ten", endpoints.CreateInput{URL: ok})
	if err != nil {
		t.Fatal(err)
	}
	if e.Profile != "standard" || e.Algorithm != "hmac" || e.Timeout != time.Second || len(e.Events) != 1 || e.Events[0] != "*" ||
		len(e.Keys) != 1 || !strings.HasPrefix(e.Keys[0].Secret, "whsec_") || !strings.HasPrefix(e.ID, "ep_") {
		t.Errorf("defaults: %+v", e)
	}

	// A whsk_ secret implies ed25519.
	priv, pub, _ := signing.GenerateKeyPair()
	e, err = s.Create(ctx, "ten", endpoints.CreateInput{URL: ok, Secret: priv})
	if err != nil || e.Algorithm != "ed25519" || e.Keys[0].Public != pub {
		t.Fatalf("ed25519: %+v, %v", e, err)
	}
	keys, err := s.Reveal(ctx, "ten", e.ID)
	if err != nil || len(keys) != 1 || keys[0].Secret != "" || keys[0].Public != pub {
		t.Errorf("reveal ed25519: %+v, %v", keys, err)
	}

	// Handshake failure: a HandshakeError, nothing stored.
	_, err = s.Create(ctx, "ten", endpoints.CreateInput{URL: receiver(t, 405, "GET")})
	var he *endpoints.HandshakeError
	if !errors.As(err, &he) || he.Status != 405 {
		t.Errorf("refusing receiver: %v", err)
	}
	// A private address under a strict policy: a FieldError that is also egress.ErrForbiddenAddress.
	strict := endpoints.NewService(st, endpoints.Config{Policy: egress.Policy{AllowHTTP: true}})
	_, err = strict.Create(ctx, "ten", endpoints.CreateInput{URL: ok})
	var fe *endpoints.FieldError
	if !errors.As(err, &fe) || fe.Field != "url" || !errors.Is(err, egress.ErrForbiddenAddress) || !errors.Is(err, endpoints.ErrInvalid) {
		t.Errorf("private URL: %v", err)
	}
	if list, _, _ := s.List(ctx, "ten", "", 10); len(list) != 2 {
		t.Errorf("%d endpoints stored, want 2", len(list))
	}
	// Other tenants see nothing.
	if _, err := s.Get(ctx, "other", e.ID); !errors.Is(err, endpoints.ErrNotFound) {
		t.Errorf("cross-tenant get: %v", err)
	}
}

func TestUpdate(t *testing.T) {
	s, _, _ := newService(t)
	ctx := context.Background()
	ok := receiver(t, 204, "POST")
	e, err := s.Create(ctx, "ten", endpoints.CreateInput{URL: ok, Description: "d"})
	if err != nil {
		t.Fatal(err)
	}
	secret := e.Keys[0].Secret
	ptr := func(s string) *string { return &s }

	bad := receiver(t, 200, "GET")
	if _, err := s.Update(ctx, "ten", e.ID, endpoints.UpdateInput{URL: &bad, Description: ptr("x")}); !errors.Is(err, endpoints.ErrHandshake) {
		t.Errorf("bad URL: %v", err)
	}
	if got, _ := s.Get(ctx, "ten", e.ID); got.URL != ok || got.Description != "d" {
		t.Errorf("failed update changed the endpoint: %+v", got)
	}
	if _, err := s.Update(ctx, "ten", e.ID, endpoints.UpdateInput{Secret: ptr("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")}); !errors.Is(err, endpoints.ErrInvalid) {
		t.Errorf("secret without scheme change: %v", err)
	}
	// openmdm accepts the whsec_ string as its secret: kept.
	got, err := s.Update(ctx, "ten", e.ID, endpoints.UpdateInput{Profile: ptr("openmdm")})
	if err != nil || got.Profile != "openmdm" || got.Keys[0].Secret != secret {
		t.Errorf("to openmdm: %+v, %v", got, err)
	}
	// mender needs hex: replaced.
	got, err = s.Update(ctx, "ten", e.ID, endpoints.UpdateInput{Profile: ptr("mender"), Secret: ptr("deadbeef")})
	if err != nil || len(got.Keys) != 1 || got.Keys[0].Secret != "deadbeef" {
		t.Errorf("to mender: %+v, %v", got, err)
	}
	if _, err := s.Update(ctx, "ten", e.ID, endpoints.UpdateInput{Signing: ptr("ed25519")}); !errors.Is(err, endpoints.ErrInvalid) {
		t.Errorf("ed25519 under mender: %v", err)
	}
	got, err = s.Update(ctx, "ten", e.ID, endpoints.UpdateInput{Profile: ptr("standard"), Signing: ptr("ed25519")})
	if err != nil || got.Algorithm != "ed25519" || !strings.HasPrefix(got.Keys[0].Secret, "whsk_") {
		t.Errorf("to standard ed25519: %+v, %v", got, err)
	}
}

func TestRotateAndReveal(t *testing.T) {
	s, _, c := newService(t)
	ctx := context.Background()
	e, err := s.Create(ctx, "ten", endpoints.CreateInput{URL: receiver(t, 204, "POST")})
	if err != nil {
		t.Fatal(err)
	}
	first := e.Keys[0].Secret
	hour := time.Hour
	if _, err := s.Rotate(ctx, "ten", e.ID, endpoints.RotateInput{Grace: &hour}); err != nil {
		t.Fatal(err)
	}
	keys, _ := s.Reveal(ctx, "ten", e.ID)
	if len(keys) != 2 || keys[1].Secret != first || !keys[1].ExpiresAt.Equal(c.t.Add(time.Hour)) {
		t.Fatalf("after rotate: %+v", keys)
	}
	c.t = c.t.Add(2 * time.Hour)
	keys, _ = s.Reveal(ctx, "ten", e.ID)
	if len(keys) != 1 || keys[0].Secret == first {
		t.Errorf("after grace: %+v", keys)
	}
	got, _ := s.Rotate(ctx, "ten", e.ID, endpoints.RotateInput{}) // default grace; the expired key is dropped
	if len(got.Keys) != 2 || !got.Keys[1].ExpiresAt.Equal(c.t.Add(24*time.Hour)) {
		t.Errorf("default grace: %+v", got.Keys)
	}
	if _, err := s.Rotate(ctx, "other", e.ID, endpoints.RotateInput{}); !errors.Is(err, endpoints.ErrNotFound) {
		t.Errorf("cross-tenant rotate: %v", err)
	}
}

// A change of signing within a profile is a rotation across schemes: the old key keeps signing for the grace.
func TestChangeSchemeKeepsOldKeyForGrace(t *testing.T) {
	s, _, c := newService(t)
	ctx := context.Background()
	e, err := s.Create(ctx, "ten", endpoints.CreateInput{URL: receiver(t, 204, "POST")})
	if err != nil {
		t.Fatal(err)
	}
	hmacSecret := e.Keys[0].Secret
	ptr := func(s string) *string { return &s }
	start := c.t

	got, err := s.Update(ctx, "ten", e.ID, endpoints.UpdateInput{Signing: ptr("ed25519")})
	if err != nil {
		t.Fatal(err)
	}
	if got.Algorithm != "ed25519" || len(got.Keys) != 2 || !strings.HasPrefix(got.Keys[0].Secret, "whsk_") ||
		!got.Keys[0].ExpiresAt.IsZero() || got.Keys[1].Secret != hmacSecret || !got.Keys[1].ExpiresAt.Equal(start.Add(24*time.Hour)) {
		t.Fatalf("hmac to ed25519: %+v", got.Keys)
	}
	if signing := got.SigningKeys(c.t); len(signing) != 2 {
		t.Fatalf("signing keys during the grace: %d, want 2", len(signing))
	}
	// Reveal judges each key by its own form: the HMAC secret is shown, the ed25519 private key is not.
	keys, err := s.Reveal(ctx, "ten", e.ID)
	if err != nil || len(keys) != 2 || keys[0].Secret != "" || !strings.HasPrefix(keys[0].Public, "whpk_") ||
		keys[1].Secret != hmacSecret || keys[1].Public != "" {
		t.Fatalf("reveal during the grace: %+v, %v", keys, err)
	}

	// And back, with an explicit grace of one hour and a given secret.
	c.t = start.Add(time.Hour)
	hour := time.Hour
	back := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	got, err = s.Update(ctx, "ten", e.ID, endpoints.UpdateInput{Signing: ptr("hmac"), Secret: &back, Grace: &hour})
	if err != nil {
		t.Fatal(err)
	}
	if got.Algorithm != "hmac" || len(got.Keys) != 3 || got.Keys[0].Secret != back ||
		!got.Keys[1].ExpiresAt.Equal(c.t.Add(time.Hour)) || !got.Keys[2].ExpiresAt.Equal(start.Add(24*time.Hour)) {
		t.Fatalf("ed25519 back to hmac: %+v", got.Keys)
	}
	c.t = start.Add(3 * time.Hour) // the ed25519 key's grace is over, the first HMAC key's is not
	keys, _ = s.Reveal(ctx, "ten", e.ID)
	if len(keys) != 2 || keys[0].Secret != back || keys[1].Secret != hmacSecret {
		t.Fatalf("reveal after the ed25519 key's grace: %+v", keys)
	}

	// Grace 0 drops the current key at once, as Rotate does; a key already rotated out keeps its own expiry. A grace
	// out of range is refused and changes nothing.
	zero, tooLong := time.Duration(0), endpoints.MaxGrace+time.Hour
	if _, err := s.Update(ctx, "ten", e.ID, endpoints.UpdateInput{Signing: ptr("ed25519"), Grace: &tooLong}); !errors.Is(err, endpoints.ErrInvalid) {
		t.Fatalf("grace beyond MaxGrace: %v", err)
	}
	got, err = s.Update(ctx, "ten", e.ID, endpoints.UpdateInput{Signing: ptr("ed25519"), Grace: &zero})
	if err != nil || len(got.Keys) != 2 || !strings.HasPrefix(got.Keys[0].Secret, "whsk_") || got.Keys[1].Secret != hmacSecret {
		t.Fatalf("grace 0: %+v, %v", got, err)
	}
}
