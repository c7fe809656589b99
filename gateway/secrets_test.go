package gateway

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/webhookd/webhookd/endpoints"
	"github.com/webhookd/webhookd/secrets"
	boltstore "github.com/webhookd/webhookd/store/boltstore"
	"github.com/webhookd/webhookd/tenants"
)

// TestSealingLeavesNoPlaintextInFile: after the start that seals plaintext secrets under the operator key, the
// bbolt file holds none of them, not even in a freed page.
func TestSealingLeavesNoPlaintextInFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := boltstore.Open(dir, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateTenant(ctx, &tenants.Tenant{ID: "acme", Name: "Acme"}); err != nil {
		t.Fatal(err)
	}
	var plain []string
	now := time.Now().UTC()
	for i := range 20 {
		s := newSecret(t)
		plain = append(plain, s)
		ep := &endpoints.Endpoint{ID: fmt.Sprintf("ep_%02d", i), TenantID: "acme", URL: "https://example.com/hook",
			Events: []string{"*"}, Profile: "standard", Algorithm: "hmac", Keys: []endpoints.Key{{Secret: s, CreatedAt: now}},
			Timeout: time.Second, CreatedAt: now, UpdatedAt: now}
		if err := st.CreateEndpoint(ctx, ep); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	file := filepath.Join(dir, boltstore.FileName)
	if n := countIn(t, file, plain); n != len(plain) {
		t.Fatalf("seeded file holds %d of %d plaintext secrets: the test cannot see them", n, len(plain))
	}

	kr := keyringOf(t, "k1")
	g, err := New(ctx, Config{Data: dir, OperatorToken: "operator-token-0123456789abcdef", Keyring: kr,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	// The gateway works on the rewritten file.
	e, err := g.endpoints.Get(ctx, "acme", "ep_07")
	if err != nil || e.Keys[0].Secret != plain[7] {
		t.Fatalf("after sealing: %v", err)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if n := countIn(t, file, plain); n != 0 {
		t.Errorf("after sealing, the file still holds %d of %d plaintext secrets", n, len(plain))
	}
	if _, err := os.Stat(file + ".compact"); !os.IsNotExist(err) {
		t.Errorf("the temporary file is left: %v", err)
	}
	c := census(t, dir, kr)
	if c.Plain != 0 || c.Sealed["k1"] != len(plain) {
		t.Errorf("census after sealing: %+v", c)
	}
}

// countIn returns how many of needles the file holds.
func countIn(t *testing.T, file string, needles []string) int {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, s := range needles {
		if bytes.Contains(b, []byte(s)) {
			n++
		}
	}
	return n
}

func census(t *testing.T, dir string, kr *secrets.Keyring) secrets.Census {
	t.Helper()
	st, err := boltstore.Open(dir, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, err := secrets.Count(context.Background(), st, st)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
