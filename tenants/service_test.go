package tenants_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	boltstore "github.com/webhookd/webhookd/store/boltstore"
	"github.com/webhookd/webhookd/tenants"
)

func newService(t *testing.T) (*tenants.Service, *boltstore.Store) {
	t.Helper()
	st, err := boltstore.Open(t.TempDir(), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return tenants.NewService(st, tenants.ServiceConfig{}), st
}

func TestCreate(t *testing.T) {
	s, _ := newService(t)
	ctx := context.Background()
	gen, err := s.Create(ctx, tenants.CreateInput{Name: "Acme"})
	if err != nil || !strings.HasPrefix(gen.ID, "ten_") || gen.Name != "Acme" || gen.CreatedAt.IsZero() {
		t.Fatalf("generated id: %+v, %v", gen, err)
	}
	if _, err := s.Create(ctx, tenants.CreateInput{ID: "acme", Name: "Acme"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, tenants.CreateInput{ID: "acme", Name: "Again"}); !errors.Is(err, tenants.ErrExists) {
		t.Errorf("taken id: %v", err)
	}
	for _, in := range []tenants.CreateInput{
		{Name: ""}, {Name: "   "}, {Name: strings.Repeat("n", tenants.MaxName+1)}, {Name: "\xff"},
		{ID: "a b", Name: "x"}, {ID: strings.Repeat("a", 65), Name: "x"}, {ID: "a/b", Name: "x"},
	} {
		_, err := s.Create(ctx, in)
		var fe *tenants.FieldError
		if !errors.As(err, &fe) || !errors.Is(err, tenants.ErrInvalid) {
			t.Errorf("Create(%+v) = %v, want a FieldError", in, err)
		}
	}
	list, next, err := s.List(ctx, "", 1)
	if err != nil || len(list) != 1 || next == "" {
		t.Errorf("page 1: %v %q %v", list, next, err)
	}
	list, next, _ = s.List(ctx, next, 1)
	if len(list) != 1 || next != "" {
		t.Errorf("page 2: %v %q", list, next)
	}
}

func TestTokens(t *testing.T) {
	s, st := newService(t)
	ctx := context.Background()
	if _, _, err := s.IssueToken(ctx, "ghost", ""); !errors.Is(err, tenants.ErrNotFound) {
		t.Errorf("token for unknown tenant: %v", err)
	}
	for _, id := range []string{"a", "b"} {
		if _, err := s.Create(ctx, tenants.CreateInput{ID: id, Name: id}); err != nil {
			t.Fatal(err)
		}
	}
	tok, text, err := s.IssueToken(ctx, "a", "ci")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(text, "wht_"))
	if !strings.HasPrefix(text, "wht_") || err != nil || len(raw) != 32 {
		t.Errorf("token text %q", text)
	}
	if tok.Hash != sha256.Sum256([]byte(text)) || tok.TenantID != "a" || !strings.HasPrefix(tok.ID, "tok_") {
		t.Errorf("token record %+v", tok)
	}
	stored, _ := st.ListTokens(ctx, "a")
	if len(stored) != 1 || stored[0].Hash != tok.Hash {
		t.Errorf("stored %+v", stored)
	}

	got, err := s.Authenticate(ctx, text)
	if err != nil || got.TenantID != "a" || got.ID != tok.ID {
		t.Errorf("Authenticate: %+v, %v", got, err)
	}
	for _, bad := range []string{"", "wht_", text[:len(text)-1], text + "x", "Bearer " + text, strings.ToUpper(text),
		"wht_" + strings.Repeat("A", 43)} {
		if _, err := s.Authenticate(ctx, bad); !errors.Is(err, tenants.ErrToken) {
			t.Errorf("Authenticate(%q) = %v, want ErrToken", bad, err)
		}
	}
	if err := s.RevokeToken(ctx, "b", tok.ID); !errors.Is(err, tenants.ErrNotFound) {
		t.Errorf("revoke by another tenant: %v", err)
	}
	if err := s.RevokeToken(ctx, "a", tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, text); !errors.Is(err, tenants.ErrToken) {
		t.Errorf("revoked token authenticates: %v", err)
	}
	if ts, _ := s.ListTokens(ctx, "a"); len(ts) != 1 || ts[0].RevokedAt.IsZero() {
		t.Errorf("tokens after revoke: %+v", ts)
	}
	if _, _, err := s.IssueToken(ctx, "a", strings.Repeat("n", tenants.MaxName+1)); !errors.Is(err, tenants.ErrInvalid) {
		t.Errorf("long token name: %v", err)
	}
}

// TestExists: an unknown tenant is ErrNotFound; a tenant seen once is remembered, so a later check needs no store
// read (shown by closing the store: a read would fail).
func TestExists(t *testing.T) {
	s, st := newService(t)
	ctx := t.Context()
	if err := s.Exists(ctx, "ten_nobody"); !errors.Is(err, tenants.ErrNotFound) {
		t.Fatalf("Exists(unknown) = %v, want ErrNotFound", err)
	}
	tn, err := s.Create(ctx, tenants.CreateInput{Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Exists(ctx, tn.ID); err != nil {
		t.Fatalf("Exists(created) = %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Exists(ctx, tn.ID); err != nil {
		t.Fatalf("Exists(created) after the store closed = %v: not remembered", err)
	}
	if err := s.Exists(ctx, "ten_nobody"); err == nil {
		t.Fatal("Exists(unknown) after the store closed = nil: unknown tenants must not be remembered")
	}
}
