package cli

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/webhookd/webhookd/secrets"
	boltstore "github.com/webhookd/webhookd/store/boltstore"
	"github.com/webhookd/webhookd/tenants"
)

func TestSecretsRotateKey(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	k1, k2 := mustKey(t, "k1"), mustKey(t, "k2")
	s1 := newSecret(t)

	// Seed: one endpoint sealed under k1, one stored before any key.
	st, err := boltstore.Open(dir, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateTenant(ctx, &tenants.Tenant{ID: "acme", Name: "Acme"}); err != nil {
		t.Fatal(err)
	}
	kr1, _ := secrets.ParseKeyring(k1)
	for i, kr := range []*secrets.Keyring{kr1, nil} {
		ep := seedEndpoint(t, "acme", []string{"ep_a", "ep_b"}[i], s1)
		if err := secrets.NewEndpoints(st, kr).CreateEndpoint(ctx, ep); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	t.Setenv(envSecretKey, "")
	t.Setenv(envSecretKeys, "")
	code, out, errOut := run(t, "", "secrets", "status", "--data", dir)
	if code != 0 || !strings.Contains(out, "2 endpoints; secrets in plaintext: 1; sealed under k1 (key not configured): 1") {
		t.Fatalf("status: %d %q %q", code, out, errOut)
	}
	if code, _, _ := run(t, "", "secrets", "rotate-key", "--data", dir); code != 2 {
		t.Fatalf("rotate-key without keys: exit %d, want 2", code)
	}
	// Without the old key it stops, naming the endpoint it cannot open.
	t.Setenv(envSecretKeys, k2)
	code, _, errOut = run(t, "", "secrets", "rotate-key", "--data", dir)
	if code != 1 || !strings.Contains(errOut, "ep_a") || !strings.Contains(errOut, `"k1"`) {
		t.Fatalf("rotate-key without the old key: %d %q", code, errOut)
	}
	t.Setenv(envSecretKeys, k2+","+k1)
	code, out, errOut = run(t, "", "secrets", "rotate-key", "--data", dir)
	if code != 0 || !strings.Contains(out, "re-sealed the secrets of 2 endpoints under key k2") ||
		!strings.Contains(out, "secrets in plaintext: 0; sealed under k2 (current): 2") {
		t.Fatalf("rotate-key: %d %q %q", code, out, errOut)
	}
	for _, s := range []string{k1, k2, s1} {
		if strings.Contains(out+errOut, strings.SplitN(s, ":", 2)[len(strings.SplitN(s, ":", 2))-1]) {
			t.Fatal("rotate-key printed key material or a secret")
		}
	}

	// k2 alone now opens everything.
	st, err = boltstore.Open(dir, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	kr2, _ := secrets.ParseKeyring(k2)
	for _, id := range []string{"ep_a", "ep_b"} {
		ep, err := secrets.NewEndpoints(st, kr2).GetEndpoint(ctx, "acme", id)
		if err != nil || ep.Keys[0].Secret != s1 {
			t.Fatalf("%s with k2 alone: %v", id, err)
		}
	}
	if _, err := secrets.NewEndpoints(st, kr1).GetEndpoint(ctx, "acme", "ep_a"); !errors.Is(err, secrets.ErrNoKey) {
		t.Fatalf("k1 after rotation: %v, want ErrNoKey", err)
	}
}

func TestLoadKeyring(t *testing.T) {
	t.Setenv(envSecretKey, "")
	t.Setenv(envSecretKeys, "")
	if kr, err := loadKeyring(""); kr != nil || err != nil {
		t.Fatalf("nothing set: %v %v", kr, err)
	}
	t.Setenv(envSecretKey, mustKey(t, "a"))
	t.Setenv(envSecretKeys, mustKey(t, "b"))
	if _, err := loadKeyring(""); err == nil || !strings.Contains(err.Error(), "set only one") {
		t.Fatalf("both set: %v", err)
	}
	t.Setenv(envSecretKeys, "")
	if kr, err := loadKeyring(""); err != nil || kr.CurrentID() != "a" {
		t.Fatalf("%s: %v", envSecretKey, err)
	}
	t.Setenv(envSecretKey, "a:"+strings.Repeat("A", 10))
	if _, err := loadKeyring(""); err == nil || strings.Contains(err.Error(), strings.Repeat("A", 10)) {
		t.Fatalf("a short key: %v", err)
	}
}

// TestServeRefusesSealedWithoutKey: a store with sealed secrets does not start without its key, nor with another.
func TestServeRefusesSealedWithoutKey(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := boltstore.Open(dir, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.CreateTenant(ctx, &tenants.Tenant{ID: "acme", Name: "Acme"})
	kr, _ := secrets.ParseKeyring(mustKey(t, "k1"))
	if err := secrets.NewEndpoints(st, kr).CreateEndpoint(ctx, seedEndpoint(t, "acme", "ep_a", newSecret(t))); err != nil {
		t.Fatal(err)
	}
	st.Close()
	cfg := testServeConfig(t, "--listen", "127.0.0.1:0", "--data", dir, "--operator-token", "operator-token-0123456789abcdef")
	t.Setenv(envSecretKeys, "")
	for _, key := range []string{"", mustKey(t, "k2")} {
		t.Setenv(envSecretKey, key)
		err := serve(ctx, cfg, discardLogger(), func(string) { t.Error("served") })
		if err == nil || !strings.Contains(err.Error(), "k1") {
			t.Fatalf("key %q: serve: %v", strings.SplitN(key, ":", 2)[0], err)
		}
	}
}
