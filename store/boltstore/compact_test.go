package boltstore

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/endpoints"
	"github.com/webhookd/webhookd/tenants"
)

// TestCompactDropsFreedPages: a value overwritten in the store stays in a freed page of the file until Compact,
// which keeps every live record (and the file lock's protection: an open store is not compacted under it).
func TestCompactDropsFreedPages(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if err := Compact(dir); err != nil {
		t.Fatalf("Compact of no file: %v", err)
	}
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.CreateTenant(ctx, &tenants.Tenant{ID: "acme", Name: "Acme"})
	old := "whsec_" + strings.Repeat("T2xkU2VjcmV0", 4)
	now := time.Now().UTC()
	e := &endpoints.Endpoint{ID: "ep_1", TenantID: "acme", URL: "https://example.com/", Events: []string{"*"},
		Profile: "standard", Algorithm: "hmac", Keys: []endpoints.Key{{Secret: old, CreatedAt: now}},
		Description: strings.Repeat("d", 3000), CreatedAt: now, UpdatedAt: now}
	if err := s.CreateEndpoint(ctx, e); err != nil {
		t.Fatal(err)
	}
	e.Keys[0].Secret = "whsec_bmV3"
	if err := s.UpdateEndpoint(ctx, e); err != nil {
		t.Fatal(err)
	}
	if err := Compact(dir); !errors.Is(err, ErrLocked) {
		t.Fatalf("Compact of an open store: %v, want ErrLocked", err)
	}
	s.Close()
	file := filepath.Join(dir, FileName)
	b, _ := os.ReadFile(file)
	if !bytes.Contains(b, []byte(old)) {
		t.Fatal("the overwritten secret is not in a freed page: the test cannot see it")
	}
	if err := Compact(dir); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(file); bytes.Contains(b, []byte(old)) {
		t.Error("the overwritten secret is still in the file after Compact")
	}
	s, err = Open(file, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.GetEndpoint(ctx, "acme", "ep_1")
	if err != nil || got.Keys[0].Secret != "whsec_bmV3" || got.Version != 1 {
		t.Fatalf("after Compact: %+v, %v", got, err)
	}
	if _, err := s.GetTenant(ctx, "acme"); err != nil {
		t.Fatalf("tenant after Compact: %v", err)
	}
}
