package tenants_test

import (
	"crypto/sha256"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	boltstore "github.com/webhookd/webhookd/store/boltstore"
	"github.com/webhookd/webhookd/tenants"
)

func TestDelete(t *testing.T) {
	st, err := boltstore.Open(t.TempDir(), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := t.Context()
	var now atomic.Int64
	now.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()).UTC() }

	off := tenants.NewService(st, tenants.ServiceConfig{Now: clock})
	if _, err := off.Create(ctx, tenants.CreateInput{ID: "acme", Name: "Acme"}); err != nil {
		t.Fatal(err)
	}
	if _, err := off.Delete(ctx, "acme"); !errors.Is(err, tenants.ErrDeletionDisabled) {
		t.Fatalf("Delete without AllowDeletion = %v", err)
	}
	// Another replica remembers the tenant; this one deletes it.
	other := tenants.NewService(st, tenants.ServiceConfig{Now: clock})
	if err := other.Exists(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	s := tenants.NewService(st, tenants.ServiceConfig{Now: clock, AllowDeletion: true})
	_, text, err := s.IssueToken(ctx, "acme", "ci")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Exists(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	tn, err := s.Delete(ctx, "acme")
	if err != nil || !tn.Deleting() || !tn.DeletingAt.Equal(clock()) {
		t.Fatalf("Delete = %+v, %v", tn, err)
	}
	for what, err := range map[string]error{
		"Exists here": s.Exists(ctx, "acme"),
		"Get":         func() error { _, err := s.Get(ctx, "acme"); return err }(),
		"Delete again": func() error {
			_, err := s.Delete(ctx, "acme")
			return err
		}(),
	} {
		if !errors.Is(err, tenants.ErrNotFound) {
			t.Errorf("%s after Delete = %v, want ErrNotFound", what, err)
		}
	}
	if _, err := s.Authenticate(ctx, text); !errors.Is(err, tenants.ErrToken) {
		t.Errorf("Authenticate after Delete = %v", err)
	}
	// The other replica trusts what it saw for a few seconds, then asks again.
	if err := other.Exists(ctx, "acme"); err != nil {
		t.Errorf("the other replica forgot too early: %v", err)
	}
	now.Add(int64(11 * time.Second))
	if err := other.Exists(ctx, "acme"); !errors.Is(err, tenants.ErrNotFound) {
		t.Errorf("the other replica after 11s: %v", err)
	}

	if n := s.Reap(ctx); n != 1 {
		t.Fatalf("Reap = %d", n)
	}
	if _, err := st.GetTenant(ctx, "acme"); !errors.Is(err, tenants.ErrNotFound) {
		t.Errorf("the record after Reap: %v", err)
	}
	if _, err := st.TokenByHash(ctx, sha256.Sum256([]byte(text))); !errors.Is(err, tenants.ErrToken) {
		t.Errorf("the token after Reap: %v", err)
	}
	if n := s.Reap(ctx); n != 0 {
		t.Errorf("Reap with nothing to do = %d", n)
	}
}
