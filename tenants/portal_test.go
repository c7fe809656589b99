package tenants_test

import (
	"crypto/sha256"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	boltstore "github.com/webhookd/webhookd/store/boltstore"
	"github.com/webhookd/webhookd/tenants"
)

func TestPortalSessions(t *testing.T) {
	st, err := boltstore.Open(t.TempDir(), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var now atomic.Int64
	now.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()).UTC() }
	s := tenants.NewService(st, tenants.ServiceConfig{Now: clock})
	ctx := t.Context()
	for _, id := range []string{"acme", "other"} {
		if _, err := s.Create(ctx, tenants.CreateInput{ID: id, Name: id}); err != nil {
			t.Fatal(err)
		}
	}

	p, text, err := s.OpenPortal(ctx, "acme", tenants.PortalInput{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(text, tenants.PortalTokenPrefix) || !tenants.IsPortalToken(text) || p.ReadOnly ||
		p.ExpiresAt.Sub(p.CreatedAt) != tenants.DefaultPortalTTL || p.Hash != sha256.Sum256([]byte(text)) {
		t.Fatalf("session %+v, token %q", p, text)
	}
	got, err := s.AuthenticatePortal(ctx, text)
	if err != nil || got.ID != p.ID || got.TenantID != "acme" {
		t.Fatalf("AuthenticatePortal = %+v, %v", got, err)
	}
	// A tenant API token, a mangled portal token and an unknown one are refused.
	for _, bad := range []string{"", "whp_short", "wht_" + text[4:], text[:len(text)-1] + "A", text + "A"} {
		if bad == text {
			continue
		}
		if _, err := s.AuthenticatePortal(ctx, bad); !errors.Is(err, tenants.ErrToken) {
			t.Errorf("AuthenticatePortal(%q) = %v, want ErrToken", bad, err)
		}
	}

	ro, roText, err := s.OpenPortal(ctx, "acme", tenants.PortalInput{TTL: 24 * time.Hour, ReadOnly: true})
	if err != nil || !ro.ReadOnly || ro.ExpiresAt.Sub(ro.CreatedAt) != 24*time.Hour {
		t.Fatalf("read-only session %+v, %v", ro, err)
	}
	for _, in := range []tenants.PortalInput{{TTL: -time.Second}, {TTL: 24*time.Hour + time.Second}} {
		if _, _, err := s.OpenPortal(ctx, "acme", in); !errors.Is(err, tenants.ErrInvalid) {
			t.Errorf("OpenPortal(%+v) = %v, want ErrInvalid", in, err)
		}
	}
	if _, _, err := s.OpenPortal(ctx, "nobody", tenants.PortalInput{}); !errors.Is(err, tenants.ErrNotFound) {
		t.Errorf("OpenPortal of an unknown tenant = %v", err)
	}

	// Revocation is scoped to the tenant and immediate.
	if err := s.RevokePortal(ctx, "other", p.ID); !errors.Is(err, tenants.ErrNotFound) {
		t.Errorf("revoke by another tenant = %v", err)
	}
	if err := s.RevokePortal(ctx, "acme", p.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AuthenticatePortal(ctx, text); !errors.Is(err, tenants.ErrSessionRevoked) || !errors.Is(err, tenants.ErrToken) {
		t.Errorf("revoked session: %v", err)
	}

	// Expiry: valid until just before ExpiresAt.
	now.Store(ro.ExpiresAt.Add(-time.Nanosecond).UnixNano())
	if _, err := s.AuthenticatePortal(ctx, roText); err != nil {
		t.Errorf("session just before expiry: %v", err)
	}
	now.Store(ro.ExpiresAt.UnixNano())
	if _, err := s.AuthenticatePortal(ctx, roText); !errors.Is(err, tenants.ErrSessionExpired) || !errors.Is(err, tenants.ErrToken) {
		t.Errorf("expired session: %v", err)
	}
}
